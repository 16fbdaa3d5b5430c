"""A spike-train stimulus through the pipeline stages: the simulation stage writes the input's
virtual source into its circuit and its spikes into its SONATA simulation config (so
``wbe simulate`` on that config reproduces the run spike for spike), and the plasticity stage
continues from that circuit and checkpoint with its own spike train, learning only among
neurons."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from wbe.engine.simulator import simulate
from wbe.io import sonata
from wbe.networks.generators import brunel
from wbe.stages import plasticity, simulation


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    root = tmp_path_factory.mktemp("stimuli")
    net, _ = brunel(order=10, seed=3)
    net.poisson = []
    # a population named after the input source ("stimulus0"): node ids, and the background
    # streams keyed by them, must survive the written circuit's name order
    for pop in net.populations:
        pop.name = "zI" if pop.name == "I" else pop.name
    for pr in net.projections:
        pr.source, pr.target = (("zI" if x == "I" else x) for x in (pr.source, pr.target))
    conn = root / "connectome"
    sonata.write_circuit(conn, net)
    sim = root / "simulation"
    sim.mkdir()
    params = simulation.Params(
        duration_ms=120.0, background={"rate_hz": 700.0, "weight_pA": 1.2},
        stimulus=[{"neurons": ["E_3?", "zI_1"], "kind": "spike_train", "weight_pA": 16.0,
                   "spike_times_ms": [30.0, 30.5, 31.0], "start_ms": 30.0, "stop_ms": 40.0}],
        record={"n_voltage_traces": 1})
    summary = simulation.run(params, {"connectome": conn}, sim, progress=False)
    (sim / "manifest.json").write_text(json.dumps({"params": params.model_dump()}))
    return sim, summary


def test_simulation_config_reproduces_the_spike_train_run(simulated):
    sim, summary = simulated
    assert summary["synapses"] == 50 * (4 + 1)  # Brunel's in-degrees 4 + 1; the input's not
    circuit = sonata.read_circuit(sim / "circuit" / "circuit_config.json")
    src = circuit.population("stimulus0")
    assert src.is_virtual and src.n == 1
    edges = {p.target: sorted(p.target_ids.tolist()) for p in circuit.projections
             if p.source == "stimulus0"}
    assert edges == {"E": list(range(30, 40)), "zI": [1]}
    spikes = sonata.read_spikes(sim / "spikes.h5")
    t, i = spikes["E"]
    # the kicks from 30 ms (arriving from 31 ms) fire the E_3x not refractory then
    assert len(set(range(30, 40)) & set(i[(t >= 31.0) & (t < 35)].tolist())) >= 8
    assert summary["spikes"] > 11 + 10  # the background alone fires neurons too
    net, run = sonata.load_simulation(sim / "simulation_config.json")
    again = simulate(net, run, progress=False).spikes
    for pop in ("E", "zI"):
        np.testing.assert_array_equal(again[pop][1], spikes[pop][1])
        np.testing.assert_allclose(again[pop][0], spikes[pop][0], rtol=0, atol=1e-9)


def test_plasticity_continues_with_its_own_spike_train(simulated, tmp_path):
    sim, _ = simulated
    params = plasticity.Params(
        duration_ms=60.0, background={"rate_hz": 0.0},
        stimulus=[{"neurons": ["E_1?"], "kind": "spike_train", "weight_pA": 16.0,
                   "spike_times_ms": [10.0, 10.5, 11.0], "start_ms": 5.0, "stop_ms": 20.0}])
    plasticity.run(params, {"simulation": sim}, tmp_path, progress=False)
    table = pd.read_parquet(tmp_path / "weights.parquet")
    assert set(table["projection"]) <= {p.name for p in sonata.read_circuit(
        sim / "circuit" / "circuit_config.json").projections if not p.source.startswith("stim")}
    t, i = sonata.read_spikes(tmp_path / "spikes.h5")["E"]
    # the plastic phase starts at 120 ms: E_1x fire after 130 ms, from the plastic phase's train
    hit = (i >= 10) & (i < 20)
    assert sorted(set(i[hit & (t < 135)].tolist())) == list(range(10, 20))
    assert t[hit].min() >= 131.0
    circuit = sonata.read_circuit(tmp_path / "circuit" / "circuit_config.json")
    assert {"stimulus0", "plasticity_stimulus0"} <= {p.name for p in circuit.populations}


@pytest.mark.parametrize(("rule", "rule_params"), [
    ("stdp_triplet_synapse", {"Aplus": 0.01, "Aplus_triplet": 0.01, "Aminus": 0.005}),
    ("synaptic_scaling", {"r_target": 2.0, "tau_scaling": 200.0}),
])
def test_plasticity_stage_runs_any_long_term_rule(simulated, tmp_path, rule, rule_params):
    """``rule`` and ``rule_params`` (NEST's names) choose the rule; the learned circuit names it
    as its edge types' model_template."""
    sim, _ = simulated
    params = plasticity.Params(duration_ms=60.0, background={"rate_hz": 700.0,
                                                            "weight_pA": 1.2},
                               rule=rule, rule_params=rule_params, stimulus=[])
    plasticity.run(params, {"simulation": sim}, tmp_path, progress=False)
    table = pd.read_parquet(tmp_path / "weights.parquet")
    moved = table["weight_after"] != table["weight_before"]
    assert moved.mean() > 0.1, moved.mean()  # the synapses whose neurons spiked
    learned = sonata.read_circuit(tmp_path / "circuit" / "circuit_config.json")
    rules = {p.plasticity.rule for p in learned.projections if p.plasticity is not None}
    assert rules == {rule}


def test_plasticity_stage_refuses_unknown_rules_and_parameters():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="unknown long-term plasticity rule 'tsodyks2"):
        plasticity.Params(rule="tsodyks2_synapse")
    with pytest.raises(ValidationError, match=r"rule_params \(stdp_triplet_synapse\): "
                                              r"parameter 'Aplus' must be >= 0"):
        plasticity.Params(rule="stdp_triplet_synapse", rule_params={"Aplus": -1.0})


