"""Connectivity on one rank: the synapse table, the plastic synapses of every rule, and the gap
junctions.

**Synapse table.** A synapse lives on its target's rank (NEST's choice), in a CSR table by
source gid, in (source gid, global edge id) order, built by a streaming counting sort in two
passes over the projections (count per source, then scatter) so only one chunk of edges is ever
expanded. Per synapse: ``tgt`` int32 target slot, ``w`` float64 weight and ``pk`` (uint16, or
uint32 for long delays) packing ``delay_steps << shift | plastic << rbits | row``, where ``row``
is the target's ring-buffer row — the receptor port the edge names, split by the weight's sign
on a sign-split port — and ``rbits`` the bits a row needs (1 for every model with at most two
rows: 14 bytes per static synapse). For a plastic synapse ``w`` holds, as int64 bits
(``wbits``), ``rule << 48 | index`` of its state in that rule's arrays.

**Plastic synapses.** Per rule (:mod:`wbe.engine.plasticity`) the synapses of all projections
using it, in the synapse table's order (so that delivering a spike walks the rule's state
arrays in order, as it walks the table): their state arrays (checkpointed by global edge id,
``uid``), target slot, delay, parameter-set row (one per projection) and the same synapses
grouped by target slot.

**Continuous connections** (``synapse="sic_connection"``, kind ``"continuous"``): this
rank's edges and the values it sends (:class:`wbe.engine.secondary.Continuous`); their delays
count in the minimum and maximum delay.

**Gap junctions** (``synapse="gap_junction"``): all electrical edges as gids (the same on every
rank), checked symmetric, and this rank's exchange plan
(:func:`wbe.engine.synapses.gap_junction.exchange_plan`).
"""

from __future__ import annotations

import time
from collections import namedtuple
from dataclasses import dataclass, field

import numba
import numpy as np

from .cells.base import steps_of
from .layout import Layout
from .modulators import Modulators
from .network import Network, Plasticity
from .registry import PLASTICITY, SYNAPSES
from .rng import edge_keys
from .secondary import Continuous
from .synapses import gap_junction as gap

EDGE_CHUNK = 1 << 19  # edges processed at a time while building the synapse table
RULE_SHIFT = 48       # plastic synapse: wbits = rule << RULE_SHIFT | index
INDEX_MASK = (1 << RULE_SHIFT) - 1

#: The synapse table as kernels see it (see the module docstring).
SynTable = namedtuple("SynTable", "indptr tgt pk w wbits shift rmask pbit")


@numba.njit(cache=True)
def _scatter_nb(sg, ts, wbits, pk, fill, out_tgt, out_wbits, out_pk):
    """Stable counting-sort scatter: edge i goes to position ``fill[sg[i]]`` (then +1)."""
    for i in range(sg.shape[0]):
        g = sg[i]
        pos = fill[g]
        fill[g] = pos + 1
        out_tgt[pos] = ts[i]
        out_wbits[pos] = wbits[i]
        out_pk[pos] = pk[i]


@dataclass
class RuleUse:
    """One plasticity rule as used by a network on this rank."""

    rule: object
    index: int
    state: dict                       # synapse state + sign, delay, tgt, par, ptab, pt_*
    projections: dict = field(default_factory=dict)  # name -> (first edge id, n edges)
    nt: object = None                 # the rule's state namedtuple over the same arrays

    def make_nt(self) -> None:
        self.nt = self.rule.state_type(**{f: self.state[f] for f in self.rule.state_type._fields})


