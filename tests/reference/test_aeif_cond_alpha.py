"""``aeif_cond_alpha`` (wbe/engine/cells/aeif_cond_alpha.py): the alpha conductance in closed
form, the AdEx adaptation, and every recordable against NEST 3.10 for one second (with and
without a refractory period).

The registry's contract tests cover the model as every registered one; this file checks what is
particular to it."""

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

MODEL = "aeif_cond_alpha"


def test_single_spike_gives_the_alpha_conductance_and_adaptation_follows_v():
    """One spike of 5 nS (τ = 0.4 ms): g_ex(s) = 5·s/τ·e^{1 − s/τ}; below threshold with b = 0
    the adaptation current follows τ_w dw/dt = a (V − E_L) − w, so w rises with V above E_L."""
    w, tau = 5.0, 0.4
    net = Network([Population("n", MODEL, 1, {"tau_syn_ex": tau, "a": 10.0, "b": 0.0}),
                   Population("s", "virtual", 1)],
                  [Projection("p", "s", "n", np.array([0]), np.array([0]), np.array([w]),
                              np.array([1.0]))],
                  spike_trains=[SpikeTrainInput("st", "s", np.array([0]), np.array([2.0]))])
    res = simulate(net, RunConfig(30.0, state_recorders=[
        StateRecorder("n", ["g_ex", "V_m", "w"], [0], DT)]))
    t, _, g = res.state["n"]["g_ex"]
    s = np.clip(t - 3.0, 0.0, None)
    assert np.max(np.abs(g[:, 0] - w * s / tau * np.exp(1.0 - s / tau))) < 1e-6
    v, wa = res.state["n"]["V_m"][2][:, 0], res.state["n"]["w"][2][:, 0]
    assert v.max() > -70.6 + 0.5  # the EPSP
    assert wa.max() > 0 and np.all(np.diff(wa)[v[1:] < -70.6] <= 1e-12)


@pytest.mark.nest
@pytest.mark.parametrize("t_ref", [0.0, 2.0])
def test_every_recordable_matches_nest_for_a_second(t_ref):
    pytest.importorskip("nest")
    params = {"I_e": 700.0, "a": 3.0, "b": 60.0, "t_ref": t_ref, "tau_syn_ex": 0.5,
              "tau_syn_in": 4.0, "Delta_T": 1.5}
    rec = ("V_m", "g_ex", "g_in", "w")
    a = nest_single(MODEL, params, 12.0, 300.0, record=rec, t=1000.0)
    b = wbe_single(MODEL, params, 12.0, 300.0, record=rec, t=1000.0)
    assert a[2].size > 10
    assert np.array_equal(np.round(a[2] / DT), np.round(b[2] / DT))
    for v in rec:
        assert np.max(np.abs(a[1][v] - b[1][v])) <= 1e-6, v
