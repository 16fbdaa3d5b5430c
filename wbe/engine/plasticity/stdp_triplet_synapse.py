"""``stdp_triplet_synapse``: triplet STDP (Pfister & Gerstner 2006), all-to-all interactions,
as NEST 3.10's ``stdp_triplet_synapse`` (models/stdp_triplet_synapse.h).

NEST's update, at a pre spike at t (dendritic delay d, last pre spike t_last):

* for every post spike p in (t_last − d, t − d] (through the archiver's history), in order:
  w ← min(W_max, |w| + K+(p + d) · (A+ + A+_3 · (K−_3(p) − 1))) — the pre trace K+ decayed to
  p + d, the post triplet trace just before p;
* K+_3 decays to t; w ← max(0, |w| − K−(t − d) · (A− + A−_3 · K+_3)) — the post pair trace
  strictly before t − d, the pre triplet trace just before t;
* K+_3 += 1; K+ ← K+ e^{(t_last − t)/τ+} + 1.

The post traces K− (``tau_minus``) and K−_3 (``tau_minus_triplet``) live on the neuron in
NEST (its archiver adds 1 at each post spike); here each synapse keeps their values at its last
consumed post spike, as ``stdp_synapse`` keeps K−.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numba
import numpy as np

from ..cells.libm import exp as libm_exp
from ..registry import PLASTICITY, Param, Var
from .base import PostHistoryRule, forced_synapses, unconsumed_posts_np
from .stdp_synapse import kminus_at, kminus_at_np, trace_after, trace_after_np

# ptab columns
TAU_PLUS, TAU_PLUS_3, TAU_MINUS, TAU_MINUS_3, A_PLUS, A_MINUS, A_PLUS_3, A_MINUS_3, WMAX = \
    range(9)

TripletState = namedtuple("TripletState", "w w_pending kplus kplus3 t_last kminus kminus3 "
                                          "p_last sign delay tgt par ptab pt_indptr pt_syn")


@numba.njit(cache=True)
def _consume_posts(st, s, limit, hist, dt):
    """Facilitation by every post spike p of synapse ``s``'s target with p_last < p and
    p + d <= ``limit``, in order, with the post triplet trace just before p; then the post
    traces K− and K−_3 include p (NEST's archiver)."""
    tab = st.ptab[st.par[s]]
    d = st.delay[s]
    row = hist[st.tgt[s]]
    for h in range(row.shape[0]):
        p = row[h]
        if p < 0 or p <= st.p_last[s]:
            continue
        if p + d > limit:
            break
        km3 = trace_after(st.kminus3[s], st.p_last[s], p, dt, tab[TAU_MINUS_3])
        km = trace_after(st.kminus[s], st.p_last[s], p, dt, tab[TAU_MINUS])
        kp = st.kplus[s] * math.exp((st.t_last[s] - (p + d)) * dt / tab[TAU_PLUS])
        new_w = st.w_pending[s] + kp * (tab[A_PLUS] + tab[A_PLUS_3] * (km3 - 1.0))
        st.w_pending[s] = new_w if new_w < tab[WMAX] else tab[WMAX]
        st.kminus3[s] = km3
        st.kminus[s] = km
        st.p_last[s] = p


@numba.njit(cache=True)
def on_pre(st, s, q, hist, dt):
    tab = st.ptab[st.par[s]]
    _consume_posts(st, s, q, hist, dt)
    km = kminus_at(st, s, q, dt, tab[TAU_MINUS])
    decay = (st.t_last[s] - q) * dt
    kp3 = st.kplus3[s] * math.exp(decay / tab[TAU_PLUS_3])
    new_w = st.w_pending[s] - km * (tab[A_MINUS] + tab[A_MINUS_3] * kp3)
    wn = new_w if new_w > 0.0 else 0.0
    st.w[s] = wn
    st.w_pending[s] = wn
    st.kplus3[s] = kp3 + 1.0
    st.kplus[s] = st.kplus[s] * math.exp(decay / tab[TAU_PLUS]) + 1.0
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
        pl = st["p_last"][ss]
        km3 = trace_after_np(st["kminus3"][ss], pl, pp, dt, tab[:, TAU_MINUS_3])
        km = trace_after_np(st["kminus"][ss], pl, pp, dt, tab[:, TAU_MINUS])
        kp = st["kplus"][ss] * libm_exp((st["t_last"][ss] - (pp + dd)) * dt
                                        / tab[:, TAU_PLUS])
        new_w = st["w_pending"][ss] + kp * (tab[:, A_PLUS] + tab[:, A_PLUS_3] * (km3 - 1.0))
        st["w_pending"][ss] = np.where(new_w < tab[:, WMAX], new_w, tab[:, WMAX])
        st["kminus3"][ss] = km3
        st["kminus"][ss] = km
        st["p_last"][ss] = pp


@PLASTICITY.register
class StdpTripletSynapse(PostHistoryRule):
    """Triplet STDP (Pfister & Gerstner 2006), all-to-all, as NEST's ``stdp_triplet_synapse``.

    Pair terms A+ (pre before post) and A− (post before pre) as in pair STDP, and triplet terms:
    potentiation grows with the post triplet trace (A+_3: post–pre–post), depression with the
    pre triplet trace (A−_3: pre–post–pre), which makes the rule rate dependent (BCM-like).
    Additive in absolute weight units, clipped to [0, W_max]; evaluated lazily at pre spikes as
    NEST does, post spikes seen through the dendritic delay. NEST keeps ``tau_minus`` and
    ``tau_minus_triplet`` on the post-synaptic neuron; here they are parameters of the rule (the
    NEST runner sets them on the targets). For a negative initial weight the magnitude is
    plastic and the sign kept (NEST wants W_max of the weight's sign for that).
    """

    name = "stdp_triplet_synapse"
    nest_model = "stdp_triplet_synapse"
    params = (Param("tau_plus", 16.8, "ms", "time constant of the pre-synaptic pair trace",
                    gt=0.0),
              Param("tau_plus_triplet", 101.0, "ms",
                    "time constant of the pre-synaptic triplet trace", gt=0.0),
              Param("tau_minus", 20.0, "ms", "time constant of the post-synaptic pair trace "
                    "(a neuron parameter in NEST)", gt=0.0),
              Param("tau_minus_triplet", 110.0, "ms", "time constant of the post-synaptic "
                    "triplet trace (a neuron parameter in NEST)", gt=0.0),
              Param("Aplus", 5e-10, "", "pair potentiation amplitude (weight units)", ge=0.0),
              Param("Aminus", 7e-3, "", "pair depression amplitude (weight units)", ge=0.0),
              Param("Aplus_triplet", 6.2e-3, "", "triplet potentiation amplitude", ge=0.0),
              Param("Aminus_triplet", 2.3e-4, "", "triplet depression amplitude", ge=0.0),
              Param("Wmax", 100.0, "", "largest weight magnitude (the projection's unit)",
                    gt=0.0))
    post_params = ("tau_minus", "tau_minus_triplet")
    synapse_state = (Var("w", "", "weight magnitude, as NEST reports it"),
                     Var("w_pending", "", "weight with the facilitation by post spikes since "
                                          "the last pre spike applied"),
                     Var("kplus", "", "pre-synaptic pair trace K+ at the last pre spike"),
                     Var("kplus3", "", "pre-synaptic triplet trace at the last pre spike"),
                     Var("t_last", "steps", "stamp of the last pre spike", "int64"),
                     Var("kminus", "", "post-synaptic pair trace after the last consumed post "
                                       "spike"),
                     Var("kminus3", "", "post-synaptic triplet trace after the last consumed "
                                        "post spike"),
                     Var("p_last", "steps", "stamp of the last consumed post spike (-1 none)",
                         "int64"))
    state_type = TripletState
    on_pre = on_pre
    end_of_slice = end_of_slice
    references = ("Pfister JP, Gerstner W (2006). Triplets of spikes in a model of spike "
                  "timing-dependent plasticity. J Neurosci 26:9673-9682.",
                  "Morrison A, Diesmann M, Gerstner W (2008). Phenomenological models of "
                  "synaptic plasticity based on spike timing. Biol Cybern 98:459-478.")
    #: the visual-cortex all-to-all fit of Pfister & Gerstner (2006, Table 4), amplitudes as
    #: fractions of the weight scale (example_params multiplies them by the largest weight)
    example = {"tau_plus": 16.8, "tau_plus_triplet": 101.0, "tau_minus": 33.7,
               "tau_minus_triplet": 125.0, "Aplus": 5e-3, "Aminus": 7e-2,
               "Aplus_triplet": 6.2e-2, "Aminus_triplet": 2.3e-3}

    def example_params(self, weights, headroom: float = 2.0):
        w = float(np.max(np.abs(weights)))
        out = {k: (v * w if k.startswith("A") else v) for k, v in self.example.items()}
        return {**out, "Wmax": headroom * w}

    def init_state(self, w0, ptab, par):
        n = len(w0)
        a = np.abs(np.asarray(w0, np.float64))
        return {"w": a.copy(), "w_pending": a.copy(), "kplus": np.zeros(n),
                "kplus3": np.zeros(n), "t_last": np.zeros(n, np.int64), "kminus": np.zeros(n),
                "kminus3": np.zeros(n), "p_last": np.full(n, -1, np.int64)}

    def on_pre_np(self, st, s, q, hist, dt):
        _consume_posts_np(st, s, q, hist, dt)
        tab = st["ptab"][st["par"][s]]
        km = kminus_at_np(st, s, q, dt, tab[:, TAU_MINUS])
        decay = (st["t_last"][s] - q) * dt
        kp3 = st["kplus3"][s] * libm_exp(decay / tab[:, TAU_PLUS_3])
        new_w = st["w_pending"][s] - km * (tab[:, A_MINUS] + tab[:, A_MINUS_3] * kp3)
        wn = np.where(new_w > 0.0, new_w, 0.0)
        st["w"][s] = wn
        st["w_pending"][s] = wn
        st["kplus3"][s] = kp3 + 1.0
        st["kplus"][s] = st["kplus"][s] * libm_exp(decay / tab[:, TAU_PLUS]) + 1.0
        st["t_last"][s] = q
        return st["sign"][s] * wn

    def consume_posts_np(self, st, s, limit, hist, dt):
        _consume_posts_np(st, s, limit, hist, dt)
