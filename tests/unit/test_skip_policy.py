"""In CI (``CI=true``) a skip is a decision: only the allow-listed reasons of tests/conftest.py
pass; a missing reference (an ``importorskip`` that fires) fails the run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"

CASES = '''
import pytest

def test_allowed():
    pytest.skip("needs a GPU (CuPy and an NVIDIA device)")

def test_shared_data():
    pytest.skip("real data ../shared/data/em not present")

def test_missing_reference():
    pytest.importorskip("wbe_no_such_reference_simulator")

@pytest.mark.xfail(reason="an expected failure is not a skip", strict=True)
def test_xfail():
    assert False

@pytest.mark.skipif(True, reason="a condition the author chose")
def test_skipif():
    pass

@pytest.fixture
def cluster():
    pytest.skip("no usable SLURM node")

def test_fixture_skip(cluster):
    pass
'''

#: a module that skips as a whole when its reference is missing (as test_contract_nest.py does)
MODULE_SKIP = '''
import pytest
pytest.importorskip("wbe_no_such_reference_simulator")

def test_never_collected():
    pass
'''


def _run(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess:
    shutil.copy(CONFTEST, tmp_path / "conftest.py")
    (tmp_path / "test_cases.py").write_text(CASES)
    (tmp_path / "test_module_skip.py").write_text(MODULE_SKIP)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    if ci is not None:
        env["CI"] = ci
    # outside the project's pytest config: nengo's plugin (broken on pytest 8) blocked here too
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           "-p", "no:nengo", "-rA", str(tmp_path)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("ci", ["true", "1"])
def test_unexpected_skip_fails_in_ci(tmp_path, ci):
    p = _run(tmp_path, ci)
    assert p.returncode == 1, p.stdout
    # a skip at setup (skipif, a fixture) is an error, at collection (module level) a
    # collection error after which the run goes on with the other tests
    assert "1 failed, 2 skipped, 1 xfailed, 3 errors" in p.stdout, p.stdout
    assert "FAILED test_cases.py::test_missing_reference - unexpected skip in CI" in p.stdout
    for name in ("test_skipif", "test_fixture_skip"):
        assert f"ERROR test_cases.py::{name} - unexpected skip in CI" in p.stdout
    assert "ERROR test_module_skip.py - unexpected skip in CI" in p.stdout


def test_skips_stay_skips_outside_ci(tmp_path):
    p = _run(tmp_path, None)
    assert p.returncode == 0, p.stdout
    assert "6 skipped, 1 xfailed" in p.stdout, p.stdout
