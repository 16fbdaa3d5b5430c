"""``bcm_synapse``: BCM metaplasticity for spiking neurons (Bienenstock, Cooper & Munro 1982;
the sliding threshold of Intrator & Cooper 1992), integrated exactly and lazily.

The postsynaptic rate is estimated by a trace y of its spikes (time constant τ_y, +1 per
spike): r(t) = 1000·y(t)/τ_y spikes/s. The modification threshold slides with the rate:
τ_θ dθ/dt = r^p / r_0^(p−1) − θ (p = ``theta_power``: 2 is Intrator & Cooper's
θ = ⟨r²⟩/r_0, 1 is the running mean of r that nengo's ``BCM`` uses). Each presynaptic spike
changes the weight by η·r·(r − θ), r and θ at the spike's time, and the weight magnitude is
clipped to [0, W_max]: on average dw/dt = η·ν_pre·r·(r − θ), BCM's rule with the presynaptic
rate as the input. With p = 2 and stationary activity the drift vanishes where ⟨r⟩ = r_0 —
the postsynaptic rate the rule drives a neuron to (tested) — and potentiation of inputs that
make the neuron fire above θ, depression below it, makes neurons selective.

Between events y decays exponentially and θ follows the closed form
θ(t0 + Δ) = θ0·e^{−Δ/τ_θ} + A·(e^{−kΔ} − e^{−Δ/τ_θ})/(1 − k·τ_θ), A = r(t0)^p/r_0^(p−1),
k = p/τ_y (τ_θ ≠ τ_y/p), so a synapse is brought up to date only when something happens to it:
at each post spike of its target (in order, at the spike's own time: a post spike at the stamp
of a pre spike counts first, as for ``synaptic_scaling``) and at each of its pre spikes. NEST has
no such model; the tests hold it to a numerical solution of the equations and to its fixed point.
For a negative initial weight the magnitude is plastic and the sign kept.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numba
import numpy as np

from ..cells.libm import exp as libm_exp
from ..cells.libm import pow as libm_pow
from ..registry import PLASTICITY, Param, Var
from .base import PostHistoryRule, first_after, forced_synapses, unconsumed_posts_np

# ptab columns
ETA, TAU_Y, TAU_THETA, R0, P, THETA0, WMAX = range(7)

BcmState = namedtuple("BcmState", "w y theta t_u p_last "
                                  "sign delay tgt par ptab pt_indptr pt_syn")


@numba.njit(cache=True, inline="always")
def _advance(st, s, t, dt, r):
    """Synapse ``s``'s post trace and threshold from its last update to stamp ``t``."""
    span = (t - st.t_u[s]) * dt
    if span <= 0.0:
        return
    tab = st.ptab
    ty, tt, p = tab[r, TAU_Y], tab[r, TAU_THETA], tab[r, P]
    rate = 1000.0 * st.y[s] / ty
    a = rate ** p / tab[r, R0] ** (p - 1.0)
    k = p / ty
    et = math.exp(-span / tt)
    st.theta[s] = st.theta[s] * et + a * (math.exp(-k * span) - et) / (1.0 - k * tt)
    st.y[s] = st.y[s] * math.exp(-span / ty)
    st.t_u[s] = t


@numba.njit(cache=True, inline="always")
def _consume_posts(st, s, limit, hist, dt):
    """Every post spike p of synapse ``s``'s target with p_last < p <= ``limit``, in order."""
    row = hist[st.tgt[s]]
    h0 = first_after(row, st.p_last[s])
    if h0 == row.shape[0] or row[h0] > limit:
        return
    r = st.par[s]
    for h in range(h0, row.shape[0]):
        p = row[h]
        if p < 0:
            continue
        if p > limit:
            break
        _advance(st, s, p, dt, r)
        st.y[s] += 1.0
        st.p_last[s] = p


@numba.njit(cache=True)
def on_pre(st, s, q, hist, dt):
    r = st.par[s]
    _consume_posts(st, s, q, hist, dt)
    _advance(st, s, q, dt, r)
    rate = 1000.0 * st.y[s] / st.ptab[r, TAU_Y]
    w = st.w[s] + st.ptab[r, ETA] * rate * (rate - st.theta[s])
    if w < 0.0:
        w = 0.0
    if w > st.ptab[r, WMAX]:
        w = st.ptab[r, WMAX]
    st.w[s] = w
    return st.sign[s] * w


@numba.njit(cache=True)
def end_of_slice(st, limit, hist, dt, risk):
    for s in forced_synapses(st, risk):
        _consume_posts(st, s, limit, hist, dt)


