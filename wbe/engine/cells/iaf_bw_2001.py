"""``iaf_bw_2001``: the leaky integrate-and-fire neuron of Brunel & Wang (2001) with AMPA, GABA
and NMDA conductances and NMDA's magnesium block.

As NEST 3.10 (models/iaf_bw_2001.cpp), read for its exact semantics:

* C_m dV/dt = −g_L (V − E_L) − I_syn + I, I_syn = I_AMPA + I_GABA + I_NMDA with
  I_AMPA = (V − E_ex) s_AMPA, I_GABA = (V − E_in) s_GABA and
  I_NMDA = (V − E_ex) / (1 + [Mg²⁺] exp(−0.062 V)/3.57) · s_NMDA (Jahr & Stevens 1990);
  each s decays with its time constant (τ_decay_NMDA for NMDA); weights are conductances (nS);
* GSL's rkf45 with ``gsl_odeiv_control_y_new(gsl_error_tol, 0)``, the step carried between
  time steps (:mod:`.rkf45`);
* each step: integrate, add the arriving input (s_AMPA += Σw, s_GABA += Σw, s_NMDA += Σ w·δ),
  then, if refractory, count down and clamp V to V_reset (V is integrated meanwhile), else a
  spike when V >= V_th: V = V_reset, refractory for t_ref;
* NMDA input carries the sender's saturating increment δ (NEST sends it as the spike's offset):
  the NMDA port runs :mod:`wbe.engine.plasticity.iaf_bw_2001_nmda` on every synapse and takes
  spikes of ``iaf_bw_2001`` neurons only, as NEST;
* ``I_AMPA``, ``I_GABA``, ``I_NMDA`` record what NEST records: the currents of the right-hand
  side's last evaluation, at the state the step's integration reached (before the input and
  the reset);
* no port 0 (receptor types AMPA 1, GABA 2, NMDA 3) and no ``I_e`` (NEST has none); ``C_m``
  defaults to NEST's 500 pF.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from ..registry import CELLS, Param, Port, Var
from . import libm
from .base import CellModel, steps_of
from .rkf45 import init_h, integrate_np, make_evolve

_PARAMS = (
    Param("E_L", -70.0, "mV", "leak reversal potential"),
    Param("E_ex", 0.0, "mV", "excitatory (AMPA, NMDA) reversal potential"),
    Param("E_in", -70.0, "mV", "inhibitory (GABA) reversal potential"),
    Param("V_th", -55.0, "mV", "spike threshold"),
    Param("V_reset", -60.0, "mV", "membrane potential after a spike"),
    Param("C_m", 500.0, "pF", "membrane capacitance", gt=0.0),
    Param("g_L", 25.0, "nS", "leak conductance"),
    Param("t_ref", 2.0, "ms", "duration of the absolute refractory period", ge=0.0),
    Param("tau_AMPA", 2.0, "ms", "AMPA decay time", gt=0.0),
    Param("tau_GABA", 5.0, "ms", "GABA decay time", gt=0.0),
    Param("tau_rise_NMDA", 2.0, "ms", "NMDA rise time (of the increment this neuron sends)",
          gt=0.0),
    Param("tau_decay_NMDA", 100.0, "ms", "NMDA decay time", gt=0.0),
    Param("alpha", 0.5, "1/ms", "NMDA saturation rate (of the increment this neuron sends)",
          gt=0.0),
    Param("conc_Mg2", 1.0, "mM", "extracellular magnesium concentration", gt=0.0),
    Param("gsl_error_tol", 1e-3, "", "absolute tolerance of the RKF45 step control", gt=0.0),
    Param("V_m", math.nan, "mV", "initial membrane potential (default: E_L)", initial=True),
    Param("s_AMPA", 0.0, "nS", "initial AMPA conductance", initial=True),
    Param("s_GABA", 0.0, "nS", "initial GABA conductance", initial=True),
    Param("s_NMDA", 0.0, "nS", "initial NMDA conductance", initial=True),
)
#: constant-table columns
_CONSTS = ("E_L", "E_ex", "E_in", "V_th", "V_reset", "C_m", "g_L", "tau_AMPA", "tau_GABA",
           "tau_decay_NMDA", "conc_Mg2", "gsl_error_tol", "h_step")
_H = len(_CONSTS) - 1
_CURRENTS = ("I_AMPA", "I_GABA", "I_NMDA")


@numba.njit(cache=True)
def _currents(y, c):
    v = y[0]
    i_ampa = (v - c[1]) * y[1]
    i_gaba = (v - c[2]) * y[2]
    i_nmda = (v - c[1]) / (1.0 + c[10] * math.exp(-0.062 * v) / 3.57) * y[3]
    return i_ampa, i_gaba, i_nmda


@numba.njit(cache=True)
def _rhs(y, f, c, istim, refr):
    # y: V, s_AMPA, s_GABA, s_NMDA
    i_ampa, i_gaba, i_nmda = _currents(y, c)
    i_syn = i_ampa + i_gaba + i_nmda
    f[0] = (-c[6] * (y[0] - c[0]) - i_syn + istim) / c[5]
    f[1] = -y[1] / c[7]
    f[2] = -y[2] / c[8]
    f[3] = -y[3] / c[9]


def _currents_np(y, c):
    v = y[0]
    i_ampa = (v - c["E_ex"]) * y[1]
    i_gaba = (v - c["E_in"]) * y[2]
    i_nmda = (v - c["E_ex"]) / (1.0 + c["conc_Mg2"] * libm.exp(-0.062 * v) / 3.57) * y[3]
    return i_ampa, i_gaba, i_nmda


def _rhs_np(y, c, istim, refr):
    i_ampa, i_gaba, i_nmda = _currents_np(y, c)
    i_syn = i_ampa + i_gaba + i_nmda
    f = np.empty_like(y)
    f[0] = (-c["g_L"] * (y[0] - c["E_L"]) - i_syn + istim) / c["C_m"]
    f[1] = -y[1] / c["tau_AMPA"]
    f[2] = -y[2] / c["tau_GABA"]
    f[3] = -y[3] / c["tau_decay_NMDA"]
    return f


_evolve = make_evolve(_rhs)


@numba.njit(cache=True)
def kernel(b, ring, slot, istim, out_slot, out_stamp, nspk, stamp):
    sf, r, ctab, itab, ci = b.sf, b.si[0], b.ctab, b.itab, b.ci
    init_h(sf[7], ctab, ci, _H)
    y = np.empty(4)
    w = np.empty((10, 4))
    for i in range(sf.shape[1]):
        j = b.a + i
        c = ctab[ci[i]]
        for q in range(4):
            y[q] = sf[q, i]
        t, h = 0.0, sf[7, i]
        while t < c[_H]:
            t, h = _evolve(t, c[_H], h, y, c, istim[j], False, c[11], 0.0, 1.0, 0.0, w)
        sf[4, i], sf[5, i], sf[6, i] = _currents(y, c)  # NEST records the last RHS call's
        y[1] += ring[0, slot, j]
        y[2] += ring[1, slot, j]
        y[3] += ring[2, slot, j]
        ring[0, slot, j] = 0.0
        ring[1, slot, j] = 0.0
        ring[2, slot, j] = 0.0
        if r[i] > 0:
            r[i] -= 1
            y[0] = c[4]
        elif y[0] >= c[3]:
            r[i] = itab[ci[i], 0]
            y[0] = c[4]
            out_slot[nspk] = j
            out_stamp[nspk] = stamp
            nspk += 1
        for q in range(4):
            sf[q, i] = y[q]
        sf[7, i] = h
    return nspk


@CELLS.register
class IafBw2001(CellModel):
    """Brunel & Wang (2001) integrate-and-fire neuron: AMPA, GABA and NMDA (Mg²⁺ block)
    conductances, the NMDA input saturating in the sender.

    Leaky integrate-and-fire membrane with three conductances s_AMPA, s_GABA, s_NMDA (nS) that
    decay exponentially; NMDA's current is scaled by the magnesium unblock
    1/(1 + [Mg²⁺] exp(−0.062 V)/3.57). An NMDA spike adds weight·δ, δ the sender's saturating
    increment (``iaf_bw_2001_nmda``): NMDA input comes from ``iaf_bw_2001`` neurons only.
    Receptor ports AMPA (1), GABA (2), NMDA (3); RKF45 with absolute tolerance
    ``gsl_error_tol``, as NEST 3.10.
    """

    name = "iaf_bw_2001"
    nest_model = "iaf_bw_2001"
    params = _PARAMS
    state = (Var("V", "mV", "membrane potential"), Var("s_AMPA", "nS", "AMPA conductance"),
             Var("s_GABA", "nS", "GABA conductance"), Var("s_NMDA", "nS", "NMDA conductance"),
             *(Var(k, "pA", f"{k[2:]} current at the last right-hand-side evaluation")
               for k in _CURRENTS),
             Var("h_int", "ms", "integration step carried between time steps (RKF45)"))
    ports = (Port("AMPA", 1, ("AMPA",), "AMPA receptor; weight (nS) added to s_AMPA"),
             Port("GABA", 2, ("GABA",), "GABA receptor; weight (nS) added to s_GABA"),
             Port("NMDA", 3, ("NMDA",), "NMDA receptor (from iaf_bw_2001 neurons); weight (nS) "
                  "times the sender's saturating increment added to s_NMDA",
                  presynaptic="iaf_bw_2001_nmda"))
    ei_ports = ("AMPA", "GABA")
    recordables = (Var("V_m", "mV", "membrane potential", state="V"),
                   Var("s_AMPA", "nS", "AMPA conductance", state="s_AMPA"),
                   Var("s_GABA", "nS", "GABA conductance", state="s_GABA"),
                   Var("s_NMDA", "nS", "NMDA conductance", state="s_NMDA"),
                   *(Var(k, "pA", f"{k[2:]} current (NEST's: the last right-hand-side "
                         f"evaluation)", state=k) for k in ("I_NMDA", "I_AMPA", "I_GABA")))
    consts = _CONSTS
    weight_unit = "nS"
    references = ("Brunel N, Wang X-J (2001). Effects of neuromodulation in a cortical network "
                  "model of object working memory dominated by recurrent inhibition. J Comput "
                  "Neurosci 11:63-85.",
                  "Jahr CE, Stevens CF (1990). Voltage dependence of NMDA-activated macroscopic "
                  "conductances predicted by single-channel kinetics. J Neurosci 10:3178-3182.")
    example = {"params": {"V_m": -65.0}, "weight": 6.0, "current_pA": 450.0}
    nest_vm_tolerance_mV = 1e-6
    kernel = kernel

    def resolve(self, given, n, select, owner=""):
        p = super().resolve(given, n, select, owner)
        if np.any(p["V_reset"] >= p["V_th"]):
            raise ValueError(f"{owner or f'model {self.name!r}'}: V_reset must be below V_th")
        return p

    def constants(self, p, dt_ms):
        c = {k: p[k] for k in self.consts if k in p}
        c["h_step"] = np.full(p["E_L"].size, float(dt_ms))
        c["refr"] = steps_of(p["t_ref"], dt_ms)
        return c

    def init_state(self, p):
        n = p["E_L"].size
        s = {"V": p["V_m"].copy(), "s_AMPA": p["s_AMPA"].copy(), "s_GABA": p["s_GABA"].copy(),
             "s_NMDA": p["s_NMDA"].copy(), "h_int": np.zeros(n), "r": np.zeros(n, np.int64)}
        for k in _CURRENTS:
            s[k] = np.zeros(n)
        return s

    def step(self, s, c, syn, i_stim_pA):
        n = s["V"].size
        h = np.where(s["h_int"] == 0.0, c["h_step"], s["h_int"])
        y = np.stack([s["V"], s["s_AMPA"], s["s_GABA"], s["s_NMDA"]])
        r = s["r"]
        istim = np.broadcast_to(np.asarray(i_stim_pA, np.float64), (n,))
        integrate_np(_rhs_np, y, h, c, istim, np.zeros(n, bool), c["h_step"][0] if n else 0.0,
                     c["gsl_error_tol"], 0.0, 1.0, 0.0)
        for k, v in zip(_CURRENTS, _currents_np(y, c)):
            s[k][...] = v
        y[1] += syn[0]
        y[2] += syn[1]
        y[3] += syn[2]
        refr = r > 0
        spk = ~refr & (y[0] >= c["V_th"])
        r[refr] -= 1
        y[0] = np.where(refr | spk, c["V_reset"], y[0])
        r[spk] = c["refr"][spk]
        s["V"][...], s["s_AMPA"][...], s["s_GABA"][...], s["s_NMDA"][...] = y
        s["h_int"][...] = h
        return spk
