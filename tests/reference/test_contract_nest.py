"""Every registered component that names a NEST model, run beside NEST 3.10 in the test.

Cell models: one neuron with its ``example`` parameters under DC (I_e, or a DC input for a model
without it), a current step and excitatory and inhibitory input spikes (into the model's
``ei_ports``); V_m every dt and the spike times. Spike times identical
on the dt grid; V_m within the model's ``nest_vm_tolerance_mV`` (1e-9 mV for the exactly
integrated and Euler models; 1e-6 mV for the RKF45 models, which measure 0 here — the margin
allows a C library that rounds exp or pow differently).

Long-term plasticity rules: a pre/post pair protocol (pre through a parrot neuron, post forced
to fire), the final weight within 1e-12 relative of NEST's. Short-term rules:
``tests/reference/test_stp_nest.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from wbe.engine.network import (
    CurrentInput,
    Network,
    Plasticity,
    Population,
    Projection,
    RunConfig,
    SpikeTrainInput,
    StateRecorder,
    ei_projections,
)
from wbe.engine.plasticity.base import stamp_ms_np
from wbe.engine.registry import CELLS, PLASTICITY
from wbe.engine.simulator import simulate

nest = pytest.importorskip("nest")
pytestmark = pytest.mark.nest

T, DT = 300.0, 0.1
SPIKES = [(5.0, 1.0, 1.0), (12.3, 1.0, 2.5), (30.0, -1.0, 0.7), (31.0, 1.0, 0.1),
          (47.5, -1.0, 1.9), (60.2, 1.0, 3.0), (150.0, 1.0, 1.0), (151.0, -1.0, 1.0)]
STEP = (70.0, 90.0)  # current step on/off (ms)


def nest_single(model: str, params: dict, w: float, step_amp: float, record=("V_m",), t=T):
    nest.set_verbosity("M_ERROR")
    nest.ResetKernel()
    nest.resolution = DT
    cell = CELLS.get(model).specialize(params)  # NEST's models: registered under NEST's names
    n = nest.Create(model, params=params)
    for ts, sgn, d in SPIKES:
        sg = nest.Create("spike_generator", params={"spike_times": [ts]})
        ((port, _, wp),) = cell.ei_input([sgn * w])
        rt = {} if port is None else {"receptor_type": cell.port(port).receptor_type}
        nest.Connect(sg, n, syn_spec={"weight": float(wp[0]), "delay": d, **rt})
    windows = [(step_amp, *STEP)]
    if "I_e" not in cell.param_names:
        windows.append((cell.example["current_pA"], 0.0, t))
    for amp, on, off in windows:
        dc = nest.Create("dc_generator", params={"amplitude": amp, "start": on, "stop": off})
        nest.Connect(dc, n, syn_spec={"delay": DT})
    mm = nest.Create("multimeter", params={"record_from": list(record), "interval": DT})
    sr = nest.Create("spike_recorder", params={"time_in_steps": True})  # not stamp - offset
    nest.Connect(mm, n)
    nest.Connect(n, sr)
    nest.Simulate(t)
    ev = mm.get("events")
    return (np.asarray(ev["times"]), {v: np.asarray(ev[v]) for v in record},
            stamp_ms_np(np.asarray(sr.get("events")["times"]), DT))


def wbe_single(model: str, params: dict, w: float, step_amp: float, record=("V_m",), t=T,
               use_numba: bool = True):
    k = len(SPIKES)
    cell = CELLS.get(model).specialize(params)  # NEST's models: registered under NEST's names
    currents = [CurrentInput("step", "n", np.array([0]), step_amp, *STEP)]
    if "I_e" not in cell.param_names:
        currents.append(CurrentInput("dc", "n", np.array([0]), cell.example["current_pA"], 0.0,
                                     t))
    net = Network(
        [Population("n", model, 1, params), Population("src", "virtual", k)],
        ei_projections("in", "src", "n", model, np.arange(k), np.zeros(k, np.int64),
                       np.array([s * w for _, s, _ in SPIKES]),
                       np.array([d for *_, d in SPIKES])),
        currents=currents,
        spike_trains=[SpikeTrainInput("st", "src", np.arange(k),
                                      np.array([ts for ts, *_ in SPIKES]))])
    res = simulate(net, RunConfig(t, dt_ms=DT, state_recorders=[
        StateRecorder("n", list(record), np.array([0]), DT)]), use_numba=use_numba)
    st = res.state["n"]
    times = st[record[0]][0]
    return times, {v: st[v][2][:, 0] for v in record}, res.spikes["n"][0]


def assert_agree(nest_out, wbe_out, tol: dict[str, float]) -> None:
    (nt, nv, ns), (wt, wv, ws) = nest_out, wbe_out
    assert np.array_equal(np.round(ns / DT).astype(int), np.round(ws / DT).astype(int))
    assert np.array_equal(np.round(nt / DT).astype(int), np.round(wt / DT).astype(int))
    for v, t in tol.items():
        assert np.max(np.abs(nv[v] - wv[v])) <= t, v


@pytest.mark.parametrize("name", [m.name for m in CELLS if m.nest_model and m.spiking])
def test_cell_model_matches_nest(name):
    model = CELLS.get(name)
    ex = model.example
    out_nest = nest_single(model.nest_model, ex["params"], ex["weight"], ex["current_pA"])
    assert out_nest[2].size >= 3, "the example should make the neuron fire repeatedly"
    out_wbe = wbe_single(name, ex["params"], ex["weight"], ex["current_pA"])
    assert_agree(out_nest, out_wbe, {"V_m": model.nest_vm_tolerance_mV})


SWITCHES = [(m.name, q.name) for m in CELLS if m.nest_model and m.spiking
            for q in m.params if q.flag]


@pytest.mark.parametrize("on", [False, True])
@pytest.mark.parametrize(("name", "switch"), SWITCHES)
def test_switches_match_nest(name, switch, on):
    """Every switch (a boolean in NEST, e.g. izhikevich's ``consistent_integration``: NEST's
    Euler step or the 2003 paper's scheme) in both positions: NEST's spikes and V_m."""
    model = CELLS.get(name)
    ex = model.example
    params = {**ex["params"], switch: 1.0 if on else 0.0}
    out_nest = nest_single(model.nest_model, model.nest_values(params), ex["weight"],
                           ex["current_pA"])
    assert on or out_nest[2].size >= 3  # (on, a switch may silence it: ht's voltage_clamp)
    out_wbe = wbe_single(name, params, ex["weight"], ex["current_pA"])
    assert_agree(out_nest, out_wbe, {"V_m": model.nest_vm_tolerance_mV})


def test_switch_positions_differ():
    """The schemes differ (so the test above tells them apart)."""
    model = CELLS.get("izhikevich")
    ex = model.example
    v = [wbe_single("izhikevich", {**ex["params"], "consistent_integration": c}, ex["weight"],
                    ex["current_pA"])[1]["V_m"] for c in (0.0, 1.0)]
    assert np.max(np.abs(v[0] - v[1])) > 1.0


def pair_protocol_nest(rule, params: dict, t_pre, t_post_drive, d):
    nest.set_verbosity("M_ERROR")
    nest.ResetKernel()
    post = nest.Create("iaf_psc_delta", params={k: params[k] for k in rule.post_params})
    pre = nest.Create("parrot_neuron")
    sg = nest.Create("spike_generator", params={"spike_times": t_pre})
    drv = nest.Create("spike_generator", params={"spike_times": t_post_drive})
    nest.Connect(sg, pre, syn_spec={"delay": DT})
    nest.Connect(drv, post, syn_spec={"weight": 100.0, "delay": 1.0})
    # by CopyModel: the parameters of NEST's _hom rules are common to all their synapses
    nest.CopyModel(rule.nest_model, "rule_under_test", rule.nest_values(
        {k: v for k, v in params.items() if k not in rule.post_params}))
    nest.Connect(pre, post, syn_spec={"synapse_model": "rule_under_test", "weight": 1.0,
                                      "delay": d})
    nest.Simulate(80.0)
    w = nest.GetConnections(pre, post).get("weight")
    return w[0] if np.ndim(w) else w


@pytest.mark.parametrize("mu", [0.0, 1.0])
@pytest.mark.parametrize("t_post_drive", [[9.0], [14.0], [5.0, 19.0, 30.0]])
@pytest.mark.parametrize("name", [r.name for r in PLASTICITY  # a neuromodulated rule: no
                                  if r.nest_model and not r.short_term  # dopamine here; see
                                  and not r.modulated])  # test_stdp_family_nest
def test_rule_matches_nest(name, t_post_drive, mu):
    rule = PLASTICITY.get(name)
    params = {**rule.example, **({"mu_plus": mu, "mu_minus": mu} if "mu_plus" in
                                 rule.param_names else {})}
    t_pre, d = [10.0, 25.0, 60.0], 1.5
    w_nest = pair_protocol_nest(rule, params, t_pre, t_post_drive, d)
    # the parrot re-emits each spike one step later (stamp t + dt): wbe's virtual source
    # emits at those times directly
    net = Network(
        [Population("post", "iaf_psc_delta", 1), Population("pre", "virtual", 1),
         Population("drive", "virtual", 1)],
        [Projection("syn", "pre", "post", np.array([0]), np.array([0]), np.array([1.0]),
                    np.array([d]), plasticity=Plasticity(name, params)),
         Projection("kick", "drive", "post", np.array([0]), np.array([0]), np.array([100.0]),
                    np.array([1.0]))],
        spike_trains=[SpikeTrainInput("a", "pre", np.zeros(3, np.int64),
                                      np.array([t + DT for t in t_pre])),
                      SpikeTrainInput("b", "drive", np.zeros(len(t_post_drive), np.int64),
                                      np.array(t_post_drive))])
    for use_numba in (True, False):
        res = simulate(net, RunConfig(80.0), use_numba=use_numba)
        assert res.weights["syn"][0] == pytest.approx(w_nest, rel=1e-12)
    assert w_nest != 1.0


@pytest.mark.parametrize("start_ms", [0.0, 0.1, 0.2, 1.0])
def test_current_input_starts_as_nest_dc_generator(start_ms):
    """A current input acts when NEST's dc_generator (delay dt) does — also from t = 0, where
    NEST's first emission (step 0) acts in step 2."""
    nest.set_verbosity("M_ERROR")
    nest.ResetKernel()
    nest.resolution = DT
    n = nest.Create("iaf_psc_alpha")
    dc = nest.Create("dc_generator", params={"amplitude": 500.0, "start": start_ms,
                                             "stop": 3.0})
    nest.Connect(dc, n, syn_spec={"delay": DT})
    mm = nest.Create("multimeter", params={"record_from": ["V_m"], "interval": DT})
    nest.Connect(mm, n)
    nest.Simulate(5.0)
    net = Network([Population("n", "iaf_psc_alpha", 1)], currents=[
        CurrentInput("dc", "n", np.array([0]), 500.0, start_ms, 3.0)])
    res = simulate(net, RunConfig(5.0, dt_ms=DT, state_recorders=[
        StateRecorder("n", ["V_m"], np.array([0]), DT)]))
    ours = res.state["n"]["V_m"][2][:, 0]
    theirs = np.asarray(mm.get("events")["V_m"])
    assert theirs[0] == -70.0 and theirs[-1] > -69.0
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0)
