"""The same Python API script gives the same network, spikes, samples and weights serially and
under ``mpiexec -n 2`` (on every rank)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

HERE = Path(__file__).parent
ROOT = HERE.parent.parent
spec = importlib.util.spec_from_file_location("api_case", HERE / "api_case.py")
case = importlib.util.module_from_spec(spec)
spec.loader.exec_module(case)
pytestmark = pytest.mark.mpi


@pytest.mark.parametrize("events", [False, True], ids=["plain", "structural-events"])
def test_api_script_one_vs_two_ranks(tmp_path, events):
    """``events``: pruning, synaptogenesis, apoptosis and neurogenesis between runs change the
    same synapses and neurons on every rank."""
    import test_ranks_identity as ri

    one = case.run_events(case.build(reserve=10)) if events else case.run(case.build())
    assert one["E/t"].size > 150 and one["I/t"].size > 0
    if events:
        assert one["dead"].size > 0 and one["E_to_E/source"].size != 1200
        born = one["E/i"][(one["E/t"] > 70.0) & (one["E/i"] >= 110)]
        assert set(born.tolist()) == set(range(110, 116))  # the newborn fire
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = tmp_path / "api"
    p = subprocess.run([ri._mpiexec(), "-n", "2", sys.executable, str(HERE / "api_case.py"),
                        str(out), *(["--events"] if events else [])], capture_output=True,
                       text=True, timeout=300, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    for r in (0, 1):
        got = dict(np.load(f"{out}.rank{r}.npz"))
        assert int(got.pop("size")) == 2
        assert sorted(got) == sorted(one)
        for k in one:
            assert np.array_equal(got[k], one[k]), f"rank {r}: {k}"
