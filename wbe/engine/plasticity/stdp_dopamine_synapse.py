"""``stdp_dopamine_synapse``: dopamine-modulated STDP with an eligibility trace (NEST 3.10's
``stdp_dopamine_synapse``; Izhikevich 2007, Potjans et al. 2010).

Pairs of pre and post spikes do not change the weight; they change an eligibility trace ``c``
(a post spike after a pre spike adds A+·K+, a pre spike subtracts A−·K−, K± the pair traces).
Dopamine spikes, collected by a volume transmitter (:mod:`wbe.engine.modulators`), raise the
dopamine trace ``n`` by 1/τ_n each; the weight follows dw/dt = c·(n − b), integrated exactly
between events (c decays with τ_c, n with τ_n), and is clipped to [Wmin, Wmax].

Semantics, as NEST's (read from its ``stdp_dopamine_synapse.h``): the synapse is brought up to
date lazily — at each pre spike (post spikes in (t_last_update − d, t_spike − d], seen through
the dendritic delay d, each preceded by the dopamine spikes before it; then the dopamine spikes
up to t_spike; then depression with K− of the target strictly before t_spike − d) — and at every
trigger of its volume transmitter (post spikes up to t_trig − d, dopamine up to t_trig). A
trigger comes before the slice's pre spikes are delivered; a pre spike of that slice then has
t_spike < t_last_update = t_trig and NEST integrates the weight *back* from t_trig to t_spike
(positive time step in the closed form) and later sees the post spikes of (t_spike − d,
t_trig − d] again. This implementation does the same, so the weights equal NEST's.

Post spikes are folded in at the end of every slice too (bringing ``w``, ``c`` and ``n`` to
the post spike's time with the dopamine spikes known by then — the operations NEST performs at
the next update, in the same order), so the post-spike history need only reach back one
maximal delay plus one slice, as for the other rules. The pair trace K− is the synapse's copy
of the target's (advanced only at pre spikes and at slice ends: never past a pre spike still to
come).
"""

from __future__ import annotations

import math
from collections import namedtuple

import numba
import numpy as np

from ..cells.libm import exp as libm_exp
from ..cells.libm import expm1 as libm_expm1
from ..registry import PLASTICITY, Param, Var
from .base import (
    TICS_PER_MS,
    PostHistoryRule,
    stamp_ms,
    stamp_ms_np,
    unconsumed_posts_np,
)

# ptab columns (the last: the volume transmitter's index)
A_PLUS, A_MINUS, TAU_PLUS, TAU_C, TAU_N, B, WMIN, WMAX, TAU_MINUS, VT = range(10)

DopaState = namedtuple("DopaState", "w kplus c n t_lu t_w p_f kminus p_last didx "
                                    "sign delay tgt par ptab pt_indptr pt_syn mod "
                                    "cache_key cache")
#: the rule's scratch: per parameter row, the first stamp of the list it caches and how many
#: intervals are filled (``cache_key``), and per entry of its transmitter's list (``cache``:
#: e^(Δt/τ_n), the two expm1 of the weight, e^((t_0 − t_i)/τ_c)): see _fill
SCRATCH = ("cache_key", "cache")
EN, M1, M2, CC = range(4)


@numba.njit(cache=True)
def delay_ms(d, dt):
    """NEST's ``Time::delay_steps_to_ms``: ``d`` steps × MS_PER_STEP (tics per step / 1000)."""
    return d * (round(dt * TICS_PER_MS) / TICS_PER_MS)


# The kernels pass scalars to their helpers, never the state tuple: binding a tuple of arrays
# costs an atomic reference count per array per call, which on the hot path (per synapse and
# dopamine spike) cost more than the arithmetic (aabcf73 did the same for stdp_synapse).
@numba.njit(cache=True, inline="always")
def _weight(w, c0, n0, minus_dt, tau_c, tau_n, b, wmin, wmax):
    """NEST's ``update_weight_``: w over ``minus_dt`` (< 0) with c0, n0 at its start."""
    taus = (tau_c + tau_n) / (tau_c * tau_n)
    w = w - c0 * (n0 / taus * math.expm1(taus * minus_dt)
                  - b * tau_c * math.expm1(minus_dt / tau_c))
    if w < wmin:
        w = wmin
    if w > wmax:
        w = wmax
    return w


