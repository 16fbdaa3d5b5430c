"""Reference-network generators (wbe.networks.generators)."""

from __future__ import annotations

import numpy as np
import pytest

from wbe.networks.generators import (
    PD14_CONN_PROBS,
    PD14_FULL_NUM_NEURONS,
    PD14_POPULATIONS,
    brunel,
    build_to_sonata,
    num_synapses_from_conn_probs,
    pd14,
    postsynaptic_potential_to_current,
)


def test_brunel_sizes_indegrees_weights():
    net, run = brunel(order=50, g=5.0, eta=2.0, J_mV=0.1, seed=3)
    assert [(p.name, p.model, p.n) for p in net.populations] == [
        ("E", "iaf_psc_delta", 200), ("I", "iaf_psc_delta", 50)]
    e = net.population("E")
    assert (e.params["tau_m"], e.params["V_th"], e.params["V_reset"], e.params["t_ref"],
            e.params["E_L"], e.params["C_m"]) == (20.0, 20.0, 10.0, 2.0, 0.0, 1.0)
    pr = {p.name: p for p in net.projections}
    c_e, c_i = 20, 5
    for name, c, w in (("E_to_E", c_e, 0.1), ("E_to_I", c_e, 0.1), ("I_to_E", c_i, -0.5),
                       ("I_to_I", c_i, -0.5)):
        p = pr[name]
        n_tgt = net.population(p.target).n
        np.testing.assert_array_equal(np.bincount(p.target_ids, minlength=n_tgt), c)
        np.testing.assert_array_equal(p.weight, w)
        np.testing.assert_array_equal(p.delay_ms, 1.5)
        assert p.source_ids.max() < net.population(p.source).n
        assert p.weight.dtype == np.float64 and p.source_ids.dtype == np.int64
    # ν_thr = θ/(J C_E τ_m); rate per neuron = η ν_thr C_E = η θ / (J τ_m)
    assert net.poisson[0].rate_hz == pytest.approx(2.0 * 20.0 / (0.1 * 20.0) * 1000.0)
    assert net.poisson[0].weight == 0.1
    assert (run.tstop_ms, run.dt_ms, run.seed) == (1000.0, 0.1, 3)


def test_brunel_full_size_counts():
    net, _ = brunel(order=2500)  # 12,500 neurons, 15.6 M synapses (ANCHORS)
    assert net.n_total == 12500
    assert sum(len(p) for p in net.projections) == 12500 * 1250


def test_brunel_deterministic():
    a, _ = brunel(order=40, seed=9)
    b, _ = brunel(order=40, seed=9)
    c, _ = brunel(order=40, seed=10)
    np.testing.assert_array_equal(a.projections[0].source_ids, b.projections[0].source_ids)
    assert not np.array_equal(a.projections[0].source_ids, c.projections[0].source_ids)


def test_psc_over_psp_matches_reference():
    assert 0.15 * postsynaptic_potential_to_current(250.0, 10.0, 0.5) == pytest.approx(
        87.81, abs=0.01)


def test_pd14_full_scale_synapse_count():
    k = num_synapses_from_conn_probs(PD14_CONN_PROBS, PD14_FULL_NUM_NEURONS,
                                     PD14_FULL_NUM_NEURONS)
    assert k.sum() == pytest.approx(2.99e8, rel=0.005)


@pytest.fixture(scope="module")
def pd14_small():
    return pd14(scale=0.05, seed=55)


