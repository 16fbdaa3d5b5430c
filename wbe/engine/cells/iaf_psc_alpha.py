"""``iaf_psc_alpha``: leaky integrate-and-fire neuron with alpha-shaped post-synaptic currents."""

from __future__ import annotations

import numba
import numpy as np

from ..registry import CELLS, Var
from .base import CellModel, steps_of
from .common import (
    E_L,
    SPIKE_PORT,
    V_REL,
    C_m,
    I_e,
    V_m,
    V_min,
    V_reset,
    V_th,
    t_ref,
    tau_m,
    tau_syn_ex,
    tau_syn_in,
)
from .propagators import propagator_31, propagator_32


@numba.njit(cache=True)
def kernel(b, ring, slot, istim, out_slot, out_stamp, nspk, stamp):
    V, dI_ex, I_ex, dI_in, I_in = b.sf[0], b.sf[1], b.sf[2], b.sf[3], b.sf[4]
    r = b.si[0]
    ctab, itab, ci = b.ctab, b.itab, b.ci
    ring_ex, ring_in = ring[0, slot], ring[1, slot]
    for i in range(V.shape[0]):
        j = b.a + i
        c = ci[i]
        # P30 P31ex P32ex P31in P32in expm1_tau_m P11ex P21ex P11in P21in EPSC0ex EPSC0in
        # I_e Theta V_reset V_min E_L
        if r[i] == 0:
            v = (ctab[c, 0] * (istim[j] + ctab[c, 12]) + ctab[c, 1] * dI_ex[i]
                 + ctab[c, 2] * I_ex[i] + ctab[c, 3] * dI_in[i] + ctab[c, 4] * I_in[i]
                 + ctab[c, 5] * V[i] + V[i])
            V[i] = ctab[c, 15] if v < ctab[c, 15] else v
        else:
            r[i] -= 1
        I_ex[i] = ctab[c, 7] * dI_ex[i] + ctab[c, 6] * I_ex[i]
        d = dI_ex[i] * ctab[c, 6]
        dI_ex[i] = d + ctab[c, 10] * ring_ex[j]
        I_in[i] = ctab[c, 9] * dI_in[i] + ctab[c, 8] * I_in[i]
        d = dI_in[i] * ctab[c, 8]
        dI_in[i] = d + ctab[c, 11] * ring_in[j]
        ring_ex[j] = 0.0
        ring_in[j] = 0.0
        if V[i] >= ctab[c, 13]:
            r[i] = itab[c, 0]
            V[i] = ctab[c, 14]
            out_slot[nspk] = j
            out_stamp[nspk] = stamp
            nspk += 1
    return nspk


@CELLS.register
class IafPscAlpha(CellModel):
    """Leaky integrate-and-fire neuron with alpha-shaped post-synaptic currents (exact).

    A spike of weight w (pA) starts a current ``w·t/tau_syn·e^{1 - t/tau_syn}`` peaking at w
    after ``tau_syn``; the membrane is integrated exactly (Rotter & Diesmann 1999) in NEST 3.10's
    update order, with the absolute lower bound ``V_min``.
    """

    name = "iaf_psc_alpha"
    nest_model = "iaf_psc_alpha"
    params = (E_L, C_m, tau_m, tau_syn_ex, tau_syn_in, t_ref, V_th, V_reset, I_e, V_min, V_m)
    state = (Var("V", "mV", "membrane potential relative to E_L"),
             Var("dI_ex", "pA/ms", "derivative state of the excitatory current"),
             Var("I_ex", "pA", "excitatory synaptic current"),
             Var("dI_in", "pA/ms", "derivative state of the inhibitory current"),
             Var("I_in", "pA", "inhibitory synaptic current"))
    ports = (SPIKE_PORT,)
    recordables = (V_REL, Var("I_syn_ex", "pA", "excitatory synaptic current", state="I_ex"),
                   Var("I_syn_in", "pA", "inhibitory synaptic current", state="I_in"))
    consts = ("P30", "P31ex", "P32ex", "P31in", "P32in", "expm1_tau_m", "P11ex", "P21ex",
              "P11in", "P21in", "EPSC0ex", "EPSC0in", "I_e", "Theta", "V_reset", "V_min", "E_L")
    weight_unit = "pA"
    references = ("Rotter S, Diesmann M (1999). Exact digital simulation of time-invariant "
                  "linear systems with applications to neuronal modeling. Biol Cybern 81:381-402.",)
    example = {"params": {"I_e": 360.0, "tau_syn_ex": 0.8, "tau_syn_in": 2.0}, "weight": 200.0,
               "current_pA": 150.0}
    kernel = kernel

    def constants(self, p, dt_ms):
        h = dt_ms
        te, ti, tm, C = p["tau_syn_ex"], p["tau_syn_in"], p["tau_m"], p["C_m"]
        return dict(
            P11ex=np.exp(-h / te), P21ex=h * np.exp(-h / te),
            P11in=np.exp(-h / ti), P21in=h * np.exp(-h / ti),
            P30=-tm / C * np.expm1(-h / tm), expm1_tau_m=np.expm1(-h / tm),
            P31ex=propagator_31(te, tm, C, h), P32ex=propagator_32(te, tm, C, h),
            P31in=propagator_31(ti, tm, C, h), P32in=propagator_32(ti, tm, C, h),
            EPSC0ex=np.e / te, EPSC0in=np.e / ti,
            I_e=p["I_e"], Theta=p["V_th"] - p["E_L"], V_reset=p["V_reset"] - p["E_L"],
            V_min=p["V_min"] - p["E_L"], E_L=p["E_L"], refr=steps_of(p["t_ref"], dt_ms))

    def init_state(self, p):
        n = p["E_L"].size
        z = np.zeros
        return dict(V=p["V_m"] - p["E_L"], dI_ex=z(n), I_ex=z(n), dI_in=z(n), I_in=z(n),
                    r=np.zeros(n, dtype=np.int64))

    def step(self, s, c, syn, i_stim_pA):
        V, r = s["V"], s["r"]
        free = r == 0
        vnew = (c["P30"] * (i_stim_pA + c["I_e"]) + c["P31ex"] * s["dI_ex"]
                + c["P32ex"] * s["I_ex"] + c["P31in"] * s["dI_in"] + c["P32in"] * s["I_in"]
                + c["expm1_tau_m"] * V + V)
        vnew = np.where(vnew < c["V_min"], c["V_min"], vnew)
        np.copyto(V, vnew, where=free)
        r -= ~free
        s["I_ex"][...] = c["P21ex"] * s["dI_ex"] + c["P11ex"] * s["I_ex"]
        s["dI_ex"][...] = s["dI_ex"] * c["P11ex"] + c["EPSC0ex"] * syn[0]
        s["I_in"][...] = c["P21in"] * s["dI_in"] + c["P11in"] * s["I_in"]
        s["dI_in"][...] = s["dI_in"] * c["P11in"] + c["EPSC0in"] * syn[1]
        spk = V >= c["Theta"]
        np.copyto(r, c["refr"], where=spk)
        np.copyto(V, c["V_reset"], where=spk)
        return spk
