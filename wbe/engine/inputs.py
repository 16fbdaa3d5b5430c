"""Inputs on one rank: Poisson generators, current steps and given spike trains, as the flat
plans the compiled loop reads, with the NumPy reference of each.

* :class:`PoissonInput`: counts Poisson(rate·dt) drawn by a hash of (seed, input name,
  generation step, gid) (:mod:`wbe.engine.rng`): a generation step s acts in step
  s + delay_steps and is active when start_ms <= s·dt < stop_ms (NEST's
  ``poisson_generator``); each count adds ``weight`` into the target's receptor port.
* :class:`CurrentInput`: applied in integration step k when start < k·dt <= stop and k >= 2
  (NEST's ``dc_generator`` connected with delay dt: a generator emits from step 0 on, and what
  it emits in step s acts in step s + 2); inputs add in order.
* :class:`SpikeTrainInput`: spikes of virtual gids, known to every rank, as (stamp, gid)
  sorted by stamp then gid; times off the dt grid act at the end of their step, as NEST's
  ``spike_generator`` delivers them (:func:`spike_steps`).
"""

from __future__ import annotations

from collections import namedtuple

import numba
import numpy as np

from . import rng
from .cells.base import steps_of
from .layout import Layout
from .network import Network

#: Poisson inputs as flat arrays (see :func:`wbe.engine.rng.poisson_add_nb`)
PoissonPlan = namedtuple("PoissonPlan", "ptr key d s0 s1 row w seg_tab gid slot tab lam tables "
                                        "tab_len tab_chunks ubuf")
#: current inputs: input m acts in steps k0[m] < k <= k1[m] on entries ptr[m]:ptr[m+1]
CurrentPlan = namedtuple("CurrentPlan", "k0 k1 ptr slot amp")

NO_STOP = 2 ** 62
#: NEST's time resolution (1 tic = 1 µs by default): a spike time within half a tic of a grid
#: point is on it
HALF_TIC_MS = 0.0005


def spike_steps(t_ms, dt_ms: float) -> np.ndarray:
    """The step stamps of given spike times as NEST's spike_generator (and so bmtk PointNet,
    with ``precise_times``) delivers them to grid-based neurons: a time within half a tic of the
    dt grid is that grid point; any other time is rounded up to the end of its step."""
    t = np.asarray(t_ms, dtype=np.float64)
    near = np.rint(t / dt_ms)
    on = np.abs(t - near * dt_ms) < HALF_TIC_MS
    return np.where(on, near, np.ceil(t / dt_ms)).astype(np.int64)


def off_grid(t_ms, dt_ms: float) -> np.ndarray:
    """Which spike times :func:`spike_steps` moves (not within half a tic of the grid)."""
    t = np.asarray(t_ms, dtype=np.float64)
    return np.abs(t - np.rint(t / dt_ms) * dt_ms) >= HALF_TIC_MS


@numba.njit(cache=True)
def stim_nb(cp, k, istim):
    """``istim`` (pA per slot) in step ``k``: zero, plus every active current input in order
    (as the reference's ``np.add.at`` per input)."""
    istim[:] = 0.0
    for m in range(cp.k0.shape[0]):
        if cp.k0[m] < k <= cp.k1[m]:
            for i in range(cp.ptr[m], cp.ptr[m + 1]):
                istim[cp.slot[i]] += cp.amp[i]


