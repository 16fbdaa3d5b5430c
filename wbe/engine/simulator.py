"""The simulation loop: round-robin decomposition, min-delay slices, one spike exchange per
slice, delay ring buffers per receptor, counter-based random input, Zarr checkpoints.

* Decomposition: rank r owns the gids with ``gid % size == r``; a synapse lives on its
  target's rank, in a CSR table by source gid (sorted by source gid, then global edge id).
* Time: step k integrates [k·dt, (k+1)·dt); a spike in step k has stamp k+1 (time (k+1)·dt)
  and acts in step k + delay_steps (NEST's convention: a spike at t acts at t + delay).
  Steps advance in slices of the minimum delay; after each slice every rank gathers the
  spiking gids and stamps of all ranks (one Allgatherv) and delivers them in (stamp, gid) order.
* Inputs: ``PoissonInput`` counts are Poisson(rate·dt) drawn by a hash of
  (seed, input name, generation step, gid) (:mod:`wbe.engine.rng`): a generation step s acts in
  step s + delay_steps and is active when start_ms <= s·dt < stop_ms. ``CurrentInput`` is
  applied in integration step k when start < k·dt <= stop (NEST ``dc_generator`` connected with
  delay dt). ``SpikeTrainInput`` spikes of virtual gids are known to every rank.
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

import numpy as np

from . import checkpoint as ckpt
from . import rng
from .models import NeuronModel, get_model, steps_of
from .network import Network, RunConfig
from .plasticity import deliver_nb, deliver_np, flush_nb

N_REC = 2  # receptor ring buffers per neuron (ex, in); single-receptor models use row 0


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

    def allgatherv(self, a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a)

    def abort(self) -> None:  # pragma: no cover - serial errors just propagate
        pass


class _Mpi:
    def __init__(self, comm) -> None:
        from mpi4py import MPI

        self.MPI, self.comm = MPI, comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()

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


# ------------------------------------------------------------------------------ build
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


class _Engine:
    def __init__(self, net: Network, run: RunConfig, ctx, use_numba: bool) -> None:
        self.net, self.run, self.ctx, self.use_numba = net, run, ctx, use_numba
        self.dt = float(run.dt_ms)
        self.offsets = net.offsets()
        self.n_total = net.n_total
        rank, size = ctx.rank, ctx.size
        # ---- neurons
        self.pops: list[_Pop] = []
        self.slot_of = np.full(self.n_total, -1, dtype=np.int64)  # gid -> local slot
        a = 0
        names = set()
        for p in net.populations:
            if p.name in names:
                raise ValueError(f"population name {p.name!r} appears twice")
            names.add(p.name)
            if p.is_virtual:
                continue
            model = get_model(p.model)
            off = self.offsets[p.name]
            local = np.arange((rank - off) % size, p.n, size, dtype=np.int64)
            prm = model.params(p.params, p.n, local)
            pop = _Pop(p.name, model, off, p.n, local, a, a + local.size, prm,
                       model.constants(prm, self.dt), model.init_state(prm))
            self.slot_of[off + local] = np.arange(a, a + local.size)
            self.pops.append(pop)
            a += local.size
        self.n_local = a
        self.is_virtual_gid = np.zeros(self.n_total, dtype=bool)
        for p in net.populations:
            if p.is_virtual:
                self.is_virtual_gid[self.offsets[p.name]:self.offsets[p.name] + p.n] = True
        self.model_of_slot = np.empty(self.n_local, dtype=object)
        self._build_synapses()
        self._build_inputs()

    # ---- synapses
    def _build_synapses(self) -> None:
        net, dt, size, rank = self.net, self.dt, self.ctx.size, self.ctx.rank
        pop_by_name = {p.name: p for p in net.populations}
        src, tgt, rec, dly, w, uid = [], [], [], [], [], []
        dmin, dmax = None, 0
        edge_base = 0
        self.proj_plastic = {}
        for pr in net.projections:
            if pr.kind != "chemical":
                raise NotImplementedError(f"projection {pr.name!r}: kind {pr.kind!r} "
                                          "(gap junctions) is not implemented by the engine")
            if pr.source not in pop_by_name or pr.target not in pop_by_name:
                raise ValueError(f"projection {pr.name!r}: unknown source/target population")
            tpop = pop_by_name[pr.target]
            if tpop.is_virtual:
                raise ValueError(f"projection {pr.name!r} targets virtual population {tpop.name!r}")
            ds = steps_of(pr.delay_ms, dt)
            ds = np.broadcast_to(ds, (len(pr),))
            if len(pr):
                if ds.min() < 1:
                    raise ValueError(f"projection {pr.name!r}: delays must be >= dt={dt} ms")
                dmin = int(ds.min()) if dmin is None else min(dmin, int(ds.min()))
                dmax = max(dmax, int(ds.max()))
            tg = self.offsets[pr.target] + np.asarray(pr.target_ids, dtype=np.int64)
            sg = self.offsets[pr.source] + np.asarray(pr.source_ids, dtype=np.int64)
            mine = np.nonzero(tg % size == rank)[0]
            wt = np.broadcast_to(np.asarray(pr.weight, dtype=np.float64), (len(pr),))
            model = get_model(tpop.model)
            src.append(sg[mine])
            tgt.append(self.slot_of[tg[mine]])
            rec.append(model.receptor(wt[mine]))
            dly.append(ds[mine])
            w.append(wt[mine])
            uid.append(edge_base + mine)
            if pr.stdp is not None:
                self.proj_plastic[pr.name] = (edge_base, len(pr))
            edge_base += len(pr)
        self.n_edges = edge_base

        def cat(xs, dt_):
            return np.concatenate(xs).astype(dt_) if xs else np.zeros(0, dt_)

        src, tgt, rec = cat(src, np.int64), cat(tgt, np.int64), cat(rec, np.int64)
        dly, w, uid = cat(dly, np.int64), cat(w, np.float64), cat(uid, np.int64)
        order = np.lexsort((uid, src))
        self.s_tgt, self.s_rec, self.s_dly = tgt[order], rec[order], dly[order]
        self.s_w, self.s_uid = w[order], uid[order]
        self.indptr = np.zeros(self.n_total + 1, dtype=np.int64)
        np.cumsum(np.bincount(src, minlength=self.n_total), out=self.indptr[1:])
        self.dmin = dmin if dmin is not None else max(1, int(steps_of(1.0, dt)))
        self.dmax = max(dmax, self.dmin)
        self.L = self.dmax + self.dmin + 1
        self.ring = np.zeros((N_REC, self.L, self.n_local))
        # ---- plastic synapses
        self.pidx = np.full(self.s_uid.size, -1, dtype=np.int64)
        plastic_mask = np.zeros(self.s_uid.size, dtype=bool)
        stdp_of = {}
        for pr in net.projections:
            if pr.stdp is not None:
                b, n = self.proj_plastic[pr.name]
                m = (self.s_uid >= b) & (self.s_uid < b + n)
                plastic_mask |= m
                stdp_of[pr.name] = (m, pr.stdp)
        pj = np.nonzero(plastic_mask)[0]
        self.pidx[pj] = np.arange(pj.size)
        npl = pj.size
        self.p_uid = self.s_uid[pj]
        self.p_tgt = self.s_tgt[pj]
        self.p_dly = self.s_dly[pj]
        w0 = self.s_w[pj]
        self.p_sign = np.where(w0 < 0, -1.0, 1.0)
        self.pl = {"w": np.abs(w0), "w_pending": np.abs(w0), "kplus": np.zeros(npl),
                   "t_last": np.zeros(npl, dtype=np.int64), "kminus": np.zeros(npl),
                   "p_last": np.full(npl, -1, dtype=np.int64)}
        self.p_par = {k: np.zeros(npl) for k in ("tau_p", "tau_m", "lam", "alpha", "wmax")}
        for _nm, (m, st) in stdp_of.items():
            sel = self.pidx[np.nonzero(m)[0]]
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

    # ---- stimuli
    def _build_inputs(self) -> None:
        net, dt, size, rank = self.net, self.dt, self.ctx.size, self.ctx.rank
        self.poisson = []
        for pin in net.poisson:
            pop = net.population(pin.target)
            model = get_model(pop.model)
            ids = np.asarray(pin.node_ids, dtype=np.int64)
            gid = self.offsets[pin.target] + ids
            mine = np.nonzero(gid % size == rank)[0]
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
        self.currents = []
        for ci in net.currents:
            ids = np.asarray(ci.node_ids, dtype=np.int64)
            gid = self.offsets[ci.target] + ids
            mine = np.nonzero(gid % size == rank)[0]
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

    # ---- one step
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
        if self.use_numba or self.has_plastic:
            pp, pl = self.p_par, self.pl
            deliver_nb(stamp, gid, self.indptr, self.s_tgt, self.s_rec, self.s_dly, self.s_w,
                       self.pidx, self.ring, self.L, self.hist, self.dt, pl["w"],
                       pl["w_pending"], self.p_sign, pl["kplus"], pl["t_last"], pl["kminus"],
                       pl["p_last"], pp["tau_p"], pp["tau_m"], pp["lam"], pp["alpha"],
                       pp["wmax"])
        else:
            deliver_np(stamp, gid, self.indptr, self.s_tgt, self.s_rec, self.s_dly, self.s_w,
                       self.ring, self.L)

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
                p.state[var] = arr[key][p.local_ids].astype(p.state[var].dtype)
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
    False selects the plain-NumPy reference kernels (same results bit for bit; no STDP)."""
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
        mine = np.nonzero(gidr % ctx.size == ctx.rank)[0]
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
    while k < k_end:
        k1 = min(k + eng.dmin, k_end)
        loc_s, loc_g = [], []
        for j in range(k, k1):
            syn = eng.syn_input(j)
            istim = eng.stim(j) if eng.currents else None
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
        if ctx.size > 1:  # one Allgatherv of (stamp, gid) pairs
            pairs = ctx.allgatherv(np.column_stack((ls, lg)).ravel()).reshape(-1, 2)
            gs, gg = pairs[:, 0].copy(), pairs[:, 1].copy()
        else:
            gs, gg = ls, lg
        vend = np.searchsorted(eng.v_stamp, k1, side="right")
        if vend > vptr:
            gs = np.concatenate((gs, eng.v_stamp[vptr:vend]))
            gg = np.concatenate((gg, eng.v_gid[vptr:vend]))
        vptr = vend
        o = np.lexsort((gg, gs))
        gs, gg = np.ascontiguousarray(gs[o]), np.ascontiguousarray(gg[o])
        eng.deliver(gs, gg)
        eng.flush(k1)
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
    return _result(net, eng, ctx, rec_names, spk_s, spk_g, srec, k_end, dt,
                   {"build": wall_build, "simulate": wall_sim})


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
