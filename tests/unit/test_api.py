"""The Python API (wbe.Simulation): building, connection rules, inputs, running twice, closed
loops, results, exports and errors that name the object and the field."""

from __future__ import annotations

import numpy as np
import pytest

import wbe
from wbe.engine.network import RunConfig
from wbe.engine.simulator import simulate


def small(seed: int = 1) -> wbe.Simulation:
    sim = wbe.Simulation(dt_ms=0.1, seed=seed)
    exc = sim.population("E", "iaf_psc_exp", 80, I_e=wbe.Uniform(300.0, 380.0))
    inh = sim.population("I", "iaf_psc_exp", 20)
    sim.connect(exc, exc + inh, wbe.FixedInDegree(8), weight=wbe.Normal(50.0, 5.0, low=0.0),
                delay_ms=1.5)
    sim.connect(inh, exc + inh, wbe.FixedInDegree(2), weight=-200.0, delay_ms=0.8)
    sim.poisson(exc + inh, rate_hz=8000.0, weight=20.0)
    sim.record(exc[:3], ["V_m", "I_syn_ex"], interval_ms=0.5)
    return sim


def test_dir_shows_the_api():
    names = dir(wbe)
    for n in ("Simulation", "FixedInDegree", "PairwiseBernoulli", "Normal", "Plasticity"):
        assert n in names
    assert "iaf_cond_alpha" in wbe.models() and "stdp_synapse" in wbe.plasticity_rules()
    info = wbe.model_info("iaf_cond_alpha")
    assert info["params"]["g_L"]["default"] == 16.6667 and info["params"]["g_L"]["unit"] == "nS"
    assert info["ports"] == {"spike": 0}  # one port, split by the sign of the weight (NEST)
    assert info["recordables"]["V_m"] == "mV" and info["weight_unit"] == "nS"
    assert "tau_plus" in wbe.model_info("stdp_synapse")["params"]
    with pytest.raises(KeyError, match="iaf_psc_exp"):
        wbe.model_info("iaf_nope")


def test_run_twice_equals_one_run():
    a, b = small(), small()
    a.run(60.0).run(90.0)
    b.run(150.0)
    assert a.time_ms == b.time_ms == 150.0
    for pop in ("E", "I"):
        for x, y in zip(a.spikes(pop), b.spikes(pop)):
            assert np.array_equal(x, y)
    for x, y in zip(a.state("E", "V_m"), b.state("E", "V_m")):
        assert np.array_equal(x, y)
    assert a.spikes("E")[0].size > 100
    assert a.state("E", "V_m")[2].shape == (299, 3)


def test_same_seed_same_network_other_seed_other():
    n1, n2, n3 = small(1).network, small(1).network, small(2).network
    for p, q in zip(n1.projections, n2.projections):
        assert np.array_equal(p.source_ids, q.source_ids) and np.array_equal(p.weight, q.weight)
    assert not np.array_equal(n1.projections[0].source_ids, n3.projections[0].source_ids)
    assert not np.array_equal(n1.populations[0].params["I_e"], n3.populations[0].params["I_e"])


def test_simulation_equals_the_engine_on_its_network():
    sim = small()
    sim.run(50.0)
    res = simulate(sim.network, RunConfig(50.0, seed=1, state_recorders=sim.recorders))
    assert np.array_equal(res.spikes["E"][0], sim.spikes("E")[0])


# ------------------------------------------------------------------------ connection rules
def _proj(sim, name):
    return next(p for p in sim.network.projections if p.name == name)


def _rule(rule, n_src=30, n_tgt=40, same=False):
    sim = wbe.Simulation(seed=4)
    a = sim.population("a", "iaf_psc_exp", n_src)
    b = a if same else sim.population("b", "iaf_psc_exp", n_tgt)
    name = sim.connect(a, b, rule, weight=1.0, delay_ms=1.0)
    return _proj(sim, name)


