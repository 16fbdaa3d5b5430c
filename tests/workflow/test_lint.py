"""`snakemake --lint` finds nothing to complain about."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.workflow
ROOT = Path(__file__).resolve().parents[2]


def test_snakemake_lint_is_clean():
    exe = Path(sys.executable).parent / "snakemake"
    out = subprocess.run([str(exe), "--lint", "-s", str(ROOT / "Snakefile")], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Congratulations" in out.stdout + out.stderr
