"""Single neurons vs NEST 3.10, run inside the test: DC (I_e) + a current step + excitatory
and inhibitory input spikes; V_m every dt and spike times.

Tolerances: the exactly integrated models (iaf_psc_exp, iaf_psc_delta, iaf_psc_alpha) and
NEST's own Euler update of izhikevich: spike times identical, V_m within 1e-9 mV.
STDP: final weight of a pre/post pair vs NEST's stdp_synapse within 1e-12 relative.
"""

from __future__ import annotations

import numpy as np
import pytest

from wbe.engine.network import (
    STDP,
    CurrentInput,
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

T, DT = 120.0, 0.1
SPIKES = [(5.0, 1.0, 1.0), (12.3, 1.0, 2.5), (30.0, -1.0, 0.7), (31.0, 1.0, 0.1),
          (47.5, -1.0, 1.9), (60.2, 1.0, 3.0)]  # (time, sign, delay)

CASES = {
    "iaf_psc_exp": ({"I_e": 360.0, "tau_syn_ex": 1.5, "tau_syn_in": 3.0, "V_m": -65.0}, 400.0),
    "iaf_psc_delta": ({"I_e": 340.0, "V_m": -62.0, "t_ref": 1.5}, 4.0),
    "iaf_psc_alpha": ({"I_e": 360.0, "tau_syn_ex": 0.8, "tau_syn_in": 2.0}, 200.0),
    "izhikevich": ({"I_e": 5.0, "a": 0.02, "b": 0.2, "c": -55.0, "d": 4.0}, 20.0),
}


def _nest_run(model, params, w, step_amp):
    nest.set_verbosity("M_ERROR")
    nest.ResetKernel()
    nest.resolution = DT
    n = nest.Create(model, params=params)
    for t, sgn, d in SPIKES:
        sg = nest.Create("spike_generator", params={"spike_times": [t]})
        nest.Connect(sg, n, syn_spec={"weight": sgn * w, "delay": d})
    dc = nest.Create("dc_generator", params={"amplitude": step_amp, "start": 70.0, "stop": 90.0})
    nest.Connect(dc, n, syn_spec={"delay": DT})
    mm = nest.Create("multimeter", params={"record_from": ["V_m"], "interval": DT})
    sr = nest.Create("spike_recorder")
    nest.Connect(mm, n)
    nest.Connect(n, sr)
    nest.Simulate(T)
    ev = mm.get("events")
    return np.asarray(ev["times"]), np.asarray(ev["V_m"]), np.asarray(sr.get("events")["times"])


def _wbe_run(model, params, w, step_amp):
    net = Network(
        [Population("n", model, 1, params), Population("src", "virtual", len(SPIKES))],
        [Projection("in", "src", "n", np.arange(len(SPIKES)), np.zeros(len(SPIKES), np.int64),
                    np.array([s * w for _, s, _ in SPIKES]), np.array([d for *_, d in SPIKES]))],
        currents=[CurrentInput("step", "n", np.array([0]), step_amp, 70.0, 90.0)],
        spike_trains=[SpikeTrainInput("st", "src", np.arange(len(SPIKES)),
                                      np.array([t for t, *_ in SPIKES]))])
    res = simulate(net, RunConfig(T, dt_ms=DT, state_recorders=[
        StateRecorder("n", ["V_m"], np.array([0]), DT)]))
    t, _, v = res.state["n"]["V_m"]
    return t, v[:, 0], res.spikes["n"][0]


@pytest.mark.parametrize("model", sorted(CASES))
def test_single_neuron_matches_nest(model):
    params, w = CASES[model]
    step_amp = 150.0 if model != "izhikevich" else 3.0
    nt, nv, ns = _nest_run(model, params, w, step_amp)
    wt, wv, ws = _wbe_run(model, params, w, step_amp)
    assert ns.size >= 2, "the case should make the neuron spike"
    assert np.array_equal(np.round(ns / DT).astype(int), np.round(ws / DT).astype(int))
    assert np.array_equal(np.round(nt / DT).astype(int), np.round(wt / DT).astype(int))
    assert np.max(np.abs(nv - wv)) < 1e-9


@pytest.mark.parametrize("t_post_drive", [[9.0], [14.0], [5.0, 19.0, 30.0]])
def test_stdp_pair_matches_nest(t_post_drive):
    rule = STDP(tau_plus_ms=20.0, tau_minus_ms=15.0, lambda_=0.1, alpha=1.2, Wmax=5.0)
    t_pre, d = [10.0, 25.0, 60.0], 1.5
    nest.set_verbosity("M_ERROR")
    nest.ResetKernel()
    post = nest.Create("iaf_psc_delta", params={"tau_minus": rule.tau_minus_ms})
    pre = nest.Create("parrot_neuron")
    sg = nest.Create("spike_generator", params={"spike_times": t_pre})
    drv = nest.Create("spike_generator", params={"spike_times": t_post_drive})
    nest.Connect(sg, pre, syn_spec={"delay": DT})
    nest.Connect(drv, post, syn_spec={"weight": 100.0, "delay": 1.0})
    nest.Connect(pre, post, syn_spec={
        "synapse_model": "stdp_synapse", "weight": 1.0, "delay": d, "tau_plus": rule.tau_plus_ms,
        "lambda": rule.lambda_, "alpha": rule.alpha, "Wmax": rule.Wmax, "mu_plus": 0.0,
        "mu_minus": 0.0})
    nest.Simulate(80.0)
    w_nest = nest.GetConnections(pre, post).get("weight")
    # the parrot re-emits each spike one step later (stamp t + dt): wbe's virtual source
    # emits at those times directly
    t_pre_eff = [t + DT for t in t_pre]
    net = Network(
        [Population("post", "iaf_psc_delta", 1), Population("pre", "virtual", 1),
         Population("drive", "virtual", 1)],
        [Projection("syn", "pre", "post", np.array([0]), np.array([0]), np.array([1.0]),
                    np.array([d]), stdp=rule),
         Projection("kick", "drive", "post", np.array([0]), np.array([0]), np.array([100.0]),
                    np.array([1.0]))],
        spike_trains=[SpikeTrainInput("a", "pre", np.zeros(3, np.int64), np.array(t_pre_eff)),
                      SpikeTrainInput("b", "drive", np.zeros(len(t_post_drive), np.int64),
                                      np.array(t_post_drive))])
    res = simulate(net, RunConfig(80.0))
    assert res.weights["syn"][0] == pytest.approx(w_nest[0] if np.ndim(w_nest) else w_nest,
                                                  rel=1e-12)
