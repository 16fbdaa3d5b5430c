"""``ht_neuron``: the Hill & Tononi (2005) thalamocortical neuron with AMPA, NMDA, GABA_A and
GABA_B receptors, NMDA's voltage-dependent magnesium block and intrinsic currents.

As NEST 3.10's ``ht_neuron`` (models/ht_neuron.cpp), read for its exact semantics:

* 16 ODEs (membrane V, dynamic threshold θ, four beta conductances as (dg, g) pairs, NMDA's
  fast and slow unblock variables, I_h's m, I_KNa's D, I_T's m and h) integrated by GSL's rkf45
  with ``gsl_odeiv_control_y_new(1e-3, 0)`` (:mod:`.rkf45`), the step carried between time steps.
* τ_m dV/dt = I_NaL + I_KL + I_syn + I_NaP + I_KNa + I_T + I_h + I_stim, plus −(V − E_K)/τ_spike
  while refractory; all conductances are dimensionless (relative to the leak).
* NMDA's unblock m_NMDA = A1(V)·m_fast + A2(V)·m_slow (Mg²⁺ unblock with fast and slow kinetics,
  A1 = 0.51 − 0.0028 V) or m_eq(V) = 1/(1 + exp(−S_act (V − V_act))) with
  ``instant_unblock_NMDA``; m_fast and m_slow never exceed m_eq (blocking is instantaneous),
  enforced in the right-hand side and after every solver step.
* After every solver sub-step: V clamped (``voltage_clamp``), then a spike if not refractory and
  V >= θ: V = θ = E_Na, refractory (the repolarising K current on) for t_ref.
* A spike of weight w on receptor port k adds w · g_peak_k · (beta normalisation) to dg_k at the
  end of the step, so that the conductance peaks at w · g_peak_k.
* ``I_NaP``, ``I_KNa``, ``I_T``, ``I_h`` record what NEST records: the currents at the state the
  last accepted solver step reached (before the spike reset).
* Initial state as NEST builds it: V_m and θ as given (defaults: the leak equilibrium and
  θ_eq), gating variables at their equilibrium at NEST's default V_m with NEST's default
  parameters, or at the given V_m with ``equilibrate`` (NEST evaluates the equilibria with the
  parameters the neuron had before ``SetStatus``: its defaults at creation).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..registry import CELLS, Param, Port, Var
from . import libm
from .base import CellModel, steps_of
from .common import beta_normalization
from .rkf45 import evolve_np, init_h, make_evolve

RECEPTORS = ("AMPA", "NMDA", "GABA_A", "GABA_B")



_PARAMS = (
    Param("E_Na", 30.0, "mV", "sodium reversal potential"),
    Param("E_K", -90.0, "mV", "potassium reversal potential"),
    Param("g_NaL", 0.2, "", "sodium leak conductance", ge=0.0),
    Param("g_KL", 1.0, "", "potassium leak conductance", ge=0.0),
    Param("tau_m", 16.0, "ms", "membrane time constant", gt=0.0),
    Param("theta_eq", -51.0, "mV", "equilibrium value of the threshold"),
    Param("tau_theta", 2.0, "ms", "threshold time constant", gt=0.0),
    Param("tau_spike", 1.75, "ms", "time constant of the spike-activated potassium current",
       gt=0.0),
    Param("t_ref", 2.0, "ms", "duration of the spike-activated potassium current", ge=0.0),
    Param("g_peak_AMPA", 0.1, "", "peak AMPA conductance (of a weight-1 spike)", ge=0.0),
    Param("tau_rise_AMPA", 0.5, "ms", "AMPA rise time constant", gt=0.0),
    Param("tau_decay_AMPA", 2.4, "ms", "AMPA decay time constant", gt=0.0),
    Param("E_rev_AMPA", 0.0, "mV", "AMPA reversal potential"),
    Param("g_peak_NMDA", 0.075, "", "peak NMDA conductance (of a weight-1 spike)", ge=0.0),
    Param("tau_rise_NMDA", 4.0, "ms", "NMDA rise time constant", gt=0.0),
    Param("tau_decay_NMDA", 40.0, "ms", "NMDA decay time constant", gt=0.0),
    Param("E_rev_NMDA", 0.0, "mV", "NMDA reversal potential"),
    Param("V_act_NMDA", -25.57, "mV", "half-activation voltage of the NMDA Mg unblock"),
    Param("S_act_NMDA", 0.081, "1/mV", "slope of the NMDA Mg unblock", ge=0.0),
    Param("tau_Mg_slow_NMDA", 22.7, "ms", "time constant of the slow NMDA unblock", gt=0.0),
    Param("tau_Mg_fast_NMDA", 0.68, "ms", "time constant of the fast NMDA unblock", gt=0.0),
    Param("instant_unblock_NMDA", 0.0, "", "NMDA unblock instantaneous (m_eq(V))", flag=True),
    Param("g_peak_GABA_A", 0.33, "", "peak GABA_A conductance (of a weight-1 spike)", ge=0.0),
    Param("tau_rise_GABA_A", 1.0, "ms", "GABA_A rise time constant", gt=0.0),
    Param("tau_decay_GABA_A", 7.0, "ms", "GABA_A decay time constant", gt=0.0),
    Param("E_rev_GABA_A", -70.0, "mV", "GABA_A reversal potential"),
    Param("g_peak_GABA_B", 0.0132, "", "peak GABA_B conductance (of a weight-1 spike)", ge=0.0),
    Param("tau_rise_GABA_B", 60.0, "ms", "GABA_B rise time constant", gt=0.0),
    Param("tau_decay_GABA_B", 200.0, "ms", "GABA_B decay time constant", gt=0.0),
    Param("E_rev_GABA_B", -90.0, "mV", "GABA_B reversal potential"),
    Param("g_peak_NaP", 1.0, "", "peak persistent sodium conductance", ge=0.0),
    Param("E_rev_NaP", 30.0, "mV", "persistent sodium reversal potential"),
    Param("N_NaP", 3.0, "", "exponent of the persistent sodium activation"),
    Param("g_peak_KNa", 1.0, "", "peak depolarisation-activated potassium conductance", ge=0.0),
    Param("E_rev_KNa", -90.0, "mV", "I_KNa reversal potential"),
    Param("tau_D_KNa", 1250.0, "ms", "time constant of I_KNa's D variable", gt=0.0),
    Param("g_peak_T", 1.0, "", "peak low-threshold calcium (I_T) conductance", ge=0.0),
    Param("E_rev_T", 0.0, "mV", "I_T reversal potential"),
    Param("N_T", 2.0, "", "exponent of I_T's activation"),
    Param("g_peak_h", 1.0, "", "peak hyperpolarisation-activated (I_h) conductance", ge=0.0),
    Param("E_rev_h", -40.0, "mV", "I_h reversal potential"),
    Param("voltage_clamp", 0.0, "", "clamp V_m at its initial value", flag=True),
)

_DEF = {p.name: p.default for p in _PARAMS}


# ---------------------------------------------------------------- equilibria (scalar, Python)
def _m_eq_nmda(v, s_act, v_act):
    return 1.0 / (1.0 + math.exp(-s_act * (v - v_act)))


def _equilibrium(v: float) -> dict[str, float]:
    """Gating variables at their equilibrium at ``v`` mV, with NEST's default parameters (as
    NEST's constructor and ``equilibrate`` compute them)."""
    m_nmda = _m_eq_nmda(v, _DEF["S_act_NMDA"], _DEF["V_act_NMDA"])
    d_influx = 0.025 / (1.0 + math.exp(-(v - -10.0) / 5.0))
    return dict(m_fast_NMDA=m_nmda, m_slow_NMDA=m_nmda,
                m_Ih=1.0 / (1.0 + math.exp((v - -75.0) / 5.5)),
                D_IKNa=_DEF["tau_D_KNa"] * d_influx + 0.001,
                m_IT=1.0 / (1.0 + math.exp(-(v + 59.0) / 6.2)),
                h_IT=1.0 / (1.0 + math.exp((v + 83.0) / 4)))