def test_plasticity_refuses_a_spike_train_delay_the_checkpoint_cannot_hold(simulated, tmp_path):
    sim, _ = simulated
    params = plasticity.Params(
        duration_ms=20.0, background={"rate_hz": 0.0},
        stimulus=[{"neurons": ["E_1?"], "kind": "spike_train", "spike_times_ms": [10.0],
                   "delay_ms": 5.0}])
    with pytest.raises(ValueError, match=r"plasticity.stimulus\[0\].delay_ms"):
        plasticity.run(params, {"simulation": sim}, tmp_path, progress=False)


@pytest.mark.parametrize(("fields", "message"), [
    ({"spike_times_ms": [10.05]}, r"stimulus\[0\].spike_times_ms.*multiples of dt_ms"),
    ({"spike_times_ms": [10.0], "delay_ms": 0.25}, r"stimulus\[0\].delay_ms.*multiples"),
])
def test_spike_trains_off_the_dt_grid_are_refused(fields, message):
    with pytest.raises(ValueError, match=message):
        simulation.Params(dt_ms=0.1, stimulus=[{"neurons": ["A"], "kind": "spike_train",
                                                **fields}])


def test_plasticity_stage_grows_synapses_by_structural_plasticity(simulated, tmp_path):
    """``structural`` (rule 'none': only structure changes): the neurons grow elements by
    their calcium, synapses form; the learned circuit holds them (static edges), with
    ``structure.parquet`` (calcium and elements per neuron) and ``structure.png``."""
    sim, _ = simulated
    grow = {"growth_curve": "gaussian", "growth_rate": 0.05, "eta": 0.0, "eps": 0.5}
    params = plasticity.Params(
        duration_ms=200.0, rule="none", background={"rate_hz": 700.0, "weight_pA": 1.2},
        stimulus=[], structural={
            "update_interval_ms": 20.0, "tau_Ca": 100.0, "beta_Ca": 0.05,
            "synaptic_elements": {"Axon_ex": grow, "Den_ex": grow},
            "synapses": {"sx": {"pre_synaptic_element": "Axon_ex",
                                "post_synaptic_element": "Den_ex", "weight": 0.1}}})
    summary = plasticity.run(params, {"simulation": sim}, tmp_path, progress=False)
    assert summary["structural_synapses"] > 10 and summary["mean_calcium"] > 0
    learned = sonata.read_circuit(tmp_path / "circuit" / "circuit_config.json")
    grown = [p for p in learned.projections if p.name.startswith("sx_")]
    assert {p.name for p in grown} == {"sx_E_E", "sx_E_zI", "sx_zI_E", "sx_zI_zI"}
    assert sum(len(p) for p in grown) == summary["structural_synapses"]
    assert all(p.plasticity is None and np.all(p.weight == 0.1) for p in grown)
    table = pd.read_parquet(tmp_path / "structure.parquet")
    assert len(table) == 50 and table["Ca"].gt(0).any()  # 40 E + 10 I neurons
    assert table["z_connected_Axon_ex"].sum() == summary["structural_synapses"]
    assert (tmp_path / "structure.png").stat().st_size > 10_000
    weights = pd.read_parquet(tmp_path / "weights.parquet")
    assert (weights["weight_after"] == weights["weight_before"]).all()  # rule 'none'


def test_plasticity_stage_refuses_bad_structural_settings():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="post_synaptic_element: no synaptic element"):
        plasticity.Params(structural={"synapses": {"s": {
            "pre_synaptic_element": "Axon_ex", "post_synaptic_element": "Den_in"}}})
    with pytest.raises(ValidationError, match="synaptic element 'Den_ex'.*growth_curve"):
        plasticity.Params(structural={"synaptic_elements": {
            "Axon_ex": {}, "Den_ex": {"growth_curve": "cubic"}}})
    with pytest.raises(ValidationError, match="rule 'none' without structural"):
        plasticity.Params(rule="none")
