"""``iaf_bw_2001`` and ``iaf_bw_2001_exact`` (Brunel & Wang 2001: AMPA, GABA, NMDA with Mg²⁺
block; the exact one integrating every NMDA synapse) against NEST 3.10, run beside it.

One target neuron for 1 s: 40 input spikes each on AMPA and GABA (spike generators), NMDA input
from three ``iaf_bw_2001`` senders driven to fire at different rates (NMDA input must come from
``iaf_bw_2001``: NEST sends the saturating increment with the spike; ``iaf_bw_2001_exact`` also
gets 20 NMDA spikes from spike generators, each its own synapse), a DC window. Every
recordable of the target (V_m, s_AMPA, s_GABA, s_NMDA, I_AMPA, I_GABA, I_NMDA) every step within
1e-9 relative, the spike times of target and senders identical — under the defaults and under
other NMDA kinetics, Mg²⁺ and t_ref, compiled and NumPy paths. NEST's first increments equal
wbe's k0 for a grid of (alpha, tau_rise, tau_decay). Networks: tests/reference/
test_nest_networks.py (``cell-iaf_bw_2001`` includes recurrent NMDA).
"""

from __future__ import annotations

import numpy as np
import pytest

from wbe.engine.network import (
    CurrentInput,
    Network,
    Population,
    Projection,
    RunConfig,
    SpikeTrainInput,
    StateRecorder,
)
from wbe.engine.plasticity.iaf_bw_2001_nmda import nmda_k0_k1
from wbe.engine.registry import CELLS
from wbe.engine.simulator import simulate

nest = pytest.importorskip("nest")
pytestmark = pytest.mark.nest

DT, T = 0.1, 1000.0
MODELS = ("iaf_bw_2001", "iaf_bw_2001_exact")
MODEL = MODELS[0]
REC = list(CELLS.get(MODEL).recordable_names)  # the same for both
SENDER_DC = (520.0, 700.0, 900.0)  # pA: the NMDA senders fire at different rates
DC = (400.0, 100.0, 900.0)  # amplitude, on, off (the target)
VARIANTS = {
    "defaults": ({}, {}),
    "kinetics": ({"tau_decay_NMDA": 60.0, "conc_Mg2": 1.5, "t_ref": 0.0, "tau_AMPA": 3.0,
                  "gsl_error_tol": 1e-5},
                 {"alpha": 0.3, "tau_rise_NMDA": 3.5, "tau_decay_NMDA": 80.0, "t_ref": 1.0}),
}


def inputs(model: str, seed: int = 1) -> list[tuple[float, int, float, float]]:
    """(time ms, receptor_type, weight nS, delay ms) of 40 spikes each on AMPA and GABA, and
    20 on NMDA for the exact model (any sender may feed its NMDA port)."""
    r = np.random.default_rng(seed)
    counts = {1: 40, 2: 40, 3: 20 if model.endswith("exact") else 0}
    return [(float(t), port, float(np.round(r.uniform(1.0, 4.0), 3)),
             float(np.round(r.uniform(0.1, 3.0), 1)))
            for port, c in counts.items()
            for t in np.round(np.sort(r.uniform(1.0, T - 5.0, c)), 1)]


NMDA_W = (1.5, 2.5, 0.8)  # nS, one per sender
NMDA_D = (1.0, 2.3, 0.5)  # ms


def run_nest(model: str, target: dict, sender: dict, ins):
    nest.set_verbosity("M_ERROR")
    nest.ResetKernel()
    nest.resolution = DT
    cell = CELLS.get(model)
    n = nest.Create(model, params=cell.nest_values(target))
    snd = nest.Create(model, 3, params=cell.nest_values(sender))
    for k, s in enumerate(snd):
        dc = nest.Create("dc_generator", params={"amplitude": SENDER_DC[k]})
        nest.Connect(dc, s, syn_spec={"delay": DT})
        nest.Connect(s, n, syn_spec={"weight": NMDA_W[k], "delay": NMDA_D[k],
                                     "receptor_type": 3})
    for t, port, w, d in ins:
        sg = nest.Create("spike_generator", params={"spike_times": [t]})
        nest.Connect(sg, n, syn_spec={"weight": w, "delay": d, "receptor_type": port})
    dc = nest.Create("dc_generator", params={"amplitude": DC[0], "start": DC[1], "stop": DC[2]})
    nest.Connect(dc, n, syn_spec={"delay": DT})
    mm = nest.Create("multimeter", params={"record_from": REC, "interval": DT})
    sr = nest.Create("spike_recorder", params={"time_in_steps": True})  # NEST: stamp - offset
    nest.Connect(mm, n)
    nest.Connect(n + snd, sr)
    nest.Simulate(T)
    ev, sp = mm.get("events"), sr.get("events")
    senders, steps = np.asarray(sp["senders"]), np.asarray(sp["times"])
    ids = [n.global_id, *snd.tolist()]
    return ({v: np.asarray(ev[v]) for v in REC},
            [np.sort(steps[senders == g]) for g in ids], sp["offsets"])


