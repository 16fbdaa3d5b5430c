"""``hh_psc_alpha``: Hodgkin-Huxley neuron with alpha-shaped post-synaptic currents."""

from __future__ import annotations

import math

import numba
import numpy as np

from ..registry import CELLS, Param, Var
from .base import CellModel, steps_of
from .common import E_L as _E_L
from .common import SPIKE_PORT, I_e, replace, t_ref, tau_syn_in
from .common import C_m as _C_m
from .common import g_L as _g_L
from .common import tau_syn_ex as _tau_syn_ex
from .libm import exp as libm_exp
from .rkf45 import init_h, integrate_np, make_evolve


def _rates(v, exp):
    """The rate functions at ``v`` (mV) with the elementwise ``exp`` given."""
    alpha_n = (0.01 * (v + 55.0)) / (1.0 - exp(-(v + 55.0) / 10.0))
    beta_n = 0.125 * exp(-(v + 65.0) / 80.0)
    alpha_m = (0.1 * (v + 40.0)) / (1.0 - exp(-(v + 40.0) / 10.0))
    beta_m = 4.0 * exp(-(v + 65.0) / 18.0)
    alpha_h = 0.07 * exp(-(v + 65.0) / 20.0)
    beta_h = 1.0 / (1.0 + exp(-(v + 35.0) / 10.0))
    return alpha_n, beta_n, alpha_m, beta_m, alpha_h, beta_h


def _equilibrium(v: float) -> tuple[float, float, float]:
    """Steady-state m, h, n at ``v`` mV (NEST's defaults of Act_m, Inact_h, Act_n at -65 mV)."""
    an, bn, am, bm, ah, bh = _rates(v, math.exp)
    return am / (am + bm), ah / (ah + bh), an / (an + bn)


_M0, _H0, _N0 = _equilibrium(-65.0)


@numba.njit(cache=True)
def _rhs(y, f, c, istim, refr):
    # c: C_m, g_Na, g_K, g_L, E_Na, E_K, E_L, tau_syn_ex, tau_syn_in, I_e, EPSC0ex, EPSC0in,
    #    h_step
    v, m, hh, n = y[0], y[1], y[2], y[3]
    di_ex, i_ex, di_in, i_in = y[4], y[5], y[6], y[7]
    alpha_n = (0.01 * (v + 55.0)) / (1.0 - math.exp(-(v + 55.0) / 10.0))
    beta_n = 0.125 * math.exp(-(v + 65.0) / 80.0)
    alpha_m = (0.1 * (v + 40.0)) / (1.0 - math.exp(-(v + 40.0) / 10.0))
    beta_m = 4.0 * math.exp(-(v + 65.0) / 18.0)
    alpha_h = 0.07 * math.exp(-(v + 65.0) / 20.0)
    beta_h = 1.0 / (1.0 + math.exp(-(v + 35.0) / 10.0))
    i_na = c[1] * m * m * m * hh * (v - c[4])
    i_k = c[2] * n * n * n * n * (v - c[5])
    i_l = c[3] * (v - c[6])
    f[0] = (-(i_na + i_k + i_l) + istim + c[9] + i_ex + i_in) / c[0]
    f[1] = alpha_m * (1 - m) - beta_m * m
    f[2] = alpha_h * (1 - hh) - beta_h * hh
    f[3] = alpha_n * (1 - n) - beta_n * n
    f[4] = -di_ex / c[7]
    f[5] = di_ex - (i_ex / c[7])
    f[6] = -di_in / c[8]
    f[7] = di_in - (i_in / c[8])


