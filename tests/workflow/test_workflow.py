"""Snakemake end to end on a small crop of the default (real) data.

One full run (2 MPI ranks for the simulation, as the workstation profile says), then the
promises of content addressing: a second run schedules nothing, a changed simulation parameter
schedules only simulation and what follows, a corrupted upstream file is refused by name, an
invalid config fails before any job runs.
"""

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

from wbe.pipeline import store

pytestmark = [pytest.mark.workflow, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
ALL_STAGES = list(store.STAGES)

#: A small crop of the nerve ring and short runs: the whole pipeline in about a minute.
SMALL = yaml.safe_load((ROOT / "tests" / "workflow" / "small.yaml").read_text())


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    cmd = [str(BIN / "snakemake"), "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
           "--workflow-profile", str(ROOT / "profiles" / "workstation"), *args]
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    if check and out.returncode != 0:
        raise AssertionError(f"snakemake failed ({out.returncode}):\n{out.stdout}\n{out.stderr}")
    return out


def write_config(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


def scheduled(out: subprocess.CompletedProcess) -> set[str]:
    """Rules a dry run would execute (from Snakemake's job-stats table)."""
    text = out.stdout + out.stderr
    rules = set()
    for stage in ALL_STAGES:
        if re.search(rf"^\s*{stage}\s+\d+\s*$", text, re.MULTILINE):
            rules.add(stage)
    return rules


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    work = tmp_path_factory.mktemp("workflow")
    cfg = write_config(work / "small.yaml", SMALL)
    snakemake(work, "--configfile", str(cfg))
    return work, cfg


def test_dry_run_lists_every_stage(tmp_path):
    cfg = write_config(tmp_path / "small.yaml", SMALL)
    out = snakemake(tmp_path, "--configfile", str(cfg), "-n")
    assert scheduled(out) == set(ALL_STAGES)


def test_every_stage_consumed_the_previous_real_output(done):
    work, _ = done
    manifests = {}
    for stage in ALL_STAGES:
        folders = [p for p in (work / "results" / stage).iterdir() if not p.name.startswith(".")]
        assert len(folders) == 1, f"{stage}: {folders}"
        manifests[stage] = store.verify(folders[0])
        assert (work / "results" / "latest" / stage).resolve() == folders[0].resolve()
    for stage, upstream in store.STAGES.items():
        for u in upstream:
            assert manifests[stage]["inputs"][u]["key"] == manifests[u]["key"]
    # the stages did real work
    assert manifests["segmentation"]["summary"]["n_segments"] >= 5
    assert manifests["connectome"]["summary"]["n_edges"] > 0
    assert manifests["simulation"]["summary"]["spikes"] > 0
    scores = json.loads((work / "results" / "latest" / "validation" / "scores.json").read_text())
    assert "connectome" in scores


def test_second_run_schedules_nothing(done):
    work, cfg = done
    out = snakemake(work, "--configfile", str(cfg), "-n")
    assert scheduled(out) == set()
    assert "Nothing to be done" in out.stdout + out.stderr


def test_simulation_change_reruns_only_downstream(done):
    work, _ = done
    changed = json.loads(json.dumps(SMALL))
    changed["simulation"]["seed"] = SMALL["simulation"].get("seed", 1) + 1
    cfg2 = write_config(work / "changed.yaml", changed)
    out = snakemake(work, "--configfile", str(cfg2), "-n")
    assert scheduled(out) == {"simulation", "plasticity", "metrics", "validation"}


def test_corrupt_upstream_is_refused_by_name(done, tmp_path):
    work, _ = done
    copy = tmp_path / "copy"
    shutil.copytree(work / "results", copy / "results", symlinks=True)
    (copy / "logs").mkdir()
    conn = next(p for p in (copy / "results" / "connectome").iterdir()
                if not p.name.startswith("."))
    edges = conn / "network" / "edges.h5"
    edges.write_bytes(edges.read_bytes()[:-16] + b"\0" * 16)
    changed = json.loads(json.dumps(SMALL))
    changed["simulation"]["seed"] = 12345
    cfg = write_config(copy / "c.yaml", changed)
    out = snakemake(copy, "--configfile", str(cfg), "--until", "simulation", check=False)
    assert out.returncode != 0
    assert "edges.h5: sha256" in out.stdout + out.stderr
    sims = [p for p in (copy / "results" / "simulation").iterdir()]
    assert len(sims) == 1  # only the original; no partial new folder


@pytest.mark.parametrize(
    ("patch", "key"),
    [({"simulation": {"duration_ms": -10}}, "duration_ms"),
     ({"simulation": {"duration_ms": "long"}}, "duration_ms"),
     ({"simulation": {"no_such_key": 1}}, "no_such_key")],
)
def test_invalid_config_fails_before_any_job(tmp_path, patch, key):
    bad = json.loads(json.dumps(SMALL))
    for section, values in patch.items():
        bad.setdefault(section, {}).update(values)
    cfg = write_config(tmp_path / "bad.yaml", bad)
    out = snakemake(tmp_path, "--configfile", str(cfg), check=False)
    assert out.returncode != 0
    assert key in out.stdout + out.stderr
    assert not (tmp_path / "results").exists()


def test_report_tells_the_story(done):
    work, cfg = done
    snakemake(work, "--configfile", str(cfg), "--report", str(work / "report.zip"))
    import zipfile

    names = zipfile.ZipFile(work / "report.zip").namelist()
    for png in ["raster.png", "fi.png", "rates.png"]:
        assert any(n.endswith(png) for n in names), (png, names)
