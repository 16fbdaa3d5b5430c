"""A small recurrent network for rank-identity tests; run under MPI it writes its result.

``mpiexec -n 2 python -m mpi4py tests/mpi/engine_case.py OUT.npz [--restore DIR]
[--checkpoint DIR] [--tstop MS]`` simulates :func:`build` and (rank 0) saves spikes, state and
weights to an ``.npz`` (no pickle) for the pytest side to compare with a 1-rank run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

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
    StructuralPlasticity,
    StructuralSynapse,
    ei_projections,
    extra_recurrent_ports,
)


def build(n: int = 200, k: int = 20, seed: int = 3) -> Network:
    """200 iaf_psc_exp neurons (80 % excitatory), random in-degree 20, Poisson drive, a DC
    step, a virtual spike source, one plastic projection; delays 0.5–3 ms (mixed)."""
    r = np.random.default_rng(seed)
    ne = int(0.8 * n)
    src = r.integers(0, n, n * k)
    tgt = np.repeat(np.arange(n), k)
    w = np.where(src < ne, 87.8, -351.2) * r.uniform(0.5, 1.5, n * k)
    d = np.round(r.uniform(0.5, 3.0, n * k), 1)
    p_src = r.integers(0, ne, 400)
    p_tgt = r.integers(0, n, 400)
    pops = [
        Population("cells", "iaf_psc_exp", n,
                   {"tau_syn_ex": 0.5, "tau_syn_in": 0.5, "V_m": r.uniform(-70, -55, n)}),
        Population("delta", "iaf_psc_delta", 30, {"I_e": 300.0}),
        Population("stim", "virtual", 10),
    ]
    projs = [
        Projection("rec", "cells", "cells", src, tgt, w, d),
        Projection("plastic", "cells", "cells", p_src, p_tgt, np.full(400, 50.0),
                   np.full(400, 1.0), plasticity=Plasticity("stdp_synapse", {"lambda": 0.05, "Wmax": 200.0,
                                                             "mu_plus": 0.0, "mu_minus": 0.0})),
        Projection("to_delta", "cells", "delta", r.integers(0, n, 300),
                   np.repeat(np.arange(30), 10), np.full(300, 0.5), np.full(300, 0.5)),
        Projection("stim_in", "stim", "cells", np.arange(10), np.arange(10) * 3,
                   np.full(10, 500.0), np.full(10, 1.5)),
    ]
    return Network(
        pops, projs,
        poisson=[PoissonInput("ext", "cells", np.arange(n), 16000.0, 87.8, 0.1)],
        currents=[CurrentInput("step", "cells", np.arange(0, n, 2), 100.0, 20.0, 60.0)],
        spike_trains=[SpikeTrainInput("st", "stim", np.arange(10), np.linspace(5.0, 95.0, 10))],
    )


def build_all_models(seed: int = 6) -> Network:
    """A population of every registered cell model (its ``example`` parameters), connected in a
    ring of projections through each target's default port (both signs), one of them plastic
    under every registered rule, Poisson drive and a current step into every population."""
    from wbe.engine.registry import CELLS, PLASTICITY, SYNAPSES

    r = np.random.default_rng(seed)
    models = list(CELLS)
    n = 12
    pops = [Population(m.name, m.name, n, dict(m.example["params"])) for m in models]
    projs, poi, cur = [], [], []
    rules = PLASTICITY.names()
    for i, m in enumerate(models):
        src = models[i - 1]
        w = float(m.example["weight"])
        k = 60
        wt = w * 0.4 * np.where(np.arange(k) % 3 == 0, -1.0, 1.0)
        if not m.spiking:  # an astrocyte takes excitatory input only
            wt = np.abs(wt)
        plast = None
        if i < len(rules):
            plast = Plasticity(rules[i], PLASTICITY.get(rules[i]).example_params([w]))
        projs += ei_projections(f"{src.name}_to_{m.name}", src.name, m.name, m.name,
                                r.integers(0, n, k), r.integers(0, n, k), wt,
                                np.round(r.uniform(0.5, 2.0, k), 1), plasticity=plast)
        poi.append(PoissonInput(f"bg_{m.name}", m.name, np.arange(n), 3000.0, w * 0.5,
                                receptor=m.ei_input([1.0])[0][0]))
        cur.append(CurrentInput(f"dc_{m.name}", m.name, np.arange(0, n, 3),
                                float(m.example["current_pA"]), 10.0, 30.0))
        for port in extra_recurrent_ports(m.name):  # e.g. iaf_bw_2001's recurrent NMDA
            projs.append(Projection(f"{m.name}_{port}", m.name, m.name, r.integers(0, n, k),
                                    r.integers(0, n, k), np.full(k, 0.4 * w),
                                    np.round(r.uniform(0.5, 2.0, k), 1), receptor=port))
    for m in models:  # what a node emits (an astrocyte's SIC) to every model taking it
        for t in models:
            for v in m.emits:
                if any(p.event == v.name for p in t.ports):
                    syn = next(s.name for s in SYNAPSES if s.carries == v.name)
                    projs.append(Projection(f"{m.name}_{v.name}_{t.name}", m.name, t.name,
                                            r.integers(0, n, 20), r.integers(0, n, 20),
                                            np.full(20, 30.0),
                                            np.round(r.uniform(0.5, 2.0, 20), 1), synapse=syn))
    for j, rule in enumerate(rules[len(models):]):  # more rules than models: more rings
        m, src = models[j % len(models)], models[j % len(models) - 1]
        w = float(m.example["weight"])
        projs += ei_projections(f"{src.name}_to_{m.name}_{rule}", src.name, m.name, m.name,
                                r.integers(0, n, 60), r.integers(0, n, 60),
                                np.full(60, 0.4 * w), np.round(r.uniform(0.5, 2.0, 60), 1),
                                plasticity=Plasticity(rule, PLASTICITY.get(rule).example_params(
                                    [w])))
    from wbe.engine.modulators import with_dopamine  # rules under a volume transmitter

    return with_dopamine(Network(pops, projs, poisson=poi, currents=cur), 40.0, rate_hz=200.0,
                         seed=seed, delay_ms=0.8, deliver_interval=2)


def run_config_all_models(tstop_ms: float = 40.0) -> RunConfig:
    from wbe.engine.registry import CELLS

    return RunConfig(tstop_ms, seed=21, state_recorders=[
        StateRecorder(m.name, list(m.specialize(m.example["params"]).recordable_names),
                      np.arange(0, 12, 5), 0.5)
        for m in CELLS])


#: receptor plug-ins of build_ode's population "rx" (every built-in kind)
ODE_RECEPTORS = {"AMPA": {"kind": "beta", "tau_rise": 0.3, "tau_decay": 2.0},
                 "NMDA": {"kind": "nmda", "tau_decay": 60.0},
                 "GABA_A": {"kind": "exp", "E_rev": -75.0, "tau_decay": 5.0},
                 "GABA_B": {"kind": "gaba_b", "g_max": 30.0}}


def build_ode(seed: int = 2) -> Network:
    """The RKF45 models (iaf_cond_exp, aeif_cond_exp, hh_psc_alpha, and iaf_cond_alpha with
    receptor plug-ins on all four built-in kinetics) in a small recurrent network with
    conductance (nS) and current (pA) synapses and Poisson drive."""
    n = 40
    r = np.random.default_rng(seed)
    pops = [Population("c", "iaf_cond_exp", n, {"V_m": r.uniform(-70, -56, n)}),
            Population("x", "aeif_cond_exp", n, {"V_m": r.uniform(-70, -55, n), "I_e": 700.0}),
            Population("h", "hh_psc_alpha", 10, {"I_e": 200.0}),
            Population("rx", "iaf_cond_alpha", 20, {"V_m": r.uniform(-70, -56, 20)},
                       receptors=ODE_RECEPTORS)]
    projs = [Projection(f"{s}{t}{port or ''}", s, t, r.integers(0, ns, 200),
                        r.integers(0, nt, 200), r.choice(ws, 200),
                        np.round(r.uniform(0.5, 2.0, 200), 1), receptor=port)
             for s, ns, t, nt, ws, port in (
                 ("c", n, "x", n, [5.0, -10.0], None), ("x", n, "c", n, [4.0], None),
                 ("c", n, "h", 10, [200.0, -300.0], None), ("c", n, "rx", 20, [2.0], "AMPA"),
                 ("x", n, "rx", 20, [1.0], "NMDA"), ("c", n, "rx", 20, [3.0], "GABA_A"),
                 ("rx", 20, "c", n, [3.0, -6.0], None))]
    poi = [PoissonInput("pc", "c", np.arange(n), 20000.0, 3.0),
           PoissonInput("ph", "h", np.arange(10), 2000.0, 150.0),
           PoissonInput("prx", "rx", np.arange(20), 12000.0, 1.5, receptor="AMPA"),
           PoissonInput("pgb", "rx", np.arange(20), 300.0, 1.0, receptor="GABA_B")]
    return Network(pops, projs, poisson=poi)


def build_single(seed: int = 5) -> Network:
    """One iaf_psc_exp population driven by Poisson input only (the engine's one-block numba
    slice loops), delays 0.1-3 ms."""
    r = np.random.default_rng(seed)
    n, m = 300, 9000
    src, tgt = r.integers(0, n, m), r.integers(0, n, m)
    w = np.where(src < 240, 60.0, -250.0) * r.uniform(0.5, 1.5, m)
    return Network([Population("a", "iaf_psc_exp", n)],
                   [Projection("p", "a", "a", src, tgt, w, np.round(r.uniform(0.1, 3.0, m), 1))],
                   poisson=[PoissonInput("ext", "a", np.arange(n), 12000.0, 60.0, 0.1)])


def build_structural(seed: int = 8) -> Network:
    """80 E and 20 I iaf_psc_alpha neurons growing synapses by NEST's structural plasticity
    (fast growth: every 10 ms synapses are created and deleted), with given initial structural
    edges, a static I → E projection and a plastic (STDP) E → E projection whose state must
    survive every rebuild of the synapse table."""
    r = np.random.default_rng(seed)
    fast = {"growth_curve": "gaussian", "growth_rate": 0.05, "eta": 0.0, "eps": 0.3,
            "z": 1.0, "continuous": False}
    lin = {"growth_curve": "linear", "growth_rate": 0.04, "eps": 0.4, "z": 2.0}
    ca = {"tau_Ca": 100.0, "beta_Ca": 0.05}
    els_e = {"Axon_ex": fast, "Den_ex": lin, "Den_in": fast}
    els_i = {"Axon_in": lin, "Den_ex": fast}
    pops = [Population("E", "iaf_psc_alpha", 80, dict(ca), synaptic_elements=els_e),
            Population("I", "iaf_psc_alpha", 20, dict(ca), synaptic_elements=els_i)]
    s0, t0 = r.integers(0, 80, 30), r.integers(0, 80, 30)
    ps, pt = r.integers(0, 80, 200), r.integers(0, 80, 200)
    projs = [
        Projection("synapse_ex_E_E", "E", "E", s0, t0, np.full(30, 300.0), np.full(30, 1.5)),
        Projection("ie", "I", "E", r.integers(0, 20, 100), r.integers(0, 80, 100),
                   np.full(100, -200.0), np.full(100, 1.0)),
        Projection("stdp", "E", "E", ps, pt, np.full(200, 100.0), np.full(200, 1.0),
                   plasticity=Plasticity("stdp_synapse", {"lambda": 0.05, "Wmax": 300.0})),
    ]
    sp = StructuralPlasticity({
        "synapse_ex": StructuralSynapse("Axon_ex", "Den_ex", weight=300.0, delay_ms=1.5),
        "synapse_in": StructuralSynapse("Axon_in", "Den_in", weight=-300.0, delay_ms=1.0,
                                        allow_autapses=False)}, update_interval_ms=10.0)
    return Network(pops, projs, poisson=[
        PoissonInput("ext_e", "E", np.arange(80), 12000.0, 9.0, 0.1),
        PoissonInput("ext_i", "I", np.arange(20), 12000.0, 9.0, 0.1)], structural=sp)


def build_cable(seed: int = 4) -> Network:
    """Six cable cells of two kinds (the model's default ball-and-stick with a longer
    dendrite, and one with a thinner, spiking one) driven by Poisson input at the soma and by
    virtual spikes and each other at places along their dendrites
    (``afferent_section_id``/``afferent_section_pos``), excitatory and inhibitory, the
    excitatory synapses between the cells plastic (``stdp_synapse``, which reads the targets'
    spikes): on 2 ranks every other cell and its synapse sites are on the other rank."""
    import copy

    from wbe.engine.cells.cable import DEFAULT_TEMPLATE

    r = np.random.default_rng(seed)
    tpl = copy.deepcopy(DEFAULT_TEMPLATE)
    tpl["morphology"][1]["points"] = [[6.3, 0, 0, 1.0], [400.0, 0, 0, 0.8]]
    thin = copy.deepcopy(tpl)
    thin["morphology"][1]["points"] = [[6.3, 0, 0, 0.7], [250.0, 30, 0, 0.5]]
    thin["mechanisms"] = {"soma": {"hh": {}}, "dend": {"hh": {"gnabar_hh": 0.04}}}
    n, m = 6, 60
    src, tgt = r.integers(0, n + 4, m), r.integers(0, n, m)
    sec, pos = r.integers(0, 2, m), r.uniform(0.0, 1.0, m)
    exc = r.uniform(size=m) < 0.8
    projs = []
    for port, sel in (("exc", exc), ("inh", ~exc)):
        for sname, lo, hi in (("c", 0, n), ("v", n, n + 4)):
            k = sel & (src >= lo) & (src < hi)
            projs.append(Projection(f"{sname}_{port}", sname, "c", src[k] - lo, tgt[k],
                                    np.where(port == "exc", 0.6, 1.5) * np.ones(k.sum()),
                                    np.round(r.uniform(0.5, 2.0, k.sum()), 1), receptor=port,
                                    attributes={"afferent_section_id": sec[k],
                                                "afferent_section_pos": pos[k]},
                                    plasticity=Plasticity("stdp_synapse", {
                                        "lambda": 0.05, "Wmax": 2.0})
                                    if (sname, port) == ("c", "exc") else None))
    kinds = np.arange(n) % 2.0
    return Network([Population("c", "cable", n, {"V_m": r.uniform(-66.0, -64.0, n),
                                                 "cell_type": kinds},
                               template={"cells": [tpl, thin]}),
                    Population("v", "virtual", 4)], projs,
                   poisson=[PoissonInput("bg", "c", np.arange(n), 2000.0, 0.25, 0.5,
                                         receptor="exc")],
                   spike_trains=[SpikeTrainInput("st", "v", np.arange(4),
                                                 np.array([3.0, 7.5, 12.0, 20.0]))])


def run_config_cable(tstop_ms: float = 40.0) -> RunConfig:
    return RunConfig(tstop_ms, dt_ms=0.025, seed=5, state_recorders=[
        StateRecorder("c", ["V_m"], np.arange(6), 0.1)])


def build_big(seed: int = 3) -> Network:
    """5,000 iaf_psc_exp neurons, min delay 1.5 ms (15 steps): a slice may hold more spikes
    than the fused loop's smallest buffer (regression case for its buffer sizing)."""
    r = np.random.default_rng(seed)
    n, m = 5000, 50000
    src, tgt = r.integers(0, n, m), r.integers(0, n, m)
    return Network([Population("a", "iaf_psc_exp", n)],
                   [Projection("p", "a", "a", src, tgt, np.where(src < 4000, 60.0, -240.0),
                               np.full(m, 1.5))],
                   poisson=[PoissonInput("ext", "a", np.arange(n), 12000.0, 60.0, 1.5)])