def _edge_arrays(pr, pops: dict, owner_name: str) -> tuple[np.ndarray, np.ndarray]:
    """Weights and delays of projection ``pr`` broadcast to its length, with checks."""
    m = len(pr)
    for nm, arr in (("target_ids", pr.target_ids),):
        if len(arr) != m:
            raise ValueError(f"{owner_name}: {nm} has {len(arr)} entries, source_ids {m}")
    try:
        w = np.broadcast_to(np.asarray(pr.weight, dtype=np.float64), (m,))
        d = np.broadcast_to(np.asarray(pr.delay_ms, dtype=np.float64), (m,))
    except ValueError:
        raise ValueError(f"{owner_name}: weight and delay_ms must be scalars or have one entry "
                         f"per edge ({m})") from None
    for end, ids in (("source", pr.source_ids), ("target", pr.target_ids)):
        pop = pops[getattr(pr, end)]
        a = np.asarray(ids)
        if m and (a.min() < 0 or a.max() >= pop.n):
            bad = int(a.max()) if a.max() >= pop.n else int(a.min())
            raise ValueError(f"{owner_name}: {end} id {bad} is out of range for population "
                             f"{pop.name!r} ({pop.n} nodes)")
    return w, d


def _connection_index(pr, count: np.ndarray) -> np.ndarray:
    """Each edge's connection number at its target (``Port.per_connection``): after the
    ``count`` connections the target has from earlier projections, by source id, then edge
    order — the same before and after a SONATA round trip (its edges are sorted by target and
    source). ``count`` is advanced in place."""
    tg = np.asarray(pr.target_ids, np.int64)
    order = np.lexsort((np.arange(tg.size), np.asarray(pr.source_ids, np.int64), tg))
    ts = tg[order]
    first = np.searchsorted(ts, ts, side="left")  # start of each target's run
    j = np.empty(tg.size, np.int64)
    j[order] = count[ts] + (np.arange(ts.size) - first)
    count += np.bincount(tg, minlength=count.size)
    return j


def _plasticity_of(pr, net: Network, lay: Layout) -> Plasticity | None:
    """The plasticity of chemical projection ``pr``: as given, or the rule its target port
    implies (``Port.presynaptic``), with the source population's parameters."""
    who = f"projection {pr.name!r}"
    model = lay.model_of_pop[pr.target]
    port = model.port(pr.receptor, who)
    if port.presynaptic is None:
        return pr.plasticity
    rule = PLASTICITY.get(port.presynaptic)
    if pr.plasticity is not None:
        raise ValueError(f"{who}: receptor port {port.name!r} of {model.name!r} runs "
                         f"{rule.name!r} on every synapse (the sender shapes its input); it "
                         f"takes no plasticity rule ({pr.plasticity.rule!r})")
    src = net.population(pr.source)
    if src.model not in rule.source_models:
        raise ValueError(f"{who}: receptor port {port.name!r} of {model.name!r} takes spikes "
                         f"of {' or '.join(rule.source_models)} neurons only (the sender "
                         f"computes the increment, as in NEST), not of population "
                         f"{src.name!r} ({src.model})")
    smodel = lay.model_of_pop[src.name]
    p = smodel.resolve(src.params, src.n, np.arange(src.n), owner=f"population {src.name!r}")
    return Plasticity(rule.name, rule.source_params(p, f"{who} (source {src.name!r})"))


