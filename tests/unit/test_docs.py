"""The documentation builds without a warning (API reference from the docstrings, a page per
registered component), the tutorial script runs as written, and the README's Python example
works."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run_python(code_or_file, cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg",
           "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    args = [sys.executable, str(code_or_file)] if isinstance(code_or_file, Path) else \
        [sys.executable, "-c", code_or_file]
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_docs_build_with_warnings_as_errors(tmp_path):
    pytest.importorskip("sphinx")
    p = subprocess.run([sys.executable, "-m", "sphinx", "-W", "-q", "-b", "html",
                        str(ROOT / "docs"), str(tmp_path / "html")],
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout + p.stderr
    from wbe.engine.registry import CELLS, PLASTICITY, RECEPTORS

    for m in CELLS:  # a page per registered model, with its parameters
        page = (tmp_path / "html" / "_generated" / "cells" / f"{m.name}.html").read_text()
        assert all(p.name in page for p in m.params)
    for r in PLASTICITY:
        assert (tmp_path / "html" / "_generated" / "plasticity" / f"{r.name}.html").exists()
    for k in RECEPTORS:
        page = (tmp_path / "html" / "_generated" / "receptors" / f"{k.name}.html").read_text()
        assert all(p.name in page for p in k.params)
    api = (tmp_path / "html" / "api.html").read_text()
    assert "FixedInDegree" in api and "set_rate" in api


def test_tutorial_runs_as_written(tmp_path):
    p = _run_python(ROOT / "docs" / "tutorial.py", tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    out = tmp_path / "tutorial_output"
    assert (out / "raster.png").stat().st_size > 10_000
    assert (out / "sonata" / "simulation_config.json").exists()
    assert (out / "spikes.nwb").exists()
    n_late = int(re.search(r"input off\): (\d+)", p.stdout).group(1))
    assert n_late < 50  # the closed loop switched the drive off


def test_readme_python_example_runs(tmp_path):
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "the README shows a Python example"
    example = blocks[0]
    assert len(example.strip().splitlines()) <= 12
    p = _run_python(example, tmp_path)
    assert p.returncode == 0, p.stdout + p.stderr
    assert (tmp_path / "raster.png").stat().st_size > 10_000
