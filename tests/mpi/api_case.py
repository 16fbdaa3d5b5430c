"""The Python API under MPI: ``mpiexec -n 2 python tests/mpi/api_case.py OUT`` builds and runs
the same script as a serial process would; every rank saves its result (rank r to OUT.rank<r>.npz)
for tests/mpi/test_api_ranks.py to compare."""

from __future__ import annotations

import sys

import numpy as np

import wbe


def build(reserve: int = 0) -> wbe.Simulation:
    """``reserve``: that many of E's neurons wait for neurogenesis."""
    sim = wbe.Simulation(dt_ms=0.1, seed=5)
    exc = sim.population("E", "iaf_psc_exp", 120, I_e=wbe.Uniform(330.0, 380.0),
                         reserve=reserve)
    inh = sim.population("I", "iaf_cond_alpha", 30)
    src = sim.spike_source("S", 3, [[2.0, 30.0], [10.0], [55.5]])
    sim.connect(exc, exc, wbe.FixedInDegree(10), weight=wbe.Normal(40.0, 4.0, low=0.0),
                delay_ms=wbe.Uniform(0.5, 2.0),
                plasticity=("stdp_synapse", {"Wmax": 120.0, "lambda": 0.02}))
    sim.connect(exc, inh, wbe.PairwiseBernoulli(0.1), weight=2.0, delay_ms=1.0)
    sim.connect(inh, exc, wbe.FixedOutDegree(12), weight=-150.0, delay_ms=0.8)
    sim.connect(src, exc[:30], wbe.AllToAll(), weight=300.0, delay_ms=1.0)
    sim.poisson(exc + inh, rate_hz=6000.0, weight=20.0)
    sim.dc(inh[:10], 200.0, start_ms=20.0, stop_ms=70.0)
    sim.record(exc[::40], ["V_m"], interval_ms=0.5)
    sim.record(inh[:4], ["g_ex"], interval_ms=1.0)
    return sim


def run(sim: wbe.Simulation) -> dict[str, np.ndarray]:
    sim.run(40.0)
    sim.run(60.0)
    out = {}
    for pop, (t, i) in sim.spikes().items():
        out[f"{pop}/t"], out[f"{pop}/i"] = t, i
    out["E/V_m"] = sim.state("E", "V_m")[2]
    out["I/g_ex"] = sim.state("I", "g_ex")[2]
    out["w"] = sim.weights("E_to_E")
    return out


def run_events(sim: wbe.Simulation) -> dict[str, np.ndarray]:
    """Structural events between runs (``build(reserve=10)``): pruning the plastic E → E
    synapses, synaptogenesis among co-active E neurons, apoptosis of silent ones, neurogenesis
    of 6 with synapses grown onto I; the edited edges and weights."""
    sim.run(40.0)
    sim.prune("E_to_E", below=40.0)
    sim.synaptogenesis(sim._pops["E"], sim._pops["E"], window_ms=40.0, min_rate_hz=20.0,
                       p=0.05, weight=30.0, delay_ms=1.0, projection="E_to_E")
    sim.run(30.0)
    sim.apoptosis("E", window_ms=70.0)  # silent since the start
    born = sim.neurogenesis("E", 6)
    sim.grow(sim._pops["E"][int(born[0]):int(born[-1]) + 1], sim._pops["I"],
             wbe.FixedOutDegree(3), projection="E_to_I", weight=2.0, delay_ms=1.0)
    sim.run(30.0)
    out = {}
    for pop, (t, i) in sim.spikes().items():
        out[f"{pop}/t"], out[f"{pop}/i"] = t, i
    out["w"] = sim.weights("E_to_E")
    for name in ("E_to_E", "I_to_E", "E_to_I"):
        tab = sim.connections(name)
        out[f"{name}/source"], out[f"{name}/target"] = tab.source.to_numpy(), \
            tab.target.to_numpy()
    out["dead"] = sim.dead("E")
    return out


if __name__ == "__main__":
    events = "--events" in sys.argv
    sim = build(reserve=10 if events else 0)
    res = run_events(sim) if events else run(sim)
    np.savez(f"{sys.argv[1]}.rank{sim.rank}.npz", size=np.array(sim.size), **res)
