"""Continuous connections: values a node emits every step, delivered with a delay (NEST's
secondary events with delay — an astrocyte's slow inward current through ``sic_connection``).

A source model declares what it emits (:attr:`wbe.engine.cells.base.CellModel.emits`, e.g.
``astrocyte_lr_1994``'s ``SIC``); a synapse model of kind ``"continuous"`` names the value it
carries (:attr:`wbe.engine.synapses.base.SynapseModel.carries`); the target model has a port
for that value (:attr:`wbe.engine.registry.Port.event`). The value ``v`` a source computes in
step ``k`` adds ``weight · v`` to the target's port row at ring slot ``k + delay`` — the slot
a spike of step ``k`` would reach — which the target reads in that step (as NEST:
``aeif_cond_alpha_astro`` sets its ``I_SIC`` from it at the end of the step). A port of two
rows is *diffusive*: its second row gathers the weights themselves, so the target can form the
flux ``Σ w·(v_j − own)`` with its own value of the moment (``ip3_connection`` between
astrocytes: IP3 through gap junctions).

How the values travel. A source's kernel writes its value of step ``k`` into its own ring
column, at its emit row and slot ``k``: a slot nothing else writes before the slice ends
(deliveries go to slots ``k1 … k1 + dmax − 1``), and one that checkpoints store with the ring —
so a run stopped inside a slice, or written to a checkpoint there, keeps the values of the
slice's first steps. At the end of every min-delay slice ``[k1 − dmin, k1)`` (aligned, as the
spike exchange) each rank reads the values of the sources it owns from its ring, one
``Allgatherv`` gives every rank those of all sources of continuous edges (a few floats per
source and step: astrocytes are far fewer than neurons), and each rank adds them into the ring
rows of its own targets, edge by edge in global edge order and step by step: the sums are the
same on any number of ranks. The delay counts in the network's minimum delay (as in NEST), so
the values of a slice reach no target before the next slice begins.
"""

from __future__ import annotations

import numpy as np

from .cells.base import steps_of
from .registry import SYNAPSES

__all__ = ["Continuous", "continuous_projections"]


def continuous_projections(net) -> list:
    """The network's projections of continuous synapse models, in network order."""
    return [pr for pr in net.projections if SYNAPSES.get(pr.synapse).kind == "continuous"]


