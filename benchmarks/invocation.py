"""One benchmark invocation of a script that compares wbe with another simulator in separate
processes (``benchmarks/cable.py``, ``benchmarks/fields.py``), written under the rule of
:mod:`benchmarks.audit`: the runs interleaved (wbe rep0, other rep0, wbe rep1, ...), each in its
own process writing one record, the engine state at the start and the end, one file."""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path

from benchmarks import audit

REPO = Path(__file__).resolve().parents[1]


def simulators(text: str, known: tuple[str, ...]) -> list[str]:
    """The ``--simulators`` list (comma-separated), each one of ``known``."""
    sims = [s.strip() for s in text.split(",") if s.strip()]
    if not sims or not set(sims) <= set(known):
        raise SystemExit(f"--simulators: of {known}")
    return sims


def add_runner_arguments(ap: argparse.ArgumentParser, sims: tuple[str, ...]) -> None:
    """The hidden options :func:`invoke` passes to each runner process."""
    ap.add_argument("--runner", choices=sims, help=argparse.SUPPRESS)
    ap.add_argument("--record-out", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--run-id", default="", help=argparse.SUPPRESS)
    ap.add_argument("--seq", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--tag", default="", help=argparse.SUPPRESS)


def medians(result: dict, key: str) -> tuple[dict, dict[str, list], dict[str, float]]:
    """(meta, the successful runs by simulator, the median of ``key`` per simulator)."""
    import statistics

    m, runs = result["meta"], [r for r in result["runs"] if "error" not in r]
    by = {s: [r for r in runs if r["simulator"] == s] for s in m["simulators"]}
    return m, by, {s: float(statistics.median([r[key] for r in rs]))
                   for s, rs in by.items() if rs}


def base_record(a, runner: str, **run_params) -> dict:
    """What every runner record carries: who ran, where it sits in the invocation, the engine
    state and the wait policy, and the run parameters ``run_params`` (model, scale, ...)."""
    return {"simulator": runner, "tag": a.tag, "run_id": a.run_id, "seq": a.seq, **run_params,
            "git": audit.git_state(), "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
            "host": platform.node(), "notes": []}


def invoke(script: Path, name: str, sims: list[str], repeats: int, meta: dict,
           runner_args: Callable[[str], list[str]], out: Path,
           launch: Callable[[str, dict], tuple[list[str], dict]] | None = None) -> dict:
    """Run ``script --runner SIM ...`` for every (simulator, repeat) in the interleaved order,
    collect the records into ``{"meta", "runs"}``, write it to ``out`` and return it.
    ``meta`` holds the run parameters and ``regenerate`` (the command); ``runner_args(sim)``
    the script's own arguments; ``launch(sim, env)`` the command prefix and environment (default:
    this Python)."""
    run_id = uuid.uuid4().hex
    policy = os.environ.get("OMP_WAIT_POLICY", "active")
    meta = {"format": audit.FORMAT, "run_id": run_id, **meta, "simulators": sims,
            "repeats": repeats, "prime": False, "omp_wait_policy": policy,
            "git": audit.git_state(), "machine": {"platform": platform.platform(),
                                                  "cpus": os.cpu_count()},
            "started": datetime.datetime.now().isoformat(timespec="seconds")}
    runs = []
    tmp = Path(os.environ.get("TMPDIR", "/tmp")) / f"wbe-{name}-{run_id}"
    tmp.mkdir(parents=True)
    env = {**os.environ, "OMP_WAIT_POLICY": policy, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for seq, (sim, tag) in enumerate(audit.expected_sequence(sims, repeats, False)):
        rec_out = tmp / f"{seq}.json"
        cmd, run_env = launch(sim, env) if launch is not None else ([sys.executable], env)
        p = subprocess.run([*cmd, str(Path(script).resolve()), "--runner", sim,
                            "--record-out", str(rec_out), "--run-id", run_id, "--seq", str(seq),
                            "--tag", tag, *runner_args(sim)],
                           env=run_env, capture_output=True, text=True)
        if p.returncode != 0:
            runs.append({"simulator": sim, "tag": tag, "run_id": run_id, "seq": seq,
                         "error": p.stderr[-3000:]})
            print(f"[{name}] {sim} {tag} failed:\n{p.stderr[-3000:]}", file=sys.stderr)
            continue
        runs.append(json.loads(rec_out.read_text()))
        print(f"[{name}] {sim} {tag}: {runs[-1]['sim_wall_s']:.2f} s", file=sys.stderr)
    shutil.rmtree(tmp, ignore_errors=True)
    meta["git_end"] = audit.git_state()
    meta["finished"] = datetime.datetime.now().isoformat(timespec="seconds")
    result = {"meta": meta, "runs": runs}
    from wbe.io.jsonutil import write_json

    write_json(out, result, indent=1)
    problems = audit.audit(result)
    if problems:
        print(f"[{name}] the file breaks the audit rule:\n  - " + "\n  - ".join(problems),
              file=sys.stderr)
    return result
