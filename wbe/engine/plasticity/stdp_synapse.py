"""``stdp_synapse``: pair-based STDP with all-to-all pairing (NEST 3.10's ``stdp_synapse``)."""

from __future__ import annotations

import math
from collections import namedtuple

import numba
import numpy as np

from ..cells.libm import exp as libm_exp
from ..cells.libm import pow as libm_pow
from ..registry import PLASTICITY, Param, Var
from .base import PostHistoryRule, forced_synapses, unconsumed_posts_np

# ptab columns
TAU_PLUS, TAU_MINUS, LAMBDA, ALPHA, MU_PLUS, MU_MINUS, WMAX = range(7)

StdpState = namedtuple("StdpState", "w w_pending kplus t_last kminus p_last "
                                    "sign delay tgt par ptab pt_indptr pt_syn")


@numba.njit(cache=True, inline="always")
def _weight_factor(x, mu):
    """x**mu, with the additive (μ = 0) and multiplicative (μ = 1) cases exact without pow."""
    if mu == 0.0:
        return 1.0
    if mu == 1.0:
        return x  # pow(x, 1) is x exactly
    return x ** mu


@numba.njit(cache=True, inline="always")
def _facilitate(w, kplus, ptab, r):
    """NEST's facilitate_ with the parameters of row ``r`` of ``ptab`` (indexed, not sliced:
    a row view costs a reference count per synapse)."""
    wmax = ptab[r, WMAX]
    fac = _weight_factor(1.0 - w / wmax, ptab[r, MU_PLUS])
    norm_w = w / wmax + ptab[r, LAMBDA] * fac * kplus
    return norm_w * wmax if norm_w < 1.0 else wmax


@numba.njit(cache=True, inline="always")
def _depress(w, kminus, ptab, r):
    wmax = ptab[r, WMAX]
    fac = _weight_factor(w / wmax, ptab[r, MU_MINUS])
    norm_w = w / wmax - ptab[r, ALPHA] * ptab[r, LAMBDA] * fac * kminus
    return norm_w * wmax if norm_w > 0.0 else 0.0


@numba.njit(cache=True)
def trace_after(k, p_last, p, dt, tau):
    """A post trace (NEST's archiver: time constant ``tau``) just after the post spike at stamp
    ``p``: its value ``k`` after the previous one, ``p_last``, decayed to ``p``, plus 1 (1 for
    the first spike, ``p_last`` < 0)."""
    if p_last >= 0:
        return k * math.exp((p_last - p) * dt / tau) + 1.0
    return 1.0


def trace_after_np(k, pl, p, dt, tau):
    """:func:`trace_after` elementwise."""
    return np.where(pl >= 0, k * libm_exp((pl - p) * dt / tau) + 1.0, 1.0)


@numba.njit(cache=True, inline="always")
def kminus_at(st, s, q, dt, tau_minus):
    """The post pair trace K− of synapse ``s``'s target strictly before q − d (NEST's
    ``get_K_value``), from the synapse's copy (``kminus`` after its last consumed post spike
    ``p_last``; 0 without one)."""
    d = st.delay[s]
    if st.p_last[s] < 0:
        return 0.0
    if st.p_last[s] + d < q:
        return st.kminus[s] * math.exp((st.p_last[s] + d - q) * dt / tau_minus)
    return st.kminus[s] - 1.0  # a post spike exactly at q - d: the trace strictly before it


def kminus_at_np(st, s, q, dt, tau_minus):
    """:func:`kminus_at` for the synapses ``s`` at once."""
    d = st["delay"][s]
    pl = st["p_last"][s]
    return np.where(pl < 0, 0.0, np.where(
        pl + d < q, st["kminus"][s] * libm_exp((pl + d - q) * dt / tau_minus),
        st["kminus"][s] - 1.0))


@numba.njit(cache=True, inline="always")
def _walk_posts(hist, i, d, limit, pl, w, km, kp0, tl, dt, tau_p, tau_m, wmax, lam, mu_p):
    """Facilitation of weight ``w`` by every post spike p of neuron ``i`` with ``pl`` < p and
    p + d <= ``limit`` (NEST: the history entries between the last and this pre spike, seen
    through the dendritic delay ``d``), in order, with the pre trace ``kp0`` of the last pre
    spike ``tl``; updates the post trace K− (``km`` after ``pl``) as NEST's archiver. Returns
    (w, km, pl). Scalars in and out: the hot path passes no state tuple (each array of one
    would cost a reference count per call)."""
    n_h = hist.shape[1]
    h0 = n_h
    while h0 > 0 and hist[i, h0 - 1] > pl:  # from the newest end: nothing new costs one look
        h0 -= 1
    for h in range(h0, n_h):
        p = hist[i, h]
        if p < 0:
            continue
        if p + d > limit:
            break
        kp = kp0 * math.exp((tl - (p + d)) * dt / tau_p)
        norm_w = w / wmax + lam * _weight_factor(1.0 - w / wmax, mu_p) * kp
        w = norm_w * wmax if norm_w < 1.0 else wmax
        km = km * math.exp((pl - p) * dt / tau_m) + 1.0 if pl >= 0 else 1.0
        pl = p
    return w, km, pl


