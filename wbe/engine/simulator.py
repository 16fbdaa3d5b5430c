"""The simulation loop: round-robin decomposition, min-delay slices, one spike exchange per
slice, delay ring buffers per receptor, counter-based random input, Zarr checkpoints.

* Decomposition: ``RunConfig.placement`` puts each gid on a rank (:mod:`partition`:
  round robin ``gid % size`` by default, or a METIS partition); a synapse lives on its
  target's rank, in a CSR table by source gid (sorted by source gid, then global edge id)
  holding 14 bytes per synapse (int32 target slot, float64 weight, uint16 delay/receptor/
  plastic bits), built by a streaming counting sort (see ``_Engine._build_synapses``).
* Kernels: neurons of one model on a rank form a block stepped by the model's numba kernel;
  Poisson input is drawn and added by one numba call per step; a run of a single block
  driven only by Poisson input advances whole slices inside numba (``FUSED_LOOP``), on several
  ranks with the spike exchange inside numba too (``MPI_Allgather`` bound by
  :mod:`wbe.engine.mpi_nb`; ``NUMBA_EXCHANGE``), so a slice costs no Python. The NumPy
  reference path (``use_numba=False``) gives the same results bit for bit.
* Time: step k integrates [k·dt, (k+1)·dt); a spike in step k has stamp k+1 (time (k+1)·dt)
  and acts in step k + delay_steps (NEST's convention: a spike at t acts at t + delay).
  Steps advance in slices of the minimum delay; after each slice every rank gathers the
  spiking gids and stamps of all ranks (one fixed-size Allgather, an Allgatherv only when a
  rank has more than ``SPIKE_BLOCK`` spikes) and delivers them in (stamp, gid) order.
* Inputs: ``PoissonInput`` counts are Poisson(rate·dt) drawn by a hash of
  (seed, input name, generation step, gid) (:mod:`wbe.engine.rng`): a generation step s acts in
  step s + delay_steps and is active when start_ms <= s·dt < stop_ms. ``CurrentInput`` is
  applied in integration step k when start < k·dt <= stop (NEST ``dc_generator`` connected with
  delay dt). ``SpikeTrainInput`` spikes of virtual gids are known to every rank.
* Gap junctions (``Projection(kind="electrical")``, :mod:`wbe.engine.gap`): checked symmetric;
  at the start of every step each rank computes ``I_gap = Σ g·(V_source − V_target)`` (pA)
  from the membrane potentials of that instant and adds it to the step's input current of every
  model (one Jacobi sweep of NEST's waveform relaxation, exact at steady state). The V_m of
  neurons coupled to a neuron of another rank travel in one ``Allgatherv`` per step (planned
  once by :func:`gap.exchange_plan`); networks with gap junctions take the per-step loop. Gap
  state is V_m only, so checkpoints need nothing extra.
* Recording: spikes from the gathered list (so identical on all ranks); state samples at
  t = m·interval (m >= 1), t_start <= t < tstop (NEST multimeter), state after the step ending
  at t.

An exception on any rank of a multi-rank run prints its traceback and calls
``comm.Abort(1)``, so no rank is left waiting in a collective.
"""

from __future__ import annotations

import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numba
import numpy as np

from . import checkpoint as ckpt
from . import gap, mpi_nb, partition, rng
from .models import NeuronModel, get_model, nb_step, steps_of
from .network import Network, RunConfig
from .plasticity import deliver_nb, deliver_np, deliver_static_nb, flush_nb

N_REC = 2  # receptor ring buffers per neuron (ex, in); single-receptor models use row 0
EDGE_CHUNK = 1 << 19  # edges processed at a time while building the synapse table
SPIKE_BLOCK = 256  # (stamp, gid) pairs per rank sent in the fixed-size exchange of a slice


@dataclass
class SimResult:
    """What :func:`simulate` returns (identical on every rank, for any number of ranks).

    ``spikes``: pop → (times_ms float64, node_ids int64), sorted by (time, node id).
    ``state``: pop → var → (times_ms, node_ids, values[n_times, n_nodes]).
    ``weights``: projection name → final weights (edge order) of plastic projections.
    ``wall_s``: ``build`` and ``simulate`` wall-clock seconds (of this rank).
    """

    spikes: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    state: dict[str, dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]] = field(default_factory=dict)
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    wall_s: dict[str, float] = field(default_factory=dict)


# ------------------------------------------------------------------------------ communication
class _Serial:
    rank, size = 0, 1
    in_numba_exchange = False

    def allgatherv(self, a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a)

    def bcast(self, a: np.ndarray) -> np.ndarray:
        return a

    def abort(self) -> None:  # pragma: no cover - serial errors just propagate
        pass


class _Mpi:
    def __init__(self, comm) -> None:
        from mpi4py import MPI

        self.MPI, self.comm = MPI, comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        # handles for the exchange inside numba (None: MPI library not found → mpi4py path;
        # NUMBA_EXCHANGE = False forces that path)
        self.nb_handles = mpi_nb.handles(comm) if NUMBA_EXCHANGE else None
        self.in_numba_exchange = self.nb_handles is not None

    def bcast(self, a: np.ndarray) -> np.ndarray:
        """Rank 0's int64 array ``a`` (same shape on every rank)."""
        a = np.ascontiguousarray(a, dtype=np.int64)
        self.comm.Bcast(a, root=0)
        return a

    def allgatherv(self, a: np.ndarray) -> np.ndarray:
        """Concatenation over ranks (rank order) of 1-D int64/float64 arrays."""
        a = np.ascontiguousarray(a)
        counts = np.empty(self.size, dtype=np.int64)
        self.comm.Allgather(np.array([a.size], dtype=np.int64), counts)
        out = np.empty(int(counts.sum()), dtype=a.dtype)
        displs = np.concatenate(([0], np.cumsum(counts)[:-1]))
        mpitype = self.MPI.INT64_T if a.dtype == np.int64 else self.MPI.DOUBLE
        self.comm.Allgatherv(a, [out, counts.tolist(), displs.tolist(), mpitype])
        return out

    def exchange_spikes(self, stamp: np.ndarray, gid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """All ranks' (stamp, gid) pairs, concatenated in rank order. One Allgather of a
        fixed-size block (count + up to ``SPIKE_BLOCK`` pairs) per slice; only when some rank
        has more spikes does a second collective (Allgatherv) follow."""
        k = SPIKE_BLOCK
        n = stamp.size
        buf = np.empty(1 + 2 * k, dtype=np.int64)
        buf[0] = n
        m = min(n, k)
        buf[1:1 + m] = stamp[:m]
        buf[1 + k:1 + k + m] = gid[:m]
        out = np.empty((self.size, 1 + 2 * k), dtype=np.int64)
        self.comm.Allgather(buf, out)
        counts = out[:, 0]
        if counts.max() <= k:
            gs = np.concatenate([out[r, 1:1 + counts[r]] for r in range(self.size)])
            gg = np.concatenate([out[r, 1 + k:1 + k + counts[r]] for r in range(self.size)])
            return gs, gg
        pairs = self.allgatherv(np.column_stack((stamp, gid)).ravel()).reshape(-1, 2)
        return pairs[:, 0].copy(), pairs[:, 1].copy()

    def abort(self) -> None:
        self.comm.Abort(1)


def _context(comm):
    if comm is not None:
        return _Mpi(comm) if comm.Get_size() > 1 else _Serial()
    if "mpi4py" in sys.modules or _launched_by_mpi():
        try:
            from mpi4py import MPI
        except ImportError:
            return _Serial()
        if MPI.COMM_WORLD.Get_size() > 1:
            return _Mpi(MPI.COMM_WORLD)
    return _Serial()


def _launched_by_mpi() -> bool:
    import os

    return any(k in os.environ for k in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK",
                                         "MPI_LOCALNRANKS", "HYDRA_CONTROL_FD"))


