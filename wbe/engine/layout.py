"""The decomposition: which rank owns which neuron, and how a rank lays its neurons out.

Every gid is owned by one rank (:mod:`partition`: round robin ``gid % size`` by default, or a
METIS partition), decided on rank 0 and broadcast. A rank's neurons of all populations of one
cell model form a *block* of consecutive slots (blocks in model-name order — every model of the
network, so every rank has the same blocks, some possibly empty — populations in network order,
node ids ascending). A block holds its state and constants as the 2-D arrays its kernel reads
(:class:`wbe.engine.cells.base.Block`); each population's ``state``/``consts`` are views into
them, so the NumPy reference steps a population in place.

Constants are deduplicated: neurons sharing a parameter set share one row of ``ctab``/``itab``
(compared by bit pattern).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import partition
from .cells.base import Block, CellModel, cell_model_of
from .network import Network, RunConfig


@dataclass
class PopView:
    """One population on this rank: its neurons are slots ``[a, b)``."""

    name: str
    model: CellModel
    offset: int            # gid of node 0
    n: int                 # nodes in the whole population
    local_ids: np.ndarray  # node ids owned by this rank (ascending)
    a: int
    b: int
    state: dict = field(default_factory=dict)   # views into the block's state
    consts: dict = field(default_factory=dict)  # views into the block's constants


@dataclass
class CellBlock:
    """Slots ``[a, b)``: this rank's neurons of one model. ``kb`` is what the kernel reads;
    ``state``/``consts`` the same arrays by name (full block)."""

    model: CellModel
    a: int
    b: int
    pops: list[PopView]
    kb: Block
    state: dict
    consts: dict
    init: dict = field(default_factory=dict)  # the initial state (a neuron born later)

    @property
    def n(self) -> int:
        return self.b - self.a


class Layout:
    """Owners of all gids, this rank's slots, blocks and populations."""

    def __init__(self, net: Network, run: RunConfig, ctx, dt: float) -> None:
        self.offsets = net.offsets()
        self.n_total = net.n_total
        names = [p.name for p in net.populations]
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ValueError(f"population name(s) {sorted(dup)} appear twice")
        for p in net.populations:
            if int(p.n) < 0:
                raise ValueError(f"population {p.name!r}: n must be >= 0, got {p.n}")
        own = (partition.owners(net, ctx.size, run.placement, seed=run.seed) if ctx.rank == 0
               else np.empty(self.n_total, dtype=np.int64))
        self.owner = ctx.bcast(own)
        real = [p for p in net.populations if p.simulated]
        self.pops: list[PopView] = []
        self.blocks: list[CellBlock] = []
        self.slot_of = np.full(self.n_total, -1, dtype=np.int64)
        a = 0
        model_of = {p.name: cell_model_of(p, net) for p in real}
        for key in sorted({m.key for m in model_of.values()}):
            members, prms, a0 = [], [], a
            for p in (q for q in real if model_of[q.name].key == key):
                model = model_of[p.name]
                off = self.offsets[p.name]
                local = np.nonzero(self.owner[off:off + p.n] == ctx.rank)[0].astype(np.int64)
                prm = model.resolve(p.params, p.n, local, owner=f"population {p.name!r}")
                members.append(PopView(p.name, model, off, p.n, local, a, a + local.size))
                prms.append(prm)
                self.slot_of[off + local] = np.arange(a, a + local.size)
                a += local.size
            bprm = {k: np.concatenate([q[k] for q in prms]) for k in prms[0]}
            blk = _make_block(model, bprm, dt, a0, a, members)
            self.pops.extend(members)
            self.blocks.append(blk)
        self.n_local = a
        # synapse sites (models with n_sites): ring columns after the neurons'
        col = a
        for blk in self.blocks:
            if blk.model.n_sites:
                blk.kb = blk.kb._replace(s0=np.int64(col))
                col += blk.n * blk.model.n_sites
        #: ring columns: one per local neuron, then the synapse sites
        self.n_columns = col
        self.gid_of_slot = np.empty(self.n_local, dtype=np.int64)
        for q in self.pops:
            self.gid_of_slot[q.a:q.b] = q.offset + q.local_ids
        #: local spikes come out in (stamp, slot) order; that is (stamp, gid) order when true
        self.slots_ascend = bool(np.all(np.diff(self.gid_of_slot) > 0))
        self.model_of_pop = {p.name: model_of.get(p.name) for p in net.populations}

    def block_of_slot(self, slots: np.ndarray) -> np.ndarray:
        """The index (into :attr:`blocks`) of each slot's block."""
        starts = np.array([b.a for b in self.blocks], np.int64)
        return np.searchsorted(starts, np.asarray(slots, np.int64), side="right") - 1

    def columns(self, slots: np.ndarray, sites: np.ndarray | None = None) -> np.ndarray:
        """The ring column input to local ``slots`` lands in: the slot itself, or, for
        neurons of a model with synapse sites, the column of site ``sites`` (default: the
        model's ``default_site``, a cable cell's soma)."""
        slots = np.asarray(slots, np.int64)
        out = slots.copy()
        if not any(b.model.n_sites for b in self.blocks) or not slots.size:
            return out
        bi = self.block_of_slot(slots)
        for k, blk in enumerate(self.blocks):
            s = blk.model.n_sites
            if s:
                m = bi == k
                here = (np.full(int(m.sum()), blk.model.default_site, np.int64) if sites is None
                        else np.asarray(sites, np.int64)[m])
                out[m] = blk.kb.s0 + (slots[m] - blk.a) * s + here
        return out

    def pop(self, name: str) -> PopView:
        for p in self.pops:
            if p.name == name:
                return p
        raise ValueError(f"no simulated population {name!r}")