@numba.njit(cache=True)
def on_pre(st, s, q, hist, dt):
    r = st.par[s]
    d = st.delay[s]
    tl, kp0 = st.t_last[s], st.kplus[s]
    tau_p, tau_m = st.ptab[r, TAU_PLUS], st.ptab[r, TAU_MINUS]
    wmax, lam = st.ptab[r, WMAX], st.ptab[r, LAMBDA]
    w, km, pl = _walk_posts(hist, st.tgt[s], d, q, st.p_last[s], st.w_pending[s],
                            st.kminus[s], kp0, tl, dt, tau_p, tau_m, wmax, lam,
                            st.ptab[r, MU_PLUS])
    st.kminus[s], st.p_last[s] = km, pl
    # the post trace strictly before q − d (NEST's get_K_value), as kminus_at
    if pl < 0:
        kminus = 0.0
    elif pl + d < q:
        kminus = km * math.exp((pl + d - q) * dt / tau_m)
    else:
        kminus = km - 1.0  # a post spike exactly at q − d
    norm_w = w / wmax - st.ptab[r, ALPHA] * lam * _weight_factor(w / wmax,
                                                                 st.ptab[r, MU_MINUS]) * kminus
    wn = norm_w * wmax if norm_w > 0.0 else 0.0
    st.w[s] = wn
    st.w_pending[s] = wn
    st.kplus[s] = kp0 * math.exp((tl - q) * dt / tau_p) + 1.0
    st.t_last[s] = q
    return st.sign[s] * wn


@numba.njit(cache=True)
def end_of_slice(st, limit, hist, dt, risk):
    """The synapses onto neurons whose history is at risk fold in their post spikes up to
    ``limit`` (written out here: a helper taking ``st`` per synapse costs reference counts)."""
    for s in forced_synapses(st, risk):
        r = st.par[s]
        w, km, pl = _walk_posts(hist, st.tgt[s], st.delay[s], limit, st.p_last[s],
                                st.w_pending[s], st.kminus[s], st.kplus[s], st.t_last[s], dt,
                                st.ptab[r, TAU_PLUS], st.ptab[r, TAU_MINUS],
                                st.ptab[r, WMAX], st.ptab[r, LAMBDA], st.ptab[r, MU_PLUS])
        st.w_pending[s], st.kminus[s], st.p_last[s] = w, km, pl


# ------------------------------------------------------------------------ NumPy reference
def _facilitate_np(w, kplus, tab):
    fac = np.where(tab[:, MU_PLUS] == 0.0, 1.0,
                   libm_pow(1.0 - w / tab[:, WMAX], tab[:, MU_PLUS]))
    norm_w = w / tab[:, WMAX] + tab[:, LAMBDA] * fac * kplus
    return np.where(norm_w < 1.0, norm_w * tab[:, WMAX], tab[:, WMAX])


def _depress_np(w, kminus, tab):
    fac = np.where(tab[:, MU_MINUS] == 0.0, 1.0, libm_pow(w / tab[:, WMAX], tab[:, MU_MINUS]))
    norm_w = w / tab[:, WMAX] - tab[:, ALPHA] * tab[:, LAMBDA] * fac * kminus
    return np.where(norm_w > 0.0, norm_w * tab[:, WMAX], 0.0)


def _consume_posts_np(st, s, limit, hist, dt):
    """:func:`_walk_posts` for distinct synapses ``s`` at once (history column by column)."""
    for ss, pp, dd in unconsumed_posts_np(st, s, limit, hist):
        tab = st["ptab"][st["par"][ss]]
        minus_dt = (st["t_last"][ss] - (pp + dd)) * dt
        kp = st["kplus"][ss] * libm_exp(minus_dt / tab[:, TAU_PLUS])
        st["w_pending"][ss] = _facilitate_np(st["w_pending"][ss], kp, tab)
        st["kminus"][ss] = trace_after_np(st["kminus"][ss], st["p_last"][ss], pp, dt,
                                          tab[:, TAU_MINUS])
        st["p_last"][ss] = pp


