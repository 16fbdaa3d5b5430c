"""``aeif_cond_exp``: adaptive exponential integrate-and-fire neuron, exponential conductances."""

from __future__ import annotations

import math

import numba
import numpy as np

from ..receptors.base import ReceptorHost
from ..registry import CELLS, Param, Var
from .base import CellModel, steps_of
from .common import E_L as _E_L
from .common import SPIKE_PORT, E_ex, E_in, I_e, V_m, replace, tau_syn_in
from .common import C_m as _C_m
from .common import V_reset as _V_reset
from .common import V_th as _V_th
from .common import g_L as _g_L
from .common import t_ref as _t_ref
from .common import tau_syn_ex as _tau_syn_ex
from .iaf_cond_exp import exp_pair_jump, exp_pair_jump_np
from .libm import exp as libm_exp
from .rkf45 import evolve_np, init_h, make_evolve

#: AdEx parameters with NEST 3.10's defaults (shared by aeif_cond_exp and aeif_cond_alpha)
AEIF_PARAMS = (
    replace(_C_m, default=281.0), replace(_t_ref, default=0.0), replace(_V_reset, default=-60.0),
    replace(_E_L, default=-70.6), replace(_g_L, default=30.0), I_e,
    Param("a", 4.0, "nS", "subthreshold adaptation"),
    Param("b", 80.5, "pA", "spike-triggered adaptation"),
    Param("Delta_T", 2.0, "mV", "slope factor of the exponential", ge=0.0),
    Param("tau_w", 144.0, "ms", "adaptation time constant", gt=0.0),
    replace(_V_th, default=-50.4, doc="spike initiation threshold of the exponential"),
    Param("V_peak", 0.0, "mV", "spike detection threshold (V_th when Delta_T = 0)"),
    E_ex, E_in, replace(_tau_syn_ex, default=0.2), tau_syn_in,
    Param("gsl_error_tol", 1e-6, "", "absolute and relative tolerance of the RKF45 step control",
          gt=0.0),
    V_m, Param("w", 0.0, "pA", "initial adaptation current", initial=True))

AEIF_CONSTS = ("C_m", "g_L", "E_L", "E_ex", "E_in", "V_th", "Delta_T", "tau_w", "a", "b",
               "V_peak", "V_reset", "tau_syn_ex", "tau_syn_in", "I_e", "gsl_error_tol", "h_step")
AEIF_REFERENCES = ("Brette R, Gerstner W (2005). Adaptive exponential integrate-and-fire model "
                   "as an effective description of neuronal activity. J Neurophysiol "
                   "94:3637-3642.",)


def check_aeif(p: dict, owner: str) -> None:
    """NEST's consistency checks of the AdEx parameters."""
    if np.any(p["V_reset"] >= p["V_peak"]):
        raise ValueError(f"{owner}: V_reset must be below V_peak")
    if np.any((p["Delta_T"] > 0) & (p["V_peak"] < p["V_th"])):
        raise ValueError(f"{owner}: V_peak must be >= V_th when Delta_T > 0")


def aeif_constants(p, dt_ms):
    c = {k: p[k] for k in AEIF_CONSTS if k in p}
    c["h_step"] = np.full(p["E_L"].size, float(dt_ms))
    c["refr"] = steps_of(p["t_ref"], dt_ms)
    return c


@numba.njit(cache=True)
def _rhs(y, f, c, istim, refr):
    # c: C_m, g_L, E_L, E_ex, E_in, V_th, Delta_T, tau_w, a, b, V_peak, V_reset, tau_syn_ex,
    #    tau_syn_in, I_e, gsl_error_tol, h_step
    if refr:
        v = c[11]
    else:
        v = y[0] if y[0] < c[10] else c[10]
    g_ex, g_in, w = y[1], y[2], y[3]
    i_syn_exc = g_ex * (v - c[3])
    i_syn_inh = g_in * (v - c[4])
    i_spike = 0.0 if c[6] == 0.0 else c[1] * c[6] * math.exp((v - c[5]) / c[6])
    if refr:
        f[0] = 0.0
    else:
        f[0] = (-c[1] * (v - c[2]) + i_spike - i_syn_exc - i_syn_inh - w + c[14] + istim) / c[0]
    f[1] = -g_ex / c[12]
    f[2] = -g_in / c[13]
    f[3] = (c[8] * (v - c[2]) - w) / c[7]


def v_aeif_np(y0, c, refr):
    """The membrane potential the AdEx dynamics see: V_reset while refractory, else
    min(V_m, V_peak) (NEST 3.10's bound)."""
    return np.where(refr, c["V_reset"], np.where(y0 < c["V_peak"], y0, c["V_peak"]))


def i_spike_np(v, c):
    dT = c["Delta_T"]
    safe = np.where(dT == 0.0, 1.0, dT)
    return np.where(dT == 0.0, 0.0, c["g_L"] * dT * libm_exp((v - c["V_th"]) / safe))