#: NEST's initial V_m: the equilibrium of the two leak currents with the default parameters
V_REST = ((_DEF["g_NaL"] * _DEF["E_Na"] + _DEF["g_KL"] * _DEF["E_K"])
          / (_DEF["g_NaL"] + _DEF["g_KL"]))

_PARAMS = (*_PARAMS,
           Param("V_m", V_REST, "mV", "initial membrane potential", initial=True),
           Param("theta", _DEF["theta_eq"], "mV", "initial threshold", initial=True),
           Param("equilibrate", 0.0, "", "start the gating variables at their equilibrium at "
                 "V_m (NEST's default parameters; else at NEST's default V_m)", initial=True,
                 flag=True))

#: the ODE state in NEST's order (State_::StateVecElems_), then V_clamp (derivative 0)
_Y = ("V", "theta", "dg_AMPA", "g_AMPA", "dg_NMDA", "g_NMDA_tc", "dg_GABA_A", "g_GABA_A",
      "dg_GABA_B", "g_GABA_B", "m_fast_NMDA", "m_slow_NMDA", "m_Ih", "D_IKNa", "m_IT", "h_IT",
      "V_clamp")
_RECORDED = ("I_NaP", "I_KNa", "I_T", "I_h", "g_NMDA")
NY = len(_Y)
_CONSTS = tuple(p.name for p in _PARAMS[:-3]) + tuple(f"cond_step_{r}" for r in RECEPTORS) + (
    "h_step",)