def run_wbe(model: str, target: dict, sender: dict, ins, use_numba: bool = True):
    k = len(ins)
    projs = [Projection("nmda", "snd", "n", np.arange(3), np.zeros(3, np.int64),
                        np.array(NMDA_W), np.array(NMDA_D), receptor="NMDA")]
    for port in sorted({x[1] for x in ins}):  # NMDA connections after the senders', as NEST
        sel = [i for i, x in enumerate(ins) if x[1] == port]
        projs.append(Projection(f"in{port}", "src", "n", np.array(sel),
                                np.zeros(len(sel), np.int64), np.array([ins[i][2] for i in sel]),
                                np.array([ins[i][3] for i in sel]), receptor=port))
    net = Network([Population("n", model, 1, target), Population("snd", model, 3, sender),
                   Population("src", "virtual", k)], projs,
                  currents=[CurrentInput("dc", "n", np.array([0]), *DC),
                            *(CurrentInput(f"dc{j}", "snd", np.array([j]), a, 0.0, T + 1.0)
                              for j, a in enumerate(SENDER_DC))],
                  spike_trains=[SpikeTrainInput("st", "src", np.arange(k),
                                                np.array([x[0] for x in ins]))])
    res = simulate(net, RunConfig(T, dt_ms=DT, state_recorders=[
        StateRecorder("n", REC, np.array([0]), DT)]), use_numba=use_numba)
    st = res.state["n"]
    t_snd, i_snd = res.spikes["snd"]
    steps = [np.round(res.spikes["n"][0] / DT).astype(int),
             *(np.sort(np.round(t_snd[i_snd == j] / DT).astype(int)) for j in range(3))]
    return {v: st[v][2][:, 0] for v in REC}, steps


@pytest.mark.parametrize("use_numba", [True, False], ids=["compiled", "numpy"])
@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("model", MODELS)
def test_iaf_bw_2001_matches_nest(model, variant, use_numba):
    target, sender = VARIANTS[variant]
    ins = inputs(model)
    (nv, ns, _off), (wv, ws) = (run_nest(model, target, sender, ins),
                                run_wbe(model, target, sender, ins, use_numba))
    assert ns[0].size >= 10, f"{variant}: the target should fire ({ns[0].size} spikes)"
    for j in range(1, 4):
        assert ns[j].size >= 5, "every sender fires repeatedly"
    for a, b in zip(ns, ws):
        assert np.array_equal(a, b)
    for v in REC:
        assert nv[v].shape == wv[v].shape == (int(round(T / DT)) - 1,), v
        scale = max(np.max(np.abs(nv[v])), 1e-12)
        err = np.max(np.abs(nv[v] - wv[v])) / scale
        assert err <= 1e-9, f"{variant}: {v} differs from NEST by {err:.2e} (relative)"
    assert np.max(nv["s_NMDA"]) > 1.0 and np.max(nv["s_GABA"]) > 1.0


def test_nmda_increments_equal_nest():
    """The first increment a sender sends is k0 (its trace is empty): NEST's spike offsets
    against wbe's k0 for a grid of NMDA kinetics (Boost's lower incomplete gamma in NEST)."""
    sets = [(a, tr, td) for a in (0.5, 0.3, 1.0, 0.72) for tr in (2.0, 1.0, 3.5)
            for td in (100.0, 80.0, 40.0)]
    nest.set_verbosity("M_ERROR")
    nest.ResetKernel()
    ns = nest.Create(MODEL, len(sets))
    for n, (a, tr, td) in zip(ns, sets):
        n.set({"alpha": a, "tau_rise_NMDA": tr, "tau_decay_NMDA": td})
    dc = nest.Create("dc_generator", params={"amplitude": 600.0})
    nest.Connect(dc, ns)
    sr = nest.Create("spike_recorder", params={"time_in_steps": True})
    nest.Connect(ns, sr)
    nest.Simulate(40.0)
    ev = sr.get("events")
    first: dict[int, float] = {}
    for s, off in zip(ev["senders"], ev["offsets"]):
        first.setdefault(int(s), float(off))
    for n, (a, tr, td) in zip(ns, sets):
        assert nmda_k0_k1(a, tr, td)[0] == first[n.global_id], (a, tr, td)


def test_nmda_only_from_iaf_bw_2001_as_nest():
    net = Network([Population("n", MODEL, 1), Population("s", "virtual", 1)],
                  [Projection("bad", "s", "n", np.array([0]), np.array([0]), np.array([1.0]),
                              np.array([1.0]), receptor="NMDA")])
    with pytest.raises(ValueError, match="projection 'bad'.*iaf_bw_2001 neurons only"):
        simulate(net, RunConfig(5.0))
