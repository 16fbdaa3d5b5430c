"""e-prop (wbe.learning) on 1 and 2 ranks and across checkpoints: the same losses, weights,
spikes and recorded traces, bit for bit — a run saved on 1 rank and restored on 2, saved on 2
and restored on 1, or run whole."""

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
spec = importlib.util.spec_from_file_location("eprop_case", HERE / "eprop_case.py")
case = importlib.util.module_from_spec(spec)
spec.loader.exec_module(case)
pytestmark = pytest.mark.mpi


def _two_ranks(tmp_path, *args, script: str = "eprop_case.py", timeout: int = 300
               ) -> list[dict]:
    """Each rank's results (``OUT.rank<r>.npz``) of ``script OUT *args`` on 2 ranks."""
    import test_ranks_identity as ri

    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = tmp_path / (Path(script).stem + "2")
    p = subprocess.run([ri._mpiexec(), "-n", "2", sys.executable, str(HERE / script),
                        str(out), *args], capture_output=True, text=True, timeout=timeout,
                       env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    runs = []
    for r in (0, 1):
        got = dict(np.load(f"{out}.rank{r}.npz"))
        assert int(got.pop("size")) == 2
        runs.append(got)
    return runs


def _same(a: dict, b: dict, what: str) -> None:
    assert sorted(a) == sorted(b)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=f"{what}: {k}")


def test_eprop_one_vs_two_ranks_and_checkpoints(tmp_path):
    one = case.main("", "full")
    assert one["spike_steps"].size > 100 and np.isfinite(one["loss"]).all()
    # a checkpoint written and restored on one rank
    ck1 = tmp_path / "one.npz"
    _same(case.main("", "save", str(ck1)), one, "1 rank, saved")
    _same(case.main("", "restore", str(ck1)), one, "1 rank, restored")
    # two ranks: whole, restored from the 1-rank checkpoint, and saving their own
    for r in _two_ranks(tmp_path, "full"):
        _same(r, one, "2 ranks")
    for r in _two_ranks(tmp_path, "restore", str(ck1)):
        _same(r, one, "1 -> 2 ranks")
    ck2 = tmp_path / "two.npz"
    for r in _two_ranks(tmp_path, "save", str(ck2)):
        _same(r, one, "2 ranks, saved")
    _same(case.main("", "restore", str(ck2)), one, "2 -> 1 rank")


def test_checkpoint_of_another_run_is_refused(tmp_path):
    args, _ = case.setup()
    from wbe.learning import EpropSimulator

    sim = EpropSimulator(*args)
    sim.run(50)
    sim.save(tmp_path / "a.npz")
    net, spikes, tgt, window, n = args
    with pytest.raises(ValueError, match="a.npz: saved from another e-prop run"):
        EpropSimulator.restore(tmp_path / "a.npz", net, spikes, tgt, window * 0.5, n)
