"""``iaf_cond_exp``: leaky integrate-and-fire neuron with exponential conductances."""

from __future__ import annotations

import numba
import numpy as np

from ..receptors.base import ReceptorHost
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
from .rkf45 import init_h, integrate_np, make_evolve

V_reset = replace(_V_reset, default=-60.0)


@numba.njit(cache=True)
def _rhs(y, f, c, istim, refr):
    # c: g_L, C_m, E_ex, E_in, E_L, tau_syn_ex, tau_syn_in, I_e, V_th, V_reset, h_step
    if refr:
        v = c[9]
    else:
        v = c[8] if c[8] < y[0] else y[0]
    i_syn_exc = y[1] * (v - c[2])
    i_syn_inh = y[2] * (v - c[3])
    i_leak = c[0] * (v - c[4])
    f[0] = 0.0 if refr else (-i_leak + istim + c[7] - i_syn_exc - i_syn_inh) / c[1]
    f[1] = -y[1] / c[5]
    f[2] = -y[2] / c[6]


def _rhs_np(y, c, istim, refr):
    v = np.where(refr, c["V_reset"], np.where(c["V_th"] < y[0], c["V_th"], y[0]))
    i_syn_exc = y[1] * (v - c["E_ex"])
    i_syn_inh = y[2] * (v - c["E_in"])
    i_leak = c["g_L"] * (v - c["E_L"])
    f = np.empty_like(y)
    f[0] = np.where(refr, 0.0, (-i_leak + istim + c["I_e"] - i_syn_exc - i_syn_inh) / c["C_m"])
    f[1] = -y[1] / c["tau_syn_ex"]
    f[2] = -y[2] / c["tau_syn_in"]
    return f


_evolve = make_evolve(_rhs)


@numba.njit(cache=True)
def kernel(b, ring, slot, istim, out_slot, out_stamp, nspk, stamp):
    sf, r, ctab, itab, ci = b.sf, b.si[0], b.ctab, b.itab, b.ci
    init_h(sf[3], ctab, ci, 10)
    y = np.empty(3)
    w = np.empty((10, 3))
    for i in range(sf.shape[1]):
        j = b.a + i
        c = ctab[ci[i]]
        for q in range(3):
            y[q] = sf[q, i]
        t, h = 0.0, sf[3, i]
        while t < c[10]:
            t, h = _evolve(t, c[10], h, y, c, istim[j], r[i] > 0, 1e-3, 0.0, 1.0, 0.0, w)
        y[1] += ring[0, slot, j]
        y[2] -= ring[1, slot, j]  # inhibitory weights are negative; the conductance grows by |w|
        ring[0, slot, j] = 0.0
        ring[1, slot, j] = 0.0
        if r[i] > 0:
            r[i] -= 1
            y[0] = c[9]
        elif y[0] >= c[8]:
            r[i] = itab[ci[i], 0]
            y[0] = c[9]
            out_slot[nspk] = j
            out_stamp[nspk] = stamp
            nspk += 1
        for q in range(3):
            sf[q, i] = y[q]
        sf[3, i] = h
    return nspk


# ---- receptor plug-ins (wbe.engine.receptors): the hooks of both iaf_cond models, whose
# constants share the columns 8 (V_th) and 9 (V_reset)
@numba.njit(cache=True)
def iaf_cond_v_eff(y, c, refr):
    """V_m the synaptic currents see: V_reset while refractory, else min(V_m, V_th)."""
    if refr:
        return c[9]
    return c[8] if c[8] < y[0] else y[0]


def iaf_cond_v_eff_np(y0, c, refr):
    return np.where(refr, c["V_reset"], np.where(c["V_th"] < y0, c["V_th"], y0))


@numba.njit(cache=True)
def iaf_cond_tolerances(c):
    return 1e-3, 0.0, 1.0, 0.0  # gsl_odeiv_control_y_new(1e-3, 0)


@numba.njit(cache=True)
def iaf_cond_substep(y, c, ri, refr, spiked, arg):
    return ri, spiked


@numba.njit(cache=True)
def iaf_cond_endstep(y, c, ri, refr, spiked, u_old, arg):
    """After the step's integration: refractory (clamped to V_reset) or threshold (NEST 3.10)."""
    if ri > 0:
        ri -= 1
        y[0] = c[9]
    elif y[0] >= c[8]:
        ri = refr
        y[0] = c[9]
        spiked = True
    return ri, spiked