def build_gap_pair(g_nS: float = 5.0, i1_pA: float = 200.0, i2_pA: float = -50.0) -> Network:
    """Two passive iaf_psc_exp neurons (no spiking) coupled by a gap junction, under DC: gid 0
    and gid 1, so on 2 ranks the pair is split (round robin)."""
    pop = Population("pair", "iaf_psc_exp", 2, {"C_m": 250.0, "tau_m": 10.0, "E_L": -70.0,
                                                 "V_m": -70.0, "V_th": 1e6, "V_reset": -70.0})
    gap = Projection("gap", "pair", "pair", np.array([0, 1]), np.array([1, 0]),
                     np.array([g_nS, g_nS]), np.array([0.1, 0.1]), synapse="gap_junction")
    return Network([pop], [gap], currents=[
        CurrentInput("dc", "pair", np.array([0, 1]), np.array([i1_pA, i2_pA]))])


def build_gap(seed: int = 11) -> Network:
    """Spiking network with chemical synapses and gap junctions over two models and
    populations (iaf_psc_exp and iaf_cond_exp), Poisson drive: most gap pairs cross ranks."""
    r = np.random.default_rng(seed)
    n, m = 120, 40
    pops = [Population("a", "iaf_psc_exp", n, {"V_m": r.uniform(-70, -56, n)}),
            Population("b", "iaf_cond_exp", m, {"V_m": r.uniform(-70, -56, m)})]
    src, tgt = r.integers(0, n, 1500), r.integers(0, n, 1500)
    chem = Projection("chem", "a", "a", src, tgt, np.where(src < 96, 60.0, -200.0),
                      np.round(r.uniform(0.5, 2.0, 1500), 1))
    ab = Projection("ab", "a", "b", r.integers(0, n, 200), r.integers(0, m, 200),
                    np.full(200, 3.0), np.full(200, 1.0))
    # undirected pairs inside a, and between a and b (two projections, one per direction)
    pa = {(min(x, y), max(x, y)) for x, y in r.integers(0, n, (150, 2)) if x != y}
    pa = sorted(pa)
    ga = r.uniform(0.5, 3.0, len(pa))
    gap_a = Projection("gap_a", "a", "a", np.array([x for x, _ in pa] + [y for _, y in pa]),
                       np.array([y for _, y in pa] + [x for x, _ in pa]),
                       np.r_[ga, ga], np.full(2 * len(pa), 1.0), synapse="gap_junction")
    xa, xb = r.integers(0, n, 30), r.choice(m, 30, replace=False)
    gx = r.uniform(0.5, 2.0, 30)
    gap_ab = Projection("gap_ab", "a", "b", xa, xb, gx, np.full(30, 1.0), synapse="gap_junction")
    gap_ba = Projection("gap_ba", "b", "a", xb, xa, gx, np.full(30, 1.0), synapse="gap_junction")
    return Network(pops, [chem, ab, gap_a, gap_ab, gap_ba],
                   poisson=[PoissonInput("ext", "a", np.arange(n), 14000.0, 60.0, 0.1),
                            PoissonInput("extb", "b", np.arange(m), 9000.0, 2.0, 0.1)])


