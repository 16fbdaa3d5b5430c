"""Every command the README shows, run as a user would.

* the "Using it" block, in order, then ``make run``, in a copy of the workflow whose
  config/config.yaml is the default layered with the small crop of ``tests/workflow/small.yaml``
  (so it takes minutes, not an hour). The block submits to SLURM, so it needs the cluster
  ``.ci/run`` starts (``scripts/slurm-cluster.sh start``), and ``wbe atlas`` needs Debian's
  mricron-data;
* the sweep block, on a crop of ``config/sweeps/brunel.yaml`` (4 points of 500 neurons);
* the engine section's ``wbe build`` and ``mpiexec -n 2 wbe simulate`` commands, as written.

:data:`RUN_BY` names the test that runs every command of the README, and
``test_every_readme_command_is_run_by_a_test`` (not slow) fails when the README gains a command
no test runs."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from wbe.pipeline import config as wcfg
from wbe.pipeline import store

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.workflow


def readme_block(section: str = "## Using it") -> list[str]:
    """The commands of the first ```bash block after ``section`` in README.md."""
    text = (ROOT / "README.md").read_text()
    body = text[text.index(section):]
    m = re.search(r"```bash\n(.*?)```", body, re.S)
    assert m, f"no bash block under {section}"
    return [line for line in m.group(1).splitlines() if line.strip()]


def _bare(cmd: str) -> str:
    return re.sub(r"\s+#.*$", "", cmd).strip()


def readme_commands() -> set[str]:
    """Every shell command of README.md: each line of its ```bash blocks (comments dropped), and
    each inline code span that starts with make, wbe, snakemake, mpiexec, scripts/ or .ci/."""
    text = (ROOT / "README.md").read_text()
    cmds = {_bare(line) for block in re.findall(r"```bash\n(.*?)```", text, re.S)
            for line in block.splitlines() if line.strip()}
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    cmds |= {" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose)
             if re.match(r"((make|wbe|snakemake|mpiexec)( |$)|scripts/\S|\.ci/run)", span)}
    return cmds


# Where each README command runs. Blocks and full commands are run as written by the test
# named; a synopsis or fragment (a word inside a sentence) points at the test that exercises
# what it names; ``make`` targets whose recipe a test runs (CI runs ``make test`` and
# ``make test-slow`` themselves) name that test.
USING_IT = "tests/workflow/test_readme.py::test_every_readme_command_runs"
SWEEP = "tests/workflow/test_readme.py::test_sweep_block_runs"
ENGINE = "tests/workflow/test_readme.py::test_engine_commands_run"
RUN_BY: dict[str, str] = {
    **{_bare(c): USING_IT for c in readme_block()},
    **{_bare(c): SWEEP for c in readme_block("## Parameter sweeps")},
    "make run": USING_IT,
    "make run CONFIG=<config file>": USING_IT,
    "make test": ".ci/run",
    "make test-slow": ".ci/run",
    "make pyphi-env": "tests/reference/test_phi_pyphi.py",  # make test builds it first
    "make test-slurm": "tests/slurm/test_slurm.py",
    "make lint": "tests/workflow/test_lint.py::test_snakemake_lint_is_clean",
    "snakemake --lint": "tests/workflow/test_lint.py::test_snakemake_lint_is_clean",
    "make schema": "tests/unit/test_config.py::test_committed_schema_is_current",
    "wbe schema": "tests/unit/test_config.py::test_committed_schema_is_current",
    "make docs": "tests/unit/test_docs.py",
    "wbe build pd14 --scale 0.1 --out DIR": ENGINE,
    "wbe build brunel --out DIR": ENGINE,
    "mpiexec -n 2 wbe simulate DIR/simulation_config.json": ENGINE,
    "wbe simulate --placement metis": ENGINE,
    "mpiexec -n 2": ENGINE,
    "wbe simulate": USING_IT,
    "wbe atlas": USING_IT,
    "wbe plan [CONFIG ...] [--config ...]": "tests/workflow/test_plan.py",
    "wbe <stage> --help": "tests/unit/test_cli.py",
    "wbe simulate CONFIG --save-edges DIR": "tests/unit/test_sonata.py::"
                                            "test_simulate_save_edges_writes_the_learned_"
                                            "weights_and_rule_state",
    "wbe distal-reward --out DIR": "tests/unit/test_distal_reward.py::"
                                   "test_command_writes_result_and_figure",
    "wbe eprop-sine-waves --out DIR --iterations 20": "tests/unit/test_eprop.py::"
                                                      "test_cli_writes_result_and_figure",
    "wbe export-nwb":
        "tests/unit/test_cli.py::test_build_simulate_export_write_complete_outputs_only",
    "scripts/pinky40.py": "tests/workflow/test_readme.py::test_pinky40_script_runs",
    "wbe bold --signal SIGNAL.npy --dt-ms D --params friston2000|tvb|stephan2007":
        "tests/reference/test_bold.py::test_cli_prints_json_and_writes_parquet",
    "wbe resting-state CONFIG": "tests/workflow/test_configs.py::"
                                "test_resting_state_config_end_to_end",
    "wbe ischaemia CONFIG": "tests/workflow/test_configs.py::test_ischaemia_config_end_to_end",
    "wbe wake-sleep CONFIG": "tests/workflow/test_configs.py::test_wake_sleep_config_end_to_end",
    "wbe phi --tpm TPM.json --cm CM.json --state 1,0,0": "tests/unit/test_phi.py::test_cli",
    "wbe pci --matrix SS.npy": "tests/unit/test_pci.py::test_cli_hand_checked_matrix",
    "wbe pci --signal EVOKED.npy --dt-ms D --t0-ms T0": "tests/unit/test_pci.py::test_cli_pcist",
    "scripts/slurm-cluster.sh start": ".ci/run",
    ".ci/run": ".ci/run",
    "snakemake --workflow-profile profiles/slurm": USING_IT,
}


def test_every_readme_command_is_run_by_a_test():
    """A README command without a test here fails; so does a test named here that is gone."""
    found = readme_commands()
    unknown = sorted(c for c in found if c not in RUN_BY)
    assert not unknown, f"README commands that no test runs (add them to RUN_BY): {unknown}"
    stale = sorted(c for c in RUN_BY if c not in found)
    assert not stale, f"RUN_BY names commands the README no longer has: {stale}"
    for cmd, where in RUN_BY.items():
        path, _, func = where.partition("::")
        text = (ROOT / path).read_text()
        assert not func or re.search(rf"^def {func}\(", text, re.M), f"{cmd}: {where} is gone"
        if path == ".ci/run":
            assert cmd == ".ci/run" or cmd in text.splitlines(), f"{cmd}: .ci/run does not run it"


def _workflow_copy(work: Path) -> None:
    for name in ("Snakefile", "workflow", "profiles", "config", "envs", "Makefile"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, work / name)
    default = wcfg.read_config_file(ROOT / "config" / "config.yaml")
    small = yaml.safe_load((ROOT / "tests" / "workflow" / "small.yaml").read_text())
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(wcfg.layered(default, small)))
    # `source .venv/bin/activate` finds the environment the tests run in
    (work / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)


def _run(cmd: str, work: Path, timeout: int = 1800) -> subprocess.CompletedProcess:
    """``cmd`` in bash in ``work``, with this environment's commands first on PATH."""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("WBE_DATA_ROOT", None)
    out = subprocess.run(["bash", "-c", f"set -eo pipefail; {cmd}"], cwd=work,
                         capture_output=True, text=True, env=env, timeout=timeout)
    assert out.returncode == 0, f"{cmd}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
    return out


