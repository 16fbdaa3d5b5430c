"""Plasticity switched on when continuing a static network's checkpoint (the plasticity stage).

With a zero learning rate the plastic continuation must equal the static continuation bit for
bit; with learning on, the weights move and stay within [0, Wmax].
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "mpi"))
from engine_case import build  # noqa: E402

from wbe.engine.network import Plasticity, RunConfig  # noqa: E402
from wbe.engine.simulator import simulate  # noqa: E402


def _static():
    net = build()
    for p in net.projections:
        p.plasticity = None
    return net


@pytest.fixture(scope="module")
def static_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("ck") / "checkpoint.zarr"
    simulate(_static(), RunConfig(tstop_ms=40.0, dt_ms=0.1, seed=5), checkpoint=path)
    return path


def _plastic(rate: float):
    net = _static()
    for p in net.projections:
        if p.name in ("rec", "plastic"):
            p.plasticity = Plasticity("stdp_synapse", {
                "lambda": rate, "Wmax": float(np.abs(p.weight).max()) * 2, "mu_plus": 0.0,
                "mu_minus": 0.0})
    return net


def test_zero_rate_equals_static_continuation(static_checkpoint):
    run = RunConfig(tstop_ms=90.0, dt_ms=0.1, seed=5)
    static = simulate(_static(), run, restore=static_checkpoint)
    plastic = simulate(_plastic(0.0), copy.deepcopy(run), restore=static_checkpoint)
    for pop, (t, i) in static.spikes.items():
        assert np.array_equal(t, plastic.spikes[pop][0]) and np.array_equal(i, plastic.spikes[pop][1])
    assert sum(len(t) for t, _ in static.spikes.values()) > 0


def test_learning_moves_weights_within_bounds(static_checkpoint):
    net = _plastic(0.05)
    w0 = {p.name: p.weight.copy() for p in net.projections if p.plasticity is not None}
    res = simulate(net, RunConfig(tstop_ms=90.0, dt_ms=0.1, seed=5), restore=static_checkpoint)
    for name, before in w0.items():
        after = res.weights[name]
        assert after.shape == before.shape
        assert not np.array_equal(after, before)
        assert np.all(np.sign(after[after != 0]) == np.sign(before[after != 0]))
        wmax = next(p.plasticity.params["Wmax"] for p in net.projections if p.name == name)
        assert np.all(np.abs(after) <= wmax + 1e-12)
