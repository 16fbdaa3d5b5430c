"""Volume transmitters: neuromodulator spikes for the plasticity rules that read them.

A population of model ``volume_transmitter`` (:data:`wbe.engine.network.VOLUME_TRANSMITTER`)
is NEST's ``volume_transmitter``: each node collects the spikes of the neurons projecting into
it (dopamine neurons, or a virtual population carrying a reward signal) and hands them, as a
list of (time, multiplicity), to the synapses of the rules that name it (``stdp_dopamine_synapse``'s
``volume_transmitter`` parameter, a population of one node). Semantics, as NEST 3.10's:

* a spike with stamp ``q`` on an edge of delay ``D`` steps reaches the transmitter at stamp
  ``q + D`` (its weight is not used: multiplicity counts; two edges from one neuron count twice);
* at the end of the slice ``(k, k1]`` the arrivals with stamps in it join the transmitter's list,
  one entry per stamp with the summed multiplicity (:func:`collect`);
* every ``deliver_interval`` slices of the minimum delay (``k1`` a multiple of
  ``deliver_interval · min_delay``) the transmitter *triggers*: every synapse naming it is brought
  up to ``k1`` (the rules' ``trigger``), and the list restarts with a pseudo spike of
  multiplicity 0 at ``k1`` (:func:`reset_due`) — before that slice's spikes are delivered, as in
  NEST, where the transmitter updates with the neurons and spikes are delivered at the start of
  the next slice. The list starts with a pseudo spike at 0.

The edges into transmitters are known to every rank (the network is), every rank sees every
spike after the exchange, so every rank keeps the same lists: no communication, the same on any
number of ranks. Edges into transmitters count for the minimum delay as any edge does.

The state is the :class:`VolumeTransmitters` tuple the loop and the rules' kernels read; its
NumPy twins (``*_np``) are bit-identical (integer multiplicities, no arithmetic on times).
"""

from __future__ import annotations

from collections import namedtuple

import numba
import numpy as np

from .cells.base import steps_of
from .registry import Param

#: parameters of a ``volume_transmitter`` population (NEST's names), one value per population
PARAMS = (Param("deliver_interval", 1, "", "trigger the synapses every this many slices of the "
                "minimum delay", ge=1, integer=True),)

#: The transmitters of a network, as kernels see them. ``src_indptr`` (n_total + 1) /
#: ``src_vt`` / ``src_delay`` (steps): the edges into transmitters by source gid; ``period``
#: (steps) per transmitter; ``pend[v, t % Lp]``: multiplicity arriving at stamp t, not yet
#: collected; ``spk_t``/``spk_m``/``spk_n``: the list (stamps, multiplicities, length);
#: ``due[v]``: 1 when transmitter v triggers at the end of this slice.
VolumeTransmitters = namedtuple("VolumeTransmitters", "src_indptr src_vt src_delay period pend "
                                                      "spk_t spk_m spk_n due")


def empty(n_total: int = 0) -> VolumeTransmitters:
    z = np.zeros(0, np.int64)
    return VolumeTransmitters(np.zeros(n_total + 1, np.int64), np.zeros(0, np.int32),
                              np.zeros(0, np.int32), z, np.zeros((0, 1)), np.zeros((0, 1), np.int64),
                              np.zeros((0, 1)), z.copy(), np.zeros(0, np.int8))