# ------------------------------------------------------------------------------ fused loop
FUSED_LOOP = True  # runs of one numba-stepped block advance whole slices in numba
NUMBA_EXCHANGE = True  # multi-rank fused runs exchange spikes inside numba (mpi_nb)


@numba.njit(cache=True)
def _advance_nb(kid, k, k1, L, seed, pflat, sf, r, ctab, ci, refr, a, istim, ring, out_slot,
                out_stamp):
    """Steps ``[k, k1)`` of one block stepped by kernel ``kid`` (:func:`models.nb_step`):
    Poisson input, then the block; returns the number of spikes written to
    ``out_slot``/``out_stamp``."""
    nspk = 0
    for j in range(k, k1):
        rng.poisson_add_nb(seed, j, pflat[0], pflat[1], pflat[2], pflat[3], pflat[4],
                           pflat[5], pflat[6], pflat[7], pflat[8], pflat[9], pflat[10],
                           pflat[11], pflat[12], pflat[13], pflat[14], pflat[15], ring, j % L)
        nspk = nb_step(kid, sf, r, ctab, ci, refr, ring, j % L, a, istim, out_slot, out_stamp,
                       nspk, j + 1)
    return nspk


@numba.njit(cache=True)
def _drive_nb(kid, k, k_stop, dmin, L, seed, pflat, sf, r, ctab, ci, refr, a, istim, ring,
              indptr, s_tgt, s_pk, s_w, gid_of_slot, out_slot, out_stamp, gbuf, sp_stamp,
              sp_gid):
    """The serial slice loop for one block: per slice :func:`_advance_nb`, then delivery of
    the slice's spikes in (stamp, gid) order — the same operations in the same order as the
    per-step path. Stops early when ``sp_stamp`` could overflow; returns (k, spikes)."""
    n_out = 0
    room = sp_stamp.shape[0]
    while k < k_stop and n_out + out_slot.shape[0] <= room:
        k1 = min(k + dmin, k_stop)
        nspk = _advance_nb(kid, k, k1, L, seed, pflat, sf, r, ctab, ci, refr, a, istim, ring,
                           out_slot, out_stamp)
        for i in range(nspk):
            gbuf[i] = gid_of_slot[out_slot[i]]
            sp_stamp[n_out + i] = out_stamp[i]
            sp_gid[n_out + i] = gbuf[i]
        deliver_static_nb(out_stamp[:nspk], gbuf[:nspk], indptr, s_tgt, s_pk, s_w, ring, L)
        n_out += nspk
        k = k1
    return k, n_out


@numba.njit(cache=True)
def _drive_mpi_nb(kid, k, k_stop, dmin, L, seed, pflat, sf, r, ctab, ci, refr, a, istim, ring,
                  indptr, s_tgt, s_pk, s_w, gid_of_slot, out_slot, out_stamp, gbuf, sp_stamp,
                  sp_gid, sbuf, rbuf, n_total, slice_max, comm_h, i64_h):
    """The multi-rank twin of :func:`_drive_nb`, with the spike exchange inside numba
    (:data:`mpi_nb.allgather`), so a slice costs one collective and no Python. Per slice each
    rank sends a fixed block ``[n, stamps[B], gids[B]]``; if any rank had more than ``B``
    spikes a second allgather of blocks padded to the largest count follows. The gathered
    spikes are delivered in (stamp, gid) order, exactly as the per-step path does after its
    ``exchange_spikes`` + ``lexsort``. ``slice_max`` bounds the spikes of all ranks in one
    slice (every neuron at most once per step)."""
    n_out = 0
    room = sp_stamp.shape[0]
    size = rbuf.shape[0] // sbuf.shape[0]
    block = (sbuf.shape[0] - 1) // 2
    gs = np.empty(slice_max, np.int64)
    gg = np.empty(slice_max, np.int64)
    while k < k_stop and n_out + slice_max <= room:
        k1 = min(k + dmin, k_stop)
        nspk = _advance_nb(kid, k, k1, L, seed, pflat, sf, r, ctab, ci, refr, a, istim, ring,
                           out_slot, out_stamp)
        for i in range(nspk):
            gbuf[i] = gid_of_slot[out_slot[i]]
        n = _gather_nb(sbuf, rbuf, block, out_stamp, gbuf, nspk, gs, gg, comm_h, i64_h)
        if n < 0:  # some rank overflowed its block: resend everything, padded
            s2 = np.empty(1 - 2 * n, np.int64)
            r2 = np.empty(size * s2.shape[0], np.int64)
            n = _gather_nb(s2, r2, -n, out_stamp, gbuf, nspk, gs, gg, comm_h, i64_h)
        o = np.argsort(gs[:n] * n_total + gg[:n])
        ss = gs[:n][o]
        sg = gg[:n][o]
        deliver_static_nb(ss, sg, indptr, s_tgt, s_pk, s_w, ring, L)
        for i in range(n):
            sp_stamp[n_out + i] = ss[i]
            sp_gid[n_out + i] = sg[i]
        n_out += n
        k = k1
    return k, n_out


