"""SONATA circuit / simulation-config / spike-report I/O (wbe.io.sonata)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
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
    StateRecorder,
)
from wbe.io.sonata import (
    SonataError,
    load_simulation,
    read_circuit,
    read_spikes,
    write_circuit,
    write_simulation_config,
    write_spikes,
)


def make_network(seed: int = 1, n_exc: int = 40, many_types: bool = False) -> Network:
    rng = np.random.default_rng(seed)
    n_inh, n_in = 12, 8
    v0 = rng.normal(-65.0, 5.0, n_exc)  # all distinct → per-node dynamics_params
    i_e = np.where(np.arange(n_inh) < 6, 0.0, 12.5)  # two values → two node types
    pops = [
        Population("exc", "iaf_psc_exp", n_exc,
                   {"C_m": 250.0, "tau_m": 10.0, "V_m": v0 if many_types else -65.0,
                    "tau_syn_ex": 0.5},
                   {"name": np.array([f"cell_{i}" for i in range(n_exc)], dtype=object),
                    "x": rng.random(n_exc), "layer": np.arange(n_exc, dtype=np.int32) % 3}),
        Population("inh", "iaf_psc_exp", n_inh, {"I_e": i_e, "V_th": -50.0}),
        Population("input", "virtual", n_in),
    ]
    m = 500
    projs = [
        Projection("exc_to_inh", "exc", "inh", rng.integers(0, n_exc, m),
                   rng.integers(0, n_inh, m), rng.normal(87.8, 8.78, m),
                   rng.uniform(0.5, 3.0, m)),
        Projection("inh_to_exc", "inh", "exc", rng.integers(0, n_inh, m),
                   rng.integers(0, n_exc, m), -4 * rng.normal(87.8, 8.78, m), np.full(m, 0.8),
                   attributes={"nsyns": rng.integers(1, 4, m)}),
        Projection("input_to_exc", "input", "exc", rng.integers(0, n_in, 60),
                   rng.integers(0, n_exc, 60), np.full(60, 50.0), np.full(60, 1.0),
                   plasticity=Plasticity("stdp_synapse", {
                       "tau_plus": 16.8, "tau_minus": 33.7, "lambda": 0.005, "alpha": 1.05,
                       "mu_plus": 0.0, "mu_minus": 0.4, "Wmax": 120.0})),
        Projection("gap", "inh", "inh", np.arange(4), np.arange(4, 8), np.full(4, 0.5),
                   np.full(4, 0.1), synapse="gap_junction"),
    ]
    return Network(
        pops, projs,
        poisson=[PoissonInput("bg", "exc", np.arange(n_exc), 8.0, 87.8, delay_ms=1.5),
                 PoissonInput("bg_i", "inh", np.arange(3, 9), np.linspace(1, 6, 6), 20.0,
                              start_ms=5.0, stop_ms=50.0)],
        currents=[CurrentInput("step", "inh", np.array([0, 2, 4]), 120.5, 10.0, 60.0),
                  CurrentInput("dc", "exc", np.arange(n_exc), 30.0)],
        spike_trains=[SpikeTrainInput("stim", "input", np.array([0, 3, 3, 7]),
                                      np.array([1.0, 2.5, 10.1, 20.0]))],
    )


def _canon(pr: Projection):
    o = np.lexsort((pr.source_ids, pr.target_ids))
    return o


def _same_plasticity(a, b) -> None:
    """The same rule with the same parameter values (those left out take the defaults)."""
    assert (a is None) == (b is None)
    if a is not None:
        from wbe.engine.registry import PLASTICITY

        rule = PLASTICITY.get(a.rule)
        assert a.rule == b.rule
        np.testing.assert_array_equal(rule.resolve(a.params, "a"), rule.resolve(b.params, "b"))


def assert_same_network(a: Network, b: Network, inputs: bool = False) -> None:
    assert [p.name for p in a.populations] == [p.name for p in b.populations]
    for pa, pb in zip(a.populations, b.populations):
        assert (pa.model, pa.n) == (pb.model, pb.n)
        assert set(pa.params) == set(pb.params), pa.name
        for k in pa.params:
            np.testing.assert_array_equal(np.broadcast_to(pa.params[k], pa.n),
                                          np.broadcast_to(pb.params[k], pb.n), err_msg=k)
        assert set(pa.attributes) == set(pb.attributes)
        for k in pa.attributes:
            assert list(pa.attributes[k]) == list(pb.attributes[k]), k
    pa_ = {p.name: p for p in a.projections}
    pb_ = {p.name: p for p in b.projections}
    assert set(pa_) == set(pb_)
    for name, x in pa_.items():
        y = pb_[name]
        assert (x.source, x.target, x.synapse, x.receptor) == (
            y.source, y.target, y.synapse, y.receptor)
        _same_plasticity(x.plasticity, y.plasticity)
        ox, oy = _canon(x), _canon(y)
        for f in ("source_ids", "target_ids", "delay_ms"):
            np.testing.assert_array_equal(getattr(x, f)[ox], getattr(y, f)[oy], err_msg=f)
        if "nsyns" in x.attributes:  # syn_weight = w / nsyns: within an ulp
            np.testing.assert_allclose(x.weight[ox], y.weight[oy], rtol=1e-15, atol=0)
        else:
            np.testing.assert_array_equal(x.weight[ox], y.weight[oy])
        for k in x.attributes:
            np.testing.assert_array_equal(x.attributes[k][ox], y.attributes[k][oy])
    if inputs:
        for kind in ("poisson", "currents", "spike_trains"):
            la, lb = getattr(a, kind), getattr(b, kind)
            assert [i.name for i in la] == [i.name for i in lb]
            for ia, ib in zip(la, lb):
                for f, va in vars(ia).items():
                    vb = getattr(ib, f)
                    if isinstance(va, np.ndarray) or isinstance(vb, np.ndarray):
                        np.testing.assert_array_equal(va, vb, err_msg=f"{ia.name}.{f}")
                    else:
                        assert va == vb, (ia.name, f)


@pytest.mark.parametrize("many_types", [False, True])
def test_circuit_round_trip_exact(tmp_path, many_types):
    net = make_network(many_types=many_types)
    cc = write_circuit(tmp_path / "circuit", net)
    assert cc == tmp_path / "circuit" / "circuit_config.json"
    for f in ("network/nodes.h5", "network/edges.h5", "network/node_types.csv",
              "network/edge_types.csv"):
        assert (tmp_path / "circuit" / f).exists()
    back = read_circuit(cc)
    assert_same_network(net, back)
    # per-node V_m stored as /nodes/exc/0/dynamics_params/V_m when too many types
    with h5py.File(tmp_path / "circuit/network/nodes.h5", "r") as h5:
        assert ("dynamics_params" in h5["nodes/exc/0"]) == many_types
        assert h5["nodes/exc/0/name"].dtype.kind == "O"
    # node types CSV is space separated, as bmtk writes it
    header = (tmp_path / "circuit/network/node_types.csv").read_text().splitlines()[0]
    assert header.split(" ")[0] == "node_type_id"
    types = (tmp_path / "circuit/network/node_types.csv").read_text()
    assert types.count(" inh\n") == 2  # two distinct I_e values → two node types
    # writing what was read gives the same files' content
    cc2 = write_circuit(tmp_path / "again", back)
    assert_same_network(back, read_circuit(cc2))


def test_nest_named_dynamics_params(tmp_path):
    cc = write_circuit(tmp_path, make_network())
    d = json.loads((tmp_path / "components/point_neuron_models/exc.json").read_text())
    assert d == {"C_m": 250.0, "tau_m": 10.0, "V_m": -65.0, "tau_syn_ex": 0.5}
    et = (tmp_path / "network/edge_types.csv").read_text()
    assert "stdp_synapse" in et and "gap_junction" in et and "static_synapse" in et
    conf = json.loads(cc.read_text())
    assert conf["networks"]["edges"][0]["populations"]["gap"]["type"] == "electrical"


def test_libsonata_reads_written_circuit(tmp_path):
    libsonata = pytest.importorskip("libsonata")
    net = make_network()
    cc = write_circuit(tmp_path, net)
    c = libsonata.CircuitConfig.from_file(str(cc))
    assert c.node_populations == {"exc", "inh", "input"}
    assert c.edge_populations == {p.name for p in net.projections}
    for p in net.populations:
        assert c.node_population(p.name).size == p.n
    names = c.node_population("exc").get_attribute("name", libsonata.Selection([0, 5]))
    assert list(names) == ["cell_0", "cell_5"]
    for pr in net.projections:
        ep = c.edge_population(pr.name)
        assert ep.size == len(pr)
        assert (ep.source, ep.target) == (pr.source, pr.target)
        for node in (0, 3):
            aff = ep.afferent_edges([node])
            assert aff.flat_size == int((pr.target_ids == node).sum())
            eff = ep.efferent_edges([node])
            assert eff.flat_size == int((pr.source_ids == node).sum())
            np.testing.assert_array_equal(ep.target_nodes(aff), node)
        w = ep.get_attribute("syn_weight", ep.select_all())
        exp = pr.weight / pr.attributes["nsyns"] if "nsyns" in pr.attributes else pr.weight
        np.testing.assert_allclose(np.sort(w), np.sort(exp))


def test_simulation_round_trip(tmp_path):
    net = make_network()
    run = RunConfig(tstop_ms=100.0, dt_ms=0.1, seed=7, record_spikes=["exc"],
                    state_recorders=[StateRecorder("inh", ["V_m"], np.array([1, 2]), 0.5)])
    cc = write_circuit(tmp_path / "circuit", net)
    sc = write_simulation_config(tmp_path / "sim", cc, net, run)
    back, run2 = load_simulation(sc)
    assert_same_network(net, back, inputs=True)
    assert (run2.tstop_ms, run2.dt_ms, run2.seed, run2.record_spikes) == (100.0, 0.1, 7, ["exc"])
    (r,) = run2.state_recorders
    assert (r.population, r.variables, r.interval_ms) == ("inh", ["V_m"], 0.5)
    np.testing.assert_array_equal(r.node_ids, [1, 2])
    # the config is relocatable: move both folders together
    (tmp_path / "moved").mkdir()
    (tmp_path / "circuit").rename(tmp_path / "moved/circuit")
    (tmp_path / "sim").rename(tmp_path / "moved/sim")
    back2, _ = load_simulation(tmp_path / "moved/sim/simulation_config.json")
    assert_same_network(net, back2, inputs=True)


def test_iclamp_units_and_manifest(tmp_path):
    """bmtk PointNet passes IClamp ``amp`` to NEST unchanged (pA); NEURON configs use nA."""
    net = Network([Population("p", "iaf_psc_alpha", 3)])
    cc = write_circuit(tmp_path / "net", net)
    (tmp_path / "node_sets.json").write_text(json.dumps({"some": {"population": "p",
                                                                  "node_id": [0, 2]}}))
    conf = {
        "manifest": {"$BASE_DIR": "${configdir}", "$NET": "$BASE_DIR/net"},
        "network": "$NET/circuit_config.json",
        "run": {"tstop": 50.0, "dt": 0.025},
        "node_sets_file": "$BASE_DIR/node_sets.json",
        "conditions": {"celsius": 34.0},
        "outputs": {"output_dir": "$BASE_DIR/out", "spikes_file": "spikes.h5"},
        "inputs": {"clamp": {"input_type": "current_clamp", "module": "IClamp",
                             "node_set": "some", "amp": [190.0, 50.0], "delay": [5.0, 30.0],
                             "duration": [10.0, 100.0]}},
    }
    sc = tmp_path / "sim.json"
    sc.write_text(json.dumps(conf))
    net2, run = load_simulation(sc)
    assert run.dt_ms == 0.025 and run.tstop_ms == 50.0
    c0, c1 = net2.currents
    assert (c0.amplitude_pA, c0.start_ms, c0.stop_ms) == (190.0, 5.0, 15.0)
    assert (c1.amplitude_pA, c1.start_ms, c1.stop_ms) == (50.0, 30.0, np.inf)
    np.testing.assert_array_equal(c0.node_ids, [0, 2])
    conf["target_simulator"] = "NEURON"
    conf["inputs"]["clamp"]["amp"] = [0.19, 0.05]
    sc.write_text(json.dumps(conf))
    net3, _ = load_simulation(sc)
    assert net3.currents[0].amplitude_pA == pytest.approx(190.0)
    assert cc.exists()


def test_spikes_round_trip_and_libsonata(tmp_path):
    spikes = {"exc": (np.array([3.0, 1.0, 1.0, 2.5]), np.array([4, 2, 1, 0])),
              "inh": (np.zeros(0), np.zeros(0, np.int64))}
    write_spikes(tmp_path / "s.h5", spikes)
    back = read_spikes(tmp_path / "s.h5")
    np.testing.assert_array_equal(back["exc"][0], [1.0, 1.0, 2.5, 3.0])
    np.testing.assert_array_equal(back["exc"][1], [1, 2, 0, 4])
    assert back["exc"][0].dtype == np.float64 and back["exc"][1].dtype == np.int64
    assert len(back["inh"][0]) == 0
    with h5py.File(tmp_path / "s.h5", "r") as h5:
        assert h5["spikes/exc/timestamps"].attrs["units"] == "ms"
        assert "sorting" in h5["spikes/exc"].attrs
    libsonata = pytest.importorskip("libsonata")
    r = libsonata.SpikeReader(str(tmp_path / "s.h5"))
    assert r["exc"].sorting == "by_time"
    assert sorted(r["exc"].get()) == sorted([(4, 3.0), (2, 1.0), (1, 1.0), (0, 2.5)])
    write_spikes(tmp_path / "by_id.h5", spikes, sorting="by_id")
    np.testing.assert_array_equal(read_spikes(tmp_path / "by_id.h5")["exc"][1], [0, 1, 2, 4])


# ----------------------------------------------------------------------- malformed files
def _snapshot(root: Path) -> dict:
    return {p: (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def _edit_h5(path: Path, fn) -> None:
    with h5py.File(path, "r+") as h5:
        fn(h5)


def _replace_ds(h5, name, data, **kw):
    attrs = dict(h5[name].attrs)
    del h5[name]
    ds = h5.create_dataset(name, data=data, **kw)
    for k, v in attrs.items():
        ds.attrs[k] = v


def _break(kind: str, root: Path) -> tuple[str, str]:
    """Corrupt a written circuit; return (file name, field) the error must name."""
    net_dir = root / "network"
    if kind == "missing_dataset":
        _edit_h5(net_dir / "nodes.h5", lambda h: h.__delitem__("nodes/exc/node_type_id"))
        return "nodes.h5", "node_type_id"
    if kind == "missing_group":
        _edit_h5(net_dir / "edges.h5", lambda h: h.move("edges", "edgez"))
        return "edges.h5", "/edges"
    if kind == "wrong_dtype":
        _edit_h5(net_dir / "edges.h5", lambda h: _replace_ds(
            h, "edges/exc_to_inh/source_node_id", h["edges/exc_to_inh/source_node_id"][()]
            .astype(np.float64)))
        return "edges.h5", "source_node_id"
    if kind == "dangling":
        def f(h):
            d = h["edges/exc_to_inh/target_node_id"]
            a = d[()]
            a[7] = 12  # inh has 12 nodes: ids 0..11
            d[...] = a
        _edit_h5(net_dir / "edges.h5", f)
        return "edges.h5", "target_node_id"
    if kind == "negative_delay":
        def f(h):
            d = h["edges/exc_to_inh/0/delay"]
            a = d[()]
            a[3] = -1.0
            d[...] = a
        _edit_h5(net_dir / "edges.h5", f)
        return "edges.h5", "delay"
    if kind == "missing_population_attr":
        _edit_h5(net_dir / "edges.h5",
                 lambda h: h["edges/gap/source_node_id"].attrs.__delitem__("node_population"))
        return "edges.h5", "source_node_id"
    if kind == "unknown_template":
        p = net_dir / "node_types.csv"
        p.write_text(p.read_text().replace("nest:iaf_psc_exp", "nest:iaf_psc_nonsense", 1))
        return "node_types.csv", "model_template"
    if kind == "foreign_template":
        p = net_dir / "node_types.csv"
        p.write_text(p.read_text().replace("nest:iaf_psc_exp", "hoc:Scnn1a", 1))
        return "node_types.csv", "model_template"
    if kind == "unknown_synapse":
        p = net_dir / "edge_types.csv"
        p.write_text(p.read_text().replace("static_synapse ", "tsodyks_wrong ", 1))
        return "edge_types.csv", "model_template"
    if kind == "malformed_json":
        p = root / "components/point_neuron_models/exc.json"
        p.write_text('{"C_m": 250.0,, }')
        return "exc.json", "JSON"
    if kind == "malformed_config":
        p = root / "circuit_config.json"
        p.write_text(p.read_text()[:-10])
        return "circuit_config.json", "JSON"
    if kind == "malformed_csv":
        p = net_dir / "node_types.csv"
        lines = p.read_text().splitlines()
        lines[1] += " extra"
        p.write_text("\n".join(lines) + "\n")
        return "node_types.csv", "line 2"
    if kind == "csv_bad_id":
        p = net_dir / "edge_types.csv"
        lines = p.read_text().splitlines()
        lines[1] = "abc" + lines[1][3:]
        p.write_text("\n".join(lines) + "\n")
        return "edge_types.csv", "edge_type_id"
    if kind == "unknown_type_id":
        _edit_h5(net_dir / "nodes.h5", lambda h: h["nodes/inh/node_type_id"].__setitem__(
            0, 999))
        return "nodes.h5", "node_type_id"
    if kind == "string_param":
        p = root / "components/point_neuron_models/exc.json"
        p.write_text(json.dumps({"C_m": "big"}))
        return "exc.json", "C_m"
    if kind == "missing_networks":
        p = root / "circuit_config.json"
        conf = json.loads(p.read_text())
        del conf["networks"]
        p.write_text(json.dumps(conf))
        return "circuit_config.json", "networks"
    if kind == "unknown_manifest_var":
        p = root / "circuit_config.json"
        p.write_text(p.read_text().replace("$NETWORK_DIR/nodes.h5", "$NOPE/nodes.h5"))
        return "circuit_config.json", "nodes_file"
    raise AssertionError(kind)


BREAKS = ["missing_dataset", "missing_group", "wrong_dtype", "dangling", "negative_delay",
          "missing_population_attr", "unknown_template", "foreign_template", "unknown_synapse",
          "malformed_json", "malformed_config", "malformed_csv", "csv_bad_id", "unknown_type_id",
          "string_param", "missing_networks", "unknown_manifest_var"]


@pytest.mark.parametrize("kind", BREAKS)
def test_malformed_circuit_raises_naming_file_and_field(tmp_path, kind):
    root = tmp_path / "c"
    cc = write_circuit(root, make_network())
    fname, field = _break(kind, root)
    before = _snapshot(tmp_path)
    with pytest.raises(SonataError) as exc:
        read_circuit(cc)
    msg = str(exc.value)
    assert fname in msg and field in msg, msg
    assert isinstance(exc.value, ValueError)
    assert _snapshot(tmp_path) == before  # reading never writes


def _sim(tmp_path, net=None, run=None):
    net = net or make_network()
    cc = write_circuit(tmp_path / "c", net)
    return write_simulation_config(tmp_path / "s", cc, net, run or RunConfig(100.0, 0.1))


def test_sub_dt_delay_rejected(tmp_path):
    sc = _sim(tmp_path, run=RunConfig(100.0, dt_ms=1.0))  # delays down to 0.5 ms
    before = _snapshot(tmp_path)
    with pytest.raises(SonataError, match=r"edges\.h5.*delay.*below dt"):
        load_simulation(sc)
    assert _snapshot(tmp_path) == before


@pytest.mark.parametrize("case", ["not_positive", "missing_tstop", "bad_node_set",
                                  "not_virtual", "missing_input_file"])
def test_malformed_simulation_config(tmp_path, case):
    sc = _sim(tmp_path)
    conf = json.loads(sc.read_text())
    spikes_file = tmp_path / "s/inputs/stim.h5"
    if case == "not_positive":
        write_spikes(spikes_file, {"input": (np.array([0.0, 2.0]), np.array([0, 1]))})
        fname, field = "stim.h5", "timestamps"
    elif case == "missing_tstop":
        del conf["run"]["tstop"]
        fname, field = "simulation_config.json", "run.tstop"
    elif case == "bad_node_set":
        conf["inputs"]["bg"]["node_set"] = "nothing_like_this"
        fname, field = "simulation_config.json", "inputs.bg.node_set"
    elif case == "not_virtual":
        conf["inputs"]["stim"]["node_set"] = "bg_nodes"
        fname, field = "simulation_config.json", "inputs.stim.node_set"
    else:
        spikes_file.unlink()
        fname, field = "stim.h5", "cannot open"
    sc.write_text(json.dumps(conf))
    before = _snapshot(tmp_path)
    with pytest.raises(SonataError) as exc:
        load_simulation(sc)
    msg = str(exc.value)
    assert fname in msg and field in msg, msg
    assert _snapshot(tmp_path) == before


def test_read_spikes_errors(tmp_path):
    with h5py.File(tmp_path / "bad.h5", "w") as h5:
        h5.create_dataset("spikes/p/timestamps", data=[1.0, 2.0])
    with pytest.raises(SonataError, match=r"bad\.h5.*node_ids.*missing dataset"):
        read_spikes(tmp_path / "bad.h5")
    with h5py.File(tmp_path / "bad2.h5", "w") as h5:
        h5.create_dataset("spikes/p/timestamps", data=np.array([b"a"]))
        h5.create_dataset("spikes/p/node_ids", data=[1])
    with pytest.raises(SonataError, match=r"bad2\.h5.*timestamps.*dtype"):
        read_spikes(tmp_path / "bad2.h5")
    with pytest.raises(SonataError, match="nofile.h5"):
        read_spikes(tmp_path / "nofile.h5")
    assert not (tmp_path / "nofile.h5").exists()


def test_off_grid_input_spikes_act_at_the_end_of_their_step(tmp_path):
    """As NEST's spike_generator delivers them to grid-based neurons (bmtk sets precise_times):
    2.03 ms acts as 2.1 ms; 1.0 and a time within half a NEST tic of the grid stay."""
    sc = _sim(tmp_path)
    write_spikes(tmp_path / "s/inputs/stim.h5",
                 {"input": (np.array([1.0, 2.03, 3.0004]), np.array([0, 1, 2]))})
    with pytest.warns(UserWarning, match="stim.h5.*end of their step"):
        net, _run = load_simulation(sc)
    assert net.spike_trains[0].times_ms.tolist() == [1.0, 2.1, 3.0]


def test_reports_round_trip_through_config_and_files(tmp_path):
    """A report over two populations with a start and end time, written as a simulation config
    and read back; its samples written as SONATA report files (one per variable) and read."""
    from wbe.engine.network import RunConfig, StateRecorder
    from wbe.engine.simulator import simulate
    from wbe.io.sonata import output_spec, read_report, write_report

    net = Network([Population("a", "iaf_psc_exp", 4, {"I_e": 400.0}),
                   Population("b", "iaf_cond_exp", 3, {"I_e": 500.0})])
    recs = [StateRecorder("a", ["V_m", "I_syn_ex"], np.array([0, 2]), 0.5, 2.0, 8.0, "mem"),
            StateRecorder("b", ["V_m", "I_syn_ex"][:1], np.array([1]), 0.5, 2.0, 8.0, "solo")]
    run = RunConfig(10.0, state_recorders=recs)
    cc = write_circuit(tmp_path / "c", net)
    sc = write_simulation_config(tmp_path / "c", cc, net, run)
    _, run2 = load_simulation(sc)
    got = {(r.name, r.population): r for r in run2.state_recorders}
    assert set(got) == {("mem", "a"), ("solo", "b")}
    r = got["mem", "a"]
    assert (r.start_ms, r.stop_ms, r.interval_ms) == (2.0, 8.0, 0.5)
    assert r.variables == ["V_m", "I_syn_ex"] and r.node_ids.tolist() == [0, 2]
    spec = output_spec(sc)
    assert spec.output_dir == (tmp_path / "c" / "output").resolve()
    assert set(spec.reports["mem"]) == {"V_m", "I_syn_ex"}
    assert spec.reports["mem"]["V_m"].name == "mem_V_m.h5"
    assert spec.reports["solo"]["V_m"].name == "solo.h5"
    res = simulate(net, run2)
    t, ids, v = res.reports["mem"]["a"]["V_m"]
    assert t[0] == 2.0 and t[-1] == 7.5 and v.shape == (12, 2)
    write_report(tmp_path / "m.h5", "V_m", {"a": (t, ids, v)}, units="mV")
    back = read_report(tmp_path / "m.h5")["a"]
    assert np.allclose(back[0], t) and np.array_equal(back[1], ids)
    assert np.array_equal(back[2], v.astype(np.float32).astype(np.float64))


def test_output_section_errors_name_the_field(tmp_path):
    from wbe.io.sonata import output_spec

    net = Network([Population("a", "iaf_psc_exp", 1)])
    from wbe.engine.network import RunConfig

    cc = write_circuit(tmp_path / "c", net)
    sc = write_simulation_config(tmp_path / "c", cc, net, RunConfig(1.0))
    conf = json.loads(sc.read_text())
    conf["output"]["spikes_sort_order"] = "by_colour"
    sc.write_text(json.dumps(conf))
    with pytest.raises(SonataError, match="spikes_sort_order"):
        output_spec(sc)
    conf["output"]["spikes_sort_order"] = "id"
    conf["output"]["overwrite_output_dir"] = "yes"
    sc.write_text(json.dumps(conf))
    with pytest.raises(SonataError, match="overwrite_output_dir"):
        output_spec(sc)
    conf["output"]["overwrite_output_dir"] = False
    conf["reports"] = {"r": {"module": "calcium_report", "cells": "a", "variable_name": "V_m"}}
    sc.write_text(json.dumps(conf))
    with pytest.raises(SonataError, match="reports.r.module"):
        output_spec(sc)


def test_switches_are_json_booleans_as_nest_takes_them(tmp_path):
    """NEST's boolean parameters (``flag`` switches, e.g. izhikevich's
    ``consistent_integration``) are written as JSON booleans (bmtk passes them to NEST, which
    refuses 0.0 for a bool) and read back; a boolean for a numeric parameter, or a string for a
    switch, is an error naming the file and the field."""
    net = Network([Population("iz", "izhikevich", 3, {"consistent_integration": 0.0,
                                                      "a": 0.02})])
    cfg = write_circuit(tmp_path / "c", net)
    params_file = next((tmp_path / "c" / "components" / "point_neuron_models").glob("*.json"))
    data = json.loads(params_file.read_text())
    assert data["consistent_integration"] is False and data["a"] == 0.02
    assert read_circuit(cfg).population("iz").params["consistent_integration"] == 0.0
    for bad in ({**data, "a": True}, {**data, "consistent_integration": "no"}):
        params_file.write_text(json.dumps(bad))
        with pytest.raises(SonataError, match=params_file.name):
            read_circuit(cfg)


def test_simulate_save_edges_writes_the_learned_weights_and_rule_state(tmp_path):
    """``wbe simulate --save-edges DIR``: the circuit's edge files with the final weights of the
    plastic edges (syn_weight, in the input's edge order) and the rule's per-synapse state as
    columns; read back as a circuit they give the run's weights; static edges (and their
    nsyns-scaled weights) are unchanged."""
    import shutil

    from wbe.cli import main
    from wbe.engine.simulator import simulate

    net = make_network()
    net.projections = [p for p in net.projections if p.name != "gap"]  # (not symmetric)
    r = np.random.default_rng(5)  # the inputs fire often and the targets fire: learning
    t = np.sort(np.round(r.uniform(1.0, 290.0, 400), 1))
    net.spike_trains = [SpikeTrainInput("stim", "input", r.integers(0, 8, 400), t)]
    net.currents = [CurrentInput("dc", "exc", np.arange(40), 420.0)]
    cc = write_circuit(tmp_path / "c", net)
    sim = write_simulation_config(tmp_path / "s", cc, net, RunConfig(300.0, seed=3))
    edges = tmp_path / "learned"
    assert main(["simulate", str(sim), "--output-dir", str(tmp_path / "out"), "--no-progress",
                 "--save-edges", str(edges)]) == 0
    assert sorted(p.name for p in edges.iterdir()) == ["edge_types.csv", "edges.h5"]
    res = simulate(*load_simulation(sim), synapse_state=True)
    w_run = res.weights["input_to_exc"]
    assert not np.array_equal(w_run, net.projections[2].weight)  # it learned
    shutil.copytree(tmp_path / "c", tmp_path / "c2")
    for f in ("edges.h5", "edge_types.csv"):
        shutil.copyfile(edges / f, tmp_path / "c2" / "network" / f)
    back = {p.name: p for p in read_circuit(tmp_path / "c2" / "circuit_config.json").projections}
    first = {p.name: p for p in read_circuit(cc).projections}
    np.testing.assert_array_equal(back["input_to_exc"].weight, w_run)
    for name in ("exc_to_inh", "inh_to_exc"):
        np.testing.assert_array_equal(back[name].weight, first[name].weight)
    for var, v in res.synapse_state["input_to_exc"].items():
        np.testing.assert_array_equal(back["input_to_exc"].attributes[f"stdp_synapse.{var}"], v)
    # a circuit without plasticity: refused before anything runs, nothing written
    net.projections = [p for p in net.projections if p.plasticity is None]
    cc3 = write_circuit(tmp_path / "c3", net)
    sim3 = write_simulation_config(tmp_path / "s3", cc3, net, RunConfig(10.0))
    assert main(["simulate", str(sim3), "--output-dir", str(tmp_path / "o3"), "--no-progress",
                 "--save-edges", str(tmp_path / "x")]) == 1
    assert not (tmp_path / "x").exists() and not (tmp_path / "o3").exists()