@numba.njit(cache=True, inline="always")
def _weight_e(w, c0, n0, em1, em2, taus, tau_c, b, wmin, wmax):
    """:func:`_weight` with its two ``expm1`` given (the same arithmetic)."""
    w = w - c0 * (n0 / taus * em1 - b * tau_c * em2)
    if w < wmin:
        w = wmin
    if w > wmax:
        w = wmax
    return w


@numba.njit(cache=True, inline="always")
def _fill(spk_t, v, nn, r, dt, tau_c, tau_n, ck, cache):
    """Bring row ``r``'s cache of transmitter ``v``'s list up to its ``nn`` entries: per
    interval i (entries i, i + 1) e^((t_i − t_i+1)/τ_n) and the two expm1 of the weight's
    closed form; per entry e^((t_0 − t_i)/τ_c). The same for every synapse of the row, so
    computed once per entry instead of once per synapse (a list restarts at a trigger: a new
    first stamp empties the cache)."""
    if ck[r, 0] != spk_t[v, 0]:
        ck[r, 0] = spk_t[v, 0]
        ck[r, 1] = 0
    f = ck[r, 1]
    if f >= nn - 1:
        return
    taus = (tau_c + tau_n) / (tau_c * tau_n)
    t_first = stamp_ms(spk_t[v, 0], dt)
    for i in range(f, nn - 1):
        ti, tn = stamp_ms(spk_t[v, i], dt), stamp_ms(spk_t[v, i + 1], dt)
        cache[r, EN, i] = math.exp((ti - tn) / tau_n)
        cache[r, M1, i] = math.expm1(taus * (ti - tn))
        cache[r, M2, i] = math.expm1((ti - tn) / tau_c)
        cache[r, CC, i] = math.exp((t_first - ti) / tau_c)
    cache[r, CC, nn - 1] = math.exp((t_first - stamp_ms(spk_t[v, nn - 1], dt)) / tau_c)
    ck[r, 1] = nn - 1


@numba.njit(cache=True, inline="always")
def _dopa(spk_t, spk_m, v, nn, i, w, c, n, t0, t1, t1_step, dt, tau_c, tau_n, b, wmin, wmax,
          r, ck, cache):
    """NEST's ``process_dopa_spikes_``: w from t0 to t1 (ms; t1 at stamp ``t1_step``) across
    the dopamine spikes of (t0, t1] (transmitter ``v``'s list, ``nn`` entries, the last
    processed ``i``); c from t0 to t1; n stays at the time of the last dopamine spike
    processed. Returns (w, c, n, i). Values that depend on the list alone come from row
    ``r``'s cache (:func:`_fill`): between dopamine spikes a synapse costs no exponential,
    and none at all when it starts from the list's first entry (a trigger)."""
    if nn > i + 1 and spk_t[v, i + 1] <= t1_step:
        _fill(spk_t, v, nn, r, dt, tau_c, tau_n, ck, cache)
        taus = (tau_c + tau_n) / (tau_c * tau_n)
        ti = stamp_ms(spk_t[v, i], dt)
        if t0 == ti:  # the synapse is at dopamine spike i: the interval's cached values
            w = _weight_e(w, c, n * math.exp((ti - t0) / tau_n), cache[r, M1, i],
                          cache[r, M2, i], taus, tau_c, b, wmin, wmax)
        else:
            n0 = n * math.exp((ti - t0) / tau_n)
            w = _weight(w, c, n0, t0 - stamp_ms(spk_t[v, i + 1], dt), tau_c, tau_n, b, wmin,
                        wmax)
        n = n * cache[r, EN, i] + spk_m[v, i + 1] / tau_n
        i += 1
        at_first = t0 == stamp_ms(spk_t[v, 0], dt)
        while nn > i + 1 and spk_t[v, i + 1] <= t1_step:
            if at_first:
                cd = c * cache[r, CC, i]
            else:
                cd = c * math.exp((t0 - stamp_ms(spk_t[v, i], dt)) / tau_c)
            w = _weight_e(w, cd, n, cache[r, M1, i], cache[r, M2, i], taus, tau_c, b, wmin,
                          wmax)
            n = n * cache[r, EN, i] + spk_m[v, i + 1] / tau_n
            i += 1
        ti = stamp_ms(spk_t[v, i], dt)
        cd = c * (cache[r, CC, i] if at_first else math.exp((t0 - ti) / tau_c))
        w = _weight(w, cd, n, ti - t1, tau_c, tau_n, b, wmin, wmax)
    else:
        n0 = n * math.exp((stamp_ms(spk_t[v, i], dt) - t0) / tau_n)
        w = _weight(w, c, n0, t0 - t1, tau_c, tau_n, b, wmin, wmax)
    c = c * math.exp((t0 - t1) / tau_c)
    return w, c, n, i


