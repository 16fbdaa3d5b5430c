"""The Balloon–Windkessel BOLD integration (wbe.hemodynamics.balloon) vs TVB's BalloonModel and
neurolib's simulateBOLD on the same neural drive.

    python benchmarks/bold.py --regions 80 --t-sim-s 300 --repeats 3 --out benchmarks/results/bold_80_1c.json

The drive: ``--regions`` regions × ``--t-sim-s`` seconds sampled every ``--dt-ms`` (a gamma
noise drive, seed 0, the same in every run). wbe: :class:`~wbe.hemodynamics.balloon.Balloon`
(RK4 on log flow, volume and deoxyhaemoglobin, compiled), with each simulator's parameter set;
TVB 2.10: ``tvb.analyzers.fmri_balloon.BalloonModel`` (Heun, its defaults: set ``tvb``);
neurolib 0.6.2: ``neurolib.models.bold.timeIntegration.simulateBOLD`` (forward Euler, compiled;
set ``friston2000``). Each record: the wall time of the integration (data preparation excluded)
and the largest deviation of its BOLD from the exact solution of its own parameter set (wbe's
integration at 10 × finer steps, itself equal to a stiff solver to 1e-8: tests/reference/
test_bold.py), relative to the largest |BOLD| — so speed is compared at the accuracy reached.
Runs interleaved in their own processes under the audit rule.
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

SIMS = ("wbe", "tvb", "neurolib")
PARAMS = {"wbe": "friston2000", "tvb": "tvb", "neurolib": "friston2000"}


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[1:]))
    ap.add_argument("--regions", type=int, default=80)
    ap.add_argument("--t-sim-s", type=float, default=300.0)
    ap.add_argument("--dt-ms", type=float, default=1.0)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--simulators", default="wbe,tvb,neurolib")
    ap.add_argument("--out", type=Path, default=None,
                    help="default benchmarks/results/bold_<regions>_1c.json")
    add_runner_arguments(ap, SIMS)
    return ap.parse_args(argv)


def drive(a) -> np.ndarray:
    """(samples, regions): slow gamma noise around 1 (a rate-like, positive drive)."""
    n = int(round(a.t_sim_s * 1000.0 / a.dt_ms))
    x = np.random.default_rng(0).gamma(4.0, 0.25, size=(n, a.regions))
    k = max(1, int(round(200.0 / a.dt_ms)))  # 200 ms running mean
    c = np.cumsum(np.vstack([np.zeros((1, a.regions)), x]), axis=0)
    return (c[k:] - c[:-k]) / k


def exact(x: np.ndarray, a, params: str) -> np.ndarray:
    from wbe.hemodynamics.balloon import simulate_bold

    return simulate_bold(x, a.dt_ms, params, max_step_ms=a.dt_ms / 10.0).bold


def run_wbe(a, x, rec: dict) -> np.ndarray:
    from wbe.hemodynamics.balloon import simulate_bold

    simulate_bold(x[:10], a.dt_ms, PARAMS["wbe"])  # compiled (cached) before timing
    t0 = time.perf_counter()
    y = simulate_bold(x, a.dt_ms, PARAMS["wbe"]).bold
    rec["sim_wall_s"] = time.perf_counter() - t0
    return y


def run_tvb(a, x, rec: dict) -> np.ndarray:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from tvb.analyzers.fmri_balloon import BalloonModel
        from tvb.datatypes.time_series import TimeSeries

        inp = np.concatenate([np.zeros((1, x.shape[1])), x])  # TVB holds sample n before n
        ts = TimeSeries(data=inp[:, None, :, None], time=np.arange(inp.shape[0]) * a.dt_ms,
                        sample_period=a.dt_ms, sample_period_unit="ms")
        ts.configure()
        bm = BalloonModel(time_series=ts)
        t0 = time.perf_counter()
        y = bm.evaluate().data[1:, 0, :, 0]
        rec["sim_wall_s"] = time.perf_counter() - t0
    import tvb

    rec["version"] = getattr(tvb, "__version__", "2.10")
    return y


def run_neurolib(a, x, rec: dict) -> np.ndarray:
    from neurolib.models.bold.timeIntegration import simulateBOLD

    n = x.shape[1]
    z = np.ascontiguousarray(x.T)

    def go(zz):
        return simulateBOLD(zz, a.dt_ms * 1e-3, np.ones(n), X=np.zeros(n), F=np.ones(n),
                            Q=np.ones(n), V=np.ones(n))[0]

    go(np.ascontiguousarray(z[:, :10]))  # compiled (same array layout) before timing
    t0 = time.perf_counter()
    y = go(z).T
    rec["sim_wall_s"] = time.perf_counter() - t0
    import importlib.metadata

    rec["version"] = importlib.metadata.version("neurolib")
    return y


def runner_main(a) -> None:
    rec = base_record(a, a.runner, model="bold_balloon", scale=a.regions, cores=1, seed=0,
                      t_sim_ms=a.t_sim_s * 1000.0, t_warmup_ms=0.0, synapse="none",
                      dt_ms=a.dt_ms)
    x = drive(a)
    y = {"wbe": run_wbe, "tvb": run_tvb, "neurolib": run_neurolib}[a.runner](a, x, rec)
    ref = exact(x, a, PARAMS[a.runner])
    rec["params"] = PARAMS[a.runner]
    rec["samples"] = int(x.shape[0])
    rec["max_rel_error"] = float(np.max(np.abs(y - ref)) / np.max(np.abs(ref)))
    rec["ns_per_region_sample"] = 1e9 * rec["sim_wall_s"] / x.size
    from wbe.io.jsonutil import write_json

    write_json(a.record_out, rec, indent=1)


def main(argv=None) -> int:
    a = parse_args(argv)
    if a.runner:
        runner_main(a)
        return 0
    sims = simulators(a.simulators, SIMS)
    out = a.out or REPO / "benchmarks" / "results" / f"bold_{a.regions}_1c.json"
    cmd = (f".venv/bin/python benchmarks/bold.py --regions {a.regions} --t-sim-s {a.t_sim_s:g} "
           f"--dt-ms {a.dt_ms:g} --repeats {a.repeats} --simulators {','.join(sims)} "
           f"--out {audit._rel(out)}")
    meta = {"model": "bold_balloon", "scale": a.regions, "cores": 1, "seed": 0,
            "t_sim_ms": a.t_sim_s * 1000.0, "t_warmup_ms": 0.0, "synapse": "none",
            "dt_ms": a.dt_ms, "regenerate": cmd}
    result = invoke(Path(__file__), "bold", sims, a.repeats, meta, lambda sim: [
        "--regions", str(a.regions), "--t-sim-s", str(a.t_sim_s), "--dt-ms", str(a.dt_ms)],
        out)
    print(markdown(result))
    return 0


def markdown(result: dict) -> str:
    """Medians per simulator: wall time, ns per region-sample, ratio to wbe, error reached."""
    m, by, med = medians(result, "sim_wall_s")
    lines = [f"{m['scale']} regions × {m['t_sim_ms'] / 1000:g} s of drive every "
             f"{m['dt_ms']:g} ms, 1 core; engine {audit.describe_git(m['git'])}", "",
             f"| simulator | parameter set | s (median of {m['repeats']}) | ns per region-sample "
             "| ÷ wbe | max rel. error |", "|---|---|---|---|---|---|"]
    for s, rs in by.items():
        if rs:
            ratio = med[s] / med["wbe"] if "wbe" in med else float("nan")
            lines.append(f"| {s} | {rs[0]['params']} | {med[s]:.3f} | "
                         f"{1e9 * med[s] / (rs[0]['samples'] * m['scale']):.1f} | "
                         f"{ratio:.1f} | {rs[0]['max_rel_error']:.1e} |")
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