# ------------------------------------------------------------------------ NumPy reference
def _advance_np(st, s, t, dt):
    tab = st["ptab"][st["par"][s]]
    span = (t - st["t_u"][s]) * dt
    go = span > 0.0
    if not go.any():
        return
    s, span, tab = s[go], span[go], tab[go]
    t = np.broadcast_to(t, go.shape)[go]
    ty, tt, p = tab[:, TAU_Y], tab[:, TAU_THETA], tab[:, P]
    rate = 1000.0 * st["y"][s] / ty
    a = libm_pow(rate, p) / libm_pow(tab[:, R0], p - 1.0)
    k = p / ty
    et = libm_exp(-span / tt)
    st["theta"][s] = st["theta"][s] * et + a * (libm_exp(-k * span) - et) / (1.0 - k * tt)
    st["y"][s] = st["y"][s] * libm_exp(-span / ty)
    st["t_u"][s] = t


def _consume_posts_np(st, s, limit, hist, dt):
    for ss, pp, _ in unconsumed_posts_np(st, s, limit, hist, delayed=False):
        _advance_np(st, ss, pp, dt)
        st["y"][ss] += 1.0
        st["p_last"][ss] = pp


@PLASTICITY.register
class BcmSynapse(PostHistoryRule):
    """BCM metaplasticity: each pre spike changes the weight by η·r·(r − θ), r the
    postsynaptic rate and θ a threshold sliding with it (Bienenstock, Cooper & Munro 1982).

    r is an exponential trace of the post spikes (τ_y) in spikes/s; θ relaxes with τ_θ to
    r^p/r_0^(p−1) (p = 2: Intrator & Cooper's ⟨r²⟩/r_0, driving the postsynaptic rate to r_0;
    p = 1: the running mean of nengo's ``BCM``). Integrated exactly between events (module
    docstring); weight magnitude in [0, W_max] (the projection's unit).
    """

    name = "bcm_synapse"
    nest_model = None
    params = (Param("eta", 1e-4, "", "learning rate: weight change per pre spike per "
                    "(spikes/s)²"),
              Param("tau_y", 100.0, "ms", "time constant of the postsynaptic rate trace",
                    gt=0.0),
              Param("tau_theta", 5000.0, "ms", "time constant of the sliding threshold",
                    gt=0.0),
              Param("r_0", 10.0, "spikes/s", "rate scale of the threshold (the rate it drives "
                    "the neuron to for theta_power 2)", gt=0.0),
              Param("theta_power", 2.0, "", "θ relaxes to r^p / r_0^(p−1): 2 (Intrator & "
                    "Cooper) or 1 (running mean, nengo)", ge=1.0, le=2.0, integer=True),
              Param("theta_0", 10.0, "spikes/s", "initial threshold", ge=0.0),
              Param("Wmax", 100.0, "", "largest weight magnitude (the projection's unit)",
                    gt=0.0))
    post_params = ()
    synapse_state = (Var("w", "", "weight magnitude"),
                     Var("y", "", "postsynaptic trace at the last update"),
                     Var("theta", "spikes/s", "sliding threshold at the last update"),
                     Var("t_u", "steps", "stamp of the last update", "int64"),
                     Var("p_last", "steps", "stamp of the last consumed post spike (-1 none)",
                         "int64"))
    state_type = BcmState
    on_pre = on_pre
    end_of_slice = end_of_slice
    references = ("Bienenstock EL, Cooper LN, Munro PW (1982). Theory for the development of "
                  "neuron selectivity. J Neurosci 2:32-48.",
                  "Intrator N, Cooper LN (1992). Objective function formulation of the BCM "
                  "theory of visual cortical plasticity. Neural Netw 5:3-17.")
    example = {"eta": 2e-4, "tau_y": 100.0, "tau_theta": 2000.0, "r_0": 10.0,
               "theta_power": 2.0, "theta_0": 10.0}

    def check_params(self, p, owner):
        if abs(p["theta_power"] / p["tau_y"] * p["tau_theta"] - 1.0) < 1e-9:
            raise ValueError(f"{owner}: tau_theta must differ from tau_y / theta_power (the "
                             "closed form divides by their difference)")

    def init_state(self, w0, ptab, par):
        n = len(w0)
        return {"w": np.abs(np.asarray(w0, np.float64)), "y": np.zeros(n),
                "theta": (ptab[par, THETA0] if n else np.zeros(0)).astype(np.float64),
                "t_u": np.zeros(n, np.int64), "p_last": np.full(n, -1, np.int64)}

    def on_pre_np(self, st, s, q, hist, dt):
        _consume_posts_np(st, s, q, hist, dt)
        _advance_np(st, s, np.int64(q), dt)
        tab = st["ptab"][st["par"][s]]
        rate = 1000.0 * st["y"][s] / tab[:, TAU_Y]
        w = st["w"][s] + tab[:, ETA] * rate * (rate - st["theta"][s])
        st["w"][s] = np.minimum(np.maximum(w, 0.0), tab[:, WMAX])
        return st["sign"][s] * st["w"][s]

    def consume_posts_np(self, st, s, limit, hist, dt):
        _consume_posts_np(st, s, limit, hist, dt)