class Modulators:
    """The volume transmitters of a network on this rank (the same on every rank)."""

    def __init__(self, net, offsets: dict[str, int], n_total: int, dt: float,
                 dmin: int) -> None:
        self.pops = [p for p in net.populations if p.is_volume_transmitter]
        self.index: dict[str, int] = {}  # population name -> index of its first transmitter
        intervals = []
        for p in self.pops:
            unknown = set(p.params) - {q.name for q in PARAMS}
            if unknown:
                raise ValueError(f"population {p.name!r} (volume_transmitter): unknown "
                                 f"parameter(s) {sorted(unknown)}; known: "
                                 f"{[q.name for q in PARAMS]}")
            if p.receptors:
                raise ValueError(f"population {p.name!r} (volume_transmitter) has no receptors")
            di = p.params.get("deliver_interval", PARAMS[0].default)
            PARAMS[0].check(di, f"population {p.name!r}")
            if np.ndim(di) != 0:
                raise ValueError(f"population {p.name!r}: deliver_interval must be one value")
            self.index[p.name] = len(intervals)
            intervals += [int(di)] * int(p.n)
        nvt = len(intervals)
        self.n = nvt
        vt_of_gid = np.full(n_total, -1, np.int64)
        for p in self.pops:
            vt_of_gid[offsets[p.name]:offsets[p.name] + p.n] = self.index[p.name] + np.arange(p.n)
        src, vt, dly = [], [], []
        for pr in net.projections:
            if pr.target not in self.index:
                continue
            who = f"projection {pr.name!r}"
            if pr.plasticity is not None or pr.receptor is not None or \
                    pr.synapse != "static_synapse":
                raise ValueError(f"{who}: edges into volume transmitter {pr.target!r} are "
                                 "static_synapse edges without plasticity or receptor")
            m = len(pr)
            d = steps_of(np.broadcast_to(np.asarray(pr.delay_ms, np.float64), (m,)), dt)
            src.append(offsets[pr.source] + np.asarray(pr.source_ids, np.int64))
            vt.append(vt_of_gid[offsets[pr.target] + np.asarray(pr.target_ids, np.int64)])
            dly.append(np.asarray(d, np.int64))
        src = np.concatenate(src) if src else np.zeros(0, np.int64)
        vt = np.concatenate(vt) if vt else np.zeros(0, np.int64)
        dly = np.concatenate(dly) if dly else np.zeros(0, np.int64)
        order = np.argsort(src, kind="stable")
        indptr = np.zeros(n_total + 1, np.int64)
        np.cumsum(np.bincount(src, minlength=n_total), out=indptr[1:])
        period = np.asarray(intervals, np.int64) * int(dmin)
        self.lp = int(dly.max(initial=0)) + int(dmin) + 1
        cap = int(period.max(initial=0)) + int(dmin) + 1
        self.state = VolumeTransmitters(
            indptr, vt[order].astype(np.int32), dly[order].astype(np.int32), period,
            np.zeros((nvt, self.lp)), np.zeros((nvt, cap), np.int64), np.zeros((nvt, cap)),
            np.ones(nvt, np.int64), np.zeros(nvt, np.int8))  # pseudo spike at 0

    def vt_index(self, name, owner: str) -> int:
        """The transmitter a rule's ``volume_transmitter`` parameter names: a population of
        model ``volume_transmitter`` with one node (NEST: a one-element NodeCollection)."""
        if not isinstance(name, str) or name not in self.index:
            raise ValueError(f"{owner}: volume_transmitter must name a population of model "
                             f"'volume_transmitter'; got {name!r}, have {sorted(self.index)}")
        p = next(q for q in self.pops if q.name == name)
        if p.n != 1:
            raise ValueError(f"{owner}: volume transmitter population {name!r} has {p.n} "
                             "nodes; a rule names one transmitter (a population of one node)")
        return self.index[name]

    # ---- checkpoints: the same on every rank; pend stored from the next stamp on
    def arrays(self, step: int) -> dict[str, np.ndarray]:
        st = self.state
        idx = (step + 1 + np.arange(self.lp)) % self.lp
        return {"modulators/pend": st.pend[:, idx], "modulators/spk_t": st.spk_t,
                "modulators/spk_m": st.spk_m, "modulators/spk_n": st.spk_n}

    def load(self, arr: dict, step: int, path) -> None:
        st = self.state
        for k in ("pend", "spk_t", "spk_m", "spk_n"):
            key = f"modulators/{k}"
            if key not in arr or arr[key].shape != getattr(st, k).shape:
                raise ValueError(f"checkpoint {path}: array {key!r} is missing or does not "
                                 "match this network's volume transmitters")
        idx = (step + 1 + np.arange(self.lp)) % self.lp
        st.pend[:, idx] = arr["modulators/pend"]
        st.spk_t[...] = arr["modulators/spk_t"]
        st.spk_m[...] = arr["modulators/spk_m"]
        st.spk_n[...] = arr["modulators/spk_n"]


@numba.njit(cache=True)
def receive(mod, q, g):
    """The spike (stamp ``q``, gid ``g``) into the transmitters ``g`` projects to."""
    lp = mod.pend.shape[1]
    for j in range(mod.src_indptr[g], mod.src_indptr[g + 1]):
        mod.pend[mod.src_vt[j], (q + mod.src_delay[j]) % lp] += 1.0


@numba.njit(cache=True)
def collect(mod, k, k1):
    """End of the slice (k, k1]: arrivals into the lists, and which transmitters trigger."""
    lp = mod.pend.shape[1]
    for v in range(mod.pend.shape[0]):
        for t in range(k + 1, k1 + 1):
            m = mod.pend[v, t % lp]
            if m != 0.0:  # (a field steering a transmitter's trace may pull it down)
                n = mod.spk_n[v]
                if n >= mod.spk_t.shape[1]:
                    raise RuntimeError("volume transmitter: spike list overflow (the run's "
                                       "slices are not aligned to the minimum delay)")
                mod.spk_t[v, n] = t
                mod.spk_m[v, n] = m
                mod.spk_n[v] = n + 1
                mod.pend[v, t % lp] = 0.0
        mod.due[v] = 1 if k1 % mod.period[v] == 0 else 0


