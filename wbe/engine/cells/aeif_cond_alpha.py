"""``aeif_cond_alpha``: adaptive exponential integrate-and-fire neuron, alpha conductances."""

from __future__ import annotations

import math

import numba
import numpy as np

from ..registry import CELLS, Var
from .aeif_cond_exp import (
    AEIF_CONSTS,
    AEIF_PARAMS,
    AEIF_REFERENCES,
    aeif_constants,
    aeif_host,
    aeif_step_np,
    check_aeif,
    i_spike_np,
    v_aeif_np,
)
from .base import CellModel
from .common import SPIKE_PORT
from .rkf45 import init_h, make_evolve

_CONSTS = (*AEIF_CONSTS[:-1], "g0_ex", "g0_in", "h_step")


@numba.njit(cache=True)
def _rhs(y, f, c, istim, refr):
    # y: V, dg_ex, g_ex, dg_in, g_in, w
    # c: C_m, g_L, E_L, E_ex, E_in, V_th, Delta_T, tau_w, a, b, V_peak, V_reset, tau_syn_ex,
    #    tau_syn_in, I_e, gsl_error_tol, g0_ex, g0_in, h_step
    if refr:
        v = c[11]
    else:
        v = y[0] if y[0] < c[10] else c[10]
    dg_ex, g_ex, dg_in, g_in, w = y[1], y[2], y[3], y[4], y[5]
    i_syn_exc = g_ex * (v - c[3])
    i_syn_inh = g_in * (v - c[4])
    i_spike = 0.0 if c[6] == 0.0 else c[1] * c[6] * math.exp((v - c[5]) / c[6])
    if refr:
        f[0] = 0.0
    else:
        f[0] = (-c[1] * (v - c[2]) + i_spike - i_syn_exc - i_syn_inh - w + c[14] + istim) / c[0]
    f[1] = -dg_ex / c[12]
    f[2] = dg_ex - g_ex / c[12]
    f[3] = -dg_in / c[13]
    f[4] = dg_in - g_in / c[13]
    f[5] = (c[8] * (v - c[2]) - w) / c[7]


def _rhs_np(y, c, istim, refr):
    v = v_aeif_np(y[0], c, refr)
    dg_ex, g_ex, dg_in, g_in, w = y[1], y[2], y[3], y[4], y[5]
    i_syn_exc = g_ex * (v - c["E_ex"])
    i_syn_inh = g_in * (v - c["E_in"])
    f = np.empty_like(y)
    f[0] = np.where(refr, 0.0, (-c["g_L"] * (v - c["E_L"]) + i_spike_np(v, c) - i_syn_exc
                                - i_syn_inh - w + c["I_e"] + istim) / c["C_m"])
    f[1] = -dg_ex / c["tau_syn_ex"]
    f[2] = dg_ex - g_ex / c["tau_syn_ex"]
    f[3] = -dg_in / c["tau_syn_in"]
    f[4] = dg_in - g_in / c["tau_syn_in"]
    f[5] = (c["a"] * (v - c["E_L"]) - w) / c["tau_w"]
    return f


_evolve = make_evolve(_rhs)


@numba.njit(cache=True)
def kernel(b, ring, slot, istim, out_slot, out_stamp, nspk, stamp):
    sf, r, ctab, itab, ci = b.sf, b.si[0], b.ctab, b.itab, b.ci
    init_h(sf[6], ctab, ci, 18)
    y = np.empty(6)
    w = np.empty((10, 6))
    for i in range(sf.shape[1]):
        j = b.a + i
        c = ctab[ci[i]]
        v_peak = c[10] if c[6] > 0.0 else c[5]
        for q in range(6):
            y[q] = sf[q, i]
        t, h = 0.0, sf[6, i]
        spiked = False
        while t < c[18]:
            t, h = _evolve(t, c[18], h, y, c, istim[j], r[i] > 0, c[15], c[15], 0.0, 1.0, w)
            if y[0] < -1e3 or y[5] < -1e6 or y[5] > 1e6:
                raise FloatingPointError("aeif_cond_alpha: numerical instability")
            if r[i] > 0:
                y[0] = c[11]
            elif y[0] >= v_peak:
                y[0] = c[11]
                y[5] += c[9]
                refr = itab[ci[i], 0]
                r[i] = refr + 1 if refr > 0 else 0
                spiked = True
        if r[i] > 0:
            r[i] -= 1
        y[1] += ring[0, slot, j] * c[16]
        y[3] += -ring[1, slot, j] * c[17]
        ring[0, slot, j] = 0.0
        ring[1, slot, j] = 0.0
        if spiked:  # NEST may emit several spikes in one step when t_ref = 0: one is recorded
            out_slot[nspk] = j
            out_stamp[nspk] = stamp
            nspk += 1
        for q in range(6):
            sf[q, i] = y[q]
        sf[6, i] = h
    return nspk