@PLASTICITY.register
class StdpSynapse(PostHistoryRule):
    """Pair-based spike-timing-dependent plasticity with all-to-all pairing (NEST ``stdp_synapse``).

    Every post spike after a pre spike potentiates, w → w + λ·W_max·(1 − w/W_max)^μ+ ·K+, every
    pre spike depresses, w → w − α·λ·W_max·(w/W_max)^μ− ·K−, clipped to [0, W_max]; K+ and K− are
    the pre and post traces (time constants ``tau_plus``, ``tau_minus``). μ = 0 gives additive,
    μ = 1 multiplicative STDP (Gütig et al. 2003). Evaluated lazily at pre spikes as NEST does,
    post spikes seen through the dendritic delay (the synapse's delay). For a negative initial
    weight the magnitude is plastic and the sign is kept. NEST keeps ``tau_minus`` on the
    post-synaptic neuron; here it is a parameter of the rule (the NEST runner sets it on the
    targets).
    """

    name = "stdp_synapse"
    nest_model = "stdp_synapse"
    params = (Param("tau_plus", 20.0, "ms", "time constant of the pre-synaptic trace", gt=0.0),
              Param("tau_minus", 20.0, "ms",
                    "time constant of the post-synaptic trace (a neuron parameter in NEST)",
                    gt=0.0),
              Param("lambda", 0.01, "", "step size (learning rate)", ge=0.0),
              Param("alpha", 1.0, "", "asymmetry: depression relative to potentiation", ge=0.0),
              Param("mu_plus", 1.0, "", "weight dependence exponent of potentiation", ge=0.0),
              Param("mu_minus", 1.0, "", "weight dependence exponent of depression", ge=0.0),
              Param("Wmax", 100.0, "", "largest weight magnitude (the projection's unit)",
                    gt=0.0))
    synapse_state = (Var("w", "", "weight magnitude, as NEST reports it"),
                     Var("w_pending", "", "weight with the facilitation by post spikes since "
                                          "the last pre spike applied"),
                     Var("kplus", "", "pre-synaptic trace K+ at the last pre spike"),
                     Var("t_last", "steps", "stamp of the last pre spike", "int64"),
                     Var("kminus", "", "post-synaptic trace K- after the last consumed post "
                                       "spike"),
                     Var("p_last", "steps", "stamp of the last consumed post spike (-1 none)",
                         "int64"))
    state_type = StdpState
    on_pre = on_pre
    end_of_slice = end_of_slice
    references = ("Bi G, Poo M (1998). Synaptic modifications in cultured hippocampal neurons. "
                  "J Neurosci 18:10464-10472.",
                  "Guetig R, Aharonov R, Rotter S, Sompolinsky H (2003). Learning input "
                  "correlations through nonlinear temporally asymmetric Hebbian plasticity. "
                  "J Neurosci 23:3697-3714.",
                  "Morrison A, Diesmann M, Gerstner W (2008). Phenomenological models of "
                  "synaptic plasticity based on spike timing. Biol Cybern 98:459-478.")
    example = {"tau_plus": 20.0, "tau_minus": 15.0, "lambda": 0.1, "alpha": 1.2,
               "mu_plus": 0.0, "mu_minus": 0.0, "Wmax": 5.0}

    def init_state(self, w0, ptab, par):
        n = len(w0)
        a = np.abs(np.asarray(w0, np.float64))
        return {"w": a.copy(), "w_pending": a.copy(), "kplus": np.zeros(n),
                "t_last": np.zeros(n, np.int64), "kminus": np.zeros(n),
                "p_last": np.full(n, -1, np.int64)}

    def on_pre_np(self, st, s, q, hist, dt):
        _consume_posts_np(st, s, q, hist, dt)
        tab = st["ptab"][st["par"][s]]
        wn = _depress_np(st["w_pending"][s], kminus_at_np(st, s, q, dt, tab[:, TAU_MINUS]), tab)
        st["w"][s] = wn
        st["w_pending"][s] = wn
        st["kplus"][s] = st["kplus"][s] * libm_exp((st["t_last"][s] - q) * dt
                                                   / tab[:, TAU_PLUS]) + 1.0
        st["t_last"][s] = q
        return st["sign"][s] * wn

    def consume_posts_np(self, st, s, limit, hist, dt):
        _consume_posts_np(st, s, limit, hist, dt)
