"""Spike delivery into the delay ring buffers, with pair-based additive STDP (NEST
``stdp_synapse`` semantics, ``mu_plus = mu_minus = 0``).

Delivery processes the spikes of one slice in (stamp, source gid) order and each source's
synapses in (source gid, global edge id) order, so the floating-point sum arriving at a target
is the same whatever the number of ranks. A spike with stamp ``q`` (emitted in step q-1, time
q·dt) on a synapse of ``d`` steps is added to the ring slot read in step ``q - 1 + d``
(NEST: it acts at t + delay).

STDP follows NEST's lazy update: when a pre spike (stamp q) reaches a synapse with delay d,
the facilitation of every post spike p with t_last < p + d <= q is applied (using the pre trace
K+ at p + d), then depression by the post trace K- at q - d (post spikes strictly before), the
spike is delivered with the new weight, and K+ is updated. Post spikes whose p + d falls inside
a finished slice are folded into ``w_pending`` at the end of the slice (same operations in the
same order as NEST applies them at the next pre spike), so only the last ``hist_len`` steps of
post spikes need keeping; the reported weight ``w`` is NEST's (facilitation after the last pre
spike is not in it).
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def _consume_posts(s, slot, d, limit, hist, dt, pw_pend, kplus, t_last, kminus, p_last,
                   tau_p, tau_m, lam, wmax):
    row = hist[slot]
    for h in range(row.shape[0]):
        p = row[h]
        if p < 0 or p <= p_last[s]:
            continue
        if p + d > limit:
            break
        minus_dt = (t_last[s] - (p + d)) * dt
        kp = kplus[s] * np.exp(minus_dt / tau_p[s])
        norm_w = pw_pend[s] / wmax[s] + lam[s] * kp
        pw_pend[s] = norm_w * wmax[s] if norm_w < 1.0 else wmax[s]
        if p_last[s] >= 0:
            kminus[s] = kminus[s] * np.exp((p_last[s] - p) * dt / tau_m[s]) + 1.0
        else:
            kminus[s] = 1.0
        p_last[s] = p


@numba.njit(cache=True)
def deliver_static_nb(sp_stamp, sp_gid, indptr, tgt, pk, w, ring, L):
    """Add the weights of the spikes (sorted by stamp, gid) into ``ring[rec, slot, tgt]``
    (static synapses only; ``pk`` packs ``delay << 2 | plastic << 1 | receptor``)."""
    for i in range(sp_gid.shape[0]):
        q0 = (sp_stamp[i] - 1) % L
        g = sp_gid[i]
        for j in range(indptr[g], indptr[g + 1]):
            p = np.int64(pk[j])
            slot = q0 + (p >> 2)
            if slot >= L:
                slot -= L
            ring[p & 1, slot, tgt[j]] += w[j]


@numba.njit(cache=True)
def deliver_nb(sp_stamp, sp_gid, indptr, tgt, pk, w, wbits, ring, L,
               hist, dt, pw, pw_pend, psign, kplus, t_last, kminus, p_last,
               tau_p, tau_m, lam, alpha, wmax):
    """Add the weights of the spikes (sorted by stamp, gid) into ``ring[rec, slot, tgt]``;
    plastic synapses (bit 1 of ``pk`` set; their plastic index is ``wbits``, the int64 view
    of ``w``) are updated first (NEST order)."""
    for i in range(sp_gid.shape[0]):
        q = sp_stamp[i]
        g = sp_gid[i]
        for j in range(indptr[g], indptr[g + 1]):
            p = np.int64(pk[j])
            d = p >> 2
            if p & 2:
                s = wbits[j]
                _consume_posts(s, tgt[j], d, q, hist, dt, pw_pend, kplus, t_last, kminus,
                               p_last, tau_p, tau_m, lam, wmax)
                if p_last[s] < 0:
                    km = 0.0
                elif p_last[s] + d < q:
                    km = kminus[s] * np.exp((p_last[s] + d - q) * dt / tau_m[s])
                else:  # post spike exactly at q - d: NEST takes the trace strictly before it
                    km = kminus[s] - 1.0
                norm_w = pw_pend[s] / wmax[s] - alpha[s] * lam[s] * km
                wn = norm_w * wmax[s] if norm_w > 0.0 else 0.0
                pw[s] = wn
                pw_pend[s] = wn
                weight = psign[s] * wn
                kplus[s] = kplus[s] * np.exp((t_last[s] - q) * dt / tau_p[s]) + 1.0
                t_last[s] = q
            else:
                weight = w[j]
            ring[p & 1, (q - 1 + d) % L, tgt[j]] += weight


@numba.njit(cache=True)
def flush_nb(limit, pt_indptr, pt_syn, pdly, hist, dt, pw_pend, kplus, t_last, kminus, p_last,
             tau_p, tau_m, lam, wmax):
    """Fold post spikes with p + d <= ``limit`` into ``w_pending`` of every plastic synapse."""
    for slot in range(pt_indptr.shape[0] - 1):
        a, b = pt_indptr[slot], pt_indptr[slot + 1]
        if a == b or hist[slot, hist.shape[1] - 1] < 0:
            continue
        for jj in range(a, b):
            s = pt_syn[jj]
            _consume_posts(s, slot, pdly[s], limit, hist, dt, pw_pend, kplus, t_last, kminus,
                           p_last, tau_p, tau_m, lam, wmax)


def deliver_np(sp_stamp, sp_gid, indptr, tgt, pk, w, ring, L) -> None:
    """Plain-NumPy reference of static delivery (``np.add.at`` applies additions in index
    order, so the sums are bit-equal to :func:`deliver_static_nb`)."""
    if sp_gid.size == 0:
        return
    starts, ends = indptr[sp_gid], indptr[sp_gid + 1]
    counts = ends - starts
    total = int(counts.sum())
    if total == 0:
        return
    first = np.repeat(starts - np.concatenate(([0], np.cumsum(counts)[:-1])), counts)
    j = first + np.arange(total)
    q = np.repeat(sp_stamp, counts)
    p = pk[j].astype(np.int64)
    np.add.at(ring, (p & 1, (q - 1 + (p >> 2)) % L, tgt[j]), w[j])
