"""wbe.reference.nest: Networks run in NEST 3 give the right spikes and the published rates."""

from __future__ import annotations

import numpy as np
import pytest

from wbe.engine.network import (
    CurrentInput,
    Network,
    Plasticity,
    PoissonInput,
    Population,
    Projection,
    RunConfig,
    SpikeTrainInput,
)

pytest.importorskip("nest")
from wbe.reference.nest import run_in_nest  # noqa: E402

pytestmark = pytest.mark.nest

ANCHOR_NEST_01 = {"L23E": 0.418, "L23I": 2.081, "L4E": 3.887, "L4I": 4.960, "L5E": 6.687,
                  "L5I": 7.670, "L6E": 0.826, "L6I": 6.980}


def test_spike_input_delay_and_params():
    """A virtual spike at t acts at t + delay; per-neuron V_m; currents in [start, stop)."""
    pops = [Population("in", "virtual", 2),
            Population("n", "iaf_psc_delta", 3, {"V_th": 20.0, "E_L": 0.0, "V_reset": 0.0,
                                                  "V_m": np.array([0.0, 5.0, 10.0]),
                                                  "C_m": 1.0, "tau_m": 20.0})]
    proj = Projection("p", "in", "n", np.array([0, 1, 0]), np.array([0, 1, 2]),
                      np.array([25.0, 25.0, 25.0]), np.array([1.0, 2.0, 0.1]))
    net = Network(pops, [proj],
                  spike_trains=[SpikeTrainInput("s", "in", np.array([0, 1]),
                                                np.array([0.1, 5.0]))])
    out = run_in_nest(net, RunConfig(100.0, 0.1, record_spikes=["n", "in"]))
    np.testing.assert_allclose(out["n"][0], [0.2, 1.1, 7.0])
    np.testing.assert_array_equal(out["n"][1], [2, 0, 1])
    np.testing.assert_allclose(out["in"][0], [0.1, 5.0])


def test_current_poisson_and_stdp_run():
    pops = [Population("a", "iaf_psc_alpha", 3, {"I_e": 350.0}),
            Population("b", "iaf_psc_exp", 4)]
    proj = Projection("ab", "a", "b", np.array([0, 1, 2, 0]), np.array([0, 1, 2, 3]),
                      np.full(4, 50.0), np.full(4, 1.0),
                      plasticity=Plasticity("stdp_synapse", {"Wmax": 100.0}))
    net = Network(pops, [proj],
                  poisson=[PoissonInput("bg", "b", np.arange(4), np.array([0.0, 0.0, 0.0, 5e4]),
                                        20.0, delay_ms=1.0)],
                  currents=[CurrentInput("c", "a", np.array([0, 1]), 250.0, 40.0, 90.0)])
    out = run_in_nest(net, RunConfig(200.0, 0.1, seed=5))
    ta, ia = out["a"]
    assert set(ia.tolist()) == {0, 1} and ta.min() > 40.0 and ta.max() < 91.0
    assert set(out["b"][1].tolist()) == {3}  # only the Poisson-driven neuron fires


@pytest.mark.slow
def test_pd14_scale01_rates_match_anchor():
    """PD14 at scale 0.1, 0.3 s: per-population rates over 100–300 ms near NEST's own rates
    (ANCHORS.md, 'NEST 0.1')."""
    from wbe.networks.generators import pd14

    net, run = pd14(scale=0.1, seed=55, tstop_ms=300.0)
    out = run_in_nest(net, run)
    for pop in net.populations:
        t, _ = out[pop.name]
        rate = ((t > 100.0) & (t <= 300.0)).sum() / (pop.n * 0.2)
        ref = ANCHOR_NEST_01[pop.name]
        assert abs(rate - ref) <= 0.3 * ref + 0.15, (pop.name, rate, ref)


@pytest.mark.slow
def test_brunel_rate_matches_anchor():
    """Brunel A at g = 5, η = 2: ≈ 37.5 spikes/s (ANCHORS.md)."""
    from wbe.networks.generators import brunel

    net, run = brunel(g=5.0, eta=2.0, seed=1, tstop_ms=300.0)
    out = run_in_nest(net, run)
    t, _ = out["E"]
    rate = ((t > 100.0) & (t <= 300.0)).sum() / (net.population("E").n * 0.2)
    assert rate == pytest.approx(37.56, rel=0.1)
