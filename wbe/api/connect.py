"""Connection rules and random distributions for the Python API (NEST's names and semantics).

Every random draw is keyed by (seed, purpose) — e.g. the projection's name — never by rank:
every MPI rank builds the same connectivity, as the engine requires. Rules return global-free
(source index, target index) arrays, indices local to the source and target selections.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

__all__ = ["ConnectionRule", "AllToAll", "OneToOne", "FixedInDegree", "FixedOutDegree",
           "FixedTotalNumber", "PairwiseBernoulli", "FromArrays", "Distribution", "Normal",
           "Uniform", "LogNormal", "Exponential", "rng_for"]


def rng_for(seed: int, purpose: str) -> np.random.Generator:
    """The random generator of ``purpose`` under ``seed``: the same on every rank."""
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(purpose.encode())])


# --------------------------------------------------------------------------- distributions
class Distribution:
    """A distribution of parameter, weight or delay values."""

    def draw(self, rng: np.random.Generator, n: int) -> np.ndarray:
        raise NotImplementedError


@dataclass(frozen=True)
class Normal(Distribution):
    """Normal(mean, std), redrawn until inside [low, high] (NEST's bounded normal)."""

    mean: float
    std: float
    low: float = -np.inf
    high: float = np.inf

    def __post_init__(self):
        if not self.std >= 0:
            raise ValueError(f"Normal: std must be >= 0, got {self.std}")
        if not self.low < self.high:
            raise ValueError(f"Normal: low ({self.low}) must be below high ({self.high})")

    def draw(self, rng, n):
        out = rng.normal(self.mean, self.std, n)
        bad = (out < self.low) | (out > self.high)
        for _ in range(1000):
            if not bad.any():
                return out
            out[bad] = rng.normal(self.mean, self.std, int(bad.sum()))
            bad = (out < self.low) | (out > self.high)
        raise ValueError(f"{self}: could not draw values inside [{self.low}, {self.high}]")


@dataclass(frozen=True)
class Uniform(Distribution):
    """Uniform on [low, high)."""

    low: float
    high: float

    def __post_init__(self):
        if not self.low <= self.high:
            raise ValueError(f"Uniform: low ({self.low}) must not exceed high ({self.high})")

    def draw(self, rng, n):
        return rng.uniform(self.low, self.high, n)


@dataclass(frozen=True)
class LogNormal(Distribution):
    """exp(Normal(mu, sigma))."""

    mu: float
    sigma: float

    def draw(self, rng, n):
        return rng.lognormal(self.mu, self.sigma, n)


@dataclass(frozen=True)
class Exponential(Distribution):
    """Exponential with mean ``beta``."""

    beta: float

    def draw(self, rng, n):
        return rng.exponential(self.beta, n)


def values(v, n: int, rng: np.random.Generator, what: str) -> np.ndarray | float:
    """A scalar, ``n`` values, or ``n`` draws of a :class:`Distribution`."""
    if isinstance(v, Distribution):
        return v.draw(rng, n)
    a = np.asarray(v, dtype=np.float64)
    if a.ndim == 0:
        return float(a)
    if a.shape != (n,):
        raise ValueError(f"{what}: expected a scalar, a distribution or {n} values, got shape "
                         f"{a.shape}")
    return a


# --------------------------------------------------------------------------- rules
class ConnectionRule:
    """How sources connect to targets: :meth:`pairs` gives (source index, target index)."""

    def pairs(self, n_src: int, n_tgt: int, rng: np.random.Generator,
              same: bool) -> tuple[np.ndarray, np.ndarray]:
        """``same``: sources and targets are the same neurons (autapses are possible)."""
        raise NotImplementedError


def _no_autapses(s, t, same, allow):
    if same and not allow:
        keep = s != t
        return s[keep], t[keep]
    return s, t


@dataclass(frozen=True)
class AllToAll(ConnectionRule):
    """Every source to every target (NEST ``all_to_all``)."""

    allow_autapses: bool = True

    def pairs(self, n_src, n_tgt, rng, same):
        s = np.repeat(np.arange(n_src, dtype=np.int64), n_tgt)
        t = np.tile(np.arange(n_tgt, dtype=np.int64), n_src)
        return _no_autapses(s, t, same, self.allow_autapses)


@dataclass(frozen=True)
class OneToOne(ConnectionRule):
    """Source i to target i (NEST ``one_to_one``); equal sizes."""

    def pairs(self, n_src, n_tgt, rng, same):
        if n_src != n_tgt:
            raise ValueError(f"OneToOne: {n_src} sources but {n_tgt} targets")
        i = np.arange(n_src, dtype=np.int64)
        return i, i.copy()


def _draw_without(rng, n_from: int, k: int, exclude: int | None) -> np.ndarray:
    pool = np.arange(n_from, dtype=np.int64)
    if exclude is not None:
        pool = np.delete(pool, exclude)
    return rng.choice(pool, size=k, replace=False)


@dataclass(frozen=True)
class FixedInDegree(ConnectionRule):
    """Every target gets ``indegree`` sources drawn at random (NEST ``fixed_indegree``)."""

    indegree: int
    allow_autapses: bool = True
    allow_multapses: bool = True

    def pairs(self, n_src, n_tgt, rng, same):
        k = int(self.indegree)
        if k < 0:
            raise ValueError(f"FixedInDegree: indegree must be >= 0, got {k}")
        avail = n_src - (1 if same and not self.allow_autapses else 0)
        if not self.allow_multapses and k > avail:
            raise ValueError(f"FixedInDegree: indegree {k} exceeds the {avail} possible sources "
                             "without multapses")
        t = np.repeat(np.arange(n_tgt, dtype=np.int64), k)
        if self.allow_multapses:
            s = rng.integers(0, n_src, n_tgt * k)
            if same and not self.allow_autapses:  # redraw autapses
                bad = s == t
                while bad.any():
                    s[bad] = rng.integers(0, n_src, int(bad.sum()))
                    bad = s == t
            return s.astype(np.int64), t
        s = np.concatenate([_draw_without(rng, n_src, k, j if same and not self.allow_autapses
                                          else None) for j in range(n_tgt)] or
                           [np.zeros(0, np.int64)])
        return s, t


@dataclass(frozen=True)
class FixedOutDegree(ConnectionRule):
    """Every source reaches ``outdegree`` targets drawn at random (NEST ``fixed_outdegree``)."""

    outdegree: int
    allow_autapses: bool = True
    allow_multapses: bool = True

    def pairs(self, n_src, n_tgt, rng, same):
        t, s = FixedInDegree(self.outdegree, self.allow_autapses,
                             self.allow_multapses).pairs(n_tgt, n_src, rng, same)
        return s, t


@dataclass(frozen=True)
class FixedTotalNumber(ConnectionRule):
    """``N`` connections between uniformly drawn pairs (NEST ``fixed_total_number``)."""

    N: int
    allow_autapses: bool = True

    def pairs(self, n_src, n_tgt, rng, same):
        if self.N < 0:
            raise ValueError(f"FixedTotalNumber: N must be >= 0, got {self.N}")
        s = rng.integers(0, n_src, self.N)
        t = rng.integers(0, n_tgt, self.N)
        if same and not self.allow_autapses:
            bad = s == t
            while bad.any():
                s[bad] = rng.integers(0, n_src, int(bad.sum()))
                bad = s == t
        return s.astype(np.int64), t.astype(np.int64)


@dataclass(frozen=True)
class PairwiseBernoulli(ConnectionRule):
    """Each (source, target) pair connected with probability ``p`` (NEST
    ``pairwise_bernoulli``); drawn target by target, so memory stays O(connections)."""

    p: float
    allow_autapses: bool = True

    def pairs(self, n_src, n_tgt, rng, same):
        if not 0.0 <= self.p <= 1.0:
            raise ValueError(f"PairwiseBernoulli: p must be in [0, 1], got {self.p}")
        ss, tt = [], []
        for j in range(n_tgt):
            s = np.flatnonzero(rng.random(n_src) < self.p)
            if same and not self.allow_autapses:
                s = s[s != j]
            ss.append(s)
            tt.append(np.full(s.size, j, dtype=np.int64))
        if not ss:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(ss).astype(np.int64), np.concatenate(tt)


@dataclass(frozen=True)
class FromArrays(ConnectionRule):
    """Explicit edges: ``sources[i]`` → ``targets[i]`` (indices into the selections)."""

    sources: tuple
    targets: tuple

    def __init__(self, sources, targets):
        object.__setattr__(self, "sources", tuple(np.asarray(sources, np.int64).tolist()))
        object.__setattr__(self, "targets", tuple(np.asarray(targets, np.int64).tolist()))
        if len(self.sources) != len(self.targets):
            raise ValueError(f"FromArrays: {len(self.sources)} sources but "
                             f"{len(self.targets)} targets")

    def pairs(self, n_src, n_tgt, rng, same):
        s = np.asarray(self.sources, dtype=np.int64)
        t = np.asarray(self.targets, dtype=np.int64)
        for what, a, n in (("source", s, n_src), ("target", t, n_tgt)):
            if a.size and (a.min() < 0 or a.max() >= n):
                bad = int(a.max()) if a.max() >= n else int(a.min())
                raise ValueError(f"FromArrays: {what} index {bad} is out of range (0..{n - 1})")
        return s, t