def run_config_gap(tstop_ms: float = 100.0) -> RunConfig:
    return RunConfig(tstop_ms, seed=13, state_recorders=[
        StateRecorder("a", ["V_m"], np.arange(0, 120, 5), 0.5),
        StateRecorder("b", ["V_m"], np.arange(0, 40, 3), 0.5)])


def run_config_pair(tstop_ms: float = 100.0) -> RunConfig:
    return RunConfig(tstop_ms, seed=1, state_recorders=[
        StateRecorder("pair", ["V_m"], np.array([0, 1]), 0.1)])


def run_config_ode(tstop_ms: float = 60.0) -> RunConfig:
    return RunConfig(tstop_ms, seed=9, state_recorders=[
        StateRecorder("x", ["V_m", "w"], np.arange(5), 0.5),
        StateRecorder("rx", ["V_m", "g_AMPA", "g_NMDA", "g_GABA_A", "G_GABA_B"],
                      np.arange(0, 20, 3), 0.5)])


def run_config(tstop_ms: float = 100.0) -> RunConfig:
    return RunConfig(tstop_ms, dt_ms=0.1, seed=7, state_recorders=[
        StateRecorder("cells", ["V_m", "I_syn_ex"], np.arange(0, 200, 7), 0.5)])


def circuit_case(circuit_config: Path) -> Network:
    """A SONATA circuit with independent Poisson background (8 kHz × 20 pA) to every neuron."""
    from wbe.io.sonata import read_circuit

    net = read_circuit(circuit_config)
    for p in net.populations:
        if not p.is_virtual:
            net.poisson.append(PoissonInput(f"bg_{p.name}", p.name, np.arange(p.n), 8000.0,
                                            20.0, 0.1))
    return net