@pytest.mark.slow
@pytest.mark.slurm
@pytest.mark.timeout(2400)
def test_every_readme_command_runs(tmp_path):
    if shutil.which("sinfo") is None:
        pytest.skip("needs a SLURM cluster (scripts/slurm-cluster.sh start)")
    commands = readme_block()
    assert commands[0] == "source .venv/bin/activate" and len(commands) >= 10
    work = tmp_path / "wbe"
    work.mkdir()
    _workflow_copy(work)
    outputs = {cmd: _run(f"{commands[0]}; {cmd}", work) for cmd in commands}
    # `make run` (the environment exists: -o keeps make from reinstalling it) finds the
    # workflow done and writes the report again
    report = work / "results" / "report.html"
    report.unlink()
    made = _run("make -o .venv/bin/wbe run", work)
    assert "Nothing to be done" in made.stdout + made.stderr and report.stat().st_size > 0
    latest = work / "results" / "latest"
    # the override ran: a simulation with seed 7 exists, and `wbe plan` named its folder
    sims = {json.loads((p / "manifest.json").read_text())["params"]["seed"]: p
            for p in (work / "results" / "simulation").iterdir() if not p.name.startswith(".")}
    assert set(sims) == {1, 7}  # the default (seed 1) and the --config override (seed 7)
    plan_cmd = next(c for c in commands if c.startswith("wbe plan"))
    planned = {line.split()[0]: line.split()[1] for line in
               outputs[plan_cmd].stdout.splitlines()}
    assert (work / planned["simulation"]).resolve() == sims[7].resolve()
    for folder in latest.iterdir():
        store.verify(folder)  # nothing wrote into a published folder
    assert (work / "results" / "report.html").stat().st_size > 0
    assert (work / "rerun" / "spikes.h5").is_file() and (work / "rerun.png").stat().st_size > 0
    assert (work / "rerun2" / "spikes.h5").is_file()
    assert (work / "graph_report" / "graph.json").is_file()
    assert list((work / "allen").rglob("*.swc"))
    help_cmd = next(c for c in commands if c.startswith("wbe simulation --help"))
    assert "background.rate_hz" in outputs[help_cmd].stdout


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_sweep_block_runs(tmp_path):
    """The sweep block as written, on a crop of config/sweeps/brunel.yaml (2 × 2 points of 500
    neurons, 400 ms): Snakemake runs the sweep; `wbe sweep` then finds the same sweep (same
    key) with every point done."""
    commands = readme_block("## Parameter sweeps")
    assert len(commands) == 2
    work = tmp_path / "wbe"
    work.mkdir()
    _workflow_copy(work)
    spec = yaml.safe_load((ROOT / "config" / "sweeps" / "brunel.yaml").read_text())
    spec["sweep"].update(order=100, grid={"g": [4.5, 5.0], "eta": [1.5, 2.0]}, t_sim_ms=400.0,
                         t_warmup_ms=100.0)
    spec["sweep"]["base"]["epsilon"] = 0.1
    (work / "config" / "sweeps" / "brunel.yaml").write_text(yaml.safe_dump(spec))
    _run(f"source .venv/bin/activate; {commands[0]}", work)
    tables = list((work / "results" / "sweep").glob("*/table.parquet"))
    assert len(tables) == 1
    points = sorted(p.name for p in (work / "results" / "sweep_points").iterdir())
    assert len(points) == 4
    before = {p: (work / "results" / "sweep_points" / p).stat().st_mtime_ns for p in points}
    out = _run(f"source .venv/bin/activate; {commands[1]}", work)
    table = pd.read_parquet(tables[0])
    assert len(table) == 4 and set(table["g"]) == {4.5, 5.0}
    assert sorted(p.name for p in (work / "results" / "sweep_points").iterdir()) == points
    assert before == {p: (work / "results" / "sweep_points" / p).stat().st_mtime_ns
                      for p in points}, "wbe sweep recomputed points Snakemake had done"
    assert tables[0].parent.name in out.stdout + out.stderr


