"""Models whose receptor ports come from their parameters (``aeif_cond_beta_multisynapse``: one
port per element of E_rev, tau_rise, tau_decay) or from their connections
(``iaf_bw_2001_exact``: a synapse per NMDA connection): the API, SONATA, mixed port counts in
one network, connection numbering, and errors that name the object. NEST agreement:
tests/reference/test_receptors_nest.py, tests/reference/test_bw_2001_nest.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import wbe
from wbe.engine.network import Network, Population, Projection, RunConfig, SpikeTrainInput
from wbe.engine.network import StateRecorder as Rec
from wbe.engine.registry import CELLS
from wbe.engine.simulator import simulate
from wbe.io import sonata

MS = "aeif_cond_beta_multisynapse"
THREE = {"E_rev": [0.0, -85.0, 0.0], "tau_rise": [0.5, 1.0, 3.0], "tau_decay": [2.0, 8.0, 40.0]}


def test_ports_state_and_recordables_follow_the_vectors():
    generic = CELLS.get(MS)
    assert [p.receptor_type for p in generic.ports] == [1]  # NEST's default: one port
    m = generic.specialize(THREE)
    assert m.key == f"{MS}[3]" and [p.receptor_type for p in m.ports] == [1, 2, 3]
    assert m.recordable_names == ("V_m", "w", "g_1", "g_2", "g_3")
    assert generic.specialize(dict(THREE)) is m  # one model (one compiled block) per count
    p = m.resolve(THREE, 4, np.arange(4))
    assert p["E_rev"].shape == (4, 3)
    c = m.constants(p, 0.1)
    # tau_rise == tau_decay takes NEST's alpha normalisation e/tau
    a = generic.specialize({"E_rev": [0.0], "tau_rise": [5.0], "tau_decay": [5.0]})
    pa = a.resolve({"E_rev": [0.0], "tau_rise": [5.0], "tau_decay": [5.0]}, 1, np.arange(1))
    assert a.constants(pa, 0.1)["g0_1"][0] == pytest.approx(np.e / 5.0, rel=1e-15)
    # the beta normalisation makes a unit jump of dg peak at exactly 1 nS
    tr, td = 0.5, 2.0
    t = np.linspace(0.0, 20.0, 200001)
    g = c["g0_1"][0] * (np.exp(-t / td) - np.exp(-t / tr)) / (1.0 / tr - 1.0 / td)
    assert g.max() == pytest.approx(1.0, abs=1e-8)


def _sim(seed=1):
    sim = wbe.Simulation(dt_ms=0.1, seed=seed)
    a = sim.population("A", MS, 6, I_e=500.0, **THREE)
    b = sim.population("B", MS, 4, I_e=800.0, E_rev=[0.0, -80.0], tau_rise=[1.0, 2.0],
                       tau_decay=[5.0, 10.0])
    c = sim.population("C", "iaf_cond_alpha", 3, I_e=400.0)
    src = sim.spike_source("S", 2, [np.array([5.0, 20.0]), np.array([12.0])])
    sim.connect(src, a, wbe.AllToAll(), weight=3.0, delay_ms=1.0, receptor=3)
    sim.connect(a, b, wbe.FixedInDegree(3), weight=2.0, delay_ms=1.5, receptor=2)
    sim.connect(b, a, wbe.FixedInDegree(2), weight=4.0, delay_ms=0.7, receptor=1)
    sim.connect(a, c, wbe.FixedInDegree(2), weight=-3.0, delay_ms=1.0)
    sim.record(a[:2], ["g_1", "g_2", "g_3", "V_m"], interval_ms=0.1)
    sim.record(b[:2], ["g_1", "g_2"], interval_ms=0.1)
    return sim, b


def test_two_port_counts_in_one_network_through_the_api():
    sim, b = _sim()
    with pytest.raises(ValueError, match="g_3"):  # B has two ports: no g_3
        sim.record(b, "g_3")
    sim.run(60.0)
    _, _, g3 = sim.state("A", "g_3")
    _, _, g2 = sim.state("A", "g_2")
    assert g3.max() > 2.0 and np.all(g2 == 0.0)  # port 3 driven, port 2 of A never
    assert sim.state("B", "g_2")[2].max() > 0.0
    assert sim.spikes("A")[0].size > 0 and sim.spikes("B")[0].size > 0


def test_mixed_port_counts_compiled_reference_and_split_runs_agree():
    net = _sim()[0].network
    rc = RunConfig(60.0, seed=4, state_recorders=[Rec("A", ["V_m", "g_1", "g_3"],
                                                      np.arange(6), 0.1)])
    compiled, ref = simulate(net, rc), simulate(net, rc, use_numba=False)
    for pop in ("A", "B", "C"):
        assert np.array_equal(compiled.spikes[pop][0], ref.spikes[pop][0]), pop
    for v in ("V_m", "g_1", "g_3"):
        assert np.array_equal(compiled.state["A"][v][2], ref.state["A"][v][2]), v
    a, b = _sim()[0], _sim()[0]
    a.run(25.0).run(35.0)
    b.run(60.0)
    for x, y in zip(a.state("A", "V_m"), b.state("A", "V_m")):
        assert np.array_equal(x, y)


def test_errors_name_the_field():
    sim = wbe.Simulation(dt_ms=0.1)
    with pytest.raises(ValueError, match="same length"):
        sim.population("X", MS, 2, E_rev=[0.0, -80.0], tau_rise=[1.0], tau_decay=[5.0, 9.0])
    with pytest.raises(ValueError, match="need all of"):
        sim.population("X", MS, 2, E_rev=[0.0, -80.0])
    with pytest.raises(ValueError, match="tau_rise must be <= its tau_decay"):
        sim.population("X", MS, 2, E_rev=[0.0], tau_rise=[9.0], tau_decay=[5.0])
    with pytest.raises(ValueError, match="tau_decay.*> 0"):
        sim.population("X", MS, 2, E_rev=[0.0], tau_rise=[1.0], tau_decay=[-5.0])
    p = sim.population("P", MS, 2, **THREE)
    s = sim.spike_source("S", 1, [np.array([1.0])])
    with pytest.raises(ValueError, match="no receptor port 4.*E_rev"):
        sim.connect(s, p, wbe.AllToAll(), weight=1.0, receptor=4)
    with pytest.raises(ValueError, match="no receptor port 0"):
        sim.connect(s, p, wbe.AllToAll(), weight=1.0)  # NEST's multisynapse has no port 0
    with pytest.raises(ValueError, match="weights >= 0"):
        sim.connect(s, p, wbe.AllToAll(), weight=-1.0, receptor=2)
    net = Network([Population("p", MS, 1, THREE), Population("s", "virtual", 1)],
                  [Projection("neg", "s", "p", np.array([0]), np.array([0]), np.array([-1.0]),
                              np.array([1.0]), receptor=2)])
    with pytest.raises(ValueError, match="projection 'neg'.*weights >= 0"):
        simulate(net, RunConfig(5.0))


def test_sonata_keeps_the_vectors_and_rejects_mixed_node_types(tmp_path):
    net = Network([Population("p", MS, 3, {**THREE, "I_e": np.array([500.0, 520.0, 540.0])}),
                   Population("s", "virtual", 1)],
                  [Projection("in", "s", "p", np.zeros(3, np.int64), np.arange(3),
                              np.full(3, 3.0), np.full(3, 1.0), receptor=3)],
                  spike_trains=[SpikeTrainInput("st", "s", np.array([0]), np.array([2.0]))])
    cfg = sonata.write_circuit(tmp_path / "c", net)
    back = sonata.read_circuit(cfg)
    back.spike_trains = net.spike_trains  # inputs are not part of the circuit
    assert back.population("p").params["E_rev"] == THREE["E_rev"]
    files = sorted((tmp_path / "c").rglob("p_*.json")) + sorted((tmp_path / "c").rglob("p.json"))
    assert json.loads(files[0].read_text())["tau_decay"] == THREE["tau_decay"]  # a JSON array
    rc = RunConfig(20.0, state_recorders=[Rec("p", ["g_3"], np.arange(3), 0.1)])
    r1, r2 = simulate(net, rc), simulate(back, rc)
    assert np.array_equal(r1.state["p"]["g_3"][2], r2.state["p"]["g_3"][2])
    assert r1.state["p"]["g_3"][2].max() > 2.0
    # two node types of one population with different ports: a clear error
    f0 = files[0]
    d = json.loads(f0.read_text())
    d["E_rev"] = [0.0, -70.0, 0.0]
    f0.write_text(json.dumps(d))
    with pytest.raises(ValueError, match="different 'E_rev'"):
        sonata.read_circuit(cfg)


# --------------------------------------------------------------------------- per connection
def _exact_net(order):
    """Three senders → two iaf_bw_2001_exact neurons on NMDA (a multapse among them), edges
    listed in ``order``."""
    src = np.array([2, 0, 1, 0, 2])[order]
    tgt = np.array([0, 0, 1, 0, 1])[order]
    w = np.array([1.0, 2.0, 3.0, 4.0, 5.0])[order]
    return Network([Population("n", "iaf_bw_2001_exact", 2),
                    Population("s", "virtual", 3)],
                   [Projection("nmda", "s", "n", src, tgt, w, np.full(5, 1.0),
                               receptor="NMDA")],
                   spike_trains=[SpikeTrainInput("st", "s", np.array([0, 1, 2]),
                                                 np.array([2.0, 3.0, 4.0]))])


def test_connections_are_numbered_by_source_whatever_the_edge_order():
    rc = RunConfig(10.0, state_recorders=[Rec("n", ["s_NMDA"], np.arange(2), 0.1)])
    a = simulate(_exact_net(np.arange(5)), rc)
    b = simulate(_exact_net(np.array([4, 2, 0, 3, 1])), rc)
    assert np.array_equal(a.state["n"]["s_NMDA"][2], b.state["n"]["s_NMDA"][2])
    from wbe.engine.cells.base import cell_model_of

    net = _exact_net(np.arange(5))
    m = cell_model_of(net.population("n"), net)
    assert m.key == "iaf_bw_2001_exact[3]"  # neuron 0 has three NMDA connections
    assert "w_NMDA_3" in m.state_names and len(m.rows) == 5
    from wbe.engine.connectivity import Connectivity
    from wbe.engine.context import context
    from wbe.engine.layout import Layout

    lay = Layout(net, RunConfig(1.0), context(), 0.1)
    conn = Connectivity(net, lay, context(), 0.1)
    rows = conn.syn.pk & conn.rmask  # ring row of every synapse, in table (source) order
    assert sorted(rows.tolist()) == [2, 2, 3, 3, 4]  # neuron 0: rows 2-4, neuron 1: 2-3


def test_per_connection_port_errors():
    net = _exact_net(np.arange(5))
    net.projections[0].weight[1] = 0.0
    with pytest.raises(ValueError, match="projection 'nmda'.*non-zero weights"):
        simulate(net, RunConfig(5.0))
    net = _exact_net(np.arange(5))
    net.projections[0].plasticity = wbe.Plasticity("tsodyks2_synapse", {})
    with pytest.raises(ValueError, match="projection 'nmda'.*no plasticity rule"):
        simulate(net, RunConfig(5.0))