@numba.njit(cache=True, inline="always")
def _first_after(hist, j, after):
    """:func:`first_after` on row ``j`` of ``hist`` (no row view: a view is reference-counted)."""
    h = hist.shape[1]
    while h > 0 and hist[j, h - 1] > after:
        h -= 1
    return h


@numba.njit(cache=True, inline="always")
def _facilitate(hist, j, d, limit, dt, p_f, t_w, t_lu, kplus, w, c, n, i, spk_t, spk_m, v, nn,
                tau_c, tau_n, b, wmin, wmax, a_plus, tau_plus, r, ck, cache):
    """The post spikes p > p_f of target row ``j`` with p + d <= ``limit``: dopamine up to
    p + d, then c += A+·K+. Returns (w, c, n, i, t_w, p_f)."""
    dms = delay_ms(d, dt)
    for h in range(_first_after(hist, j, p_f), hist.shape[1]):
        p = hist[j, h]
        if p < 0:
            continue
        if p + d > limit:
            break
        t1 = stamp_ms(p, dt) + dms
        w, c, n, i = _dopa(spk_t, spk_m, v, nn, i, w, c, n, t_w, t1, p + d, dt, tau_c, tau_n, b,
                           wmin, wmax, r, ck, cache)
        t_w = t1
        c += a_plus * (kplus * math.exp((stamp_ms(t_lu, dt) - t1) / tau_plus))
        p_f = p
    return w, c, n, i, t_w, p_f


@numba.njit(cache=True, inline="always")
def _trace(hist, j, d, limit, dt, km, pl, tau_minus):
    """The synapse's copy of the target's K− (NEST's archiver arithmetic) over its post spikes
    p + d <= ``limit``. Returns (K−, stamp of the last post spike in it)."""
    inv = 1.0 / tau_minus
    for h in range(_first_after(hist, j, pl), hist.shape[1]):
        p = hist[j, h]
        if p < 0:
            continue
        if p + d > limit:
            break
        last = stamp_ms(pl, dt) if pl >= 0 else -1.0
        km = km * math.exp((last - stamp_ms(p, dt)) * inv) + 1.0
        pl = p
    return km, pl


@numba.njit(cache=True, inline="always")
def _k_value(km, pl, d, q, dt, tau_minus):
    """NEST's ``get_K_value(t_spike − d)``: K− after the last post spike strictly before."""
    if pl < 0:
        return 0.0
    t = stamp_ms(q, dt) - delay_ms(d, dt)
    if pl + d < q:
        return km * math.exp((stamp_ms(pl, dt) - t) / tau_minus)
    return km - 1.0  # a post spike exactly at t: the trace strictly before it


@numba.njit(cache=True)
def on_pre(st, s, q, hist, dt):
    r = st.par[s]
    d, j = st.delay[s], st.tgt[s]
    tau_c, tau_n, b = st.ptab[r, TAU_C], st.ptab[r, TAU_N], st.ptab[r, B]
    wmin, wmax, tau_plus = st.ptab[r, WMIN], st.ptab[r, WMAX], st.ptab[r, TAU_PLUS]
    v = np.int64(st.ptab[r, VT])
    nn = st.mod.spk_n[v]
    t_lu, kplus = st.t_lu[s], st.kplus[s]
    w, c, n, i, t_w, _ = _facilitate(hist, j, d, q, dt, st.p_f[s], st.t_w[s], t_lu, kplus,
                                     st.w[s], st.c[s], st.n[s], st.didx[s], st.mod.spk_t,
                                     st.mod.spk_m, v, nn, tau_c, tau_n, b, wmin, wmax,
                                     st.ptab[r, A_PLUS], tau_plus, r, st.cache_key, st.cache)
    km, pl = _trace(hist, j, d, q, dt, st.kminus[s], st.p_last[s], st.ptab[r, TAU_MINUS])
    t_spike = stamp_ms(q, dt)
    w, c, n, i = _dopa(st.mod.spk_t, st.mod.spk_m, v, nn, i, w, c, n, t_w, t_spike, q, dt,
                       tau_c, tau_n, b, wmin, wmax, r, st.cache_key, st.cache)
    c -= st.ptab[r, A_MINUS] * _k_value(km, pl, d, q, dt, st.ptab[r, TAU_MINUS])
    st.w[s], st.c[s], st.n[s], st.didx[s] = w, c, n, i
    st.kminus[s], st.p_last[s] = km, pl
    st.kplus[s] = kplus * math.exp((stamp_ms(t_lu, dt) - t_spike) / tau_plus) + 1.0
    st.t_lu[s] = q
    st.t_w[s] = t_spike
    st.p_f[s] = q - d
    return st.sign[s] * w


