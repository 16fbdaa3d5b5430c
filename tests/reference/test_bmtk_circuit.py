"""A circuit built with bmtk's NetworkBuilder (as bmtk writes it) loads into the right Network."""

from __future__ import annotations

import json

import numpy as np
import pytest

from wbe.io.sonata import load_simulation, read_circuit, read_spikes

bmtk_builder = pytest.importorskip("bmtk.builder")


@pytest.fixture()
def bmtk_circuit(tmp_path):
    """A small bmtk PointNet circuit and its configs in ``tmp_path``."""
    return build_bmtk_circuit(tmp_path)


#: the synapse model of each edge type: static, or NEST's short-term plasticity models
STATIC = {"e2i": ("static_synapse", {}), "i2e": ("static_synapse", {}),
          "static": ("static_synapse", {})}
#: NEST's short-term plasticity models on the V1 edges, with E→E edges added (NEST cannot
#: connect a device, such as bmtk's virtual input nodes, through a plastic synapse)
SHORT_TERM = {"e2i": ("tsodyks2_synapse", {"U": 0.5, "u": 1.0, "tau_rec": 2.0,
                                           "tau_fac": 100.0}),
              "i2e": ("ht_synapse", {"tau_P": 300.0, "delta_P": 0.4}),
              "e2e": ("tsodyks_synapse", {"U": 0.4, "tau_psc": 2.0, "tau_rec": 100.0,
                                          "tau_fac": 30.0}),
              "static": ("static_synapse", {})}
SHORT_TERM_AS_STATIC = {k: ("static_synapse", {}) for k in SHORT_TERM}

#: the cells of the V1 network: NEST model, each node type's dynamics_params, the weights of
#: each edge type (LGN: base + step · source id) and the current clamp's amplitude
LIF_CELLS = {"model": "nest:iaf_psc_alpha",
             "params": {"exc": {"I_e": 376.0, "V_m": -70.0, "tau_m": 10.0, "C_m": 250.0},
                        "inh": {"I_e": 0.0}},
             "weights": {"e2i": 150.0, "i2e": -300.0, "e2e": 120.0, "lgn": (200.0, 100.0)},
             "clamp": 150.0}
#: Hill & Tononi's thalamocortical (TC) and reticular (RE) cells, as ht_neuron: dimensionless
#: weights on the receptor ports the edge types name
HT_CELLS = {"model": "nest:ht_neuron",
            "params": {"exc": {"g_peak_h": 0.5}, "inh": {"theta_eq": -53.0, "tau_m": 12.0}},
            "weights": {"e2i": 1.5, "i2e": 2.0, "i2e_b": 4.0, "e2e": 0.8, "lgn": (3.0, 1.0)},
            "clamp": 24.0}
#: receptor ports of ht_neuron (AMPA 1, NMDA 2, GABA_A 3, GABA_B 4) mixed with NEST's
#: short-term plasticity: TC→RE AMPA (tsodyks2), RE→TC GABA_A (ht_synapse) and GABA_B
#: (static), TC→TC NMDA (tsodyks), LGN→TC AMPA (static)
RECEPTOR_PORTS = {
    "e2i": ("tsodyks2_synapse", {"U": 0.5, "u": 1.0, "tau_rec": 20.0, "tau_fac": 100.0,
                                 "receptor_type": 1}),
    "i2e": ("ht_synapse", {"tau_P": 300.0, "delta_P": 0.4, "receptor_type": 3}),
    "i2e_b": ("static_synapse", {"receptor_type": 4}),
    "e2e": ("tsodyks_synapse", {"U": 0.4, "tau_psc": 2.0, "tau_rec": 100.0, "tau_fac": 30.0,
                                "receptor_type": 2}),
    "static": ("static_synapse", {"receptor_type": 1})}
#: aeif_cond_beta_multisynapse with four receptor ports from its list parameters (JSON arrays
#: in the node types' dynamics_params): fast and slow excitation, fast and slow inhibition
_MS_LISTS = {"E_rev": [0.0, 0.0, -80.0, -95.0], "tau_rise": [0.2, 2.0, 0.5, 30.0],
             "tau_decay": [2.0, 60.0, 8.0, 30.0]}