def _rhs_np(y, c, istim, refr):
    v, m, hh, n = y[0], y[1], y[2], y[3]
    di_ex, i_ex, di_in, i_in = y[4], y[5], y[6], y[7]
    e = libm_exp(np.stack([-(v + 55.0) / 10.0, -(v + 65.0) / 80.0, -(v + 40.0) / 10.0,
                           -(v + 65.0) / 18.0, -(v + 65.0) / 20.0, -(v + 35.0) / 10.0]))
    alpha_n = (0.01 * (v + 55.0)) / (1.0 - e[0])
    beta_n = 0.125 * e[1]
    alpha_m = (0.1 * (v + 40.0)) / (1.0 - e[2])
    beta_m = 4.0 * e[3]
    alpha_h = 0.07 * e[4]
    beta_h = 1.0 / (1.0 + e[5])
    i_na = c["g_Na"] * m * m * m * hh * (v - c["E_Na"])
    i_k = c["g_K"] * n * n * n * n * (v - c["E_K"])
    i_l = c["g_L"] * (v - c["E_L"])
    f = np.empty_like(y)
    f[0] = (-(i_na + i_k + i_l) + istim + c["I_e"] + i_ex + i_in) / c["C_m"]
    f[1] = alpha_m * (1 - m) - beta_m * m
    f[2] = alpha_h * (1 - hh) - beta_h * hh
    f[3] = alpha_n * (1 - n) - beta_n * n
    f[4] = -di_ex / c["tau_syn_ex"]
    f[5] = di_ex - (i_ex / c["tau_syn_ex"])
    f[6] = -di_in / c["tau_syn_in"]
    f[7] = di_in - (i_in / c["tau_syn_in"])
    return f


_evolve = make_evolve(_rhs)


@numba.njit(cache=True)
def kernel(b, ring, slot, istim, out_slot, out_stamp, nspk, stamp):
    sf, r, ctab, itab, ci = b.sf, b.si[0], b.ctab, b.itab, b.ci
    init_h(sf[8], ctab, ci, 12)
    y = np.empty(8)
    w = np.empty((10, 8))
    for i in range(sf.shape[1]):
        j = b.a + i
        c = ctab[ci[i]]
        for q in range(8):
            y[q] = sf[q, i]
        u_old = y[0]
        t, h = 0.0, sf[8, i]
        while t < c[12]:
            t, h = _evolve(t, c[12], h, y, c, istim[j], False, 1e-3, 0.0, 1.0, 0.0, w)
        y[4] += ring[0, slot, j] * c[10]
        y[6] += ring[1, slot, j] * c[11]
        ring[0, slot, j] = 0.0
        ring[1, slot, j] = 0.0
        if r[i] > 0:
            r[i] -= 1
        elif y[0] >= 0.0 and u_old > y[0]:  # threshold and local maximum
            r[i] = itab[ci[i], 0]
            out_slot[nspk] = j
            out_stamp[nspk] = stamp
            nspk += 1
        for q in range(8):
            sf[q, i] = y[q]
        sf[8, i] = h
    return nspk