def build_glia(seed: int = 4) -> Network:
    """Glia and fields together: 24 AdEx neurons and 6 astrocytes wired tripartitely (SIC),
    a dopamine field released by 4 of the neurons that scales every neuron's I_e and steers a
    volume transmitter under dopamine-modulated STDP, myelination of the primary projection
    (delays change during the run) and microglia that an injury at 20 ms turns phagocytic,
    pruning plastic and myelinated synapses; Poisson background."""
    from wbe.engine.network import DoseResponse, Field, Injury, Microglia, Myelination, Release
    from wbe.networks.astrocytes import tripartite

    r = np.random.default_rng(seed)
    n, na = 24, 6
    xyz = {"x": r.uniform(0, 2000.0, n), "y": r.uniform(0, 300.0, n), "z": np.zeros(n)}
    projs = tripartite("n", n, "a", na, p_primary=0.15, p_third_if_primary=0.5,
                       weight_primary=2.0, weight_third_in=1.0, weight_sic=25.0,
                       delay_primary_ms=2.0, delay_third_in_ms=0.8, delay_sic_ms=1.2, seed=seed)
    m = 40
    projs.append(Projection("learn", "n", "n", r.integers(0, n, m), r.integers(0, n, m),
                            np.full(m, 1.5), np.round(r.uniform(0.8, 2.0, m), 1),
                            plasticity=Plasticity("stdp_dopamine_synapse", {
                                "tau_n": 100.0, "tau_c": 200.0, "b": 0.001, "Wmax": 10.0,
                                "volume_transmitter": "vt"})))
    zero = {"x": np.zeros(1), "y": np.zeros(1), "z": np.zeros(1)}
    return Network(
        [Population("n", "aeif_cond_alpha_astro", n, {"I_e": r.uniform(450.0, 600.0, n),
                                                      "a": 2.0, "b": 30.0}, attributes=xyz),
         Population("a", "astrocyte_lr_1994", na, {"delta_IP3": 0.5,
                                                   "Ca_astro": r.uniform(0.18, 0.3, na)}),
         Population("vt", "volume_transmitter", 1, attributes=zero)], projs,
        poisson=[PoissonInput("bg", "n", np.arange(n), 1500.0, 2.0, 0.8)],
        fields=[Field("dopamine", D_um2_per_ms=0.24, k_per_ms=0.01, spacing_um=50.0,
                      margin_um=100.0, update_interval_ms=1.6,
                      releases=[Release("n", 5e4, np.arange(4))], volume_transmitters=["vt"],
                      effects=[DoseResponse("n", "I_e", 0.3, ec50_uM=0.02)])],
        glia=[Myelination(["primary"], synaptic_delay_ms=0.8, tau_m_ms=100.0,
                          tau_rate_ms=50.0, update_interval_ms=3.2),
              Microglia(np.array([[500.0, 150.0, 0.0], [1500.0, 150.0, 0.0]]),
                        ["learn", "primary"], territory_um=400.0,
                        injuries=[Injury(20.0, (500.0, 150.0, 0.0), 100.0, 1.0)],
                        t_activated_ms=10.0, t_phagocytic_ms=40.0, rate_weak_hz=1000.0,
                        p_prune=0.3, update_interval_ms=5.0)])


