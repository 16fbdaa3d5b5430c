"""``vogels_sprekeler_synapse``: symmetric STDP with constant depression, the inhibitory
plasticity of Vogels et al. (2011) (NEST 3.10's ``vogels_sprekeler_synapse``).

As NEST (models/vogels_sprekeler_synapse.h), evaluated lazily at each pre spike at t (the last
one at t'): every post spike p with t' < p + d <= t (d the dendritic delay, the synapse's delay)
facilitates w ← min(|w| + η·K+(p + d), |W_max|) with the pre trace K+ (time constant τ); then
the pre spike itself facilitates by the post trace, w ← min(|w| + η·K−(t − d), |W_max|) (NEST's
archiver value strictly before t − d, time constant τ_minus of the post-synaptic neuron), and
depresses, w ← max(|w| − α·η, 0); K+ ← K+·exp(−(t − t')/τ) + 1.
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

# ptab columns (the traces' time constants where stdp_synapse has them)
TAU, TAU_MINUS, ALPHA, ETA, WMAX = range(5)

VogelsState = namedtuple("VogelsState", "w w_pending kplus t_last kminus p_last "
                                        "sign delay tgt par ptab pt_indptr pt_syn")


@numba.njit(cache=True)
def _facilitate(w, k, tab):
    new_w = w + tab[ETA] * k
    wmax = abs(tab[WMAX])
    return new_w if new_w < wmax else wmax


@numba.njit(cache=True)
def _consume_posts(st, s, limit, hist, dt):
    """Facilitation by every post spike p of synapse ``s``'s target with p_last < p and
    p + d <= ``limit``, in order; tracks the post trace K− as NEST's archiver."""
    tab = st.ptab[st.par[s]]
    d = st.delay[s]
    row = hist[st.tgt[s]]
    for h in range(row.shape[0]):
        p = row[h]
        if p < 0 or p <= st.p_last[s]:
            continue
        if p + d > limit:
            break
        minus_dt = (st.t_last[s] - (p + d)) * dt
        st.w_pending[s] = _facilitate(st.w_pending[s],
                                      st.kplus[s] * math.exp(minus_dt / tab[TAU]), tab)
        st.kminus[s] = trace_after(st.kminus[s], st.p_last[s], p, dt, tab[TAU_MINUS])
        st.p_last[s] = p


@numba.njit(cache=True)
def on_pre(st, s, q, hist, dt):
    tab = st.ptab[st.par[s]]
    _consume_posts(st, s, q, hist, dt)
    wn = _facilitate(st.w_pending[s], kminus_at(st, s, q, dt, tab[TAU_MINUS]), tab)
    wn = wn - tab[ALPHA] * tab[ETA]
    if not wn > 0.0:
        wn = 0.0
    st.w[s] = wn
    st.w_pending[s] = wn
    st.kplus[s] = st.kplus[s] * math.exp((st.t_last[s] - q) * dt / tab[TAU]) + 1.0
    st.t_last[s] = q
    return st.sign[s] * wn


@numba.njit(cache=True)
def end_of_slice(st, limit, hist, dt, risk):
    for s in forced_synapses(st, risk):
        _consume_posts(st, s, limit, hist, dt)


# ------------------------------------------------------------------------ NumPy reference
def _facilitate_np(w, k, tab):
    new_w = w + tab[:, ETA] * k
    wmax = np.abs(tab[:, WMAX])
    return np.where(new_w < wmax, new_w, wmax)


def _consume_posts_np(st, s, limit, hist, dt):
    for ss, pp, dd in unconsumed_posts_np(st, s, limit, hist):
        tab = st["ptab"][st["par"][ss]]
        minus_dt = (st["t_last"][ss] - (pp + dd)) * dt
        kp = st["kplus"][ss] * libm_exp(minus_dt / tab[:, TAU])
        st["w_pending"][ss] = _facilitate_np(st["w_pending"][ss], kp, tab)
        st["kminus"][ss] = trace_after_np(st["kminus"][ss], st["p_last"][ss], pp, dt,
                                          tab[:, TAU_MINUS])
        st["p_last"][ss] = pp