@numba.njit(cache=True)
def trigger(st, k1, hist, dt):
    if not st.mod.due.any():  # most slices: no transmitter triggers
        return
    t_trig = stamp_ms(k1, dt)
    for s in range(st.w.shape[0]):
        r = st.par[s]
        v = np.int64(st.ptab[r, VT])
        if not st.mod.due[v]:
            continue
        tau_c, tau_n, b = st.ptab[r, TAU_C], st.ptab[r, TAU_N], st.ptab[r, B]
        wmin, wmax, tau_plus = st.ptab[r, WMIN], st.ptab[r, WMAX], st.ptab[r, TAU_PLUS]
        nn = st.mod.spk_n[v]
        t_lu, kplus = st.t_lu[s], st.kplus[s]
        w, c, n, i, t_w, _ = _facilitate(hist, st.tgt[s], st.delay[s], k1, dt, st.p_f[s],
                                         st.t_w[s], t_lu, kplus, st.w[s], st.c[s], st.n[s],
                                         st.didx[s], st.mod.spk_t, st.mod.spk_m, v, nn, tau_c,
                                         tau_n, b, wmin, wmax, st.ptab[r, A_PLUS], tau_plus,
                                         r, st.cache_key, st.cache)
        w, c, n, i = _dopa(st.mod.spk_t, st.mod.spk_m, v, nn, i, w, c, n, t_w, t_trig, k1, dt,
                           tau_c, tau_n, b, wmin, wmax, r, st.cache_key, st.cache)
        st.w[s], st.c[s] = w, c
        st.n[s] = n * math.exp((stamp_ms(st.mod.spk_t[v, i], dt) - t_trig) / tau_n)
        st.kplus[s] = kplus * math.exp((stamp_ms(t_lu, dt) - t_trig) / tau_plus)
        st.t_lu[s] = k1
        st.t_w[s] = t_trig
        st.p_f[s] = k1 - st.delay[s]
        st.didx[s] = 0


@numba.njit(cache=True)
def end_of_slice(st, limit, hist, dt, risk):
    last = hist.shape[1] - 1
    since = limit - hist.shape[1]
    for slot in range(st.pt_indptr.shape[0] - 1):  # targets that spiked lately (posted_synapses)
        if hist[slot, last] <= since:
            continue
        for jj in range(st.pt_indptr[slot], st.pt_indptr[slot + 1]):
            s = st.pt_syn[jj]
            j, d = st.tgt[s], st.delay[s]
            due = limit - d  # post spikes up to this stamp take effect by limit
            hf = _first_after(hist, j, st.p_f[s])
            ht = _first_after(hist, j, st.p_last[s])
            if not ((hf <= last and hist[j, hf] <= due) or (ht <= last and hist[j, ht] <= due)):
                continue
            r = st.par[s]
            tau_c, tau_n, b = st.ptab[r, TAU_C], st.ptab[r, TAU_N], st.ptab[r, B]
            v = np.int64(st.ptab[r, VT])
            w, c, n, i, t_w, p_f = _facilitate(
                hist, j, d, limit, dt, st.p_f[s], st.t_w[s], st.t_lu[s], st.kplus[s], st.w[s],
                st.c[s], st.n[s], st.didx[s], st.mod.spk_t, st.mod.spk_m, v, st.mod.spk_n[v],
                tau_c, tau_n, b, st.ptab[r, WMIN], st.ptab[r, WMAX], st.ptab[r, A_PLUS],
                st.ptab[r, TAU_PLUS], r, st.cache_key, st.cache)
            st.w[s], st.c[s], st.n[s], st.didx[s], st.t_w[s], st.p_f[s] = w, c, n, i, t_w, p_f
            st.kminus[s], st.p_last[s] = _trace(hist, j, d, limit, dt, st.kminus[s],
                                                st.p_last[s], st.ptab[r, TAU_MINUS])


