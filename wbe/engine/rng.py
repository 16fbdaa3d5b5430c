"""Counter-based random numbers keyed by (seed, purpose, step, gid), never by rank.

Every draw is a pure function of its key, so the engine needs no RNG state: the same numbers
come out on any number of ranks and after a checkpoint/restore. The mixer is splitmix64's
finaliser applied to a combination of the key words (a Philox-like "hash of a counter").

Two implementations are kept: plain NumPy (the reference) and numba kernels (used in the hot
path); ``tests/unit/test_engine_rng.py`` checks them equal bit for bit.
"""

from __future__ import annotations

import zlib

import numba
import numpy as np

from .cells.libm import exp as libm_exp

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53


def purpose_key(name: str) -> int:
    """A stable 32-bit key for a named random stream (e.g. a PoissonInput's name)."""
    return zlib.crc32(name.encode("utf-8"))


def _mix_np(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> np.uint64(30))
    x = x * _M1
    x = x ^ (x >> np.uint64(27))
    x = x * _M2
    return x ^ (x >> np.uint64(31))


def hash_u64(seed: int, purpose: int, step: int | np.ndarray, gid: np.ndarray,
             sub: int | np.ndarray = 0) -> np.ndarray:
    """uint64 hash of the key words (NumPy reference)."""
    with np.errstate(over="ignore"):
        h = _mix_np(np.uint64(seed & 0xFFFFFFFFFFFFFFFF) * _GOLDEN + np.uint64(purpose))
        h = _mix_np(h ^ (np.asarray(step).astype(np.uint64) * _GOLDEN))
        h = _mix_np(h ^ (np.asarray(gid).astype(np.uint64) + _GOLDEN))
        h = _mix_np(h ^ (np.asarray(sub).astype(np.uint64) * _M2 + _GOLDEN))
    return h


def uniform(seed: int, purpose: int, step: int | np.ndarray, gid: np.ndarray,
            sub: int | np.ndarray = 0) -> np.ndarray:
    """Uniform float64 in [0, 1) (53 random bits) for each key (NumPy reference)."""
    return (hash_u64(seed, purpose, step, gid, sub) >> np.uint64(11)).astype(np.float64) * _TO_UNIT


def edge_keys(projection: str, source_ids: np.ndarray, target_ids: np.ndarray) -> np.ndarray:
    """A key (uint64) per edge of ``projection`` for the random streams of stochastic synapses:
    a hash of the projection's name, the edge's source and target node ids (local to their
    populations) and its occurrence among the projection's edges with that pair (multapses, in
    edge order). It names the edge wherever it lives — on any rank, after a checkpoint, after
    a SONATA round trip (which reorders edges but keeps multapses in order)."""
    src = np.asarray(source_ids, dtype=np.int64)
    tgt = np.asarray(target_ids, dtype=np.int64)
    order = np.lexsort((tgt, src))  # stable: multapses keep their order
    s, t = src[order], tgt[order]
    first = np.r_[True, (s[1:] != s[:-1]) | (t[1:] != t[:-1])] if s.size else np.zeros(0, bool)
    start = np.maximum.accumulate(np.where(first, np.arange(s.size), 0))
    occ = np.empty(s.size, dtype=np.int64)
    occ[order] = np.arange(s.size) - start
    return hash_u64(0, purpose_key(projection), src, tgt, occ)


_POISSON_CHUNK = 500.0  # means above this are split into a sum of independent chunks


