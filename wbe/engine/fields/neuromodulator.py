"""Neuromodulator fields in the engine: released by spikes, diffusing and taken up on a 3-D grid
(:mod:`wbe.engine.fields.diffusion`), read by plasticity rules and neuron parameters.

A :class:`wbe.engine.network.Field` of kind ``"neuromodulator"`` runs as follows, at the end of
every aligned min-delay slice (after the spike exchange, before the slice's spikes are
delivered):

* **release** — every spike of the slice from a node of the field's ``releases`` adds its
  amount (µM·µm³) to the voxel holding the node (its ``x``/``y``/``z`` attributes, µm), in
  (stamp, gid) order;
* **update** — every ``update_interval_ms`` (a multiple of the slice; default one slice) the
  field advances one step of that length (exact in time) and the releases since the last update
  join it at the step's end (so a release enters up to one interval late: 0.1–1 ms for usual
  minimum delays, against diffusion times of tens of ms);
* **volume transmitters** fed by the field — their modulator trace (``stdp_dopamine_synapse``'s
  ``n``, which NEST raises by 1/τ_n per dopamine spike and lets relax with τ_n) is steered to the
  field's concentration at the transmitter's position at every update: the transmitter's list
  gets, at the update's stamp, an entry of multiplicity ``τ_n·(c − n⁻)`` (``n⁻`` the trace as it
  relaxed since the last update), so ``n`` equals ``c`` (µM, taken as the rule's unit) at every
  update and relaxes with τ_n in between; the rules integrate it exactly as NEST's transmitter
  spikes. A single-voxel field with uptake 1/τ_n and releases of 1/τ_n per spike is NEST's
  spike-fed transmitter (tests/unit/test_field_engine.py);
* **dose–response** — each :class:`~wbe.engine.network.DoseResponse` sets a parameter of every
  neuron from the concentration at the neuron (sampled trilinearly), as ``p₀·(1 + emax·H)`` or
  ``p₀ + emax·H`` with the Hill function ``H``; the model's constants are recomputed from the
  changed parameters (any model, any parameter: each neuron gets its own row of the block's
  constant table) and hold until the next update. Applied at the start too.

**Distributed.** Every rank holds and solves the whole field: the releases come from the
exchanged spikes, which every rank has, so the fields are identical on every rank without any
communication beyond the spike exchange; each rank samples the field at its own neurons. The
price is the solve repeated on every rank (a 128³ grid: ~50 ms per update on one core); a grid
too large for that would be split across ranks as pencils of a distributed transform, whose
all-to-all exchanges would then be the cost. Checkpoints store the field, the pending releases
and the transmitters' traces; they restore onto any number of ranks.
"""

from __future__ import annotations

import numpy as np

from ..cells.base import steps_of
from ..network import simulated_population
from ..registry import FIELDS, PLASTICITY, Param
from .diffusion import Grid, ReactionDiffusion

__all__ = ["Neuromodulator", "FieldRun", "positions_of"]


def positions_of(pop, ids: np.ndarray, owner: str) -> np.ndarray:
    """(n, 3) positions (µm) of nodes ``ids`` of population ``pop`` from its ``x``/``y``/``z``
    attributes."""
    missing = [a for a in ("x", "y", "z") if a not in pop.attributes]
    if missing:
        raise ValueError(f"{owner}: population {pop.name!r} has no position attribute(s) "
                         f"{missing} (µm), which the field needs")
    p = np.stack([np.asarray(pop.attributes[a], np.float64) for a in ("x", "y", "z")], axis=1)
    if p.shape[0] != pop.n:
        raise ValueError(f"{owner}: population {pop.name!r}: position attributes have "
                         f"{p.shape[0]} entries, the population {pop.n} nodes")
    return p[np.asarray(ids, np.int64)]