MS_CELLS = {"model": "nest:aeif_cond_beta_multisynapse",
            "params": {"exc": {**_MS_LISTS, "I_e": 500.0, "b": 40.0},
                       "inh": {**_MS_LISTS, "I_e": 450.0, "a": 2.0}},
            "weights": {"e2i": 6.0, "i2e": 5.0, "i2e_b": 2.0, "e2e": 3.0, "lgn": (8.0, 4.0)},
            "clamp": 400.0}
MS_PORTS = {
    "e2i": ("tsodyks2_synapse", {"U": 0.5, "u": 1.0, "tau_rec": 20.0, "tau_fac": 100.0,
                                 "receptor_type": 1}),
    "i2e": ("ht_synapse", {"tau_P": 300.0, "delta_P": 0.4, "receptor_type": 3}),
    "i2e_b": ("static_synapse", {"receptor_type": 4}),
    "e2e": ("static_synapse", {"receptor_type": 2}),
    "static": ("static_synapse", {"receptor_type": 1})}


def build_bmtk_circuit(tmp_path, synapses=None, cells=None):
    """Build a small bmtk PointNet circuit and its configs in ``tmp_path``; ``synapses`` maps
    each edge type (e2i, i2e, optionally i2e_b and e2e; static: the LGN input) to
    (model_template, dynamics_params); ``cells``: :data:`LIF_CELLS` (default) or
    :data:`HT_CELLS`."""
    synapses = synapses or STATIC
    cells = cells or LIF_CELLS
    wts = cells["weights"]
    NetworkBuilder = bmtk_builder.NetworkBuilder
    net = NetworkBuilder("V1")
    net.add_nodes(N=3, model_type="point_neuron", model_template=cells["model"],
                  dynamics_params="exc.json", pop_name="E", ei="e")
    net.add_nodes(N=2, model_type="point_neuron", model_template=cells["model"],
                  dynamics_params="inh.json", pop_name="I", ei="i", x=[1.0, 2.0])
    net.add_edges(source={"ei": "e"}, target={"ei": "i"}, connection_rule=2,
                  syn_weight=wts["e2i"], delay=1.5, dynamics_params="e2i.json",
                  model_template=synapses["e2i"][0])
    net.add_edges(source={"ei": "i"}, target={"ei": "e"}, connection_rule=lambda s, t: 1,
                  syn_weight=wts["i2e"], delay=2.0, dynamics_params="i2e.json",
                  model_template=synapses["i2e"][0])
    if "i2e_b" in synapses:
        net.add_edges(source={"ei": "i"}, target={"ei": "e"}, connection_rule=1,
                      syn_weight=wts["i2e_b"], delay=2.5, dynamics_params="i2e_b.json",
                      model_template=synapses["i2e_b"][0])
    if "e2e" in synapses:
        net.add_edges(source={"ei": "e"}, target={"ei": "e"},
                      connection_rule=lambda s, t: int(s.node_id != t.node_id),
                      syn_weight=wts["e2e"], delay=1.2, dynamics_params="e2e.json",
                      model_template=synapses["e2e"][0])
    net.build()
    net.save(output_dir=str(tmp_path / "network"))
    lgn = NetworkBuilder("LGN")
    lgn.add_nodes(N=4, model_type="virtual", pop_name="lgn")
    e = lgn.add_edges(source=lgn.nodes(), target=net.nodes(ei="e"), connection_rule=1,
                      delay=1.0, dynamics_params="static.json",
                      model_template=synapses["static"][0])
    base, step = wts["lgn"]
    e.add_properties("syn_weight", rule=lambda s, t: base + step * s.node_id, dtypes=float)
    lgn.build()
    lgn.save(output_dir=str(tmp_path / "network"))

    comp = tmp_path / "components"
    (comp / "point_neuron_models").mkdir(parents=True)
    (comp / "synaptic_models").mkdir()
    for f, params in cells["params"].items():
        (comp / f"point_neuron_models/{f}.json").write_text(json.dumps(params))
    for f, (_, params) in synapses.items():
        (comp / f"synaptic_models/{f}.json").write_text(json.dumps(params))

    circuit = {
        "manifest": {"$BASE_DIR": "${configdir}", "$NETWORK_DIR": "$BASE_DIR/network",
                     "$COMPONENTS_DIR": "$BASE_DIR/components"},
        "components": {"point_neuron_models_dir": "$COMPONENTS_DIR/point_neuron_models",
                       "synaptic_models_dir": "$COMPONENTS_DIR/synaptic_models"},
        "networks": {
            "nodes": [{"nodes_file": f"$NETWORK_DIR/{p}_nodes.h5",
                       "node_types_file": f"$NETWORK_DIR/{p}_node_types.csv"}
                      for p in ("V1", "LGN")],
            "edges": [{"edges_file": f"$NETWORK_DIR/{e}_edges.h5",
                       "edge_types_file": f"$NETWORK_DIR/{e}_edge_types.csv"}
                      for e in ("V1_V1", "LGN_V1")],
        },
    }
    (tmp_path / "circuit_config.json").write_text(json.dumps(circuit, indent=2))

    from bmtk.utils.reports.spike_trains import SpikeTrains

    (tmp_path / "inputs").mkdir()
    st = SpikeTrains(population="LGN")
    st.add_spikes(node_ids=0, timestamps=[1.0, 5.5])
    st.add_spikes(node_ids=3, timestamps=[2.0, 3.0, 3.1, 45.0, 45.1, 45.2, 70.3])
    st.add_spikes(node_ids=2, timestamps=[44.0, 44.1, 61.7])
    st.to_sonata(str(tmp_path / "inputs/lgn_spikes.h5"))
    (tmp_path / "node_sets.json").write_text(json.dumps(
        {"lgn": {"population": "LGN"}, "exc": {"population": "V1", "ei": "e"}}))
    sim = {
        "manifest": {"$BASE_DIR": "${configdir}", "$INPUT_DIR": "$BASE_DIR/inputs",
                     "$OUTPUT_DIR": "$BASE_DIR/output"},
        "network": "circuit_config.json",
        "target_simulator": "NEST",
        "run": {"tstop": 100.0, "dt": 0.1},
        "conditions": {},
        "node_sets_file": "$BASE_DIR/node_sets.json",
        "inputs": {
            "LGN_spikes": {"input_type": "spikes", "module": "sonata",
                           "input_file": "$INPUT_DIR/lgn_spikes.h5", "node_set": "lgn"},
            "clamp": {"input_type": "current_clamp", "module": "IClamp", "node_set": "exc",
                      "amp": cells["clamp"], "delay": 10.0, "duration": 20.0},
        },
        "output": {"output_dir": "$OUTPUT_DIR", "spikes_file": "spikes.h5"},
    }
    (tmp_path / "simulation_config.json").write_text(json.dumps(sim, indent=2))
    return tmp_path


