"""Structural plasticity as NEST 3.10 implements it (Butz & van Ooyen 2013): synapses created
and deleted during a run from the neurons' *synaptic elements*, whose numbers follow each
neuron's calcium trace.

Read from NEST's ``structural_plasticity_node.cpp``, ``synaptic_element.{h,cpp}``,
``growth_curve.cpp``, ``sp_manager.cpp`` and ``simulation_manager.cpp``:

* **Calcium.** Every neuron keeps ``Ca`` (NEST's ``Ca_minus_``, the value at its last update
  time ``Ca_t``): at each of its spikes (time t = the spike's stamp in ms) the elements are
  brought up to t, then ``Ca ← Ca·exp((Ca_t − t)/tau_Ca)``, ``Ca_t ← t`` and ``Ca += beta_Ca``.
* **Synaptic elements** (``Axon_ex``, ``Den_ex``, ...): a real number ``z`` per neuron and
  element, grown from ``Ca_t`` to t by the element's growth curve — ``linear`` (closed form
  dz/dt = ν(1 − Ca/ε)), ``gaussian`` (ν(2·exp(−((Ca − ξ)/ζ)²) − 1), ξ = (η + ε)/2,
  ζ = (ε − η)/(2√ln 2)) or ``sigmoid`` (ν(2/(1 + exp((Ca − ε)/ψ)) − 1)), the last two by
  forward Euler at the resolution with Ca decaying by Euler inside the step loop, exactly as
  NEST's loops do — and never below 0. ``z_connected`` counts the elements bound in synapses;
  ``floor(z) − z_connected`` are vacant (negative: elements to retract).
* **Run ends.** At the end of every run (NEST's ``Simulate``) every neuron is brought up to
  the end time, so the reported ``Ca`` and ``z`` are those at that time.
* **Updates.** At the start of every slice whose time is a multiple of the update interval
  (t = 0 included), every neuron's elements and calcium are brought up to t; then for each
  structural synapse (by name): neurons with retracting pre-synaptic elements delete that many
  of their outgoing synapses of the entry chosen at random, then those with retracting
  post-synaptic elements delete incoming ones, then the vacant pre- and post-synaptic elements
  are listed (each neuron as often as it has vacancies, by id) and the longer list is sampled
  without replacement to the length of the shorter, pairing them into new synapses (autapses
  skipped unless allowed). Finally every element loses ``tau_vacant`` of its vacant count.
  Synapses created at t receive the spikes emitted from t on.

Distribution: every rank grows the elements and calcium of its own neurons from the spikes
every rank sees after the exchange; at an update the values are gathered so that every rank
holds all of them and takes the same decisions with the same random numbers, keyed by
(seed, update step, synapse entry, purpose) — never by rank — so the structure, and the
spikes, are the same on any number of ranks. NEST draws from its own generator: the *counts*
of synapses are compared with NEST's statistically, the calcium and elements for given spikes
exactly (``tests/reference/test_structural_nest.py``).

The synapses of entry ``s`` from population ``A`` to ``B`` form the projection ``s_A_B``
(created empty unless the network gives it); a change rebuilds this rank's synapse table
(:meth:`wbe.engine.loop.Engine.rewire`), keeping every other synapse's state.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Literal

import numba
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .network import Network, Projection, StructuralPlasticity

#: NEST's parameters of every node (``StructuralPlasticityNode``) with their defaults: the
#: calcium trace's time constant (ms) and increment per spike
NODE_PARAMS = {"tau_Ca": 10000.0, "beta_Ca": 0.001}
GROWTH_CURVES = ("linear", "gaussian", "sigmoid")
_SQRT_LOG_TWO = math.sqrt(math.log(2.0))
_TICS_PER_MS = 1000.0  # NEST's default tics per ms: its times are tics · (1 / 1000) ms


class ElementSpec(BaseModel):
    """One synaptic element of a population, with NEST's names and defaults."""

    model_config = ConfigDict(extra="forbid")
    growth_curve: Literal["linear", "gaussian", "sigmoid"] = "linear"
    growth_rate: float = Field(1.0, description="ν, elements per ms")
    tau_vacant: float = Field(0.1, gt=0, description="fraction of vacant elements retracted "
                                                      "at each update")
    continuous: bool = Field(True, description="NEST's flag for its get_synaptic_elements "
                             "(floor(z) when false); as in NEST it changes no dynamics — "
                             "vacancies use floor(z) either way — and z is reported unrounded")
    z: float = Field(0.0, ge=0, description="initial number of elements")
    eps: float = Field(0.7, description="ε, calcium at which growth stops (target)")
    eta: float = Field(0.1, description="η, gaussian: the lower calcium of zero growth")
    psi: float = Field(0.1, ge=0, description="ψ, sigmoid: width")