def test_pd14_sizes_and_params(pd14_small):
    net, run = pd14_small
    assert [p.name for p in net.populations] == PD14_POPULATIONS
    np.testing.assert_array_equal([p.n for p in net.populations],
                                  np.round(PD14_FULL_NUM_NEURONS * 0.05))
    net01, _ = pd14(scale=0.1)
    assert net01.n_total == 7717
    assert sum(len(p) for p in net01.projections) == pytest.approx(2.99e6, rel=0.005)
    for p in net.populations:
        assert p.model == "iaf_psc_exp"
        assert (p.params["C_m"], p.params["tau_m"], p.params["tau_syn_ex"],
                p.params["tau_syn_in"], p.params["V_th"], p.params["E_L"],
                p.params["V_reset"], p.params["t_ref"]) == (250.0, 10.0, 0.5, 0.5, -50.0,
                                                            -65.0, -65.0, 2.0)
        assert p.params["I_e"] > 0  # DC compensation of the downscaled in-degrees
    l23e = net.population("L23E").params["V_m"]
    assert l23e.mean() == pytest.approx(-68.28, abs=0.5)
    assert l23e.std() == pytest.approx(5.36, abs=0.5)
    assert run.dt_ms == 0.1 and run.seed == 55


def test_pd14_weights_delays_counts(pd14_small):
    net, _ = pd14_small
    scale = 0.05
    full = num_synapses_from_conn_probs(PD14_CONN_PROBS, PD14_FULL_NUM_NEURONS,
                                        PD14_FULL_NUM_NEURONS)
    w_e = 87.8085 / np.sqrt(scale)
    pr = {p.name: p for p in net.projections}
    for i, tgt in enumerate(PD14_POPULATIONS):
        for j, src in enumerate(PD14_POPULATIONS):
            expected = int(np.round(full[i, j] * scale * scale))
            name = f"{src}_to_{tgt}"
            if expected == 0:
                assert name not in pr
                continue
            p = pr[name]
            assert len(p) == expected
            assert p.source_ids.max() < net.population(src).n
            assert p.target_ids.max() < net.population(tgt).n
            exc = j % 2 == 0
            mean = w_e * (1.0 if exc else -4.0) * (2.0 if (i, j) == (0, 2) else 1.0)
            if len(p) > 2000:
                assert p.weight.mean() == pytest.approx(mean, rel=0.01), name
                assert p.weight.std() == pytest.approx(abs(mean) * 0.1, rel=0.1), name
                d_mean = 1.5 if exc else 0.75
                assert p.delay_ms.mean() == pytest.approx(d_mean, rel=0.1), name
            assert (np.sign(p.weight) == (1 if exc else -1)).all()
            assert p.delay_ms.min() >= 0.1 - 1e-12
            np.testing.assert_allclose(p.delay_ms / 0.1, np.round(p.delay_ms / 0.1), atol=1e-9)
    ext = {p.target: p for p in net.poisson}
    assert ext["L23E"].rate_hz == 8.0 * np.round(1600 * scale)
    assert ext["L23E"].weight == pytest.approx(w_e)
    assert ext["L23E"].delay_ms == 1.5


def test_pd14_deterministic_and_dc_variant():
    a, _ = pd14(scale=0.02, seed=1)
    b, _ = pd14(scale=0.02, seed=1)
    for x, y in zip(a.projections, b.projections):
        np.testing.assert_array_equal(x.weight, y.weight)
        np.testing.assert_array_equal(x.source_ids, y.source_ids)
    dc, _ = pd14(scale=0.02, seed=1, poisson_input=False)
    assert dc.poisson == []
    assert all(p.params["I_e"] > a.population(p.name).params["I_e"] for p in dc.populations)


def test_build_to_sonata(tmp_path):
    from wbe.io.sonata import load_simulation

    cc, sc = build_to_sonata("brunel", tmp_path, order=20, seed=2)
    net, run = load_simulation(sc)
    ref, ref_run = brunel(order=20, seed=2)
    assert net.n_total == ref.n_total and run == ref_run
    assert sum(len(p) for p in net.projections) == sum(len(p) for p in ref.projections)
    assert [p.rate_hz for p in net.poisson] == [p.rate_hz for p in ref.poisson]
    with pytest.raises(ValueError, match="unknown network kind"):
        build_to_sonata("nope", tmp_path / "x")