class Connectivity:
    """This rank's synapse table, plastic synapses and gap junctions."""

    def __init__(self, net: Network, lay: Layout, ctx, dt: float, seed: int = 1,
                 more_delays_ms: tuple[float, ...] = ()) -> None:
        """``more_delays_ms``: delays of chemical synapses the run may create (structural
        plasticity), counted in the minimum and maximum delay as if present."""
        self.dt, self.seed = dt, seed
        self.more_delays_ms = tuple(more_delays_ms)
        pops = {p.name: p for p in net.populations}
        names = [pr.name for pr in net.projections]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"projection name(s) {sorted(dup)} appear twice")
        for pr in net.projections:
            who = f"projection {pr.name!r}"
            syn = SYNAPSES.get(pr.synapse)
            for end in (pr.source, pr.target):
                if end not in pops:
                    raise ValueError(f"{who}: unknown population {end!r}; have {sorted(pops)}")
            if syn.kind != "electrical" and pops[pr.target].is_virtual:
                raise ValueError(f"{who} targets virtual population {pr.target!r}")
            if pops[pr.source].is_volume_transmitter:
                raise ValueError(f"{who}: volume transmitter {pr.source!r} emits no spikes")
            if syn.kind != "chemical" and pops[pr.target].is_volume_transmitter:
                raise ValueError(f"{who}: a {pr.synapse} cannot reach volume transmitter "
                                 f"{pr.target!r}")
            if pr.plasticity is not None and syn.kind != "chemical":
                raise ValueError(f"{who}: a {pr.synapse} cannot be plastic")
        models = [lay.model_of_pop[p.name] for p in net.populations if p.simulated]
        self.n_rows = max([len(m.rows) for m in models] or [1])
        rbits = max(1, (self.n_rows - 1).bit_length())
        self.shift, self.pbit, self.rmask = rbits + 1, 1 << rbits, (1 << rbits) - 1
        self.continuous = Continuous(net, lay, ctx, dt)
        self._build_synapses(net, lay, ctx, pops)
        self._build_gap(net, lay, ctx, pops)

    # ------------------------------------------------------------------------ chemical
    def _local_edges(self, lay: Layout, ctx, pr, c0: int, c1: int):
        """Edges ``[c0, c1)`` of ``pr`` whose target this rank owns: (chunk-local indices,
        source gids, target gids)."""
        tg = lay.offsets[pr.target] + np.asarray(pr.target_ids[c0:c1], dtype=np.int64)
        if ctx.size == 1:
            idx = np.arange(c1 - c0)
        else:
            idx = np.nonzero(lay.owner[tg] == ctx.rank)[0]
            tg = tg[idx]
        sg = lay.offsets[pr.source] + np.asarray(pr.source_ids[c0:c1], dtype=np.int64)[idx]
        return idx, sg, tg

    def _build_synapses(self, net: Network, lay: Layout, ctx, pops: dict) -> None:
        dt = self.dt
        n_total = lay.n_total
        counts = np.zeros(n_total, dtype=np.int64)
        dmin, dmax = None, 0
        chem = [pr for pr in net.projections if SYNAPSES.get(pr.synapse).kind == "chemical"]
        # edges into volume transmitters (modulators) count for the delays, not for the table
        to_vt = {pr.name for pr in chem if pops[pr.target].is_volume_transmitter}
        for pr in chem:
            _w, dl = _edge_arrays(pr, pops, f"projection {pr.name!r}")
            m = len(pr)
            for c0 in range(0, m, EDGE_CHUNK):
                c1 = min(m, c0 + EDGE_CHUNK)
                ds = steps_of(dl[c0:c1], dt)
                if ds.min() < 1:
                    raise ValueError(f"projection {pr.name!r}: delays must be >= dt={dt} ms, "
                                     f"got {float(dl[c0:c1].min())} ms")
                dmin = int(ds.min()) if dmin is None else min(dmin, int(ds.min()))
                dmax = max(dmax, int(ds.max()))
                if pr.name in to_vt:
                    continue
                _idx, sg, _tg = self._local_edges(lay, ctx, pr, c0, c1)
                counts += np.bincount(sg, minlength=n_total)
        for ds in (*(int(steps_of(d, dt)) for d in self.more_delays_ms),
                   *self.continuous.delays_steps):
            dmin = ds if dmin is None else min(dmin, ds)
            dmax = max(dmax, ds)
        self.dmin = dmin if dmin is not None else max(1, int(steps_of(1.0, dt)))
        self.dmax = max(dmax, self.dmin)
        self.modulators = Modulators(net, lay.offsets, n_total, dt, self.dmin)
        chem = [pr for pr in chem if pr.name not in to_vt]
        if self.dmax >= 1 << (32 - self.shift):
            raise ValueError(f"a delay of {self.dmax} steps is too long for the synapse table")
        pk_dtype = np.uint16 if self.dmax < 1 << (16 - self.shift) else np.uint32
        indptr = np.zeros(n_total + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        del counts
        n_syn = int(indptr[-1])
        s_tgt = np.empty(n_syn, dtype=np.int32)
        s_w = np.empty(n_syn, dtype=np.float64)
        s_pk = np.empty(n_syn, dtype=pk_dtype)
        fill = indptr[:-1].copy()
        # plasticity rules in use (sorted by name: the same rule numbers on every rank)
        plast = {pr.name: _plasticity_of(pr, net, lay) for pr in chem}
        #: projections whose rule their target port implies (their weights stay as given)
        self.implied = {pr.name for pr in chem if plast[pr.name] is not pr.plasticity}
        rule_names = sorted({pl.rule for pl in plast.values() if pl is not None})
        rules = [PLASTICITY.get(r) for r in rule_names]
        acc = {r: dict(uid=[], tgt=[], dly=[], w0=[], par=[], ptab=[], key=[])
               for r in rule_names}
        self.rules: list[RuleUse] = []
        proj_of_rule = {r: {} for r in rule_names}
        per_conn: dict[tuple[str, str], np.ndarray] = {}  # connections numbered so far
        edge_base = 0
        for pr in net.projections:
            m = len(pr)
            if SYNAPSES.get(pr.synapse).kind != "chemical" or pr.name in to_vt:
                edge_base += m  # global edge ids count every projection
                continue
            who = f"projection {pr.name!r}"
            model = lay.model_of_pop[pr.target]
            port = model.port(pr.receptor, who)
            wt, dl = _edge_arrays(pr, pops, who)
            port.check_weights(wt, who)
            pl = plast[pr.name]
            conn_j = None
            if port.per_connection:  # each connection its own ring row: base row + index
                if pl is not None:
                    raise ValueError(f"{who}: receptor port {port.name!r} of {model.name!r} "
                                     f"keeps each connection's weight in the neuron; it takes "
                                     f"no plasticity rule")
                conn_j = _connection_index(pr, per_conn.setdefault(
                    (pr.target, port.name), np.zeros(pops[pr.target].n, np.int64)))
            rid = rule_names.index(pl.rule) if pl is not None else -1
            if pl is not None:
                a = acc[pl.rule]
                a["ptab"].append(rules[rid].resolve(pl.params, who,
                                                    refs=self.modulators.vt_index))
                par_row = len(a["ptab"]) - 1
            # stochastic rules: each edge's random-stream key from its (source, target) node ids
            pairs = [] if pl is not None and rules[rid].stochastic else None
            for c0 in range(0, m, EDGE_CHUNK):
                c1 = min(m, c0 + EDGE_CHUNK)
                idx, sg, tg = self._local_edges(lay, ctx, pr, c0, c1)
                if pairs is not None:
                    pairs.append((sg - lay.offsets[pr.source], tg - lay.offsets[pr.target]))
                ts = slot = lay.slot_of[tg]  # a rule reads its target's spikes by slot
                if model.n_sites:  # the column of the site each edge names
                    ts = lay.columns(ts, model.sites_of(
                        pr.attributes, c0 + idx, who, targets=tg - lay.offsets[pr.target]))
                del tg
                wc = np.ascontiguousarray(wt[c0:c1][idx])
                ds = steps_of(dl[c0:c1][idx], dt)
                row = model.row_of(port, wc)
                if conn_j is not None:
                    row = row + conn_j[c0:c1][idx]
                pk = ((ds << self.shift) | (self.pbit if pl is not None else 0) | row).astype(
                    pk_dtype)
                if pl is not None:
                    a = acc[pl.rule]
                    s0 = sum(x.size for x in a["uid"])
                    a["uid"].append(edge_base + c0 + idx)
                    a["tgt"].append(slot)
                    a["dly"].append(ds)
                    a["w0"].append(wc)
                    a["par"].append(np.full(idx.size, par_row, dtype=np.int64))
                    bits = (np.int64(rid) << RULE_SHIFT) | np.arange(s0, s0 + idx.size,
                                                                      dtype=np.int64)
                else:
                    bits = wc.view(np.int64)
                _scatter_nb(sg, ts.astype(np.int32), bits, pk, fill, s_tgt,
                            s_w.view(np.int64), s_pk)
                del idx, sg, ts, wc, ds, pk, bits, row
            if pairs is not None:
                acc[pl.rule]["key"].append(edge_keys(
                    pr.name, *(np.concatenate(x) if x else np.zeros(0, np.int64)
                               for x in zip(*pairs))) if pairs else np.zeros(0, np.uint64))
            if pl is not None:
                proj_of_rule[pl.rule][pr.name] = (edge_base, m)
            edge_base += m
        del fill
        self.n_edges = edge_base
        self.syn = SynTable(indptr, s_tgt, s_pk, s_w, s_w.view(np.int64), np.int64(self.shift),
                            np.int64(self.rmask), np.int64(self.pbit))
        self.L = self.dmax + self.dmin + 1
        self.needs = set()
        # plastic synapses in table order: where each sits in the table, and which rule
        wbits = s_w.view(np.int64)
        plastic_at = np.flatnonzero(s_pk & self.pbit) if rules else np.zeros(0, np.int64)
        rule_at = wbits[plastic_at] >> RULE_SHIFT
        for rid, (name, rule) in enumerate(zip(rule_names, rules)):
            a = acc[name]
            at = plastic_at[rule_at == rid]
            order = wbits[at] & INDEX_MASK  # edge-order index of each, in table order
            wbits[at] = (np.int64(rid) << RULE_SHIFT) | np.arange(at.size, dtype=np.int64)
            del at

            def cat(xs, dtype, order=order):
                return np.concatenate(xs)[order].astype(dtype) if xs else np.zeros(0, dtype)

            # bookkeeping in the narrowest exact types (bytes per plastic synapse: the rule's
            # state + sign 1 + delay 4 + target 4 + parameter row 4 + edge id 8, + 4 by target
            # for rules that read post-synaptic spikes, + a random-stream key 8 for stochastic
            # rules)
            w0 = cat(a["w0"], np.float64)
            par = cat(a["par"], np.int32)
            ptab = np.ascontiguousarray(np.stack(a["ptab"])) if a["ptab"] else np.zeros(
                (1, len(rule.params) + len(rule.node_refs)))
            st = rule.init_state(w0, ptab, par)
            if w0.size >= 1 << 31:
                raise ValueError(f"{w0.size} synapses of rule {name!r} on one rank: more than "
                                 "2**31; use more ranks")
            tgt = cat(a["tgt"], np.int32)
            pt_indptr = np.zeros(lay.n_local + 1, dtype=np.int64)
            if "post_history" in rule.needs:  # the rule's synapses grouped by target
                by_target = np.argsort(tgt, kind="stable").astype(np.int32)
                np.cumsum(np.bincount(tgt, minlength=lay.n_local), out=pt_indptr[1:])
            else:
                by_target = np.zeros(0, np.int32)
            st.update(sign=np.where(w0 < 0, -1, 1).astype(np.int8),
                      delay=cat(a["dly"], np.int32), tgt=tgt, par=par, ptab=ptab,
                      pt_indptr=pt_indptr, pt_syn=by_target)
            st["uid"] = cat(a["uid"], np.int64)
            if rule.stochastic:
                st["key"] = cat(a["key"], np.uint64)
                st["seed"] = np.array([self.seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64)
            if rule.modulated:
                st["mod"] = self.modulators.state
            scratch = rule.init_scratch(st)
            if set(scratch) != set(rule.scratch):
                raise TypeError(f"plasticity rule {name!r}: init_scratch made "
                                f"{sorted(scratch)}, its scratch names {list(rule.scratch)}")
            st.update(scratch)
            use = RuleUse(rule, rid, st, proj_of_rule[name])
            use.make_nt()
            self.rules.append(use)
            self.needs |= set(rule.needs)
        self.hist_len = (self.dmax + self.dmin + 1) if "post_history" in self.needs else 1
        self.hist = np.full((lay.n_local, self.hist_len), -1, dtype=np.int64)

    @property
    def plastic_projections(self) -> dict[str, tuple[RuleUse, int, int]]:
        """Projection name → (rule use, first global edge id, edges); a projection's synapses
        in the rule's arrays are those whose ``uid`` falls in [first, first + edges)."""
        out = {}
        for use in self.rules:
            for name, (base, m) in use.projections.items():
                out[name] = (use, base, m)
        return out

    def nbytes(self) -> dict[str, int]:
        """Bytes of the synapse table (``indptr``, ``tgt``, ``w``, ``pk``) and of the plastic
        synapse arrays (``plastic``)."""
        out = {k: int(getattr(self.syn, k).nbytes) for k in ("indptr", "tgt", "w", "pk")}
        out["plastic"] = int(sum(np.asarray(v).nbytes for u in self.rules
                                 for k, v in u.state.items()
                                 if k != "mod" and k not in u.rule.scratch))
        out["scratch"] = int(sum(np.asarray(u.state[k]).nbytes for u in self.rules
                                 for k in u.rule.scratch))
        return out

    # ------------------------------------------------------------------------ electrical
    def _build_gap(self, net: Network, lay: Layout, ctx, pops: dict) -> None:
        pre, post, g = [], [], []
        for pr in net.projections:
            if SYNAPSES.get(pr.synapse).kind != "electrical":
                continue
            for end in (pr.source, pr.target):
                if pops[end].is_virtual:
                    raise ValueError(f"electrical projection {pr.name!r}: population {end!r} "
                                     "is virtual (gap junctions need a membrane potential)")
            w, _d = _edge_arrays(pr, pops, f"projection {pr.name!r}")
            pre.append(lay.offsets[pr.source] + np.asarray(pr.source_ids, np.int64))
            post.append(lay.offsets[pr.target] + np.asarray(pr.target_ids, np.int64))
            g.append(w)
        self.has_gap = bool(pre) and sum(len(x) for x in pre) > 0
        self.gap_plan = None
        self.gap_wall_s = 0.0
        if not self.has_gap:
            return
        pre_g, post_g, g_nS = np.concatenate(pre), np.concatenate(post), np.concatenate(g)
        if np.any(g_nS < 0):
            raise ValueError("electrical projections: conductances (weights, nS) must be >= 0")
        gap.check_symmetric(pre_g, post_g, g_nS,
                            name="+".join(p.name for p in net.projections
                                          if SYNAPSES.get(p.synapse).kind == "electrical"))
        self.gap_plan = gap.exchange_plan(pre_g, post_g, g_nS, lay.owner, ctx.rank, ctx.size,
                                          local_gids=lay.gid_of_slot)
        used = np.zeros(lay.n_local, dtype=bool)
        used[self.gap_plan.target_local] = True
        used[self.gap_plan.send_local] = True
        src = self.gap_plan.source_slot
        used[src[src < lay.n_local]] = True
        self.gap_pops = [p for p in lay.pops if p.b > p.a and used[p.a:p.b].any()]
        self.v_gap = np.zeros(lay.n_local)

    def gap_current(self, ctx) -> np.ndarray:
        """``I_gap`` (pA) of every local slot from the V_m of this instant (exchanging the
        voltages of cross-rank-coupled neurons with the other ranks)."""
        v = self.v_gap
        for p in self.gap_pops:
            v[p.a:p.b] = p.model.record(p.state, p.consts, "V_m")
        plan = self.gap_plan
        if plan.n_exchanged:
            t0 = time.perf_counter()
            recv = gap.exchange_voltages(plan, v, ctx.comm)
            self.gap_wall_s += time.perf_counter() - t0
        else:
            recv = np.zeros(0)
        return gap.local_gap_current(plan, v, recv)
