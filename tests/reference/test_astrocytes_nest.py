"""Astrocytes against NEST 3.10, run beside wbe in the test: ``astrocyte_lr_1994`` driven by
spikes, its slow inward current through ``sic_connection`` into ``aeif_cond_alpha_astro``, and a
tripartite neuron–astrocyte network.

NEST integrates both models with GSL's RKF45 (the astrocyte with absolute tolerance 1e-3, the
neuron with NEST's derivative control); wbe transcribes that stepper and the models' update order
(integrate, clamp calcium, add the step's spikes to IP3, compute SIC; the neuron takes the SIC
arriving in a step from its end on), so traces agree to rounding — measured: equal.
"""

from __future__ import annotations

import numpy as np
import pytest

from wbe.engine.network import (
    Network,
    Population,
    Projection,
    RunConfig,
    SpikeTrainInput,
    StateRecorder,
)
from wbe.engine.simulator import simulate

nest = pytest.importorskip("nest")
pytestmark = pytest.mark.nest

DT = 0.1
ASTRO = {"delta_IP3": 0.5, "Ca_astro": 0.1}
W_IN, D_IN, W_SIC, D_SIC = 1.0, 1.0, 40.0, 2.0
A_VARS, N_VARS = ("IP3", "Ca_astro", "h_IP3R"), ("V_m", "I_SIC")


def _input(t_ms: float) -> np.ndarray:
    r = np.random.default_rng(1)
    return np.unique(np.round(r.uniform(1.0, t_ms / 2, int(t_ms / 20)), 1))


def nest_pair(t_ms: float):
    nest.set_verbosity("M_ERROR")
    nest.ResetKernel()
    nest.resolution = DT
    a = nest.Create("astrocyte_lr_1994", params=ASTRO)
    n = nest.Create("aeif_cond_alpha_astro", params={"I_e": 550.0})
    sg = nest.Create("spike_generator", params={"spike_times": _input(t_ms).tolist()})
    nest.Connect(sg, a, syn_spec={"weight": W_IN, "delay": D_IN})
    nest.Connect(a, n, syn_spec={"synapse_model": "sic_connection", "weight": W_SIC,
                                 "delay": D_SIC})
    ma = nest.Create("multimeter", params={"record_from": list(A_VARS), "interval": DT})
    mn = nest.Create("multimeter", params={"record_from": list(N_VARS), "interval": DT})
    sr = nest.Create("spike_recorder")
    nest.Connect(ma, a)
    nest.Connect(mn, n)
    nest.Connect(n, sr)
    nest.Simulate(t_ms)
    return ma.get("events"), mn.get("events"), np.asarray(sr.get("events")["times"])


def wbe_pair(t_ms: float, use_numba: bool = True):
    spk = _input(t_ms)
    net = Network(
        [Population("a", "astrocyte_lr_1994", 1, ASTRO),
         Population("n", "aeif_cond_alpha_astro", 1, {"I_e": 550.0}),
         Population("src", "virtual", 1)],
        [Projection("in", "src", "a", np.array([0]), np.array([0]), np.array([W_IN]),
                    np.array([D_IN])),
         Projection("sic", "a", "n", np.array([0]), np.array([0]), np.array([W_SIC]),
                    np.array([D_SIC]), synapse="sic_connection")],
        spike_trains=[SpikeTrainInput("st", "src", np.zeros(spk.size, np.int64), spk)])
    return simulate(net, RunConfig(t_ms, dt_ms=DT, state_recorders=[
        StateRecorder("a", list(A_VARS), np.array([0]), DT),
        StateRecorder("n", list(N_VARS), np.array([0]), DT)]), use_numba=use_numba)


def _at(res, pop: str, var: str, times: np.ndarray) -> np.ndarray:
    t, _ids, v = res.state[pop][var]
    k = np.searchsorted(np.round(t / DT), np.round(times / DT))
    assert np.array_equal(np.round(t[k] / DT), np.round(times / DT))
    return v[k, 0]


@pytest.mark.parametrize(("t_ms", "use_numba"), [(2500.0, True), (300.0, False)])
def test_astrocyte_and_sic_traces_equal_nest(t_ms, use_numba):
    ea, en, nest_spikes = nest_pair(t_ms)
    res = wbe_pair(t_ms, use_numba)
    for var in A_VARS:
        assert np.max(np.abs(_at(res, "a", var, ea["times"]) - ea[var])) <= 1e-12 * max(
            1.0, np.max(np.abs(ea[var]))), var
    for var in N_VARS:
        assert np.max(np.abs(_at(res, "n", var, en["times"]) - en[var])) <= 1e-9, var
    assert np.array_equal(np.round(res.spikes["n"][0] / DT), np.round(nest_spikes / DT))
    if t_ms > 1000:  # the test sees the mechanism: calcium crosses the SIC threshold
        assert en["I_SIC"].max() > 100.0 and nest_spikes.size > 0
        assert ea["IP3"].max() > 1.0 and ea["Ca_astro"].max() > 0.5


def tripartite_network(w_sic: float, t_ms: float) -> Network:
    from wbe.networks.astrocytes import tripartite

    r = np.random.default_rng(5)
    n, na, nv = 20, 5, 10
    projs = tripartite("n", n, "a", na, p_primary=0.2, p_third_if_primary=0.5,
                       weight_primary=2.0, weight_third_in=1.0, weight_sic=w_sic,
                       delay_primary_ms=1.5, delay_third_in_ms=1.0, delay_sic_ms=2.0, seed=3)
    m = 60
    projs.append(Projection("drive", "v", "n", r.integers(0, nv, m), r.integers(0, n, m),
                            np.full(m, 5.0), np.full(m, 1.0)))
    times = np.round(r.uniform(1.0, t_ms - 10, int(0.4 * t_ms)), 1)
    return Network(
        [Population("n", "aeif_cond_alpha_astro", n, {"I_e": r.uniform(550.0, 700.0, n),
                                                      "a": 2.0, "b": 30.0}),
         Population("a", "astrocyte_lr_1994", na, {"delta_IP3": 0.5,
                                                   "Ca_astro": r.uniform(0.15, 0.25, na)}),
         Population("v", "virtual", nv)], projs,
        spike_trains=[SpikeTrainInput("st", "v", r.integers(0, nv, times.size), times)])


def test_tripartite_network_spikes_equal_nest():
    """20 AdEx neurons, 5 astrocytes, tripartite wiring, 10 spike sources: NEST's spikes; and
    the astrocytes matter (without SIC far fewer spikes)."""
    from wbe.reference.nest import run_in_nest

    t_ms = 1000.0
    net = tripartite_network(20.0, t_ms)
    ours = simulate(net, RunConfig(t_ms)).spikes["n"]
    theirs = run_in_nest(net, RunConfig(t_ms))["n"]
    assert ours[0].size > 500
    assert np.array_equal(np.round(ours[0] / DT), np.round(theirs[0] / DT))
    assert np.array_equal(ours[1], theirs[1])
    without = simulate(tripartite_network(0.0, t_ms), RunConfig(t_ms)).spikes["n"]
    assert without[0].size < ours[0].size / 2