def poisson_np(seed: int, purpose: int, step: int, gid: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Poisson(lam) counts, one per gid, by exact inversion of the CDF (NumPy reference).

    Means above 500 are drawn as a sum of independent Poisson chunks of mean <= 500 (exact in
    distribution; avoids underflow of exp(-lam)); each chunk uses its own sub-stream."""
    gid = np.asarray(gid, dtype=np.int64)
    lam = np.broadcast_to(np.asarray(lam, dtype=np.float64), gid.shape)
    out = np.zeros(gid.shape, dtype=np.int64)
    nchunk = np.maximum(1, np.ceil(lam / _POISSON_CHUNK)).astype(np.int64)
    for c in range(int(nchunk.max()) if gid.size else 0):
        sel = np.nonzero(nchunk > c)[0]
        mu = lam[sel] / nchunk[sel]
        u = uniform(seed, purpose, step, gid[sel], c)
        k = np.zeros(sel.size, dtype=np.int64)
        p = libm_exp(-mu)
        cdf = p.copy()
        active = (u >= cdf) & (mu > 0)
        while active.any():
            idx = np.nonzero(active)[0]
            k[idx] += 1
            p[idx] = p[idx] * mu[idx] / k[idx]
            cdf[idx] = cdf[idx] + p[idx]
            active[idx] = (u[idx] >= cdf[idx]) & (p[idx] > 0.0)
        out[sel] += k
    return out


# ----------------------------------------------------------------------------- numba twins
@numba.njit(cache=True, inline="always")
def _mix_nb(x):
    x = x ^ (x >> numba.uint64(30))
    x = x * numba.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> numba.uint64(27))
    x = x * numba.uint64(0x94D049BB133111EB)
    return x ^ (x >> numba.uint64(31))


@numba.njit(cache=True)
def _uniform_nb(seed, purpose, step, gid, sub):
    g = numba.uint64(0x9E3779B97F4A7C15)
    h = _mix_nb(numba.uint64(seed) * g + numba.uint64(purpose))
    h = _mix_nb(h ^ (numba.uint64(step) * g))
    h = _mix_nb(h ^ (numba.uint64(gid) + g))
    h = _mix_nb(h ^ (numba.uint64(sub) * numba.uint64(0x94D049BB133111EB) + g))
    return numba.float64(h >> numba.uint64(11)) * (1.0 / 9007199254740992.0)


@numba.njit(cache=True)
def poisson_nb(seed, purpose, step, gid, lam, out):
    """numba twin of :func:`poisson_np`; writes counts into ``out`` (int64)."""
    for i in range(gid.shape[0]):
        lam_i = lam[i]
        nchunk = 1
        if lam_i > 500.0:
            nchunk = int(np.ceil(lam_i / 500.0))
        total = 0
        if lam_i > 0.0:
            mu = lam_i / nchunk
            for c in range(nchunk):
                u = _uniform_nb(seed, purpose, step, gid[i], c)
                k = 0
                p = np.exp(-mu)
                cdf = p
                while u >= cdf and p > 0.0:
                    k += 1
                    p = p * mu / k
                    cdf = cdf + p
                total += k
        out[i] = total


def poisson(seed: int, purpose: int, step: int, gid: np.ndarray, lam: np.ndarray,
            use_numba: bool = True) -> np.ndarray:
    """Poisson counts keyed by (seed, purpose, step, gid); numba or NumPy path (bit-equal)."""
    gid = np.ascontiguousarray(gid, dtype=np.int64)
    lam = np.ascontiguousarray(np.broadcast_to(np.asarray(lam, dtype=np.float64), gid.shape))
    if not use_numba:
        return poisson_np(seed, purpose, step, gid, lam)
    out = np.empty(gid.shape, dtype=np.int64)
    poisson_nb(np.uint64(seed & 0xFFFFFFFFFFFFFFFF), np.uint64(purpose), np.uint64(step), gid,
               lam, out)
    return out


# ----------------------------------------------------------------------------- hot path
@numba.njit(cache=True)
def _prefix_nb(seed, purpose, step):
    """The (seed, purpose, step) part of :func:`_uniform_nb`'s hash, shared by all gids."""
    g = numba.uint64(0x9E3779B97F4A7C15)
    h = _mix_nb(numba.uint64(seed) * g + numba.uint64(purpose))
    return _mix_nb(h ^ (numba.uint64(step) * g))


@numba.njit(cache=True, inline="always")
def _uniform_from_prefix(h, gid, sub):
    g = numba.uint64(0x9E3779B97F4A7C15)
    h = _mix_nb(h ^ (numba.uint64(gid) + g))
    h = _mix_nb(h ^ (numba.uint64(sub) * numba.uint64(0x94D049BB133111EB) + g))
    return numba.float64(h >> numba.uint64(11)) * (1.0 / 9007199254740992.0)


@numba.njit(cache=True)
def _cdf_table_nb(lam):
    """The CDF values :func:`poisson_nb` computes for mean ``lam`` (per chunk), in the same
    order with the same operations, up to the first value >= 1 or the first zero term."""
    nchunk = 1
    if lam > 500.0:
        nchunk = int(np.ceil(lam / 500.0))
    mu = lam / nchunk
    vals = [0.0]
    p = np.exp(-mu)
    cdf = p
    vals[0] = cdf
    k = 0
    while p > 0.0 and cdf < 1.0:
        k += 1
        p = p * mu / k
        cdf = cdf + p
        vals.append(cdf)
    # vals[K] (K = len - 1) ends the search: either cdf >= 1 > u, or p == 0 (inversion stops)
    out = np.empty(len(vals))
    for i in range(len(vals)):
        out[i] = vals[i]
    return out, nchunk


def cdf_tables(lams: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Inversion tables for the distinct means ``lams``: (tables[n, K] padded with +inf,
    lengths[n], chunks[n]). A draw with a table equals :func:`poisson_nb` bit for bit."""
    tabs = [_cdf_table_nb(float(x)) for x in lams]
    width = max((t.size for t, _ in tabs), default=1)
    out = np.full((len(tabs), width), np.inf)
    for i, (t, _) in enumerate(tabs):
        out[i, :t.size] = t
    return (out, np.array([t.size for t, _ in tabs], dtype=np.int64),
            np.array([c for _, c in tabs], dtype=np.int64))


@numba.njit(cache=True)
def poisson_add_nb(seed, k, pp, ring, ring_slot):
    """Add the Poisson inputs acting in step ``k`` into ``ring[row, ring_slot, slot]``; ``pp`` is
    a :class:`wbe.engine.inputs.PoissonPlan`.

    Input ``m`` owns entries ``ptr[m]:ptr[m+1]``; its generation step ``k - d[m]`` must lie in
    ``[s0[m], s1[m])``. Entry ``i`` draws Poisson(``lam[i]``) keyed by (seed, key[m], step,
    gid[i]) — with the CDF table ``tab[i]`` when ``tab[i] >= 0`` — and adds ``w[m]·count``;
    inputs in order, entries in order (as :func:`poisson` + ``np.add.at``), so the result equals
    the reference bit for bit. ``ubuf``: scratch of the largest input's size (the first uniforms
    are hashed in a separate, vectorisable loop). ``seg_tab[m] >= 0``: every entry of input m
    uses that single-chunk table."""
    seg_ptr, seg_key, seg_d, seg_s0, seg_s1 = pp.ptr, pp.key, pp.d, pp.s0, pp.s1
    seg_rec, seg_w, seg_tab, gid, slot, tab, lam = (pp.row, pp.w, pp.seg_tab, pp.gid, pp.slot,
                                                   pp.tab, pp.lam)
    tables, tab_len, tab_chunks, ubuf = pp.tables, pp.tab_len, pp.tab_chunks, pp.ubuf
    for m in range(seg_ptr.shape[0] - 1):
        s = k - seg_d[m]
        if s < seg_s0[m] or s >= seg_s1[m] or s < 0:
            continue
        h = _prefix_nb(seed, seg_key[m], s)
        a, b = seg_ptr[m], seg_ptr[m + 1]
        for i in range(a, b):
            ubuf[i - a] = _uniform_from_prefix(h, gid[i], 0)
        row = ring[seg_rec[m], ring_slot]
        w = seg_w[m]
        t = seg_tab[m]
        if t >= 0:  # the common case: one table for the whole input
            kmax = tab_len[t] - 1
            cdf = tables[t]
            for i in range(a, b):
                u = ubuf[i - a]
                n = 0
                while n < kmax and u >= cdf[n]:
                    n += 1
                row[slot[i]] += w * n
            continue
        for i in range(a, b):
            t = tab[i]
            total = 0
            if t >= 0:
                kmax = tab_len[t] - 1
                for c in range(tab_chunks[t]):
                    u = ubuf[i - a] if c == 0 else _uniform_from_prefix(h, gid[i], c)
                    n = 0
                    while n < kmax and u >= tables[t, n]:
                        n += 1
                    total += n
            else:
                lam_i = lam[i]
                if lam_i > 0.0:
                    nchunk = 1
                    if lam_i > 500.0:
                        nchunk = int(np.ceil(lam_i / 500.0))
                    mu = lam_i / nchunk
                    for c in range(nchunk):
                        u = ubuf[i - a] if c == 0 else _uniform_from_prefix(h, gid[i], c)
                        n = 0
                        p = np.exp(-mu)
                        cdf = p
                        while u >= cdf and p > 0.0:
                            n += 1
                            p = p * mu / n
                            cdf = cdf + p
                        total += n
            row[slot[i]] += w * total