@numba.njit(cache=True)
def _gather_nb(sbuf, rbuf, width, stamp, gid, nspk, gs, gg, comm_h, i64_h):
    """Allgather ``[nspk, stamp[width], gid[width]]`` blocks (``nspk`` > ``width`` sends the
    first ``width``); the ranks' pairs land in ``gs``/``gg`` in rank order. Returns their
    number, or −(largest count) when some rank's count exceeded ``width``."""
    m = min(nspk, width)
    sbuf[0] = nspk
    for i in range(m):
        sbuf[1 + i] = stamp[i]
        sbuf[1 + width + i] = gid[i]
    w = sbuf.shape[0]
    if mpi_nb.allgather(sbuf.ctypes.data, w, i64_h, rbuf.ctypes.data, w, i64_h, comm_h) != 0:
        raise RuntimeError("MPI_Allgather failed")
    big = 0
    for q in range(rbuf.shape[0] // w):
        big = max(big, rbuf[q * w])
    if big > width:
        return -big
    n = 0
    for q in range(rbuf.shape[0] // w):
        for i in range(rbuf[q * w]):
            gs[n] = rbuf[q * w + 1 + i]
            gg[n] = rbuf[q * w + 1 + width + i]
            n += 1
    return n


# ------------------------------------------------------------------------------ build
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
class _Pop:
    name: str
    model: NeuronModel
    offset: int            # gid of node 0
    n: int
    local_ids: np.ndarray  # node ids owned by this rank
    a: int                 # slice [a, b) of this rank's neuron slots
    b: int
    params: dict
    consts: dict
    state: dict


@dataclass
class _Block:
    """Consecutive slots ``[a, b)`` holding this rank's neurons of all populations of one model.
    ``fast``: stepped by the model's numba kernel on ``sf`` (float state rows), ``r``
    (refractory counters), ``ctab``/``ci`` (constants) and ``refr``; else population by
    population with the NumPy ``step``; neuron i's constants are row ``ci[i]`` of ``ctab``
    (and ``refr``): one row per distinct parameter set."""

    model: NeuronModel
    a: int
    b: int
    pops: list
    fast: bool = False
    sf: np.ndarray | None = None
    r: np.ndarray | None = None
    ctab: np.ndarray | None = None
    ci: np.ndarray | None = None
    refr: np.ndarray | None = None


class _Engine:
    def __init__(self, net: Network, run: RunConfig, ctx, use_numba: bool) -> None:
        self.net, self.run, self.ctx, self.use_numba = net, run, ctx, use_numba
        self.dt = float(run.dt_ms)
        self.offsets = net.offsets()
        self.n_total = net.n_total
        rank, size = ctx.rank, ctx.size
        # ---- placement: the rank of every gid (computed on rank 0, broadcast)
        own = (partition.owners(net, size, run.placement, seed=run.seed) if rank == 0
               else np.empty(self.n_total, dtype=np.int64))
        self.owner = ctx.bcast(own)
        # ---- neurons: this rank's neurons of all populations of one model form a block of
        # consecutive slots (blocks in model-name order, populations in network order); a block
        # of a model with a numba kernel keeps its state and constants as 2-D arrays and each
        # population's state/consts are views into them
        names = set()
        for p in net.populations:
            if p.name in names:
                raise ValueError(f"population name {p.name!r} appears twice")
            names.add(p.name)
        real = [p for p in net.populations if not p.is_virtual]
        self.pops: list[_Pop] = []
        self.blocks: list[_Block] = []
        self.slot_of = np.full(self.n_total, -1, dtype=np.int64)  # gid -> local slot
        a = 0
        for mname in sorted({p.model for p in real}):
            model = get_model(mname)
            members, prms, a0 = [], [], a
            for p in (q for q in real if q.model == mname):
                off = self.offsets[p.name]
                local = np.nonzero(self.owner[off:off + p.n] == rank)[0]
                prm = model.params(p.params, p.n, local)
                members.append(_Pop(p.name, model, off, p.n, local, a, a + local.size, prm,
                                    {}, {}))
                prms.append(prm)
                self.slot_of[off + local] = np.arange(a, a + local.size)
                a += local.size
            bprm = {k: np.concatenate([q[k] for q in prms]) for k in prms[0]}
            consts = model.constants(bprm, self.dt)
            state = model.init_state(bprm)
            blk = _Block(model, a0, a, members, fast=use_numba and model.has_fast(consts))
            if blk.fast:
                blk.sf = np.empty((len(model.fast_state), a - a0))
                for i, v in enumerate(model.fast_state):
                    blk.sf[i] = state[v]
                    state[v] = blk.sf[i]
                blk.r = state["r"]
                cols = np.column_stack(
                    [np.broadcast_to(np.asarray(consts[c], dtype=np.float64), (a - a0,))
                     for c in model.fast_consts]
                    + [np.asarray(consts["refr"], dtype=np.float64)])
                bits, ci = np.unique(np.ascontiguousarray(cols).view(np.int64), axis=0,
                                     return_inverse=True)  # by bit pattern (-0.0, nan)
                tab = bits.view(np.float64)
                blk.ctab = np.ascontiguousarray(tab[:, :-1])
                blk.refr = tab[:, -1].astype(np.int64)
                blk.ci = ci.reshape(-1).astype(np.int64)
            for q in members:
                lo, hi = q.a - a0, q.b - a0

                def view(v, lo=lo, hi=hi):
                    return v[lo:hi] if np.ndim(v) >= 1 else v

                q.consts = {k: view(v) for k, v in consts.items()}
                q.state = {k: view(v) for k, v in state.items()}
            self.pops.extend(members)
            self.blocks.append(blk)
        self.n_local = a
        self.gid_of_slot = np.empty(self.n_local, dtype=np.int64)
        for q in self.pops:
            self.gid_of_slot[q.a:q.b] = q.offset + q.local_ids
        self.slots_ascend = bool(np.all(np.diff(self.gid_of_slot) > 0))
        self.is_virtual_gid = np.zeros(self.n_total, dtype=bool)
        for p in net.populations:
            if p.is_virtual:
                self.is_virtual_gid[self.offsets[p.name]:self.offsets[p.name] + p.n] = True
        self._build_synapses()
        self._build_gap()
        self._build_inputs()
        self.seed_u64 = np.uint64(int(run.seed) & 0xFFFFFFFFFFFFFFFF)
        self.zero_stim = np.zeros(self.n_local)
        # spikes of one slice (each neuron spikes at most once per step)
        self.out_slot = np.empty(self.n_local * self.dmin, dtype=np.int64)
        self.out_stamp = np.empty(self.n_local * self.dmin, dtype=np.int64)

    # ---- synapses
    def _local_edges(self, pr, c0: int, c1: int):
        """Edges ``[c0, c1)`` of projection ``pr`` whose target this rank owns: (chunk-local
        indices, source gids, target gids)."""
        tg = self.offsets[pr.target] + np.asarray(pr.target_ids[c0:c1], dtype=np.int64)
        if self.ctx.size == 1:
            idx = np.arange(c1 - c0)
        else:
            idx = np.nonzero(self.owner[tg] == self.ctx.rank)[0]
            tg = tg[idx]
        sg = self.offsets[pr.source] + np.asarray(pr.source_ids[c0:c1], dtype=np.int64)[idx]
        return idx, sg, tg

    def _build_synapses(self) -> None:
        """CSR table of this rank's synapses by source gid, in (source gid, global edge id)
        order, built by a stable counting sort in two streaming passes over the projections
        (count per source, then scatter) so only one chunk of edges is ever expanded.

        Per synapse: ``s_tgt`` int32 target slot, ``s_w`` float64 weight, ``s_pk`` uint16
        (uint32 when delays exceed 2^14 steps) = ``delay_steps << 2 | plastic << 1 | receptor``;
        for a plastic synapse ``s_w`` holds its plastic index as int64 bits (the weight lives in
        the plastic state). ``indptr`` (n_total + 1, int64) indexes the table by source gid."""
        net, dt = self.net, self.dt
        pop_by_name = {p.name: p for p in net.populations}
        counts = np.zeros(self.n_total, dtype=np.int64)
        dmin, dmax = None, 0
        for pr in net.projections:
            if pr.kind == "electrical":
                continue  # gap junctions: see _build_gap
            if pr.kind != "chemical":
                raise ValueError(f"projection {pr.name!r}: kind must be 'chemical' or "
                                 f"'electrical', got {pr.kind!r}")
            if pr.source not in pop_by_name or pr.target not in pop_by_name:
                raise ValueError(f"projection {pr.name!r}: unknown source/target population")
            if pop_by_name[pr.target].is_virtual:
                raise ValueError(f"projection {pr.name!r} targets virtual population "
                                 f"{pr.target!r}")
            m = len(pr)
            dl = np.broadcast_to(np.asarray(pr.delay_ms, dtype=np.float64), (m,))
            for c0 in range(0, m, EDGE_CHUNK):
                c1 = min(m, c0 + EDGE_CHUNK)
                ds = steps_of(dl[c0:c1], dt)
                if ds.min() < 1:
                    raise ValueError(f"projection {pr.name!r}: delays must be >= dt={dt} ms")
                dmin = int(ds.min()) if dmin is None else min(dmin, int(ds.min()))
                dmax = max(dmax, int(ds.max()))
                _idx, sg, _tg = self._local_edges(pr, c0, c1)
                counts += np.bincount(sg, minlength=self.n_total)
        self.indptr = np.zeros(self.n_total + 1, dtype=np.int64)
        np.cumsum(counts, out=self.indptr[1:])
        del counts
        n_syn = int(self.indptr[-1])
        pk_dtype = np.uint16 if dmax < 2**14 else np.uint32
        self.s_tgt = np.empty(n_syn, dtype=np.int32)
        self.s_w = np.empty(n_syn, dtype=np.float64)
        self.s_pk = np.empty(n_syn, dtype=pk_dtype)
        fill = self.indptr[:-1].copy()
        p_uid, p_tgt, p_dly, p_w0 = [], [], [], []
        self.proj_plastic = {}  # name -> (first global edge id, n edges)
        p_range = {}            # name -> (first plastic index, n local plastic synapses)
        edge_base, n_pl = 0, 0
        for pr in net.projections:
            m = len(pr)
            if pr.kind == "electrical":
                edge_base += m  # global edge ids count every projection
                continue
            model = get_model(pop_by_name[pr.target].model)
            plastic = pr.stdp is not None
            wt = np.broadcast_to(np.asarray(pr.weight, dtype=np.float64), (m,))
            dl = np.broadcast_to(np.asarray(pr.delay_ms, dtype=np.float64), (m,))
            pl0 = n_pl
            for c0 in range(0, m, EDGE_CHUNK):
                c1 = min(m, c0 + EDGE_CHUNK)
                idx, sg, tg = self._local_edges(pr, c0, c1)
                ts = self.slot_of[tg]
                del tg
                wc = np.ascontiguousarray(wt[c0:c1][idx])
                ds = steps_of(dl[c0:c1][idx], dt)
                pk = ((ds << 2) | (2 if plastic else 0) | model.receptor(wc)).astype(pk_dtype)
                if plastic:
                    p_uid.append(edge_base + c0 + idx)
                    p_tgt.append(ts)
                    p_dly.append(ds)
                    p_w0.append(wc)
                    bits = np.arange(n_pl, n_pl + idx.size, dtype=np.int64)
                    n_pl += idx.size
                else:
                    bits = wc.view(np.int64)
                _scatter_nb(sg, ts.astype(np.int32), bits, pk, fill, self.s_tgt,
                            self.s_w.view(np.int64), self.s_pk)
                del idx, sg, ts, wc, ds, pk, bits
            if plastic:
                self.proj_plastic[pr.name] = (edge_base, m)
                p_range[pr.name] = (pl0, n_pl - pl0)
            edge_base += m
        del fill
        self.n_edges = edge_base
        self.dmin = dmin if dmin is not None else max(1, int(steps_of(1.0, dt)))
        self.dmax = max(dmax, self.dmin)
        self.L = self.dmax + self.dmin + 1
        self.ring = np.zeros((N_REC, self.L, self.n_local))
        # ---- plastic synapses (in global edge id order)

        def cat(xs, dt_):
            return np.concatenate(xs).astype(dt_) if xs else np.zeros(0, dt_)

        self.p_uid = cat(p_uid, np.int64)
        self.p_tgt = cat(p_tgt, np.int64)
        self.p_dly = cat(p_dly, np.int64)
        w0 = cat(p_w0, np.float64)
        npl = self.p_uid.size
        self.p_sign = np.where(w0 < 0, -1.0, 1.0)
        self.pl = {"w": np.abs(w0), "w_pending": np.abs(w0), "kplus": np.zeros(npl),
                   "t_last": np.zeros(npl, dtype=np.int64), "kminus": np.zeros(npl),
                   "p_last": np.full(npl, -1, dtype=np.int64)}
        self.p_par = {k: np.zeros(npl) for k in ("tau_p", "tau_m", "lam", "alpha", "wmax")}
        for pr in net.projections:
            if pr.stdp is not None:
                b0, nb = p_range[pr.name]
                sel, st = slice(b0, b0 + nb), pr.stdp
                self.p_par["tau_p"][sel] = st.tau_plus_ms
                self.p_par["tau_m"][sel] = st.tau_minus_ms
                self.p_par["lam"][sel] = st.lambda_
                self.p_par["alpha"][sel] = st.alpha
                self.p_par["wmax"][sel] = st.Wmax
        self.has_plastic = bool(self.proj_plastic)
        self.hist_len = (self.dmax + self.dmin + 1) if self.has_plastic else 1
        self.hist = np.full((self.n_local, self.hist_len), -1, dtype=np.int64)
        order = np.argsort(self.p_tgt, kind="stable")
        self.pt_syn = order.astype(np.int64)
        self.pt_indptr = np.zeros(self.n_local + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.p_tgt, minlength=self.n_local), out=self.pt_indptr[1:])

    def _build_gap(self) -> None:
        """Gap junctions: all electrical edges as gids (the same on every rank), checked
        symmetric, and this rank's exchange plan (:func:`gap.exchange_plan`)."""
        pop_by_name = {p.name: p for p in self.net.populations}
        pre, post, g = [], [], []
        for pr in self.net.projections:
            if pr.kind != "electrical":
                continue
            for end in (pr.source, pr.target):
                if end not in pop_by_name:
                    raise ValueError(f"projection {pr.name!r}: unknown population {end!r}")
                if pop_by_name[end].is_virtual:
                    raise ValueError(f"electrical projection {pr.name!r}: population {end!r} "
                                     "is virtual (gap junctions need a membrane potential)")
            if pr.stdp is not None:
                raise ValueError(f"electrical projection {pr.name!r} cannot be plastic")
            m = len(pr)
            pre.append(self.offsets[pr.source] + np.asarray(pr.source_ids, np.int64))
            post.append(self.offsets[pr.target] + np.asarray(pr.target_ids, np.int64))
            g.append(np.broadcast_to(np.asarray(pr.weight, np.float64), (m,)))
        self.has_gap = bool(pre) and sum(len(x) for x in pre) > 0
        self.gap_plan = None
        self.gap_wall_s = 0.0  # time spent in the per-step voltage exchange (this rank)
        if not self.has_gap:
            return
        pre_g, post_g, g_nS = np.concatenate(pre), np.concatenate(post), np.concatenate(g)
        if np.any(g_nS < 0):
            raise ValueError("electrical projections: conductances (weights, nS) must be >= 0")
        gap.check_symmetric(pre_g, post_g, g_nS,
                            name="+".join(p.name for p in self.net.projections
                                          if p.kind == "electrical"))
        size, rank = self.ctx.size, self.ctx.rank
        owner = self.owner
        self.gap_plan = gap.exchange_plan(pre_g, post_g, g_nS, owner, rank, size,
                                          local_gids=self.gid_of_slot)
        # populations holding a gap-coupled local neuron: only their V_m is read per step
        used = np.zeros(self.n_local, dtype=bool)
        used[self.gap_plan.target_local] = True
        used[self.gap_plan.send_local] = True
        src = self.gap_plan.source_slot
        used[src[src < self.n_local]] = True
        self.gap_pops = [p for p in self.pops if p.b > p.a and used[p.a:p.b].any()]
        self.v_gap = np.zeros(self.n_local)

    def gap_current(self) -> np.ndarray:
        """``I_gap`` (pA) of every local slot from the V_m of this instant (exchanging the
        voltages of cross-rank-coupled neurons with the other ranks)."""
        v = self.v_gap
        for p in self.gap_pops:
            v[p.a:p.b] = p.model.record(p.state, p.consts, "V_m")
        plan = self.gap_plan
        if plan.n_exchanged:
            t0 = time.perf_counter()
            recv = gap.exchange_voltages(plan, v, getattr(self.ctx, "comm", None))
            self.gap_wall_s += time.perf_counter() - t0
        else:
            recv = np.zeros(0)
        return gap.local_gap_current(plan, v, recv)

    def conn_nbytes(self) -> dict[str, int]:
        """Bytes of the synapse table (``indptr``, ``s_tgt``, ``s_w``, ``s_pk``) and of the
        per-plastic-synapse arrays (``plastic``)."""
        out = {k: int(getattr(self, k).nbytes) for k in ("indptr", "s_tgt", "s_w", "s_pk")}
        out["plastic"] = int(sum(a.nbytes for a in (self.p_uid, self.p_tgt, self.p_dly,
                                                     self.p_sign, self.pt_syn, self.pt_indptr,
                                                     *self.pl.values(), *self.p_par.values())))
        return out

    # ---- stimuli
    def _build_inputs(self) -> None:
        net, dt, rank = self.net, self.dt, self.ctx.rank
        self.poisson = []
        for pin in net.poisson:
            pop = net.population(pin.target)
            model = get_model(pop.model)
            ids = np.asarray(pin.node_ids, dtype=np.int64)
            gid = self.offsets[pin.target] + ids
            mine = np.nonzero(self.owner[gid] == rank)[0]
            lam = np.broadcast_to(np.asarray(pin.rate_hz, dtype=np.float64), ids.shape)[mine]
            d = int(steps_of(pin.delay_ms, dt))
            if d < 1:
                raise ValueError(f"PoissonInput {pin.name!r}: delay_ms must be >= dt")
            self.poisson.append(dict(
                gid=gid[mine], slot=self.slot_of[gid[mine]], lam=lam * dt * 1e-3,
                rec=int(model.receptor(np.array([pin.weight]))[0]), w=float(pin.weight), d=d,
                key=rng.purpose_key("poisson:" + pin.name),
                s0=int(np.ceil(pin.start_ms / dt - 1e-9)),
                s1=int(np.ceil(pin.stop_ms / dt - 1e-9)) if np.isfinite(pin.stop_ms) else 2**62))
        self._flatten_poisson()
        self.currents = []
        for ci in net.currents:
            ids = np.asarray(ci.node_ids, dtype=np.int64)
            gid = self.offsets[ci.target] + ids
            mine = np.nonzero(self.owner[gid] == rank)[0]
            amp = np.broadcast_to(np.asarray(ci.amplitude_pA, dtype=np.float64), ids.shape)[mine]
            self.currents.append(dict(
                slot=self.slot_of[gid[mine]], amp=amp.copy(), k0=int(steps_of(ci.start_ms, dt)),
                k1=int(steps_of(ci.stop_ms, dt)) if np.isfinite(ci.stop_ms) else 2**62))
        st, sg = [], []
        for tr in net.spike_trains:
            pop = net.population(tr.population)
            if not pop.is_virtual:
                raise ValueError(f"SpikeTrainInput {tr.name!r}: population {pop.name!r} "
                                 "is not virtual")
            q = steps_of(tr.times_ms, dt)
            if q.size and q.min() < 1:
                raise ValueError(f"SpikeTrainInput {tr.name!r}: spike times must be > 0")
            st.append(q)
            sg.append(self.offsets[tr.population] + np.asarray(tr.node_ids, dtype=np.int64))
        vs = np.concatenate(st) if st else np.zeros(0, np.int64)
        vg = np.concatenate(sg) if sg else np.zeros(0, np.int64)
        o = np.lexsort((vg, vs))
        self.v_stamp, self.v_gid = vs[o], vg[o]

    def _flatten_poisson(self) -> None:
        """All Poisson inputs as flat arrays for :func:`rng.poisson_add_nb` (inputs in order);
        inputs with at most 256 distinct means per rank draw through CDF tables."""
        ps = [p for p in self.poisson if p["gid"].size]
        self.pflat = None
        if not ps:
            return
        lam = np.concatenate([p["lam"] for p in ps])
        uniq, inv = np.unique(lam, return_inverse=True)
        if uniq.size <= 256:
            tables, tab_len, tab_chunks = rng.cdf_tables(uniq)
            tab = inv.astype(np.int64)
        else:
            tables, tab_len, tab_chunks = (np.zeros((1, 1)), np.ones(1, np.int64),
                                           np.ones(1, np.int64))
            tab = np.full(lam.size, -1, dtype=np.int64)
        i64 = np.int64
        ptr = np.concatenate(([0], np.cumsum([p["gid"].size for p in ps]))).astype(i64)
        seg_tab = np.full(len(ps), -1, dtype=i64)
        for m in range(len(ps)):
            t = tab[ptr[m]:ptr[m + 1]]
            if t[0] >= 0 and np.all(t == t[0]) and tab_chunks[t[0]] == 1:
                seg_tab[m] = t[0]
        self.pflat = (
            ptr, np.array([p["key"] for p in ps], dtype=np.uint64),
            np.array([p["d"] for p in ps], dtype=i64), np.array([p["s0"] for p in ps], dtype=i64),
            np.array([p["s1"] for p in ps], dtype=i64),
            np.array([p["rec"] for p in ps], dtype=i64),
            np.array([p["w"] for p in ps], dtype=np.float64), seg_tab,
            np.concatenate([p["gid"] for p in ps]).astype(i64),
            np.concatenate([p["slot"] for p in ps]).astype(i64), tab, lam,
            tables, tab_len, tab_chunks, np.empty(max(p["gid"].size for p in ps)))

    # ---- one step
    def step_fast(self, j: int, nspk: int) -> int:
        """Step ``j`` with the numba kernels: Poisson input into the ring slot, then every
        block; spiking slots/stamps are appended to ``out_slot``/``out_stamp`` from ``nspk``.
        Bit-identical to :meth:`syn_input` + the models' NumPy ``step``."""
        slot = j % self.L
        ring = self.ring
        if self.pflat is not None:
            rng.poisson_add_nb(self.seed_u64, j, *self.pflat, ring, slot)
        istim = self.stim(j) if self.currents else self.zero_stim
        if self.has_gap:
            istim = istim + self.gap_current()
        for blk in self.blocks:
            if blk.fast:
                nspk = blk.model.fast_step(blk.sf, blk.r, blk.ctab, blk.ci, blk.refr, ring, slot,
                                           blk.a, istim, self.out_slot, self.out_stamp, nspk,
                                           j + 1)
                continue
            for p in blk.pops:
                syn = ring[:, slot, p.a:p.b].copy()
                ring[:, slot, p.a:p.b] = 0.0
                idx = np.nonzero(p.model.step(p.state, p.consts, syn, istim[p.a:p.b]))[0]
                self.out_slot[nspk:nspk + idx.size] = p.a + idx
                self.out_stamp[nspk:nspk + idx.size] = j + 1
                nspk += idx.size
        return nspk

    def syn_input(self, k: int) -> np.ndarray:
        slot = k % self.L
        syn = self.ring[:, slot, :].copy()
        self.ring[:, slot, :] = 0.0
        for pin in self.poisson:
            s = k - pin["d"]
            if s < pin["s0"] or s >= pin["s1"] or s < 0 or pin["gid"].size == 0:
                continue
            cnt = rng.poisson(self.run.seed, pin["key"], s, pin["gid"], pin["lam"],
                              use_numba=self.use_numba)
            np.add.at(syn[pin["rec"]], pin["slot"], pin["w"] * cnt)
        return syn

    def stim(self, k: int) -> np.ndarray:
        i = np.zeros(self.n_local)
        for ci in self.currents:
            if ci["k0"] < k <= ci["k1"]:
                np.add.at(i, ci["slot"], ci["amp"])
        return i

    def deliver(self, stamp: np.ndarray, gid: np.ndarray) -> None:
        if self.has_plastic:
            pp, pl = self.p_par, self.pl
            deliver_nb(stamp, gid, self.indptr, self.s_tgt, self.s_pk, self.s_w,
                       self.s_w.view(np.int64), self.ring, self.L, self.hist, self.dt, pl["w"],
                       pl["w_pending"], self.p_sign, pl["kplus"], pl["t_last"], pl["kminus"],
                       pl["p_last"], pp["tau_p"], pp["tau_m"], pp["lam"], pp["alpha"],
                       pp["wmax"])
        elif self.use_numba:
            if gid.size:
                deliver_static_nb(stamp, gid, self.indptr, self.s_tgt, self.s_pk, self.s_w,
                                  self.ring, self.L)
        else:
            deliver_np(stamp, gid, self.indptr, self.s_tgt, self.s_pk, self.s_w, self.ring,
                       self.L)

    def flush(self, limit: int) -> None:
        if self.has_plastic:
            pp, pl = self.p_par, self.pl
            flush_nb(limit, self.pt_indptr, self.pt_syn, self.p_dly, self.hist, self.dt,
                     pl["w_pending"], pl["kplus"], pl["t_last"], pl["kminus"], pl["p_last"],
                     pp["tau_p"], pp["tau_m"], pp["lam"], pp["wmax"])

    # ---- checkpoint
    def gather_by_gid(self, values: np.ndarray, gids: np.ndarray, n: int, base: int):
        """Global array over node ids (first axis) from each rank's (gids, values)."""
        g = self.ctx.allgatherv(gids.astype(np.int64))
        shape = values.shape[1:]
        flat = values.reshape(values.shape[0], -1)
        vals = self.ctx.allgatherv(flat.astype(np.float64).ravel()).reshape(-1, flat.shape[1])
        out = np.zeros((n, *shape), dtype=np.float64)
        out.reshape(n, -1)[g - base] = vals
        return out

    def save(self, path: Path, step: int) -> None:
        arrays = {}
        for p in self.pops:
            gids = p.offset + p.local_ids
            for var, v in p.state.items():
                full = self.gather_by_gid(np.asarray(v, dtype=np.float64), gids, p.n, p.offset)
                arrays[f"state/{p.name}/{var}"] = full.astype(v.dtype)
            idx = (step + np.arange(self.L)) % self.L
            ring = self.ring[:, idx, p.a:p.b].transpose(2, 0, 1)  # (n_local, rec, L)
            arrays[f"ring/{p.name}"] = self.gather_by_gid(ring, gids, p.n, p.offset).transpose(1, 2, 0)
            arrays[f"hist/{p.name}"] = self.gather_by_gid(
                self.hist[p.a:p.b].astype(np.float64), gids, p.n, p.offset).astype(np.int64)
        for name, (base, n) in self.proj_plastic.items():
            m = (self.p_uid >= base) & (self.p_uid < base + n)
            for var, v in self.pl.items():
                full = self.gather_by_gid(np.asarray(v[m], dtype=np.float64), self.p_uid[m], n, base)
                arrays[f"plastic/{name}/{var}"] = full.astype(v.dtype)
        if self.ctx.rank == 0:
            ckpt.write(path, dict(step=int(step), time_ms=step * self.dt, dt_ms=self.dt,
                                  seed=int(self.run.seed), ring_len=self.L,
                                  min_delay_steps=self.dmin, hist_len=self.hist_len), arrays)
        if isinstance(self.ctx, _Mpi):
            self.ctx.comm.Barrier()

    def load(self, path: Path) -> int:
        attrs, arr = ckpt.read(path)
        # A checkpoint of a static network may be continued with plasticity switched on: the
        # plastic state then starts fresh (weights from the network, empty traces and no
        # post-synaptic spike history), i.e. STDP begins at the checkpoint's time.
        plasticity_starts = attrs["hist_len"] == 1 and not any(
            k.startswith("plastic/") for k in arr)
        hist_ok = attrs["hist_len"] == self.hist_len or plasticity_starts
        if abs(attrs["dt_ms"] - self.dt) > 1e-12 or attrs["ring_len"] != self.L \
                or not hist_ok:
            raise ValueError(f"checkpoint {path}: dt_ms/ring_len/hist_len "
                             f"({attrs['dt_ms']}, {attrs['ring_len']}, {attrs['hist_len']}) do not "
                             f"match this network and run ({self.dt}, {self.L}, {self.hist_len})")
        step = int(attrs["step"])
        for p in self.pops:
            for var in p.state:
                key = f"state/{p.name}/{var}"
                if key not in arr:
                    raise ValueError(f"checkpoint {path}: missing array {key!r}")
                p.state[var][...] = arr[key][p.local_ids]  # in place: views of the block
            idx = (step + np.arange(self.L)) % self.L
            self.ring[:, idx, p.a:p.b] = arr[f"ring/{p.name}"][:, :, p.local_ids]
            if not plasticity_starts:
                self.hist[p.a:p.b] = arr[f"hist/{p.name}"][p.local_ids]
        for name, (base, _n) in self.proj_plastic.items():
            if plasticity_starts:
                break
            m = np.nonzero((self.p_uid >= base) & (self.p_uid < base + _n))[0]
            for var in self.pl:
                self.pl[var][m] = arr[f"plastic/{name}/{var}"][self.p_uid[m] - base]
        return step


# ------------------------------------------------------------------------------ entry point
def simulate(network: Network, run: RunConfig, *, comm=None, checkpoint: Path | None = None,
             restore: Path | None = None, progress: bool = False,
             use_numba: bool = True) -> SimResult:
    """Simulate ``network`` up to ``run.tstop_ms`` (absolute; a restored run starts at the
    checkpoint's time). ``comm``: an mpi4py communicator, or None (COMM_WORLD when launched
    under MPI with more than one rank, else serial). ``checkpoint``: write the full state there
    at the end. ``restore``: start from that checkpoint (any number of ranks). ``use_numba``:
    False selects the plain-NumPy reference kernels (same results bit for bit; STDP and the
    RKF45 models run their numba code either way)."""
    ctx = _context(comm)
    try:
        return _simulate(network, run, ctx, checkpoint, restore, progress, use_numba)
    except Exception:
        if isinstance(ctx, _Mpi):
            sys.stderr.write(f"[rank {ctx.rank}] simulation failed:\n{traceback.format_exc()}")
            sys.stderr.flush()
            ctx.abort()
        raise


def _simulate(net, run, ctx, checkpoint, restore, progress, use_numba) -> SimResult:
    t0 = time.perf_counter()
    eng = _Engine(net, run, ctx, use_numba)
    dt = eng.dt
    k = eng.load(Path(restore)) if restore is not None else 0
    k_end = int(steps_of(run.tstop_ms, dt))
    if k_end < k:
        raise ValueError(f"tstop_ms={run.tstop_ms} is before the checkpoint's time {k * dt} ms")
    # recorders
    rec_names = run.record_spikes
    if rec_names is None:
        rec_names = [p.name for p in net.populations if not p.is_virtual]
    rec_gid = np.zeros(eng.n_total, dtype=bool)
    for nm in rec_names:
        p = net.population(nm)
        rec_gid[eng.offsets[nm]:eng.offsets[nm] + p.n] = True
    rec_all = bool(rec_gid.all())
    pop_by_name = {p.name: p for p in eng.pops}
    srec = []
    for r in run.state_recorders:
        if r.population not in pop_by_name:
            raise ValueError(f"StateRecorder: no simulated population {r.population!r}")
        p = pop_by_name[r.population]
        for v in r.variables:
            if v not in p.model.recordables:
                raise ValueError(f"StateRecorder: model {p.model.name!r} records "
                                 f"{list(p.model.recordables)}, not {v!r}")
        ids = np.asarray(r.node_ids, dtype=np.int64)
        gidr = p.offset + ids
        mine = np.nonzero(eng.owner[gidr] == ctx.rank)[0]
        loc = eng.slot_of[gidr[mine]] - p.a
        iv = max(1, int(steps_of(r.interval_ms, dt)))
        srec.append(dict(r=r, p=p, mine=mine, loc=loc, iv=iv, times=[],
                         vals={v: [] for v in r.variables}))

    def sample(stamp):
        for s in srec:
            if stamp % s["iv"] == 0:
                s["times"].append(stamp)
                for v in s["r"].variables:
                    s["vals"][v].append(s["p"].model.record(s["p"].state, s["p"].consts, v)[s["loc"]])

    spk_s, spk_g = [], []
    wall_build = time.perf_counter() - t0
    t1 = time.perf_counter()
    bar = None
    if progress and ctx.rank == 0:
        try:
            from tqdm import tqdm

            bar = tqdm(total=round((k_end - k) * dt, 6), unit="ms", desc="simulate")
        except ImportError:  # pragma: no cover
            bar = None
    if 0 < k < k_end:
        sample(k)
    vptr = np.searchsorted(eng.v_stamp, k, side="right")
    blk0 = eng.blocks[0] if len(eng.blocks) == 1 else None
    one_block = (FUSED_LOOP and use_numba and blk0 is not None and blk0.fast
                 and blk0.model.nb_kernel_id is not None and not eng.currents and not srec
                 and not eng.has_plastic and not eng.has_gap)
    if one_block and not eng.v_stamp.size and (
            (ctx.size == 1 and eng.slots_ascend) or ctx.in_numba_exchange):
        k = _fused(eng, ctx, blk0, k, k_end, spk_s, spk_g, None if rec_all else rec_gid, bar,
                   dt)
    advance = _advance_nb if one_block else None
    pflat = _pflat(eng) if one_block else None
    while k < k_end:
        k1 = min(k + eng.dmin, k_end)
        if advance is not None:
            nspk = advance(blk0.model.nb_kernel_id, k, k1, eng.L, eng.seed_u64, pflat, blk0.sf,
                           blk0.r, blk0.ctab, blk0.ci, blk0.refr, blk0.a, eng.zero_stim, eng.ring,
                           eng.out_slot, eng.out_stamp)
            ls = eng.out_stamp[:nspk].copy()
            lg = eng.gid_of_slot[eng.out_slot[:nspk]]
        elif use_numba:
            nspk = 0
            for j in range(k, k1):
                n0 = nspk
                nspk = eng.step_fast(j, nspk)
                if eng.has_plastic and nspk > n0:
                    sl = eng.out_slot[n0:nspk]
                    eng.hist[sl, :-1] = eng.hist[sl, 1:]
                    eng.hist[sl, -1] = j + 1
                if srec and j + 1 < k_end:
                    sample(j + 1)
            ls = eng.out_stamp[:nspk].copy()
            lg = eng.gid_of_slot[eng.out_slot[:nspk]]
        else:
            ls, lg = _slice_numpy(eng, k, k1, k_end, sample)
        # spikes of one rank come in (stamp, slot) order, which is (stamp, gid) order when
        # slots ascend with gids; otherwise (or with several ranks / virtual spikes) sort
        in_order = use_numba and eng.slots_ascend
        if ctx.size > 1:  # all ranks' (stamp, gid) pairs
            gs, gg = ctx.exchange_spikes(ls, lg)
            in_order = False
        else:
            gs, gg = ls, lg
        if eng.v_stamp.size:
            vend = np.searchsorted(eng.v_stamp, k1, side="right")
            if vend > vptr:
                gs = np.concatenate((gs, eng.v_stamp[vptr:vend]))
                gg = np.concatenate((gg, eng.v_gid[vptr:vend]))
                in_order = False
            vptr = vend
        if not in_order and gs.size > 1:
            o = np.lexsort((gg, gs))
            gs, gg = np.ascontiguousarray(gs[o]), np.ascontiguousarray(gg[o])
        eng.deliver(gs, gg)
        eng.flush(k1)
        if gs.size:
            if rec_all:
                spk_s.append(gs)
                spk_g.append(gg)
            else:
                keep = rec_gid[gg]
                spk_s.append(gs[keep])
                spk_g.append(gg[keep])
        if bar is not None:
            bar.update(round((k1 - k) * dt, 6))
        k = k1
    if bar is not None:
        bar.close()
    wall_sim = time.perf_counter() - t1
    if checkpoint is not None:
        eng.save(Path(checkpoint), k)
    wall = {"build": wall_build, "simulate": wall_sim}
    if eng.has_gap:
        wall["gap_exchange"] = eng.gap_wall_s
    return _result(net, eng, ctx, rec_names, spk_s, spk_g, srec, k_end, dt, wall)


def _pflat(eng) -> tuple:
    """The engine's flat Poisson arrays, or an empty set of inputs of the same types."""
    if eng.pflat is not None:
        return eng.pflat
    z, zf = np.zeros(1, np.int64), np.zeros(1)
    return (z, np.zeros(0, np.uint64), z, z, z, z, zf, z, z, z, z, zf, np.zeros((1, 1)), z, z, zf)


def _fused(eng, ctx, blk, k: int, k_end: int, spk_s: list, spk_g: list, rec_gid, bar,
           dt) -> int:
    """Run steps ``[k, k_end)`` in the numba slice loop (one block, Poisson input only; on
    several ranks with the spike exchange inside numba); spikes of all ranks are appended to
    ``spk_s``/``spk_g``. Returns ``k_end``."""
    pflat = _pflat(eng)
    # spikes of one slice, at most: this rank's (out_slot) or, gathered, every rank's
    slice_max = eng.n_total * eng.dmin if ctx.size > 1 else eng.out_slot.size
    cap = max(4 * slice_max, 1 << 16)
    sp_stamp, sp_gid = np.empty(cap, np.int64), np.empty(cap, np.int64)
    gbuf = np.empty(eng.out_slot.size, np.int64)
    if ctx.size > 1:
        sbuf = np.empty(1 + 2 * SPIKE_BLOCK, np.int64)
        extra = (sbuf, np.empty(ctx.size * sbuf.size, np.int64), eng.n_total, slice_max,
                 *ctx.nb_handles)
        drive = _drive_mpi_nb
    else:
        extra = ()
        drive = _drive_nb
    chunk = max(eng.dmin, int(round(100.0 / dt)))  # progress every 100 ms
    while k < k_end:
        k0 = k
        k, n = drive(blk.model.nb_kernel_id, k, min(k + chunk, k_end), eng.dmin, eng.L,
                     eng.seed_u64, pflat, blk.sf, blk.r, blk.ctab, blk.ci, blk.refr, blk.a,
                     eng.zero_stim, eng.ring, eng.indptr, eng.s_tgt, eng.s_pk, eng.s_w,
                     eng.gid_of_slot, eng.out_slot, eng.out_stamp, gbuf, sp_stamp, sp_gid,
                     *extra)
        if k == k0:  # cannot happen with the buffers sized above; never spin silently
            raise RuntimeError(f"fused slice loop made no progress at step {k}")
        if n:
            gs, gg = sp_stamp[:n].copy(), sp_gid[:n].copy()
            keep = slice(None) if rec_gid is None else rec_gid[gg]
            spk_s.append(gs[keep])
            spk_g.append(gg[keep])
        if bar is not None:
            bar.update(round((k - k0) * dt, 6))
    return k


def _slice_numpy(eng, k: int, k1: int, k_end: int, sample):
    """Steps ``[k, k1)`` with the NumPy reference kernels: (stamps, gids) of the spikes."""
    loc_s, loc_g = [], []
    for j in range(k, k1):
        syn = eng.syn_input(j)
        istim = eng.stim(j) if eng.currents else None
        if eng.has_gap:
            i_gap = eng.gap_current()
            istim = i_gap if istim is None else istim + i_gap
        for p in eng.pops:
            if p.b == p.a:
                continue
            spk = p.model.step(p.state, p.consts, syn[:, p.a:p.b],
                               istim[p.a:p.b] if istim is not None else 0.0)
            idx = np.nonzero(spk)[0]
            if idx.size:
                loc_s.append(np.full(idx.size, j + 1, dtype=np.int64))
                loc_g.append(p.offset + p.local_ids[idx])
                if eng.has_plastic:
                    sl = p.a + idx
                    eng.hist[sl, :-1] = eng.hist[sl, 1:]
                    eng.hist[sl, -1] = j + 1
        if j + 1 < k_end:
            sample(j + 1)
    ls = np.concatenate(loc_s) if loc_s else np.zeros(0, np.int64)
    lg = np.concatenate(loc_g) if loc_g else np.zeros(0, np.int64)
    return ls, lg


def _result(net, eng, ctx, rec_names, spk_s, spk_g, srec, k_end, dt, wall) -> SimResult:
    res = SimResult(wall_s=wall)
    s = np.concatenate(spk_s) if spk_s else np.zeros(0, np.int64)
    g = np.concatenate(spk_g) if spk_g else np.zeros(0, np.int64)
    for nm in rec_names:
        off, n = eng.offsets[nm], net.population(nm).n
        m = (g >= off) & (g < off + n)
        res.spikes[nm] = (np.round(s[m] * dt, 9), (g[m] - off).astype(np.int64))
    for rd in srec:
        r = rd["r"]
        ids = np.asarray(r.node_ids, dtype=np.int64)
        times = np.round(np.asarray(rd["times"], dtype=np.int64) * dt, 9)
        out = res.state.setdefault(r.population, {})
        for v in r.variables:
            loc_vals = (np.array(rd["vals"][v]) if rd["vals"][v]
                        else np.zeros((len(times), rd["mine"].size)))
            loc_vals = loc_vals.reshape(len(times), rd["mine"].size)
            allv = np.zeros((len(times), ids.size))
            if ctx.size > 1:
                cols = ctx.allgatherv(rd["mine"].astype(np.int64))
                vals = ctx.allgatherv(np.ascontiguousarray(loc_vals.T).ravel())
                allv[:, cols] = vals.reshape(cols.size, len(times)).T
            else:
                allv[:, rd["mine"]] = loc_vals
            out[v] = (times, ids, allv)
    for name, (base, n) in eng.proj_plastic.items():
        m = (eng.p_uid >= base) & (eng.p_uid < base + n)
        w = eng.gather_by_gid((eng.p_sign * eng.pl["w"])[m], eng.p_uid[m], n, base)
        res.weights[name] = w
    return res
