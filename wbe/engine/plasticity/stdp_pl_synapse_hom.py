"""``stdp_pl_synapse_hom``: power-law STDP (Morrison et al. 2007), as NEST 3.10's
``stdp_pl_synapse_hom`` (models/stdp_pl_synapse_hom.h).

At a pre spike at t (delay d): for every post spike p in (t_last − d, t − d], in order,
w ← w + λ w^μ K+(p + d) (K+ decayed with ``tau_plus`` through NEST's 1/τ+); then
w ← max(0, w − λ α w K−(t − d)) with the post trace strictly before t − d; K+ ← K+ e^{(t_last −
t)/τ+} + 1. Potentiation is unbounded (no W_max): the multiplicative depression balances it.
The parameters are common to all synapses of the model in NEST (``_hom``); here one set per
projection.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numba
import numpy as np

from ..cells.libm import exp as libm_exp
from ..cells.libm import pow as libm_pow
from ..registry import PLASTICITY, Param, Var
from .base import PostHistoryRule, forced_synapses, unconsumed_posts_np
from .stdp_synapse import kminus_at, kminus_at_np, trace_after, trace_after_np

# ptab columns
TAU_PLUS, TAU_MINUS, LAMBDA, ALPHA, MU = range(5)

PlState = namedtuple("PlState", "w w_pending kplus t_last kminus p_last "
                                "sign delay tgt par ptab pt_indptr pt_syn")


@numba.njit(cache=True)
def _consume_posts(st, s, limit, hist, dt):
    """Facilitation by every post spike p of synapse ``s``'s target with p_last < p and
    p + d <= ``limit``, in order; the post pair trace then includes p."""
    tab = st.ptab[st.par[s]]
    d = st.delay[s]
    row = hist[st.tgt[s]]
    inv = 1.0 / tab[TAU_PLUS]
    for h in range(row.shape[0]):
        p = row[h]
        if p < 0 or p <= st.p_last[s]:
            continue
        if p + d > limit:
            break
        kp = st.kplus[s] * math.exp((st.t_last[s] - (p + d)) * dt * inv)
        w = st.w_pending[s]
        st.w_pending[s] = w + tab[LAMBDA] * w ** tab[MU] * kp
        st.kminus[s] = trace_after(st.kminus[s], st.p_last[s], p, dt, tab[TAU_MINUS])
        st.p_last[s] = p


@numba.njit(cache=True)
def on_pre(st, s, q, hist, dt):
    tab = st.ptab[st.par[s]]
    _consume_posts(st, s, q, hist, dt)
    w = st.w_pending[s]
    new_w = w - tab[LAMBDA] * tab[ALPHA] * w * kminus_at(st, s, q, dt, tab[TAU_MINUS])
    wn = new_w if new_w > 0.0 else 0.0
    st.w[s] = wn
    st.w_pending[s] = wn
    st.kplus[s] = st.kplus[s] * math.exp((st.t_last[s] - q) * dt * (1.0 / tab[TAU_PLUS])) + 1.0
    st.t_last[s] = q
    return st.sign[s] * wn


@numba.njit(cache=True)
def end_of_slice(st, limit, hist, dt, risk):
    for s in forced_synapses(st, risk):
        _consume_posts(st, s, limit, hist, dt)


def _consume_posts_np(st, s, limit, hist, dt):
    """:func:`_consume_posts` for distinct synapses ``s`` at once (history column by column)."""
    for ss, pp, dd in unconsumed_posts_np(st, s, limit, hist):
        tab = st["ptab"][st["par"][ss]]
        kp = st["kplus"][ss] * libm_exp((st["t_last"][ss] - (pp + dd)) * dt
                                        * (1.0 / tab[:, TAU_PLUS]))
        w = st["w_pending"][ss]
        st["w_pending"][ss] = w + tab[:, LAMBDA] * libm_pow(w, tab[:, MU]) * kp
        st["kminus"][ss] = trace_after_np(st["kminus"][ss], st["p_last"][ss], pp, dt,
                                          tab[:, TAU_MINUS])
        st["p_last"][ss] = pp


@PLASTICITY.register
class StdpPlSynapseHom(PostHistoryRule):
    """Power-law STDP (Morrison et al. 2007), as NEST's ``stdp_pl_synapse_hom``.

    Potentiation by λ w^μ K+ at every post spike (a power of the weight, unbounded), depression
    by λ α w K− at every pre spike (multiplicative), all-to-all pairing, evaluated lazily at pre
    spikes as NEST does with post spikes seen through the dendritic delay. Fitted by Morrison
    et al. to van Rossum et al. (2000) and Bi & Poo (1998) with weights in pA. NEST keeps
    ``tau_minus`` on the post-synaptic neuron; here it is a parameter of the rule (the NEST
    runner sets it on the targets). For a negative initial weight the magnitude is plastic and
    the sign kept.
    """

    name = "stdp_pl_synapse_hom"
    nest_model = "stdp_pl_synapse_hom"
    params = (Param("tau_plus", 20.0, "ms", "time constant of the pre-synaptic trace", gt=0.0),
              Param("tau_minus", 20.0, "ms",
                    "time constant of the post-synaptic trace (a neuron parameter in NEST)",
                    gt=0.0),
              Param("lambda", 0.1, "", "learning rate", ge=0.0),
              Param("alpha", 1.0, "", "asymmetry: depression relative to potentiation", ge=0.0),
              Param("mu", 0.4, "", "exponent of the weight dependence of potentiation",
                    ge=0.0))
    synapse_state = (Var("w", "", "weight magnitude, as NEST reports it"),
                     Var("w_pending", "", "weight with the facilitation by post spikes since "
                                          "the last pre spike applied"),
                     Var("kplus", "", "pre-synaptic trace K+ at the last pre spike"),
                     Var("t_last", "steps", "stamp of the last pre spike", "int64"),
                     Var("kminus", "", "post-synaptic trace K- after the last consumed post "
                                       "spike"),
                     Var("p_last", "steps", "stamp of the last consumed post spike (-1 none)",
                         "int64"))
    state_type = PlState
    on_pre = on_pre
    end_of_slice = end_of_slice
    references = ("Morrison A, Aertsen A, Diesmann M (2007). Spike-timing-dependent plasticity "
                  "in balanced random networks. Neural Comput 19:1437-1467.",)
    #: Morrison et al. (2007): λ = 0.1, α = 0.0513, μ = 0.4 (weights in pA)
    example = {"tau_plus": 20.0, "tau_minus": 20.0, "lambda": 0.1, "alpha": 0.0513, "mu": 0.4}

    def example_params(self, weights, headroom: float = 2.0):
        return dict(self.example)  # unbounded: no W_max

    def init_state(self, w0, ptab, par):
        n = len(w0)
        a = np.abs(np.asarray(w0, np.float64))
        return {"w": a.copy(), "w_pending": a.copy(), "kplus": np.zeros(n),
                "t_last": np.zeros(n, np.int64), "kminus": np.zeros(n),
                "p_last": np.full(n, -1, np.int64)}

    def on_pre_np(self, st, s, q, hist, dt):
        _consume_posts_np(st, s, q, hist, dt)
        tab = st["ptab"][st["par"][s]]
        w = st["w_pending"][s]
        new_w = w - tab[:, LAMBDA] * tab[:, ALPHA] * w * kminus_at_np(st, s, q, dt,
                                                                       tab[:, TAU_MINUS])
        wn = np.where(new_w > 0.0, new_w, 0.0)
        st["w"][s] = wn
        st["w_pending"][s] = wn
        st["kplus"][s] = st["kplus"][s] * libm_exp((st["t_last"][s] - q) * dt
                                                   * (1.0 / tab[:, TAU_PLUS])) + 1.0
        st["t_last"][s] = q
        return st["sign"][s] * wn

    def consume_posts_np(self, st, s, limit, hist, dt):
        _consume_posts_np(st, s, limit, hist, dt)
