"""Every command of the README's "Using it" block, run in order as a user would, in a copy of
the workflow whose config/config.yaml is the default layered with the small crop of
``tests/workflow/small.yaml`` (so the whole block takes minutes, not an hour).

The block submits to SLURM, so it needs the cluster ``.ci/run`` starts
(``scripts/slurm-cluster.sh start``), and ``wbe atlas`` needs Debian's mricron-data."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from wbe.pipeline import config as wcfg
from wbe.pipeline import store

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = [pytest.mark.workflow, pytest.mark.slurm, pytest.mark.slow,
              pytest.mark.timeout(2400)]


def readme_block(section: str = "## Using it") -> list[str]:
    """The commands of the first ```bash block after ``section`` in README.md."""
    text = (ROOT / "README.md").read_text()
    body = text[text.index(section):]
    m = re.search(r"```bash\n(.*?)```", body, re.S)
    assert m, f"no bash block under {section}"
    return [line for line in m.group(1).splitlines() if line.strip()]


def _workflow_copy(work: Path) -> None:
    for name in ("Snakefile", "workflow", "profiles", "config", "envs"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, work / name)
    default = wcfg.read_config_file(ROOT / "config" / "config.yaml")
    small = yaml.safe_load((ROOT / "tests" / "workflow" / "small.yaml").read_text())
    (work / "config" / "config.yaml").write_text(yaml.safe_dump(wcfg.layered(default, small)))
    # `source .venv/bin/activate` finds the environment the tests run in
    (work / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)


def test_every_readme_command_runs(tmp_path):
    if shutil.which("sinfo") is None:
        pytest.skip("needs a SLURM cluster (scripts/slurm-cluster.sh start)")
    commands = readme_block()
    assert commands[0] == "source .venv/bin/activate" and len(commands) >= 10
    work = tmp_path / "wbe"
    work.mkdir()
    _workflow_copy(work)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("WBE_DATA_ROOT", None)
    outputs = {}
    for cmd in commands:
        out = subprocess.run(["bash", "-c", f"set -eo pipefail; {commands[0]}; {cmd}"],
                             cwd=work, capture_output=True, text=True, env=env, timeout=1800)
        assert out.returncode == 0, f"{cmd}\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
        outputs[cmd] = out
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
