"""Shared fixtures and skips. Markers are declared in pyproject.toml."""

from __future__ import annotations

import shutil
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


def require_mpiexec() -> str:
    exe = shutil.which("mpiexec")
    if exe is None:
        pytest.skip("mpiexec not found (pip install mpich)")
    return exe
