"""Neuromodulator fields in the engine (wbe.engine.fields.neuromodulator): a field scaling a
neuron parameter changes the spikes exactly as that parameter's value given by its
dose-response would; dopamine released into a field drives the reward-modulated rule (and a
single-voxel field is NEST's spike-fed volume transmitter); switching release off changes the
learned weights; checkpoints restore fields, pending releases and transmitter traces; bad
specifications are refused naming the field."""

from __future__ import annotations

import numpy as np
import pytest

from wbe.engine.network import (
    DoseResponse,
    Field,
    Network,
    Plasticity,
    Population,
    Projection,
    Release,
    RunConfig,
    SpikeTrainInput,
)
from wbe.engine.simulator import simulate

XYZ = {"x": np.arange(6) * 10.0, "y": np.zeros(6), "z": np.zeros(6)}


def dose_network(c0: float, mode: str = "scale") -> Network:
    """6 neurons with I_e 300–400 pA in a uniform, constant serotonin field of c0 µM that
    scales their I_e (or shifts V_th) through a Hill dose-response (EC50 0.5 µM, n = 2)."""
    pop = Population("n", "iaf_psc_alpha", 6, {"I_e": 300.0 + 20.0 * np.arange(6)},
                     attributes=dict(XYZ))
    fields = [Field(
        "serotonin", D_um2_per_ms=0.3, initial_uM=c0, spacing_um=5.0,
        effects=[DoseResponse("n", "I_e" if mode == "scale" else "V_th",
                              1.0 if mode == "scale" else -3.0, ec50_uM=0.5, hill=2.0,
                              mode=mode)])]
    return Network([pop], fields=fields)


@pytest.mark.parametrize("c0", [0.0, 0.25, 0.5, 2.0])
def test_dose_response_sets_the_parameter_it_says(c0):
    h = c0 ** 2 / (0.5 ** 2 + c0 ** 2)
    got = simulate(dose_network(c0), RunConfig(300.0)).spikes["n"]
    # the same neurons with I_e set to what the dose-response says, no field: the same spikes
    ctrl = Network([Population("n", "iaf_psc_alpha", 6,
                               {"I_e": (300.0 + 20.0 * np.arange(6)) * (1.0 + h)})])
    want = simulate(ctrl, RunConfig(300.0)).spikes["n"]
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def test_dose_response_rate_rises_with_dose_and_shift_mode():
    rates = [simulate(dose_network(c), RunConfig(300.0)).spikes["n"][0].size
             for c in (0.0, 0.3, 0.6, 1.5)]
    assert rates == sorted(rates) and rates[-1] > rates[0]
    got = simulate(dose_network(1.0, mode="shift"), RunConfig(300.0)).spikes["n"]
    h = 1.0 / (0.25 + 1.0)
    ctrl = Network([Population("n", "iaf_psc_alpha", 6,
                               {"I_e": 300.0 + 20.0 * np.arange(6), "V_th": -55.0 - 3.0 * h})])
    want = simulate(ctrl, RunConfig(300.0)).spikes["n"]
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


# ------------------------------------------------------------------ dopamine and learning
TAU_N = 100.0
RULE = {"A_plus": 1.0, "A_minus": 1.5, "tau_plus": 20.0, "tau_c": 200.0, "tau_n": TAU_N,
        "b": 0.0, "Wmin": 0.0, "Wmax": 200.0, "tau_minus": 15.0, "volume_transmitter": "vt"}
DA_MS = np.array([50.0, 120.0, 121.0, 200.0, 310.0])  # on slice ends (min delay 1 ms)