@pytest.mark.slow
@pytest.mark.mpi
@pytest.mark.timeout(900)
def test_engine_commands_run(tmp_path):
    """The engine section's commands as written (DIR a folder): build PD14 at 10 % and Brunel
    model A, simulate each on 2 MPI ranks (PD14 with a METIS placement too: same spikes)."""
    from wbe.io.sonata import read_spikes

    text = " ".join((ROOT / "README.md").read_text().split())
    for cmd in ("wbe build pd14 --scale 0.1 --out DIR", "wbe build brunel --out DIR",
                "mpiexec -n 2 wbe simulate DIR/simulation_config.json",
                "wbe simulate --placement metis"):
        assert f"`{cmd}`" in text, cmd
    for net in ("pd14 --scale 0.1", "brunel"):
        name = net.split()[0]
        _run(f"wbe build {net} --out {name}", tmp_path)
        out = _run(f"mpiexec -n 2 wbe simulate {name}/simulation_config.json", tmp_path)
        rates = json.loads(out.stdout.strip().splitlines()[-1])["rates_hz"]
        assert 0.1 < min(rates.values()) and max(rates.values()) < 100.0, rates
    _run("mpiexec -n 2 wbe simulate pd14/simulation_config.json --placement metis "
         "--output-dir metis", tmp_path)
    a = read_spikes(tmp_path / "pd14" / "output" / "spikes.h5")
    b = read_spikes(tmp_path / "metis" / "spikes.h5")
    assert a.keys() == b.keys()
    for pop in a:
        np.testing.assert_array_equal(a[pop][1], b[pop][1])
        np.testing.assert_array_equal(a[pop][0], b[pop][0])


PINKY40 = ROOT / "../shared/data/em/pinky40/labels_512.npy.ckl.gz"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_pinky40_script_runs(tmp_path):
    """``scripts/pinky40.py`` (the README's full-volume run) on a crop of the real volume:
    every stage, every SWC read back by navis losslessly, the circuit by libsonata."""
    if not PINKY40.is_file():
        pytest.skip(f"needs ../shared/data: {PINKY40} is absent")
    out = tmp_path / "pinky40"
    _run(f"{sys.executable} {ROOT / 'scripts' / 'pinky40.py'} --out {out} "
         "--crop 0 48 0 192 0 192 --workers 1 --block-voxels 24 96 96 --min-size-voxels 200",
         tmp_path, timeout=800)
    report = json.loads((out / "report.json").read_text())
    assert report["swc_check"]["swc_files"] >= 5 and report["swc_check"]["lossless"]
    assert report["sonata_check"]["matches_stage"]
