"""wbe.learning.eprop_bsshslm without NEST: input checks and the C++ integer arithmetic its
interval clocks use (the comparison with NEST is tests/reference/test_eprop_bsshslm_nest.py)."""

from __future__ import annotations

import numpy as np
import pytest

from wbe.learning.eprop_bsshslm import BatchEpropNetwork, BatchEpropSimulator, _cdiv, _cmod


def net(**kw):
    rs = np.random.RandomState(0)
    base = dict(w_in=rs.randn(3, 2) * 0.01, w_rec=rs.randn(3, 3) * 0.01,
                w_out=rs.randn(1, 3) * 0.01, w_fb=rs.randn(3, 1) * 0.01,
                populations=[("eprop_iaf_bsshslm_2020", 3, {})])
    base.update(kw)
    return BatchEpropNetwork(**base)


@pytest.mark.parametrize("change,match", [
    ({"w_rec": np.zeros((2, 2))}, r"w_rec: shape \(2, 2\), expected \(3, 3\)"),
    ({"populations": [("eprop_iaf", 3, {})]}, r"populations\[0\]: \(model, n, params\)"),
    ({"populations": [("eprop_iaf_bsshslm_2020", 2, {})]}, "2 neurons, w_in has 3 rows"),
    ({"populations": [("eprop_iaf_bsshslm_2020", 3, {"kappa": 0.9})]},
     r"unknown parameter\(s\) \['kappa'\]"),
    ({"readout": {"loss": "hinge"}}, "loss is 'mean_squared_error' or 'cross_entropy'"),
    ({"synapse": {"type": "sgd"}}, "'gradient_descent' or 'adam'"),
    ({"synapse": {"Wmax": 1e-9}}, r"outside \[Wmin, Wmax\]"),
    ({"learning_window_ms": 2000.0}, "learning window <= interval"),
])
def test_bad_networks_are_named(change, match):
    with pytest.raises(ValueError, match=match):
        BatchEpropSimulator(net(**change), 10)


def test_bad_inputs_are_named():
    sim = BatchEpropSimulator(net(), 10)
    with pytest.raises(ValueError, match="input 1: spike time 2.5"):
        sim.add_input_spikes([[1.0], [2.5]])
    with pytest.raises(ValueError, match="1 trains for 2 inputs"):
        sim.add_input_spikes([[1.0]])
    sim.simulate(10)
    with pytest.raises(ValueError, match="step 10 is past the 10 steps"):
        sim.simulate(1)


def test_cpp_integer_arithmetic():
    assert [_cmod(x, 5) for x in (-7, -5, -1, 0, 4, 12)] == [-2, 0, -1, 0, 4, 2]
    assert [_cdiv(x, 5) for x in (-7, -1, 0, 4, 12)] == [-1, 0, 0, 0, 2]