@FIELDS.register
class Neuromodulator:
    """A neuromodulator's concentration on a 3-D grid: released by spikes, diffusing, taken
    up; steering volume transmitters and neuron parameters (module docstring)."""

    name = "neuromodulator"
    params = (
        Param("D_um2_per_ms", 0.24, "µm²/ms", "diffusion coefficient (dopamine in tissue: "
              "about 0.24)", ge=0.0),
        Param("k_per_ms", 0.0, "1/ms", "first-order uptake or decay rate", ge=0.0),
        Param("vmax_uM_per_ms", 0.0, "µM/ms", "maximal saturable (Michaelis–Menten) uptake",
              ge=0.0),
        Param("km_uM", 1.0, "µM", "half-saturation of the saturable uptake", gt=0.0),
        Param("spacing_um", 10.0, "µm", "voxel edge", gt=0.0),
        Param("initial_uM", 0.0, "µM", "concentration everywhere at t = 0", ge=0.0),
    )
    references = ("Rice ME, Cragg SJ (2008). Dopamine spillover after quantal release: "
                  "rethinking dopamine transmission in the nigrostriatal pathway. Brain Res "
                  "Rev 58:303-313.",)

    def build(self, spec, net, lay, conn, dt: float, dmin: int,
              shared: dict | None = None) -> FieldRun:
        """``shared``: the populations whose parameters the engine's fields set
        (:class:`ModulatedParams` by name), one dict for all of them."""
        for p in self.params:  # the spec's values, checked against the declared bounds
            p.check(getattr(spec, p.name), f"field {spec.name!r}")
        return FieldRun(spec, net, lay, conn, dt, dmin, shared)


class ModulatedParams:
    """The parameters of one population's neurons on this rank that dose-responses set: each
    neuron a constant-table row of its own, and the model's constants recomputed from the base
    parameters with every effect on the population applied (in the order they were made), so
    several fields, or several effects of one, act together."""

    def __init__(self, pv, blk, pop, dt: float) -> None:
        self.pv, self.blk, self.dt, self.model = pv, blk, dt, pv.model
        for k, v in pv.consts.items():
            if np.ndim(v) != 1 or not np.asarray(v).flags.writeable:
                raise ValueError(f"population {pop.name!r}: model {pv.model.name!r} keeps "
                                 f"constant {k!r} per block; its parameters cannot vary per "
                                 "neuron in a run")
        self.p0 = pv.model.resolve(pop.params, pop.n, pv.local_ids,
                                   owner=f"population {pop.name!r}")
        kb = blk.kb
        cols = pv.a - blk.a + np.arange(pv.b - pv.a)  # the population's columns in the block
        self.rows = kb.ctab.shape[0] + np.arange(cols.size)
        ci = kb.ci.copy()
        ctab = np.concatenate((kb.ctab, kb.ctab[ci[cols]]))
        itab = np.concatenate((kb.itab, kb.itab[ci[cols]]))
        ci[cols] = self.rows
        blk.kb = kb._replace(ctab=np.ascontiguousarray(ctab), itab=np.ascontiguousarray(itab),
                             ci=ci)
        #: (effect spec, local selection, H now) in the order made
        self.effects: list = []

    def apply(self) -> None:
        p = {k: v.copy() for k, v in self.p0.items()}
        for spec, sel, h in self.effects:
            if spec.mode == "scale":
                p[spec.param][sel] = p[spec.param][sel] * (1.0 + spec.emax * h)
            else:
                p[spec.param][sel] = p[spec.param][sel] + spec.emax * h
        cons = self.model.constants(p, self.dt)
        kb = self.blk.kb
        for j, name in enumerate(self.model.consts):
            kb.ctab[self.rows, j] = cons[name]
        for j, name in enumerate(self.model.int_consts):
            kb.itab[self.rows, j] = cons[name]
        for name, v in self.pv.consts.items():  # what the NumPy reference reads
            v[...] = cons[name]