@numba.njit(cache=True)
def _base_jump(y, ring, slot, j, c):
    y[1] += ring[0, slot, j] * c[16]
    y[3] += -ring[1, slot, j] * c[17]
    ring[0, slot, j] = 0.0
    ring[1, slot, j] = 0.0


def _base_jump_np(y, syn, c):
    y[1] += syn[0] * c["g0_ex"]
    y[3] += -syn[1] * c["g0_in"]


@CELLS.register
class AeifCondAlpha(CellModel):
    """Adaptive exponential integrate-and-fire neuron (AdEx) with alpha-shaped conductances.

    The AdEx membrane of ``aeif_cond_exp`` (Brette & Gerstner 2005) with conductances that rise
    and fall as alpha functions peaking at ``|w|`` nS after ``tau_syn``. Spike detection after every
    RKF45 sub-step (V_m >= V_peak, or V_th if Δ_T = 0): V_m = V_reset, w += b, refractory for
    t_ref. RKF45 with NEST's derivative control (tolerance ``gsl_error_tol``).
    """

    name = "aeif_cond_alpha"
    nest_model = "aeif_cond_alpha"
    params = AEIF_PARAMS
    state = (Var("V", "mV", "membrane potential"),
             Var("dg_ex", "nS/ms", "derivative state of the excitatory conductance"),
             Var("g_ex", "nS", "excitatory conductance"),
             Var("dg_in", "nS/ms", "derivative state of the inhibitory conductance"),
             Var("g_in", "nS", "inhibitory conductance"), Var("w", "pA", "adaptation current"),
             Var("h_int", "ms", "integration step carried between time steps (RKF45)"))
    ports = (SPIKE_PORT,)
    recordables = (Var("V_m", "mV", "membrane potential", state="V"),
                   Var("g_ex", "nS", "excitatory conductance", state="g_ex"),
                   Var("g_in", "nS", "inhibitory conductance", state="g_in"),
                   Var("w", "pA", "adaptation current", state="w"))
    consts = _CONSTS
    weight_unit = "nS"
    references = AEIF_REFERENCES
    example = {"params": {"I_e": 900.0, "a": 2.0, "b": 30.0}, "weight": 6.0,
               "current_pA": 300.0}
    nest_vm_tolerance_mV = 1e-6
    kernel = kernel
    receptor_host = aeif_host(_rhs, _rhs_np, _base_jump, _base_jump_np, 18, 5,
                              "aeif_cond_alpha")

    def resolve(self, given, n, select, owner=""):
        p = super().resolve(given, n, select, owner)
        check_aeif(p, owner or f"model {self.name!r}")
        return p

    def constants(self, p, dt_ms):
        c = aeif_constants(p, dt_ms)
        c["g0_ex"] = 1.0 * np.e / p["tau_syn_ex"]
        c["g0_in"] = 1.0 * np.e / p["tau_syn_in"]
        return c

    def init_state(self, p):
        n = p["E_L"].size
        z = np.zeros
        return dict(V=p["V_m"].copy(), dg_ex=z(n), g_ex=z(n), dg_in=z(n), g_in=z(n),
                    w=p["w"].copy(), h_int=z(n), r=np.zeros(n, dtype=np.int64))

    def step(self, s, c, syn, i_stim_pA):
        n = s["V"].size
        names = ("V", "dg_ex", "g_ex", "dg_in", "g_in", "w")
        h = np.where(s["h_int"] == 0.0, c["h_step"], s["h_int"])
        y = np.stack([s[k] for k in names])
        istim = np.broadcast_to(np.asarray(i_stim_pA, np.float64), (n,))
        spk = aeif_step_np(_rhs_np, y, h, s["r"], c, istim, 0, 5, self.name)
        _base_jump_np(y, syn, c)
        for k, v in zip(names, y):
            s[k][...] = v
        s["h_int"][...] = h
        return spk