_I = {k: i for i, k in enumerate(_CONSTS)}

E_NA, E_K, G_NAL, G_KL, TAU_M = (_I[k] for k in ("E_Na", "E_K", "g_NaL", "g_KL", "tau_m"))
THETA_EQ, TAU_THETA, TAU_SPIKE = _I["theta_eq"], _I["tau_theta"], _I["tau_spike"]
TR_A, TD_A, E_A = _I["tau_rise_AMPA"], _I["tau_decay_AMPA"], _I["E_rev_AMPA"]
TR_N, TD_N, E_N = _I["tau_rise_NMDA"], _I["tau_decay_NMDA"], _I["E_rev_NMDA"]
V_ACT, S_ACT, TMG_S, TMG_F = (_I[k] for k in ("V_act_NMDA", "S_act_NMDA", "tau_Mg_slow_NMDA",
                                               "tau_Mg_fast_NMDA"))
INSTANT = _I["instant_unblock_NMDA"]
TR_GA, TD_GA, E_GA = _I["tau_rise_GABA_A"], _I["tau_decay_GABA_A"], _I["E_rev_GABA_A"]
TR_GB, TD_GB, E_GB = _I["tau_rise_GABA_B"], _I["tau_decay_GABA_B"], _I["E_rev_GABA_B"]
G_NAP, E_NAP, N_NAP = _I["g_peak_NaP"], _I["E_rev_NaP"], _I["N_NaP"]
G_KNA, E_KNA, TAU_D = _I["g_peak_KNa"], _I["E_rev_KNa"], _I["tau_D_KNa"]
G_T, E_T, N_T = _I["g_peak_T"], _I["E_rev_T"], _I["N_T"]
G_H, E_H, CLAMP = _I["g_peak_h"], _I["E_rev_h"], _I["voltage_clamp"]
COND0, H_STEP = _I["cond_step_AMPA"], _I["h_step"]


# ---------------------------------------------------------------- right-hand side (compiled)
@numba.njit(cache=True)
def _currents(v, y, c):
    """The intrinsic currents (I_NaP, I_KNa, I_T, I_h) at membrane potential ``v``."""
    m_inf_nap = 1.0 / (1.0 + math.exp(-(v - -55.7) / 7.7))
    i_nap = -c[G_NAP] * math.pow(m_inf_nap, c[N_NAP]) * (v - c[E_NAP])
    m_inf_kna = 1.0 / (1.0 + math.pow(0.25 / y[13], 3.5))
    i_kna = -c[G_KNA] * m_inf_kna * (v - c[E_KNA])
    i_t = -c[G_T] * math.pow(y[14], c[N_T]) * y[15] * (v - c[E_T])
    i_h = -c[G_H] * y[12] * (v - c[E_H])
    return i_nap, i_kna, i_t, i_h


@numba.njit(cache=True)
def _m_nmda(v, m_eq, m_fast, m_slow, instant):
    if instant != 0.0:
        return m_eq
    a1 = 0.51 - 0.0028 * v
    return a1 * m_fast + (1 - a1) * m_slow


