"""Structural plasticity against NEST 3.10, run beside it in the test.

**Exact** (:func:`test_calcium_and_elements_equal_nest`): ten ``iaf_psc_alpha`` neurons in two
populations, each kicked by its own Poisson train so that the spikes (the same in both
simulators) drive the calcium trace; their synaptic elements grow by all three growth curves
(linear, gaussian, sigmoid) with different parameters, initial values and ``tau_vacant``.
Structural updates every 100 ms retract vacant elements; the structural synapse pairs an
element no neuron has, so no synapse forms and every number is deterministic. ``Ca`` and every
element's ``z`` equal NEST's within 1e-12 relative after each of four 250 ms ``Simulate`` calls,
with and without structural plasticity switched on.

**Statistical** (:func:`test_synapse_counts_match_nest`): NEST's ``structural_plasticity.py``
example (Butz & van Ooyen growth of E and I synapses in an unconnected network driven by
Poisson input) at 200 neurons and ten times its growth rates; NEST and wbe draw different random
numbers (pairing, Poisson input), so the mean calcium and the numbers of synapses over 12 s are
compared as curves within a stated tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest

import wbe

nest = pytest.importorskip("nest")
pytestmark = pytest.mark.nest

T_CHUNK, N_CHUNKS = 250.0, 4
ELEMENTS_A = {
    "Axon_ex": {"growth_curve": "linear", "growth_rate": 0.004, "eps": 0.12, "z": 2.5},
    "Den_ex": {"growth_curve": "gaussian", "growth_rate": 0.006, "eta": 0.02, "eps": 0.15,
               "z": 1.2, "continuous": False},
    "Den_in": {"growth_curve": "sigmoid", "growth_rate": 0.005, "eps": 0.1, "psi": 0.03,
               "tau_vacant": 0.25},
}
ELEMENTS_B = {
    "Axon_in": {"growth_curve": "gaussian", "growth_rate": 0.01, "eta": -0.05, "eps": 0.2,
                "z": 4.0, "tau_vacant": 0.4},
    "Den_ex": {"growth_curve": "linear", "growth_rate": 0.003, "eps": 0.08},
}
POPS = {"A": (6, ELEMENTS_A, {"tau_Ca": 500.0, "beta_Ca": 0.01}),
        "B": (4, ELEMENTS_B, {"tau_Ca": 300.0, "beta_Ca": 0.02})}
SYNAPSE = {"pre_synaptic_element": "Axon_ex", "post_synaptic_element": "Den_none",
           "weight": 10.0, "delay_ms": 1.0}


def kicks(n: int, seed: int) -> list[np.ndarray]:
    r = np.random.default_rng(seed)
    t_end = T_CHUNK * N_CHUNKS
    return [np.unique(np.round(r.uniform(1.0, t_end - 1.0, r.poisson(40.0 * t_end / 1e3)), 1))
            for _ in range(n)]


def run_wbe(structural: bool) -> list[dict]:
    sim = wbe.Simulation(dt_ms=0.1, seed=3)
    for i, (name, (n, els, ca)) in enumerate(POPS.items()):
        pop = sim.population(name, "iaf_psc_alpha", n, params=ca, synaptic_elements=els)
        src = sim.spike_source(f"kick_{name}", n, kicks(n, 10 + i))
        sim.connect(src, pop, wbe.OneToOne(), weight=1200.0, delay_ms=1.0)
    if structural:
        sim.structural_plasticity({"syn": SYNAPSE}, update_interval_ms=100.0)
    out = []
    for _ in range(N_CHUNKS):
        sim.run(T_CHUNK)
        out.append({name: (sim.calcium(name), sim.synaptic_elements(name),
                           sim.spikes(name)[0].size) for name in POPS})
    return out


def run_nest(structural: bool) -> list[dict]:
    nest.ResetKernel()
    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.resolution = 0.1
    if structural:
        nest.structural_plasticity_update_interval = 100.0
        nest.CopyModel("static_synapse", "syn_sp")
        nest.SetDefaults("syn_sp", {"weight": SYNAPSE["weight"], "delay": SYNAPSE["delay_ms"]})
        nest.structural_plasticity_synapses = {"syn": {
            "synapse_model": "syn_sp", "pre_synaptic_element": SYNAPSE["pre_synaptic_element"],
            "post_synaptic_element": SYNAPSE["post_synaptic_element"]}}
    nodes, recs = {}, {}
    for i, (name, (n, els, ca)) in enumerate(POPS.items()):
        nodes[name] = nest.Create("iaf_psc_alpha", n, ca)
        nodes[name].synaptic_elements = els
        gens = nest.Create("spike_generator", n)
        for g, t in zip(gens, kicks(n, 10 + i)):
            g.spike_times = t.tolist()
        nest.Connect(gens, nodes[name], "one_to_one", {"weight": 1200.0, "delay": 1.0})
        recs[name] = nest.Create("spike_recorder")
        nest.Connect(nodes[name], recs[name])
    if structural:
        nest.EnableStructuralPlasticity()
    out = []
    for _ in range(N_CHUNKS):
        nest.Simulate(T_CHUNK)
        row = {}
        for name, nd in nodes.items():
            se = nd.get("synaptic_elements")
            se = se if isinstance(se, list | tuple) else [se]
            row[name] = (np.asarray(nd.get("Ca"), float),
                         {k: {"z": np.array([s[k]["z"] for s in se]),
                              "z_connected": np.array([s[k]["z_connected"] for s in se])}
                          for k in se[0]},
                         recs[name].n_events)
        out.append(row)
    return out


@pytest.mark.parametrize("structural", [True, False], ids=["updates", "spikes-only"])
def test_calcium_and_elements_equal_nest(structural):
    ours, theirs = run_wbe(structural), run_nest(structural)
    for chunk, (a, b) in enumerate(zip(ours, theirs)):
        for name in POPS:
            ca_w, el_w, n_w = a[name]
            ca_n, el_n, n_n = b[name]
            where = f"{name} after {(chunk + 1) * T_CHUNK} ms"
            assert n_w == n_n > 20, where  # the same spikes drive both
            assert ca_w.max() > 0.02, where
            np.testing.assert_allclose(ca_w, ca_n, rtol=1e-12, atol=0, err_msg=where)
            assert sorted(el_w) == sorted(el_n), where
            for k in el_w:
                np.testing.assert_allclose(el_w[k]["z"], el_n[k]["z"], rtol=1e-12, atol=1e-15,
                                           err_msg=f"{where}: z of {k}")
                np.testing.assert_array_equal(el_w[k]["z_connected"], el_n[k]["z_connected"])
    # the elements did move, both up and down, and updates retracted vacant ones
    z_first = ours[0]["A"][1]["Den_ex"]["z"]
    z_last = ours[-1]["A"][1]["Den_ex"]["z"]
    assert not np.allclose(z_first, z_last)


# ---------------------------------------------------------------------------- statistical
# wbe.experiments.structural_growth: NEST's structural_plasticity.py example at 160 E + 40 I
# neurons, growth rates × 10, update interval 1 s, 12 s.
T_S, SEEDS = 12, range(6)


def test_synapse_counts_match_nest():
    from wbe.experiments.structural_growth import QUANTITIES, run_nest, run_wbe

    ours = np.array([run_wbe(s, T_S) for s in SEEDS])  # (seeds, seconds, quantity)
    theirs = np.array([run_nest(s, T_S) for s in SEEDS])
    # the same deterministic start: no synapse until the calcium has grown (3 s), then the
    # first wave of E synapses
    assert ours[:, :2, 2:].sum() == theirs[:, :2, 2:].sum() == 0
    wave_w, wave_n = ours[:, 3, 2].mean(), theirs[:, 3, 2].mean()
    assert wave_n > 20 and abs(wave_w - wave_n) < 0.15 * wave_n, (wave_w, wave_n)
    # the growth phase and plateau (4–12 s): time averages per run, compared over runs
    a, b = ours[:, 3:].mean(axis=1), theirs[:, 3:].mean(axis=1)
    for q, name in enumerate(QUANTITIES):
        ma, mb = a[:, q].mean(), b[:, q].mean()
        se = np.sqrt(a[:, q].var(ddof=1) / len(SEEDS) + b[:, q].var(ddof=1) / len(SEEDS))
        assert mb > 0, name
        assert abs(ma - mb) < max(3.5 * se, 0.02 * mb), (name, ma, mb, se)
        assert abs(ma - mb) < 0.15 * mb, (name, ma, mb)