@PLASTICITY.register
class VogelsSprekelerSynapse(PostHistoryRule):
    """Symmetric STDP with constant depression: inhibitory plasticity after Vogels et al. 2011
    (NEST ``vogels_sprekeler_synapse``).

    Every pre/post pairing potentiates, whatever the order: by η·K+ at each post spike and by
    η·K− at each pre spike (K+ and K− the pre and post traces, time constants ``tau`` and
    ``tau_minus``); every pre spike also depresses by α·η (α = 2·τ·ρ0 sets the target rate ρ0).
    The magnitude stays between 0 and that of W_max. Evaluated lazily at pre spikes as NEST
    does, post spikes seen through the dendritic delay. NEST gives the weight the sign of W_max; wbe keeps the sign
    of the initial weight (the same when they agree, as for an inhibitory synapse with negative
    weight and W_max). ``tau_minus`` is a neuron parameter in NEST (the runner sets it on the
    targets).
    """

    name = "vogels_sprekeler_synapse"
    nest_model = "vogels_sprekeler_synapse"
    params = (Param("tau", 20.0, "ms", "time constant of the pre-synaptic trace", gt=0.0),
              Param("tau_minus", 20.0, "ms",
                    "time constant of the post-synaptic trace (a neuron parameter in NEST)",
                    gt=0.0),
              Param("alpha", 0.12, "", "constant depression per pre spike, in units of eta "
                    "(2·tau·target rate)", ge=0.0),
              Param("eta", 0.001, "", "learning rate", ge=0.0),
              Param("Wmax", 1.0, "", "largest weight magnitude (the projection's unit; its "
                    "sign is the weight's in NEST)"))
    synapse_state = (Var("w", "", "weight magnitude, as NEST reports it"),
                     Var("w_pending", "", "weight with the facilitation by post spikes since "
                                          "the last pre spike applied"),
                     Var("kplus", "", "pre-synaptic trace K+ at the last pre spike"),
                     Var("t_last", "steps", "stamp of the last pre spike", "int64"),
                     Var("kminus", "", "post-synaptic trace K- after the last consumed post "
                                       "spike"),
                     Var("p_last", "steps", "stamp of the last consumed post spike (-1 none)",
                         "int64"))
    state_type = VogelsState
    on_pre = on_pre
    end_of_slice = end_of_slice
    references = ("Vogels TP, Sprekeler H, Zenke F, Clopath C, Gerstner W (2011). Inhibitory "
                  "plasticity balances excitation and inhibition in sensory pathways and memory "
                  "networks. Science 334:1569-1573.",)
    example = {"tau": 20.0, "tau_minus": 15.0, "alpha": 0.3, "eta": 0.05, "Wmax": 5.0}

    def check_params(self, p, owner):
        if p["Wmax"] == 0.0:
            raise ValueError(f"{owner}: Wmax of {self.name!r} must not be 0")

    def init_state(self, w0, ptab, par):
        n = len(w0)
        a = np.abs(np.asarray(w0, np.float64))
        return {"w": a.copy(), "w_pending": a.copy(), "kplus": np.zeros(n),
                "t_last": np.zeros(n, np.int64), "kminus": np.zeros(n),
                "p_last": np.full(n, -1, np.int64)}

    def on_pre_np(self, st, s, q, hist, dt):
        _consume_posts_np(st, s, q, hist, dt)
        tab = st["ptab"][st["par"][s]]
        km = kminus_at_np(st, s, q, dt, tab[:, TAU_MINUS])
        wn = _facilitate_np(st["w_pending"][s], km, tab) - tab[:, ALPHA] * tab[:, ETA]
        wn = np.where(wn > 0.0, wn, 0.0)
        st["w"][s] = wn
        st["w_pending"][s] = wn
        st["kplus"][s] = st["kplus"][s] * libm_exp((st["t_last"][s] - q) * dt
                                                   / tab[:, TAU]) + 1.0
        st["t_last"][s] = q
        return st["sign"][s] * wn

    def consume_posts_np(self, st, s, limit, hist, dt):
        _consume_posts_np(st, s, limit, hist, dt)