@numba.njit(cache=True)
def _rhs(y, f, c, istim, refr):
    v = y[16] if c[CLAMP] != 0.0 else y[0]
    m_eq = 1.0 / (1.0 + math.exp(-c[S_ACT] * (v - c[V_ACT])))
    m_fast = m_eq if m_eq < y[10] else y[10]
    m_slow = m_eq if m_eq < y[11] else y[11]
    m_nmda = _m_nmda(v, m_eq, m_fast, m_slow, c[INSTANT])
    i_syn = (-y[3] * (v - c[E_A]) - y[5] * m_nmda * (v - c[E_N]) - y[7] * (v - c[E_GA])
             - y[9] * (v - c[E_GB]))
    i_spike = -(v - c[E_K]) / c[TAU_SPIKE] if refr else 0.0
    i_na = -c[G_NAL] * (v - c[E_NA])
    i_k = -c[G_KL] * (v - c[E_K])
    i_nap, i_kna, i_t, i_h = _currents(v, y, c)
    f[0] = (i_na + i_k + i_syn + i_nap + i_kna + i_t + i_h + istim) / c[TAU_M] + i_spike
    f[1] = -(y[1] - c[THETA_EQ]) / c[TAU_THETA]
    f[2] = -y[2] / c[TR_A]
    f[3] = y[2] - y[3] / c[TD_A]
    f[4] = -y[4] / c[TR_N]
    f[5] = y[4] - y[5] / c[TD_N]
    f[10] = (m_eq - m_fast) / c[TMG_F]
    f[11] = (m_eq - m_slow) / c[TMG_S]
    f[6] = -y[6] / c[TR_GA]
    f[7] = y[6] - y[7] / c[TD_GA]
    f[8] = -y[8] / c[TR_GB]
    f[9] = y[8] - y[9] / c[TD_GB]
    d_influx = 0.025 / (1.0 + math.exp(-(v - -10.0) / 5.0))
    f[13] = ((c[TAU_D] * d_influx + 0.001) - y[13]) / c[TAU_D]
    tau_m_t = 0.22 / (math.exp(-(v + 132.0) / 16.7) + math.exp((v + 16.8) / 18.2)) + 0.13
    tau_h_t = 8.2 + (56.6 + 0.27 * math.exp((v + 115.2) / 5.0)) / (1.0 + math.exp((v + 86.0)
                                                                                  / 3.2))
    f[14] = (1.0 / (1.0 + math.exp(-(v + 59.0) / 6.2)) - y[14]) / tau_m_t
    f[15] = (1.0 / (1.0 + math.exp((v + 83.0) / 4)) - y[15]) / tau_h_t
    tau_m_h = 1.0 / (math.exp(-14.59 - 0.086 * v) + math.exp(-1.87 + 0.0701 * v))
    f[12] = (1.0 / (1.0 + math.exp((v - -75.0) / 5.5)) - y[12]) / tau_m_h
    f[16] = 0.0


_evolve = make_evolve(_rhs)


@numba.njit(cache=True)
def kernel(b, ring, slot, istim, out_slot, out_stamp, nspk, stamp):
    sf, r, ctab, itab, ci = b.sf, b.si[0], b.ctab, b.itab, b.ci
    init_h(sf[NY + 5], ctab, ci, H_STEP)
    y = np.empty(NY)
    w = np.empty((10, NY))
    cur = np.empty(4)
    for i in range(sf.shape[1]):
        j = b.a + i
        c = ctab[ci[i]]
        for q in range(NY):
            y[q] = sf[q, i]
        for q in range(4):
            cur[q] = sf[NY + q, i]
        t, h = 0.0, sf[NY + 5, i]
        spiked = False
        while t < c[H_STEP]:
            t, h = _evolve(t, c[H_STEP], h, y, c, istim[j], r[i] > 0, 1e-3, 0.0, 1.0, 0.0, w)
            v = y[16] if c[CLAMP] != 0.0 else y[0]
            # NEST's last right-hand side call: the accepted state
            cur[0], cur[1], cur[2], cur[3] = _currents(v, y, c)
            if c[CLAMP] != 0.0:
                y[0] = y[16]
            m_eq = 1.0 / (1.0 + math.exp(-c[S_ACT] * (y[0] - c[V_ACT])))
            if y[10] > m_eq:
                y[10] = m_eq
            if y[11] > m_eq:
                y[11] = m_eq
            if r[i] == 0 and y[0] >= y[1]:
                y[0] = c[E_NA]
                y[1] = c[E_NA]
                r[i] = itab[ci[i], 0] + 1
                spiked = True
        if r[i] > 0:
            r[i] -= 1
        for k in range(4):
            y[2 + 2 * k] += c[COND0 + k] * ring[k, slot, j]
            ring[k, slot, j] = 0.0
        if spiked:
            out_slot[nspk] = j
            out_stamp[nspk] = stamp
            nspk += 1
        for q in range(NY):
            sf[q, i] = y[q]
        for q in range(4):
            sf[NY + q, i] = cur[q]
        m_eq = 1.0 / (1.0 + math.exp(-c[S_ACT] * (y[0] - c[V_ACT])))
        sf[NY + 4, i] = y[5] * _m_nmda(y[0], m_eq, y[10], y[11], c[INSTANT])
        sf[NY + 5, i] = h
    return nspk