class _Effect:
    """One dose–response on this rank's neurons of a population."""

    MODES = ("scale", "shift")

    def __init__(self, spec, field_run, net, lay, dt: float, owner: str,
                 shared: dict) -> None:
        self.spec, self.dt = spec, dt
        who = f"{owner}: dose-response on {spec.population!r}.{spec.param}"
        if spec.mode not in self.MODES:
            raise ValueError(f"{who}: mode must be one of {self.MODES}, not {spec.mode!r}")
        if not (spec.ec50_uM > 0 and spec.hill > 0 and np.isfinite(spec.emax)):
            raise ValueError(f"{who}: ec50_uM and hill must be > 0 and emax finite")
        pop = simulated_population(net, spec.population, who, "a dose-response acts on neurons")
        pv = lay.pop(pop.name)
        model = pv.model
        prm = {q.name: q for q in model.params}
        if spec.param not in prm or prm[spec.param].vector or prm[spec.param].initial:
            raise ValueError(f"{who}: model {model.name!r} has no parameter {spec.param!r} a "
                             f"field can set; its parameters: {sorted(model.param_names)}")
        if spec.node_ids is None:
            self.sel = np.arange(pv.local_ids.size)
        else:
            ids = np.asarray(spec.node_ids, np.int64)
            if ids.size and (ids.min() < 0 or ids.max() >= pop.n):
                raise ValueError(f"{who}: node ids out of range for {pop.name!r}")
            self.sel = np.flatnonzero(np.isin(pv.local_ids, ids))  # this rank's of them
        self.pos = positions_of(pop, pv.local_ids[self.sel], who)
        field_run.grid.voxel_of(self.pos, who)  # inside the grid
        if pop.name not in shared:
            blk = next(b for b in lay.blocks if any(q is pv for q in b.pops))
            shared[pop.name] = ModulatedParams(pv, blk, pop, dt)
        self.params = shared[pop.name]
        self.entry = [spec, self.sel, np.zeros(self.sel.size)]
        self.params.effects.append(self.entry)

    def set(self, c_uM: np.ndarray) -> None:
        """The Hill response to the concentrations at its neurons (applied by the owner)."""
        s = self.spec
        cn = np.power(np.maximum(c_uM, 0.0), s.hill)
        self.entry[2] = cn / (s.ec50_uM ** s.hill + cn)