def _make_block(model: CellModel, p: dict, dt: float, a: int, b: int,
                members: list[PopView]) -> CellBlock:
    n = b - a
    consts = model.constants(p, dt)
    init = model.init_state(p)
    sf = np.empty((model.n_rows, n))
    si = np.empty((len(model.int_state), n), dtype=np.int64)
    state = {}
    r = 0
    for v in model.state:
        if v.size == 1:
            sf[r] = init[v.name]
            state[v.name] = sf[r]
        else:  # a (neurons, size) view of its rows
            sf[r:r + v.size] = np.asarray(init[v.name], np.float64).reshape(n, v.size).T
            state[v.name] = sf[r:r + v.size].T
        r += v.size
    for i, v in enumerate(model.int_state):
        si[i] = init[v.name]
        state[v.name] = si[i]
    nc = len(model.consts)
    cols = [np.broadcast_to(np.asarray(consts[c], dtype=np.float64), (n,))
            for c in model.consts]
    cols += [np.broadcast_to(np.asarray(consts[c], dtype=np.float64), (n,))
             for c in model.int_consts]
    if cols and n:
        mat = np.ascontiguousarray(np.column_stack(cols))
        bits, ci = np.unique(mat.view(np.int64), axis=0, return_inverse=True)  # by bit pattern
        tab = bits.view(np.float64)
        ctab = np.ascontiguousarray(tab[:, :nc])
        itab = np.ascontiguousarray(tab[:, nc:]).astype(np.int64)
        ci = ci.reshape(-1).astype(np.int64)
    else:
        ctab = np.zeros((1, nc))
        itab = np.zeros((1, len(model.int_consts)), dtype=np.int64)
        ci = np.zeros(n, dtype=np.int64)
    kb = Block(sf, si, ctab, itab, ci, np.int64(a), np.int64(0))
    for q in members:
        lo, hi = q.a - a, q.b - a

        def view(v, lo=lo, hi=hi):
            return v[lo:hi] if np.ndim(v) >= 1 else v

        q.consts = {k: view(v) for k, v in consts.items()}
        q.state = {k: view(v) for k, v in state.items()}
    return CellBlock(model, a, b, members, kb, state, consts,
                     {k: np.array(v, copy=True) for k, v in state.items()})