_CURVE_PARAMS = {"linear": {"eps"}, "gaussian": {"eps", "eta"}, "sigmoid": {"eps", "psi"}}


def element_spec(pop: str, name: str, spec: dict) -> ElementSpec:
    """``spec`` checked, or a ``ValueError`` naming the population, element and field."""
    who = f"population {pop!r}: synaptic element {name!r}"
    if not isinstance(spec, dict):
        raise ValueError(f"{who}: expected a mapping of NEST's element parameters, got "
                         f"{type(spec).__name__}")
    try:
        el = ElementSpec(**spec)
    except ValidationError as e:
        msgs = "; ".join(f"{'.'.join(str(x) for x in er['loc'])}: {er['msg']}"
                         for er in e.errors())
        raise ValueError(f"{who}: {msgs}") from None
    foreign = {"eps", "eta", "psi"} & set(spec) - _CURVE_PARAMS[el.growth_curve]
    if foreign:
        raise ValueError(f"{who}: growth curve {el.growth_curve!r} has no parameter(s) "
                         f"{sorted(foreign)}")
    if el.growth_curve == "gaussian" and el.eta == el.eps:
        raise ValueError(f"{who}: gaussian growth needs eta != eps")
    return el


def projection_name(entry: str, source: str, target: str) -> str:
    """The projection holding structural synapse ``entry``'s synapses from ``source`` to
    ``target``."""
    return f"{entry}_{source}_{target}"


def _pairs(net: Network, entry) -> list[tuple[str, str]]:
    pre = [p.name for p in net.populations if entry.pre_synaptic_element in p.synaptic_elements]
    post = [p.name for p in net.populations
            if entry.post_synaptic_element in p.synaptic_elements]
    return [(a, b) for a in pre for b in post]


def check(net: Network, dt: float) -> None:
    """Every population's elements and calcium parameters and the structural synapses, with
    an error naming what is wrong."""
    for p in net.populations:
        if p.synaptic_elements and not p.simulated:
            raise ValueError(f"population {p.name!r}: a {p.model} population has no synaptic "
                             f"elements")
        for k, v in p.synaptic_elements.items():
            element_spec(p.name, k, v)
        for k in NODE_PARAMS:
            if k in p.params and not np.all(np.asarray(p.params[k], dtype=float) > 0):
                raise ValueError(f"population {p.name!r}: parameter {k!r} must be > 0")
    sp = net.structural
    if sp is None:
        return
    if not isinstance(sp, StructuralPlasticity):
        raise ValueError(f"Network.structural must be a StructuralPlasticity, got "
                         f"{type(sp).__name__}")
    every = sp.update_interval_ms / dt
    if not sp.update_interval_ms > 0 or abs(every - round(every)) > 1e-9 * max(1.0, every):
        raise ValueError(f"structural plasticity: update_interval_ms={sp.update_interval_ms} "
                         f"must be a positive multiple of dt={dt} ms")
    if not sp.synapses:
        raise ValueError("structural plasticity: no structural synapses given")
    by_name = {pr.name: pr for pr in net.projections}
    for name, e in sp.synapses.items():
        who = f"structural synapse {name!r}"
        if e.synapse != "static_synapse":
            raise ValueError(f"{who}: synapse {e.synapse!r}: only static synapses are created "
                             f"and deleted so far")
        if not e.delay_ms >= dt:
            raise ValueError(f"{who}: delay_ms={e.delay_ms} must be >= dt={dt} ms")
        for a, b in _pairs(net, e):
            pr = by_name.get(projection_name(name, a, b))
            if pr is None:
                continue
            if (pr.source, pr.target) != (a, b) or pr.synapse != e.synapse \
                    or pr.plasticity is not None:
                raise ValueError(f"projection {pr.name!r} holds {who}'s synapses from {a!r} "
                                 f"to {b!r}: it must have that source and target, synapse "
                                 f"{e.synapse!r} and no plasticity rule")