# ---------------------------------------------------------------------------- the rate form
BcmRateResult = namedtuple("BcmRateResult", "weights post_hz theta")


def bcm_rate(pre_hz: np.ndarray, w0: np.ndarray, *, dt_ms: float, learning_rate: float,
             post_hz: np.ndarray | None = None, tau_pre_ms: float = 5.0,
             tau_post_ms: float | None = None, tau_theta_ms: float = 1000.0,
             theta_power: int = 1, r0_hz: float = 1.0, every: int = 1) -> BcmRateResult:
    """BCM for rate neurons, discretised as nengo's ``BCM`` learning rule (zero-order-hold
    low-pass filters, weights changed after each step):

    x ← a_x·x + (1 − a_x)·pre[n],  y ← a_y·y + (1 − a_y)·post[n],
    θ ← a_θ·θ + (1 − a_θ)·post[n]^p / r0^(p−1),  W ← W + κ·dt·(y·(y − θ)) ⊗ x,

    a = exp(−dt/τ) of each filter (τ_post defaults to τ_pre), κ = ``learning_rate`` (per s;
    dt in s), rates in Hz, ``p`` = ``theta_power`` (1: nengo's running mean of the post rate;
    2: Intrator & Cooper's ⟨r²⟩/r0). ``pre_hz``: (steps, n_pre); ``w0``: (n_post, n_pre).
    ``post_hz``: (steps, n_post) given activities (as nengo's neurons produced them), or None
    for linear rate neurons, post[n] = max(W·pre[n], 0) with the current weights (closed
    loop). Returns the weights before each step (as nengo probes them) every ``every`` steps,
    the post rates and θ (after each step's update)."""
    pre = np.asarray(pre_hz, np.float64)
    w = np.array(w0, dtype=np.float64)
    if pre.ndim != 2 or w.ndim != 2 or w.shape[1] != pre.shape[1]:
        raise ValueError(f"bcm_rate: pre_hz must be (steps, n_pre) and w0 (n_post, n_pre), "
                         f"got {pre.shape} and {w.shape}")
    if post_hz is not None:
        post_hz = np.asarray(post_hz, np.float64)
        if post_hz.shape != (pre.shape[0], w.shape[0]):
            raise ValueError(f"bcm_rate: post_hz must be (steps, n_post) = "
                             f"{(pre.shape[0], w.shape[0])}, got {post_hz.shape}")
    if theta_power not in (1, 2):
        raise ValueError(f"bcm_rate: theta_power must be 1 or 2, got {theta_power}")
    for name, v in (("dt_ms", dt_ms), ("tau_pre_ms", tau_pre_ms),
                    ("tau_theta_ms", tau_theta_ms), ("r0_hz", r0_hz)):
        if not v > 0:
            raise ValueError(f"bcm_rate: {name} must be > 0, got {v}")
    dt = dt_ms / 1e3
    a_x = math.exp(-dt_ms / tau_pre_ms)
    a_y = math.exp(-dt_ms / (tau_post_ms if tau_post_ms is not None else tau_pre_ms))
    a_t = math.exp(-dt_ms / tau_theta_ms)
    x = np.zeros(pre.shape[1])
    y = np.zeros(w.shape[0])
    th = np.zeros(w.shape[0])
    alpha = learning_rate * dt
    n = pre.shape[0]
    ws, posts, thetas = [], np.empty((n, w.shape[0])), np.empty((n, w.shape[0]))
    for k in range(n):
        if k % every == 0:
            ws.append(w.copy())
        post = post_hz[k] if post_hz is not None else np.maximum(w @ pre[k], 0.0)
        x = a_x * x + (1.0 - a_x) * pre[k]
        y = a_y * y + (1.0 - a_y) * post
        drive = post if theta_power == 1 else post * post / r0_hz
        th = a_t * th + (1.0 - a_t) * drive
        w = w + np.outer(alpha * y * (y - th), x)
        posts[k], thetas[k] = post, th
    return BcmRateResult(np.array(ws), posts, thetas)
