"""The learning brain's structural events by hand between runs (``Simulation.prune``,
``synaptogenesis``, ``apoptosis``): what each changes, that every surviving synapse keeps its
state, and that checkpoints keep the edited structure (ranks: tests/mpi/test_api_ranks.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import wbe


def build(seed: int = 4) -> wbe.Simulation:
    sim = wbe.Simulation(seed=seed)
    e = sim.population("E", "iaf_psc_exp", 60, I_e=np.where(np.arange(60) < 45, 380.0, 0.0))
    sim.connect(e, e, wbe.FixedInDegree(8), weight=wbe.Uniform(20.0, 60.0), delay_ms=1.0,
                plasticity=("stdp_synapse", {"Wmax": 100.0, "lambda": 0.05}), name="ee")
    sim.connect(e, e, wbe.FixedInDegree(3), weight=-30.0, delay_ms=1.5, name="inh")
    sim.poisson(e[:45], rate_hz=2000.0, weight=30.0, name="bg")
    sim.poisson(e, rate_hz=0.0, weight=30.0, name="all")  # switched on after apoptosis
    return sim


def test_prune_removes_weak_synapses_and_keeps_the_rest_learning():
    sim = build()
    sim.run(200.0)
    w = sim.weights("ee")
    thr = float(np.median(w))
    before = sim.connections("ee")
    n = sim.prune("ee", below=thr)
    assert n == int((np.abs(w) < thr).sum()) > 0
    after = sim.connections("ee")
    keep = np.abs(w) >= thr
    assert len(after) == keep.sum()
    np.testing.assert_array_equal(after.weight, w[keep])  # the learned state survives
    np.testing.assert_array_equal(after.source, before.source[keep])
    sim.run(100.0)
    assert not np.array_equal(sim.weights("ee"), w[keep])  # and keeps learning
    assert sim.network.projections[0].source_ids.size == 480  # the given network unchanged


def test_synaptogenesis_connects_co_active_pairs_only():
    sim = build()
    sim.run(200.0)
    rates = np.bincount(sim.spikes("E")[1], minlength=60) / 0.2
    n0 = len(sim.connections("inh"))
    made = sim.synaptogenesis(sim._pops["E"], sim._pops["E"], window_ms=200.0,
                              min_rate_hz=5.0, p=0.2, weight=-10.0, delay_ms=1.5,
                              projection="inh")
    tab = sim.connections("inh")
    assert len(tab) == n0 + made and made > 20
    new = tab.iloc[n0:]
    assert (rates[new.source] >= 5.0).all() and (rates[new.target] >= 5.0).all()
    assert (new.source != new.target).all() and set(new.weight) == {-10.0}
    pairs = list(zip(tab.source, tab.target))
    assert len(set(pairs[n0:])) == made and not set(pairs[n0:]) & set(pairs[:n0])
    kw = dict(window_ms=200.0, min_rate_hz=5.0, p=0.2, weight=-10.0, delay_ms=1.5,
              projection="inh")
    # the draws are keyed by (seed, time, pair): at the same time the same pairs, connected
    assert sim.synaptogenesis(sim._pops["E"], sim._pops["E"], **kw) == 0
    sim.run(10.0)
    again = sim.synaptogenesis(sim._pops["E"], sim._pops["E"], **kw)
    assert again > 0 and len(sim.connections("inh")) == n0 + made + again
    sim.run(50.0)
    with pytest.raises(ValueError, match="delay range"):
        sim.synaptogenesis(sim._pops["E"], sim._pops["E"], window_ms=50.0, min_rate_hz=1.0,
                           p=1.0, weight=1.0, delay_ms=9.0, projection="inh")


def test_apoptosis_of_silent_neurons():
    sim = build()
    sim.run(200.0)
    t, i = sim.spikes("E")
    silent = np.setdiff1d(np.arange(60), i[t > 100.0])
    died = sim.apoptosis("E", window_ms=100.0)
    np.testing.assert_array_equal(died, silent)
    assert died.size >= 10
    np.testing.assert_array_equal(sim.dead("E"), died)
    for name in ("ee", "inh"):
        tab = sim.connections(name)
        assert not np.isin(tab.source, died).any() and not np.isin(tab.target, died).any()
    sim.set_rate("all", 20000.0)  # every neuron driven hard: the dead stay silent
    sim.run(100.0)
    t, i = sim.spikes("E")
    late = i[t > 200.0]
    assert not np.isin(late, died).any()
    assert np.setdiff1d(np.arange(60), died).size == np.unique(late).size  # the living fire
    assert sim.apoptosis("E", window_ms=100.0).size == 0  # the dead do not die twice


def test_checkpoint_keeps_the_edited_structure(tmp_path):
    def events(sim):
        sim.run(150.0)
        sim.prune("ee", below=35.0)
        sim.synaptogenesis(sim._pops["E"], sim._pops["E"], window_ms=150.0, min_rate_hz=5.0,
                           p=0.1, weight=-10.0, delay_ms=1.5, projection="inh")
        sim.apoptosis("E", window_ms=100.0)
        sim.run(30.0)

    ref = build()
    events(ref)
    ref.checkpoint(tmp_path / "ck.zarr")
    ref.run(70.0)
    again = build()
    again.run(0.0)
    again.restore(tmp_path / "ck.zarr")
    again.run(70.0)
    for name in ("ee", "inh"):
        a, b = ref.connections(name), again.connections(name)
        assert a.equals(b), name
    np.testing.assert_array_equal(ref.dead("E"), again.dead("E"))
    t, i = ref.spikes("E")
    m = t > 180.0
    np.testing.assert_array_equal(t[m], again.spikes("E")[0])
    np.testing.assert_array_equal(i[m], again.spikes("E")[1])


def test_neurogenesis_brings_dormant_neurons_in():
    """A population's ``reserve`` is silent and unconnected until ``neurogenesis``; the new
    neurons start from the initial state, ``grow`` wires them, and they fire and drive their
    targets; a checkpoint keeps who was born."""
    def build_ng():
        sim = wbe.Simulation(seed=3)
        e = sim.population("E", "iaf_psc_exp", 50, reserve=10, I_e=390.0)
        r = sim.population("R", "iaf_psc_exp", 20)
        sim.connect(e, r, wbe.FixedInDegree(5), weight=60.0, delay_ms=1.0, name="er")
        sim.connect(e, e, wbe.FixedInDegree(4), weight=20.0, delay_ms=1.0, name="ee")
        return sim

    sim = build_ng()
    sim.run(100.0)
    _, i = sim.spikes("E")
    assert i.size > 0 and i.max() < 40  # the reserve is silent (though driven by I_e)
    np.testing.assert_array_equal(sim.dead("E"), np.arange(40, 50))
    tab = sim.connections("er")
    assert not (tab.source >= 40).any()  # and unconnected
    v = sim.engine.lay.pop("E").state["V"]  # relative to E_L; V_m starts at E_L
    assert np.any(v[40:44] != 0.0)  # the dormant integrated unseen
    born = sim.neurogenesis("E", 4)
    np.testing.assert_array_equal(born, [40, 41, 42, 43])
    assert np.all(v[born] == 0.0)  # born at the initial state
    n = sim.grow(sim._pops["E"][40:44], sim._pops["R"], wbe.FixedOutDegree(5),
                 projection="er", weight=60.0, delay_ms=1.0)
    assert n == 20 and len(sim.connections("er")) == len(tab) + 20
    with pytest.raises(ValueError, match="has 6 dormant neurons"):
        sim.neurogenesis("E", 7)
    ck_dir = __import__("tempfile").mkdtemp()
    sim.checkpoint(Path(ck_dir) / "ck.zarr")
    sim.run(100.0)
    t, i = sim.spikes("E")
    late = i[t > 100.0]
    assert set(born) <= set(late.tolist()) and not (late >= 44).any()
    again = build_ng()
    again.run(0.0)
    again.restore(Path(ck_dir) / "ck.zarr")
    again.run(100.0)
    np.testing.assert_array_equal(again.dead("E"), np.arange(44, 50))
    np.testing.assert_array_equal(t[t > 100.0], again.spikes("E")[0])
    assert again.connections("er").equals(sim.connections("er"))