def _rhs_np(y, c, istim, refr):
    v = v_aeif_np(y[0], c, refr)
    g_ex, g_in, w = y[1], y[2], y[3]
    i_syn_exc = g_ex * (v - c["E_ex"])
    i_syn_inh = g_in * (v - c["E_in"])
    f = np.empty_like(y)
    f[0] = np.where(refr, 0.0, (-c["g_L"] * (v - c["E_L"]) + i_spike_np(v, c) - i_syn_exc
                                - i_syn_inh - w + c["I_e"] + istim) / c["C_m"])
    f[1] = -g_ex / c["tau_syn_ex"]
    f[2] = -g_in / c["tau_syn_in"]
    f[3] = (c["a"] * (v - c["E_L"]) - w) / c["tau_w"]
    return f


_evolve = make_evolve(_rhs)


@numba.njit(cache=True)
def kernel(b, ring, slot, istim, out_slot, out_stamp, nspk, stamp):
    sf, r, ctab, itab, ci = b.sf, b.si[0], b.ctab, b.itab, b.ci
    init_h(sf[4], ctab, ci, 16)
    y = np.empty(4)
    w = np.empty((10, 4))
    for i in range(sf.shape[1]):
        j = b.a + i
        c = ctab[ci[i]]
        v_peak = c[10] if c[6] > 0.0 else c[5]
        for q in range(4):
            y[q] = sf[q, i]
        t, h = 0.0, sf[4, i]
        spiked = False
        while t < c[16]:
            t, h = _evolve(t, c[16], h, y, c, istim[j], r[i] > 0, c[15], c[15], 0.0, 1.0, w)
            if y[0] < -1e3 or y[3] < -1e6 or y[3] > 1e6:
                raise FloatingPointError("aeif_cond_exp: numerical instability")
            if r[i] > 0:
                y[0] = c[11]
            elif y[0] >= v_peak:
                y[0] = c[11]
                y[3] += c[9]
                refr = itab[ci[i], 0]
                r[i] = refr + 1 if refr > 0 else 0
                spiked = True
        if r[i] > 0:
            r[i] -= 1
        y[1] += ring[0, slot, j]
        y[2] -= ring[1, slot, j]
        ring[0, slot, j] = 0.0
        ring[1, slot, j] = 0.0
        if spiked:  # NEST may emit several spikes in one step when t_ref = 0: one is recorded
            out_slot[nspk] = j
            out_stamp[nspk] = stamp
            nspk += 1
        for q in range(4):
            sf[q, i] = y[q]
        sf[4, i] = h
    return nspk


def aeif_step_np(rhs_np, y, h, r, c, istim, i_v, i_w, name):
    """NumPy reference of one AdEx time step (NEST 3.10): RKF45 sub-steps, after each the
    instability check, the refractory clamp or spike detection (V_m = V_reset, w += b).
    ``y`` (dim, n) and ``h``, ``r`` are updated in place; returns the neurons that spiked."""
    n = y.shape[1]
    t = np.zeros(n)
    t1 = c["h_step"]
    spiked = np.zeros(n, dtype=bool)
    v_peak = np.where(c["Delta_T"] > 0.0, c["V_peak"], c["V_th"])
    tol = c["gsl_error_tol"]
    while True:
        idx = np.flatnonzero(t < t1)
        if not idx.size:
            break
        ys = y[:, idx]
        ts, hs = evolve_np(rhs_np, t[idx], t1[idx], h[idx], ys,
                           {k: v[idx] for k, v in c.items()}, istim[idx], r[idx] > 0, tol[idx],
                           tol[idx], 0.0, 1.0)
        bad = (ys[i_v] < -1e3) | (ys[i_w] < -1e6) | (ys[i_w] > 1e6)
        if bad.any():
            raise FloatingPointError(f"{name}: numerical instability")
        ri = r[idx]
        refr = ri > 0
        spk = ~refr & (ys[i_v] >= v_peak[idx])
        ys[i_v] = np.where(refr | spk, c["V_reset"][idx], ys[i_v])
        ys[i_w] = np.where(spk, ys[i_w] + c["b"][idx], ys[i_w])
        cr = c["refr"][idx]
        ri[spk] = np.where(cr[spk] > 0, cr[spk] + 1, 0)
        r[idx] = ri
        spiked[idx[spk]] = True
        y[:, idx] = ys
        t[idx] = ts
        h[idx] = hs
    r[r > 0] -= 1
    return spiked


# ---- receptor plug-ins (wbe.engine.receptors): the hooks of the AdEx models (their constants
# share AEIF_CONSTS' first columns; ``arg`` is the row of the adaptation current w)
@numba.njit(cache=True)
def aeif_v_eff(y, c, refr):
    """V_m the AdEx dynamics see: V_reset while refractory, else min(V_m, V_peak)."""
    if refr:
        return c[11]
    return y[0] if y[0] < c[10] else c[10]


