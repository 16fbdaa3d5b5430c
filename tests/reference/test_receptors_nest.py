"""Receptor-port neuron models against NEST 3.10, run beside it in the test.

``aeif_cond_beta_multisynapse``: one neuron for 1 s with four receptor ports (two excitatory
with fast and NMDA-like slow kinetics, two inhibitory, one with τ_rise = τ_decay: NEST's alpha
normalisation), 40 input spikes on each port and a DC window; V_m, w and every port's
conductance every step, spike times identical; traces within 1e-9 relative (they measure 0:
the same RKF45 step sequence), compiled and NumPy paths.

``ht_neuron`` (Hill & Tononi 2005): one neuron for 1 s with input spikes on every receptor
port (AMPA, NMDA, GABA_A, GABA_B; 40 each at random times, weights and delays) and a DC window;
every recordable (V_m, θ, the four conductances with NMDA's Mg unblock, I_NaP, I_KNa, I_T, I_h)
every step and the spike times, under the defaults and under parameter sets that take each of
NEST's code paths (instantaneous NMDA unblock, ``equilibrate``, voltage clamp, t_ref = 0,
τ_rise ≈ τ_decay, other exponents). Spike times identical; traces within 1e-9 relative (they
measure 0: NEST's RKF45 step sequence is reproduced, see ``wbe/engine/cells/rkf45.py``).
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
from wbe.engine.registry import CELLS
from wbe.engine.simulator import simulate

nest = pytest.importorskip("nest")
pytestmark = pytest.mark.nest

DT, T = 0.1, 1000.0
MODEL = "ht_neuron"
REC = list(CELLS.get(MODEL).recordable_names)  # ht_neuron's
VARIANTS = {
    "defaults": {},
    "instant-unblock-equilibrate": {"V_m": -60.0, "equilibrate": 1.0,
                                    "instant_unblock_NMDA": 1.0},
    "voltage-clamp": {"voltage_clamp": 1.0, "V_m": -50.0},
    "no-refractory-alpha-like": {"tau_rise_AMPA": 2.4, "tau_decay_AMPA": 2.4 + 1e-16 * 8,
                                 "N_T": 3.0, "t_ref": 0.0, "theta": -55.0, "S_act_NMDA": 0.1,
                                 "tau_D_KNa": 500.0, "g_peak_h": 2.0},
}


def inputs(seed: int = 1) -> list[tuple[float, int, float, float]]:
    """(time ms, receptor_type, weight, delay ms) of 40 spikes per port."""
    r = np.random.default_rng(seed)
    out = []
    for port in (1, 2, 3, 4):
        for t in np.round(np.sort(r.uniform(1.0, T - 5.0, 40)), 1):
            out.append((float(t), port, float(np.round(r.uniform(0.5, 2.0), 3)),
                        float(np.round(r.uniform(0.1, 3.0), 1))))
    return out


DC = (30.0, 100.0, 800.0)  # amplitude, on, off


def run_nest(params: dict, ins, model: str = MODEL) -> tuple[dict, np.ndarray]:
    nest.set_verbosity("M_ERROR")
    nest.ResetKernel()
    nest.resolution = DT
    cell = CELLS.get(model).specialize(params)
    rec = list(cell.recordable_names)
    n = nest.Create(model, params=cell.nest_values(params))
    for t, port, w, d in ins:
        sg = nest.Create("spike_generator", params={"spike_times": [t]})
        nest.Connect(sg, n, syn_spec={"weight": w, "delay": d, "receptor_type": port})
    dc = nest.Create("dc_generator", params={"amplitude": DC[0], "start": DC[1], "stop": DC[2]})
    nest.Connect(dc, n, syn_spec={"delay": DT})
    mm = nest.Create("multimeter", params={"record_from": rec, "interval": DT})
    sr = nest.Create("spike_recorder")
    nest.Connect(mm, n)
    nest.Connect(n, sr)
    nest.Simulate(T)
    ev = mm.get("events")
    return {v: np.asarray(ev[v]) for v in rec}, np.asarray(sr.get("events")["times"])


def run_wbe(params: dict, ins, use_numba: bool = True, model: str = MODEL
            ) -> tuple[dict, np.ndarray]:
    k = len(ins)
    rec = list(CELLS.get(model).specialize(params).recordable_names)
    projs = []
    for port in sorted({x[1] for x in ins}):
        sel = [i for i, x in enumerate(ins) if x[1] == port]
        projs.append(Projection(f"in{port}", "src", "n", np.array(sel),
                                np.zeros(len(sel), np.int64), np.array([ins[i][2] for i in sel]),
                                np.array([ins[i][3] for i in sel]), receptor=port))
    net = Network([Population("n", model, 1, params), Population("src", "virtual", k)], projs,
                  currents=[CurrentInput("dc", "n", np.array([0]), *DC)],
                  spike_trains=[SpikeTrainInput("st", "src", np.arange(k),
                                                np.array([x[0] for x in ins]))])
    res = simulate(net, RunConfig(T, dt_ms=DT, state_recorders=[
        StateRecorder("n", rec, np.array([0]), DT)]), use_numba=use_numba)
    st = res.state["n"]
    return {v: st[v][2][:, 0] for v in rec}, res.spikes["n"][0]


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_ht_neuron_matches_nest(variant):
    params, ins = VARIANTS[variant], inputs()
    (nv, ns), (wv, ws) = run_nest(params, ins), run_wbe(params, ins)
    if variant != "voltage-clamp":
        assert ns.size >= 10, f"{variant}: the neuron should fire ({ns.size} spikes)"
    assert np.array_equal(np.round(ns / DT).astype(int), np.round(ws / DT).astype(int))
    for v in REC:
        assert nv[v].shape == wv[v].shape == (int(round(T / DT)) - 1,), v
        scale = max(np.max(np.abs(nv[v])), 1e-12)
        err = np.max(np.abs(nv[v] - wv[v])) / scale
        assert err <= 1e-9, f"{variant}: {v} differs from NEST by {err:.2e} (relative)"
    for r in ("AMPA", "NMDA", "GABA_A", "GABA_B"):  # every port was driven
        assert np.max(nv[f"g_{r}"]) > 0.0, r


def test_ht_neuron_reference_path_matches_nest():
    """The NumPy reference step (not only the compiled kernel) against NEST."""
    params, ins = VARIANTS["instant-unblock-equilibrate"], inputs(2)
    (nv, ns), (wv, ws) = run_nest(params, ins), run_wbe(params, ins, use_numba=False)
    assert np.array_equal(np.round(ns / DT).astype(int), np.round(ws / DT).astype(int))
    for v in REC:
        np.testing.assert_allclose(wv[v], nv[v], rtol=1e-9, atol=1e-12, err_msg=v)


# --------------------------------------------------------------------------- multisynapse
MS = "aeif_cond_beta_multisynapse"
#: AMPA-like, NMDA-like (slow), GABA_A-like, GABA_B-like with tau_rise = tau_decay (alpha)
MS_PORTS = {"E_rev": [0.0, 0.0, -80.0, -95.0], "tau_rise": [0.2, 2.0, 0.5, 30.0],
            "tau_decay": [2.0, 60.0, 8.0, 30.0]}
MS_VARIANTS = {
    "adex": {**MS_PORTS, "I_e": 600.0, "a": 2.0, "b": 40.0},
    "refractory-no-exponential": {**MS_PORTS, "I_e": 600.0, "Delta_T": 0.0, "t_ref": 2.0,
                                  "V_m": -65.0, "w": 5.0, "gsl_error_tol": 1e-8},
}


def ms_inputs(seed: int = 1) -> list[tuple[float, int, float, float]]:
    r = np.random.default_rng(seed)
    return [(float(t), port, float(np.round(r.uniform(1.0, 6.0), 3)),
             float(np.round(r.uniform(0.1, 3.0), 1)))
            for port in (1, 2, 3, 4) for t in np.round(np.sort(r.uniform(1.0, T - 5.0, 40)), 1)]


@pytest.mark.parametrize("use_numba", [True, False], ids=["compiled", "numpy"])
@pytest.mark.parametrize("variant", list(MS_VARIANTS))
def test_aeif_cond_beta_multisynapse_matches_nest(variant, use_numba):
    params, ins = MS_VARIANTS[variant], ms_inputs()
    (nv, ns), (wv, ws) = run_nest(params, ins, MS), run_wbe(params, ins, use_numba, MS)
    assert ns.size >= 10, f"{variant}: the neuron should fire ({ns.size} spikes)"
    assert np.array_equal(np.round(ns / DT).astype(int), np.round(ws / DT).astype(int))
    assert sorted(nv) == ["V_m", "g_1", "g_2", "g_3", "g_4", "w"]
    for v in nv:
        err = np.max(np.abs(nv[v] - wv[v])) / np.max(np.abs(nv[v]))
        assert err <= 1e-9, f"{variant}: {v} differs from NEST by {err:.2e} (relative)"
    for k in range(1, 5):  # every port was driven
        assert np.max(nv[f"g_{k}"]) > 0.5, k
