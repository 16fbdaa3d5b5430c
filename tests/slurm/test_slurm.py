"""Real SLURM on this machine: a small workflow through snakemake-executor-plugin-slurm (one
MPI job on 2 tasks with srun) and a small sweep whose Dask workers are SLURM jobs.

Needs a running cluster: ``scripts/slurm-cluster.sh start`` (CI runs it before the tests).
Every test checks that its jobs reached the controller (``slurmctld`` log).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

pytestmark = pytest.mark.slurm

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
SUBMIT = re.compile(r"_slurm_rpc_submit_batch_job: JobId=(\d+)")
#: a job starts: "sched: Allocate JobId=N ..." (main scheduler) or "sched/backfill: _start_job:
#: Started JobId=N ..." (backfill)
STARTED = re.compile(r"(?:Allocate|Started) JobId=(\d+)")

TINY_SWEEP = {"name": "slurm-tiny", "order": 30, "t_sim_ms": 300.0, "t_warmup_ms": 100.0,
              "base": {"V0_mV": None}, "grid": {"g": [4, 6], "eta": [2]}}


def _controller_log() -> Path:
    out = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True,
                         timeout=30).stdout
    m = re.search(r"^SlurmctldLogFile\s*=\s*(\S+)", out, re.M)
    if not m or not Path(m.group(1)).is_file():
        pytest.skip("the SLURM controller writes no log file this test can read")
    return Path(m.group(1))


@pytest.fixture(scope="module")
def slurm():
    """The controller log, or a skip when there is no usable single-node cluster."""
    if shutil.which("sinfo") is None:
        pytest.skip("SLURM not installed (sinfo missing): run scripts/slurm-cluster.sh start")
    try:
        states = subprocess.run(["sinfo", "-h", "-o", "%T"], capture_output=True, text=True,
                                timeout=30)
    except subprocess.TimeoutExpired:
        pytest.skip("sinfo does not answer: is slurmctld running? (scripts/slurm-cluster.sh)")
    usable = {"idle", "mixed", "allocated", "completing"}
    if states.returncode != 0 or not usable & set(states.stdout.split()):
        pytest.skip(f"no usable SLURM node ({states.stdout.strip() or states.stderr.strip()}); "
                    "run scripts/slurm-cluster.sh start")
    return _controller_log()


def _num_tasks(job_id: str) -> int | None:
    """NumTasks of a job the controller still knows (completed jobs stay MinJobAge seconds)."""
    out = subprocess.run(["scontrol", "-o", "show", "job", job_id], capture_output=True,
                         text=True, timeout=30).stdout
    m = re.search(r"\bNumTasks=(\d+)", out)
    return int(m.group(1)) if m else None


class LogWatch:
    """New lines of the controller's log since construction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.start = path.stat().st_size

    def new(self) -> str:
        with open(self.path, "rb") as fh:
            fh.seek(self.start)
            return fh.read().decode(errors="replace")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["OMP_WAIT_POLICY"] = "passive"
    return env


def _snakemake(workdir: Path, *extra: str, timeout_s: int = 540) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).with_name("snakemake")
    cmd = [str(exe), "-s", str(HERE / "Snakefile"), "--workflow-profile", str(HERE / "profile"),
           "-d", str(workdir), *extra]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, env=_env(),
                          cwd=workdir)


def test_workflow_with_mpi_job_through_slurm(slurm, tmp_path):
    pytest.importorskip("snakemake_executor_plugin_slurm")
    watch = LogWatch(slurm)
    r = _snakemake(tmp_path)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    # the MPI job: srun --mpi=pmi2 -n 2 gave a 2-rank world, and the simulation ran under it
    assert (tmp_path / "sim" / "ranks.txt").read_text().strip() == "2"
    counts = json.loads((tmp_path / "summary.json").read_text())
    assert set(counts) == {"E", "I"} and counts["E"] > 0
    # every job went through the controller: build, simulate (2 CPUs), summary
    log = watch.new()
    submitted = SUBMIT.findall(log)
    assert len(submitted) >= 3, log[-3000:]
    assert set(submitted) <= set(STARTED.findall(log)), log[-3000:]
    tasks = {job: _num_tasks(job) for job in submitted}
    assert 2 in tasks.values(), f"no 2-task (MPI) job among the submitted ones: {tasks}"
    text = r.stdout + r.stderr
    assert "submitted with SLURM jobid" in text


def test_sweep_with_dask_workers_as_slurm_jobs(slurm, tmp_path):
    pytest.importorskip("dask_jobqueue")
    from wbe.pipeline.sweep import run_sweep

    watch = LogWatch(slurm)
    spec = {**TINY_SWEEP, "cluster": {"kind": "slurm", "n_workers": 2, "slurm": {
        "queue": "debug", "cores": 1, "memory": "1GB", "walltime": "00:10:00",
        "log_directory": str(tmp_path / "workers")}}}
    out = run_sweep(spec, tmp_path / "results")
    assert out["computed"] == 2
    table = pd.read_parquet(Path(out["out"]) / "table.parquet")
    assert len(table) == 2 and table["E_rate_hz"].notna().all()
    # the workers were SLURM jobs: submitted to the controller, with their own output files
    assert len(SUBMIT.findall(watch.new())) >= 2
    assert list((tmp_path / "workers").glob("dask-worker-*.out"))
    # the same sweep again reuses every point (no new worker computes anything)
    again = run_sweep({**spec, "cluster": {"kind": "local", "n_workers": 1}},
                      tmp_path / "results", plots=False, out_dir=tmp_path / "again")
    assert again["computed"] == 0 and again["reused"] == 2


def test_sweep_rule_through_slurm_profile(slurm, tmp_path):
    """The workflow's sweep rule under the SLURM test profile (resources dask_cluster=slurm)."""
    probe = subprocess.run([str(Path(sys.executable).with_name("wbe")), "sweep", "--help"],
                           capture_output=True, text=True, timeout=60)
    if probe.returncode != 0:
        pytest.skip("`wbe sweep` is not wired into the wbe command line")
    watch = LogWatch(slurm)
    cfg = tmp_path / "sweep.yaml"
    spec = {**TINY_SWEEP, "cluster": {"kind": "local", "n_workers": 2, "slurm": {
        "memory": "1GB", "walltime": "00:10:00", "log_directory": "logs/dask-workers"}}}
    cfg.write_text(json.dumps({"sweep": spec}))
    r = _snakemake(tmp_path, "--configfile", str(cfg))
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    tables = list((tmp_path / "results" / "sweep").glob("*/table.parquet"))
    assert len(tables) == 1 and len(pd.read_parquet(tables[0])) == 2
    assert list((tmp_path / "logs" / "dask-workers").glob("dask-worker-*.out"))
    # workflow jobs (3) and Dask workers (2) all went through the controller
    assert len(SUBMIT.findall(watch.new())) >= 5
