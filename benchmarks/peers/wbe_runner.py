"""wbe runner: :func:`wbe.engine.simulator.simulate` on the generated Network, timed.

``python -m benchmarks.peers.wbe_runner --model pd14 --scale 0.1 --out x.json`` (1 core) or
``mpiexec -n 2 python -m mpi4py -m benchmarks.peers.wbe_runner --cores 2 ...`` (2 ranks).

Warm-up and measurement are two ``simulate`` calls joined by the engine's checkpoint: the first
runs ``[0, t_warmup)`` and writes a checkpoint (its ``wall_s["build"]`` is ``build_s``; its
``wall_s["simulate"]`` includes numba's JIT compilation and is the excluded warm-up), the second
restores it and runs ``[t_warmup, t_warmup + t_sim)``: its ``wall_s["simulate"]`` is exactly the
state propagation of the measured interval (``sim_wall_s``; the slowest rank's) and
``wall_s["simulate_cpu"]`` its CPU seconds (``sim_cpu_s``, summed over ranks). The engine
guarantees a restored run equals an uninterrupted one bit for bit. ``--single-call`` instead
runs one call over the whole interval and reports simulate / total simulated time (warm-up and
JIT included; for engines without checkpoints).

Memory: every rank holds the generated Network; ``peak`` is the sum over ranks of each rank's
peak RSS after the Network exists; ``B_per_syn.conn`` is the engine's synapse arrays (``nbytes`` of a
separately built engine, summed over ranks) per synapse: see :func:`conn_nbytes`.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np

from benchmarks import common


def conn_nbytes(engine) -> dict[str, int]:
    """``nbytes`` of the engine's connectivity arrays on this rank (synapse table and plastic
    synapse state: :meth:`wbe.engine.connectivity.Connectivity.nbytes`)."""
    return engine.conn.nbytes()


def main() -> None:
    args = common.runner_args(__doc__.splitlines()[0])
    single_call = args.single_call
    comm = None
    rank, size = 0, 1
    if args.cores > 1:
        from mpi4py import MPI

        comm = MPI.COMM_WORLD
        rank, size = comm.Get_rank(), comm.Get_size()
        if size != args.cores:
            raise SystemExit(f"--cores {args.cores} but {size} MPI ranks: start with "
                             f"mpiexec -n {args.cores}")
    import wbe
    from wbe.engine import simulator
    from wbe.engine.context import context
    from wbe.engine.network import RunConfig

    rec = common.new_record("wbe", args)
    rec["version"] = getattr(wbe, "__version__", None)
    rec["ranks"] = size
    net, run, t_total, rss_base, rss_model, maxrss_generate, hwm_reset = (
        common.generate_network(args, rec))

    def gather(x):
        return comm.allgather(x) if comm is not None else [x]

    run_all = RunConfig(tstop_ms=t_total, dt_ms=run.dt_ms, seed=run.seed)
    if single_call:
        res = simulator.simulate(net, run_all, comm=comm)
        build_s = max(gather(res.wall_s["build"]))
        sim_s = max(gather(res.wall_s["simulate"]))
        rec["build_detail_s"] = {"engine_build": build_s}
        rec["warmup_wall_s"] = None
        rec["sim_wall_s"] = sim_s * args.t_sim_ms / t_total
        rec["notes"].append("single call: sim_wall_s = whole-run simulate time scaled to "
                            "t_sim (warm-up and JIT included)")
    else:
        tmp = tempfile.mkdtemp(prefix="wbe-bench-") if rank == 0 else None
        if comm is not None:
            tmp = comm.bcast(tmp, root=0)
        ckpt = Path(tmp) / "warmup.zarr"
        run_w = RunConfig(tstop_ms=args.t_warmup_ms, dt_ms=run.dt_ms, seed=run.seed,
                          record_spikes=[])
        with common.Timer() as tc:
            res_w = simulator.simulate(net, run_w, comm=comm, checkpoint=ckpt)
        res = simulator.simulate(net, run_all, comm=comm, restore=ckpt)
        if comm is not None:
            comm.Barrier()
        if rank == 0:
            shutil.rmtree(tmp, ignore_errors=True)
        build_s = max(gather(res_w.wall_s["build"]))
        rec["build_detail_s"] = {
            "engine_build": build_s,
            "restore_build_and_load": max(gather(res.wall_s["build"])),
            "checkpoint_write": max(gather(tc.s - sum(res_w.wall_s.values()))),
        }
        rec["warmup_wall_s"] = max(gather(res_w.wall_s["simulate"]))
        rec["sim_wall_s"] = max(gather(res.wall_s["simulate"]))
        rec["sim_cpu_s"] = sum(gather(res.wall_s["simulate_cpu"]))
        rec["notes"].append("warm-up (incl. numba JIT) in a first call that writes a "
                            "checkpoint; sim_wall_s = restored call's simulate time")
    rec["build_s"] = build_s
    rec["sim_s_per_sim_s"] = rec["sim_wall_s"] / (args.t_sim_ms / 1000.0)
    peak_ranks = gather(common.hwm_mib() if hwm_reset else common.maxrss_mib())
    sizes = {p.name: p.n for p in net.populations if p.simulated}
    rec["rates_hz"] = common.rates_hz(res.spikes, sizes, args.t_warmup_ms, t_total)
    rec["spike_counts"] = common.spike_counts(res.spikes, sizes, args.t_warmup_ms, t_total)
    rec["n_spikes_measured"] = int(sum(np.count_nonzero(np.asarray(s[0]) >= args.t_warmup_ms)
                                       for s in res.spikes.values()))
    # final weights of the plastic projections (the local part on each rank, gathered)
    parts = gather({k: np.asarray(w) for k, w in res.weights.items()})
    rec["plastic_weights"] = {k: common.weight_summary(np.concatenate([p[k] for p in parts]))
                              for k in parts[0]}
    del res
    # the engine's own connectivity arrays (an extra, untimed build after the peak is read)
    conn = {}
    try:
        eng = simulator.Engine(net, run_all, context(comm), True)
        conn = conn_nbytes(eng)
        del eng
    except Exception as exc:  # private API: report, do not fail the benchmark
        rec["notes"].append(f"engine connectivity not measured: {exc!r}")
    conn_all = gather(conn)
    n_syn = rec["n_synapses"]
    rss_model_all, rss_base_all = gather(rss_model), gather(rss_base)
    rec["rss_MiB"] = {"baseline": sum(rss_base_all), "after_model": sum(rss_model_all),
                      "peak": sum(peak_ranks), "peak_per_rank": peak_ranks,
                      "peak_generate": sum(gather(maxrss_generate)), "hwm_reset": hwm_reset}
    rec["B_per_syn"] = {
        "rss_sim": (sum(peak_ranks) - sum(rss_model_all)) * 2**20 / n_syn,
        "rss_total": (sum(peak_ranks) - sum(rss_base_all)) * 2**20 / n_syn,
    }
    if conn:
        tot = {k: sum(c.get(k, 0) for c in conn_all) for k in conn}
        rec["conn_bytes"] = tot
        rec["B_per_syn"]["conn"] = sum(tot.values()) / n_syn
    if rank == 0:
        common.write_json(args.out, rec)


if __name__ == "__main__":
    main()