def run_config_glia(tstop_ms: float = 80.0) -> RunConfig:
    return RunConfig(tstop_ms, seed=7, state_recorders=[
        StateRecorder("n", ["V_m", "I_SIC"], np.arange(0, 24, 5), 0.4),
        StateRecorder("a", ["Ca_astro", "SIC"], np.arange(6), 0.4)])


def build_bold(seed: int = 5) -> Network:
    """A 5-region brain (region_network: 40 LIF neurons a region, long-range delays from tract
    lengths) with Poisson background, for the BOLD monitor."""
    from wbe.networks.regions import region_network

    r = np.random.default_rng(seed)
    w = r.uniform(0.0, 1.0, (5, 5))
    np.fill_diagonal(w, 0.0)
    net = region_network(5, 40, weights=w, tract_lengths_mm=r.uniform(5.0, 40.0, (5, 5)),
                         g=5.0, J_long_pA=150.0, seed=seed)
    net.poisson += [PoissonInput("bg_e", "E", np.arange(160), 8000.0, 87.8),
                    PoissonInput("bg_i", "I", np.arange(40), 8000.0, 87.8)]
    return net


def run_config_bold(tstop_ms: float = 80.0) -> RunConfig:
    """Only inhibitory spikes stored; BOLD from every neuron's spikes, sampled every 10 ms."""
    from wbe.engine.network import BoldMonitor

    return RunConfig(tstop_ms, seed=6, record_spikes=["I"], monitors=[
        BoldMonitor(["E", "I"], bin_ms=0.5, tr_s=0.01, gain=0.05, params="stephan2007",
                    keep_drive=True),
        BoldMonitor(["E"], region_attribute="region", bin_ms=2.0, tr_s=0.01, name="bold_e")])