def test_bmtk_circuit_loads(bmtk_circuit):
    net = read_circuit(bmtk_circuit / "circuit_config.json")
    v1, lgn = net.population("V1"), net.population("LGN")
    assert (v1.model, v1.n, lgn.model, lgn.n) == ("iaf_psc_alpha", 5, "virtual", 4)
    # per-type JSON parameters; a parameter one type leaves out takes NEST's default
    np.testing.assert_array_equal(v1.params["I_e"], [376.0, 376.0, 376.0, 0.0, 0.0])
    np.testing.assert_array_equal(v1.params["V_m"], [-70.0] * 5)
    np.testing.assert_array_equal(v1.params["C_m"], 250.0)
    np.testing.assert_array_equal(v1.params["tau_m"], 10.0)
    # node-type CSV columns and per-group datasets become attributes
    assert list(v1.attributes["ei"]) == ["e", "e", "e", "i", "i"]
    assert list(v1.attributes["pop_name"]) == ["E", "E", "E", "I", "I"]
    np.testing.assert_array_equal(v1.attributes["x"][3:], [1.0, 2.0])
    assert np.isnan(v1.attributes["x"][:3]).all()

    pr = {p.name: p for p in net.projections}
    rec = pr["V1_to_V1"]
    assert (rec.source, rec.target) == ("V1", "V1")
    e2i = rec.source_ids < 3
    assert e2i.sum() == 6 and (~e2i).sum() == 6
    # effective weight = syn_weight (edge-types CSV) × nsyns (edges.h5): connection_rule=2
    np.testing.assert_array_equal(rec.weight[e2i], 300.0)
    np.testing.assert_array_equal(rec.weight[~e2i], -300.0)
    np.testing.assert_array_equal(rec.delay_ms[e2i], 1.5)
    np.testing.assert_array_equal(rec.delay_ms[~e2i], 2.0)
    ff = pr["LGN_to_V1"]
    assert (ff.source, ff.target, len(ff)) == ("LGN", "V1", 12)
    # value in edges.h5 (per-edge syn_weight) is used; delay comes from the CSV
    np.testing.assert_array_equal(ff.weight, 200.0 + 100.0 * ff.source_ids)
    np.testing.assert_array_equal(ff.delay_ms, 1.0)
    assert set(ff.target_ids.tolist()) == {0, 1, 2}