@numba.njit(cache=True)
def aeif_tolerances(c):
    return c[15], c[15], 0.0, 1.0  # gsl_odeiv_control_yp_new(tol, tol)


@numba.njit(cache=True)
def aeif_substep(y, c, ri, refr, spiked, iw):
    """After every RKF45 sub-step: the instability check, then the refractory clamp or spike
    detection (V_m >= V_peak, or V_th if Δ_T = 0: V_m = V_reset, w += b)."""
    if y[0] < -1e3 or y[iw] < -1e6 or y[iw] > 1e6:
        raise FloatingPointError("AdEx model: numerical instability")
    if ri > 0:
        y[0] = c[11]
    elif y[0] >= (c[10] if c[6] > 0.0 else c[5]):
        y[0] = c[11]
        y[iw] += c[9]
        ri = refr + 1 if refr > 0 else 0
        spiked = True
    return ri, spiked


@numba.njit(cache=True)
def aeif_endstep(y, c, ri, refr, spiked, u_old, iw):
    if ri > 0:
        ri -= 1
    return ri, spiked


def aeif_host(rhs, rhs_np, base_jump, base_jump_np, h_col: int, i_w: int,
              name: str) -> ReceptorHost:
    """The :class:`~wbe.engine.receptors.base.ReceptorHost` of an AdEx model whose state holds
    w in row ``i_w``."""
    def step_np(rhs_np, y, h, r, c, istim):
        return aeif_step_np(rhs_np, y, h, r, c, istim, 0, i_w, name)

    return ReceptorHost(rhs, aeif_v_eff, aeif_tolerances, aeif_substep, aeif_endstep, base_jump,
                        rhs_np, v_aeif_np, step_np, base_jump_np, h_col, i_w)


@CELLS.register
class AeifCondExp(CellModel):
    """Adaptive exponential integrate-and-fire neuron (AdEx) with exponential conductances.

    C dV/dt = −g_L (V − E_L) + g_L Δ_T exp((V − V_th)/Δ_T) − g_ex (V − E_ex) − g_in (V − E_in)
    − w + I_e; τ_w dw/dt = a (V − E_L) − w (Brette & Gerstner 2005). A spike is V_m >= V_peak
    (V_th if Δ_T = 0), checked after every RKF45 sub-step: V_m = V_reset, w += b, refractory for
    t_ref with V clamped. Weights in nS (negative = inhibitory of ``|w|``). RKF45 with NEST's
    derivative control: absolute and relative tolerance ``gsl_error_tol`` on h·dy/dt.
    """

    name = "aeif_cond_exp"
    nest_model = "aeif_cond_exp"
    params = AEIF_PARAMS
    state = (Var("V", "mV", "membrane potential"), Var("g_ex", "nS", "excitatory conductance"),
             Var("g_in", "nS", "inhibitory conductance"), Var("w", "pA", "adaptation current"),
             Var("h_int", "ms", "integration step carried between time steps (RKF45)"))
    ports = (SPIKE_PORT,)
    recordables = (Var("V_m", "mV", "membrane potential", state="V"),
                   Var("g_ex", "nS", "excitatory conductance", state="g_ex"),
                   Var("g_in", "nS", "inhibitory conductance", state="g_in"),
                   Var("w", "pA", "adaptation current", state="w"))
    consts = AEIF_CONSTS
    weight_unit = "nS"
    references = AEIF_REFERENCES
    example = {"params": {"I_e": 900.0, "a": 2.0, "b": 30.0}, "weight": 10.0,
               "current_pA": 300.0}
    nest_vm_tolerance_mV = 1e-6
    kernel = kernel
    receptor_host = aeif_host(_rhs, _rhs_np, exp_pair_jump, exp_pair_jump_np, 16, 3,
                              "aeif_cond_exp")

    def resolve(self, given, n, select, owner=""):
        p = super().resolve(given, n, select, owner)
        check_aeif(p, owner or f"model {self.name!r}")
        return p

    def constants(self, p, dt_ms):
        return aeif_constants(p, dt_ms)

    def init_state(self, p):
        n = p["E_L"].size
        return dict(V=p["V_m"].copy(), g_ex=np.zeros(n), g_in=np.zeros(n), w=p["w"].copy(),
                    h_int=np.zeros(n), r=np.zeros(n, dtype=np.int64))

    def step(self, s, c, syn, i_stim_pA):
        n = s["V"].size
        h = np.where(s["h_int"] == 0.0, c["h_step"], s["h_int"])
        y = np.stack([s["V"], s["g_ex"], s["g_in"], s["w"]])
        istim = np.broadcast_to(np.asarray(i_stim_pA, np.float64), (n,))
        spk = aeif_step_np(_rhs_np, y, h, s["r"], c, istim, 0, 3, self.name)
        exp_pair_jump_np(y, syn, c)
        s["V"][...], s["g_ex"][...], s["g_in"][...], s["w"][...] = y
        s["h_int"][...] = h
        return spk