def test_rules():
    p = _rule(wbe.AllToAll())
    assert len(p) == 30 * 40 and len(set(zip(p.source_ids, p.target_ids))) == 1200
    p = _rule(wbe.AllToAll(allow_autapses=False), 30, 30, same=True)
    assert len(p) == 30 * 29 and not np.any(p.source_ids == p.target_ids)
    p = _rule(wbe.OneToOne(), 30, 30)
    assert np.array_equal(p.source_ids, p.target_ids) and len(p) == 30
    with pytest.raises(ValueError, match="OneToOne"):
        _rule(wbe.OneToOne(), 30, 40)
    p = _rule(wbe.FixedInDegree(7, allow_autapses=False, allow_multapses=False), 30, 30, True)
    assert np.all(np.bincount(p.target_ids, minlength=30) == 7)
    assert not np.any(p.source_ids == p.target_ids)
    pairs = set(zip(p.source_ids.tolist(), p.target_ids.tolist()))
    assert len(pairs) == len(p)
    p = _rule(wbe.FixedOutDegree(5))
    assert np.all(np.bincount(p.source_ids, minlength=30) == 5)
    p = _rule(wbe.FixedTotalNumber(123))
    assert len(p) == 123
    p = _rule(wbe.PairwiseBernoulli(0.2), 200, 200)
    assert abs(len(p) / 40000 - 0.2) < 0.01
    p = _rule(wbe.FromArrays([0, 5, 29], [39, 0, 1]))
    assert p.source_ids.tolist() == [0, 5, 29] and p.target_ids.tolist() == [39, 0, 1]
    with pytest.raises(ValueError, match="out of range"):
        _rule(wbe.FromArrays([30], [0]))


def test_views_select_neurons():
    sim = wbe.Simulation()
    a = sim.population("a", "iaf_psc_exp", 10)
    b = sim.population("b", "iaf_psc_delta", 10)
    name = sim.connect(a[2:5], b[[0, 9]], wbe.AllToAll(), weight=1.0)
    p = _proj(sim, name)
    assert set(p.source_ids.tolist()) == {2, 3, 4} and set(p.target_ids.tolist()) == {0, 9}


# ------------------------------------------------------------------------ inputs
def test_dc_and_step_current_fire_as_the_analytic_lif():
    """A DC of I pA from 10 ms: first spike after t* = −τ ln(1 − θ/(I R)) (grid-rounded)."""
    sim = wbe.Simulation(dt_ms=0.1)
    pop = sim.population("n", "iaf_psc_exp", 1)
    sim.dc(pop, 500.0, start_ms=10.0)
    sim.run(40.0)
    tstar = -10.0 * np.log(1 - 15.0 / (500.0 * 10.0 / 250.0))
    first = sim.spikes("n")[0][0]
    assert first == pytest.approx(10.0 + np.ceil(tstar / 0.1 - 1e-9) * 0.1 + 0.1, abs=1e-9)
    sim2 = wbe.Simulation()
    pop2 = sim2.population("n", "iaf_psc_exp", 1)
    sim2.step_current(pop2, [10.0, 20.0, 30.0], [500.0, 0.0, 500.0])
    sim2.run(60.0)
    t = sim2.spikes("n")[0]
    assert t.size and not np.any((t > 21.0) & (t < 30.0))


def test_spike_source_drives_targets_and_rounds_off_grid_times():
    sim = wbe.Simulation()
    src = sim.spike_source("s", 2, [[5.0, 7.0], [6.0]])
    n = sim.population("n", "iaf_psc_delta", 2)
    sim.connect(src, n, wbe.OneToOne(), weight=20.0, delay_ms=1.0)
    sim.run(20.0)
    t, i = sim.spikes("n")
    assert np.allclose(t, [6.0, 7.0]) and i.tolist() == [0, 1]
    with pytest.warns(UserWarning, match="rounded up"):
        s = wbe.Simulation()
        s.spike_source("x", 1, [[1.04]])
    assert s.network.spike_trains[0].times_ms.tolist() == [1.1]


def test_closed_loop_changes_input_rate():
    sim = wbe.Simulation()
    pop = sim.population("n", "iaf_psc_exp", 50)
    drive = sim.poisson(pop, rate_hz=20000.0, weight=30.0)
    seen = []

    def loop(t_ms):
        seen.append(t_ms)
        if t_ms >= 50.0 and sim.engine.inp.poisson[0]["lam"][0] > 0:
            sim.set_rate(drive, 0.0)

    sim.run(100.0, on_slice=loop)
    t = sim.spikes("n")[0]
    slice_ms = sim.engine.dmin * sim.dt_ms  # no synapses: 1 ms slices
    assert seen[0] == pytest.approx(slice_ms) and len(seen) == round(100.0 / slice_ms)
    assert (t < 50.0).sum() > 50 and (t > 60.0).sum() == 0


