"""``iaf_cond_alpha`` (wbe/engine/cells/iaf_cond_alpha.py): against the closed-form alpha
conductance and, recordable by recordable, against NEST 3.10 over one second.

The registry's contract tests (tests/unit/test_contract.py, tests/reference/
test_contract_nest.py, tests/mpi) cover the model as every registered one; this file checks what
is particular to it."""

from __future__ import annotations

import numpy as np
import pytest
from test_contract_nest import DT, nest_single, wbe_single

from wbe.engine.network import (
    Network,
    Population,
    Projection,
    RunConfig,
    SpikeTrainInput,
    StateRecorder,
)
from wbe.engine.simulator import simulate

MODEL = "iaf_cond_alpha"


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_single_spike_gives_the_alpha_conductance(sign):
    """One spike of |w| nS (delay 1 ms) at 2 ms: g(t) = |w|·s/τ·e^{1 − s/τ}, s = t − 3 ms, peak
    |w| at s = τ (the RKF45 error on g stays far below its 1e-3 nS tolerance)."""
    w, tau = 6.0, 0.5 if sign > 0 else 2.0
    net = Network([Population("n", MODEL, 1, {"tau_syn_ex": 0.5, "tau_syn_in": 2.0}),
                   Population("s", "virtual", 1)],
                  [Projection("p", "s", "n", np.array([0]), np.array([0]), np.array([sign * w]),
                              np.array([1.0]))],
                  spike_trains=[SpikeTrainInput("st", "s", np.array([0]), np.array([2.0]))])
    var = "g_ex" if sign > 0 else "g_in"
    res = simulate(net, RunConfig(20.0, state_recorders=[StateRecorder("n", [var], [0], DT)]))
    t, _, g = res.state["n"][var]
    s = np.clip(t - 3.0, 0.0, None)
    ref = w * s / tau * np.exp(1.0 - s / tau)
    assert np.max(np.abs(g[:, 0] - ref)) < 5e-5
    assert g[:, 0].max() == pytest.approx(w, rel=1e-5)
    assert t[np.argmax(g[:, 0])] == pytest.approx(3.0 + tau)


@pytest.mark.nest
def test_every_recordable_matches_nest_for_a_second():
    pytest.importorskip("nest")
    params = {"I_e": 380.0, "V_m": -62.0, "tau_syn_ex": 0.3, "tau_syn_in": 3.0, "t_ref": 1.5,
              "E_in": -80.0}
    rec = ("V_m", "g_ex", "g_in")
    a = nest_single(MODEL, params, 9.0, 120.0, record=rec, t=1000.0)
    b = wbe_single(MODEL, params, 9.0, 120.0, record=rec, t=1000.0)
    assert a[2].size > 50
    assert np.array_equal(np.round(a[2] / DT), np.round(b[2] / DT))
    for v in rec:
        assert np.max(np.abs(a[1][v] - b[1][v])) <= 1e-6, v
