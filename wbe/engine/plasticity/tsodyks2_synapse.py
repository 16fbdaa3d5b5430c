"""``tsodyks2_synapse``: short-term depression and facilitation after Tsodyks & Markram, in the
form of Maass & Markram (2002) (NEST 3.10's ``tsodyks2_synapse``)."""

from __future__ import annotations

import math
from collections import namedtuple

import numba
import numpy as np

from ..cells.libm import exp as libm_exp
from ..registry import PLASTICITY, Param, Var
from .base import PlasticityRule, no_end_of_slice, stamp_ms, stamp_ms_np

# ptab columns
U, TAU_REC, TAU_FAC, U0, X0 = range(5)

Tsodyks2State = namedtuple("Tsodyks2State", "w u x t_last sign delay tgt par ptab pt_indptr pt_syn")


@numba.njit(cache=True)
def on_pre(st, s, q, hist, dt):
    r = st.par[s]
    tab = st.ptab
    t_spike = stamp_ms(q, dt)
    if st.t_last[s] >= 0:  # the first spike finds u and x as set
        h = t_spike - stamp_ms(st.t_last[s], dt)
        x_decay = math.exp(-h / tab[r, TAU_REC])
        u_decay = 0.0 if tab[r, TAU_FAC] == 0.0 else math.exp(-h / tab[r, TAU_FAC])
        x = st.x[s]
        u = st.u[s]
        st.x[s] = 1.0 + (x - x * u - 1.0) * x_decay
        st.u[s] = tab[r, U] + u * (1.0 - tab[r, U]) * u_decay
    st.t_last[s] = q
    return st.x[s] * st.u[s] * (st.sign[s] * st.w[s])


@PLASTICITY.register
class Tsodyks2Synapse(PlasticityRule):
    """Short-term depression and facilitation (NEST ``tsodyks2_synapse``; Tsodyks & Markram
    1997, Maass & Markram 2002).

    A spike at t, the previous one at t − h, delivers ``x·u·weight`` after updating the
    resources x ← 1 + (x − x·u − 1)·exp(−h/τ_rec) and the release probability
    u ← U + u·(1 − U)·exp(−h/τ_fac) (τ_fac = 0: no facilitation, u = U). The first spike of a
    synapse delivers with the initial ``u`` and ``x`` as given (NEST's defaults u = 0.5, x = 1,
    whatever U is). The weight itself does not change."""

    name = "tsodyks2_synapse"
    nest_model = "tsodyks2_synapse"
    short_term = True
    params = (Param("U", 0.5, "", "release probability increment per spike", ge=0.0, le=1.0),
              Param("tau_rec", 800.0, "ms", "recovery time constant of the resources", gt=0.0),
              Param("tau_fac", 0.0, "ms", "facilitation time constant (0: none)", ge=0.0),
              Param("u", 0.5, "", "release probability at the first spike", ge=0.0, le=1.0),
              Param("x", 1.0, "", "fraction of resources available at the first spike",
                    ge=0.0, le=1.0))
    synapse_state = (Var("w", "", "weight magnitude (fixed)"),
                     Var("u", "", "release probability after the last spike"),
                     Var("x", "", "available resources before the last spike's release"),
                     Var("t_last", "steps", "stamp of the last spike (-1 none)", "int64"))
    state_type = Tsodyks2State
    on_pre = on_pre
    end_of_slice = no_end_of_slice
    references = ("Tsodyks MV, Markram H (1997). The neural code between neocortical pyramidal "
                  "neurons depends on neurotransmitter release probability. PNAS 94:719-723.",
                  "Maass W, Markram H (2002). Synapses as dynamic memory buffers. Neural "
                  "Networks 15:155-161.")
    example = {"U": 0.2, "tau_rec": 100.0, "tau_fac": 50.0, "u": 0.2, "x": 1.0}

    def init_state(self, w0, ptab, par):
        n = len(w0)
        tab = ptab[par] if n else np.zeros((0, len(self.params)))
        return {"w": np.abs(np.asarray(w0, np.float64)), "u": tab[:, U0].copy(),
                "x": tab[:, X0].copy(), "t_last": np.full(n, -1, np.int64)}

    def on_pre_np(self, st, s, q, hist, dt):
        tab = st["ptab"][st["par"][s]]
        seen = st["t_last"][s] >= 0
        h = stamp_ms_np(q, dt) - stamp_ms_np(st["t_last"][s], dt)
        x_decay = libm_exp(-h / tab[:, TAU_REC])
        fac = tab[:, TAU_FAC]
        u_decay = np.where(fac == 0.0, 0.0, libm_exp(-h / np.where(fac == 0.0, 1.0, fac)))
        x, u = st["x"][s], st["u"][s]
        st["x"][s] = np.where(seen, 1.0 + (x - x * u - 1.0) * x_decay, x)
        st["u"][s] = np.where(seen, tab[:, U] + u * (1.0 - tab[:, U]) * u_decay, u)
        st["t_last"][s] = q
        return st["x"][s] * st["u"][s] * (st["sign"][s] * st["w"][s])