def test_plasticity_and_receptor_per_projection():
    sim = wbe.Simulation(seed=2)
    a = sim.population("a", "iaf_psc_exp", 40, I_e=wbe.Uniform(380.0, 420.0))
    name = sim.connect(a, a, wbe.FixedInDegree(5), weight=30.0, delay_ms=1.0, receptor="spike",
                       plasticity=("stdp_synapse", {"Wmax": 100.0, "lambda": 0.05}))
    w0 = sim.weights(name)
    sim.run(300.0)
    w1 = sim.weights(name)
    assert w1.shape == w0.shape and not np.array_equal(w0, w1)
    assert np.all((w1 >= 0) & (w1 <= 100.0))


# ------------------------------------------------------------------------ errors
@pytest.mark.parametrize("call, match", [
    (lambda s, p: p[500], "population 'E': index 500 is out of range"),
    (lambda s, p: s.poisson(p, rate_hz=-5.0, weight=1.0), "rate_hz must be >= 0"),
    (lambda s, p: s.population("X", "iaf_psc_exp", 3, C_m=-1.0), "'X'.*'C_m' must be > 0"),
    (lambda s, p: s.dc(p, 10.0, start_ms=50.0, stop_ms=20.0), "stop_ms .* before start_ms"),
    (lambda s, p: s.connect(p, p, wbe.OneToOne(), delay_ms=0.01), "delay_ms must be >= dt"),
    (lambda s, p: s.population("Y", "no_such_model", 3), "iaf_psc_exp"),
    (lambda s, p: s.population("Z", "iaf_psc_exp", 3, tau_x=1.0), "no parameter"),
    (lambda s, p: s.connect(p, p, wbe.OneToOne(), receptor=7), "no receptor port 7"),
    (lambda s, p: s.connect(p, p, wbe.OneToOne(), weight=np.ones(3)), "weight"),
    (lambda s, p: s.record(p, ["Q"]), "records"),
])
def test_bad_arguments_name_object_and_field(call, match):
    sim = wbe.Simulation()
    pop = sim.population("E", "iaf_psc_exp", 10)
    with pytest.raises(ValueError, match=match):
        call(sim, pop)


def test_structure_is_fixed_after_the_first_run():
    sim = small()
    sim.run(1.0)
    with pytest.raises(RuntimeError, match="first run"):
        sim.population("late", "iaf_psc_exp", 1)


# ------------------------------------------------------------------------ exports and plots
def test_tables_neo_nwb_and_sonata(tmp_path):
    sim = small()
    sim.run(80.0)
    df = sim.spike_table()
    assert len(df) == sum(t.size for t, _ in sim.spikes().values())
    assert set(sim.state_table()["variable"]) == {"V_m", "I_syn_ex"}
    block = sim.to_neo()
    seg = block.segments[0]
    assert len(seg.spiketrains) == 100
    assert sum(len(st) for st in seg.spiketrains) == len(df)
    assert {a.name for a in seg.analogsignals} == {"E.V_m", "E.I_syn_ex"}
    assert str(seg.analogsignals[0].units.dimensionality) in ("mV", "pA")
    nwb_path = sim.to_nwb(tmp_path / "s.nwb")
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(nwb_path), "r") as io:
        units = io.read().units
        assert len(units) == 100
    cfg = sim.to_sonata(tmp_path / "son")
    from wbe.io import sonata

    net, run = sonata.load_simulation(cfg)
    res = simulate(net, run)
    assert np.array_equal(res.spikes["E"][0], sim.spikes("E")[0])
    assert np.array_equal(res.spikes["E"][1], sim.spikes("E")[1])


def test_plots_use_the_chosen_backend():
    import matplotlib

    before = matplotlib.get_backend()
    import wbe.plots  # noqa: F401  (the stages' figures must not switch the backend)

    assert matplotlib.get_backend() == before
    sim = small()
    sim.run(30.0)
    ax = sim.raster()
    assert ax.get_xlabel() == "time (ms)" and len(ax.lines) == 2
    ax = sim.plot_state("E", "V_m")
    assert ax.get_ylabel() == "V_m (mV)"