def test_bmtk_simulation_loads(bmtk_circuit):
    net, run = load_simulation(bmtk_circuit / "simulation_config.json")
    assert (run.tstop_ms, run.dt_ms) == (100.0, 0.1)
    (st,) = net.spike_trains
    assert st.population == "LGN"
    np.testing.assert_array_equal(st.times_ms[:4], [1.0, 2.0, 3.0, 3.1])
    np.testing.assert_array_equal(st.node_ids[:4], [0, 3, 3, 3])
    assert len(st.times_ms) == 12
    (c,) = net.currents
    assert (c.target, c.amplitude_pA, c.start_ms, c.stop_ms) == ("V1", 150.0, 10.0, 30.0)
    np.testing.assert_array_equal(c.node_ids, [0, 1, 2])
    # bmtk's spike files read back with wbe
    spikes = read_spikes(bmtk_circuit / "inputs/lgn_spikes.h5")
    assert set(spikes) == {"LGN"}


@pytest.mark.nest
def test_bmtk_pointnet_and_run_in_nest_agree(bmtk_circuit):
    """bmtk PointNet (driving NEST) and wbe's reader + NEST runner give the same spikes: the
    SONATA conventions (nsyns, CSV vs h5 values, delays, spike inputs, IClamp) agree."""
    pointnet = pytest.importorskip("bmtk.simulator.pointnet")
    pytest.importorskip("nest")
    from wbe.reference.nest import run_in_nest

    conf = pointnet.Config.from_json(str(bmtk_circuit / "simulation_config.json"))
    conf.build_env()
    net = pointnet.PointNetwork.from_config(conf)
    pointnet.PointSimulator.from_config(conf, net).run()
    bmtk_spikes = read_spikes(bmtk_circuit / "output" / "spikes.h5")["V1"]

    network, run = load_simulation(bmtk_circuit / "simulation_config.json")
    ours = run_in_nest(network, run)["V1"]
    assert len(ours[0]) > 10 and (ours[1] >= 3).any()  # inhibitory cells fire too
    o = np.lexsort((bmtk_spikes[1], bmtk_spikes[0]))
    np.testing.assert_allclose(bmtk_spikes[0][o], ours[0], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(bmtk_spikes[1][o], ours[1])


@pytest.mark.nest
def test_bmtk_pointnet_runs_wbe_written_circuit(tmp_path, monkeypatch):
    """bmtk PointNet reads what wbe writes: the same spikes as NEST and as wbe's engine run on
    the original Network."""
    pointnet = pytest.importorskip("bmtk.simulator.pointnet")
    pytest.importorskip("nest")
    from wbe.engine.network import (
        CurrentInput,
        Network,
        Population,
        Projection,
        RunConfig,
        SpikeTrainInput,
    )
    from wbe.io.sonata import write_circuit, write_simulation_config
    from wbe.reference.nest import run_in_nest

    rng = np.random.default_rng(4)
    n_e, n_i, n_v = 20, 5, 4
    v0 = rng.choice([-70.0, -62.0, -58.0], n_e)  # three node types
    pops = [Population("lgn", "virtual", n_v),
            Population("exc", "iaf_psc_exp", n_e, {"V_m": v0, "I_e": 300.0, "tau_syn_ex": 0.5}),
            Population("inh", "iaf_psc_alpha", n_i, {"I_e": 350.0})]
    m = 80
    projs = [Projection("lgn_exc", "lgn", "exc", rng.integers(0, n_v, m), rng.integers(0, n_e, m),
                        rng.uniform(100, 400, m), np.round(rng.uniform(0.1, 3.0, m), 1)),
             Projection("exc_inh", "exc", "inh", rng.integers(0, n_e, m), rng.integers(0, n_i, m),
                        rng.uniform(50, 200, m), np.round(rng.uniform(0.5, 2.0, m), 1)),
             Projection("inh_exc", "inh", "exc", rng.integers(0, n_i, m), rng.integers(0, n_e, m),
                        -rng.uniform(100, 400, m), np.full(m, 0.8))]
    net = Network(pops, projs,
                  spike_trains=[SpikeTrainInput("stim", "lgn", rng.integers(0, n_v, 30),
                                                np.round(rng.uniform(1, 150, 30), 1))],
                  currents=[CurrentInput("clamp", "inh", np.array([0, 1]), 250.0, 40.0, 90.0)])
    run = RunConfig(tstop_ms=200.0, dt_ms=0.1, seed=3)
    cc = write_circuit(tmp_path / "sim", net)
    sc = write_simulation_config(tmp_path / "sim", cc, net, run)
    monkeypatch.chdir(tmp_path / "sim")  # bmtk resolves "$BASE_DIR": "." against the cwd
    conf = pointnet.Config.from_json(str(sc))
    conf.build_env()
    pnet = pointnet.PointNetwork.from_config(conf)
    pointnet.PointSimulator.from_config(conf, pnet).run()
    theirs = read_spikes(tmp_path / "sim/output/spikes.h5")
    ours = run_in_nest(net, run)
    from wbe.engine.simulator import simulate

    engine = simulate(net, run).spikes  # and wbe's engine on the same Network
    assert len(ours["exc"][0]) > 2 and len(ours["inh"][0]) > 10
    for pop in ("exc", "inh"):
        t, i = theirs[pop]
        o = np.lexsort((i, t))
        np.testing.assert_allclose(t[o], ours[pop][0], rtol=0, atol=1e-9)
        np.testing.assert_array_equal(i[o], ours[pop][1])
        np.testing.assert_allclose(t[o], engine[pop][0], rtol=0, atol=1e-9)
        np.testing.assert_array_equal(i[o], engine[pop][1])


@pytest.mark.nest
def test_wbe_simulate_honours_output_and_reports_like_bmtk(bmtk_circuit):
    """The config's ``output`` (output_dir, spikes_file, spikes_sort_order, log_file,
    overwrite_output_dir) and ``reports`` (a membrane report) are honoured by ``wbe simulate``:
    files where the config says, the report readable by libsonata and by bmtk, and equal to the
    spikes and V_m that bmtk PointNet (driving NEST) writes for the same config."""
    import shutil
    import subprocess
    import sys

    pointnet = pytest.importorskip("bmtk.simulator.pointnet")
    libsonata = pytest.importorskip("libsonata")
    cfg = json.loads((bmtk_circuit / "simulation_config.json").read_text())
    cfg["output"] = {"output_dir": "$OUTPUT_DIR", "spikes_file": "spikes.h5",
                     "spikes_sort_order": "id", "log_file": "log.txt",
                     "overwrite_output_dir": True}
    cfg["reports"] = {"membrane": {"module": "membrane_report", "cells": "exc",
                                   "variable_name": "V_m", "sections": "soma"}}
    (bmtk_circuit / "simulation_config.json").write_text(json.dumps(cfg))
    conf = pointnet.Config.from_json(str(bmtk_circuit / "simulation_config.json"))
    conf.build_env()
    net = pointnet.PointNetwork.from_config(conf)
    pointnet.PointSimulator.from_config(conf, net).run()
    theirs = bmtk_circuit / "bmtk_output"
    shutil.move(bmtk_circuit / "output", theirs)

    (bmtk_circuit / "output").mkdir()
    (bmtk_circuit / "output" / "old.txt").write_text("replaced only when complete")
    p = subprocess.run([sys.executable, "-m", "wbe.cli", "simulate",
                        str(bmtk_circuit / "simulation_config.json"), "--no-progress"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    out = bmtk_circuit / "output"
    assert sorted(f.name for f in out.iterdir()) == ["log.txt", "membrane.h5", "spikes.h5"]
    assert "spikes ->" in (out / "log.txt").read_text()
    ours_sp, bmtk_sp = read_spikes(out / "spikes.h5")["V1"], read_spikes(theirs / "spikes.h5")["V1"]
    assert len(ours_sp[0]) > 10
    assert np.all(np.diff(ours_sp[1]) >= 0)  # sorted by id, as asked
    o1, o2 = np.lexsort((ours_sp[1], ours_sp[0])), np.lexsort((bmtk_sp[1], bmtk_sp[0]))
    np.testing.assert_allclose(ours_sp[0][o1], bmtk_sp[0][o2], rtol=0, atol=1e-9)
    np.testing.assert_array_equal(ours_sp[1][o1], bmtk_sp[1][o2])

    from wbe.io.sonata import read_report

    mine = read_report(out / "membrane.h5")["V1"]
    theirs_rep = read_report(theirs / "membrane.h5")["V1"]
    pop = libsonata.ElementReportReader(str(out / "membrane.h5"))["V1"]
    assert sorted(pop.get_node_ids()) == [0, 1, 2]
    frame = pop.get()
    assert np.allclose(np.asarray(frame.times), mine[0])
    np.testing.assert_array_equal(np.asarray(frame.data), mine[2])
    del frame, pop  # libsonata keeps the file open with its own HDF5 locking flags
    # bmtk records the same cells, every dt, from dt (NEST's multimeter): the same V_m to the
    # precision bmtk keeps (it reads NEST's .dat files, written with 3 decimals)
    n = min(len(mine[0]), len(theirs_rep[0]))
    t0 = int(np.argmin(np.abs(theirs_rep[0][0] - mine[0])))
    np.testing.assert_allclose(mine[0][t0:t0 + n - 1], theirs_rep[0][:n - 1], atol=1e-9)
    cols = [list(theirs_rep[1]).index(i) for i in mine[1]]
    np.testing.assert_allclose(mine[2][t0:t0 + n - 1], theirs_rep[2][:n - 1, cols], atol=6e-4)

    cfg["output"]["overwrite_output_dir"] = False
    (bmtk_circuit / "simulation_config.json").write_text(json.dumps(cfg))
    p = subprocess.run([sys.executable, "-m", "wbe.cli", "simulate",
                        str(bmtk_circuit / "simulation_config.json"), "--no-progress"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode != 0 and "overwrite_output_dir" in p.stderr + p.stdout
    assert (out / "membrane.h5").exists()  # nothing lost


@pytest.mark.nest
@pytest.mark.mpi
def test_wbe_simulate_spikes_equal_bmtk_nest_on_1_and_2_ranks(bmtk_circuit, mpiexec):
    """The README's claim "bmtk+NEST reproduces wbe's spikes": a circuit built with bmtk's
    NetworkBuilder, run by bmtk PointNet (driving NEST) and by ``wbe simulate`` on one rank and
    under ``mpiexec -n 2``, compiled and ``--numpy-reference`` — every spike identical on the
    grid."""

    pointnet = pytest.importorskip("bmtk.simulator.pointnet")
    sim_cfg = bmtk_circuit / "simulation_config.json"
    conf = pointnet.Config.from_json(str(sim_cfg))
    conf.build_env()
    pointnet.PointSimulator.from_config(conf, pointnet.PointNetwork.from_config(conf)).run()
    t_b, i_b = read_spikes(bmtk_circuit / "output" / "spikes.h5")["V1"]
    assert len(t_b) > 10 and (i_b >= 3).any()  # both populations fire

    for ranks, path in ((1, "fused"), (2, "fused"), (1, "numpy"), (2, "numpy")):
        _assert_wbe_simulate_gives(bmtk_circuit, (t_b, i_b), ranks, path, mpiexec)


def _assert_wbe_simulate_gives(root, bmtk_spikes, ranks: int, path: str, mpiexec) -> None:
    """``wbe simulate`` of ``root``'s simulation config (``path``: fused or numpy, on ``ranks``
    ranks) gives ``bmtk_spikes`` of population V1, every spike on the same grid step."""
    import os
    import subprocess
    import sys

    t_b, i_b = bmtk_spikes
    what = f"{path} path, {ranks} rank(s)"
    cfg = json.loads((root / "simulation_config.json").read_text())
    cfg["output"] = {"output_dir": f"$BASE_DIR/wbe_{path}_{ranks}", "spikes_file": "spikes.h5"}
    mine = root / f"simulation_config_{path}_{ranks}.json"
    mine.write_text(json.dumps(cfg))
    cmd = [sys.executable, "-m", "wbe.cli", "simulate", str(mine), "--no-progress"]
    if path == "numpy":
        cmd.append("--numpy-reference")
    if ranks > 1:
        cmd = [mpiexec, "-n", str(ranks), sys.executable, "-m", "mpi4py", *cmd[1:]]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    t_w, i_w = read_spikes(root / f"wbe_{path}_{ranks}" / "spikes.h5")["V1"]
    ob, ow = np.lexsort((i_b, t_b)), np.lexsort((i_w, t_w))
    np.testing.assert_array_equal(np.round(t_w[ow] / 0.1).astype(int),
                                  np.round(t_b[ob] / 0.1).astype(int), err_msg=what)
    np.testing.assert_array_equal(i_w[ow], i_b[ob], err_msg=what)


@pytest.mark.nest
@pytest.mark.mpi
def test_short_term_synapses_in_a_bmtk_circuit_spike_as_bmtk_nest(tmp_path, mpiexec):
    """The same bmtk-built circuit with NEST's short-term plasticity models on its edge types
    (tsodyks2_synapse E→I, ht_synapse I→E, tsodyks_synapse E→E; their parameters in
    the edge types' dynamics_params JSON, as bmtk writes them): bmtk PointNet (driving NEST) and
    ``wbe simulate`` on 1 and 2 ranks give the same spikes, which differ from those of the same
    circuit with static synapses."""

    pointnet = pytest.importorskip("bmtk.simulator.pointnet")
    spikes = {}
    for label, synapses in (("static", SHORT_TERM_AS_STATIC), ("stp", SHORT_TERM)):
        root = build_bmtk_circuit(tmp_path / label, synapses)
        conf = pointnet.Config.from_json(str(root / "simulation_config.json"))
        conf.build_env()
        pointnet.PointSimulator.from_config(conf, pointnet.PointNetwork.from_config(conf)).run()
        spikes[label] = read_spikes(root / "output" / "spikes.h5")["V1"]
    t_b, i_b = spikes["stp"]
    assert len(t_b) > 10 and (i_b >= 3).any()
    assert not (len(t_b) == len(spikes["static"][0])
                and np.allclose(np.sort(t_b), np.sort(spikes["static"][0])))
    root = tmp_path / "stp"
    network, _ = load_simulation(root / "simulation_config.json")
    assert {p.plasticity.rule for p in network.projections if p.plasticity} == {
        "tsodyks2_synapse", "ht_synapse", "tsodyks_synapse"}
    for ranks in (1, 2):
        _assert_wbe_simulate_gives(root, (t_b, i_b), ranks, "fused", mpiexec)


@pytest.mark.nest
@pytest.mark.mpi
@pytest.mark.parametrize("cells", ["ht_neuron", "aeif_cond_beta_multisynapse"])
def test_receptor_ports_in_a_bmtk_circuit_spike_as_bmtk_nest(tmp_path, mpiexec, cells):
    """A bmtk-built thalamic circuit of ``ht_neuron`` cells, and one of
    ``aeif_cond_beta_multisynapse`` cells with four ports from their list parameters, whose
    edge types name receptor ports (``receptor_type`` in their dynamics_params, as bmtk passes
    it to NEST) and mix static and short-term plastic synapse models: bmtk PointNet (driving
    NEST) and ``wbe simulate`` on 1 and 2 ranks give the same spikes."""
    pointnet = pytest.importorskip("bmtk.simulator.pointnet")
    synapses, cell_spec = {"ht_neuron": (RECEPTOR_PORTS, HT_CELLS),
                           "aeif_cond_beta_multisynapse": (MS_PORTS, MS_CELLS)}[cells]
    root = build_bmtk_circuit(tmp_path, synapses, cell_spec)
    conf = pointnet.Config.from_json(str(root / "simulation_config.json"))
    conf.build_env()
    pointnet.PointSimulator.from_config(conf, pointnet.PointNetwork.from_config(conf)).run()
    t_b, i_b = read_spikes(root / "output" / "spikes.h5")["V1"]
    assert len(t_b) > 10 and (i_b >= 3).any() and (i_b < 3).any()  # TC and RE cells fire
    network, _ = load_simulation(root / "simulation_config.json")
    ports = {(p.plasticity.rule if p.plasticity else p.synapse, p.receptor)
             for p in network.projections}
    assert ports == {(m, params["receptor_type"]) for m, params in synapses.values()}
    for ranks in (1, 2):
        _assert_wbe_simulate_gives(root, (t_b, i_b), ranks, "fused", mpiexec)
