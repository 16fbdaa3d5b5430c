"""Structural plasticity (:mod:`wbe.engine.structural`): growth curves against their analytic
and ODE solutions, the update's bookkeeping, checkpoints, the compiled and NumPy engine paths,
the grown circuit written as SONATA, and bad input (NEST itself: tests/reference)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import wbe
from wbe.engine import structural
from wbe.engine.network import (
    Network,
    Population,
    RunConfig,
    StructuralPlasticity,
    StructuralSynapse,
)

FAST = {"growth_curve": "gaussian", "growth_rate": 0.02, "eta": 0.0, "eps": 0.3, "z": 1.0}
LIN = {"growth_curve": "linear", "growth_rate": 0.02, "eps": 0.4, "z": 2.0}


def grow(kind: str, t: float, ca0: float, z0: float, tau: float, h: float = 0.1, **p) -> float:
    k = structural.GROWTH_CURVES.index(kind)
    shape = p.get("eta", p.get("psi", 0.0))
    return structural._grow(k, t, 0.0, ca0, z0, tau, p["rate"], p["eps"], shape, h)


def test_linear_growth_is_the_closed_form():
    """dz/dt = ν(1 − Ca/ε) with Ca = Ca0·exp(−t/τ): z = z0 + νt − ντCa0(1 − e^{−t/τ})/ε."""
    for ca0, t in ((0.3, 250.0), (0.0, 40.0), (2.0, 1000.0)):
        z = grow("linear", t, ca0, 1.5, 100.0, rate=0.01, eps=0.5)
        want = 1.5 + 0.01 * t - 0.01 * 100.0 * ca0 * (1 - math.exp(-t / 100.0)) / 0.5
        assert z == pytest.approx(max(want, 0.0), rel=1e-12, abs=1e-12)
    assert grow("linear", 1000.0, 50.0, 0.5, 100.0, rate=0.01, eps=0.5) == 0.0  # floored


@pytest.mark.parametrize("kind,p", [("gaussian", {"eta": 0.05, "eps": 0.4}),
                                    ("sigmoid", {"psi": 0.1, "eps": 0.3})])
def test_euler_growth_converges_to_the_ode(kind, p):
    """NEST's forward-Euler growth (Ca also by Euler inside the loop) approaches the exact
    solution of dz/dt = ν·g(Ca(t)) as the step shrinks (first order)."""
    from scipy.integrate import quad

    tau, ca0, rate, t = 200.0, 0.6, 0.01, 300.0
    if kind == "gaussian":
        xi, zeta = (p["eta"] + p["eps"]) / 2, (p["eps"] - p["eta"]) / (2 * math.sqrt(math.log(2)))

        def g(c):
            return 2 * math.exp(-(((c - xi) / zeta) ** 2)) - 1
    else:
        def g(c):
            return 2 / (1 + math.exp((c - p["eps"]) / p["psi"])) - 1
    exact = 1.0 + rate * quad(lambda s: g(ca0 * math.exp(-s / tau)), 0, t, epsabs=1e-13)[0]
    errs = [abs(grow(kind, t, ca0, 1.0, tau, h=h, rate=rate, **p) - exact)
            for h in (0.1, 0.05, 0.025)]
    assert errs[0] < 5e-3  # ≈ ν·h·|g(end) − g(start)|/2, the right-endpoint rule
    assert errs[1] == pytest.approx(errs[0] / 2, rel=0.05)  # first order
    assert errs[2] == pytest.approx(errs[1] / 2, rel=0.05)


def grown_net(**kw) -> Network:
    ca = {"tau_Ca": 100.0, "beta_Ca": 0.05}
    pops = [Population("E", "iaf_psc_alpha", 40, dict(ca),
                       synaptic_elements={"Axon_ex": FAST, "Den_ex": LIN}),
            Population("I", "iaf_psc_alpha", 10, dict(ca),
                       synaptic_elements={"Den_ex": FAST})]
    sp = StructuralPlasticity({"ex": StructuralSynapse("Axon_ex", "Den_ex", 200.0, 1.0, **kw)},
                              update_interval_ms=10.0)
    from wbe.engine.network import PoissonInput

    return Network(pops, [], poisson=[PoissonInput("bg", "E", np.arange(40), 12000.0, 9.0),
                                      PoissonInput("bgi", "I", np.arange(10), 12000.0, 9.0)],
                   structural=sp)


def engine(net, t_ms, **kw):
    from wbe.engine.context import context
    from wbe.engine.loop import Engine

    eng = Engine(net, RunConfig(t_ms, seed=5), context(None), **kw)
    eng.run_until(round(t_ms / eng.dt))
    return eng


def test_update_bookkeeping_and_the_users_network_untouched():
    """After growth: every bound axonal element is one synapse of its source and every bound
    dendritic element one of its target; no autapse when they are not allowed; the given
    network keeps its (empty) structure."""
    net = grown_net(allow_autapses=False)
    eng = engine(net, 150.0)
    edges = eng.sp.edges()
    assert set(edges) == {"ex_E_E", "ex_E_I"}
    n = sum(len(p) for p in edges.values())
    assert n > 20
    el_e, el_i = eng.sp.synaptic_elements("E"), eng.sp.synaptic_elements("I")
    out = np.bincount(np.concatenate([p.source_ids for p in edges.values()]), minlength=40)
    assert np.array_equal(out, el_e["Axon_ex"]["z_connected"])
    assert np.array_equal(np.bincount(edges["ex_E_E"].target_ids, minlength=40),
                          el_e["Den_ex"]["z_connected"])
    assert np.array_equal(np.bincount(edges["ex_E_I"].target_ids, minlength=10),
                          el_i["Den_ex"]["z_connected"])
    ee = edges["ex_E_E"]
    assert not np.any(ee.source_ids == ee.target_ids)
    # bound elements never exceed floor(z) right after an update's decay (z is raised instead)
    for el in (el_e["Axon_ex"], el_e["Den_ex"], el_i["Den_ex"]):
        assert np.all(el["z_connected"] <= np.floor(el["z"]) + 1)
    assert net.projections == []  # the engine grew its own copy


def test_numpy_reference_path_equals_compiled():
    a = engine(grown_net(), 60.0)
    b = engine(grown_net(), 60.0, use_numba=False)
    assert b.mode == "reference"
    sa, sb = a.spike_arrays(), b.spike_arrays()
    for pop in sa:
        assert np.array_equal(sa[pop][0], sb[pop][0]) and np.array_equal(sa[pop][1], sb[pop][1])
    for k, v in a.sp.arrays().items():
        assert np.array_equal(v, b.sp.arrays()[k]), k


def test_checkpoint_continues_identically(tmp_path):
    """Run 37 ms, checkpoint, restore into a fresh engine and run on: the same as running on
    (the same process twice: NEST brings the elements up to every Simulate's end)."""
    from wbe.engine.context import context
    from wbe.engine.loop import Engine
    from wbe.engine.simulator import result_of

    ref = Engine(grown_net(), RunConfig(90.0, seed=5), context(None))
    ref.run_until(370)
    ref.save(tmp_path / "ck.zarr")
    ref.run_until(900)
    new = Engine(grown_net(), RunConfig(90.0, seed=5), context(None))
    new.load(tmp_path / "ck.zarr")
    new.run_until(900)
    ra, rb = result_of(ref), result_of(new)
    assert len(ra.structural["structural/edges/ex_E_E/source_ids"]) > 0
    for k, v in ra.structural.items():
        assert np.array_equal(v, rb.structural[k]), k
    t, i = rb.spikes["E"]
    m = ra.spikes["E"][0] > 37.0
    assert np.array_equal(ra.spikes["E"][0][m], t) and np.array_equal(ra.spikes["E"][1][m], i)


def test_api_and_grown_circuit_as_sonata(tmp_path):
    """The Python API: elements on populations, ``structural_plasticity``, ``calcium``,
    ``synaptic_elements``, ``connections``; ``to_sonata`` writes the synapses as grown, which
    read back as the same edges; given initial edges bind elements."""
    from wbe.io import sonata

    sim = wbe.Simulation(seed=2)
    e = sim.population("E", "iaf_psc_alpha", 30, params={"tau_Ca": 100.0, "beta_Ca": 0.05},
                       synaptic_elements={"Axon_ex": FAST, "Den_ex": LIN})
    sim.connect(e, e, wbe.FromArrays([0, 1, 2], [3, 4, 5]), weight=200.0, delay_ms=1.0,
                name="ex_E_E")
    sim.poisson(e, 12000.0, 9.0)
    sim.structural_plasticity({"ex": {"pre_synaptic_element": "Axon_ex",
                                      "post_synaptic_element": "Den_ex", "weight": 200.0}},
                              update_interval_ms=10.0)
    sim.run(0.1)
    zc = sim.synaptic_elements("E")["Axon_ex"]["z_connected"]
    assert zc[:3].tolist() == [1, 1, 1]  # the given edges are bound
    sim.run(100.0)
    assert sim.calcium("E").mean() > 0.05
    table = sim.connections("ex_E_E")
    assert len(table) > 3 and set(table.weight) == {200.0}
    cfg = sim.to_sonata(tmp_path / "out")
    net = sonata.read_circuit(cfg.parent / "circuit" / "circuit_config.json")
    back = {p.name: p for p in net.projections}["ex_E_E"]
    assert len(back) == len(table)
    assert sorted(zip(back.source_ids, back.target_ids)) == sorted(
        zip(table.source, table.target))
    with pytest.raises(ValueError, match="no synaptic elements"):
        sim.calcium("nope")


def test_static_checkpoint_starts_growth_at_its_time(tmp_path):
    """A checkpoint of a network without elements continued with them: calcium and growth
    start at the checkpoint's time (nothing grows over the time before)."""
    net = grown_net()
    static = Network([Population(p.name, p.model, p.n, p.params) for p in net.populations],
                     [], poisson=net.poisson)
    a = engine(static, 50.0)
    a.save(tmp_path / "ck.zarr")
    from wbe.engine.context import context
    from wbe.engine.loop import Engine

    b = Engine(grown_net(), RunConfig(50.0, seed=5), context(None))
    b.load(tmp_path / "ck.zarr")
    b.run_until(500)  # no time passes: the first update (at 50 ms) is at the next run
    z = b.sp.synaptic_elements("E")["Den_ex"]["z"]
    assert np.all(z == LIN["z"])


@pytest.mark.parametrize("bad,match", [
    ({"growth_curve": "cubic"}, "growth_curve"),
    ({"growth_curve": "linear", "eta": 0.1}, "has no parameter"),
    ({"tau_vacant": 0.0}, "tau_vacant"),
    ({"z": -1.0}, "z"),
    ({"growth_curve": "gaussian", "eta": 0.2, "eps": 0.2}, "eta != eps"),
    ({"growth_rate": 1.0, "colour": "red"}, "colour"),
])
def test_bad_elements_are_named(bad, match):
    sim = wbe.Simulation()
    with pytest.raises(ValueError, match=match) as e:
        sim.population("E", "iaf_psc_alpha", 2, synaptic_elements={"Axon_ex": bad})
    assert "'E'" in str(e.value) and "'Axon_ex'" in str(e.value)


def test_bad_structural_setups_are_named():
    sim = wbe.Simulation(dt_ms=0.1)
    sim.population("E", "iaf_psc_alpha", 2, synaptic_elements={"Axon_ex": LIN, "Den_ex": LIN})
    ok = {"pre_synaptic_element": "Axon_ex", "post_synaptic_element": "Den_ex"}
    with pytest.raises(ValueError, match="multiple of dt"):
        sim.structural_plasticity({"s": ok}, update_interval_ms=0.25)
    with pytest.raises(ValueError, match="only static synapses"):
        sim.structural_plasticity({"s": {**ok, "synapse": "gap_junction"}})
    with pytest.raises(ValueError, match="unknown field.*'weigth'"):
        sim.structural_plasticity({"s": {**ok, "weigth": 1.0}})
    with pytest.raises(ValueError, match="delay_ms"):
        sim.structural_plasticity({"s": {**ok, "delay_ms": 0.0}})
    assert sim.network.structural is None  # a refused setting changes nothing
    sim.connect(sim._pops["E"], sim._pops["E"], wbe.AllToAll(), name="s_E_E",
                plasticity=wbe.Plasticity("stdp_synapse", {}))
    with pytest.raises(ValueError, match="projection 's_E_E'.*no plasticity rule"):
        sim.structural_plasticity({"s": ok})
    with pytest.raises(ValueError, match="tau_Ca"):
        sim.population("F", "iaf_psc_alpha", 2, params={"tau_Ca": -1.0},
                       synaptic_elements={"Axon_ex": LIN})
        structural.check(sim.network, 0.1)