def learning_network(feed: str, amount: float = 1.0 / TAU_N) -> Network:
    """Pre (virtual, 40 Hz regular) → post (iaf_psc_delta kicked to fire) through
    stdp_dopamine_synapse under transmitter ``vt``; dopamine spikes at ``DA_MS`` either feed
    ``vt`` directly (``feed="spikes"``; sent 1 ms early over an edge of 1 ms, arriving at
    DA_MS) or are released into a single-voxel field with uptake 1/τ_n that steers ``vt``."""
    t_pre = np.arange(5.0, 400.0, 25.0)
    t_post = t_pre + 3.0
    pops = [Population("post", "iaf_psc_delta", 1), Population("pre", "virtual", 1),
            Population("kick", "virtual", 1),
            Population("da", "virtual", 1, attributes={"x": np.zeros(1), "y": np.zeros(1),
                                                       "z": np.zeros(1)}),
            Population("vt", "volume_transmitter", 1,
                       attributes={"x": np.zeros(1), "y": np.zeros(1), "z": np.zeros(1)})]
    projs = [Projection("syn", "pre", "post", np.array([0]), np.array([0]), np.array([50.0]),
                        np.array([1.0]), plasticity=Plasticity("stdp_dopamine_synapse", RULE)),
             Projection("kick", "kick", "post", np.array([0]), np.array([0]), np.array([100.0]),
                        np.array([1.0]))]
    trains = [SpikeTrainInput("a", "pre", np.zeros(t_pre.size, np.int64), t_pre),
              SpikeTrainInput("b", "kick", np.zeros(t_post.size, np.int64), t_post)]
    fields = []
    if feed == "spikes":
        projs.append(Projection("da_vt", "da", "vt", np.array([0]), np.array([0]),
                                np.array([1.0]), np.array([1.0])))
        trains.append(SpikeTrainInput("d", "da", np.zeros(DA_MS.size, np.int64), DA_MS - 1.0))
    else:
        trains.append(SpikeTrainInput("d", "da", np.zeros(DA_MS.size, np.int64), DA_MS))
        fields.append(Field("dopamine", D_um2_per_ms=0.24, k_per_ms=1.0 / TAU_N,
                            shape=(1, 1, 1), spacing_um=1.0,
                            releases=[Release("da", amount)], volume_transmitters=["vt"]))
    return Network(pops, projs, spike_trains=trains, fields=fields)


@pytest.mark.parametrize("use_numba", [True, False])
def test_single_voxel_field_is_nests_spike_fed_transmitter(use_numba):
    spiking = simulate(learning_network("spikes"), RunConfig(400.0), use_numba=use_numba)
    field = simulate(learning_network("field"), RunConfig(400.0), use_numba=use_numba)
    w0, w1 = spiking.weights["syn"][0], field.weights["syn"][0]
    assert w0 != 50.0
    assert w1 == pytest.approx(w0, rel=1e-9)


def test_dopamine_release_changes_what_is_learned():
    on = simulate(learning_network("field"), RunConfig(400.0)).weights["syn"][0]
    off = simulate(learning_network("field", 0.0), RunConfig(400.0)).weights["syn"][0]
    assert off == 50.0 and abs(on - off) > 1.0


def spatial_network() -> Network:
    """Dopamine released by 3 virtual neurons spread over 200 µm, diffusing; a transmitter
    at one end; a dose-response on 8 neurons placed along the line."""
    net = learning_network("field", 0.05)
    da = net.population("da")
    da.n = 3
    da.attributes = {"x": np.array([0.0, 100.0, 200.0]), "y": np.zeros(3), "z": np.zeros(3)}
    net.spike_trains[-1] = SpikeTrainInput("d", "da", np.array([0, 1, 2, 0, 2, 1, 1]),
                                           np.array([20.0, 33.3, 48.1, 90.0, 91.7, 150.2,
                                                     211.9]))
    net.populations.append(Population("cells", "iaf_psc_alpha", 8,
                                      {"I_e": np.linspace(370.0, 390.0, 8)},
                                      attributes={"x": np.linspace(0, 200, 8),
                                                  "y": np.full(8, 10.0), "z": np.zeros(8)}))
    net.fields = [Field("dopamine", D_um2_per_ms=0.24, k_per_ms=0.005, spacing_um=10.0,
                        margin_um=20.0, update_interval_ms=2.0,
                        releases=[Release("da", 2000.0)], volume_transmitters=["vt"],
                        effects=[DoseResponse("cells", "I_e", 0.5, ec50_uM=0.05)])]
    return net


def test_spatial_field_changes_rates_and_weights():
    net = spatial_network()
    res = simulate(net, RunConfig(300.0))
    net.fields[0].releases[0].amount_uM_um3 = 0.0
    quiet = simulate(net, RunConfig(300.0))
    assert res.spikes["cells"][0].size > quiet.spikes["cells"][0].size
    assert res.weights["syn"][0] != quiet.weights["syn"][0]


