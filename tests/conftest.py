"""Shared fixtures and skips. Markers are declared in pyproject.toml."""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Real data for tests, beside the project (read-only); tests skip when it is absent.
SHARED_DATA = ROOT.parent / "shared" / "data"


def require_shared(*parts: str) -> Path:
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data {path} not present (../shared/data is only on developer machines)")
    return path


@pytest.fixture(scope="session")
def mpiexec() -> str:
    """The mpiexec beside this Python (pip's mpich) or on PATH, with mpi4py importable."""
    cand = Path(sys.executable).parent / "mpiexec"
    exe = str(cand) if cand.exists() else shutil.which("mpiexec")
    if exe is None:
        pytest.skip("mpiexec not found (pip install mpich)")
    pytest.importorskip("mpi4py")
    return exe


# ------------------------------------------------------------------ skips are decisions in CI
#: Skip reasons that are acceptable in CI (``CI=true``): what a CI machine legitimately lacks.
#: Any other skip there — NEST, mpiexec, SLURM, a data package or a wbe module that fails to
#: import — is turned into a failure, so a broken install cannot pass as green.
ALLOWED_SKIPS_IN_CI: tuple[re.Pattern, ...] = (
    re.compile(r"needs a GPU"),
    # ../shared/data (real EM and NWB recordings) is only on developer machines, not in a clone
    re.compile(r"shared/data"),
)


def strict_skips() -> bool:
    """True in CI (``CI`` set to 1/true/yes), where unexpected skips fail the run."""
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _skip_reason(report) -> str:
    lr = report.longrepr
    if isinstance(lr, tuple) and len(lr) == 3:
        return str(lr[2])
    return str(lr)


def _fail_unexpected_skip(report) -> None:
    if not (report.skipped and strict_skips()) or hasattr(report, "wasxfail"):
        return
    reason = _skip_reason(report)
    if any(p.search(reason) for p in ALLOWED_SKIPS_IN_CI):
        return
    report.outcome = "failed"
    report.longrepr = (f"unexpected skip in CI (CI={os.environ.get('CI')!r}): {reason}\n"
                       "CI must have everything this test needs; allowed skip reasons are "
                       f"{[p.pattern for p in ALLOWED_SKIPS_IN_CI]} (tests/conftest.py)")


def pytest_configure(config):
    if strict_skips():  # one missing reference must not hide every other test's result
        config.option.continue_on_collection_errors = True


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    _fail_unexpected_skip(outcome.get_result())


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    _fail_unexpected_skip(outcome.get_result())