# ---------------------------------------------------------------- NumPy reference
def _rhs_np(y, c, istim, refr):
    v = np.where(c["voltage_clamp"] != 0.0, y[16], y[0])
    ex = libm.exp
    m_eq = 1.0 / (1.0 + ex(-c["S_act_NMDA"] * (v - c["V_act_NMDA"])))
    m_fast = np.where(m_eq < y[10], m_eq, y[10])
    m_slow = np.where(m_eq < y[11], m_eq, y[11])
    a1 = 0.51 - 0.0028 * v
    m_nmda = np.where(c["instant_unblock_NMDA"] != 0.0, m_eq, a1 * m_fast + (1 - a1) * m_slow)
    i_syn = (-y[3] * (v - c["E_rev_AMPA"]) - y[5] * m_nmda * (v - c["E_rev_NMDA"])
             - y[7] * (v - c["E_rev_GABA_A"]) - y[9] * (v - c["E_rev_GABA_B"]))
    i_spike = np.where(refr, -(v - c["E_K"]) / c["tau_spike"], 0.0)
    i_na = -c["g_NaL"] * (v - c["E_Na"])
    i_k = -c["g_KL"] * (v - c["E_K"])
    i_nap, i_kna, i_t, i_h = _currents_np(v, y, c)
    f = np.empty_like(y)
    f[0] = (i_na + i_k + i_syn + i_nap + i_kna + i_t + i_h + istim) / c["tau_m"] + i_spike
    f[1] = -(y[1] - c["theta_eq"]) / c["tau_theta"]
    for k, r in enumerate(RECEPTORS):
        f[2 + 2 * k] = -y[2 + 2 * k] / c[f"tau_rise_{r}"]
        f[3 + 2 * k] = y[2 + 2 * k] - y[3 + 2 * k] / c[f"tau_decay_{r}"]
    f[10] = (m_eq - m_fast) / c["tau_Mg_fast_NMDA"]
    f[11] = (m_eq - m_slow) / c["tau_Mg_slow_NMDA"]
    d_influx = 0.025 / (1.0 + ex(-(v - -10.0) / 5.0))
    f[13] = ((c["tau_D_KNa"] * d_influx + 0.001) - y[13]) / c["tau_D_KNa"]
    tau_m_t = 0.22 / (ex(-(v + 132.0) / 16.7) + ex((v + 16.8) / 18.2)) + 0.13
    tau_h_t = 8.2 + (56.6 + 0.27 * ex((v + 115.2) / 5.0)) / (1.0 + ex((v + 86.0) / 3.2))
    f[14] = (1.0 / (1.0 + ex(-(v + 59.0) / 6.2)) - y[14]) / tau_m_t
    f[15] = (1.0 / (1.0 + ex((v + 83.0) / 4)) - y[15]) / tau_h_t
    tau_m_h = 1.0 / (ex(-14.59 - 0.086 * v) + ex(-1.87 + 0.0701 * v))
    f[12] = (1.0 / (1.0 + ex((v - -75.0) / 5.5)) - y[12]) / tau_m_h
    f[16] = 0.0
    return f


def _currents_np(v, y, c):
    m_inf_nap = 1.0 / (1.0 + libm.exp(-(v - -55.7) / 7.7))
    i_nap = -c["g_peak_NaP"] * libm.pow(m_inf_nap, c["N_NaP"]) * (v - c["E_rev_NaP"])
    m_inf_kna = 1.0 / (1.0 + libm.pow(0.25 / y[13], 3.5))
    i_kna = -c["g_peak_KNa"] * m_inf_kna * (v - c["E_rev_KNa"])
    i_t = -c["g_peak_T"] * libm.pow(y[14], c["N_T"]) * y[15] * (v - c["E_rev_T"])
    i_h = -c["g_peak_h"] * y[12] * (v - c["E_rev_h"])
    return i_nap, i_kna, i_t, i_h


