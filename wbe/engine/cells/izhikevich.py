"""``izhikevich``: Izhikevich (2003) simple spiking model."""

from __future__ import annotations

import math

import numba
import numpy as np

from ..registry import CELLS, Param, Port, Var
from .base import CellModel
from .common import I_e, V_min


@numba.njit(cache=True)
def kernel(b, ring, slot, istim, out_slot, out_stamp, nspk, stamp):
    V, U = b.sf[0], b.sf[1]
    ctab, ci = b.ctab, b.ci
    ring_0 = ring[0, slot]
    for i in range(V.shape[0]):
        j = b.a + i
        c = ci[i]  # a, b, c, d, I_e, V_th, V_min, h, consistent_integration
        h = ctab[c, 7]
        syn = ring_0[j]
        ring_0[j] = 0.0
        v_old, u_old = V[i], U[i]
        if ctab[c, 8] != 0.0:
            v = v_old + (h * (0.04 * v_old * v_old + 5.0 * v_old + 140.0 - u_old + istim[j]
                              + ctab[c, 4]) + syn)
            u = u_old + h * ctab[c, 0] * (ctab[c, 1] * v_old - u_old)
        else:
            v = v_old + h * 0.5 * (0.04 * v_old * v_old + 5.0 * v_old + 140.0 - u_old
                                   + istim[j] + ctab[c, 4] + syn)
            v = v + h * 0.5 * (0.04 * v * v + 5.0 * v + 140.0 - u_old + istim[j]
                               + ctab[c, 4] + syn)
            u = u_old + h * ctab[c, 0] * (ctab[c, 1] * v - u_old)
        if v < ctab[c, 6]:
            v = ctab[c, 6]
        if v >= ctab[c, 5]:
            v = ctab[c, 2]
            u = u + ctab[c, 3]
            out_slot[nspk] = j
            out_stamp[nspk] = stamp
            nspk += 1
        V[i] = v
        U[i] = u
    return nspk


@CELLS.register
class Izhikevich(CellModel):
    """Izhikevich (2003) neuron: dV/dt = 0.04 V² + 5 V + 140 − U + I, dU/dt = a (b V − U).

    Integrated as NEST 3.10 does: with ``consistent_integration`` (default) one Euler step of
    both equations from the old values; otherwise Izhikevich's published scheme (two half steps
    of V, then U from the new V). A spike is V >= ``V_th``; then V = c, U += d. Weights (mV) are
    added to V.
    """

    name = "izhikevich"
    nest_model = "izhikevich"
    params = (Param("a", 0.02, "1/ms", "time scale of the recovery variable U"),
              Param("b", 0.2, "", "sensitivity of U to V"),
              Param("c", -65.0, "mV", "V after a spike"),
              Param("d", 8.0, "mV", "increment of U after a spike"),
              I_e, Param("V_th", 30.0, "mV", "spike cut-off"), V_min,
              Param("consistent_integration", 1.0, "",
                    "1: Euler step of V and U from the old values; 0: Izhikevich's scheme",
                    flag=True),
              Param("V_m", -65.0, "mV", "initial membrane potential", initial=True),
              Param("U_m", math.nan, "mV", "initial recovery variable (default: b·V_m)",
                    initial=True))
    state = (Var("V", "mV", "membrane potential"), Var("U", "mV", "recovery variable"))
    int_state = ()
    ports = (Port("spike", 0, ("all",), "spikes; the weight (mV) is added to V_m"),)
    recordables = (Var("V_m", "mV", "membrane potential", state="V"),
                   Var("U_m", "mV", "recovery variable", state="U"))
    consts = ("a", "b", "c", "d", "I_e", "V_th", "V_min", "h", "consistent_integration")
    int_consts = ()
    weight_unit = "mV"
    references = ("Izhikevich EM (2003). Simple model of spiking neurons. IEEE Trans Neural "
                  "Netw 14:1569-1572.",)
    example = {"params": {"I_e": 5.0, "a": 0.02, "b": 0.2, "c": -55.0, "d": 4.0},
               "weight": 20.0, "current_pA": 3.0}
    kernel = kernel

    def derive_defaults(self, p):
        nan = np.isnan(p["U_m"])
        if nan.any():
            p["U_m"] = np.where(nan, p["b"] * p["V_m"], p["U_m"])

    def constants(self, p, dt_ms):
        n = p["a"].size
        return dict(a=p["a"], b=p["b"], c=p["c"], d=p["d"], I_e=p["I_e"], V_th=p["V_th"],
                    V_min=p["V_min"], h=np.full(n, float(dt_ms)),
                    consistent_integration=p["consistent_integration"])

    def init_state(self, p):
        return dict(V=p["V_m"].copy(), U=p["U_m"].copy())

    def step(self, s, c, syn, i_stim_pA):
        h = c["h"]
        v_old, u_old = s["V"].copy(), s["U"].copy()
        cons = c["consistent_integration"] != 0.0
        v1 = v_old + (h * (0.04 * v_old * v_old + 5.0 * v_old + 140.0 - u_old + i_stim_pA
                           + c["I_e"]) + syn[0])
        u1 = u_old + h * c["a"] * (c["b"] * v_old - u_old)
        va = v_old + h * 0.5 * (0.04 * v_old * v_old + 5.0 * v_old + 140.0 - u_old
                                + i_stim_pA + c["I_e"] + syn[0])
        va = va + h * 0.5 * (0.04 * va * va + 5.0 * va + 140.0 - u_old + i_stim_pA + c["I_e"]
                             + syn[0])
        ua = u_old + h * c["a"] * (c["b"] * va - u_old)
        v = np.where(cons, v1, va)
        u = np.where(cons, u1, ua)
        v = np.where(v < c["V_min"], c["V_min"], v)
        spk = v >= c["V_th"]
        v = np.where(spk, c["c"], v)
        u = np.where(spk, u + c["d"], u)
        s["V"][...] = v
        s["U"][...] = u
        return spk