# ------------------------------------------------------------------------ NumPy reference
def _update_weight_np(st, s, c0, n0, minus_dt, tab):
    taus = (tab[:, TAU_C] + tab[:, TAU_N]) / (tab[:, TAU_C] * tab[:, TAU_N])
    w = st["w"][s] - c0 * (n0 / taus * libm_expm1(taus * minus_dt)
                           - tab[:, B] * tab[:, TAU_C] * libm_expm1(minus_dt / tab[:, TAU_C]))
    st["w"][s] = np.minimum(np.maximum(w, tab[:, WMIN]), tab[:, WMAX])


def _process_dopa_np(st, s, t0, t1, t1_step, dt):
    """:func:`_process_dopa` for distinct synapses ``s`` (per synapse: ``t0``, ``t1`` ms and
    ``t1_step``)."""
    mod = st["mod"]
    tab = st["ptab"][st["par"][s]]
    v = tab[:, VT].astype(np.int64)
    nn = mod.spk_n[v]
    cap = mod.spk_t.shape[1]

    def at(i):  # stamp and ms of dopamine spike i; the next one's stamp (past t1 if none)
        j = np.minimum(i + 1, cap - 1)
        nxt = np.where(nn > i + 1, mod.spk_t[v, j], t1_step + 1)
        return stamp_ms_np(mod.spk_t[v, i], dt), nxt, stamp_ms_np(mod.spk_t[v, j], dt), \
            mod.spk_m[v, j]

    i = st["didx"][s].copy()
    ti, tn_step, tn, mn = at(i)
    some = tn_step <= t1_step
    e = ~some
    if e.any():
        n0 = st["n"][s[e]] * libm_exp((ti[e] - t0[e]) / tab[e, TAU_N])
        _update_weight_np(st, s[e], st["c"][s[e]], n0, t0[e] - t1[e], tab[e])
    if some.any():
        a = np.flatnonzero(some)
        sa = s[a]
        n0 = st["n"][sa] * libm_exp((ti[a] - t0[a]) / tab[a, TAU_N])
        _update_weight_np(st, sa, st["c"][sa], n0, t0[a] - tn[a], tab[a])
        st["n"][sa] = st["n"][sa] * libm_exp((ti[a] - tn[a]) / tab[a, TAU_N]) \
            + mn[a] / tab[a, TAU_N]
        i[a] += 1
        while True:
            ti, tn_step, tn, mn = at(i)
            b = np.flatnonzero(some & (tn_step <= t1_step))
            if not b.size:
                break
            sb = s[b]
            cd = st["c"][sb] * libm_exp((t0[b] - ti[b]) / tab[b, TAU_C])
            _update_weight_np(st, sb, cd, st["n"][sb], ti[b] - tn[b], tab[b])
            st["n"][sb] = st["n"][sb] * libm_exp((ti[b] - tn[b]) / tab[b, TAU_N]) \
                + mn[b] / tab[b, TAU_N]
            i[b] += 1
        cd = st["c"][sa] * libm_exp((t0[a] - ti[a]) / tab[a, TAU_C])
        _update_weight_np(st, sa, cd, st["n"][sa], ti[a] - t1[a], tab[a])
        st["didx"][sa] = i[a]
    st["c"][s] = st["c"][s] * libm_exp((t0 - t1) / tab[:, TAU_C])


def _delay_ms_np(d, dt):
    return np.asarray(d, np.float64) * (round(dt * TICS_PER_MS) / TICS_PER_MS)


def _facilitate_posts_np(st, s, limit, hist, dt):
    d = st["delay"][s]
    rows = hist[st["tgt"][s]]
    for h in range(rows.shape[1]):
        p = rows[:, h]
        ok = (p >= 0) & (p > st["p_f"][s]) & (p + d <= limit)
        if not ok.any():
            continue
        ss = s[ok]
        t1 = stamp_ms_np(p[ok], dt) + _delay_ms_np(d[ok], dt)
        _process_dopa_np(st, ss, st["t_w"][ss].copy(), t1, (p + d)[ok], dt)
        st["t_w"][ss] = t1
        tab = st["ptab"][st["par"][ss]]
        minus_dt = stamp_ms_np(st["t_lu"][ss], dt) - t1
        st["c"][ss] += tab[:, A_PLUS] * (st["kplus"][ss] * libm_exp(minus_dt / tab[:, TAU_PLUS]))
        st["p_f"][ss] = p[ok]