@pytest.mark.parametrize("t_stop", [77.3, 150.0])
def test_checkpoint_restores_the_field(tmp_path, t_stop):
    net = spatial_network()
    full = simulate(net, RunConfig(300.0))
    simulate(net, RunConfig(t_stop), checkpoint=tmp_path / "ck")
    second = simulate(net, RunConfig(300.0), restore=tmp_path / "ck")
    assert second.weights["syn"][0] == full.weights["syn"][0]
    t, i = full.spikes["cells"]
    t2, i2 = second.spikes["cells"]
    keep = t > t_stop
    assert np.array_equal(t[keep], t2) and np.array_equal(i[keep], i2)


@pytest.mark.parametrize(("change", "match"), [
    (lambda f: setattr(f, "update_interval_ms", 1.5), "multiple of the minimum delay"),
    (lambda f: setattr(f, "volume_transmitters", ["post"]), "volume_transmitter"),
    (lambda f: f.effects.append(DoseResponse("cells", "no_such", 1.0, 1.0)), "no parameter"),
    (lambda f: f.releases.append(Release("nobody", 1.0)), "unknown population"),
])
def test_bad_field_specifications_are_refused(change, match):
    net = spatial_network()
    change(net.fields[0])
    with pytest.raises(ValueError, match=f"field 'dopamine'.*{match}|{match}"):
        simulate(net, RunConfig(10.0))


def test_dose_response_on_some_neurons_only():
    """``node_ids``: the neurons a dose-response acts on; the others keep their parameter."""
    net = dose_network(2.0)
    net.fields[0].effects[0].node_ids = np.array([1, 4])
    got = simulate(net, RunConfig(300.0)).spikes["n"]
    h = 4.0 / (0.25 + 4.0)
    i_e = 300.0 + 20.0 * np.arange(6)
    i_e[[1, 4]] *= 1.0 + h
    want = simulate(Network([Population("n", "iaf_psc_alpha", 6, {"I_e": i_e})]),
                    RunConfig(300.0)).spikes["n"]
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])


def test_a_silenced_neuron_releases_nothing():
    """Neurons that died (``Engine.silence``) still integrate unseen: their spikes release no
    transmitter, as they reach no synapse."""
    from wbe.engine.context import context
    from wbe.engine.loop import Engine

    def amounts(silence: bool) -> tuple[float, float]:
        net = Network([Population("n", "iaf_psc_alpha", 2, {"I_e": 500.0},
                                  attributes={"x": np.array([0.0, 20.0]), "y": np.zeros(2),
                                              "z": np.zeros(2)})],
                      fields=[Field("dopamine", D_um2_per_ms=0.24, k_per_ms=0.05,
                                    spacing_um=5.0, releases=[Release("n", 100.0)])])
        eng = Engine(net, RunConfig(200.0), context(None))
        eng.run_until(1000)
        before = float(eng.fields[0].c.sum())
        if silence:
            eng.silence(np.array([0, 1]))
        eng.run_until(2000)
        return before, float(eng.fields[0].c.sum())

    b, a = amounts(True)  # no release after: only uptake, exactly e^(-k t)
    assert b > 0 and a == pytest.approx(b * np.exp(-0.05 * 100.0), rel=1e-9)
    b2, a2 = amounts(False)
    assert b2 == b and a2 > 10 * a  # (alive, they kept releasing)


@pytest.mark.parametrize("use_numba", [True, False])
def test_two_fields_set_parameters_of_the_same_neurons_together(use_numba):
    """A serotonin field scaling I_e and a dopamine field (updated at its own interval)
    shifting V_th act together, as the control with both parameters set says."""
    net = dose_network(1.0)
    net.fields.append(Field("dopamine", D_um2_per_ms=0.3, initial_uM=1.0, spacing_um=5.0,
                            update_interval_ms=5.0,
                            effects=[DoseResponse("n", "V_th", -3.0, ec50_uM=0.5, hill=2.0,
                                                  mode="shift")]))
    got = simulate(net, RunConfig(300.0), use_numba=use_numba).spikes["n"]
    h = 1.0 / (0.25 + 1.0)
    ctrl = Network([Population("n", "iaf_psc_alpha", 6, {
        "I_e": (300.0 + 20.0 * np.arange(6)) * (1.0 + h), "V_th": -55.0 - 3.0 * h})])
    want = simulate(ctrl, RunConfig(300.0)).spikes["n"]
    assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
