"""``aeif_cond_alpha_astro``: ``aeif_cond_alpha`` that takes astrocytes' slow inward current."""

from __future__ import annotations

import math

import numba
import numpy as np

from ..registry import CELLS, Port, Var
from .aeif_cond_alpha import AeifCondAlpha
from .aeif_cond_exp import aeif_step_np, i_spike_np, v_aeif_np
from .common import SPIKE_PORT
from .rkf45 import init_h, make_evolve

_H = 18  # constant columns as aeif_cond_alpha's: ..., g0_ex 16, g0_in 17, h_step 18


@numba.njit(cache=True)
def _rhs(y, f, c, istim, refr):
    # y: V, dg_ex, g_ex, dg_in, g_in, w, I_SIC (constant over the step: its derivative is 0,
    # so the step control, which sees no error in it, takes NEST's steps)
    if refr:
        v = c[11]
    else:
        v = y[0] if y[0] < c[10] else c[10]
    dg_ex, g_ex, dg_in, g_in, w = y[1], y[2], y[3], y[4], y[5]
    i_syn_exc = g_ex * (v - c[3])
    i_syn_inh = g_in * (v - c[4])
    i_spike = 0.0 if c[6] == 0.0 else c[1] * c[6] * math.exp((v - c[5]) / c[6])
    if refr:
        f[0] = 0.0
    else:
        f[0] = (-c[1] * (v - c[2]) + i_spike - i_syn_exc - i_syn_inh - w + c[14] + istim
                + y[6]) / c[0]
    f[1] = -dg_ex / c[12]
    f[2] = dg_ex - g_ex / c[12]
    f[3] = -dg_in / c[13]
    f[4] = dg_in - g_in / c[13]
    f[5] = (c[8] * (v - c[2]) - w) / c[7]
    f[6] = 0.0


def _rhs_np(y, c, istim, refr):
    v = v_aeif_np(y[0], c, refr)
    dg_ex, g_ex, dg_in, g_in, w = y[1], y[2], y[3], y[4], y[5]
    i_syn_exc = g_ex * (v - c["E_ex"])
    i_syn_inh = g_in * (v - c["E_in"])
    f = np.empty_like(y)
    f[0] = np.where(refr, 0.0, (-c["g_L"] * (v - c["E_L"]) + i_spike_np(v, c) - i_syn_exc
                                - i_syn_inh - w + c["I_e"] + istim + y[6]) / c["C_m"])
    f[1] = -dg_ex / c["tau_syn_ex"]
    f[2] = dg_ex - g_ex / c["tau_syn_ex"]
    f[3] = -dg_in / c["tau_syn_in"]
    f[4] = dg_in - g_in / c["tau_syn_in"]
    f[5] = (c["a"] * (v - c["E_L"]) - w) / c["tau_w"]
    f[6] = 0.0
    return f


_evolve = make_evolve(_rhs)


@numba.njit(cache=True)
def kernel(b, ring, slot, istim, out_slot, out_stamp, nspk, stamp):
    sf, r, ctab, itab, ci = b.sf, b.si[0], b.ctab, b.itab, b.ci
    init_h(sf[7], ctab, ci, _H)
    y = np.empty(7)
    w = np.empty((10, 7))
    for i in range(sf.shape[1]):
        j = b.a + i
        c = ctab[ci[i]]
        v_peak = c[10] if c[6] > 0.0 else c[5]
        for q in range(7):
            y[q] = sf[q, i]
        t, h = 0.0, sf[7, i]
        spiked = False
        while t < c[_H]:
            t, h = _evolve(t, c[_H], h, y, c, istim[j], r[i] > 0, c[15], c[15], 0.0, 1.0, w)
            if y[0] < -1e3 or y[5] < -1e6 or y[5] > 1e6:
                raise FloatingPointError("aeif_cond_alpha_astro: numerical instability")
            if r[i] > 0:
                y[0] = c[11]
            elif y[0] >= v_peak:
                y[0] = c[11]
                y[5] += c[9]
                refr = itab[ci[i], 0]
                r[i] = refr + 1 if refr > 0 else 0
                spiked = True
        if r[i] > 0:
            r[i] -= 1
        y[1] += ring[0, slot, j] * c[16]
        y[3] += -ring[1, slot, j] * c[17]
        y[6] = ring[2, slot, j]  # the SIC arriving in this step acts from the next one on
        ring[0, slot, j] = 0.0
        ring[1, slot, j] = 0.0
        ring[2, slot, j] = 0.0
        if spiked:
            out_slot[nspk] = j
            out_stamp[nspk] = stamp
            nspk += 1
        for q in range(7):
            sf[q, i] = y[q]
        sf[7, i] = h
    return nspk


@CELLS.register
class AeifCondAlphaAstro(AeifCondAlpha):
    """``aeif_cond_alpha`` with a slow inward current from astrocytes (NEST's
    ``aeif_cond_alpha_astro``).

    The AdEx neuron with alpha conductances, plus the current ``I_SIC`` (pA) that
    ``sic_connection``s from ``astrocyte_lr_1994`` nodes bring (weight × the astrocyte's SIC):
    what arrives in a step is the neuron's ``I_SIC`` from the end of that step on, added to the
    membrane equation as ``I_e`` is.
    """

    name = "aeif_cond_alpha_astro"
    nest_model = "aeif_cond_alpha_astro"
    state = (*AeifCondAlpha.state[:6],
             Var("I_SIC", "pA", "slow inward current from astrocytes"),
             AeifCondAlpha.state[6])
    ports = (SPIKE_PORT, Port("SIC", 0, ("sic",), "slow inward current from astrocytes "
                              "(sic_connection): weight × SIC, pA", event="SIC"))
    recordables = (*AeifCondAlpha.recordables,
                   Var("I_SIC", "pA", "slow inward current from astrocytes", state="I_SIC"))
    references = (*AeifCondAlpha.references,
                  "Nadkarni S, Jung P (2003). Spontaneous oscillations of dressed neurons: a "
                  "new mechanism for epilepsy? Phys Rev Lett 91:268101.")
    kernel = kernel
    receptor_host = None

    def init_state(self, p):
        s = super().init_state(p)
        s["I_SIC"] = np.zeros(p["E_L"].size)
        return s

    def step(self, s, c, syn, i_stim_pA):
        n = s["V"].size
        names = ("V", "dg_ex", "g_ex", "dg_in", "g_in", "w", "I_SIC")
        h = np.where(s["h_int"] == 0.0, c["h_step"], s["h_int"])
        y = np.stack([s[k] for k in names])
        istim = np.broadcast_to(np.asarray(i_stim_pA, np.float64), (n,))
        spk = aeif_step_np(_rhs_np, y, h, s["r"], c, istim, 0, 5, self.name)
        y[1] += syn[0] * c["g0_ex"]
        y[3] += -syn[1] * c["g0_in"]
        y[6] = syn[2]
        for k, v in zip(names, y):
            s[k][...] = v
        s["h_int"][...] = h
        return spk