def _trace_posts_np(st, s, limit, hist, dt):
    for ss, pp, _ in unconsumed_posts_np(st, s, limit, hist):
        tab = st["ptab"][st["par"][ss]]
        pl = st["p_last"][ss]
        last = np.where(pl >= 0, stamp_ms_np(pl, dt), -1.0)
        st["kminus"][ss] = st["kminus"][ss] * libm_exp(
            (last - stamp_ms_np(pp, dt)) * (1.0 / tab[:, TAU_MINUS])) + 1.0
        st["p_last"][ss] = pp


def _k_value_np(st, s, q, dt, tab):
    d = st["delay"][s]
    pl = st["p_last"][s]
    t = stamp_ms_np(q, dt) - _delay_ms_np(d, dt)
    return np.where(pl < 0, 0.0, np.where(
        pl + d < q, st["kminus"][s] * libm_exp((stamp_ms_np(pl, dt) - t) / tab[:, TAU_MINUS]),
        st["kminus"][s] - 1.0))


@PLASTICITY.register
class StdpDopamineSynapse(PostHistoryRule):
    """Dopamine-modulated STDP: spike pairs tag an eligibility trace c, dopamine turns it into
    weight change, dw/dt = c·(n − b) (NEST ``stdp_dopamine_synapse``; Izhikevich 2007).

    A post spike after a pre spike adds A+·K+ to c, a pre spike subtracts A−·K− (K+, K− the pair
    traces, τ+ and the target's τ−); c decays with τ_c. Each dopamine spike reaching the
    ``volume_transmitter`` (a population of model ``volume_transmitter``, fed by the dopamine
    neurons or a reward signal) adds 1/τ_n to the dopamine trace n, which decays with τ_n; b is
    the dopamine baseline. The weight, in the projection's unit, integrates exactly between
    events and is clipped to [Wmin, Wmax]; as for wbe's other rules, for a negative initial
    weight its magnitude is plastic and the sign kept (in NEST it would need Wmin, Wmax <= 0). Evaluated lazily at pre spikes and at
    the transmitter's triggers (every ``deliver_interval`` minimum delays) exactly as NEST does
    (module docstring).
    """

    name = "stdp_dopamine_synapse"
    nest_model = "stdp_dopamine_synapse"
    params = (Param("A_plus", 1.0, "", "eligibility increase per post-after-pre pairing "
                    "(times K+)"),
              Param("A_minus", 1.5, "", "eligibility decrease per pre spike (times K−)"),
              Param("tau_plus", 20.0, "ms", "time constant of the pre-synaptic trace K+",
                    gt=0.0),
              Param("tau_c", 1000.0, "ms", "time constant of the eligibility trace c", gt=0.0),
              Param("tau_n", 200.0, "ms", "time constant of the dopamine trace n", gt=0.0),
              Param("b", 0.0, "1/ms", "dopamine baseline (n at which the weight does not "
                    "change)"),
              Param("Wmin", 0.0, "", "smallest weight magnitude (the projection's unit)",
                    ge=0.0),
              Param("Wmax", 200.0, "", "largest weight magnitude (the projection's unit)"),
              Param("tau_minus", 20.0, "ms",
                    "time constant of the post-synaptic trace K− (a neuron parameter in NEST)",
                    gt=0.0))
    node_refs = ("volume_transmitter",)
    modulator_tau = "tau_n"
    #: a pre spike delivered after a trigger rewinds p_f and NEST reads the post spikes since
    #: then again: every recent post spike is folded in at every slice end
    eager_posts = True
    needs = frozenset({"post_history", "volume_transmitter"})
    synapse_state = (Var("w", "", "weight magnitude, as NEST reports it"),
                     Var("kplus", "", "pre-synaptic trace K+ at the last update"),
                     Var("c", "", "eligibility trace at time t_w"),
                     Var("n", "1/ms", "dopamine trace at the last dopamine spike processed"),
                     Var("t_lu", "steps", "stamp of the last update (pre spike or trigger)",
                         "int64"),
                     Var("t_w", "ms", "time up to which w and c are integrated (NEST's "
                         "double)"),
                     Var("p_f", "steps", "post spikes after this stamp still to tag c",
                         "int64"),
                     Var("kminus", "", "post-synaptic trace K− after post spike p_last"),
                     Var("p_last", "steps", "stamp of the last post spike in K− (-1 none)",
                         "int64"),
                     Var("didx", "", "index of the last dopamine spike processed in the "
                         "transmitter's list", "int64"))
    state_type = DopaState
    scratch = SCRATCH
    on_pre = on_pre
    end_of_slice = end_of_slice
    trigger = trigger
    references = ("Izhikevich EM (2007). Solving the distal reward problem through linkage of "
                  "STDP and dopamine signaling. Cereb Cortex 17:2443-2452.",
                  "Potjans W, Morrison A, Diesmann M (2010). Enabling functional neural "
                  "circuit simulations with distributed computing of neuromodulated "
                  "plasticity. Front Comput Neurosci 4:141.")
    example = {"A_plus": 1.0, "A_minus": 1.5, "tau_plus": 20.0, "tau_c": 200.0,
               "tau_n": 100.0, "b": 0.01, "Wmin": 0.0, "tau_minus": 15.0}

    def check_params(self, p, owner):
        if p["Wmin"] > p["Wmax"]:
            raise ValueError(f"{owner}: Wmin ({p['Wmin']:g}) is above Wmax ({p['Wmax']:g})")

    def init_scratch(self, st):
        """Per parameter row, the values of its transmitter's list every synapse shares
        (:func:`_fill`), empty (key −1)."""
        rows, cap = st["ptab"].shape[0], st["mod"].spk_t.shape[1]
        return {"cache_key": np.stack([np.full(rows, -1, np.int64), np.zeros(rows, np.int64)],
                                      axis=1),
                "cache": np.zeros((rows, 4, max(cap, 1)))}

    def init_state(self, w0, ptab, par):
        n = len(w0)
        z = np.zeros(n, np.int64)
        return {"w": np.abs(np.asarray(w0, np.float64)), "kplus": np.zeros(n), "c": np.zeros(n),
                "n": np.zeros(n), "t_lu": z.copy(), "t_w": np.zeros(n),
                "p_f": z.copy(),  # NEST: post spikes after 0 − d; stamps start at 1
                "kminus": np.zeros(n), "p_last": np.full(n, -1, np.int64), "didx": z.copy()}

    def on_pre_np(self, st, s, q, hist, dt):
        tab = st["ptab"][st["par"][s]]
        _facilitate_posts_np(st, s, q, hist, dt)
        _trace_posts_np(st, s, q, hist, dt)
        t_spike = stamp_ms_np(np.full(s.size, q, np.int64), dt)
        _process_dopa_np(st, s, st["t_w"][s].copy(), t_spike, np.full(s.size, q, np.int64), dt)
        st["c"][s] -= tab[:, A_MINUS] * _k_value_np(st, s, q, dt, tab)
        wt = st["sign"][s] * st["w"][s]
        st["kplus"][s] = st["kplus"][s] * libm_exp((stamp_ms_np(st["t_lu"][s], dt) - t_spike)
                                                   / tab[:, TAU_PLUS]) + 1.0
        st["t_lu"][s] = q
        st["t_w"][s] = t_spike
        st["p_f"][s] = q - st["delay"][s]
        return wt

    def trigger_np(self, st, k1, hist, dt):
        mod = st["mod"]
        v = st["ptab"][st["par"], VT].astype(np.int64)
        s = np.flatnonzero(mod.due[v] != 0) if v.size else np.zeros(0, np.int64)
        if not s.size:
            return
        _facilitate_posts_np(st, s, k1, hist, dt)
        t_trig = stamp_ms_np(np.full(s.size, k1, np.int64), dt)
        _process_dopa_np(st, s, st["t_w"][s].copy(), t_trig, np.full(s.size, k1, np.int64), dt)
        tab = st["ptab"][st["par"][s]]
        st["n"][s] = st["n"][s] * libm_exp(
            (stamp_ms_np(mod.spk_t[v[s], st["didx"][s]], dt) - t_trig) / tab[:, TAU_N])
        st["kplus"][s] = st["kplus"][s] * libm_exp((stamp_ms_np(st["t_lu"][s], dt) - t_trig)
                                                   / tab[:, TAU_PLUS])
        st["t_lu"][s] = k1
        st["t_w"][s] = t_trig
        st["p_f"][s] = k1 - st["delay"][s]
        st["didx"][s] = 0

    def consume_posts_np(self, st, s, limit, hist, dt):
        _facilitate_posts_np(st, s, limit, hist, dt)
        _trace_posts_np(st, s, limit, hist, dt)