def build_vascular(seed: int = 8) -> Network:
    """A perfused block (150 LIF neurons in a 16-territory H-tree bed) whose quadrant arteriole
    is occluded at 30 ms; a tiny ATP store so that pumps fail within the run."""
    from wbe.networks.vascular import ischaemia, perfused_block

    net, g = perfused_block(n_exc=120, n_inh=30, seed=seed, vasculature=dict(
        update_interval_ms=2.0, calibration_ms=20.0, atp_store_s=0.01, pump_pA=300.0,
        nvc_gain_per_hz=0.5))
    net.fields[0].occlusions.append(ischaemia(g, 30.0))
    return net


def flatten(res) -> dict[str, np.ndarray]:
    """SimResult → flat dict of arrays (for npz and comparisons)."""
    out = {}
    for pop, (t, i) in res.spikes.items():
        out[f"spikes/{pop}/t"], out[f"spikes/{pop}/i"] = t, i
    for pop, d in res.state.items():
        for var, (t, _ids, v) in d.items():
            out[f"state/{pop}/{var}/t"], out[f"state/{pop}/{var}/v"] = t, v
    for name, w in res.weights.items():
        out[f"weights/{name}"] = w
    out.update(res.structural)  # "structural/..."
    out.update({f"glia/{k}": v for k, v in res.glia.items()})
    out.update({f"monitors/{k}": v for k, v in res.monitors.items()})
    return out


