"""Full-scale PD14 (77,169 neurons, ≈3·10⁸ synapses) on this machine: does it fit, how fast,
and what rates after a short run? Issue 3's memory check (≤ 16 B per synapse).

    .venv/bin/python benchmarks/pd14_full_scale.py --t-sim-ms 300 --t-warmup-ms 100 \
        --out benchmarks/results/pd14_1.0_1c_short.json

Reports: generator time, engine build time, peak RSS (network description + engine),
wall s per simulated s, and per-population mean rates after the warm-up next to the full-scale
reference rates (Potjans & Diesmann 2014 / ANCHORS.md). Spike counts are tallied in-process.
"""

from __future__ import annotations

import argparse
import datetime
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np

REFERENCE_HZ = {"L23E": 0.903, "L23I": 2.965, "L4E": 4.414, "L4I": 5.876, "L5E": 7.569,
                "L5I": 8.633, "L6E": 1.105, "L6I": 7.829}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main() -> None:
    repo = str(Path(__file__).resolve().parents[1])
    if repo not in sys.path:  # run as a script: benchmarks/ is on the path, not the repo
        sys.path.insert(0, repo)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--t-sim-ms", type=float, default=300.0)
    ap.add_argument("--t-warmup-ms", type=float, default=100.0)
    ap.add_argument("--seed", type=int, default=55)
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()

    from benchmarks.audit import git_state
    from wbe.engine.simulator import simulate
    from wbe.networks.generators import pd14

    git = git_state()

    t0 = time.perf_counter()
    net, run = pd14(scale=args.scale, seed=args.seed, tstop_ms=args.t_warmup_ms + args.t_sim_ms)
    gen_s = time.perf_counter() - t0
    n_syn = sum(len(p) for p in net.projections)
    rss_after_gen = peak_rss_mib()
    result = simulate(net, run)
    t_lo, t_hi = args.t_warmup_ms, args.t_warmup_ms + args.t_sim_ms
    rates = {}
    for pop in net.populations:
        if pop.is_virtual or pop.name not in result.spikes:
            continue
        t, _ = result.spikes[pop.name]
        n = int(np.count_nonzero((t > t_lo) & (t <= t_hi)))
        rates[pop.name] = n / pop.n / (args.t_sim_ms / 1000.0)
    total_ms = t_hi
    record = {
        "model": "pd14", "scale": args.scale, "seed": args.seed,
        "git": git, "git_end": git_state(),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "neurons": int(sum(p.n for p in net.populations if not p.is_virtual)),
        "synapses": int(n_syn),
        "generator_s": gen_s,
        "build_s": result.wall_s.get("build"),
        "simulate_s": result.wall_s.get("simulate"),
        "sim_s_per_sim_s": result.wall_s.get("simulate") / (total_ms / 1000.0),
        "t_warmup_ms": args.t_warmup_ms, "t_sim_ms": args.t_sim_ms,
        "peak_rss_mib": peak_rss_mib(),
        "peak_rss_after_generator_mib": rss_after_gen,
        "network_arrays_bytes_per_synapse": sum(
            p.source_ids.nbytes + p.target_ids.nbytes + np.asarray(p.weight).nbytes
            + np.asarray(p.delay_ms).nbytes for p in net.projections) / n_syn,
        "rates_hz": rates,
        "reference_rates_hz": REFERENCE_HZ,
        "rate_ratio": {k: rates[k] / REFERENCE_HZ[k] for k in rates if k in REFERENCE_HZ},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2))
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