@CELLS.register
class HtNeuron(CellModel):
    """Hill & Tononi (2005) neuron: AMPA, NMDA (Mg²⁺ block), GABA_A and GABA_B receptors.

    A conductance-based point neuron with a dynamic threshold, a spike-activated repolarising
    potassium current, four receptor ports with beta-function conductances (NMDA with fast and
    slow magnesium unblock) and the intrinsic currents I_NaP, I_KNa, I_T and I_h, as NEST's
    ``ht_neuron`` (RKF45, absolute tolerance 1e-3). Weights are dimensionless: a spike of weight
    w on port k makes the conductance peak at w · g_peak_k. Receptor ports AMPA (1), NMDA (2),
    GABA_A (3), GABA_B (4) as NEST numbers them; there is no port 0.
    """

    name = "ht_neuron"
    nest_model = "ht_neuron"
    params = _PARAMS
    state = (Var("V", "mV", "membrane potential"), Var("theta", "mV", "threshold"),
             Var("dg_AMPA", "1/ms", "derivative state of the AMPA conductance"),
             Var("g_AMPA", "", "AMPA conductance"),
             Var("dg_NMDA", "1/ms", "derivative state of the NMDA conductance"),
             Var("g_NMDA_tc", "", "NMDA conductance time course (before the Mg block)"),
             Var("dg_GABA_A", "1/ms", "derivative state of the GABA_A conductance"),
             Var("g_GABA_A", "", "GABA_A conductance"),
             Var("dg_GABA_B", "1/ms", "derivative state of the GABA_B conductance"),
             Var("g_GABA_B", "", "GABA_B conductance"),
             Var("m_fast_NMDA", "", "fast NMDA Mg unblock"),
             Var("m_slow_NMDA", "", "slow NMDA Mg unblock"),
             Var("m_Ih", "", "I_h activation"), Var("D_IKNa", "", "I_KNa's D variable"),
             Var("m_IT", "", "I_T activation"), Var("h_IT", "", "I_T inactivation"),
             Var("V_clamp", "mV", "clamp potential (the initial V_m)"),
             Var("I_NaP", "mV", "persistent sodium current (recorded value)"),
             Var("I_KNa", "mV", "depolarisation-activated potassium current (recorded value)"),
             Var("I_T", "mV", "low-threshold calcium current (recorded value)"),
             Var("I_h", "mV", "hyperpolarisation-activated current (recorded value)"),
             Var("g_NMDA", "", "NMDA conductance with its Mg unblock (recorded value)"),
             Var("h_int", "ms", "integration step carried between time steps (RKF45)"))
    ports = tuple(Port(r, k + 1, (r,), f"{r} receptor; weight (>= 0) scales g_peak_{r}")
                  for k, r in enumerate(RECEPTORS))
    #: generic excitatory input into AMPA, inhibitory (as |w|) into GABA_A
    ei_ports = ("AMPA", "GABA_A")
    recordables = (Var("V_m", "mV", "membrane potential", state="V"),
                   Var("theta", "mV", "threshold", state="theta"),
                   Var("g_AMPA", "", "AMPA conductance", state="g_AMPA"),
                   Var("g_NMDA", "", "NMDA conductance (with Mg unblock)", state="g_NMDA"),
                   Var("g_GABA_A", "", "GABA_A conductance", state="g_GABA_A"),
                   Var("g_GABA_B", "", "GABA_B conductance", state="g_GABA_B"),
                   Var("I_NaP", "mV", "persistent sodium current", state="I_NaP"),
                   Var("I_KNa", "mV", "depolarisation-activated K current", state="I_KNa"),
                   Var("I_T", "mV", "low-threshold calcium current", state="I_T"),
                   Var("I_h", "mV", "hyperpolarisation-activated current", state="I_h"))
    consts = _CONSTS
    weight_unit = ""
    references = ("Hill S, Tononi G (2005). Modeling sleep and wakefulness in the "
                  "thalamocortical system. J Neurophysiol 93:1671-1698.",
                  "Vargas-Caballero M, Robinson HPC (2003). A slow fraction of Mg2+ unblock of "
                  "NMDA receptors limits their contribution to spike generation in cortical "
                  "pyramidal neurons. J Neurophysiol 89:2778-2783.")
    example = {"params": {}, "weight": 1.0, "current_pA": 20.0}
    nest_vm_tolerance_mV = 1e-6
    kernel = kernel

    def resolve(self, given, n, select, owner=""):
        p = super().resolve(given, n, select, owner)
        owner = owner or f"model {self.name!r}"
        pairs = [(f"tau_rise_{r}", f"tau_decay_{r}") for r in RECEPTORS] + [
            ("tau_Mg_fast_NMDA", "tau_Mg_slow_NMDA")]
        for a, b in pairs:
            if np.any(p[a] >= p[b]):
                raise ValueError(f"{owner}: {a} must be < {b} (NEST's ht_neuron)")
        return p

    def constants(self, p, dt_ms):
        c = {k: p[k] for k in _CONSTS if k in p}
        for r in RECEPTORS:
            c[f"cond_step_{r}"] = p[f"g_peak_{r}"] * beta_normalization(
                p[f"tau_rise_{r}"], p[f"tau_decay_{r}"])
        c["h_step"] = np.full(p["E_Na"].size, float(dt_ms))
        c["refr"] = steps_of(p["t_ref"], dt_ms)
        return c

    def init_state(self, p):
        n = p["E_Na"].size
        s = {k: np.zeros(n) for k in _Y + _RECORDED + ("h_int",)}
        s["V"] = p["V_m"].copy()
        s["theta"] = p["theta"].copy()
        s["V_clamp"] = p["V_m"].copy()
        for i in range(n):
            v0 = float(p["V_m"][i]) if p["equilibrate"][i] != 0.0 else V_REST
            for k, v in _equilibrium(v0).items():
                s[k][i] = v
        s["r"] = np.zeros(n, dtype=np.int64)
        return s

    def step(self, s, c, syn, i_stim_pA):
        n = s["V"].size
        y = np.stack([s[k] for k in _Y])
        h = np.where(s["h_int"] == 0.0, c["h_step"], s["h_int"])
        cur = np.stack([s[k] for k in _RECORDED[:4]])
        istim = np.broadcast_to(np.asarray(i_stim_pA, np.float64), (n,))
        r = s["r"]
        t = np.zeros(n)
        spiked = np.zeros(n, dtype=bool)
        clamp = c["voltage_clamp"] != 0.0
        while True:
            idx = np.flatnonzero(t < c["h_step"])
            if not idx.size:
                break
            ys = y[:, idx]
            ci = {k: v[idx] for k, v in c.items()}
            ts, hs = evolve_np(_rhs_np, t[idx], c["h_step"][idx], h[idx], ys, ci, istim[idx],
                               r[idx] > 0, 1e-3, 0.0, 1.0, 0.0)
            cur[:, idx] = np.stack(_currents_np(np.where(clamp[idx], ys[16], ys[0]), ys, ci))
            ys[0] = np.where(clamp[idx], ys[16], ys[0])
            m_eq = 1.0 / (1.0 + libm.exp(-ci["S_act_NMDA"] * (ys[0] - ci["V_act_NMDA"])))
            ys[10] = np.where(ys[10] > m_eq, m_eq, ys[10])
            ys[11] = np.where(ys[11] > m_eq, m_eq, ys[11])
            ri = r[idx]
            spk = (ri == 0) & (ys[0] >= ys[1])
            ys[0] = np.where(spk, ci["E_Na"], ys[0])
            ys[1] = np.where(spk, ci["E_Na"], ys[1])
            ri[spk] = ci["refr"][spk] + 1
            r[idx] = ri
            spiked[idx[spk]] = True
            y[:, idx] = ys
            t[idx] = ts
            h[idx] = hs
        r[r > 0] -= 1
        for k, rec in enumerate(RECEPTORS):
            y[2 + 2 * k] += c[f"cond_step_{rec}"] * syn[k]
        for k, v in zip(_Y, y):
            s[k][...] = v
        for k, v in zip(_RECORDED[:4], cur):
            s[k][...] = v
        m_eq = 1.0 / (1.0 + libm.exp(-c["S_act_NMDA"] * (y[0] - c["V_act_NMDA"])))
        a1 = 0.51 - 0.0028 * y[0]
        m_nmda = np.where(c["instant_unblock_NMDA"] != 0.0, m_eq, a1 * y[10] + (1 - a1) * y[11])
        s["g_NMDA"][...] = y[5] * m_nmda
        s["h_int"][...] = h
        return spiked
