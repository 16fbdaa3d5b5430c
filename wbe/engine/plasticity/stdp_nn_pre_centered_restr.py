"""``stdp_nn_pre_centered_synapse`` and ``stdp_nn_restr_synapse``: pair STDP with
presynaptic-centred and restricted symmetric nearest-neighbour pairing (NEST 3.10; Morrison et
al. 2008, Fig. 7B and 7C).

As NEST (models/stdp_nn_pre_centered_synapse.h, stdp_nn_restr_synapse.h), lazily at each pre
spike at t (the previous at t'; NEST's first t' is 0): only the *first* post spike p with
t' < p + d <= t potentiates — pre-centred: with the pre trace K+·exp(−(p + d − t')/τ+), after
which K+ is reset to 0; restricted: with exp(−(p + d − t')/τ+) — and the pre spike depresses
with the nearest post spike strictly before t − d, exp(−Δt/τ−) — pre-centred always,
restricted only if a post spike fell in the interval. Pre-centred then sets
K+ ← K+·exp(−(t − t')/τ+) + 1.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numba
import numpy as np

from ..cells.libm import exp as libm_exp
from ..registry import PLASTICITY, Var
from .base import PostHistoryRule, forced_synapses, unconsumed_posts_np
from .stdp_nn_symm_synapse import nearest_kminus, nearest_kminus_np
from .stdp_synapse import TAU_PLUS, _depress, _depress_np, _facilitate, _facilitate_np
from .stdp_synapse import StdpSynapse as _Stdp

CENTRED, RESTRICTED = 0, 1

NnState = namedtuple("NnState", "w w_pending kplus t_last p_last p_prev "
                                "sign delay tgt par ptab pt_indptr pt_syn")


@numba.njit(cache=True)
def _consume_posts(st, s, limit, hist, dt, mode):
    """Post spikes p of synapse ``s``'s target with p_last < p and p + d <= ``limit``, in
    order: the first one after the last pre spike potentiates; the last two are remembered."""
    tab = st.ptab[st.par[s]]
    d = st.delay[s]
    row = hist[st.tgt[s]]
    for h in range(row.shape[0]):
        p = row[h]
        if p < 0 or p <= st.p_last[s]:
            continue
        if p + d > limit:
            break
        if st.p_last[s] < 0 or st.p_last[s] + d <= st.t_last[s]:  # first since the last pre
            k = math.exp((st.t_last[s] - (p + d)) * dt / tab[TAU_PLUS])
            if mode == CENTRED:
                k = st.kplus[s] * k
                st.kplus[s] = 0.0
            st.w_pending[s] = _facilitate(st.w_pending[s], k, st.ptab, st.par[s])
        st.p_prev[s] = st.p_last[s]
        st.p_last[s] = p


@numba.njit(cache=True)
def on_pre_centred(st, s, q, hist, dt):
    tab = st.ptab[st.par[s]]
    _consume_posts(st, s, q, hist, dt, CENTRED)
    wn = _depress(st.w_pending[s], nearest_kminus(st, s, q, dt, tab), st.ptab,
                  st.par[s])
    st.w[s] = wn
    st.w_pending[s] = wn
    st.kplus[s] = st.kplus[s] * math.exp((st.t_last[s] - q) * dt / tab[TAU_PLUS]) + 1.0
    st.t_last[s] = q
    return st.sign[s] * wn


@numba.njit(cache=True)
def on_pre_restricted(st, s, q, hist, dt):
    tab = st.ptab[st.par[s]]
    _consume_posts(st, s, q, hist, dt, RESTRICTED)
    wn = st.w_pending[s]
    if st.p_last[s] >= 0 and st.p_last[s] + st.delay[s] > st.t_last[s]:  # a post since
        wn = _depress(wn, nearest_kminus(st, s, q, dt, tab), st.ptab,
                  st.par[s])
    st.w[s] = wn
    st.w_pending[s] = wn
    st.t_last[s] = q
    return st.sign[s] * wn


@numba.njit(cache=True)
def _end_of_slice(st, limit, hist, dt, risk, mode):
    for s in forced_synapses(st, risk):
        _consume_posts(st, s, limit, hist, dt, mode)


@numba.njit(cache=True)
def end_of_slice_centred(st, limit, hist, dt, risk):
    _end_of_slice(st, limit, hist, dt, risk, CENTRED)


@numba.njit(cache=True)
def end_of_slice_restricted(st, limit, hist, dt, risk):
    _end_of_slice(st, limit, hist, dt, risk, RESTRICTED)


# ------------------------------------------------------------------------ NumPy reference
def _consume_posts_np(st, s, limit, hist, dt, mode):
    for ss, pp, dd in unconsumed_posts_np(st, s, limit, hist):
        tab = st["ptab"][st["par"][ss]]
        pl, tl = st["p_last"][ss], st["t_last"][ss]
        first = (pl < 0) | (pl + dd <= tl)
        k = libm_exp((tl - (pp + dd)) * dt / tab[:, TAU_PLUS])
        if mode == CENTRED:
            k = st["kplus"][ss] * k
            st["kplus"][ss] = np.where(first, 0.0, st["kplus"][ss])
        st["w_pending"][ss] = np.where(first, _facilitate_np(st["w_pending"][ss], k, tab),
                                       st["w_pending"][ss])
        st["p_prev"][ss] = pl
        st["p_last"][ss] = pp


class _NnRule(PostHistoryRule):
    mode = CENTRED
    params = _Stdp.params
    synapse_state = (Var("w", "", "weight magnitude, as NEST reports it"),
                     Var("w_pending", "", "weight with the facilitation by post spikes since "
                                          "the last pre spike applied"),
                     Var("kplus", "", "pre-synaptic trace K+ after the last pre spike "
                                      "(pre-centred; unused when restricted)"),
                     Var("t_last", "steps", "stamp of the last pre spike (0 at first)",
                         "int64"),
                     Var("p_last", "steps", "stamp of the last consumed post spike (-1 none)",
                         "int64"),
                     Var("p_prev", "steps", "stamp of the post spike before it (-1 none)",
                         "int64"))
    state_type = NnState
    references = ("Morrison A, Diesmann M, Gerstner W (2008). Phenomenological models of "
                  "synaptic plasticity based on spike timing. Biol Cybern 98:459-478.",)
    example = dict(_Stdp.example)

    def init_state(self, w0, ptab, par):
        n = len(w0)
        a = np.abs(np.asarray(w0, np.float64))
        return {"w": a.copy(), "w_pending": a.copy(), "kplus": np.zeros(n),
                "t_last": np.zeros(n, np.int64), "p_last": np.full(n, -1, np.int64),
                "p_prev": np.full(n, -1, np.int64)}

    def on_pre_np(self, st, s, q, hist, dt):
        tab = st["ptab"][st["par"][s]]
        _consume_posts_np(st, s, q, hist, dt, self.mode)
        if self.mode == CENTRED:
            wn = _depress_np(st["w_pending"][s], nearest_kminus_np(st, s, q, dt, tab), tab)
            st["kplus"][s] = st["kplus"][s] * libm_exp((st["t_last"][s] - q) * dt
                                                       / tab[:, TAU_PLUS]) + 1.0
        else:
            pl = st["p_last"][s]
            had = (pl >= 0) & (pl + st["delay"][s] > st["t_last"][s])
            wn = np.where(had, _depress_np(st["w_pending"][s], nearest_kminus_np(st, s, q, dt, tab),
                                           tab), st["w_pending"][s])
        st["w"][s] = wn
        st["w_pending"][s] = wn
        st["t_last"][s] = q
        return st["sign"][s] * wn

    def consume_posts_np(self, st, s, limit, hist, dt):
        _consume_posts_np(st, s, limit, hist, dt, self.mode)


@PLASTICITY.register
class StdpNnPreCenteredSynapse(_NnRule):
    """Pair STDP with presynaptic-centred nearest-neighbour pairing (NEST
    ``stdp_nn_pre_centered_synapse``).

    The weight dependence of ``stdp_synapse``; each pre spike depresses with the nearest earlier
    post spike, and the first post spike after a pre spike potentiates with the pre trace K+
    (all pre spikes since the last potentiation, decayed), which it then resets. Lazy at pre
    spikes through the dendritic delay, as NEST; ``tau_minus`` is a neuron parameter in NEST.
    """

    name = "stdp_nn_pre_centered_synapse"
    nest_model = "stdp_nn_pre_centered_synapse"
    mode = CENTRED
    on_pre = on_pre_centred
    end_of_slice = end_of_slice_centred


@PLASTICITY.register
class StdpNnRestrSynapse(_NnRule):
    """Pair STDP with restricted symmetric nearest-neighbour pairing (NEST
    ``stdp_nn_restr_synapse``).

    The weight dependence of ``stdp_synapse``; only neighbouring pre–post pairs count: the first
    post spike after a pre spike potentiates with that pre spike, and a pre spike depresses with
    the nearest earlier post spike only if a post spike came since the previous pre spike. Lazy
    at pre spikes through the dendritic delay, as NEST; ``tau_minus`` is a neuron parameter in
    NEST.
    """

    name = "stdp_nn_restr_synapse"
    nest_model = "stdp_nn_restr_synapse"
    mode = RESTRICTED
    on_pre = on_pre_restricted
    end_of_slice = end_of_slice_restricted
