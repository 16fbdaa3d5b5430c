"""NEST 3.10's structural-plasticity example (``pynest/examples/structural_plasticity.py``,
Butz & van Ooyen 2013) scaled for a workstation, runnable in wbe and, for comparison, in NEST.

No synapse at the start; default ``iaf_psc_alpha`` neurons (NEST's defaults, as the example's
``Create`` uses them), ``n_e`` excitatory and ``n_i`` inhibitory; Poisson drive 10 kHz × 6.2 pA,
1 ms; the example's gaussian growth curves (E: ε = 0.05, I: ε = 0.2; η = 0) with its growth
rates × 10 and an update every second, so that ``t_s`` seconds show the example's 10·``t_s``;
structural synapses ±585 pA, 1 ms. :func:`run_wbe` and :func:`run_nest` return, after each
simulated second, the mean calcium of E and I and the numbers of synapses from E and from I
(``docs/experiments/structural_plasticity.py``, ``tests/reference/test_structural_nest.py``).
"""

from __future__ import annotations

import numpy as np

GE = {"growth_curve": "gaussian", "growth_rate": 0.001, "continuous": False, "eta": 0.0,
      "eps": 0.05}
GIE = {**GE, "growth_rate": 0.004, "eps": 0.2}
GII = {**GE, "eps": 0.2}
ELEMENTS_E = {"Den_ex": GE, "Den_in": GE, "Axon_ex": GE}
ELEMENTS_I = {"Den_ex": GIE, "Den_in": GII, "Axon_in": GII}
SYNAPSES = {"synapse_ex": {"pre_synaptic_element": "Axon_ex",
                           "post_synaptic_element": "Den_ex", "weight": 585.0, "delay_ms": 1.0},
            "synapse_in": {"pre_synaptic_element": "Axon_in",
                           "post_synaptic_element": "Den_in", "weight": -585.0,
                           "delay_ms": 1.0}}
QUANTITIES = ("mean Ca E", "mean Ca I", "E synapses", "I synapses")


def run_wbe(seed: int, t_s: int, n_e: int = 160, n_i: int = 40) -> np.ndarray:
    """(t_s, 4): :data:`QUANTITIES` after each second, wbe with ``seed``."""
    import wbe

    sim = wbe.Simulation(seed=seed)
    e = sim.population("E", "iaf_psc_alpha", n_e, synaptic_elements=ELEMENTS_E)
    i = sim.population("I", "iaf_psc_alpha", n_i, synaptic_elements=ELEMENTS_I)
    sim.poisson(e, 10000.0, 6.2, delay_ms=1.0)
    sim.poisson(i, 10000.0, 6.2, delay_ms=1.0)
    sim.structural_plasticity(SYNAPSES, update_interval_ms=1000.0)
    out = []
    for _ in range(t_s):
        sim.run(1000.0)
        out.append((sim.calcium("E").mean(), sim.calcium("I").mean(),
                    sim.synaptic_elements("E")["Axon_ex"]["z_connected"].sum(),
                    sim.synaptic_elements("I")["Axon_in"]["z_connected"].sum()))
    # the element counts are the synapses: every bound axonal element is one edge
    n_ex = sum(len(sim.connections(f"synapse_ex_E_{b}")) for b in ("E", "I"))
    if n_ex != out[-1][2]:
        raise AssertionError(f"{n_ex} E synapses but {out[-1][2]} bound axonal elements")
    return np.array(out)


def run_nest(seed: int, t_s: int, n_e: int = 160, n_i: int = 40) -> np.ndarray:
    """The same in NEST 3.10 (``nest.rng_seed = seed + 1``)."""
    import nest

    nest.ResetKernel()
    nest.verbosity = nest.VerbosityLevel.ERROR
    nest.resolution = 0.1
    nest.rng_seed = seed + 1
    nest.structural_plasticity_update_interval = 1000.0
    for name, s in SYNAPSES.items():
        nest.CopyModel("static_synapse", name + "_m", {"weight": s["weight"],
                                                       "delay": s["delay_ms"]})
    nest.structural_plasticity_synapses = {n: {
        "synapse_model": n + "_m", "pre_synaptic_element": s["pre_synaptic_element"],
        "post_synaptic_element": s["post_synaptic_element"]} for n, s in SYNAPSES.items()}
    e = nest.Create("iaf_psc_alpha", n_e)
    e.synaptic_elements = ELEMENTS_E
    i = nest.Create("iaf_psc_alpha", n_i)
    i.synaptic_elements = ELEMENTS_I
    noise = nest.Create("poisson_generator", {"rate": 10000.0})
    nest.Connect(noise, e + i, "all_to_all", {"weight": 6.2, "delay": 1.0})
    nest.EnableStructuralPlasticity()
    out = []
    for _ in range(t_s):
        nest.Simulate(1000.0)
        out.append((np.mean(e.Ca), np.mean(i.Ca),
                    sum(d["Axon_ex"]["z_connected"] for d in e.synaptic_elements),
                    sum(d["Axon_in"]["z_connected"] for d in i.synaptic_elements)))
    return np.array(out)