def main() -> None:
    from wbe.engine.simulator import simulate

    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--tstop", type=float, default=100.0)
    ap.add_argument("--restore")
    ap.add_argument("--checkpoint")
    ap.add_argument("--ode", action="store_true", help="simulate build_ode() instead")
    ap.add_argument("--single", action="store_true", help="simulate build_single() instead")
    ap.add_argument("--gap", action="store_true", help="simulate build_gap() instead")
    ap.add_argument("--big", action="store_true", help="simulate build_big() instead")
    ap.add_argument("--structural", action="store_true",
                    help="simulate build_structural() instead")
    ap.add_argument("--pair", action="store_true", help="simulate build_gap_pair() instead")
    ap.add_argument("--cable", action="store_true", help="simulate build_cable() instead")
    ap.add_argument("--glia", action="store_true", help="simulate build_glia() instead")
    ap.add_argument("--bold", action="store_true", help="simulate build_bold() instead")
    ap.add_argument("--vascular", action="store_true", help="simulate build_vascular() instead")
    ap.add_argument("--all-models", action="store_true",
                    help="simulate build_all_models() (every registered component) instead")
    ap.add_argument("--circuit", help="simulate this SONATA circuit_config.json with Poisson "
                    "background 8 kHz × 20 pA to every neuron (seed 3)")
    ap.add_argument("--spike-block", type=int, help="override the engine's SPIKE_BLOCK")
    ap.add_argument("--placement", choices=["round_robin", "metis", "balanced"],
                    help="neurons on ranks")
    ap.add_argument("--mpi4py-exchange", action="store_true",
                    help="exchange spikes from Python (mpi4py), not inside numba (mpi_nb)")
    a = ap.parse_args()
    from wbe.engine import context

    if a.spike_block:
        context.SPIKE_BLOCK = a.spike_block
    if a.mpi4py_exchange:
        context.NUMBA_EXCHANGE = False
    elif a.single or a.big:  # the case must exercise the exchange inside numba
        from mpi4py import MPI

        assert context.context(MPI.COMM_WORLD).in_numba_exchange, "MPI library not found"
    net, run = (build_ode(), run_config_ode(a.tstop)) if a.ode else (build(), run_config(a.tstop))
    if a.single:
        net, run = build_single(), RunConfig(a.tstop, seed=4)
    if a.gap:
        net, run = build_gap(), run_config_gap(a.tstop)
    if a.big:
        net, run = build_big(), RunConfig(a.tstop, seed=2)
    if a.pair:
        net, run = build_gap_pair(), run_config_pair(a.tstop)
    if a.structural:
        net, run = build_structural(), RunConfig(a.tstop, seed=9)
    if a.all_models:
        net, run = build_all_models(), run_config_all_models(a.tstop)
    if a.cable:
        net, run = build_cable(), run_config_cable(a.tstop)
    if a.glia:
        net, run = build_glia(), run_config_glia(a.tstop)
    if a.vascular:
        net, run = build_vascular(), RunConfig(a.tstop, seed=9)
    if a.bold:
        net, run = build_bold(), run_config_bold(a.tstop)
    if a.circuit:
        net, run = circuit_case(Path(a.circuit)), RunConfig(a.tstop, seed=3)
    if a.placement:
        run.placement = a.placement
    res = simulate(net, run,
                   restore=Path(a.restore) if a.restore else None,
                   checkpoint=Path(a.checkpoint) if a.checkpoint else None)
    from mpi4py import MPI

    if MPI.COMM_WORLD.Get_rank() == 0:
        np.savez(a.out, **flatten(res))
    else:  # every rank must hold the same result
        np.savez(a.out + f".rank{MPI.COMM_WORLD.Get_rank()}.npz", **flatten(res))


if __name__ == "__main__":
    main()
