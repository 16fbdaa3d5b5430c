"""Batch-wise e-prop (wbe.learning.eprop_bsshslm) on 1 and 2 ranks and across checkpoints:
the same readout signals, weights and membrane potentials, bit for bit — a run saved on 1 rank
and restored on 2, saved on 2 and restored on 1, or run whole (NEST's regression network and
its evidence-accumulation network, each saved in the middle of an update interval)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from test_eprop_ranks import _same
from test_eprop_ranks import _two_ranks as two_ranks

HERE = Path(__file__).parent
spec = importlib.util.spec_from_file_location("eprop_bsshslm_case",
                                              HERE / "eprop_bsshslm_case.py")
case = importlib.util.module_from_spec(spec)
spec.loader.exec_module(case)
pytestmark = pytest.mark.mpi


def _two_ranks(tmp_path, *args) -> list[dict]:
    return two_ranks(tmp_path, *args, script="eprop_bsshslm_case.py", timeout=600)


def test_batch_eprop_one_vs_two_ranks_and_checkpoints(tmp_path):
    one = case.main("", "full")
    for name in case.RUNS:  # the weights moved, the readouts answered
        w0 = case.RUNS[name]()[0]
        assert not np.allclose(one[f"{name}:w_rec"][np.isfinite(one[f"{name}:w_rec"])],
                               np.asarray(w0.w_rec)[~np.eye(w0.w_rec.shape[0], dtype=bool)])
        assert np.abs(one[f"{name}:y"]).max() > 0
    ck1 = str(tmp_path / "one")
    _same(case.main("", "save", ck1), one, "1 rank, saved")
    _same(case.main("", "restore", ck1), one, "1 rank, restored")
    for r in _two_ranks(tmp_path, "full"):
        _same(r, one, "2 ranks")
    for r in _two_ranks(tmp_path, "restore", ck1):
        _same(r, one, "1 -> 2 ranks")
    ck2 = str(tmp_path / "two")
    for r in _two_ranks(tmp_path, "save", ck2):
        _same(r, one, "2 ranks, saved")
    _same(case.main("", "restore", ck2), one, "2 -> 1 rank")


def test_checkpoint_of_another_run_is_refused(tmp_path):
    from wbe.learning.eprop_bsshslm import BatchEpropSimulator

    net, n, _, _ = case.regression()
    sim = BatchEpropSimulator(net, n)
    sim.simulate(20)
    sim.save(tmp_path / "a.npz")
    with pytest.raises(ValueError, match="a.npz: saved from another batch e-prop run"):
        BatchEpropSimulator.restore(tmp_path / "a.npz", net, n + 1)