class FieldRun:
    """One field on this rank (the whole grid, the same on every rank)."""

    def __init__(self, spec, net, lay, conn, dt: float, dmin: int,
                 shared: dict | None = None) -> None:
        owner = f"field {spec.name!r}"
        self.spec, self.name, self.dt = spec, spec.name, dt
        pops = {p.name: p for p in net.populations}
        pos, rel_g, rel_a = [], [], []
        for r in spec.releases:
            if r.population not in pops:
                raise ValueError(f"{owner}: releases from unknown population "
                                 f"{r.population!r}; have {sorted(pops)}")
            p = pops[r.population]
            if p.is_volume_transmitter:
                raise ValueError(f"{owner}: volume transmitter {p.name!r} releases nothing")
            ids = np.arange(p.n) if r.node_ids is None else np.asarray(r.node_ids, np.int64)
            if ids.size and (ids.min() < 0 or ids.max() >= p.n):
                raise ValueError(f"{owner}: release node ids out of range for {p.name!r}")
            if not np.isfinite(r.amount_uM_um3) or r.amount_uM_um3 < 0:
                raise ValueError(f"{owner}: amount_uM_um3 must be >= 0")
            pos.append(positions_of(p, ids, owner))
            rel_g.append(lay.offsets[p.name] + ids)
            rel_a.append(np.full(ids.size, float(r.amount_uM_um3)))
        self.vt_names = list(spec.volume_transmitters)
        vt_pos = []
        for name in self.vt_names:
            if name not in pops or not pops[name].is_volume_transmitter:
                raise ValueError(f"{owner}: {name!r} is not a population of model "
                                 "'volume_transmitter'")
            vt_pos.append(positions_of(pops[name], np.array([0]), owner))
        pos += vt_pos
        for e in spec.effects:
            if e.population in pops and pops[e.population].simulated:
                pos.append(positions_of(pops[e.population], np.arange(pops[e.population].n),
                                        owner))
        if spec.shape is not None:
            self.grid = Grid(tuple(int(x) for x in spec.shape), float(spec.spacing_um),
                             tuple(spec.origin_um or (0.0, 0.0, 0.0)))
        elif pos and sum(x.shape[0] for x in pos):
            self.grid = Grid.around(np.concatenate(pos), spec.spacing_um, spec.margin_um)
        else:
            raise ValueError(f"{owner}: no release, transmitter or dose-response places it; "
                             "give its shape")
        self.period = dmin if spec.update_interval_ms is None else int(
            steps_of(spec.update_interval_ms, dt))
        if self.period < dmin or self.period % dmin:
            raise ValueError(f"{owner}: update_interval_ms ({spec.update_interval_ms}) must be "
                             f"a multiple of the minimum delay ({dmin * dt:g} ms)")
        self.solver = ReactionDiffusion(self.grid, spec.D_um2_per_ms, self.period * dt,
                                        k_per_ms=spec.k_per_ms,
                                        vmax_uM_per_ms=spec.vmax_uM_per_ms, km_uM=spec.km_uM,
                                        laplacian=spec.laplacian, name=spec.name)
        if not (np.isfinite(spec.initial_uM) and spec.initial_uM >= 0):
            raise ValueError(f"{owner}: initial_uM must be >= 0")
        self.c = np.full(self.grid.shape, float(spec.initial_uM))
        self.pending = np.zeros(self.c.size)  # releases since the last update (µM·µm³)
        # releases by gid (several entries of one gid add)
        g = np.concatenate(rel_g) if rel_g else np.zeros(0, np.int64)
        a = np.concatenate(rel_a) if rel_a else np.zeros(0)
        vox = (np.ravel_multi_index(self.grid.voxel_of(np.concatenate(pos[:len(rel_g)]), owner).T,
                                    self.grid.shape) if rel_g else np.zeros(0, np.int64))
        self.rel_indptr = np.zeros(lay.n_total + 1, np.int64)
        o = np.argsort(g, kind="stable")
        np.cumsum(np.bincount(g, minlength=lay.n_total), out=self.rel_indptr[1:])
        self.rel_vox, self.rel_amt = vox[o], a[o]
        # transmitters: index, position, the time constant of the trace they steer
        mods = conn.modulators
        self.vt_index = np.array([mods.vt_index(nm, owner) for nm in self.vt_names], np.int64)
        self.vt_pos = np.concatenate(vt_pos) if vt_pos else np.zeros((0, 3))
        self.vt_tau = np.array([self._trace_tau(nm, net, owner) for nm in self.vt_names])
        self.n_track = np.zeros(len(self.vt_names))  # the trace as last steered (µM)
        self.t_track = np.zeros(len(self.vt_names), np.int64)
        #: the populations whose parameters fields set (shared by every field of the engine)
        self.shared = {} if shared is None else shared
        self.effects = [_Effect(e, self, net, lay, dt, owner, self.shared)
                        for e in spec.effects]
        self.apply_effects()
        self.hist_t, self.hist_mean, self.hist_max = [], [], []

    @staticmethod
    def _trace_tau(vt: str, net, owner: str) -> float:
        taus = set()
        for pr in net.projections:
            pl = pr.plasticity
            if pl is None or pl.params.get("volume_transmitter") != vt:
                continue
            rule = PLASTICITY.get(pl.rule)
            if rule.modulator_tau is None:
                raise ValueError(f"{owner}: rule {rule.name!r} of projection {pr.name!r} "
                                 "declares no modulator trace a field can steer")
            row = dict(zip(rule.param_names, rule.resolve(pl.params,
                                                          f"projection {pr.name!r}").tolist()))
            taus.add(row[rule.modulator_tau])
        if len(taus) != 1:
            raise ValueError(f"{owner}: volume transmitter {vt!r} is read by "
                             + ("no plasticity rule" if not taus else
                                f"rules with different trace time constants {sorted(taus)}"))
        return taus.pop()

    # ------------------------------------------------------------------ the slice's end
    def end_of_slice(self, k1: int, gs: np.ndarray, gg: np.ndarray, mod) -> None:
        """The aligned slice ending at step ``k1`` with spikes (``gs``, ``gg``), in (stamp,
        gid) order, of every rank: releases, and every ``period`` steps the update."""
        if gg.size and self.rel_vox.size:
            cnt = self.rel_indptr[gg + 1] - self.rel_indptr[gg]
            hit = np.flatnonzero(cnt)
            if hit.size:
                starts = np.repeat(self.rel_indptr[gg[hit]], cnt[hit])
                j = starts + (np.arange(int(cnt[hit].sum()))
                              - np.repeat(np.cumsum(cnt[hit]) - cnt[hit], cnt[hit]))
                np.add.at(self.pending, self.rel_vox[j], self.rel_amt[j])
        if k1 % self.period:
            return
        c = self.solver.step(self.c)
        c.reshape(-1)[:] += self.pending / self.grid.voxel_um3
        self.pending[:] = 0.0
        self.c = c
        self.hist_t.append(k1 * self.dt)
        self.hist_mean.append(float(c.mean()))
        self.hist_max.append(float(c.max()))
        if self.vt_index.size:
            cv = self.grid.sample(c, self.vt_pos)
            lp = mod.pend.shape[1]
            for i, v in enumerate(self.vt_index.tolist()):
                relaxed = self.n_track[i] * np.exp(-(k1 - self.t_track[i]) * self.dt
                                                   / self.vt_tau[i])
                mod.pend[v, k1 % lp] += self.vt_tau[i] * (cv[i] - relaxed)
                self.n_track[i], self.t_track[i] = cv[i], k1
        self.apply_effects()

    def apply_effects(self) -> None:
        for e in self.effects:
            e.set(self.grid.sample(self.c, e.pos))
        for mp in {id(e.params): e.params for e in self.effects}.values():
            mp.apply()

    def records(self) -> dict[str, np.ndarray]:
        """Update by update: times (ms), the mean and the largest concentration (µM); and the
        field at the end with its grid (``c``, ``origin_um``, ``spacing_um``)."""
        k = f"fields/{self.name}/"
        return {k + "t_ms": np.asarray(self.hist_t, np.float64),
                k + "mean_uM": np.asarray(self.hist_mean, np.float64),
                k + "max_uM": np.asarray(self.hist_max, np.float64), k + "c": self.c.copy(),
                k + "origin_um": np.asarray(self.grid.origin_um, np.float64),
                k + "spacing_um": np.array([self.grid.spacing_um])}

    # ------------------------------------------------------------------ checkpoints
    def arrays(self) -> dict[str, np.ndarray]:
        k = f"fields/{self.name}/"
        return {k + "c": self.c, k + "pending": self.pending, k + "n_track": self.n_track,
                k + "t_track": self.t_track}

    def load(self, arr: dict, path, step: int) -> None:
        """The field as the checkpoint at ``step`` holds it. Transmitters this run steers that
        the checkpoint's did not (a plastic phase added them) start from the field then."""
        k = f"fields/{self.name}/"
        for nm in ("c", "pending", "n_track", "t_track"):
            if k + nm not in arr:
                raise ValueError(f"checkpoint {path}: array {k + nm!r} is missing (field "
                                 f"{self.name!r} of this network)")
        for nm in ("c", "pending"):
            if arr[k + nm].shape != np.shape(getattr(self, nm)):
                raise ValueError(f"checkpoint {path}: array {k + nm!r} does not match field "
                                 f"{self.name!r} of this network (another grid)")
        self.c = np.array(arr[k + "c"], np.float64)
        self.pending[:] = arr[k + "pending"]
        if arr[k + "n_track"].shape == self.n_track.shape:
            self.n_track[:] = arr[k + "n_track"]
            self.t_track[:] = arr[k + "t_track"]
        elif arr[k + "n_track"].size == 0:  # new transmitters: their traces start now
            self.n_track[:] = 0.0
            self.t_track[:] = step
        else:
            raise ValueError(f"checkpoint {path}: field {self.name!r} steered other volume "
                             "transmitters than this network's")
        self.apply_effects()
