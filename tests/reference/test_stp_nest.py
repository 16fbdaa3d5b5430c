"""Short-term plasticity rules beside NEST 3.10: the weight every spike delivers.

Each registered short-term rule with a NEST model drives one ``iaf_psc_delta`` neuron that
cannot fire (θ far away, τ_m 1e9 ms, so V_m only integrates) through one synapse, from a
regular train and from a Poisson train, with the rule's ``example`` parameters and with NEST's
defaults. V_m is recorded every step in NEST and in wbe (compiled and NumPy paths); its jump at
each arrival is the effective weight of that spike (``x·u·w`` for ``tsodyks2_synapse``). The
sequences of jumps and the V_m traces are identical bit for bit (spike times in ms computed as
NEST's ``Time::get_ms``, the same operations in the same order), and the rule must make the
jumps change (a static synapse would deliver the same weight every time).
"""

from __future__ import annotations

import numpy as np
import pytest

from wbe.engine.network import (
    Network,
    Plasticity,
    Population,
    Projection,
    RunConfig,
    SpikeTrainInput,
    StateRecorder,
)
from wbe.engine.registry import PLASTICITY
from wbe.engine.simulator import simulate

nest = pytest.importorskip("nest")
pytestmark = pytest.mark.nest

DT, DELAY, W, T = 0.1, 1.0, 2.0, 1100.0
POST = {"tau_m": 1e9, "V_th": 1e9, "E_L": 0.0, "V_m": 0.0, "V_reset": 0.0, "C_m": 1.0,
        "t_ref": 0.1}


def trains() -> dict[str, np.ndarray]:
    r = np.random.default_rng(7)
    poisson = np.unique(np.round(np.cumsum(r.exponential(1000.0 / 40.0, 45)), 1))
    return {"regular_20Hz": np.round(10.0 + 50.0 * np.arange(20), 1),
            "regular_100Hz_then_recovery": np.round(np.r_[10.0 + 10.0 * np.arange(10),
                                                          600.0, 610.0], 1),
            "poisson_40Hz": poisson[(poisson > 1.0) & (poisson < T - 10.0)]}


def stp_rules() -> list[str]:
    return [r.name for r in PLASTICITY if r.short_term and r.nest_model and not r.stochastic]


def run_nest(rule, params: dict, t_pre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    nest.set_verbosity("M_ERROR")
    nest.ResetKernel()
    nest.resolution = DT
    post = nest.Create("iaf_psc_delta", params=POST)
    pre = nest.Create("parrot_neuron")
    sg = nest.Create("spike_generator", params={"spike_times": t_pre.tolist()})
    nest.Connect(sg, pre, syn_spec={"delay": DT})
    nest.Connect(pre, post, syn_spec={"synapse_model": rule.nest_model, "weight": W,
                                      "delay": DELAY, **params})
    mm = nest.Create("multimeter", params={"record_from": ["V_m"], "interval": DT})
    nest.Connect(mm, post)
    nest.Simulate(T)
    ev = mm.get("events")
    return np.asarray(ev["times"]), np.asarray(ev["V_m"])


def run_wbe(rule: str, params: dict, t_pre: np.ndarray, use_numba: bool):
    # NEST's parrot re-emits each spike one step later: wbe's source emits at those times
    net = Network(
        [Population("post", "iaf_psc_delta", 1, POST), Population("pre", "virtual", 1)],
        [Projection("syn", "pre", "post", np.array([0]), np.array([0]), np.array([W]),
                    np.array([DELAY]), plasticity=Plasticity(rule, params))],
        spike_trains=[SpikeTrainInput("pre", "pre", np.zeros(t_pre.size, np.int64),
                                      np.round(t_pre + DT, 1))])
    res = simulate(net, RunConfig(T, dt_ms=DT, state_recorders=[
        StateRecorder("post", ["V_m"], np.array([0]), DT)]), use_numba=use_numba)
    times, _, v = res.state["post"]["V_m"]
    return np.asarray(times), v[:, 0]


def jumps(v: np.ndarray) -> np.ndarray:
    """The effective weight of every arrival: the V_m steps above the leak (τ_m 1e9 ms: below 1e-7 mV a step)."""
    d = np.diff(np.r_[0.0, v])
    return d[np.abs(d) > 1e-6]


@pytest.mark.parametrize("train", list(trains()))
@pytest.mark.parametrize("which", ["example", "nest_defaults"])
@pytest.mark.parametrize("name", stp_rules())
def test_stp_effective_weights_equal_nest(name, which, train):
    rule = PLASTICITY.get(name)
    params = dict(rule.example) if which == "example" else {}
    t_pre = trains()[train]
    t_nest, v_nest = run_nest(rule, params, t_pre)
    amp_nest = jumps(v_nest)
    assert amp_nest.size == t_pre.size
    assert np.ptp(amp_nest) > 1e-3 * W, "the rule must change the delivered weight"
    for use_numba in (True, False):
        t_wbe, v_wbe = run_wbe(name, params, t_pre, use_numba)
        assert np.array_equal(np.round(t_wbe / DT), np.round(t_nest / DT))
        np.testing.assert_array_equal(jumps(v_wbe), amp_nest)
        np.testing.assert_array_equal(v_wbe, v_nest)


def test_every_stp_rule_with_a_nest_model_is_tested():
    assert {"tsodyks2_synapse", "tsodyks_synapse", "ht_synapse"} <= set(stp_rules())
