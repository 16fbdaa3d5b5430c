"""``iaf_psc_delta``: leaky integrate-and-fire neuron with delta synapses."""

from __future__ import annotations

import math

import numba
import numpy as np

from ..registry import CELLS, Param, Var
from .base import CellModel, steps_of
from .common import DELTA_PORT, E_L, V_REL, C_m, I_e, V_m, V_min, V_reset, V_th, t_ref, tau_m
from .libm import exp as libm_exp


@numba.njit(cache=True)
def kernel(b, ring, slot, istim, out_slot, out_stamp, nspk, stamp):
    V, buf = b.sf[0], b.sf[1]
    r = b.si[0]
    ctab, itab, ci = b.ctab, b.itab, b.ci
    ring_0 = ring[0, slot]
    for i in range(V.shape[0]):
        j = b.a + i
        c = ci[i]  # P30, P33, I_e, V_min, Theta, V_reset, E_L, with_refr, h, tau_m
        syn = ring_0[j]
        ring_0[j] = 0.0
        if r[i] == 0:
            v = ctab[c, 0] * (istim[j] + ctab[c, 2]) + ctab[c, 1] * V[i] + syn
            if ctab[c, 7] != 0.0 and buf[i] != 0.0:
                v = v + buf[i]
                buf[i] = 0.0
            V[i] = ctab[c, 3] if v < ctab[c, 3] else v
        else:
            if ctab[c, 7] != 0.0:
                buf[i] += syn * math.exp(-r[i] * ctab[c, 8] / ctab[c, 9])
            r[i] -= 1
        if V[i] >= ctab[c, 4]:
            r[i] = itab[c, 0]
            V[i] = ctab[c, 5]
            out_slot[nspk] = j
            out_stamp[nspk] = stamp
            nspk += 1
    return nspk


@CELLS.register
class IafPscDelta(CellModel):
    """Leaky integrate-and-fire neuron with delta synapses: a spike's weight (mV) jumps V_m.

    Exact integration of the membrane (Rotter & Diesmann 1999). Spikes arriving during the
    refractory period are lost unless ``refractory_input`` is 1: they are then summed,
    discounted by their decay until the end of the refractory period, and added when it ends
    (NEST 3.10's update order).
    """

    name = "iaf_psc_delta"
    nest_model = "iaf_psc_delta"
    params = (E_L, C_m, tau_m, t_ref, V_th, V_reset, I_e, V_min,
              Param("refractory_input", 0.0, "", "1: keep spikes arriving while refractory",
                    flag=True), V_m)
    state = (Var("V", "mV", "membrane potential relative to E_L"),
             Var("refr_buf", "mV", "input summed while refractory (refractory_input)"))
    ports = (DELTA_PORT,)
    recordables = (V_REL,)
    consts = ("P30", "P33", "I_e", "V_min", "Theta", "V_reset", "E_L", "with_refr", "h",
              "tau_m")
    weight_unit = "mV"
    references = ("Rotter S, Diesmann M (1999). Exact digital simulation of time-invariant "
                  "linear systems with applications to neuronal modeling. Biol Cybern 81:381-402.",)
    example = {"params": {"I_e": 340.0, "V_m": -62.0, "t_ref": 1.5}, "weight": 4.0,
               "current_pA": 150.0}
    kernel = kernel

    def constants(self, p, dt_ms):
        h = dt_ms
        n = p["E_L"].size
        return dict(P33=np.exp(-h / p["tau_m"]),
                    P30=-p["tau_m"] / p["C_m"] * np.expm1(-h / p["tau_m"]), I_e=p["I_e"],
                    Theta=p["V_th"] - p["E_L"], V_reset=p["V_reset"] - p["E_L"],
                    V_min=p["V_min"] - p["E_L"], E_L=p["E_L"],
                    with_refr=(p["refractory_input"] != 0).astype(np.float64),
                    h=np.full(n, h), tau_m=p["tau_m"], refr=steps_of(p["t_ref"], dt_ms))

    def init_state(self, p):
        n = p["E_L"].size
        return dict(V=p["V_m"] - p["E_L"], refr_buf=np.zeros(n), r=np.zeros(n, dtype=np.int64))

    def step(self, s, c, syn, i_stim_pA):
        V, r, buf = s["V"], s["r"], s["refr_buf"]
        free = r == 0
        withr = c["with_refr"] != 0.0
        vnew = c["P30"] * (i_stim_pA + c["I_e"]) + c["P33"] * V + syn[0]
        add = free & withr & (buf != 0.0)
        vnew = np.where(add, vnew + buf, vnew)
        buf[add] = 0.0
        acc = ~free & withr
        if acc.any():
            buf[acc] += syn[0][acc] * libm_exp(-r[acc] * c["h"][acc] / c["tau_m"][acc])
        vnew = np.where(vnew < c["V_min"], c["V_min"], vnew)
        np.copyto(V, vnew, where=free)
        r -= ~free
        spk = V >= c["Theta"]
        np.copyto(r, c["refr"], where=spk)
        np.copyto(V, c["V_reset"], where=spk)
        return spk
