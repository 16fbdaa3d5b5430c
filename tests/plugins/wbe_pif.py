"""A cell model from outside wbe, registered through the ``wbe.cells`` entry point group (see
tests/unit/test_plugins.py): the perfect (non-leaky) integrate-and-fire neuron with delta
synapses, C dV/dt = I_e + I(t), V jumps by the weight (mV) at each spike."""

from __future__ import annotations

import numba
import numpy as np

from wbe.engine.cells.base import CellModel, steps_of
from wbe.engine.registry import Param, Port, Var


@numba.njit(cache=True)
def pif_kernel(b, ring, slot, istim, out_slot, out_stamp, nspk, stamp):
    V, r = b.sf[0], b.si[0]
    ring_0 = ring[0, slot]
    for i in range(V.shape[0]):
        j = b.a + i
        c = b.ci[i]  # h/C, I_e, V_th, V_reset
        syn = ring_0[j]
        ring_0[j] = 0.0
        if r[i] == 0:
            V[i] = V[i] + b.ctab[c, 0] * (b.ctab[c, 1] + istim[j]) + syn
        else:
            r[i] -= 1
        if V[i] >= b.ctab[c, 2]:
            V[i] = b.ctab[c, 3]
            r[i] = b.itab[c, 0]
            out_slot[nspk] = j
            out_stamp[nspk] = stamp
            nspk += 1
    return nspk


class PerfectIntegrateAndFire(CellModel):
    """Perfect (non-leaky) integrate-and-fire neuron with delta synapses."""

    name = "pif_psc_delta"
    nest_model = None
    params = (Param("C_m", 250.0, "pF", "membrane capacitance", gt=0.0),
              Param("I_e", 0.0, "pA", "constant input current"),
              Param("V_th", -55.0, "mV", "threshold"),
              Param("V_reset", -70.0, "mV", "reset potential"),
              Param("t_ref", 2.0, "ms", "refractory period", ge=0.0),
              Param("V_m", -70.0, "mV", "initial membrane potential", initial=True))
    state = (Var("V", "mV", "membrane potential"),)
    ports = (Port("spike", 0, ("all",), "spikes; the weight (mV) jumps V_m"),)
    recordables = (Var("V_m", "mV", "membrane potential", state="V"),)
    consts = ("h_over_C", "I_e", "V_th", "V_reset")
    weight_unit = "mV"
    references = ("Lapicque L (1907). Recherches quantitatives sur l'excitation électrique des "
                  "nerfs traitée comme une polarisation. J Physiol Pathol Gen 9:620-635.",)
    example = {"params": {"I_e": 100.0}, "weight": 3.0, "current_pA": 50.0}
    kernel = pif_kernel

    def constants(self, p, dt_ms):
        return dict(h_over_C=dt_ms / p["C_m"], I_e=p["I_e"], V_th=p["V_th"],
                    V_reset=p["V_reset"], refr=steps_of(p["t_ref"], dt_ms))

    def init_state(self, p):
        return dict(V=p["V_m"].copy(), r=np.zeros(p["V_m"].size, dtype=np.int64))

    def step(self, s, c, syn, i_stim_pA):
        V, r = s["V"], s["r"]
        free = r == 0
        np.copyto(V, V + c["h_over_C"] * (c["I_e"] + i_stim_pA) + syn[0], where=free)
        r -= ~free
        spk = V >= c["V_th"]
        np.copyto(V, c["V_reset"], where=spk)
        np.copyto(r, c["refr"], where=spk)
        return spk