@CELLS.register
class HhPscAlpha(CellModel):
    """Hodgkin-Huxley neuron with alpha-shaped post-synaptic currents.

    Na, K and leak currents with the classic rate functions (Hodgkin & Huxley 1952, as in NEST);
    spike weights (pA) start alpha currents. RKF45 with NEST's absolute tolerance 1e-3. A spike
    is V_m >= 0 mV at a local maximum (V_m fell during the step), followed by ``t_ref`` without
    spike detection. Gating variables start at their equilibrium at −65 mV unless given.
    """

    name = "hh_psc_alpha"
    nest_model = "hh_psc_alpha"
    params = (replace(_E_L, default=-54.402), replace(_C_m, default=100.0),
              Param("g_Na", 12000.0, "nS", "sodium peak conductance", ge=0.0),
              Param("g_K", 3600.0, "nS", "potassium peak conductance", ge=0.0),
              replace(_g_L, default=30.0),
              Param("E_Na", 50.0, "mV", "sodium reversal potential"),
              Param("E_K", -77.0, "mV", "potassium reversal potential"),
              replace(_tau_syn_ex, default=0.2), tau_syn_in, t_ref, I_e,
              Param("V_m", -65.0, "mV", "initial membrane potential", initial=True),
              Param("Act_m", _M0, "", "initial sodium activation m", initial=True),
              Param("Inact_h", _H0, "", "initial sodium inactivation h", initial=True),
              Param("Act_n", _N0, "", "initial potassium activation n", initial=True))
    state = (Var("V", "mV", "membrane potential"), Var("m", "", "sodium activation"),
             Var("h", "", "sodium inactivation"), Var("n", "", "potassium activation"),
             Var("dI_ex", "pA/ms", "derivative state of the excitatory current"),
             Var("I_ex", "pA", "excitatory synaptic current"),
             Var("dI_in", "pA/ms", "derivative state of the inhibitory current"),
             Var("I_in", "pA", "inhibitory synaptic current"),
             Var("h_int", "ms", "integration step carried between time steps (RKF45)"))
    ports = (SPIKE_PORT,)
    recordables = (Var("V_m", "mV", "membrane potential", state="V"),
                   Var("Act_m", "", "sodium activation", state="m"),
                   Var("Inact_h", "", "sodium inactivation", state="h"),
                   Var("Act_n", "", "potassium activation", state="n"),
                   Var("I_syn_ex", "pA", "excitatory synaptic current", state="I_ex"),
                   Var("I_syn_in", "pA", "inhibitory synaptic current", state="I_in"))
    consts = ("C_m", "g_Na", "g_K", "g_L", "E_Na", "E_K", "E_L", "tau_syn_ex", "tau_syn_in",
              "I_e", "EPSC0ex", "EPSC0in", "h_step")
    weight_unit = "pA"
    references = ("Hodgkin AL, Huxley AF (1952). A quantitative description of membrane current "
                  "and its application to conduction and excitation in nerve. J Physiol "
                  "117:500-544.",)
    example = {"params": {"I_e": 650.0}, "weight": 300.0, "current_pA": 150.0}
    nest_vm_tolerance_mV = 1e-6
    kernel = kernel

    def constants(self, p, dt_ms):
        c = {k: p[k] for k in self.consts if k in p}
        c["EPSC0ex"] = np.e / p["tau_syn_ex"]
        c["EPSC0in"] = np.e / p["tau_syn_in"]
        c["h_step"] = np.full(p["E_L"].size, float(dt_ms))
        c["refr"] = steps_of(p["t_ref"], dt_ms)
        return c

    def init_state(self, p):
        n = p["E_L"].size
        z = np.zeros
        return dict(V=p["V_m"].copy(), m=p["Act_m"].copy(), h=p["Inact_h"].copy(),
                    n=p["Act_n"].copy(), dI_ex=z(n), I_ex=z(n), dI_in=z(n), I_in=z(n),
                    h_int=z(n), r=np.zeros(n, dtype=np.int64))

    def step(self, s, c, syn, i_stim_pA):
        n = s["V"].size
        names = ("V", "m", "h", "n", "dI_ex", "I_ex", "dI_in", "I_in")
        h = np.where(s["h_int"] == 0.0, c["h_step"], s["h_int"])
        y = np.stack([s[k] for k in names])
        u_old = y[0].copy()
        istim = np.broadcast_to(np.asarray(i_stim_pA, np.float64), (n,))
        integrate_np(_rhs_np, y, h, c, istim, np.zeros(n, bool), c["h_step"][0] if n else 0.0,
                     1e-3, 0.0, 1.0, 0.0)
        y[4] += syn[0] * c["EPSC0ex"]
        y[6] += syn[1] * c["EPSC0in"]
        r = s["r"]
        refr = r > 0
        spk = ~refr & (y[0] >= 0.0) & (u_old > y[0])
        r[refr] -= 1
        r[spk] = c["refr"][spk]
        for k, v in zip(names, y):
            s[k][...] = v
        s["h_int"][...] = h
        return spk
