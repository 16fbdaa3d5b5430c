"""Monitors on one rank: which spikes are kept, and state samples (NEST's multimeter).

Spikes are recorded from the list every rank holds after the exchange, so the result is the
same on every rank. A :class:`~wbe.engine.network.StateRecorder` samples its variables at
t = m·interval (m >= 1), t_start <= t < t_stop, each sample the state after the step ending at
t; ranks sample their own neurons and the columns are gathered at the end.
"""

from __future__ import annotations

import numpy as np

from .cells.base import steps_of
from .fused import SamplePlan, empty_sample_plan
from .layout import Layout
from .network import Network, StateRecorder


class SpikeRecorder:
    """The populations whose spikes are kept (default: every non-virtual one).

    ``also``: populations whose spikes the engine reads as they come (structural plasticity's
    calcium) without keeping them: they pass ``mask`` and :meth:`take` removes them.
    ``listeners``: monitors (:mod:`wbe.engine.monitors`) that observe the spikes of their
    ``populations`` as they are added; those spikes are not kept for them."""

    def __init__(self, net: Network, names: list[str] | None, lay: Layout,
                 also: list[str] = (), listeners: list = ()) -> None:
        if names is None:
            names = [p.name for p in net.populations if p.simulated]
        pops = {p.name: p for p in net.populations}
        for nm in names:
            if nm not in pops:
                raise ValueError(f"record_spikes: no population {nm!r}; have {sorted(pops)}")
        self.names = list(names)
        self.keep = np.zeros(lay.n_total, dtype=bool)
        for nm in self.names:
            self.keep[lay.offsets[nm]:lay.offsets[nm] + pops[nm].n] = True
        self.mask = self.keep.copy()
        for nm in also:
            self.mask[lay.offsets[nm]:lay.offsets[nm] + pops[nm].n] = True
        self.trims = bool(np.any(self.mask & ~self.keep))
        self.listeners = list(listeners)
        #: what is stored (recorded or read by ``also``); ``mask`` adds what only listeners see
        self.store = self.mask.copy()
        for lis in self.listeners:
            for nm in lis.populations:
                self.mask[lay.offsets[nm]:lay.offsets[nm] + pops[nm].n] = True
        self.listen_only = bool(np.any(self.mask & ~self.store))
        self.stamps: list[np.ndarray] = []
        self.gids: list[np.ndarray] = []

    def take(self, since: int) -> tuple[np.ndarray, np.ndarray]:
        """The spikes recorded in chunks ``since`` onwards (``also``'s included, in order),
        after which those chunks keep only the recorded populations' spikes."""
        s = self.stamps[since:]
        g = self.gids[since:]
        out = (np.concatenate(s) if s else np.zeros(0, np.int64),
               np.concatenate(g) if g else np.zeros(0, np.int64))
        if self.trims:
            for j in range(since, len(self.stamps)):
                k = self.keep[self.gids[j]]
                self.stamps[j], self.gids[j] = self.stamps[j][k], self.gids[j][k]
        return out

    def add(self, stamps: np.ndarray, gids: np.ndarray, masked: bool = False) -> None:
        """Spikes of a slice or chunk (all ranks', in time order across calls; ``masked``:
        already only those ``mask`` passes, as the fused loop gives them): the listeners
        observe theirs, the rest is stored."""
        if stamps.size:
            if masked:
                s, g = stamps, gids
            else:
                keep = self.mask[gids]
                s, g = stamps[keep], gids[keep]
            for lis in self.listeners:
                lis.observe(s, g)
            if self.listen_only:
                st = self.store[g]
                s, g = s[st], g[st]
            self.stamps.append(np.ascontiguousarray(s))
            self.gids.append(np.ascontiguousarray(g))