@numba.njit(cache=True)
def reset_due(mod, k1):
    """After the triggers: the lists of the transmitters that triggered restart at ``k1``."""
    for v in range(mod.due.shape[0]):
        if mod.due[v]:
            mod.spk_t[v, 0] = k1
            mod.spk_m[v, 0] = 0.0
            mod.spk_n[v] = 1


# ------------------------------------------------------------------------ NumPy reference
def receive_np(mod, gs: np.ndarray, gg: np.ndarray) -> None:
    """:func:`receive` for the spikes (``gs``, ``gg``) of a slice."""
    lp = mod.pend.shape[1]
    for q, g in zip(gs.tolist(), gg.tolist()):
        j = np.arange(mod.src_indptr[g], mod.src_indptr[g + 1])
        if j.size:
            np.add.at(mod.pend, (mod.src_vt[j], (q + mod.src_delay[j]) % lp), 1.0)


def collect_np(mod, k: int, k1: int) -> None:
    lp = mod.pend.shape[1]
    cols = np.arange(k + 1, k1 + 1)
    for v in range(mod.pend.shape[0]):
        m = mod.pend[v, cols % lp]
        hit = m != 0.0
        n, c = int(mod.spk_n[v]), int(hit.sum())
        if n + c > mod.spk_t.shape[1]:
            raise RuntimeError("volume transmitter: spike list overflow")
        mod.spk_t[v, n:n + c] = cols[hit]
        mod.spk_m[v, n:n + c] = m[hit]
        mod.spk_n[v] = n + c
        mod.pend[v, cols % lp] = 0.0
    if mod.due.size:
        mod.due[:] = (k1 % mod.period == 0).astype(np.int8)


def reset_due_np(mod, k1: int) -> None:
    d = mod.due.astype(bool)
    mod.spk_t[d, 0] = k1
    mod.spk_m[d, 0] = 0.0
    mod.spk_n[d] = 1


def add_volume_transmitter(net, name: str, source: str, source_ids, *, delay_ms: float = 1.0,
                           deliver_interval: int = 1) -> str:
    """Add to ``net`` a volume transmitter ``name`` (a population of one node) fed by the nodes
    ``source_ids`` of population ``source`` with ``delay_ms``; returns ``name``, the value of
    a rule's ``volume_transmitter`` parameter (NEST: ``Create("volume_transmitter")`` and
    ``Connect(dopamine_neurons, vt)``)."""
    from .network import Population, Projection

    ids = np.asarray(source_ids, np.int64)
    net.populations.append(Population(name, "volume_transmitter", 1,
                                      {"deliver_interval": int(deliver_interval)}))
    net.projections.append(Projection(f"{source}_to_{name}", source, name, ids,
                                      np.zeros(ids.size, np.int64), np.ones(ids.size),
                                      np.full(ids.size, float(delay_ms))))
    return name


def with_dopamine(net, t_stop_ms: float, *, rate_hz: float = 10.0, n: int = 3, seed: int = 0,
                  delay_ms: float = 1.0, deliver_interval: int = 1, dt_ms: float = 0.1):
    """A demonstration and test harness: every plastic projection of ``net`` whose rule reads a
    volume transmitter and names none gets the transmitter ``dopamine_vt``, fed by ``n``
    virtual dopamine neurons (population ``dopamine``) firing as Poisson trains of
    ``rate_hz`` in (0, ``t_stop_ms``) on the ``dt_ms`` grid, drawn from ``seed``. Returns
    ``net`` (changed in place); unchanged when no projection needs one."""
    from .network import Population, SpikeTrainInput
    from .registry import PLASTICITY

    need = [pr for pr in net.projections if pr.plasticity is not None
            and PLASTICITY.get(pr.plasticity.rule).modulated
            and "volume_transmitter" not in pr.plasticity.params]
    if not need:
        return net
    r = np.random.default_rng(seed)
    ids, times = [], []
    for i in range(n):
        t = np.unique(np.round(r.uniform(dt_ms, t_stop_ms - dt_ms,
                                         r.poisson(rate_hz * t_stop_ms / 1e3)) / dt_ms) * dt_ms)
        ids.append(np.full(t.size, i, np.int64))
        times.append(np.round(t, 9))
    net.populations.append(Population("dopamine", "virtual", n))
    net.spike_trains.append(SpikeTrainInput("dopamine_spikes", "dopamine", np.concatenate(ids),
                                            np.concatenate(times)))
    vt = add_volume_transmitter(net, "dopamine_vt", "dopamine", np.arange(n),
                                delay_ms=delay_ms, deliver_interval=deliver_interval)
    for pr in need:
        pr.plasticity.params = {**pr.plasticity.params, "volume_transmitter": vt}
    return net
