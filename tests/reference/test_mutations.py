"""The NEST comparisons can fail: a copy of wbe with one propagator, one delay or one plasticity
parameter perturbed — by far less than any physiological meaning — is caught by the same
checks that pass for the real engine (test_contract_nest.py, test_nest_networks.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from test_contract_nest import assert_agree, nest_single, wbe_single
from test_nest_networks import assert_same_as_nest, cases, nest_result, network

from wbe.engine.registry import CELLS
from wbe.engine.simulator import simulate

pytestmark = pytest.mark.nest


def _perturbed_constants(monkeypatch, model: str, const: str, rel: float) -> None:
    cls = type(CELLS.get(model))
    original = cls.constants

    def constants(self, p, dt_ms):
        c = dict(original(self, p, dt_ms))
        c[const] = c[const] * (1.0 + rel)
        return c

    monkeypatch.setattr(cls, "constants", constants)


@pytest.mark.parametrize("use_numba", [True, False])
def test_perturbed_propagator_is_caught(monkeypatch, use_numba):
    """iaf_psc_exp with P21ex (synaptic current → V_m) off by 1e-7 relative: the single-neuron
    V_m trace leaves NEST's by more than the 1e-9 mV tolerance."""
    model = CELLS.get("iaf_psc_exp")
    ex = model.example
    ref = nest_single(model.nest_model, ex["params"], ex["weight"], ex["current_pA"])
    assert_agree(ref, wbe_single(model.name, ex["params"], ex["weight"], ex["current_pA"],
                                 use_numba=use_numba), {"V_m": model.nest_vm_tolerance_mV})
    _perturbed_constants(monkeypatch, "iaf_psc_exp", "P21ex", 1e-7)
    mutant = wbe_single(model.name, ex["params"], ex["weight"], ex["current_pA"],
                        use_numba=use_numba)
    assert np.max(np.abs(mutant[1]["V_m"] - ref[1]["V_m"])) > model.nest_vm_tolerance_mV
    with pytest.raises(AssertionError):
        assert_agree(ref, mutant, {"V_m": model.nest_vm_tolerance_mV})


def test_perturbed_propagator_is_caught_by_the_network(monkeypatch):
    """The same kind of mutation at 1e-4 relative (P20, the DC → V_m propagator) changes the
    recurrent network's spikes."""
    case = "cell-iaf_psc_exp"
    ref = nest_result(case)
    _perturbed_constants(monkeypatch, "iaf_psc_exp", "P20", 1e-4)
    with pytest.raises(AssertionError, match="spikes/c"):
        assert_same_as_nest(ref, cases.flatten(simulate(network(case), cases.run_config())),
                            "mutant")


@pytest.mark.parametrize("name", ["iaf_psc_alpha", "aeif_cond_exp", "hh_psc_alpha"])
def test_one_delay_off_by_one_step_is_caught(monkeypatch, name):
    """One input synapse of the single-neuron comparison delivered 0.1 ms late: V_m leaves
    NEST's by more than the model's tolerance."""
    import test_contract_nest

    model = CELLS.get(name)
    ex = model.example
    ref = nest_single(model.nest_model, ex["params"], ex["weight"], ex["current_pA"])
    spikes = list(test_contract_nest.SPIKES)
    t, sign, d = spikes[1]
    spikes[1] = (t, sign, d + 0.1)
    monkeypatch.setattr(test_contract_nest, "SPIKES", spikes)
    mutant = wbe_single(name, ex["params"], ex["weight"], ex["current_pA"])
    assert np.max(np.abs(mutant[1]["V_m"] - ref[1]["V_m"])) > model.nest_vm_tolerance_mV
    with pytest.raises(AssertionError):
        assert_agree(ref, mutant, {"V_m": model.nest_vm_tolerance_mV})


@pytest.mark.parametrize("case", ["cell-iaf_psc_alpha", "cell-aeif_cond_exp"])
def test_one_neurons_delays_off_by_one_step_are_caught(case):
    """The outgoing synapses of the most active neuron delivered 0.1 ms late change the
    network's spikes (one late synapse alone need not move any spike by a step)."""
    ref = nest_result(case)
    net = network(case)
    rec = next(p for p in net.projections if p.name == "rec")
    counts = np.bincount(ref["spikes/c/i"], minlength=cases.N)
    delay = rec.delay_ms + 0.1 * (rec.source_ids == np.argmax(counts))
    mutant = dataclasses.replace(net, projections=[
        dataclasses.replace(p, delay_ms=delay) if p.name == "rec" else p
        for p in net.projections])
    with pytest.raises(AssertionError, match="spikes/c"):
        assert_same_as_nest(ref, cases.flatten(simulate(mutant, cases.run_config())), "mutant")


def test_perturbed_plasticity_is_caught():
    """stdp_synapse with lambda off by 1e-9 relative: the final weights leave NEST's by more
    than the 1e-12 relative tolerance (while the spikes may stay the same)."""
    case = "rule-stdp_synapse"
    ref = nest_result(case)
    net = network(case)
    plastic = next(p for p in net.projections if p.name == "plastic")
    prm = dict(plastic.plasticity.params)
    prm["lambda"] = prm["lambda"] * (1.0 + 1e-9)
    mutant = dataclasses.replace(net, projections=[
        dataclasses.replace(p, plasticity=dataclasses.replace(p.plasticity, params=prm))
        if p.name == "plastic" else p for p in net.projections])
    with pytest.raises(AssertionError, match="weights/plastic"):
        assert_same_as_nest(ref, cases.flatten(simulate(mutant, cases.run_config())), "mutant")