def iaf_cond_step_np(rhs_np, y, h, r, c, istim):
    """NumPy reference of one iaf_cond step (integration, refractoriness and threshold; the
    arriving spikes are the caller's): ``y`` (dim, n), ``h``, ``r`` updated in place; returns
    the neurons that spiked."""
    n = y.shape[1]
    integrate_np(rhs_np, y, h, c, istim, r > 0, c["h_step"][0] if n else 0.0, 1e-3, 0.0, 1.0,
                 0.0)
    refr = r > 0
    spk = ~refr & (y[0] >= c["V_th"])
    r[refr] -= 1
    y[0] = np.where(refr | spk, c["V_reset"], y[0])
    r[spk] = c["refr"][spk]
    return spk


@numba.njit(cache=True)
def exp_pair_jump(y, ring, slot, j, c):
    """NEST's sign-split spike port of the exponential-conductance models (g_ex in row 1,
    g_in in row 2; inhibitory weights are negative): the step's spikes arrive."""
    y[1] += ring[0, slot, j]
    y[2] -= ring[1, slot, j]
    ring[0, slot, j] = 0.0
    ring[1, slot, j] = 0.0


def exp_pair_jump_np(y, syn, c):
    y[1] += syn[0]
    y[2] -= syn[1]


def iaf_cond_host(rhs, rhs_np, base_jump, base_jump_np, h_col: int) -> ReceptorHost:
    """The :class:`~wbe.engine.receptors.base.ReceptorHost` of an iaf_cond model."""
    return ReceptorHost(rhs, iaf_cond_v_eff, iaf_cond_tolerances, iaf_cond_substep,
                        iaf_cond_endstep, base_jump, rhs_np, iaf_cond_v_eff_np, iaf_cond_step_np,
                        base_jump_np, h_col)


@CELLS.register
class IafCondExp(CellModel):
    """Leaky integrate-and-fire neuron with exponentially decaying synaptic conductances.

    A spike of weight w (nS; negative = an inhibitory conductance of ``|w|``) raises g_ex or g_in,
    which decay with ``tau_syn_ex``/``tau_syn_in`` and drive V_m towards ``E_ex``/``E_in``.
    Integrated by GSL's RKF45 with NEST's absolute tolerance 1e-3; V_m is bounded by V_th in the
    dynamics and clamped to ``V_reset`` for ``t_ref`` after a spike (NEST 3.10).
    """

    name = "iaf_cond_exp"
    nest_model = "iaf_cond_exp"
    params = (V_th, V_reset, t_ref, g_L, C_m, E_ex, E_in, E_L,
              replace(tau_syn_ex, default=0.2), tau_syn_in, I_e, V_m)
    state = (Var("V", "mV", "membrane potential"), Var("g_ex", "nS", "excitatory conductance"),
             Var("g_in", "nS", "inhibitory conductance"),
             Var("h_int", "ms", "integration step carried between time steps (RKF45)"))
    ports = (SPIKE_PORT,)
    recordables = (Var("V_m", "mV", "membrane potential", state="V"),
                   Var("g_ex", "nS", "excitatory conductance", state="g_ex"),
                   Var("g_in", "nS", "inhibitory conductance", state="g_in"))
    consts = ("g_L", "C_m", "E_ex", "E_in", "E_L", "tau_syn_ex", "tau_syn_in", "I_e", "V_th",
              "V_reset", "h_step")
    weight_unit = "nS"
    references = ("Meffin H, Burkitt AN, Grayden DB (2004). An analytical model for the large, "
                  "fluctuating synaptic conductance state typical of neocortical neurons in "
                  "vivo. J Comput Neurosci 16:159-175.",)
    example = {"params": {"I_e": 400.0, "V_m": -65.0}, "weight": 8.0, "current_pA": 100.0}
    nest_vm_tolerance_mV = 1e-6
    kernel = kernel
    receptor_host = iaf_cond_host(_rhs, _rhs_np, exp_pair_jump, exp_pair_jump_np, 10)

    def constants(self, p, dt_ms):
        c = {k: p[k] for k in self.consts if k in p}
        c["h_step"] = np.full(p["E_L"].size, float(dt_ms))
        c["refr"] = steps_of(p["t_ref"], dt_ms)
        return c

    def init_state(self, p):
        n = p["E_L"].size
        return dict(V=p["V_m"].copy(), g_ex=np.zeros(n), g_in=np.zeros(n), h_int=np.zeros(n),
                    r=np.zeros(n, dtype=np.int64))

    def step(self, s, c, syn, i_stim_pA):
        n = s["V"].size
        h = np.where(s["h_int"] == 0.0, c["h_step"], s["h_int"])
        y = np.stack([s["V"], s["g_ex"], s["g_in"]])
        r = s["r"]
        istim = np.broadcast_to(np.asarray(i_stim_pA, np.float64), (n,))
        spk = iaf_cond_step_np(_rhs_np, y, h, r, c, istim)
        exp_pair_jump_np(y, syn, c)
        s["V"][...], s["g_ex"][...], s["g_in"][...] = y
        s["h_int"][...] = h
        return spk