def structural_network(net: Network) -> Network:
    """``net`` with a projection for every (structural synapse, source, target) pair — the
    given one (copied: the run changes it) or an empty one — leaving ``net`` unchanged."""
    sp = net.structural
    if sp is None:
        return net
    by_name = {pr.name: pr for pr in net.projections}
    projs = [pr for pr in net.projections]
    for name in sorted(sp.synapses):
        e = sp.synapses[name]
        for a, b in _pairs(net, e):
            pn = projection_name(name, a, b)
            if pn in by_name:
                pr = by_name[pn]
                i = projs.index(pr)
                projs[i] = dataclasses.replace(
                    pr, source_ids=np.asarray(pr.source_ids, np.int64).copy(),
                    target_ids=np.asarray(pr.target_ids, np.int64).copy(),
                    weight=np.broadcast_to(np.asarray(pr.weight, np.float64),
                                           (len(pr),)).copy(),
                    delay_ms=np.broadcast_to(np.asarray(pr.delay_ms, np.float64),
                                             (len(pr),)).copy(),
                    attributes={}, origin=None)
            else:
                z = np.zeros(0, np.int64)
                projs.append(Projection(pn, a, b, z, z.copy(), np.zeros(0), np.zeros(0),
                                        synapse=e.synapse, receptor=e.receptor))
    return dataclasses.replace(net, projections=projs)


# ---------------------------------------------------------------------------- kernels
@numba.njit(cache=True)
def _grow(kind, t, t_minus, ca_minus, z, tau_ca, rate, eps, shape, h):
    """NEST's ``GrowthCurve*::update``: z at t from z at t_minus (kind 0 linear, 1 gaussian
    with η = shape, 2 sigmoid with ψ = shape)."""
    if kind == 0:
        ca = ca_minus * math.exp((t_minus - t) / tau_ca)
        zv = rate * tau_ca * (ca - ca_minus) / eps + rate * (t - t_minus) + z
    elif kind == 1:
        inv_tau = 1.0 / tau_ca
        inv_zeta = 2.0 * _SQRT_LOG_TWO / (shape - eps)
        xi = (shape + eps) * 0.5
        zv = z
        ca = ca_minus
        lag = t_minus
        while lag < t - h * 0.5:
            ca = ca - ((ca * inv_tau) * h)
            x = (ca - xi) * inv_zeta
            zv += h * rate * (2.0 * math.exp(-(x * x)) - 1.0)
            lag += h
    else:
        zv = z
        ca = ca_minus
        lag = t_minus
        while lag < t - h / 2.0:
            ca = ca - ((ca / tau_ca) * h)
            zv = zv + h * rate * ((2.0 / (1.0 + math.exp((ca - eps) / shape))) - 1.0)
            lag += h
    return max(zv, 0.0)


@numba.njit(cache=True)
def _bring(i, t, ca, ca_t, tau, kind, z, rate, eps, shape, h):
    """``update_synaptic_elements(t)`` of neuron i: its elements, then its calcium, to t."""
    for e in range(kind.shape[0]):
        if kind[e, i] >= 0:
            z[e, i] = _grow(kind[e, i], t, ca_t[i], ca[i], z[e, i], tau[i], rate[e, i],
                            eps[e, i], shape[e, i], h)
    ca[i] = ca[i] * math.exp((ca_t[i] - t) / tau[i])
    ca_t[i] = t


@numba.njit(cache=True)
def observe_nb(stamps, gids, mine, ms_per_tic, tics_per_step, ca, ca_t, tau, beta, kind, z,
               rate, eps, shape, h):
    """The spikes (stamps, gids in time order) of the neurons this rank tracks (``mine``)."""
    for j in range(stamps.size):
        g = gids[j]
        if mine[g]:
            t = ms_per_tic * float(stamps[j] * tics_per_step)
            _bring(g, t, ca, ca_t, tau, kind, z, rate, eps, shape, h)
            ca[g] += beta[g]


