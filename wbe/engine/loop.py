"""The loop: an :class:`Engine` holds one rank's share of a network and advances it.

Time: step k integrates [k·dt, (k+1)·dt); a spike in step k has stamp k+1 (time (k+1)·dt) and
acts in step k + delay_steps (NEST: a spike at t acts at t + delay). Steps advance in slices of
the minimum delay (within a slice no spike can reach another neuron), aligned as NEST's to
multiples of it (a run that ends inside one continues it); after each slice every
rank holds the spiking (stamp, gid) pairs of all ranks and delivers them in (stamp, gid) order —
so the floating-point sums, and with them the spikes, are the same on any number of ranks.

The step is a sequence of phases that components join (:data:`PHASES`). How it runs:

* **fused** — when every active component is fusable (cell kernels, plasticity rules, inputs,
  recorders; gap junctions are not, as they exchange voltages every step) and the spike
  exchange can run inside numba: whole slices in the generated ``drive`` loop
  (:mod:`wbe.engine.fused`), Python only every 100 ms (progress) or, with an ``on_slice``
  callback, every slice;
* **stepwise** — the generated ``advance``/``deliver``/``end_of_slice`` called from Python per
  slice (per step with gap junctions), the exchange through mpi4py;
* **reference** (``use_numba=False``) — the NumPy reference of every component: each cell
  model's ``step``, the Poisson draws of :func:`wbe.engine.rng.poisson_np`, static delivery by
  ``np.add.at`` and each rule's ``on_pre_np``/``end_of_slice_np``. Bit-identical to the
  compiled paths (tests).

:meth:`Engine.run_until` may be called again and continues (NEST's ``Simulate`` twice); the
result accumulates. Checkpoints (:meth:`Engine.save`/:meth:`Engine.load`) store the state per
gid and per edge (:mod:`wbe.engine.checkpoint`), so they restore onto any number of ranks.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import checkpoint as ckpt
from . import fused, modulators, structural
from .cells.base import steps_of
from .connectivity import INDEX_MASK, RULE_SHIFT, Connectivity
from .context import Mpi
from .inputs import Inputs
from .layout import Layout
from .network import Network, RunConfig
from .recording import SpikeRecorder, StateSampler
from .registry import FIELDS, GLIA, MONITORS
from .synapses.static_synapse import deliver_np

#: the phases of a step and of a slice, in order; components join them
PHASES = ("inputs", "fields", "glia", "cells", "exchange", "deliver", "plasticity", "monitors")

#: use the fused loop where every component allows it (tests switch it off to compare paths)
FUSED_LOOP = True
PROGRESS_MS = 100.0  # the fused loop returns to Python this often (progress bar)


class Engine:
    """One rank's part of ``net`` under ``run`` in context ``ctx``."""

    def __init__(self, net: Network, run: RunConfig, ctx, use_numba: bool = True) -> None:
        t0 = time.perf_counter()
        self.net, self.run, self.ctx, self.use_numba = net, run, ctx, use_numba
        self.dt = float(run.dt_ms)
        if not self.dt > 0:
            raise ValueError(f"RunConfig: dt_ms must be > 0, got {run.dt_ms}")
        self.lay = lay = Layout(net, run, ctx, self.dt)
        #: calcium, synaptic elements and structural updates (None without synaptic elements);
        #: a structural network's projections are the engine's own copy, changed as it runs
        self.sp = None
        #: glia that change the network as it runs (myelination: delays), the same on every
        #: rank; the engine's network is then its own copy, with the delays they set
        self.glia = [GLIA.get(g.kind).build(g, net, lay.offsets, lay.n_total, self.dt)
                     for g in net.glia]
        self._own_net = False
        if self.glia:
            self.net = net = dataclasses.replace(net, projections=list(net.projections))
            self._own_net = True
            for g in self.glia:
                g.start(net)
        if net.structural is not None or any(p.synaptic_elements for p in net.populations):
            self.net = net = structural.structural_network(net)
            self.sp = structural.Structural(net, lay, ctx, self.dt, run.seed)
        more = tuple(e.delay_ms for e in net.structural.synapses.values()) \
            if net.structural is not None else ()
        more += tuple(b for g in self.glia for b in g.delay_bounds_ms())
        self.conn = conn = Connectivity(net, lay, ctx, self.dt, run.seed, more)
        for g in self.glia:
            g.align(conn.dmin)
        if self.sp is not None:
            self.sp.align(conn.dmin)
        self.inp = Inputs(net, lay, ctx, self.dt, run.seed)
        names = [f.name for f in net.fields]
        if len(set(names)) != len(names):
            raise ValueError(f"field names {names} are not unique")
        #: neuromodulator fields (wbe.engine.fields), solved whole on every rank
        shared: dict = {}  # populations whose parameters several fields may set
        self.fields = [FIELDS.get(f.kind).build(f, net, lay, conn, self.dt, conn.dmin, shared)
                       for f in net.fields]
        names = [m.name for m in run.monitors]
        if len(set(names)) != len(names):
            raise ValueError(f"monitor names {names} are not unique")
        #: monitors (wbe.engine.monitors) fed with every spike they read as the run goes
        self.monitors = [MONITORS.get(m.kind).build(m, net, lay.offsets, lay.n_total, self.dt)
                         for m in run.monitors]
        self.spikes = SpikeRecorder(net, run.record_spikes, lay,
                                    also=self.sp.populations if self.sp else (),
                                    listeners=self.monitors)
        self.sampler = StateSampler(run.state_recorders, lay, self.dt)
        self.L, self.dmin = conn.L, conn.dmin
        n = lay.n_local
        self.ring = np.zeros((conn.n_rows, self.L, lay.n_columns))  # neurons, then sites
        self.istim = np.zeros(n)
        self.extra = np.zeros(n)
        self.out_slot = np.empty(max(1, n * self.dmin), dtype=np.int64)
        self.out_stamp = np.empty(max(1, n * self.dmin), dtype=np.int64)
        self.k = 0
        #: spikes of the slice a run stopped inside (stamps, gids; all ranks'): delivered when
        #: that slice ends, as NEST delivers a slice's spikes after it
        self.held_s = np.zeros(0, np.int64)
        self.held_g = np.zeros(0, np.int64)
        #: per neuron: whether its post-spike history is at risk this slice, and the stamp up
        #: to which every plastic synapse onto it has read its spikes (plasticity.base)
        self.risk = np.zeros(n, np.uint8)
        self.hist_safe = np.full(n, -1, np.int64)
        #: neurons that died (:meth:`silence`) and projections changed by hand
        #: (:meth:`edit_edges`): both kept in checkpoints
        self.dead = np.zeros(lay.n_total, bool)
        self.edited: set[str] = set()
        features = {name for name, on in (
            ("currents", bool(self.inp.currents)), ("extra", conn.has_gap),
            ("history", "post_history" in conn.needs), ("samples", bool(self.sampler)),
            ("modulators", conn.modulators.n > 0)) if on}
        self.loop = (fused.compile_loop([b.model.kernel for b in lay.blocks],
                                        [u.rule for u in conn.rules], frozenset(features))
                     if use_numba else None)
        self._keep0, self._mask0 = self.spikes.keep.copy(), self.spikes.mask.copy()
        #: neurons waiting for neurogenesis (each population's last ``reserve``)
        self.dormant = np.zeros(lay.n_total, bool)
        for p in net.populations:
            if p.reserve:
                if not 0 < p.reserve <= p.n or not p.simulated:
                    raise ValueError(f"population {p.name!r}: reserve must be between 0 and "
                                     f"n = {p.n} neurons of a simulated population")
                off = lay.offsets[p.name]
                self.dormant[off + p.n - p.reserve:off + p.n] = True
        if self.dormant.any():
            self.silence(np.flatnonzero(self.dormant))
        self.wall_s = {"build": time.perf_counter() - t0, "simulate": 0.0, "simulate_cpu": 0.0}

    # ------------------------------------------------------------------ what runs how
    @property
    def components(self) -> list:
        """The active components: cell models, synapse models and plasticity rules in use."""
        from .registry import SYNAPSES

        out = [b.model for b in self.lay.blocks]
        out += sorted({SYNAPSES.get(p.synapse) for p in self.net.projections},
                      key=lambda s: s.name)
        out += [u.rule for u in self.conn.rules]
        return out

    @property
    def fusable(self) -> bool:
        """Whether the fused loop may run: every component says so, and the exchange (on
        several ranks) can run inside numba."""
        comps = all(getattr(c, "fusable", True) for c in self.components)
        return (FUSED_LOOP and self.use_numba and comps and not self.fields and not self.glia
                and (self.ctx.size == 1 or self.ctx.in_numba_exchange))

    @property
    def mode(self) -> str:
        if not self.use_numba:
            return "reference"
        return "fused" if self.fusable else "stepwise"

    def _flags(self) -> int:
        """Run-time choices of the generated loop (the rest is written into its code)."""
        return 0 if self.lay.slots_ascend else fused.SLOTS_UNSORTED

    @property
    def _blocks(self) -> tuple:
        return tuple(b.kb for b in self.lay.blocks)

    @property
    def _rules(self) -> tuple:
        return tuple(u.nt for u in self.conn.rules)

    # ------------------------------------------------------------------ advancing
    def run_until(self, k_end: int, *, progress: bool = False,
                  on_slice: Callable[[float], None] | None = None) -> None:
        """Advance to step ``k_end`` (absolute). ``on_slice(t_ms)`` is called after every slice
        (closed loops: it may change inputs' rates or amplitudes in place)."""
        k_end = int(k_end)
        if k_end < self.k:
            raise ValueError(f"cannot run to {k_end * self.dt} ms: the simulation is already at "
                             f"{self.k * self.dt} ms")
        t1, c1 = time.perf_counter(), time.process_time()
        bar = None
        if progress and self.ctx.rank == 0:
            from tqdm import tqdm

            bar = tqdm(total=round((k_end - self.k) * self.dt, 6), unit="ms", desc="simulate")
        sp = self.sp
        try:
            while True:
                if sp is not None and self.k < k_end and sp.due(self.k):
                    if sp.update(self.k):
                        self.rewire()
                stop = k_end if sp is None else sp.next_stop(self.k, k_end)
                n0 = len(self.spikes.stamps)
                self._advance(stop, bar, on_slice)
                if sp is not None:
                    sp.observe(*self.spikes.take(n0))
                if self.k >= k_end:
                    break
            if sp is not None:  # as NEST at the end of every Simulate
                sp.bring_all(self.k)
        finally:
            if bar is not None:
                bar.close()
        self.wall_s["simulate"] += time.perf_counter() - t1
        self.wall_s["simulate_cpu"] += time.process_time() - c1

    def _advance(self, k_end: int, bar, on_slice) -> None:
        """Steps up to ``k_end`` with the components' kernels (no structural update inside)."""
        if 0 < self.k < k_end:
            self.sampler.sample_np(self.k)
        self.vptr = int(np.searchsorted(self.inp.v_stamp, self.k, side="right"))
        if self.mode == "fused":
            self._run_fused(k_end, bar, on_slice)
        else:
            self._run_stepwise(k_end, bar, on_slice)

    def rewire(self, moved: dict[str, np.ndarray] | None = None) -> None:
        """Rebuild this rank's synapse table from ``self.net`` after its projections changed,
        keeping the post-synaptic spike histories, the volume transmitters and every
        surviving plastic synapse's state. ``moved``: for a plastic projection whose edges
        changed, the old edge index of each new edge (-1: a new synapse, which starts as at
        time 0); other projections keep their edges (their ids may shift)."""
        moved = moved or {}
        old = self.conn
        new = Connectivity(self.net, self.lay, self.ctx, self.dt, self.run.seed,
                           old.more_delays_ms)
        if (new.L, new.dmin, new.n_rows, new.hist_len) != (old.L, old.dmin, old.n_rows,
                                                           old.hist_len):
            raise ValueError("the changed synapses need another delay range, receptor rows "
                             "or post-synaptic history than the run was built with "
                             f"(ring {old.L}, min delay {old.dmin} steps, {old.n_rows} rows)")
        new.hist = old.hist
        new.modulators = old.modulators
        for un, uo in zip(new.rules, old.rules, strict=True):
            st_n, st_o = un.state, uo.state
            want = st_n["uid"].copy()
            for name, (bn, m) in un.projections.items():
                bo, _mo = uo.projections[name]
                sel = (st_n["uid"] >= bn) & (st_n["uid"] < bn + m)
                if name in moved:
                    oi = np.asarray(moved[name], np.int64)[st_n["uid"][sel] - bn]
                    want[sel] = np.where(oi >= 0, bo + oi, -1)
                else:
                    want[sel] += bo - bn
            keep = np.flatnonzero(want >= 0)
            o = np.argsort(st_o["uid"], kind="stable")
            pos = o[np.searchsorted(st_o["uid"][o], want[keep])]
            for var in un.rule.synapse_state:
                st_n[var.name][keep] = st_o[var.name][pos]
            if un.rule.modulated:
                st_n["mod"] = old.modulators.state
            un.make_nt()
        self.conn = new

    # ------------------------------------------------------------------ structure by hand
    def edit_edges(self, removed: dict[str, np.ndarray] | None = None,
                   added: dict[str, tuple] | None = None) -> None:
        """Change synapses between runs (the same call on every rank): ``removed`` maps a
        projection to a boolean mask over its edges (True: delete), ``added`` to
        ``(source_ids, target_ids, weight, delay_ms)`` appended after the survivors. Every
        surviving synapse keeps its state; bound synaptic elements follow (structural
        plasticity). The engine edits its own copy of the network (:attr:`net`); an edited
        projection drops its per-edge attributes and SONATA origin."""
        removed, added = removed or {}, added or {}
        names = {pr.name for pr in self.net.projections}
        for nm in {*removed, *added} - names:
            raise ValueError(f"no projection {nm!r}; have {sorted(names)}")
        self._own_network()
        moved = {}
        offs = self.lay.offsets
        for i, pr in enumerate(self.net.projections):
            if pr.name not in removed and pr.name not in added:
                continue
            m = len(pr)
            rm = np.zeros(m, bool) if pr.name not in removed else np.asarray(removed[pr.name],
                                                                              bool)
            if rm.shape != (m,):
                raise ValueError(f"projection {pr.name!r}: the removal mask has shape "
                                 f"{rm.shape}, the projection {m} edges")
            src = np.asarray(pr.source_ids, np.int64)
            tgt = np.asarray(pr.target_ids, np.int64)
            w = np.broadcast_to(np.asarray(pr.weight, np.float64), (m,))
            d = np.broadcast_to(np.asarray(pr.delay_ms, np.float64), (m,))
            keep = ~rm
            a_s, a_t, a_w, a_d = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0),
                                  np.zeros(0))
            if pr.name in added:
                a_s, a_t, a_w, a_d = added[pr.name]
                a_s, a_t = np.asarray(a_s, np.int64), np.asarray(a_t, np.int64)
                a_w = np.broadcast_to(np.asarray(a_w, np.float64), a_s.shape)
                a_d = np.broadcast_to(np.asarray(a_d, np.float64), a_s.shape)
                ns, nt = self.net.population(pr.source).n, self.net.population(pr.target).n
                if a_s.shape != a_t.shape or (a_s.size and (
                        a_s.min() < 0 or a_s.max() >= ns or a_t.min() < 0 or a_t.max() >= nt)):
                    raise ValueError(f"projection {pr.name!r}: new edges' node ids must be "
                                     f"pairs within {pr.source!r} ({ns}) and {pr.target!r} "
                                     f"({nt})")
            if self.sp is not None:
                self.sp.bind(pr.name, offs[pr.source] + src[rm], offs[pr.target] + tgt[rm], -1)
                self.sp.bind(pr.name, offs[pr.source] + a_s, offs[pr.target] + a_t, 1)
            self.net.projections[i] = dataclasses.replace(
                pr, source_ids=np.concatenate((src[keep], a_s)),
                target_ids=np.concatenate((tgt[keep], a_t)),
                weight=np.concatenate((w[keep], a_w)), delay_ms=np.concatenate((d[keep], a_d)),
                attributes={}, origin=None)
            moved[pr.name] = np.concatenate((np.flatnonzero(keep), np.full(a_s.size, -1)))
            self.edited.add(pr.name)
        self.rewire(moved)

    def glia_records(self) -> dict[str, np.ndarray]:
        """The fields' and glia's records (:attr:`wbe.engine.simulator.SimResult.glia`)."""
        out = {}
        for f in self.fields:
            out.update(f.records())
        for i, g in enumerate(self.glia):
            out.update(g.records(f"{self.net.glia[i].kind}/{i}"))
        return out

    def monitor_records(self) -> dict[str, np.ndarray]:
        """The monitors' results (:attr:`wbe.engine.simulator.SimResult.monitors`), keyed
        ``<monitor name>/<record>``."""
        out: dict[str, np.ndarray] = {}
        for spec, m in zip(self.run.monitors, self.monitors):
            out.update(m.records(spec.name))
        return out

    def set_delays(self, delays: dict[str, np.ndarray]) -> None:
        """New delays (ms, one per edge) of projections (name → array), in the engine's own
        network and synapse table (the same call on every rank; within the delay range the
        run was built with). Spikes in flight keep the delays they left with."""
        names = {pr.name for pr in self.net.projections}
        for nm in set(delays) - names:
            raise ValueError(f"set_delays: no projection {nm!r}; have {sorted(names)}")
        new = {}
        for i, pr in enumerate(self.net.projections):
            if pr.name in delays:
                d = np.asarray(delays[pr.name], np.float64)
                if d.shape != (len(pr),):
                    raise ValueError(f"projection {pr.name!r}: {d.shape} delays for "
                                     f"{len(pr)} edges")
                ds = steps_of(d, self.dt) if d.size else np.zeros(0, np.int64)
                if ds.size and (ds.min() < self.dmin or ds.max() > self.conn.dmax):
                    raise ValueError(f"projection {pr.name!r}: delays from {d.min():g} to "
                                     f"{d.max():g} ms leave the range the run was built for "
                                     f"({self.dmin * self.dt:g} to "
                                     f"{self.conn.dmax * self.dt:g} ms)")
                new[i] = dataclasses.replace(pr, delay_ms=d)
        self._own_network()
        for i, pr in new.items():
            self.net.projections[i] = pr
            self.edited.add(pr.name)  # checkpoints keep its edges with their delays
        self.rewire()

    def _load_edits(self, arr: dict, path) -> bool:
        """The dead neurons and hand-edited projections of a checkpoint; whether any."""
        if "edits/dead" not in arr:
            return False
        self._own_network()
        born = self.dormant.copy()
        self.dormant[:] = False
        self.dormant[arr.get("edits/dormant", np.zeros(0, np.int64))] = True
        born &= ~self.dormant  # born during the checkpoint's run
        self.dead[:] = False
        self.dead[arr["edits/dead"]] = True
        self._recorded()
        if self.sp is not None and born.any():
            self.sp.revive(np.flatnonzero(born), 0)  # their elements (values: the checkpoint's)
        for i, pr in enumerate(self.net.projections):
            key = f"edits/edges/{pr.name}/source_ids"
            if key in arr:
                g = f"edits/edges/{pr.name}/"
                self.net.projections[i] = dataclasses.replace(
                    pr, source_ids=arr[g + "source_ids"], target_ids=arr[g + "target_ids"],
                    weight=arr[g + "weight"], delay_ms=arr[g + "delay_ms"], attributes={},
                    origin=None)
                self.edited.add(pr.name)
        if self.sp is not None:
            self.sp.net = self.net
        return True

    def _own_network(self) -> None:
        """From the first change on, the engine's network is its own (the given one and its
        projections stay as they were)."""
        if not self._own_net:
            self.net = dataclasses.replace(self.net, projections=list(self.net.projections))
            self._own_net = True
            if self.sp is not None:
                self.sp.net = self.net

    def silence(self, gids: np.ndarray) -> None:
        """Neurons ``gids`` die (apoptosis): every synapse from or to them is deleted, their
        spikes are neither delivered nor recorded from now on, and they lose their synaptic
        elements. Their membranes still integrate unseen (no kernel is changed)."""
        gids = np.unique(np.asarray(gids, np.int64))
        if not gids.size:
            return
        dead = np.zeros(self.lay.n_total, bool)
        dead[gids] = True
        offs = self.lay.offsets
        removed = {}
        for pr in self.net.projections:
            hit = dead[offs[pr.source] + np.asarray(pr.source_ids, np.int64)] | dead[
                offs[pr.target] + np.asarray(pr.target_ids, np.int64)]
            if hit.any():
                removed[pr.name] = hit
        self.dead |= dead
        self._recorded()
        if self.sp is not None:
            self.sp.retire(gids)
        if removed:
            self.edit_edges(removed)

    def _recorded(self) -> None:
        """Spikes are recorded and observed from the living only."""
        self.spikes.keep[:] = self._keep0 & ~self.dead
        self.spikes.mask[:] = self._mask0 & ~self.dead

    def revive(self, gids: np.ndarray) -> None:
        """Dormant neurons ``gids`` are born (neurogenesis): they start from their
        population's initial state with nothing in flight to them, spike and are recorded from
        now on, and grow synaptic elements from nothing; they have no synapses (add them with
        :meth:`edit_edges`)."""
        gids = np.unique(np.asarray(gids, np.int64))
        if not gids.size:
            return
        if not self.dormant[gids].all():
            raise ValueError(f"neurons {gids[~self.dormant[gids]].tolist()[:5]} are not "
                             "dormant: only a population's reserve can be born")
        self.dormant[gids] = False
        self.dead[gids] = False
        self._recorded()
        slots = self.lay.slot_of[gids]
        slots = slots[slots >= 0]
        for blk in self.lay.blocks:
            mine = slots[(slots >= blk.a) & (slots < blk.b)]
            for var, arr in blk.state.items():
                arr[mine - blk.a] = blk.init[var][mine - blk.a]
        self.ring[:, :, slots] = 0.0
        for p in self.lay.pops:  # and what was in flight to their synapse sites
            if p.model.n_sites:
                mine = slots[(slots >= p.a) & (slots < p.b)]
                if mine.size:
                    self.ring[:, :, self._site_columns(p)[mine - p.a].ravel()] = 0.0
        self.conn.hist[slots] = -1
        self.hist_safe[slots] = -1
        self.risk[slots] = 0
        if self.sp is not None:
            self.sp.revive(gids, self.k)

    def _slice_max(self) -> int:
        """The most spikes one slice can deliver: every neuron (of this rank, or of all ranks
        after the exchange) once per step, plus the given spikes of any window of dmin steps."""
        vs = self.inp.v_stamp
        vmax = int(np.max(np.searchsorted(vs, vs + self.dmin, side="left")
                          - np.arange(vs.size))) if vs.size else 0
        local = self.lay.n_total if self.ctx.size > 1 else self.lay.n_local
        return local * self.dmin + vmax + 1

    def _run_fused(self, k_end: int, bar, on_slice) -> None:
        lay, conn, inp, ctx = self.lay, self.conn, self.inp, self.ctx
        k0 = self.k
        smp = self.sampler.plan(k0, k_end)
        slice_max = self._slice_max()
        cap = max(4 * slice_max, 1 << 16)
        sp_stamp, sp_gid = np.empty(cap, np.int64), np.empty(cap, np.int64)
        gs, gg = np.empty(slice_max, np.int64), np.empty(slice_max, np.int64)
        chunk = self.dmin * (1 if on_slice is not None else max(
            1, int(round(PROGRESS_MS / self.dt / self.dmin))))
        held_s, held_g = np.empty(slice_max, np.int64), np.empty(slice_max, np.int64)
        nh = self.held_s.size
        held_s[:nh], held_g[:nh] = self.held_s, self.held_g
        if ctx.size > 1:
            sbuf = np.empty(1 + 2 * _spike_block(), np.int64)
            mpi_extra = (sbuf, np.empty(ctx.size * sbuf.size, np.int64), *ctx.nb_handles)
            drive = self.loop.drive_mpi
        else:
            mpi_extra = ()
            drive = self.loop.drive
        k = self.k
        while k < k_end:
            kk = k
            args = (self.L, inp.seed_u64, inp.pp, inp.cp, self._blocks, self.ring, self.istim,
                    self.extra, self.out_slot, self.out_stamp, conn.hist, smp, self._flags(),
                    conn.syn, self._rules, self.dt, lay.gid_of_slot, inp.v_stamp, inp.v_gid)
            k, n, self.vptr, nh = drive(k, min(k - k % self.dmin + chunk, k_end), k_end,
                                        self.dmin, *args, self.vptr, self.spikes.mask,
                                        sp_stamp, sp_gid, lay.n_total, slice_max, gs, gg,
                                        conn.modulators.state, held_s, held_g, nh, self.risk,
                                        self.hist_safe, *mpi_extra)
            if k == kk:  # cannot happen with the buffers sized above; never spin silently
                raise RuntimeError(f"fused slice loop made no progress at step {k}")
            if n:
                self.spikes.add(sp_stamp[:n].copy(), sp_gid[:n].copy(), masked=True)
            self.k = k
            for m in self.monitors:
                m.advance(k)
            if bar is not None:
                bar.update(round((k - kk) * self.dt, 6))
            if on_slice is not None:
                on_slice(k * self.dt)
        self.held_s, self.held_g = held_s[:nh].copy(), held_g[:nh].copy()
        self.sampler.collect(smp, k0, k_end)

    def _run_stepwise(self, k_end: int, bar, on_slice) -> None:
        lay, conn, inp, ctx = self.lay, self.conn, self.inp, self.ctx
        compiled = self.use_numba
        k0 = k = self.k
        smp = self.sampler.plan(k0, k_end) if compiled else None
        loop = self.loop
        while k < k_end:
            k1 = min(k - k % self.dmin + self.dmin, k_end)  # aligned slices, as in NEST
            if compiled:
                base = (self.L, inp.seed_u64, inp.pp, inp.cp, self._blocks, self.ring,
                        self.istim, self.extra, self.out_slot, self.out_stamp, conn.hist, smp)
                if conn.has_gap:
                    nspk = 0
                    flags = self._flags()
                    for j in range(k, k1):
                        self.extra[:] = conn.gap_current(ctx)
                        nspk = loop.advance(j, j + 1, k_end, nspk, *base, flags)
                else:
                    nspk = loop.advance(k, k1, k_end, 0, *base, self._flags())
                ls = self.out_stamp[:nspk].copy()
                lg = lay.gid_of_slot[self.out_slot[:nspk]]
                in_order = lay.slots_ascend
            else:
                ls, lg = self._steps_np(k, k1, k_end)
                in_order = False
            if ctx.size > 1:
                gs, gg = ctx.exchange_spikes(ls, lg)
                in_order = False
            else:
                gs, gg = ls, lg
            vs = inp.v_stamp
            vend = int(np.searchsorted(vs, k1, side="right"))
            if vend > self.vptr:
                gs = np.concatenate((gs, vs[self.vptr:vend]))
                gg = np.concatenate((gg, inp.v_gid[self.vptr:vend]))
                in_order = False
            self.vptr = vend
            if not in_order and gs.size > 1:
                o = np.lexsort((gg, gs))
                gs, gg = gs[o], gg[o]
            gs, gg = np.ascontiguousarray(gs, np.int64), np.ascontiguousarray(gg, np.int64)
            self.spikes.add(gs, gg)
            if self.held_s.size:  # the spikes this slice had before a run stopped inside it
                gs, gg = np.concatenate((self.held_s, gs)), np.concatenate((self.held_g, gg))
                self.held_s, self.held_g = self.held_s[:0], self.held_g[:0]
            if k1 % self.dmin:  # the run stops inside this slice: deliver at its end
                self.held_s, self.held_g = gs, gg
                gs = gg = None
            mod = conn.modulators.state
            if gs is not None:  # a slice ends: the values it emitted travel (secondary),
                conn.continuous.deliver(self.ring, k1, self.dmin, ctx)
                if self.fields or self.glia:  # what the living fired (silenced: unseen)
                    alive = ~self.dead[gg]
                    fs, fg = (gs, gg) if alive.all() else (gs[alive], gg[alive])
                for f in self.fields:  # its spikes release into the fields, which update
                    f.end_of_slice(k1, fs, fg, mod)
            if gs is None:
                pass
            elif compiled:
                loop.modulate(mod, self._rules, k1 - self.dmin, k1, conn.hist, self.dt)
                loop.deliver(gs, gg, gs.size, conn.syn, self._rules, self.ring, self.L,
                             conn.hist, self.dt, mod)
                loop.end_of_slice(self._rules, k1, conn.hist, self.dt, self.dmin, self.risk,
                                  self.hist_safe)
            else:
                if conn.modulators.n:
                    modulators.collect_np(mod, k1 - self.dmin, k1)
                    for u in conn.rules:
                        if u.rule.modulated:
                            u.rule.trigger_np(u.state, k1, conn.hist, self.dt)
                    modulators.reset_due_np(mod, k1)
                    modulators.receive_np(mod, gs, gg)
                self._deliver_np(gs, gg)
                hist_on = "post_history" in conn.needs
                if hist_on:  # plasticity.base.history_at_risk
                    self.risk[:] = conn.hist[:, self.dmin - 1] > self.hist_safe
                for u in conn.rules:
                    u.rule.end_of_slice_np(u.state, k1, conn.hist, self.dt, self.risk)
                if hist_on:  # history_read
                    dmax = conn.hist_len - 1 - self.dmin
                    self.hist_safe[self.risk != 0] = k1 - dmax
            if gs is not None and self.glia:  # after the slice's spikes left with their delays
                for g in self.glia:  # (they may rewire: myelin's delays, microglia's pruning)
                    g.end_of_slice(self, k1, fs, fg)
                conn = self.conn
            for m in self.monitors:
                m.advance(k1)
            if bar is not None:
                bar.update(round((k1 - k) * self.dt, 6))
            k = self.k = k1
            if on_slice is not None:
                on_slice(k * self.dt)
        if compiled:
            self.sampler.collect(smp, k0, k_end)

    # ------------------------------------------------------------------ NumPy reference
    def _steps_np(self, k: int, k1: int, k_end: int) -> tuple[np.ndarray, np.ndarray]:
        """Steps ``[k, k1)`` with every component's NumPy reference: (stamps, gids)."""
        lay, conn, inp = self.lay, self.conn, self.inp
        hist_on = "post_history" in conn.needs
        loc_s, loc_g = [], []
        for j in range(k, k1):
            slot = j % self.L
            syn = self.ring[:, slot, :].copy()
            self.ring[:, slot, :] = 0.0
            inp.add_poisson_np(j, syn)
            istim = inp.stim_np(j, lay.n_local) if inp.currents else None
            if conn.has_gap:
                g = conn.gap_current(self.ctx)
                istim = g if istim is None else istim + g
            if istim is None:
                istim = np.zeros(lay.n_local)
            for blk in lay.blocks:
                if not blk.n:
                    continue
                rows = len(blk.model.rows)
                if blk.model.n_sites:  # (rows, neurons, sites)
                    s0, ns = int(blk.kb.s0), blk.model.n_sites
                    inp_blk = syn[:rows, s0:s0 + blk.n * ns].reshape(rows, blk.n, ns)
                else:
                    inp_blk = syn[:rows, blk.a:blk.b]
                spk = blk.model.step(blk.state, blk.consts, inp_blk, istim[blk.a:blk.b])
                for v in blk.model.emits:  # what the kernel writes into its own column
                    self.ring[blk.model.emit_row(v.name), slot, blk.a:blk.b] = blk.state[v.state]
                idx = np.nonzero(spk)[0]
                if idx.size:
                    loc_s.append(np.full(idx.size, j + 1, dtype=np.int64))
                    loc_g.append(lay.gid_of_slot[blk.a + idx])
                    if hist_on:
                        sl = blk.a + idx
                        conn.hist[sl, :-1] = conn.hist[sl, 1:]
                        conn.hist[sl, -1] = j + 1
            if j + 1 < k_end:
                self.sampler.sample_np(j + 1)
        ls = np.concatenate(loc_s) if loc_s else np.zeros(0, np.int64)
        lg = np.concatenate(loc_g) if loc_g else np.zeros(0, np.int64)
        return ls, lg

    def _deliver_np(self, gs: np.ndarray, gg: np.ndarray) -> None:
        conn, syn = self.conn, self.conn.syn
        if not conn.rules:
            deliver_np(gs, gg, syn, self.ring, self.L)
            return
        for q, g in zip(gs.tolist(), gg.tolist()):
            j = np.arange(syn.indptr[g], syn.indptr[g + 1])
            if not j.size:
                continue
            p = syn.pk[j].astype(np.int64)
            wt = syn.w[j].copy()
            pl = np.flatnonzero(p & syn.pbit)
            if pl.size:
                bits = syn.wbits[j[pl]]
                rid, s = bits >> RULE_SHIFT, bits & INDEX_MASK
                for u in conn.rules:
                    sel = rid == u.index
                    if sel.any():
                        wt[pl[sel]] = u.rule.on_pre_np(u.state, s[sel], q, conn.hist, self.dt)
            np.add.at(self.ring, (p & syn.rmask, (q - 1 + (p >> syn.shift)) % self.L,
                                  syn.tgt[j]), wt)

    # ------------------------------------------------------------------ results
    def spike_arrays(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """pop → (times_ms, node_ids) of the recorded populations, in (time, gid) order."""
        s = np.concatenate(self.spikes.stamps) if self.spikes.stamps else np.zeros(0, np.int64)
        g = np.concatenate(self.spikes.gids) if self.spikes.gids else np.zeros(0, np.int64)
        out = {}
        for nm in self.spikes.names:
            off, n = self.lay.offsets[nm], self.net.population(nm).n
            m = (g >= off) & (g < off + n)
            out[nm] = (np.round(s[m] * self.dt, 9), (g[m] - off).astype(np.int64))
        return out

    def weights(self) -> dict[str, np.ndarray]:
        """Projection name → current weights (edge order) of every plastic projection (not of
        those whose rule only shapes the delivered weight, implied by their receptor port)."""
        out = {}
        for name, (use, base, m) in self.conn.plastic_projections.items():
            if name in self.conn.implied:
                continue
            st = use.state
            sel = (st["uid"] >= base) & (st["uid"] < base + m)
            w = use.rule.weights(st)[sel]
            out[name] = self.gather_by_gid(w, st["uid"][sel], m, base)
        return out

    def synapse_states(self) -> dict[str, dict[str, np.ndarray]]:
        """Projection name → the per-synapse state of its plasticity rule (state name →
        values in edge order, the rule's dtypes), for the projections of :meth:`weights`."""
        out = {}
        for name, (use, base, m) in self.conn.plastic_projections.items():
            if name in self.conn.implied:
                continue
            st = use.state
            sel = (st["uid"] >= base) & (st["uid"] < base + m)
            out[name] = {v.name: self.gather_by_gid(np.asarray(st[v.name][sel], np.float64),
                                                    st["uid"][sel], m, base).astype(v.dtype)
                         for v in use.rule.synapse_state}
        return out

    # ------------------------------------------------------------------ checkpoints
    def gather_by_gid(self, values: np.ndarray, gids: np.ndarray, n: int, base: int):
        """Global array over ids ``base .. base + n`` (first axis) from each rank's
        (gids, values)."""
        g = self.ctx.allgatherv(np.asarray(gids, dtype=np.int64))
        values = np.asarray(values)
        shape = values.shape[1:]
        flat = values.reshape(values.shape[0], -1)
        vals = self.ctx.allgatherv(flat.astype(np.float64).ravel()).reshape(-1, flat.shape[1])
        out = np.zeros((n, *shape), dtype=np.float64)
        out.reshape(n, -1)[g - base] = vals
        return out

    def _site_columns(self, p) -> np.ndarray:
        """(local neurons, sites) ring columns of population ``p``'s synapse sites."""
        blk = next(b for b in self.lay.blocks if any(q is p for q in b.pops))
        ns = p.model.n_sites
        first = int(blk.kb.s0) + (p.a - blk.a) * ns
        return first + np.arange((p.b - p.a) * ns, dtype=np.int64).reshape(p.b - p.a, ns)

    def _site_ring(self, p, idx: np.ndarray) -> np.ndarray:
        """(local neurons, rows, L, sites): what is in flight to ``p``'s sites, slots ``idx``."""
        cols = self._site_columns(p)
        r = self.ring[:, idx][:, :, cols]  # (rows, L, n, sites)
        return r.transpose(2, 0, 1, 3)

    def save(self, path: Path) -> None:
        """Write the full state at the current step to ``path`` (rank 0 writes)."""
        step = self.k
        arrays = {}
        conn = self.conn
        for p in self.lay.pops:
            gids = p.offset + p.local_ids
            for var, v in p.state.items():
                full = self.gather_by_gid(np.asarray(v, dtype=np.float64), gids, p.n, p.offset)
                arrays[f"state/{p.name}/{var}"] = full.astype(v.dtype)
            idx = (step + np.arange(self.L)) % self.L
            ring = self.ring[:, idx, p.a:p.b].transpose(2, 0, 1)  # (n_local, rows, L)
            arrays[f"ring/{p.name}"] = self.gather_by_gid(ring, gids, p.n,
                                                          p.offset).transpose(1, 2, 0)
            if p.model.n_sites:  # (rows, L, n, sites)
                arrays[f"ring_sites/{p.name}"] = self.gather_by_gid(
                    self._site_ring(p, idx), gids, p.n, p.offset).transpose(1, 2, 0, 3)
            arrays[f"hist/{p.name}"] = self.gather_by_gid(
                conn.hist[p.a:p.b].astype(np.float64), gids, p.n, p.offset).astype(np.int64)
            arrays[f"hist_read/{p.name}"] = self.gather_by_gid(
                self.hist_safe[p.a:p.b].astype(np.float64), gids, p.n, p.offset).astype(np.int64)
        for name, (use, base, m) in conn.plastic_projections.items():
            st = use.state
            sel = (st["uid"] >= base) & (st["uid"] < base + m)
            for var in use.rule.synapse_state:
                v = st[var.name]
                full = self.gather_by_gid(np.asarray(v[sel], dtype=np.float64),
                                          st["uid"][sel], m, base)
                arrays[f"plastic/{name}/{var.name}"] = full.astype(v.dtype)
        if conn.modulators.n:
            arrays.update(conn.modulators.arrays(step))
        for f in self.fields:
            arrays.update(f.arrays())
        for i, g in enumerate(self.glia):
            arrays.update(g.arrays(f"glia/{i}"))
        for spec, m in zip(self.run.monitors, self.monitors):
            arrays.update(m.arrays(f"monitors/{spec.name}"))
        arrays["held/stamp"], arrays["held/gid"] = self.held_s, self.held_g
        if self.sp is not None:
            arrays.update(self.sp.arrays())
        if self.dead.any() or self.edited or self.dormant.any():
            arrays["edits/dead"] = np.flatnonzero(self.dead).astype(np.int64)
            arrays["edits/dormant"] = np.flatnonzero(self.dormant).astype(np.int64)
            for pr in self.net.projections:
                if pr.name in self.edited:
                    m = len(pr)
                    arrays[f"edits/edges/{pr.name}/source_ids"] = np.asarray(pr.source_ids,
                                                                             np.int64)
                    arrays[f"edits/edges/{pr.name}/target_ids"] = np.asarray(pr.target_ids,
                                                                             np.int64)
                    arrays[f"edits/edges/{pr.name}/weight"] = np.broadcast_to(
                        np.asarray(pr.weight, np.float64), (m,))
                    arrays[f"edits/edges/{pr.name}/delay_ms"] = np.broadcast_to(
                        np.asarray(pr.delay_ms, np.float64), (m,))
        if self.ctx.rank == 0:
            ckpt.write(path, dict(step=int(step), time_ms=step * self.dt, dt_ms=self.dt,
                                  seed=int(self.run.seed), ring_len=self.L,
                                  ring_rows=int(conn.n_rows), min_delay_steps=self.dmin,
                                  hist_len=conn.hist_len), arrays)
        if isinstance(self.ctx, Mpi):
            self.ctx.barrier()

    def load(self, path: Path) -> None:
        """Continue from the checkpoint at ``path`` (written on any number of ranks)."""
        attrs, arr = ckpt.read(path)
        conn = self.conn
        # A checkpoint of a static network may be continued with plasticity switched on: the
        # plastic state then starts fresh (weights from the network, empty traces and no
        # post-synaptic spike history), i.e. plasticity begins at the checkpoint's time.
        starts = attrs["hist_len"] == 1 and not any(k.startswith("plastic/") for k in arr)
        hist_ok = attrs["hist_len"] == conn.hist_len or starts
        rows = attrs.get("ring_rows", 2)
        if abs(attrs["dt_ms"] - self.dt) > 1e-12 or attrs["ring_len"] != self.L \
                or not hist_ok or rows != conn.n_rows:
            raise ValueError(f"checkpoint {path}: dt_ms/ring_len/ring_rows/hist_len "
                             f"({attrs['dt_ms']}, {attrs['ring_len']}, {rows}, "
                             f"{attrs['hist_len']}) do not match this network and run "
                             f"({self.dt}, {self.L}, {conn.n_rows}, {conn.hist_len})")
        step = int(attrs["step"])
        changed = self._load_edits(arr, path)
        if self.sp is not None:
            changed |= self.sp.load(arr, path, step)
            if self.dead.any():
                self.sp.retire(np.flatnonzero(self.dead))
        for i, g in enumerate(self.glia):  # their state, and the structure it had set
            g.load(arr, f"glia/{i}", path)
            self._own_network()
            changed |= g.restore(self.net)
        if changed:
            self.rewire()  # the structure the checkpoint's run had grown or been given
        conn = self.conn
        for p in self.lay.pops:
            for var in p.state:
                key = f"state/{p.name}/{var}"
                if key not in arr:
                    raise ValueError(f"checkpoint {path}: missing array {key!r}")
                p.state[var][...] = arr[key][p.local_ids]  # in place: views of the block
            idx = (step + np.arange(self.L)) % self.L
            self.ring[:, idx, p.a:p.b] = arr[f"ring/{p.name}"][:, :, p.local_ids]
            if p.model.n_sites:
                key = f"ring_sites/{p.name}"
                if key not in arr:
                    raise ValueError(f"checkpoint {path}: missing array {key!r}")
                cols = self._site_columns(p)
                self.ring[:, idx[:, None], cols.ravel()[None, :]] = arr[key][
                    :, :, p.local_ids, :].reshape(self.ring.shape[0], self.L, -1)
            if not starts:
                conn.hist[p.a:p.b] = arr[f"hist/{p.name}"][p.local_ids]
                if f"hist_read/{p.name}" in arr:  # which post spikes every synapse has read
                    self.hist_safe[p.a:p.b] = arr[f"hist_read/{p.name}"][p.local_ids]
        if not starts:
            for name, (use, base, _m) in conn.plastic_projections.items():
                st = use.state
                sel = np.nonzero((st["uid"] >= base) & (st["uid"] < base + _m))[0]
                for var in use.rule.synapse_state:
                    key = f"plastic/{name}/{var.name}"
                    if key not in arr:
                        raise ValueError(f"checkpoint {path}: missing array {key!r}")
                    st[var.name][sel] = arr[key][st["uid"][sel] - base]
            if conn.modulators.n:
                conn.modulators.load(arr, step, path)
        for f in self.fields:
            f.load(arr, path, step)
        for spec, m in zip(self.run.monitors, self.monitors):
            m.load(arr, f"monitors/{spec.name}", path)
        self.held_s = np.asarray(arr.get("held/stamp", np.zeros(0)), np.int64)
        self.held_g = np.asarray(arr.get("held/gid", np.zeros(0)), np.int64)
        self.k = step


def _spike_block() -> int:
    from . import context

    return context.SPIKE_BLOCK


def steps(t_ms: float, dt_ms: float) -> int:
    """Steps in ``t_ms`` (nearest)."""
    return int(steps_of(t_ms, dt_ms))
