"""``synaptic_scaling``: homeostatic multiplicative scaling of a neuron's input weights toward a
target firing rate (Turrigiano et al. 1998; the rate-based rule of van Rossum, Bi & Turrigiano
2000), integrated exactly and lazily.

Each weight follows dw/dt = w (1 − r(t)/r*)/τ_s, where r(t) = 1000·K(t)/τ_r (spikes/s) is the
postsynaptic neuron's rate estimate: a trace K that decays with τ_r (ms) and grows by 1 at each
of its spikes (K starts at r_initial·τ_r/1000). Between two events the solution is exact,

    w(t0 + Δ) = w(t0) · exp((Δ − 1000·K(t0)·(1 − e^{−Δ/τ_r})/r*) / τ_s),

so a synapse is brought up to date only when something happens to it: at each post spike of its
target (in order, from the post-spike history, at the spike's own time — no dendritic delay; a
post spike at the stamp of a pre spike counts first) and at each of its pre spikes, which
deliver the updated weight. Every synapse onto a neuron is multiplied by the same factor over
any interval (the scaling preserves their ratios). ``Wmax`` bounds the weight magnitude at those
updates. For a negative initial weight the magnitude is scaled and the sign kept. NEST has no
such model; the tests hold it to the closed form above and to convergence to r*.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numba
import numpy as np

from ..cells.libm import exp as libm_exp
from ..cells.libm import expm1 as libm_expm1
from ..registry import PLASTICITY, Param, Var
from .base import PostHistoryRule, posted_synapses, unconsumed_posts_np

# ptab columns
R_TARGET, TAU_RATE, TAU_SCALING, R_INITIAL, WMAX = range(5)

ScalingState = namedtuple("ScalingState", "w kpost t_u p_last "
                                          "sign delay tgt par ptab pt_indptr pt_syn")


@numba.njit(cache=True)
def _advance(st, s, t, dt, tab):
    """Synapse ``s`` from its last update to stamp ``t``: the weight by the closed form, the
    post trace decayed."""
    span = (t - st.t_u[s]) * dt
    if span <= 0.0:
        return
    k0 = st.kpost[s]
    spikes = -1000.0 * k0 * math.expm1(-span / tab[TAU_RATE])
    w = st.w[s] * math.exp((span - spikes / tab[R_TARGET]) / tab[TAU_SCALING])
    st.w[s] = w if w < tab[WMAX] else tab[WMAX]
    st.kpost[s] = k0 * math.exp(-span / tab[TAU_RATE])
    st.t_u[s] = t


@numba.njit(cache=True)
def _consume_posts(st, s, limit, hist, dt):
    """Every post spike p of synapse ``s``'s target with p_last < p <= ``limit``, in order."""
    tab = st.ptab[st.par[s]]
    row = hist[st.tgt[s]]
    for h in range(row.shape[0]):
        p = row[h]
        if p < 0 or p <= st.p_last[s]:
            continue
        if p > limit:
            break
        _advance(st, s, p, dt, tab)
        st.kpost[s] += 1.0
        st.p_last[s] = p


@numba.njit(cache=True)
def on_pre(st, s, q, hist, dt):
    tab = st.ptab[st.par[s]]
    _consume_posts(st, s, q, hist, dt)
    _advance(st, s, q, dt, tab)
    return st.sign[s] * st.w[s]


@numba.njit(cache=True)
def end_of_slice(st, limit, hist, dt, risk):
    for s in posted_synapses(st, hist, limit):
        _consume_posts(st, s, limit, hist, dt)


