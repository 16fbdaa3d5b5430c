"""`wbe plan` plans exactly the folders Snakemake plans for the same config files and overrides
(Snakemake layers ``--configfile`` and ``--config`` over the Snakefile's config/config.yaml)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.workflow

CASES = {
    "default": ([], []),
    "worm + seed override": (["config/worm.yaml"], ["simulation={seed: 7, dt_ms: 0.05}"]),
    "human96": (["config/human96.yaml"], []),
    "sweep": (["config/sweeps/brunel.yaml"], []),
    "resting state": (["config/resting_state.yaml"], ["resting_state={duration_s: 120}"]),
    "ischaemia": (["config/ischaemia.yaml"], []),
}


def _env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}


def snakemake_plan(workdir: Path, configfiles: list[str], overrides: list[str]) -> set[str]:
    """Output folders of every job in Snakemake's DAG (``--summary`` runs nothing)."""
    cmd = [str(BIN / "snakemake"), "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
           "--workflow-profile", str(ROOT / "profiles" / "workstation"), "--summary"]
    cmd += [a for c in configfiles for a in ("--configfile", str(ROOT / c))]
    if overrides:
        cmd += ["--config", *overrides]
    out = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return {line.split("\t")[0] for line in out.stdout.splitlines()
            if line.startswith("results/")}


def wbe_plan(configfiles: list[str], overrides: list[str]) -> dict[str, str]:
    cmd = [str(BIN / "wbe"), "plan", *[str(ROOT / c) for c in configfiles],
           "--workflow-dir", str(ROOT), "--json"]
    if overrides:
        cmd += ["--config", *overrides]
    out = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout)


@pytest.mark.parametrize("case", list(CASES))
def test_wbe_plan_is_snakemakes_plan(tmp_path, case):
    configfiles, overrides = CASES[case]
    planned = wbe_plan(configfiles, overrides)
    assert set(planned.values()) == snakemake_plan(tmp_path, configfiles, overrides)


def test_override_changes_simulation_and_downstream_only():
    base = wbe_plan(["config/worm.yaml"], [])
    seeded = wbe_plan(["config/worm.yaml"], ["simulation={seed: 7}"])
    assert base["connectome"] == seeded["connectome"]
    assert all(base[s] != seeded[s] for s in ("simulation", "plasticity", "metrics",
                                              "validation"))