class Continuous:
    """This rank's continuous edges (those whose target it owns) and the sources it sends."""

    def __init__(self, net, lay, ctx, dt: float) -> None:
        pops = {p.name: p for p in net.populations}
        src_g, src_row, tgt_c, rows, rows2, dly, wts = [], [], [], [], [], [], []
        self.delays_steps: list[int] = []
        for pr in continuous_projections(net):
            who = f"projection {pr.name!r}"
            syn = SYNAPSES.get(pr.synapse)
            for end in (pr.source, pr.target):
                if end not in pops:
                    raise ValueError(f"{who}: unknown population {end!r}; have {sorted(pops)}")
                if not pops[end].simulated:
                    raise ValueError(f"{who}: a {pr.synapse} joins simulated nodes; "
                                     f"{end!r} is {pops[end].model}")
            smodel, tmodel = lay.model_of_pop[pr.source], lay.model_of_pop[pr.target]
            if syn.carries not in {v.name for v in smodel.emits}:
                raise ValueError(f"{who}: a {pr.synapse} carries {syn.carries!r}, which "
                                 f"{pr.source!r} ({smodel.name}) does not emit")
            port = tmodel.port(pr.receptor, who, event=syn.carries)
            if tmodel.n_sites:
                raise ValueError(f"{who}: {tmodel.name} has synapse sites; continuous input "
                                 "to sites is not supported")
            m = len(pr)
            s = np.asarray(pr.source_ids, np.int64)
            t = np.asarray(pr.target_ids, np.int64)
            if t.size != m:
                raise ValueError(f"{who}: target_ids has {t.size} entries, source_ids {m}")
            for end, ids in ((pr.source, s), (pr.target, t)):
                if m and (ids.min() < 0 or ids.max() >= pops[end].n):
                    raise ValueError(f"{who}: a {'source' if ids is s else 'target'} id is out "
                                     f"of range for population {end!r} ({pops[end].n} nodes)")
            try:
                w = np.broadcast_to(np.asarray(pr.weight, np.float64), (m,))
                d = steps_of(np.broadcast_to(np.asarray(pr.delay_ms, np.float64), (m,)), dt)
            except ValueError:
                raise ValueError(f"{who}: weight and delay_ms must be scalars or have one "
                                 f"entry per edge ({m})") from None
            if m and d.min() < 1:
                raise ValueError(f"{who}: delays must be >= dt={dt} ms")
            if m:
                self.delays_steps += [int(d.min()), int(d.max())]
            sg = lay.offsets[pr.source] + s
            tg = lay.offsets[pr.target] + t
            mine = lay.owner[tg] == ctx.rank
            src_g.append(sg[mine])
            src_row.append(np.full(m, smodel.emit_row(syn.carries), np.int64)[mine])
            tgt_c.append(lay.slot_of[tg[mine]])
            rows.append(np.full(int(mine.sum()), tmodel.rows.index(port.rows[0]), np.int64))
            # a port of two rows is diffusive: the second gathers Σ w (the flux is then
            # Σ w·value − Σ w·own, which the target computes with its own value of now)
            rows2.append(np.full(int(mine.sum()), tmodel.rows.index(port.rows[1])
                                 if len(port.rows) > 1 else -1, np.int64))
            dly.append(d[mine])
            wts.append(w[mine].copy())
        #: every (source, emitted value) of a continuous edge — all ranks', by gid, then row
        allsrc = sorted({(int(lay.offsets[pr.source] + i), lay.model_of_pop[pr.source].emit_row(
            SYNAPSES.get(pr.synapse).carries)) for pr in continuous_projections(net)
            for i in np.unique(np.asarray(pr.source_ids, np.int64)).tolist()})
        self.n = sum(x.size for x in src_g)
        self.active = bool(allsrc)
        if not self.active:
            return
        gids = np.array([g for g, _ in allsrc], np.int64)
        erow = np.array([r for _, r in allsrc], np.int64)
        owner = lay.owner[gids]
        #: the values this rank sends: ring columns and emit rows
        self.send_cols = lay.slot_of[gids[owner == ctx.rank]]
        self.send_rows = erow[owner == ctx.rank]
        #: where the gathered values (rank after rank, each rank's in order) belong
        self.order = np.concatenate([np.flatnonzero(owner == r) for r in range(ctx.size)])
        self.n_sources = gids.size

        def cat(xs, dtype):
            return np.concatenate(xs).astype(dtype) if xs else np.zeros(0, dtype)

        nr = int(erow.max()) + 1
        self.e_src = np.searchsorted(gids * nr + erow,
                                     cat(src_g, np.int64) * nr + cat(src_row, np.int64))
        self.e_col, self.e_row = cat(tgt_c, np.int64), cat(rows, np.int64)
        self.e_row2 = cat(rows2, np.int64)
        self.e_delay, self.e_w = cat(dly, np.int64), cat(wts, np.float64)

    def deliver(self, ring: np.ndarray, k1: int, dmin: int, ctx) -> None:
        """At the end of the slice ``[k1 − dmin, k1)``: every edge's ``weight × value`` of
        each of the slice's steps into its target's ring row, ``delay`` slots on."""
        if not self.active:
            return
        L = ring.shape[1]
        steps = np.arange(k1 - dmin, k1, dtype=np.int64)
        mine = ring[self.send_rows[:, None], (steps % L)[None, :], self.send_cols[:, None]]
        if ctx.size > 1:
            got = np.asarray(ctx.allgatherv(np.ascontiguousarray(mine).ravel()))
            vals = np.empty((self.n_sources, dmin))
            vals[self.order] = got.reshape(-1, dmin)
        else:
            vals = mine
        if not self.n:
            return
        # step-major, then edge order: the order every target's sum is taken in
        j = np.repeat(np.arange(dmin), self.n)
        e = np.tile(np.arange(self.n), dmin)
        slot = (steps[j] + self.e_delay[e]) % L
        np.add.at(ring, (self.e_row[e], slot, self.e_col[e]), self.e_w[e] * vals[self.e_src[e], j])
        two = self.e_row2[e] >= 0
        if two.any():
            np.add.at(ring, (self.e_row2[e][two], slot[two], self.e_col[e][two]), self.e_w[e][two])
