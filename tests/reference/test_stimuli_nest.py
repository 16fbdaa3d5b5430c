"""The pipeline's stimuli (``simulation.stimulus``): DC and step currents and spike trains to
named cells give NEST's spikes, and the config refuses an inconsistent stimulus naming the
field."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from pydantic import ValidationError

from wbe.engine.simulator import simulate
from wbe.networks.generators import brunel
from wbe.stages.common import Background, Drive, Recording, add_inputs, voltage_recorders

pytestmark = pytest.mark.nest


def _driven_network():
    """Brunel model A (order 10: 40 E + 10 I iaf_psc_delta, C_m 1 pF: 1 pA = 20 mV at rest),
    without its Poisson drive: a DC to E cells 1x, steps to every I cell and a spike train
    into E cells 2x, so the run is deterministic and must equal NEST's spike for spike."""
    net, run = brunel(order=10, tstop_ms=200.0, seed=3)
    net.poisson = []
    add_inputs(net, Background(rate_hz=0.0), [
        Drive(neurons=["E_1*"], kind="dc", amplitude_pA=1.2, start_ms=20.0, stop_ms=150.0),
        Drive(neurons=["I_*"], kind="step", amplitude_times_ms=[30.0, 80.0],
              amplitude_values_pA=[0.8, 1.5], start_ms=30.0, stop_ms=160.0),
        Drive(neurons=["E_2*"], kind="spike_train", weight_pA=16.0, delay_ms=1.5,
              spike_times_ms=[40.0, 40.5, 41.0, 90.2, 90.3], start_ms=40.0, stop_ms=100.0),
    ])
    return net, run


def test_dc_step_and_spike_train_stimuli_spike_as_in_nest():
    from wbe.reference.nest import run_in_nest

    net, run = _driven_network()
    assert len(net.currents) == 3  # one DC, two step pieces
    assert [p.name for p in net.populations if p.is_virtual] == ["stimulus2"]
    ours = simulate(copy.deepcopy(net), run, progress=False).spikes
    theirs = run_in_nest(copy.deepcopy(net), run)
    assert sum(len(t) for t, _ in ours.values()) > 50
    for pop in ("E", "I"):
        np.testing.assert_array_equal(ours[pop][1], theirs[pop][1], err_msg=pop)
        np.testing.assert_allclose(ours[pop][0], theirs[pop][0], rtol=0, atol=1e-9)
    # the step currents switch: I cells fire faster on 1.5 pA than on 0.8 pA
    t_i = ours["I"][0]
    assert ((t_i >= 80) & (t_i < 160)).sum() / 80 > ((t_i >= 30) & (t_i < 80)).sum() / 50
    # three 16 mV kicks 0.5 ms apart take every E_2x cell over threshold 1.5 ms after the first
    # (the E cells' DC does not reach them); nothing else makes E_2x fire before 40 ms
    t_e, i_e = ours["E"]
    e2 = (i_e >= 20) & (i_e < 30)
    assert set(i_e[e2 & (t_e < 45)]) == set(range(20, 30)) and not (e2 & (t_e < 41)).any()


@pytest.mark.parametrize(("fields", "message"), [
    ({"kind": "step", "amplitude_times_ms": [10.0, 5.0], "amplitude_values_pA": [1.0, 2.0]},
     "must increase"),
    ({"kind": "step", "amplitude_times_ms": [10.0], "amplitude_values_pA": [1.0, 2.0]},
     "same, non-zero length"),
    ({"kind": "dc", "amplitude_times_ms": [10.0], "amplitude_values_pA": [1.0]},
     "for kind 'step'"),
    ({"kind": "dc", "start_ms": 50.0, "stop_ms": 40.0}, "must be after start_ms"),
    ({"kind": "ramp"}, "kind"),
    ({"kind": "spike_train"}, "needs spike_times_ms"),
    ({"kind": "spike_train", "spike_times_ms": [5.0, 5.0]}, "must increase"),
    ({"kind": "spike_train", "spike_times_ms": [5.0], "start_ms": 10.0}, r"\[start_ms, stop_ms\)"),
    ({"kind": "poisson", "spike_times_ms": [5.0]}, "for kind 'spike_train'"),
])
def test_inconsistent_stimulus_is_refused_naming_the_field(fields, message):
    with pytest.raises(ValidationError, match=message):
        Drive(neurons=["AVM"], **fields)


def test_step_pieces_end_at_stop():
    d = Drive(neurons=["A"], kind="step", amplitude_times_ms=[10.0, 20.0, 90.0],
              amplitude_values_pA=[1.0, 2.0, 3.0], start_ms=5.0, stop_ms=50.0)
    assert d.pieces() == [(10.0, 20.0, 1.0), (20.0, 50.0, 2.0)]


def test_named_neurons_and_variables_are_recorded():
    net, run = _driven_network()
    rec = voltage_recorders(net, Recording(n_voltage_traces=2, neurons=["E_17", "I_3"],
                                           variables=["V_m"]))
    ids = {r.population: r.node_ids.tolist() for r in rec}
    assert ids == {"E": [0, 17, 39], "I": [0, 3, 9]}
    with pytest.raises(ValueError, match="records"):
        voltage_recorders(net, Recording(variables=["g_ex"]))
