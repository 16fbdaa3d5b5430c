"""``iaf_cond_alpha``: leaky integrate-and-fire neuron with alpha-shaped conductances."""

from __future__ import annotations

import numba
import numpy as np

from ..registry import CELLS, Var
from .base import CellModel, steps_of
from .common import (
    E_L,
    SPIKE_PORT,
    C_m,
    E_ex,
    E_in,
    I_e,
    V_m,
    V_th,
    g_L,
    replace,
    t_ref,
    tau_syn_ex,
    tau_syn_in,
)
from .common import V_reset as _V_reset
from .iaf_cond_exp import iaf_cond_host, iaf_cond_step_np
from .rkf45 import init_h, make_evolve


@numba.njit(cache=True)
def _rhs(y, f, c, istim, refr):
    # y: V, dg_ex, g_ex, dg_in, g_in
    # c: g_L, C_m, E_ex, E_in, E_L, tau_syn_ex, tau_syn_in, I_e, V_th, V_reset, PSConInit_E,
    #    PSConInit_I, h_step
    if refr:
        v = c[9]
    else:
        v = c[8] if c[8] < y[0] else y[0]
    i_syn_exc = y[2] * (v - c[2])
    i_syn_inh = y[4] * (v - c[3])
    i_leak = c[0] * (v - c[4])
    f[0] = 0.0 if refr else (-i_leak - i_syn_exc - i_syn_inh + istim + c[7]) / c[1]
    f[1] = -y[1] / c[5]
    f[2] = y[1] - (y[2] / c[5])
    f[3] = -y[3] / c[6]
    f[4] = y[3] - (y[4] / c[6])


def _rhs_np(y, c, istim, refr):
    v = np.where(refr, c["V_reset"], np.where(c["V_th"] < y[0], c["V_th"], y[0]))
    i_syn_exc = y[2] * (v - c["E_ex"])
    i_syn_inh = y[4] * (v - c["E_in"])
    i_leak = c["g_L"] * (v - c["E_L"])
    f = np.empty_like(y)
    f[0] = np.where(refr, 0.0, (-i_leak - i_syn_exc - i_syn_inh + istim + c["I_e"]) / c["C_m"])
    f[1] = -y[1] / c["tau_syn_ex"]
    f[2] = y[1] - (y[2] / c["tau_syn_ex"])
    f[3] = -y[3] / c["tau_syn_in"]
    f[4] = y[3] - (y[4] / c["tau_syn_in"])
    return f


_evolve = make_evolve(_rhs)


@numba.njit(cache=True)
def kernel(b, ring, slot, istim, out_slot, out_stamp, nspk, stamp):
    sf, r, ctab, itab, ci = b.sf, b.si[0], b.ctab, b.itab, b.ci
    init_h(sf[5], ctab, ci, 12)
    y = np.empty(5)
    w = np.empty((10, 5))
    for i in range(sf.shape[1]):
        j = b.a + i
        c = ctab[ci[i]]
        for q in range(5):
            y[q] = sf[q, i]
        t, h = 0.0, sf[5, i]
        while t < c[12]:
            t, h = _evolve(t, c[12], h, y, c, istim[j], r[i] > 0, 1e-3, 0.0, 1.0, 0.0, w)
        if r[i] > 0:
            r[i] -= 1
            y[0] = c[9]
        elif y[0] >= c[8]:
            r[i] = itab[ci[i], 0]
            y[0] = c[9]
            out_slot[nspk] = j
            out_stamp[nspk] = stamp
            nspk += 1
        y[1] += ring[0, slot, j] * c[10]
        y[3] += -ring[1, slot, j] * c[11]  # inhibitory weights are negative: ``|w|`` of conductance
        ring[0, slot, j] = 0.0
        ring[1, slot, j] = 0.0
        for q in range(5):
            sf[q, i] = y[q]
        sf[5, i] = h
    return nspk


@numba.njit(cache=True)
def _base_jump(y, ring, slot, j, c):
    y[1] += ring[0, slot, j] * c[10]
    y[3] += -ring[1, slot, j] * c[11]
    ring[0, slot, j] = 0.0
    ring[1, slot, j] = 0.0


def _base_jump_np(y, syn, c):
    y[1] += syn[0] * c["PSConInit_E"]
    y[3] += -syn[1] * c["PSConInit_I"]