@numba.njit(cache=True)
def bring_all_nb(which, t, ca, ca_t, tau, kind, z, rate, eps, shape, h):
    for i in which:
        _bring(i, t, ca, ca_t, tau, kind, z, rate, eps, shape, h)


# ---------------------------------------------------------------------------- the model
class Structural:
    """Calcium, synaptic elements and structural updates of one rank's engine (global arrays
    over gids; between updates only this rank's neurons' entries are current)."""

    def __init__(self, net: Network, lay, ctx, dt: float, seed: int) -> None:
        check(net, dt)
        self.net, self.ctx, self.seed = net, ctx, int(seed)
        n = lay.n_total
        self.offsets = lay.offsets
        tics = dt * _TICS_PER_MS
        # NEST's times (tics · ms per tic) where dt is a whole number of tics
        self.tics_per_step = int(round(tics)) if abs(tics - round(tics)) < 1e-9 else 0
        self.ms_per_tic = 1.0 / _TICS_PER_MS if self.tics_per_step else dt
        if not self.tics_per_step:
            self.tics_per_step = 1
        self.h = self.ms_per_tic * self.tics_per_step
        self.elements = sorted({k for p in net.populations for k in p.synaptic_elements})
        ne = len(self.elements)
        self.kind = np.full((ne, n), -1, np.int8)
        self.z = np.zeros((ne, n))
        self.zc = np.zeros((ne, n), np.int64)
        self.rate, self.eps = np.zeros((ne, n)), np.ones((ne, n))
        self.shape, self.tau_vacant = np.ones((ne, n)), np.zeros((ne, n))
        self.ca, self.ca_t = np.zeros(n), np.zeros(n)
        self.tau, self.beta = np.full(n, NODE_PARAMS["tau_Ca"]), np.full(n, NODE_PARAMS["beta_Ca"])
        self.tracked = np.zeros(n, bool)
        self.populations = []
        for p in net.populations:
            if not p.synaptic_elements:
                continue
            self.populations.append(p.name)
            sl = slice(self.offsets[p.name], self.offsets[p.name] + p.n)
            self.tracked[sl] = True
            for k in NODE_PARAMS:
                if k in p.params:
                    getattr(self, "tau" if k == "tau_Ca" else "beta")[sl] = p.params[k]
            for name, spec in p.synaptic_elements.items():
                el = element_spec(p.name, name, spec)
                e = self.elements.index(name)
                self.kind[e, sl] = GROWTH_CURVES.index(el.growth_curve)
                self.z[e, sl] = el.z
                self.rate[e, sl], self.eps[e, sl] = el.growth_rate, el.eps
                self.shape[e, sl] = el.eta if el.growth_curve == "gaussian" else el.psi
                self.tau_vacant[e, sl] = el.tau_vacant
        self.local = lay.slot_of >= 0
        self.mine = self.tracked & self.local
        self.mine_ids = np.flatnonzero(self.mine)
        sp = net.structural
        self.every = int(round(sp.update_interval_ms / dt)) if sp is not None else 0
        self.done_at = -1  # the step of the last update (an update happens once per step)
        if sp is not None:
            self._bind_initial()

    # ------------------------------------------------------------------ elements
    def _el(self, name: str) -> int:
        return self.elements.index(name) if name in self.elements else -1

    def _connect(self, e: int, gids: np.ndarray, n: int | np.ndarray) -> None:
        """NEST's ``SynapticElement::connect(n)`` for element ``e`` of neurons ``gids``
        (repeated ids count repeatedly); neurons without the element are left alone."""
        if e < 0 or not np.size(gids):
            return
        gids = np.asarray(gids, np.int64)
        has = self.kind[e, gids] >= 0
        np.add.at(self.zc[e], gids[has], n)
        g = np.unique(gids[has])
        over = self.zc[e, g] > np.floor(self.z[e, g])
        if over.any():
            gg = g[over]
            self.z[e, gg] = self.zc[e, gg] + (self.z[e, gg] - np.floor(self.z[e, gg]))

    def _projections(self, entry: str) -> list[Projection]:
        names = {projection_name(entry, a, b) for a, b in
                 _pairs(self.net, self.net.structural.synapses[entry])}
        return [pr for pr in self.net.projections if pr.name in names]

    def _bind_initial(self) -> None:
        """Given edges of the structural projections bind elements (NEST's ``Connect`` with a
        structural synapse)."""
        for entry, e in sorted(self.net.structural.synapses.items()):
            pe, qe = self._el(e.pre_synaptic_element), self._el(e.post_synaptic_element)
            for pr in self._projections(entry):
                self._connect(pe, self.offsets[pr.source] + np.asarray(pr.source_ids), 1)
                self._connect(qe, self.offsets[pr.target] + np.asarray(pr.target_ids), 1)

    def bind(self, projection: str, src: np.ndarray, tgt: np.ndarray, n: int) -> None:
        """Synapses ``src → tgt`` (gids) of ``projection`` added (n = 1) or removed (n = -1)
        by hand: if it holds a structural synapse entry, its elements follow."""
        sp = self.net.structural
        if sp is None:
            return
        for entry, e in sp.synapses.items():
            if projection in {p.name for p in self._projections(entry)}:
                self._connect(self._el(e.pre_synaptic_element), src, n)
                self._connect(self._el(e.post_synaptic_element), tgt, n)

    def revive(self, gids: np.ndarray, k: int) -> None:
        """Neurons ``gids`` are born at step ``k``: their population's elements, no calcium,
        nothing bound, growing from now on."""
        for p in self.net.populations:
            if not p.synaptic_elements:
                continue
            off = self.offsets[p.name]
            g = gids[(gids >= off) & (gids < off + p.n)]
            if not g.size:
                continue
            for name, spec in p.synaptic_elements.items():
                el = element_spec(p.name, name, spec)
                e = self.elements.index(name)
                self.kind[e, g] = GROWTH_CURVES.index(el.growth_curve)
                self.z[e, g], self.zc[e, g] = el.z, 0
            self.ca[g], self.ca_t[g] = 0.0, self.time_ms(k)
            self.tracked[g] = True
            self.mine[g] = self.local[g]
        self.mine_ids = np.flatnonzero(self.mine)

    def retire(self, gids: np.ndarray) -> None:
        """Neurons ``gids`` died: they have no elements and no calcium any more."""
        self.kind[:, gids] = -1
        self.z[:, gids] = 0.0
        self.zc[:, gids] = 0
        self.tracked[gids] = False
        self.mine[gids] = False
        self.mine_ids = np.flatnonzero(self.mine)

    # ------------------------------------------------------------------ running
    def observe(self, stamps: np.ndarray, gids: np.ndarray) -> None:
        """Spikes of all ranks in (stamp, gid) order: this rank's tracked neurons' calcium."""
        if stamps.size:
            observe_nb(np.ascontiguousarray(stamps, np.int64),
                       np.ascontiguousarray(gids, np.int64), self.mine, self.ms_per_tic,
                       self.tics_per_step, self.ca, self.ca_t, self.tau, self.beta, self.kind,
                       self.z, self.rate, self.eps, self.shape, self.h)

    def time_ms(self, k: int) -> float:
        return self.ms_per_tic * float(int(k) * self.tics_per_step)

    def sync(self) -> None:
        """Every rank gets every tracked neuron's calcium and elements from its owner."""
        if self.ctx.size == 1:
            return
        ids = self.mine_ids
        g = self.ctx.allgatherv(ids.astype(np.int64))
        for a in (self.ca, self.ca_t):
            a[g] = self.ctx.allgatherv(np.ascontiguousarray(a[ids]))
        for a in (self.z, self.zc):
            rows = self.ctx.allgatherv(np.ascontiguousarray(a[:, ids].T).astype(
                np.float64).ravel()).reshape(-1, a.shape[0])
            a[:, g] = rows.T.astype(a.dtype)

    def align(self, dmin: int) -> None:
        """Updates happen at slice starts (multiples of the minimum delay ``dmin``) whose time
        is a multiple of the interval, as in NEST."""
        if self.every:
            self.every = math.lcm(self.every, int(dmin))

    def due(self, k: int) -> bool:
        return self.every > 0 and k % self.every == 0 and k != self.done_at

    def next_stop(self, k: int, k_end: int) -> int:
        """The step the engine may run to before the next update."""
        if self.every <= 0:
            return k_end
        return min(k_end, (k // self.every + 1) * self.every)

    def bring_all(self, k: int) -> None:
        """This rank's neurons' elements and calcium brought up to step ``k`` (NEST does so at
        every structural update and at the end of every ``Simulate``)."""
        bring_all_nb(self.mine_ids, self.time_ms(k), self.ca, self.ca_t, self.tau, self.kind,
                     self.z, self.rate, self.eps, self.shape, self.h)

    def update(self, k: int) -> bool:
        """The structural update at step ``k``; whether any synapse changed."""
        self.bring_all(k)
        self.sync()
        changed = False
        for i, (entry, e) in enumerate(sorted(self.net.structural.synapses.items())):
            changed |= self._update_entry(k, i, entry, e)
        # NEST's decay_synaptic_elements_vacant
        vac = np.floor(self.z) - self.zc
        dec = (self.kind >= 0) & (vac > 0)
        self.z[dec] -= vac[dec] * self.tau_vacant[dec]
        self.done_at = k
        return changed

    def _vacant(self, e: int) -> np.ndarray:
        if e < 0:
            return np.zeros(self.ca.size, np.int64)
        v = (np.floor(self.z[e]) - self.zc[e]).astype(np.int64)
        v[self.kind[e] < 0] = 0
        return v

    def _update_entry(self, k: int, i: int, entry: str, e) -> bool:
        rng = np.random.default_rng([self.seed % (1 << 63), 0x5354, int(k), i])
        pe, qe = self._el(e.pre_synaptic_element), self._el(e.post_synaptic_element)
        projs = self._projections(entry)
        src = np.concatenate([self.offsets[p.source] + np.asarray(p.source_ids, np.int64)
                              for p in projs] or [np.zeros(0, np.int64)])
        tgt = np.concatenate([self.offsets[p.target] + np.asarray(p.target_ids, np.int64)
                              for p in projs] or [np.zeros(0, np.int64)])
        alive = np.ones(src.size, bool)
        deleted = False
        # retractions: first the pre-synaptic side's (outgoing synapses), then the post's
        for ends, e_own, e_other, other in ((src, pe, qe, tgt), (tgt, qe, pe, src)):
            v = self._vacant(e_own)
            losers = np.flatnonzero(v < 0)
            if not losers.size:
                continue
            idx = np.flatnonzero(alive)
            order = np.argsort(ends[idx], kind="stable")
            idx = idx[order]
            starts = np.searchsorted(ends[idx], losers, side="left")
            stops = np.searchsorted(ends[idx], losers, side="right")
            for g, a, b, n in zip(losers, starts, stops, -v[losers]):
                cands = idx[a:b]
                pick = cands[rng.choice(cands.size, min(int(n), cands.size), replace=False)]
                if not pick.size:
                    continue
                alive[pick] = False
                deleted = True
                self._connect(e_own, np.full(pick.size, g), -1)
                self._connect(e_other, other[pick], -1)
        vp, vq = self._vacant(pe), self._vacant(qe)
        pre = np.repeat(np.arange(vp.size), np.maximum(vp, 0))
        post = np.repeat(np.arange(vq.size), np.maximum(vq, 0))
        if pre.size > post.size:
            pre = pre[rng.choice(pre.size, post.size, replace=False)]
        else:
            post = post[rng.choice(post.size, pre.size, replace=False)]
        if not e.allow_autapses:
            keep = pre != post
            pre, post = pre[keep], post[keep]
        self._connect(pe, pre, 1)
        self._connect(qe, post, 1)
        if not (deleted or pre.size):
            return False
        # the projections' new edges: the surviving ones in order, then the created ones
        at = 0
        for p in projs:
            m = len(p)
            keep = alive[at:at + m]
            at += m
            a0, b0 = self.offsets[p.source], self.offsets[p.target]
            mine = ((pre >= a0) & (pre < a0 + self.net.population(p.source).n)
                    & (post >= b0) & (post < b0 + self.net.population(p.target).n))
            n_new = int(mine.sum())
            p.source_ids = np.concatenate((p.source_ids[keep], pre[mine] - a0))
            p.target_ids = np.concatenate((p.target_ids[keep], post[mine] - b0))
            p.weight = np.concatenate((p.weight[keep], np.full(n_new, float(e.weight))))
            p.delay_ms = np.concatenate((p.delay_ms[keep], np.full(n_new, float(e.delay_ms))))
        return True

    # ------------------------------------------------------------------ read-outs
    def calcium(self, pop: str) -> np.ndarray:
        """NEST's ``Ca`` of ``pop``'s neurons (at the end of the last run)."""
        self.sync()
        off, n = self.offsets[pop], self.net.population(pop).n
        return self.ca[off:off + n].copy()

    def synaptic_elements(self, pop: str) -> dict[str, dict[str, np.ndarray]]:
        """NEST's ``synaptic_elements`` of ``pop``: element → ``z`` (at the end of the last
        run, unrounded as NEST reports it) and ``z_connected``."""
        self.sync()
        p = self.net.population(pop)
        off = self.offsets[pop]
        return {name: {"z": self.z[e, off:off + p.n].copy(),
                       "z_connected": self.zc[e, off:off + p.n].copy()}
                for e, name in enumerate(self.elements) if name in p.synaptic_elements}

    def edges(self) -> dict[str, Projection]:
        """The structural projections now."""
        if self.net.structural is None:
            return {}
        return {p.name: p for entry in self.net.structural.synapses
                for p in self._projections(entry)}

    # ------------------------------------------------------------------ checkpoints
    def arrays(self) -> dict[str, np.ndarray]:
        self.sync()
        out = {"structural/Ca": self.ca.copy(), "structural/Ca_t": self.ca_t.copy(),
               "structural/done_at": np.array([self.done_at], np.int64)}
        for e, name in enumerate(self.elements):
            out[f"structural/z/{name}"] = self.z[e].copy()
            out[f"structural/z_connected/{name}"] = self.zc[e].copy()
        for name, p in self.edges().items():
            out[f"structural/edges/{name}/source_ids"] = np.asarray(p.source_ids, np.int64)
            out[f"structural/edges/{name}/target_ids"] = np.asarray(p.target_ids, np.int64)
            out[f"structural/edges/{name}/weight"] = np.asarray(p.weight, np.float64)
            out[f"structural/edges/{name}/delay_ms"] = np.asarray(p.delay_ms, np.float64)
        return out

    def load(self, arr: dict, where, step: int) -> bool:
        """Restore from checkpoint arrays at ``step``; whether the structural projections
        changed. A checkpoint without synaptic elements starts them at its time: calcium 0,
        the elements as given, growing from then on."""
        if "structural/Ca" not in arr:
            self.ca_t[:] = self.time_ms(step)
            return False
        n = self.ca.size
        if arr["structural/Ca"].shape != (n,):
            raise ValueError(f"checkpoint {where}: structural/Ca has shape "
                             f"{arr['structural/Ca'].shape}, this network has {n} nodes")
        self.ca[:], self.ca_t[:] = arr["structural/Ca"], arr["structural/Ca_t"]
        self.done_at = int(arr["structural/done_at"][0])
        for e, name in enumerate(self.elements):
            key = f"structural/z/{name}"
            if key not in arr:
                raise ValueError(f"checkpoint {where}: missing array {key!r}")
            self.z[e] = arr[key]
            self.zc[e] = arr[f"structural/z_connected/{name}"]
        changed = False
        for name, p in self.edges().items():
            key = f"structural/edges/{name}/source_ids"
            if key not in arr:
                raise ValueError(f"checkpoint {where}: missing array {key!r}")
            p.source_ids = arr[key].astype(np.int64)
            p.target_ids = arr[f"structural/edges/{name}/target_ids"].astype(np.int64)
            p.weight = arr[f"structural/edges/{name}/weight"].astype(np.float64)
            p.delay_ms = arr[f"structural/edges/{name}/delay_ms"].astype(np.float64)
            changed = True
        return changed