class Inputs:
    """This rank's share of the network's inputs."""

    def __init__(self, net: Network, lay: Layout, ctx, dt: float, seed: int) -> None:
        self.seed = int(seed)
        self.seed_u64 = np.uint64(self.seed & 0xFFFFFFFFFFFFFFFF)
        rank = ctx.rank
        self.poisson = []
        pops = {p.name: p for p in net.populations}
        for pin in net.poisson:
            who = f"PoissonInput {pin.name!r}"
            if pin.target not in pops or not pops[pin.target].simulated:
                raise ValueError(f"{who}: target {pin.target!r} is not a simulated population")
            model = lay.model_of_pop[pin.target]
            ids = _ids(pin.node_ids, pops[pin.target], who)
            gid = lay.offsets[pin.target] + ids
            mine = np.nonzero(lay.owner[gid] == rank)[0]
            rate = np.broadcast_to(np.asarray(pin.rate_hz, dtype=np.float64), ids.shape)
            if rate.size and (np.isnan(rate).any() or rate.min() < 0):
                raise ValueError(f"{who}: rate_hz must be >= 0")
            if pin.stop_ms < pin.start_ms:
                raise ValueError(f"{who}: stop_ms ({pin.stop_ms}) is before start_ms "
                                 f"({pin.start_ms})")
            d = int(steps_of(pin.delay_ms, dt))
            if d < 1:
                raise ValueError(f"{who}: delay_ms must be >= dt")
            port = model.port(pin.receptor, who)
            port.check_weights(pin.weight, who)
            self.poisson.append(dict(
                gid=gid[mine], slot=lay.columns(lay.slot_of[gid[mine]]),
                lam=rate[mine] * dt * 1e-3,
                row=int(model.row_of(port, np.array([pin.weight]))[0]), w=float(pin.weight),
                d=d, key=rng.purpose_key("poisson:" + pin.name),
                s0=int(np.ceil(pin.start_ms / dt - 1e-9)),
                s1=int(np.ceil(pin.stop_ms / dt - 1e-9)) if np.isfinite(pin.stop_ms)
                else NO_STOP))
        self.pp = self._poisson_plan()
        self.currents = []
        for ci in net.currents:
            who = f"CurrentInput {ci.name!r}"
            if ci.target not in pops or not pops[ci.target].simulated:
                raise ValueError(f"{who}: target {ci.target!r} is not a simulated population")
            if ci.stop_ms < ci.start_ms:
                raise ValueError(f"{who}: stop_ms ({ci.stop_ms}) is before start_ms "
                                 f"({ci.start_ms})")
            ids = _ids(ci.node_ids, pops[ci.target], who)
            gid = lay.offsets[ci.target] + ids
            mine = np.nonzero(lay.owner[gid] == rank)[0]
            amp = np.broadcast_to(np.asarray(ci.amplitude_pA, dtype=np.float64), ids.shape)[mine]
            self.currents.append(dict(
                # NEST's generator emits at the earliest in step 0, which acts in step 2
                slot=lay.slot_of[gid[mine]], amp=amp.copy(),
                k0=max(int(steps_of(ci.start_ms, dt)), 1),
                k1=int(steps_of(ci.stop_ms, dt)) if np.isfinite(ci.stop_ms) else NO_STOP))
        cs = self.currents
        self.cp = CurrentPlan(
            np.array([c["k0"] for c in cs], dtype=np.int64),
            np.array([c["k1"] for c in cs], dtype=np.int64),
            np.concatenate(([0], np.cumsum([c["slot"].size for c in cs]))).astype(np.int64),
            np.concatenate([c["slot"] for c in cs] or [np.zeros(0)]).astype(np.int64),
            np.concatenate([c["amp"] for c in cs] or [np.zeros(0)]).astype(np.float64))
        st, sg = [], []
        for tr in net.spike_trains:
            who = f"SpikeTrainInput {tr.name!r}"
            if tr.population not in pops:
                raise ValueError(f"{who}: unknown population {tr.population!r}")
            pop = pops[tr.population]
            if not pop.is_virtual:
                raise ValueError(f"{who}: population {pop.name!r} is not virtual")
            ids = _ids(tr.node_ids, pop, who)
            t = np.asarray(tr.times_ms, dtype=np.float64)
            if t.shape != ids.shape:
                raise ValueError(f"{who}: {t.size} times but {ids.size} node ids")
            q = spike_steps(t, dt)
            if q.size and q.min() < 1:
                raise ValueError(f"{who}: spike times must be > 0 (and at least dt)")
            st.append(q)
            sg.append(lay.offsets[tr.population] + ids)
        vs = np.concatenate(st) if st else np.zeros(0, np.int64)
        vg = np.concatenate(sg) if sg else np.zeros(0, np.int64)
        o = np.lexsort((vg, vs))
        self.v_stamp, self.v_gid = np.ascontiguousarray(vs[o]), np.ascontiguousarray(vg[o])

    def add_spikes(self, gids: np.ndarray, stamps: np.ndarray) -> None:
        """More virtual spikes (gids of virtual nodes, stamps after the current step), kept
        in (stamp, gid) order — the same call on every rank."""
        vs = np.concatenate((self.v_stamp, np.asarray(stamps, np.int64)))
        vg = np.concatenate((self.v_gid, np.asarray(gids, np.int64)))
        o = np.lexsort((vg, vs))
        self.v_stamp, self.v_gid = np.ascontiguousarray(vs[o]), np.ascontiguousarray(vg[o])

    def _poisson_plan(self) -> PoissonPlan:
        """All Poisson inputs as flat arrays (inputs in order); inputs with at most 256
        distinct means per rank draw through CDF tables."""
        ps = [p for p in self.poisson if p["gid"].size]
        i64 = np.int64
        if not ps:
            z = np.zeros(0, i64)
            return PoissonPlan(np.zeros(1, i64), np.zeros(0, np.uint64), z, z, z, z,
                               np.zeros(0), z, z, z, z, np.zeros(0), np.zeros((1, 1)),
                               np.ones(1, i64), np.ones(1, i64), np.zeros(1))
        lam = np.concatenate([p["lam"] for p in ps])
        uniq, inv = np.unique(lam, return_inverse=True)
        if uniq.size <= 256:
            tables, tab_len, tab_chunks = rng.cdf_tables(uniq)
            tab = inv.reshape(-1).astype(i64)
        else:
            tables, tab_len, tab_chunks = (np.zeros((1, 1)), np.ones(1, i64), np.ones(1, i64))
            tab = np.full(lam.size, -1, dtype=i64)
        ptr = np.concatenate(([0], np.cumsum([p["gid"].size for p in ps]))).astype(i64)
        seg_tab = np.full(len(ps), -1, dtype=i64)
        for m in range(len(ps)):
            t = tab[ptr[m]:ptr[m + 1]]
            if t[0] >= 0 and np.all(t == t[0]) and tab_chunks[t[0]] == 1:
                seg_tab[m] = t[0]
        return PoissonPlan(
            ptr, np.array([p["key"] for p in ps], dtype=np.uint64),
            np.array([p["d"] for p in ps], dtype=i64), np.array([p["s0"] for p in ps], dtype=i64),
            np.array([p["s1"] for p in ps], dtype=i64),
            np.array([p["row"] for p in ps], dtype=i64),
            np.array([p["w"] for p in ps], dtype=np.float64), seg_tab,
            np.concatenate([p["gid"] for p in ps]).astype(i64),
            np.concatenate([p["slot"] for p in ps]).astype(i64), tab, lam,
            tables, tab_len, tab_chunks, np.empty(max(p["gid"].size for p in ps)))

    # ---- NumPy reference
    def add_poisson_np(self, k: int, syn: np.ndarray, use_numba_rng: bool = False) -> None:
        """Add the Poisson input acting in step ``k`` into ``syn[row, slot]``."""
        for pin in self.poisson:
            s = k - pin["d"]
            if s < pin["s0"] or s >= pin["s1"] or s < 0 or pin["gid"].size == 0:
                continue
            cnt = rng.poisson(self.seed, pin["key"], s, pin["gid"], pin["lam"],
                              use_numba=use_numba_rng)
            np.add.at(syn[pin["row"]], pin["slot"], pin["w"] * cnt)

    def stim_np(self, k: int, n_local: int) -> np.ndarray:
        i = np.zeros(n_local)
        for ci in self.currents:
            if ci["k0"] < k <= ci["k1"]:
                np.add.at(i, ci["slot"], ci["amp"])
        return i


def _ids(node_ids, pop, who: str) -> np.ndarray:
    ids = np.asarray(node_ids, dtype=np.int64).reshape(-1)
    if ids.size and (ids.min() < 0 or ids.max() >= pop.n):
        bad = int(ids.max()) if ids.max() >= pop.n else int(ids.min())
        raise ValueError(f"{who}: node id {bad} is out of range for population {pop.name!r} "
                         f"({pop.n} nodes)")
    return ids
