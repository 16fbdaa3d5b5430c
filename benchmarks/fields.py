"""The neuromodulator field solver (wbe.engine.fields) vs NEURON's rxd extracellular diffusion.

    python benchmarks/fields.py --n 128 --repeats 3 --out benchmarks/results/field_128_1c.json

The same problem in both: a cubic grid of ``--n``³ voxels of 1 µm, an instantaneous release of
1000 µM·µm³ into the centre voxel, diffusion D = 0.24 µm²/ms (dopamine in tissue), first-order
uptake k = 0.001/ms, no-flux walls, steps of ``--dt-ms`` for ``--t-sim-ms``. wbe:
``ReactionDiffusion`` (7-point Laplacian, exact in time through the cosine transform, one
thread); NEURON: ``rxd.Extracellular`` (volume fraction 1, tortuosity 1) with an ``rxd.Rate``
for the uptake, ``fadvance`` at fixed dt (NEURON's implicit step). Each record: wall time of the
run, time per step, and the largest relative error against the analytic spread of the release
(a decaying Gaussian) within two widths of the centre at the end — so speed is compared at the
accuracy each reaches. Runs interleaved in their own processes under the audit rule.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from benchmarks import audit  # noqa: E402
from benchmarks.invocation import (  # noqa: E402
    add_runner_arguments,
    base_record,
    invoke,
    medians,
    simulators,
)

SIMS = ("wbe", "neuron")
D, K, AMOUNT, H = 0.24, 1e-3, 1000.0, 1.0


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[1:]))
    ap.add_argument("--n", type=int, default=128, help="voxels per axis")
    ap.add_argument("--dt-ms", type=float, default=1.0)
    ap.add_argument("--t-sim-ms", type=float, default=200.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--simulators", default="wbe,neuron")
    ap.add_argument("--out", type=Path, default=None,
                    help="default benchmarks/results/field_<n>_1c.json")
    add_runner_arguments(ap, SIMS)
    return ap.parse_args(argv)


def error_vs_analytic(c: np.ndarray, t_ms: float) -> float:
    """Largest relative error along +x within two widths of the release."""
    from wbe.engine.fields.diffusion import point_release

    n0 = c.shape[0] // 2
    sigma = np.sqrt(2 * D * t_ms)
    r = np.arange(0, min(int(2 * sigma), c.shape[0] - 1 - n0) + 1)
    want = point_release(r * H, t_ms, AMOUNT, D, K)
    return float(np.max(np.abs(c[n0 + r, n0, n0] / want - 1.0)))


def run_wbe(a, rec: dict) -> None:
    from wbe.engine.fields.diffusion import Grid, ReactionDiffusion

    t0 = time.perf_counter()
    rd = ReactionDiffusion(Grid((a.n,) * 3, H), D, a.dt_ms, k_per_ms=K)
    c = rd.zeros()
    n0 = a.n // 2
    rd.release(c, np.array([[n0 * H] * 3]), np.array([AMOUNT]))
    rec["build_s"] = time.perf_counter() - t0
    steps = int(round(a.t_sim_ms / a.dt_ms))
    t0 = time.perf_counter()
    for _ in range(steps):
        c = rd.step(c)
    rec["sim_wall_s"] = time.perf_counter() - t0
    rec["steps"] = steps
    rec["max_rel_error"] = error_vs_analytic(c, a.t_sim_ms)
    rec["amount_ratio"] = float(c.sum() * H ** 3 / (AMOUNT * np.exp(-K * a.t_sim_ms)))


def run_neuron(a, rec: dict) -> None:
    from neuron import h, rxd

    t0 = time.perf_counter()
    h.load_file("stdrun.hoc")
    ecs = rxd.Extracellular(0, 0, 0, a.n * H, a.n * H, a.n * H, dx=H, volume_fraction=1.0,
                            tortuosity=1.0)
    x = rxd.Species(ecs, name="da", d=D, initial=0.0)
    uptake = rxd.Rate(x, -K * x)  # noqa: F841 (kept alive for the run)
    h.dt = a.dt_ms
    h.finitialize()
    n0 = a.n // 2
    x[ecs].states3d[n0, n0, n0] = AMOUNT / H ** 3
    rec["build_s"] = time.perf_counter() - t0
    steps = int(round(a.t_sim_ms / a.dt_ms))
    t0 = time.perf_counter()
    for _ in range(steps):
        h.fadvance()
    rec["sim_wall_s"] = time.perf_counter() - t0
    c = np.array(x[ecs].states3d)
    rec["steps"] = steps
    rec["max_rel_error"] = error_vs_analytic(c, a.t_sim_ms)
    rec["amount_ratio"] = float(c.sum() * H ** 3 / (AMOUNT * np.exp(-K * a.t_sim_ms)))
    rec["version"] = h.nrnversion(5)


def runner_main(a) -> None:
    rec = base_record(a, a.runner, model="field_release", scale=a.n, cores=1, seed=0,
                      t_sim_ms=a.t_sim_ms, t_warmup_ms=0.0, synapse="none", dt_ms=a.dt_ms)
    (run_wbe if a.runner == "wbe" else run_neuron)(a, rec)
    rec["ms_per_step"] = 1e3 * rec["sim_wall_s"] / rec["steps"]
    rec["sim_s_per_sim_s"] = rec["sim_wall_s"] / (a.t_sim_ms / 1000.0)
    from wbe.io.jsonutil import write_json

    write_json(a.record_out, rec, indent=1)


def main(argv=None) -> int:
    a = parse_args(argv)
    if a.runner:
        runner_main(a)
        return 0
    sims = simulators(a.simulators, SIMS)
    out = a.out or REPO / "benchmarks" / "results" / f"field_{a.n}_1c.json"
    cmd = (f".venv/bin/python benchmarks/fields.py --n {a.n} --dt-ms {a.dt_ms:g} "
           f"--t-sim-ms {a.t_sim_ms:g} --repeats {a.repeats} --simulators {','.join(sims)} "
           f"--out {audit._rel(out)}")
    meta = {"model": "field_release", "scale": a.n, "cores": 1, "seed": 0,
            "t_sim_ms": a.t_sim_ms, "t_warmup_ms": 0.0, "synapse": "none", "dt_ms": a.dt_ms,
            "regenerate": cmd}
    result = invoke(Path(__file__), "fields", sims, a.repeats, meta, lambda sim: [
        "--n", str(a.n), "--dt-ms", str(a.dt_ms), "--t-sim-ms", str(a.t_sim_ms)], out)
    print(markdown(result))
    return 0


def markdown(result: dict) -> str:
    """Medians per simulator: ms per step, the ratio to NEURON, the error reached."""
    m, by, med = medians(result, "ms_per_step")
    lines = [f"{m['scale']}³ voxels of 1 µm, a point release spreading for {m['t_sim_ms']:g} ms "
             f"in steps of {m['dt_ms']:g} ms, 1 core; engine {audit.describe_git(m['git'])}", "",
             f"| simulator | ms per step (median of {m['repeats']}) | ×NEURON | "
             "max rel. error vs analytic | amount / expected |", "|---|---|---|---|---|"]
    for s, rs in by.items():
        if rs:
            ratio = med[s] / med["neuron"] if "neuron" in med else float("nan")
            lines.append(f"| {s} | {med[s]:.1f} | {ratio:.2f} | "
                         f"{rs[0]['max_rel_error']:.2e} | {rs[0]['amount_ratio']:.6f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
