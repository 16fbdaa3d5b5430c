"""``ht_synapse``: the synaptic depression of Hill & Tononi (2005) (NEST 3.10's
``ht_synapse``)."""

from __future__ import annotations

import math
from collections import namedtuple

import numba
import numpy as np

from ..cells.libm import exp as libm_exp
from ..registry import PLASTICITY, Param, Var
from .base import PlasticityRule, no_end_of_slice, stamp_ms, stamp_ms_np

# ptab columns
TAU_P, DELTA_P, P0 = range(3)

HtState = namedtuple("HtState", "w p t_last sign delay tgt par ptab pt_indptr pt_syn")


@numba.njit(cache=True)
def on_pre(st, s, q, hist, dt):
    tab = st.ptab[st.par[s]]
    t_spike = stamp_ms(q, dt)
    h = t_spike - stamp_ms(st.t_last[s], dt)
    p = 1.0 - (1.0 - st.p[s]) * math.exp(-h / tab[TAU_P])
    st.p[s] = p * (1.0 - tab[DELTA_P])
    st.t_last[s] = q
    return (st.sign[s] * st.w[s]) * p


@PLASTICITY.register
class HtSynapse(PlasticityRule):
    """Synaptic depression of Hill & Tononi (2005) (NEST ``ht_synapse``).

    The release probability P recovers towards 1 with τ_P between spikes,
    P ← 1 − (1 − P)·exp(−h/τ_P); a spike delivers ``weight·P`` and then depletes
    P ← P·(1 − δ_P). Time runs from 0 ms before the first spike, as in NEST. The weight itself
    does not change."""

    name = "ht_synapse"
    nest_model = "ht_synapse"
    short_term = True
    params = (Param("tau_P", 500.0, "ms", "recovery time constant of P", gt=0.0),
              Param("delta_P", 0.125, "", "fractional depletion of P per spike", ge=0.0, le=1.0),
              Param("P", 1.0, "", "release probability at time 0", ge=0.0, le=1.0))
    synapse_state = (Var("w", "", "weight magnitude (fixed)"),
                     Var("p", "", "release probability after the last spike's depletion"),
                     Var("t_last", "steps", "stamp of the last spike (0 before the first)",
                         "int64"))
    state_type = HtState
    on_pre = on_pre
    end_of_slice = no_end_of_slice
    references = ("Hill S, Tononi G (2005). Modeling sleep and wakefulness in the "
                  "thalamocortical system. J Neurophysiol 93:1671-1698.",)
    example = {"tau_P": 200.0, "delta_P": 0.3, "P": 1.0}

    def init_state(self, w0, ptab, par):
        n = len(w0)
        tab = ptab[par] if n else np.zeros((0, len(self.params)))
        return {"w": np.abs(np.asarray(w0, np.float64)), "p": tab[:, P0].copy(),
                "t_last": np.zeros(n, np.int64)}

    def on_pre_np(self, st, s, q, hist, dt):
        tab = st["ptab"][st["par"][s]]
        h = stamp_ms_np(q, dt) - stamp_ms_np(st["t_last"][s], dt)
        p = 1.0 - (1.0 - st["p"][s]) * libm_exp(-h / tab[:, TAU_P])
        st["p"][s] = p * (1.0 - tab[:, DELTA_P])
        st["t_last"][s] = q
        return (st["sign"][s] * st["w"][s]) * p