def _advance_np(st, s, t, dt):
    """:func:`_advance` for distinct synapses ``s`` to stamps ``t``."""
    tab = st["ptab"][st["par"][s]]
    span = (t - st["t_u"][s]) * dt
    go = span > 0.0
    if not go.any():
        return
    s, span, tab = s[go], span[go], tab[go]
    t = np.broadcast_to(t, go.shape)[go]
    k0 = st["kpost"][s]
    spikes = -1000.0 * k0 * libm_expm1(-span / tab[:, TAU_RATE])
    w = st["w"][s] * libm_exp((span - spikes / tab[:, R_TARGET]) / tab[:, TAU_SCALING])
    st["w"][s] = np.where(w < tab[:, WMAX], w, tab[:, WMAX])
    st["kpost"][s] = k0 * libm_exp(-span / tab[:, TAU_RATE])
    st["t_u"][s] = t


def _consume_posts_np(st, s, limit, hist, dt):
    for ss, pp, _ in unconsumed_posts_np(st, s, limit, hist, delayed=False):
        _advance_np(st, ss, pp, dt)
        st["kpost"][ss] += 1.0
        st["p_last"][ss] = pp


@PLASTICITY.register
class SynapticScaling(PostHistoryRule):
    """Homeostatic synaptic scaling: a neuron's input weights grow or shrink together until it
    fires at the target rate (Turrigiano et al. 1998).

    dw/dt = w (1 − r/r*)/τ_s with r the postsynaptic rate estimated by an exponential trace of
    its spikes (time constant τ_r), integrated exactly between events (module docstring);
    multiplicative, so the ratios between a neuron's synapses are kept. Weights in the
    projection's unit, magnitude bounded by ``Wmax``.
    """

    name = "synaptic_scaling"
    nest_model = None
    params = (Param("r_target", 5.0, "spikes/s", "target firing rate r* of the postsynaptic "
                    "neuron", gt=0.0),
              Param("tau_rate", 1000.0, "ms", "time constant τ_r of the rate estimate", gt=0.0),
              Param("tau_scaling", 10000.0, "ms", "time constant τ_s of the scaling", gt=0.0),
              Param("r_initial", 5.0, "spikes/s", "rate estimate at the start", ge=0.0),
              Param("Wmax", math.inf, "", "largest weight magnitude (the projection's unit)",
                    gt=0.0))
    post_params = ()
    eager_posts = True  # the weight moves at post spikes: results report it up to date
    synapse_state = (Var("w", "", "weight magnitude at the last update"),
                     Var("kpost", "", "postsynaptic rate trace K at the last update"),
                     Var("t_u", "steps", "stamp of the last update", "int64"),
                     Var("p_last", "steps", "stamp of the last consumed post spike (-1 none)",
                         "int64"))
    state_type = ScalingState
    on_pre = on_pre
    end_of_slice = end_of_slice
    references = ("Turrigiano GG, Leslie KR, Desai NS, Rutherford LC, Nelson SB (1998). "
                  "Activity-dependent scaling of quantal amplitude in neocortical neurons. "
                  "Nature 391:892-896.",
                  "van Rossum MCW, Bi GQ, Turrigiano GG (2000). Stable Hebbian learning from "
                  "spike timing-dependent plasticity. J Neurosci 20:8812-8821.")
    example = {"r_target": 5.0, "tau_rate": 500.0, "tau_scaling": 2000.0, "r_initial": 5.0}

    def example_params(self, weights, headroom: float = 2.0):
        return {**self.example, "Wmax": headroom * float(np.max(np.abs(weights)))}

    def init_state(self, w0, ptab, par):
        n = len(w0)
        k0 = ptab[par, R_INITIAL] * ptab[par, TAU_RATE] / 1000.0 if n else np.zeros(0)
        return {"w": np.abs(np.asarray(w0, np.float64)), "kpost": np.asarray(k0, np.float64),
                "t_u": np.zeros(n, np.int64), "p_last": np.full(n, -1, np.int64)}

    def on_pre_np(self, st, s, q, hist, dt):
        _consume_posts_np(st, s, q, hist, dt)
        _advance_np(st, s, np.int64(q), dt)
        return st["sign"][s] * st["w"][s]

    def consume_posts_np(self, st, s, limit, hist, dt):
        _consume_posts_np(st, s, limit, hist, dt)