@CELLS.register
class IafCondAlpha(CellModel):
    """Leaky integrate-and-fire neuron with alpha-shaped synaptic conductances.

    A spike of weight w (nS; negative = inhibitory of ``|w|``) starts a conductance
    ``w·t/tau_syn·e^{1 - t/tau_syn}`` peaking at ``|w|`` after ``tau_syn``, driving V_m towards
    ``E_ex``/``E_in``. RKF45 with NEST's absolute tolerance 1e-3; V_m is bounded by V_th in the
    dynamics and clamped to ``V_reset`` for ``t_ref`` after a spike. Update order per step as
    NEST 3.10: integrate, refractoriness and threshold, then the arriving spikes.
    """

    name = "iaf_cond_alpha"
    nest_model = "iaf_cond_alpha"
    params = (V_th, replace(_V_reset, default=-60.0), t_ref, g_L, C_m, E_ex, E_in, E_L,
              replace(tau_syn_ex, default=0.2), tau_syn_in, I_e, V_m)
    state = (Var("V", "mV", "membrane potential"),
             Var("dg_ex", "nS/ms", "derivative state of the excitatory conductance"),
             Var("g_ex", "nS", "excitatory conductance"),
             Var("dg_in", "nS/ms", "derivative state of the inhibitory conductance"),
             Var("g_in", "nS", "inhibitory conductance"),
             Var("h_int", "ms", "integration step carried between time steps (RKF45)"))
    ports = (SPIKE_PORT,)
    recordables = (Var("V_m", "mV", "membrane potential", state="V"),
                   Var("g_ex", "nS", "excitatory conductance", state="g_ex"),
                   Var("g_in", "nS", "inhibitory conductance", state="g_in"))
    consts = ("g_L", "C_m", "E_ex", "E_in", "E_L", "tau_syn_ex", "tau_syn_in", "I_e", "V_th",
              "V_reset", "PSConInit_E", "PSConInit_I", "h_step")
    weight_unit = "nS"
    references = ("Meffin H, Burkitt AN, Grayden DB (2004). An analytical model for the large, "
                  "fluctuating synaptic conductance state typical of neocortical neurons in "
                  "vivo. J Comput Neurosci 16:159-175.",
                  "Kuhn A, Aertsen A, Rotter S (2004). Neuronal integration of synaptic input "
                  "in the fluctuation-driven regime. J Neurosci 24:2345-2356.")
    example = {"params": {"I_e": 400.0, "V_m": -65.0}, "weight": 6.0, "current_pA": 100.0}
    nest_vm_tolerance_mV = 1e-6
    kernel = kernel
    receptor_host = iaf_cond_host(_rhs, _rhs_np, _base_jump, _base_jump_np, 12)

    def resolve(self, given, n, select, owner=""):
        p = super().resolve(given, n, select, owner)
        if np.any(p["V_reset"] >= p["V_th"]):
            raise ValueError(f"{owner or self.name}: V_reset must be below V_th")
        return p

    def constants(self, p, dt_ms):
        c = {k: p[k] for k in self.consts if k in p}
        c["PSConInit_E"] = 1.0 * np.e / p["tau_syn_ex"]
        c["PSConInit_I"] = 1.0 * np.e / p["tau_syn_in"]
        c["h_step"] = np.full(p["E_L"].size, float(dt_ms))
        c["refr"] = steps_of(p["t_ref"], dt_ms)
        return c

    def init_state(self, p):
        n = p["E_L"].size
        z = np.zeros
        return dict(V=p["V_m"].copy(), dg_ex=z(n), g_ex=z(n), dg_in=z(n), g_in=z(n),
                    h_int=z(n), r=np.zeros(n, dtype=np.int64))

    def step(self, s, c, syn, i_stim_pA):
        n = s["V"].size
        names = ("V", "dg_ex", "g_ex", "dg_in", "g_in")
        h = np.where(s["h_int"] == 0.0, c["h_step"], s["h_int"])
        y = np.stack([s[k] for k in names])
        r = s["r"]
        istim = np.broadcast_to(np.asarray(i_stim_pA, np.float64), (n,))
        spk = iaf_cond_step_np(_rhs_np, y, h, r, c, istim)
        _base_jump_np(y, syn, c)
        for k, v in zip(names, y):
            s[k][...] = v
        s["h_int"][...] = h
        return spk
