"""``iaf_psc_exp``: leaky integrate-and-fire neuron with exponential post-synaptic currents."""

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
    V_reset,
    V_th,
    t_ref,
    tau_m,
    tau_syn_ex,
    tau_syn_in,
)
from .propagators import propagator_32


@numba.njit(cache=True)
def kernel(b, ring, slot, istim, out_slot, out_stamp, nspk, stamp):
    V, i_ex, i_in = b.sf[0], b.sf[1], b.sf[2]
    r = b.si[0]
    ctab, itab, ci = b.ctab, b.itab, b.ci
    ring_ex, ring_in = ring[0, slot], ring[1, slot]
    for i in range(V.shape[0]):
        j = b.a + i
        c = ci[i]  # P22, P21ex, P21in, P20, P11ex, P11in, I_e, Theta, V_reset, E_L
        if r[i] == 0:
            V[i] = (V[i] * ctab[c, 0] + i_ex[i] * ctab[c, 1] + i_in[i] * ctab[c, 2]
                    + (ctab[c, 6] + istim[j]) * ctab[c, 3])
        else:
            r[i] -= 1
        i_ex[i] = i_ex[i] * ctab[c, 4] + ring_ex[j]
        i_in[i] = i_in[i] * ctab[c, 5] + ring_in[j]
        ring_ex[j] = 0.0
        ring_in[j] = 0.0
        if V[i] >= ctab[c, 7]:
            r[i] = itab[c, 0]
            V[i] = ctab[c, 8]
            out_slot[nspk] = j
            out_stamp[nspk] = stamp
            nspk += 1
    return nspk


@CELLS.register
class IafPscExp(CellModel):
    """Leaky integrate-and-fire neuron with exponential post-synaptic currents (exact integration).

    The membrane potential is integrated exactly on the time grid with NEST's propagators
    (Rotter & Diesmann 1999); a spike arriving at t adds its weight (pA) to the excitatory or
    inhibitory synaptic current, which then decays with ``tau_syn_ex``/``tau_syn_in``. After a
    spike V_m is clamped to ``V_reset`` for ``t_ref``. Update order per step as NEST 3.10:
    integrate V_m, decay the currents, add the arriving spikes, threshold, reset.
    """

    name = "iaf_psc_exp"
    nest_model = "iaf_psc_exp"
    params = (E_L, C_m, tau_m, tau_syn_ex, tau_syn_in, t_ref, V_th, V_reset, I_e, V_m)
    state = (Var("V", "mV", "membrane potential relative to E_L"),
             Var("i_ex", "pA", "excitatory synaptic current"),
             Var("i_in", "pA", "inhibitory synaptic current"))
    ports = (SPIKE_PORT,)
    recordables = (V_REL, Var("I_syn_ex", "pA", "excitatory synaptic current", state="i_ex"),
                   Var("I_syn_in", "pA", "inhibitory synaptic current", state="i_in"))
    consts = ("P22", "P21ex", "P21in", "P20", "P11ex", "P11in", "I_e", "Theta", "V_reset", "E_L")
    weight_unit = "pA"
    references = (
        "Rotter S, Diesmann M (1999). Exact digital simulation of time-invariant linear systems "
        "with applications to neuronal modeling. Biol Cybern 81:381-402.",
        "Tsodyks M, Uziel A, Markram H (2000). Synchrony generation in recurrent networks with "
        "frequency-dependent synapses. J Neurosci 20:RC50.")
    example = {"params": {"I_e": 360.0, "tau_syn_ex": 1.5, "tau_syn_in": 3.0, "V_m": -65.0},
               "weight": 400.0, "current_pA": 150.0}
    kernel = kernel

    def constants(self, p, dt_ms):
        h = dt_ms
        return dict(
            P11ex=np.exp(-h / p["tau_syn_ex"]), P11in=np.exp(-h / p["tau_syn_in"]),
            P22=np.exp(-h / p["tau_m"]),
            P21ex=propagator_32(p["tau_syn_ex"], p["tau_m"], p["C_m"], h),
            P21in=propagator_32(p["tau_syn_in"], p["tau_m"], p["C_m"], h),
            P20=p["tau_m"] / p["C_m"] * (1.0 - np.exp(-h / p["tau_m"])),
            I_e=p["I_e"], Theta=p["V_th"] - p["E_L"], V_reset=p["V_reset"] - p["E_L"],
            E_L=p["E_L"], refr=steps_of(p["t_ref"], dt_ms))

    def init_state(self, p):
        n = p["E_L"].size
        return dict(V=p["V_m"] - p["E_L"], i_ex=np.zeros(n), i_in=np.zeros(n),
                    r=np.zeros(n, dtype=np.int64))

    def step(self, s, c, syn, i_stim_pA):
        V, r = s["V"], s["r"]
        free = r == 0
        vnew = V * c["P22"] + s["i_ex"] * c["P21ex"] + s["i_in"] * c["P21in"] \
            + (c["I_e"] + i_stim_pA) * c["P20"]
        np.copyto(V, vnew, where=free)
        r -= ~free
        s["i_ex"][...] = s["i_ex"] * c["P11ex"] + syn[0]
        s["i_in"][...] = s["i_in"] * c["P11in"] + syn[1]
        spk = V >= c["Theta"]
        np.copyto(r, c["refr"], where=spk)
        np.copyto(V, c["V_reset"], where=spk)
        return spk
