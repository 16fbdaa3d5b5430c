"""RKF45 models vs NEST 3.10, run inside the test: ``iaf_cond_exp``, ``aeif_cond_exp`` and
``hh_psc_alpha`` under DC (I_e) + a current step + excitatory and inhibitory input spikes,
500 ms, V_m every dt and spike times.

NEST integrates these with GSL's rkf45 + standard step control (iaf_cond_exp, hh_psc_alpha:
absolute tolerance 1e-3 on y; aeif_cond_exp: absolute and relative ``gsl_error_tol`` = 1e-6 on
h·dy/dt) and carries the step size between time steps; wbe transcribes those routines, so the
step sequences coincide. Tolerances: spike times identical on the dt grid, V_m within 1e-6 mV
(measured: 0, i.e. bit-identical, on this machine; the margin allows a libm that rounds exp or
pow differently).
"""

from __future__ import annotations

import numpy as np
import pytest

nest = pytest.importorskip("nest")
pytestmark = pytest.mark.nest

import test_models_vs_nest as base  # noqa: E402
from test_models_vs_nest import DT, _nest_run, _wbe_run  # noqa: E402

CASES = {  # model, params, |weight| (nS for *_cond_*, pA for hh), step amplitude (pA)
    "iaf_cond_exp": ("iaf_cond_exp", {"I_e": 400.0, "V_m": -65.0}, 8.0, 100.0),
    "aeif_cond_exp_tref": ("aeif_cond_exp", {"I_e": 1000.0, "t_ref": 1.0, "V_m": -65.0}, 8.0,
                           150.0),
    "aeif_cond_exp_default": ("aeif_cond_exp", {"I_e": 900.0, "a": 2.0, "b": 30.0}, 10.0, 300.0),
    "hh_psc_alpha": ("hh_psc_alpha", {"I_e": 650.0}, 300.0, 150.0),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_rkf45_model_matches_nest(case, monkeypatch):
    model, params, w, step_amp = CASES[case]
    monkeypatch.setattr(base, "T", 500.0)
    nt, nv, ns = _nest_run(model, params, w, step_amp)
    wt, wv, ws = _wbe_run(model, params, w, step_amp)
    assert ns.size >= 10, "the case should make the neuron spike repeatedly"
    assert np.array_equal(np.round(ns / DT).astype(int), np.round(ws / DT).astype(int))
    assert np.array_equal(np.round(nt / DT).astype(int), np.round(wt / DT).astype(int))
    assert np.max(np.abs(nv - wv)) < 1e-6