class StateSampler:
    """This rank's part of every state recorder: which block rows and columns it reads."""

    def __init__(self, recorders: list[StateRecorder], lay: Layout, dt: float) -> None:
        self.recs = []
        blk_of = {}
        for bi, blk in enumerate(lay.blocks):
            for p in blk.pops:
                blk_of[p.name] = (bi, blk)
        for r in recorders:
            who = f"StateRecorder of {r.population!r}"
            if r.population not in blk_of:
                raise ValueError(f"{who}: no simulated population {r.population!r}")
            bi, blk = blk_of[r.population]
            p = lay.pop(r.population)
            model = p.model
            for v in r.variables:
                model.recordable(v)  # raises, listing what the model records
            ids = np.asarray(r.node_ids, dtype=np.int64).reshape(-1)
            if ids.size and (ids.min() < 0 or ids.max() >= p.n):
                raise ValueError(f"{who}: node id out of range ({p.n} nodes)")
            if not r.interval_ms > 0:
                raise ValueError(f"{who}: interval_ms must be > 0")
            if not r.stop_ms >= r.start_ms >= 0:
                raise ValueError(f"{who}: need 0 <= start_ms <= stop_ms, got {r.start_ms}, "
                                 f"{r.stop_ms}")
            gid = p.offset + ids
            mine = np.nonzero(lay.slot_of[gid] >= 0)[0]
            loc_block = lay.slot_of[gid[mine]] - blk.a
            rows, cols = [], []
            for v in r.variables:
                rec = model.recordable(v)
                rows.append(model.state_row(rec.state))
                cols.append(list(model.consts).index(rec.offset) if rec.offset else -1)
            self.recs.append(dict(r=r, p=p, bi=bi, blk=blk, ids=ids, mine=mine, loc=loc_block,
                                  loc_pop=lay.slot_of[gid[mine]] - p.a, rows=rows, cols=cols,
                                  iv=max(1, int(steps_of(r.interval_ms, dt))),
                                  s0=int(np.ceil(r.start_ms / dt - 1e-9)),
                                  s1=(int(np.ceil(r.stop_ms / dt - 1e-9))
                                      if np.isfinite(r.stop_ms) else 2 ** 62),
                                  stamps=[], vals=[]))

    def __bool__(self) -> bool:
        return bool(self.recs)

    # ---- compiled loop
    def plan(self, k: int, k_end: int) -> SamplePlan:
        """Buffers for the samples the loop takes at stamps in (k, k_end)."""
        if not self.recs:
            return empty_sample_plan()
        i64 = np.int64
        iv, eptr, blk, loc, row, col, out_col, base, ncols = [], [0], [], [], [], [], [], [], []
        s0, s1 = [], []
        total = 0
        for rd in self.recs:
            nm, nv = rd["mine"].size, len(rd["rows"])
            n_s = _count(max(k + 1, rd["s0"]), min(k_end, rd["s1"]) - 1, rd["iv"])
            iv.append(rd["iv"])
            s0.append(rd["s0"])
            s1.append(rd["s1"])
            for vi in range(nv):
                blk.extend([rd["bi"]] * nm)
                loc.extend(rd["loc"].tolist())
                row.extend([rd["rows"][vi]] * nm)
                col.extend([rd["cols"][vi]] * nm)
                out_col.extend(range(vi * nm, (vi + 1) * nm))
            eptr.append(len(blk))
            base.append(total)
            ncols.append(nv * nm)
            total += n_s * nv * nm
        return SamplePlan(np.array(iv, i64), np.array(s0, i64), np.array(s1, i64),
                          np.array(eptr, i64), np.array(blk, i64),
                          np.array(loc, i64), np.array(row, i64), np.array(col, i64),
                          np.array(out_col, i64), np.array(base, i64), np.array(ncols, i64),
                          np.zeros(len(self.recs), i64), np.zeros(total))

    def collect(self, smp: SamplePlan, k: int, k_end: int) -> None:
        """Take the samples the loop wrote into ``smp`` (stamps in (k, k_end))."""
        for r, rd in enumerate(self.recs):
            n_s = int(smp.pos[r])
            if not n_s:
                continue
            first = _first_multiple(max(k + 1, rd["s0"]), rd["iv"])
            stamps = first + rd["iv"] * np.arange(n_s)
            nc = int(smp.ncols[r])
            vals = smp.vals[smp.base[r]:smp.base[r] + n_s * nc].reshape(n_s, nc)
            rd["stamps"].append(stamps)
            rd["vals"].append(vals.copy())

    # ---- NumPy reference (and the sample at a resumed run's first stamp)
    def sample_np(self, stamp: int) -> None:
        for rd in self.recs:
            if stamp % rd["iv"] or not rd["s0"] <= stamp < rd["s1"]:
                continue
            p = rd["p"]
            row = np.concatenate([p.model.record(p.state, p.consts, v)[rd["loc_pop"]]
                                  for v in rd["r"].variables]) if rd["mine"].size else \
                np.zeros(0)
            rd["stamps"].append(np.array([stamp], np.int64))
            rd["vals"].append(row.reshape(1, -1))

    def results(self, ctx, dt: float, by_report: bool = False) -> dict:
        """pop → var → (times_ms, node_ids, values[n_times, n_ids]), gathered over ranks;
        with ``by_report`` a list of (recorder, that triple per variable) instead."""
        out: dict = {}
        rows = []
        for rd in self.recs:
            r = rd["r"]
            stamps = np.concatenate(rd["stamps"]) if rd["stamps"] else np.zeros(0, np.int64)
            nm, nv = rd["mine"].size, len(r.variables)
            vals = (np.concatenate(rd["vals"], axis=0) if rd["vals"]
                    else np.zeros((0, nm * nv))).reshape(stamps.size, nv, nm)
            times = np.round(stamps * dt, 9)
            dest = out.setdefault(r.population, {})
            mine: dict = {}
            rows.append((r, mine))
            for vi, v in enumerate(r.variables):
                loc_vals = vals[:, vi, :]
                allv = np.zeros((stamps.size, rd["ids"].size))
                if ctx.size > 1:
                    cols = ctx.allgatherv(rd["mine"].astype(np.int64))
                    got = ctx.allgatherv(np.ascontiguousarray(loc_vals.T).ravel())
                    allv[:, cols] = got.reshape(cols.size, stamps.size).T
                else:
                    allv[:, rd["mine"]] = loc_vals
                dest[v] = mine[v] = (times, rd["ids"].copy(), allv)
        return rows if by_report else out


def _first_multiple(a: int, iv: int) -> int:
    return -(-a // iv) * iv


def _count(a: int, b: int, iv: int) -> int:
    """Multiples of ``iv`` in [a, b]."""
    if b < a:
        return 0
    return max(0, b // iv - (a - 1) // iv)

