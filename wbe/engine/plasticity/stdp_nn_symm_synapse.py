"""``stdp_nn_symm_synapse``: pair STDP with symmetric nearest-neighbour pairing (NEST 3.10's
``stdp_nn_symm_synapse``, Morrison et al. 2008, Fig. 7A)."""

from __future__ import annotations

import math
from collections import namedtuple

import numba
import numpy as np

from ..cells.libm import exp as libm_exp
from ..registry import PLASTICITY, Var
from .base import PostHistoryRule, forced_synapses, unconsumed_posts_np
from .stdp_synapse import (
    TAU_MINUS,
    TAU_PLUS,
    _depress,
    _depress_np,
    _facilitate,
    _facilitate_np,
)
from .stdp_synapse import StdpSynapse as _Stdp

NnSymmState = namedtuple("NnSymmState", "w w_pending t_last p_last p_prev "
                                        "sign delay tgt par ptab pt_indptr pt_syn")


@numba.njit(cache=True)
def _consume_posts(st, s, limit, hist, dt):
    """Facilitation by every post spike p of synapse ``s``'s target with p_last < p and
    p + d <= ``limit``, each paired with the last pre spike (trace 1 at it, NEST's initial
    "last pre spike" at t = 0); remembers the last two consumed post spikes."""
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
        st.w_pending[s] = _facilitate(st.w_pending[s], math.exp(minus_dt / tab[TAU_PLUS]),
                                      st.ptab, st.par[s])
        st.p_prev[s] = st.p_last[s]
        st.p_last[s] = p


@numba.njit(cache=True)
def nearest_kminus(st, s, q, dt, tab):
    """NEST's nearest-neighbour post trace strictly before q − d (the last consumed post spike,
    or the one before it when that falls exactly at q − d; 0 without one)."""
    d = st.delay[s]
    p = st.p_last[s] if st.p_last[s] + d < q else st.p_prev[s]
    return 0.0 if p < 0 else math.exp((p + d - q) * dt / tab[TAU_MINUS])


def nearest_kminus_np(st, s, q, dt, tab):
    """:func:`nearest_kminus` for the synapses ``s`` at once."""
    d = st["delay"][s]
    p = np.where(st["p_last"][s] + d < q, st["p_last"][s], st["p_prev"][s])
    return np.where(p < 0, 0.0, libm_exp((p + d - q) * dt / tab[:, TAU_MINUS]))


@numba.njit(cache=True)
def on_pre(st, s, q, hist, dt):
    tab = st.ptab[st.par[s]]
    _consume_posts(st, s, q, hist, dt)
    wn = _depress(st.w_pending[s], nearest_kminus(st, s, q, dt, tab), st.ptab,
                  st.par[s])
    st.w[s] = wn
    st.w_pending[s] = wn
    st.t_last[s] = q
    return st.sign[s] * wn


@numba.njit(cache=True)
def end_of_slice(st, limit, hist, dt, risk):
    for s in forced_synapses(st, risk):
        _consume_posts(st, s, limit, hist, dt)


def _consume_posts_np(st, s, limit, hist, dt):
    for ss, pp, dd in unconsumed_posts_np(st, s, limit, hist):
        tab = st["ptab"][st["par"][ss]]
        minus_dt = (st["t_last"][ss] - (pp + dd)) * dt
        st["w_pending"][ss] = _facilitate_np(st["w_pending"][ss],
                                             libm_exp(minus_dt / tab[:, TAU_PLUS]), tab)
        st["p_prev"][ss] = st["p_last"][ss]
        st["p_last"][ss] = pp


@PLASTICITY.register
class StdpNnSymmSynapse(PostHistoryRule):
    """Pair STDP with symmetric nearest-neighbour pairing (NEST ``stdp_nn_symm_synapse``).

    The weight dependence of ``stdp_synapse`` (λ, α, μ+, μ−, W_max), but each spike pairs only
    with the nearest spike of the other neuron: every post spike potentiates with the last pre
    spike, exp(−Δt/τ+) (NEST's "last pre spike" of a new synapse is at t = 0), and every pre
    spike depresses with the last post spike strictly before it, exp(−Δt/τ−). Lazy at pre
    spikes, post spikes seen through the dendritic delay, as NEST; ``tau_minus`` is a neuron
    parameter in NEST (the runner sets it on the targets).
    """

    name = "stdp_nn_symm_synapse"
    nest_model = "stdp_nn_symm_synapse"
    params = _Stdp.params
    synapse_state = (Var("w", "", "weight magnitude, as NEST reports it"),
                     Var("w_pending", "", "weight with the facilitation by post spikes since "
                                          "the last pre spike applied"),
                     Var("t_last", "steps", "stamp of the last pre spike (0 at first)",
                         "int64"),
                     Var("p_last", "steps", "stamp of the last consumed post spike (-1 none)",
                         "int64"),
                     Var("p_prev", "steps", "stamp of the post spike before it (-1 none)",
                         "int64"))
    state_type = NnSymmState
    on_pre = on_pre
    end_of_slice = end_of_slice
    references = ("Morrison A, Diesmann M, Gerstner W (2008). Phenomenological models of "
                  "synaptic plasticity based on spike timing. Biol Cybern 98:459-478.",)
    example = dict(_Stdp.example)

    def init_state(self, w0, ptab, par):
        n = len(w0)
        a = np.abs(np.asarray(w0, np.float64))
        return {"w": a.copy(), "w_pending": a.copy(), "t_last": np.zeros(n, np.int64),
                "p_last": np.full(n, -1, np.int64), "p_prev": np.full(n, -1, np.int64)}

    def on_pre_np(self, st, s, q, hist, dt):
        _consume_posts_np(st, s, q, hist, dt)
        tab = st["ptab"][st["par"][s]]
        wn = _depress_np(st["w_pending"][s], nearest_kminus_np(st, s, q, dt, tab), tab)
        st["w"][s] = wn
        st["w_pending"][s] = wn
        st["t_last"][s] = q
        return st["sign"][s] * wn

    def consume_posts_np(self, st, s, limit, hist, dt):
        _consume_posts_np(st, s, limit, hist, dt)
