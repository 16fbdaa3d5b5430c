"""Receptor plug-ins (wbe.engine.receptors) in conductance-based models: the compiled kernel
equals the NumPy reference bit for bit on every hosting model, the kinetics behave as their
equations say (beta peaks at w, exp decays with τ, the Mg²⁺ block, GABA_B's cooperativity),
the Python API and SONATA carry them, and bad input is refused with the port and field named.
Against an independent reference (Brian2): tests/reference/test_receptor_plugins_brian2.py;
1 vs 2 ranks and checkpoints: tests/mpi/test_ranks_identity.py (build_ode)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import wbe
from wbe.engine.cells.base import cell_model_of
from wbe.engine.network import (
    Network,
    PoissonInput,
    Population,
    Projection,
    RunConfig,
    SpikeTrainInput,
    StateRecorder,
)
from wbe.engine.registry import CELLS, RECEPTORS
from wbe.engine.simulator import simulate

ALL = {"AMPA": {"kind": "beta", "tau_rise": 0.3, "tau_decay": 2.0},
       "NMDA": {"kind": "nmda"},
       "GABA_A": {"kind": "exp", "E_rev": -75.0, "tau_decay": 5.0},
       "GABA_B": {"kind": "gaba_b", "g_max": 40.0}}
HOSTS = sorted(m.name for m in CELLS if m.receptor_host is not None)


def test_hosting_models_and_kinds_are_registered():
    assert HOSTS == ["aeif_cond_alpha", "aeif_cond_exp", "iaf_cond_alpha", "iaf_cond_exp"]
    assert RECEPTORS.names() == ["beta", "exp", "gaba_b", "nmda"]
    assert set(wbe.receptor_kinds()) == set(RECEPTORS.names())
    info = wbe.model_info("nmda")
    assert info["params"]["conc_Mg2"]["unit"] == "mM" and info["state"] == {"dg": "nS/ms",
                                                                           "g": "nS"}
    assert wbe.model_info("iaf_cond_exp")["hosts_receptors"]
    assert not wbe.model_info("iaf_psc_alpha")["hosts_receptors"]


def test_hosted_model_declares_ports_state_and_recordables():
    m = cell_model_of(Population("p", "aeif_cond_exp", 2, receptors=ALL))
    assert m.key == "aeif_cond_exp+AMPA:beta,NMDA:nmda,GABA_A:exp,GABA_B:gaba_b"
    assert [(p.name, p.receptor_type) for p in m.ports] == [
        ("spike", 0), ("AMPA", 1), ("NMDA", 2), ("GABA_A", 3), ("GABA_B", 4)]
    assert m.port("GABA_B").weight_unit == "" and m.port("AMPA").weight_unit is None
    assert m.state_names[-2:] == ("h_int", "r")  # the RKF45 step stays last
    for v in ("g_AMPA", "dg_NMDA", "g_GABA_A", "T_GABA_B", "R_GABA_B", "G_GABA_B", "w"):
        assert v in m.recordable_names
    # another parameter set of the same kinds shares the compiled kernel
    other = {**ALL, "AMPA": {"kind": "beta", "tau_rise": 1.0, "tau_decay": 3.0}}
    m2 = cell_model_of(Population("q", "aeif_cond_exp", 2, receptors=other))
    assert m2.key == m.key and m2.kernel is m.kernel and m2 is not m


def _network(host: str, n: int = 6) -> Network:
    r = np.random.default_rng(4)
    other = {"AMPA": {"kind": "beta", "tau_rise": 1.0, "tau_decay": 4.0, "E_rev": 5.0},
             "NMDA": {"kind": "nmda", "conc_Mg2": 2.0, "tau_rise": 1.5},
             "GABA_A": {"kind": "exp", "tau_decay": 9.0, "E_rev": -80.0},
             "GABA_B": {"kind": "gaba_b", "g_max": 15.0, "K3": 0.15}}
    i_e = 700.0 if host.startswith("aeif") else 350.0
    pops = [Population("a", host, n, {"I_e": r.uniform(0.8, 1.1, n) * i_e}, receptors=ALL),
            Population("b", host, n, {"I_e": i_e}, receptors=other),
            Population("src", "virtual", 30)]
    projs = []
    for tgt in ("a", "b"):
        for k, port in enumerate((None, "AMPA", "NMDA", "GABA_A", "GABA_B")):
            w = np.full(40, 1.5 if port != "GABA_B" else 2.0)
            if port is None:
                w[::3] = -2.0  # the model's own sign-split port
            projs.append(Projection(f"src_{tgt}_{k}", "src", tgt, r.integers(0, 30, 40),
                                    r.integers(0, n, 40), w,
                                    np.round(r.uniform(0.2, 3.0, 40), 1), receptor=port))
        projs.append(Projection(f"rec_{tgt}", "a", tgt, r.integers(0, n, 20),
                                r.integers(0, n, 20), np.full(20, 2.0), np.full(20, 1.0),
                                receptor="NMDA"))
    return Network(pops, projs,
                   poisson=[PoissonInput("bg", "b", np.arange(n), 2000.0, 1.0,
                                         receptor="GABA_B")],
                   spike_trains=[SpikeTrainInput("st", "src", r.integers(0, 30, 400),
                                                 np.sort(np.round(r.uniform(1, 150, 400), 1)))])


@pytest.mark.parametrize("host", HOSTS)
def test_kernel_equals_numpy_reference(host):
    net = _network(host)
    rec = ["V_m", "g_ex", "g_in", "g_AMPA", "g_NMDA", "g_GABA_A", "T_GABA_B", "G_GABA_B"]
    run = RunConfig(160.0, seed=5, state_recorders=[
        StateRecorder(p, rec, np.arange(6), 0.1) for p in ("a", "b")])
    fast, ref = simulate(net, run), simulate(net, run, use_numba=False)
    for pop in ("a", "b"):
        assert fast.spikes[pop][0].size > 3, f"{host}/{pop} should fire"
        for x, y in zip(fast.spikes[pop], ref.spikes[pop]):
            assert np.array_equal(x, y)
        for v in rec:
            assert np.array_equal(fast.state[pop][v][2], ref.state[pop][v][2]), (pop, v)
            assert np.max(np.abs(fast.state[pop][v][2])) > 0, (pop, v)


def _single(receptors: dict, events: list[tuple[float, str, float]], tstop: float,
            rec: list[str], params: dict | None = None) -> dict[str, np.ndarray]:
    """One passive iaf_cond_exp neuron (no firing) taking ``events`` (time, port, weight)."""
    pop = Population("n", "iaf_cond_exp", 1, {"V_th": 1e3, **(params or {})},
                     receptors=receptors)
    k = len(events)
    projs = [Projection(f"p{i}", "src", "n", np.array([i]), np.array([0]), np.array([w]),
                        np.array([0.1]), receptor=port)
             for i, (_, port, w) in enumerate(events)]
    net = Network([pop, Population("src", "virtual", k)], projs,
                  spike_trains=[SpikeTrainInput("st", "src", np.arange(k),
                                                np.array([t for t, _, _ in events]))])
    res = simulate(net, RunConfig(tstop, state_recorders=[
        StateRecorder("n", rec, np.array([0]), 0.1)]))
    return {v: res.state["n"][v][2][:, 0] for v in rec} | {"t": res.state["n"][rec[0]][0]}


def test_kinetics_follow_their_equations():
    """A single event: ``beta`` peaks at w at t_peak = τ_r τ_d ln(τ_d/τ_r)/(τ_d − τ_r), ``exp``
    decays as w e^{−t/τ}, an alpha ``beta`` (τ_r = τ_d) peaks at w after τ (NEST's
    normalisation); to the integrator's tolerance (iaf_cond's absolute 1e-3)."""
    recs = {"B": {"kind": "beta", "tau_rise": 1.0, "tau_decay": 5.0},
            "E": {"kind": "exp", "tau_decay": 4.0},
            "A": {"kind": "beta", "tau_rise": 3.0, "tau_decay": 3.0}}
    out = _single(recs, [(10.0, "B", 2.0), (10.0, "E", 3.0), (10.0, "A", 1.5)], 60.0,
                  ["g_B", "g_E", "g_A"])
    t = out["t"] - 10.1  # delivered at 10.1 ms (delay 0.1)
    t_peak = 5.0 * 1.0 * math.log(5.0) / 4.0
    i = int(np.argmax(out["g_B"]))
    assert abs(out["g_B"][i] - 2.0) < 1e-3 and abs(t[i] - t_peak) <= 0.051
    after = t >= 0
    np.testing.assert_allclose(out["g_E"][after], 3.0 * np.exp(-t[after] / 4.0), atol=2e-3)
    i = int(np.argmax(out["g_A"]))
    assert abs(out["g_A"][i] - 1.5) < 1e-3 and abs(t[i] - 3.0) <= 0.051


def test_nmda_mg_block_sets_the_current():
    """The NMDA current of a conductance g is g·B(V)(E_rev − V) with
    B = 1/(1 + [Mg]/3.57·e^{−0.062 V}) (Jahr & Stevens 1990), at rest and depolarised (the
    NumPy twin's current; the compiled one equals it, and Brian2 the whole neuron)."""
    kind = RECEPTORS.get("nmda")
    p = {k: np.full(2, v) for k, v in kind.resolve({"conc_Mg2": 1.5}, "test").items()}
    c = kind.constants(p)
    y = np.array([[0.0, 0.0], [2.0, 2.0]])
    v = np.array([-70.0, -20.0])
    got = kind.current_np(y, 0, c, v)
    want = 2.0 * (0.0 - v) / (1.0 + 1.5 / 3.57 * np.exp(0.062 * -v))
    np.testing.assert_allclose(got, want, rtol=1e-14)
    assert got[1] / got[0] > 2.5  # depolarisation relieves the block


def test_gaba_b_responds_to_bursts_far_more_than_to_single_spikes():
    """Destexhe's cascade: G-protein binding is cooperative (n = 4), so a burst of 4 releases
    opens far more than 4× the channels one release opens — the G-protein peak grows about 4×,
    the conductance more than 50×; and it is slow (peak after > 50 ms)."""
    gb = {"GB": {"kind": "gaba_b"}}
    one = _single(gb, [(5.0, "GB", 1.0)], 400.0, ["G_GB", "R_GB"])
    burst = _single(gb, [(5.0 + 3.0 * k, "GB", 1.0) for k in range(4)], 400.0, ["G_GB"])
    g1, g4 = one["G_GB"].max(), burst["G_GB"].max()
    assert 3.0 < g4 / g1 < 4.2
    assert (g4 ** 4 / (g4 ** 4 + 100)) / (g1 ** 4 / (g1 ** 4 + 100)) > 50.0
    assert one["t"][int(np.argmax(one["G_GB"]))] > 55.0


def test_api_population_with_receptors():
    sim = wbe.Simulation(dt_ms=0.1, seed=3)
    e = sim.population("E", "iaf_cond_exp", 20, I_e=wbe.Uniform(300.0, 360.0),
                       receptors={"AMPA": {"kind": "beta"}, "NMDA": {"kind": "nmda"}})
    sim.connect(e, e, wbe.FixedInDegree(5), weight=1.0, receptor="NMDA", name="nmda")
    sim.connect(e, e, wbe.FixedInDegree(5), weight=0.5, receptor=1, name="ampa")  # AMPA
    sim.poisson(e, rate_hz=3000.0, weight=1.0, receptor="AMPA")
    sim.record(e[:2], ["V_m", "g_NMDA", "g_AMPA"])
    sim.run(100.0)
    assert sim.spikes("E")[0].size > 0
    assert np.max(sim.state("E", "g_NMDA")[2]) > 0 and np.max(sim.state("E", "g_AMPA")[2]) > 0
    with pytest.raises(ValueError, match="receptor port 'NMDA'.*weights >= 0"):
        s2 = wbe.Simulation()
        p = s2.population("E", "iaf_cond_exp", 2, receptors={"NMDA": {"kind": "nmda"}})
        s2.connect(p, p, wbe.AllToAll(), weight=-1.0, receptor="NMDA")


@pytest.mark.parametrize("receptors, match", [
    ({"X": {"kind": "ampa_like"}}, "unknown receptor kinetics 'ampa_like'; known: beta, exp"),
    ({"X": {"tau_decay": 3.0}}, "receptor port 'X': needs a mapping with 'kind'"),
    ({"X": {"kind": "exp", "tau": 3.0}}, r"receptor port 'X': receptor kinetics 'exp' has no "
                                         r"parameter\(s\) \['tau'\]"),
    ({"X": {"kind": "beta", "tau_rise": 5.0, "tau_decay": 2.0}}, "tau_rise .* <= tau_decay"),
    ({"X": {"kind": "exp", "tau_decay": -1.0}}, "'tau_decay' must be > 0"),
    ({"X": {"kind": "exp", "tau_decay": [1.0, 2.0]}}, "must be one number"),
    ({"spike": {"kind": "exp"}}, "clashes with"),
    ({"ex": {"kind": "exp"}}, "clashes with"),
    ({"1st": {"kind": "exp"}}, "must be an identifier"),
    ({"X": {"kind": "gaba_b", "n": 2.5}}, "'n' must be a whole number"),
])
def test_bad_receptors_are_refused_naming_the_field(receptors, match):
    sim = wbe.Simulation()
    with pytest.raises(ValueError, match=match) as e:
        sim.population("P", "aeif_cond_exp", 3, receptors=receptors)
    assert "population 'P'" in str(e.value)


def test_a_model_that_cannot_host_says_which_can():
    with pytest.raises(ValueError, match="'iaf_psc_alpha' cannot take receptor plug-ins; the "
                                         "models that can: aeif_cond_alpha, aeif_cond_exp"):
        wbe.Simulation().population("P", "iaf_psc_alpha", 3, receptors={"X": {"kind": "exp"}})


def test_sonata_round_trip_keeps_receptors(tmp_path):
    from wbe.io.sonata import read_circuit, write_circuit

    net = _network("iaf_cond_alpha")
    back = read_circuit(write_circuit(tmp_path / "c", net))
    pops = {p.name: p for p in back.populations}
    assert pops["a"].receptors == ALL and list(pops["a"].receptors) == list(ALL)  # the order
    # numbers the ports (receptor_type 1, 2, ...), which the edges refer to
    assert pops["b"].receptors["GABA_B"]["K3"] == 0.15
    back.poisson, back.spike_trains = net.poisson, net.spike_trains  # inputs are not circuit
    run = RunConfig(80.0, seed=2)
    for x, y in zip(simulate(net, run).spikes["a"], simulate(back, run).spikes["a"]):
        assert np.array_equal(x, y)


def test_sonata_bad_receptors_name_the_file(tmp_path):
    import json

    from wbe.io.sonata import SonataError, read_circuit, write_circuit

    cc = write_circuit(tmp_path / "c", _network("iaf_cond_exp"))
    for f in (tmp_path / "c" / "components" / "point_neuron_models").glob("a*.json"):
        data = json.loads(f.read_text())
        data["receptors"]["NMDA"]["conc_Mg"] = 1.0
        f.write_text(json.dumps(data))
    with pytest.raises(SonataError, match=r"node_types.csv.*receptors.*'conc_Mg'"):
        read_circuit(cc)
