"""``tsodyks_synapse``: short-term plasticity with the three-state resource model of Tsodyks,
Uziel & Markram (2000) (NEST 3.10's ``tsodyks_synapse``)."""

from __future__ import annotations

import math
from collections import namedtuple

import numba
import numpy as np

from ..cells.libm import exp as libm_exp
from ..cells.libm import expm1 as libm_expm1
from ..registry import PLASTICITY, Param, Var
from .base import PlasticityRule, no_end_of_slice, stamp_ms, stamp_ms_np

# ptab columns
U, TAU_PSC, TAU_REC, TAU_FAC, X0, Y0, U0 = range(7)

TsodyksState = namedtuple("TsodyksState",
                          "w x y u t_last sign delay tgt par ptab pt_indptr pt_syn")


@numba.njit(cache=True)
def on_pre(st, s, q, hist, dt):
    tab = st.ptab[st.par[s]]
    t_spike = stamp_ms(q, dt)
    h = t_spike - stamp_ms(st.t_last[s], dt)
    tau_psc, tau_rec = tab[TAU_PSC], tab[TAU_REC]
    puu = 0.0 if tab[TAU_FAC] == 0.0 else math.exp(-h / tab[TAU_FAC])
    pyy = math.exp(-h / tau_psc)
    pzz = math.expm1(-h / tau_rec)
    pxy = (pzz * tau_rec - (pyy - 1.0) * tau_psc) / (tau_psc - tau_rec)
    x, y = st.x[s], st.y[s]
    z = 1.0 - x - y
    u = st.u[s] * puu
    x = x + pxy * y - pzz * z
    y = y * pyy
    u = u + tab[U] * (1.0 - u)
    delta = u * x
    st.u[s] = u
    st.x[s] = x - delta
    st.y[s] = y + delta
    st.t_last[s] = q
    return delta * (st.sign[s] * st.w[s])


@PLASTICITY.register
class TsodyksSynapse(PlasticityRule):
    """Short-term depression and facilitation with recovered, active and inactive resources
    (NEST ``tsodyks_synapse``; Tsodyks, Uziel & Markram 2000).

    Resources are recovered (x), active (y, decaying with τ_psc into inactive) or inactive
    (z = 1 − x − y, recovering with τ_rec); a spike first propagates x, y, z and the
    facilitation variable u (decaying with τ_fac; τ_fac = 0: none) over the time h since the
    previous spike (exactly), then sets u ← u + U·(1 − u) and moves u·x from recovered to active,
    delivering ``u·x·weight``. Time runs from 0 ms before the first spike, as in NEST. τ_psc should
    equal the target's synaptic time constant (NEST's documentation); τ_psc = τ_rec is refused
    (NEST divides by their difference)."""

    name = "tsodyks_synapse"
    nest_model = "tsodyks_synapse"
    short_term = True
    params = (Param("U", 0.5, "", "facilitation increment of u per spike", ge=0.0, le=1.0),
              Param("tau_psc", 3.0, "ms", "decay time constant of the active resources",
                    gt=0.0),
              Param("tau_rec", 800.0, "ms", "recovery time constant of inactive resources",
                    gt=0.0),
              Param("tau_fac", 0.0, "ms", "facilitation time constant (0: none)", ge=0.0),
              Param("x", 1.0, "", "recovered resources at time 0", ge=0.0, le=1.0),
              Param("y", 0.0, "", "active resources at time 0", ge=0.0, le=1.0),
              Param("u", 0.0, "", "facilitation variable at time 0", ge=0.0, le=1.0))
    synapse_state = (Var("w", "", "weight magnitude (fixed)"),
                     Var("x", "", "recovered resources after the last spike"),
                     Var("y", "", "active resources after the last spike"),
                     Var("u", "", "facilitation variable after the last spike"),
                     Var("t_last", "steps", "stamp of the last spike (0 before the first)",
                         "int64"))
    state_type = TsodyksState
    on_pre = on_pre
    end_of_slice = no_end_of_slice
    references = ("Tsodyks M, Uziel A, Markram H (2000). Synchrony generation in recurrent "
                  "networks with frequency-dependent synapses. J Neurosci 20:RC50.",
                  "Tsodyks MV, Markram H (1997). The neural code between neocortical pyramidal "
                  "neurons depends on neurotransmitter release probability. PNAS 94:719-723.")
    example = {"U": 0.3, "tau_psc": 2.0, "tau_rec": 120.0, "tau_fac": 40.0, "x": 1.0,
               "y": 0.0, "u": 0.0}

    def check_params(self, p, owner):
        if p["x"] + p["y"] > 1.0:
            raise ValueError(f"{owner}: tsodyks_synapse needs x + y <= 1 (got {p['x']} + "
                             f"{p['y']})")
        if p["tau_psc"] == p["tau_rec"]:
            raise ValueError(f"{owner}: tsodyks_synapse needs tau_psc != tau_rec (both "
                             f"{p['tau_psc']} ms)")

    def init_state(self, w0, ptab, par):
        n = len(w0)
        tab = ptab[par] if n else np.zeros((0, len(self.params)))
        return {"w": np.abs(np.asarray(w0, np.float64)), "x": tab[:, X0].copy(),
                "y": tab[:, Y0].copy(), "u": tab[:, U0].copy(),
                "t_last": np.zeros(n, np.int64)}

    def on_pre_np(self, st, s, q, hist, dt):
        tab = st["ptab"][st["par"][s]]
        h = stamp_ms_np(q, dt) - stamp_ms_np(st["t_last"][s], dt)
        tau_psc, tau_rec, fac = tab[:, TAU_PSC], tab[:, TAU_REC], tab[:, TAU_FAC]
        puu = np.where(fac == 0.0, 0.0, libm_exp(-h / np.where(fac == 0.0, 1.0, fac)))
        pyy = libm_exp(-h / tau_psc)
        pzz = libm_expm1(-h / tau_rec)
        pxy = (pzz * tau_rec - (pyy - 1.0) * tau_psc) / (tau_psc - tau_rec)
        x, y = st["x"][s], st["y"][s]
        z = 1.0 - x - y
        u = st["u"][s] * puu
        x = x + pxy * y - pzz * z
        y = y * pyy
        u = u + tab[:, U] * (1.0 - u)
        delta = u * x
        st["u"][s] = u
        st["x"][s] = x - delta
        st["y"][s] = y + delta
        st["t_last"][s] = q
        return delta * (st["sign"][s] * st["w"][s])
