"""Integrated-information estimators for recorded activity, beyond exact Φ's reach.

All are Gaussian (linear) measures computed from the covariance Σ(X) of the activity and its
lag-τ cross-covariance Σ(X_t, X_{t-τ}), estimated from data (:func:`covariances`) or given by a
model (:func:`var1_covariances` for a VAR(1) process X_t = A X_{t-1} + E, E ~ N(0, Σ_E)).

* **ΦAR** (Barrett & Seth 2011, PLoS Comput Biol 7:e1001052): for a partition {M¹…M^r},
  φ = I(X_{t-τ}; X_t) − Σ_k I(M^k_{t-τ}; M^k_t) with Gaussian mutual information
  I(Y_{t-τ}; Y_t) = ½ ln(det Σ(Y) / det Σ(Y_t | Y_{t-τ})), the conditional covariance being the
  residual covariance of the linear regression of Y_t on Y_{t-τ}.
* **ΦG**, geometric integrated information (Oizumi, Tsuchiya & Amari 2016, PNAS 113:14817): the
  Kullback–Leibler divergence from the full model p(X_t, X_{t-τ}) to the closest model in which
  no part is influenced by another part's past (cross-part entries of the transfer matrix zero;
  noise correlations between parts allowed): ΦG = ½ ln(det Σ(E′) / det Σ(E)), with
  Σ(E′) = Σ(E) + (A − A′) Σ(X) (A − A′)ᵀ and A′ solving the stationarity condition
  [Σ(E′)⁻¹ (A − A′) Σ(X)]_ij = 0 for every within-part (i, j) — solved by alternating the
  linear solve for A′ and the update of Σ(E′) until it stops changing.
* **Causal density** (Seth 2005; Barrett & Seth 2011's Gaussian causal density): the mean over
  ordered pairs of the conditional Granger causality
  G(j → i | rest) = ln(var(x_i,t | past of all but j) / var(x_i,t | past of all)) with ``p``
  lags.

The minimum-information bipartition (MIB) is searched over all bipartitions; for ΦAR it follows
Barrett & Seth's normalisation K = min_k H(M^k) (Gaussian differential entropies; ``normalise``)
or the plain minimum.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from scipy import linalg

__all__ = [
    "covariances", "var1_covariances", "mutual_information", "phi_ar", "phi_g",
    "causal_density", "causal_density_cov", "granger_causality", "bipartitions", "Partitioned", "phi_ar_mib",
    "phi_g_mib",
]


def covariances(x: np.ndarray, lag: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(Σ(X), Σ(X_t, X_{t-lag})) of a time × variables array, means removed (stationary
    estimates: both use all samples' mean, the lagged one the overlapping pairs)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] <= lag + 1 or lag < 1:
        raise ValueError(f"need a time × variables array longer than lag + 1 = {lag + 1} "
                         f"samples, got shape {x.shape}")
    x = x - x.mean(axis=0)
    n = x.shape[0]
    cov0 = x.T @ x / n
    cov_lag = x[lag:].T @ x[:-lag] / (n - lag)
    return cov0, cov_lag


def var1_covariances(a: np.ndarray, noise_cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Stationary Σ(X) and Σ(X_t, X_{t-1}) = A Σ(X) of X_t = A X_{t-1} + E, Σ(E) =
    ``noise_cov`` (discrete Lyapunov equation Σ = A Σ Aᵀ + Σ(E))."""
    a = np.asarray(a, dtype=np.float64)
    q = np.asarray(noise_cov, dtype=np.float64)
    if np.max(np.abs(np.linalg.eigvals(a))) >= 1:
        raise ValueError("the VAR(1) process is not stationary (spectral radius of A >= 1)")
    cov0 = linalg.solve_discrete_lyapunov(a, q)
    return cov0, a @ cov0


def _logdet(m: np.ndarray) -> float:
    sign, val = np.linalg.slogdet(m)
    if sign <= 0:
        raise ValueError("a covariance matrix is singular or not positive definite")
    return float(val)


def _conditional(cov0: np.ndarray, cov_lag: np.ndarray, idx) -> np.ndarray:
    """Residual covariance of Y_t regressed on Y_{t-τ} for the variables ``idx``."""
    ix = np.ix_(idx, idx)
    s, c = cov0[ix], cov_lag[ix]
    return s - c @ np.linalg.solve(s, c.T)


def mutual_information(cov0: np.ndarray, cov_lag: np.ndarray, idx=None) -> float:
    """I(Y_{t-τ}; Y_t) (nats) of the variables ``idx`` (default all), Gaussian."""
    idx = list(range(cov0.shape[0])) if idx is None else list(idx)
    return 0.5 * (_logdet(cov0[np.ix_(idx, idx)]) - _logdet(_conditional(cov0, cov_lag, idx)))


def _parts(partition, n: int) -> list[list[int]]:
    parts = [sorted(int(i) for i in p) for p in partition]
    flat = sorted(i for p in parts for i in p)
    if flat != list(range(n)) or any(not p for p in parts):
        raise ValueError(f"partition {partition} must split 0..{n - 1} into non-empty parts")
    return parts


def phi_ar(cov0: np.ndarray, cov_lag: np.ndarray, partition) -> float:
    """ΦAR of ``partition`` (a list of index lists): whole-system minus summed part
    lagged mutual information (nats)."""
    parts = _parts(partition, cov0.shape[0])
    return mutual_information(cov0, cov_lag) - sum(
        mutual_information(cov0, cov_lag, p) for p in parts)


def phi_g(cov0: np.ndarray, cov_lag: np.ndarray, partition, *, tol: float = 1e-13,
          max_iter: int = 10_000) -> float:
    """Geometric integrated information ΦG of ``partition`` (nats), Oizumi et al. 2016."""
    n = cov0.shape[0]
    parts = _parts(partition, n)
    a = np.linalg.solve(cov0, cov_lag.T).T  # A = Σ(X_t, X_{t-1}) Σ(X)⁻¹
    e = cov0 - a @ cov_lag.T  # Σ(E)
    part_of = np.empty(n, dtype=int)
    for k, p in enumerate(parts):
        part_of[p] = k
    free = [(i, j) for i in range(n) for j in range(n) if part_of[i] == part_of[j]]
    e_prime = e.copy()
    prev = np.inf
    for _ in range(max_iter):
        w = np.linalg.inv(e_prime)
        # unknowns: A′_ij on the free (within-part) entries; equations
        # Σ_kl W_ik A′_kl Σ(X)_lj = [W A Σ(X)]_ij for every free (i, j)
        rhs = (w @ a @ cov0)[tuple(np.array(free).T)]
        m = np.array([[w[i, k] * cov0[lcol, j] for (k, lcol) in free] for (i, j) in free])
        vals = np.linalg.solve(m, rhs)
        a_prime = np.zeros_like(a)
        for (k, lcol), v in zip(free, vals):
            a_prime[k, lcol] = v
        d = a - a_prime
        e_prime = e + d @ cov0 @ d.T
        value = 0.5 * (_logdet(e_prime) - _logdet(e))
        if abs(value - prev) <= tol * max(1.0, abs(value)):
            return value
        prev = value
    raise RuntimeError(f"ΦG did not converge in {max_iter} iterations")


def granger_causality(x: np.ndarray, source: int, target: int, p: int = 1) -> float:
    """Conditional Granger causality source → target given the other variables (nats), from a
    time × variables array with ``p`` lags (ordinary least squares)."""
    x = np.asarray(x, dtype=np.float64)
    return _gc(_lagged(x, p), x, source, target, p)


def _lagged(x: np.ndarray, p: int) -> np.ndarray:
    t, n = x.shape
    if t <= p + n * p + 1:
        raise ValueError(f"{t} samples are too few for {p} lags of {n} variables")
    return np.hstack([x[p - k - 1:t - k - 1] for k in range(p)])  # lag 1 first


def _residual_var(design: np.ndarray, y: np.ndarray) -> float:
    d = np.hstack([design, np.ones((design.shape[0], 1))])
    coef, *_ = np.linalg.lstsq(d, y, rcond=None)
    r = y - d @ coef
    return float(r @ r / r.size)


def _gc(lags: np.ndarray, x: np.ndarray, source: int, target: int, p: int) -> float:
    n = x.shape[1]
    y = x[p:, target]
    keep = [k * n + i for k in range(p) for i in range(n) if i != source]
    return float(np.log(_residual_var(lags[:, keep], y) / _residual_var(lags, y)))


def causal_density(x: np.ndarray, p: int = 1) -> float:
    """Mean conditional Granger causality over all ordered pairs of variables (nats)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[1]
    if n < 2:
        raise ValueError("causal density needs at least 2 variables")
    lags = _lagged(x, p)
    return float(np.mean([_gc(lags, x, j, i, p) for i in range(n) for j in range(n)
                          if i != j]))


def causal_density_cov(cov0: np.ndarray, cov_lag: np.ndarray) -> float:
    """Causal density of a process with one lag from its covariances (the population value of
    :func:`causal_density` with ``p = 1``): G(j → i | rest) = ln(r_i(all but j) / r_i(all)),
    r_i(S) = Σ_ii − Σ(x_i,t, X_S,t-1) Σ_SS⁻¹ Σ(X_S,t-1, x_i,t)."""
    n = cov0.shape[0]
    if n < 2:
        raise ValueError("causal density needs at least 2 variables")

    def resid(i: int, s: list[int]) -> float:
        c = cov_lag[i, s]
        return float(cov0[i, i] - c @ np.linalg.solve(cov0[np.ix_(s, s)], c))

    every = list(range(n))
    full = [resid(i, every) for i in range(n)]
    return float(np.mean([np.log(resid(i, [k for k in every if k != j]) / full[i])
                          for i in range(n) for j in range(n) if i != j]))


def bipartitions(n: int) -> list[tuple[list[int], list[int]]]:
    """Every split of 0..n-1 into two non-empty parts (each once)."""
    out = []
    for r in range(1, n // 2 + 1):
        for a in itertools.combinations(range(n), r):
            b = [i for i in range(n) if i not in a]
            if r == n - r and a[0] != 0:
                continue  # the complement was listed already
            out.append((list(a), b))
    return out


@dataclass
class Partitioned:
    """A measure at its minimum-information bipartition: ``value`` (nats), ``partition``, and
    the value of every bipartition examined (``all_values``)."""

    value: float
    partition: tuple[list[int], list[int]]
    all_values: list[float]


def _gaussian_entropy(cov: np.ndarray) -> float:
    k = cov.shape[0]
    return 0.5 * (k * np.log(2 * np.pi * np.e) + _logdet(cov))


def phi_ar_mib(cov0: np.ndarray, cov_lag: np.ndarray, *, normalise: bool = True) -> Partitioned:
    """ΦAR at the minimum-information bipartition: the bipartition minimising φ / K with
    K = min_k H(M^k) (Barrett & Seth 2011; ``normalise``) or φ itself; the value reported is
    the unnormalised φ there."""
    parts = bipartitions(cov0.shape[0])
    vals = [phi_ar(cov0, cov_lag, p) for p in parts]
    if normalise:
        keys = [v / min(_gaussian_entropy(cov0[np.ix_(a, a)]) for a in p)
                for v, p in zip(vals, parts)]
    else:
        keys = vals
    k = int(np.argmin(keys))
    return Partitioned(vals[k], parts[k], vals)


def phi_g_mib(cov0: np.ndarray, cov_lag: np.ndarray) -> Partitioned:
    """ΦG at the bipartition that minimises it."""
    parts = bipartitions(cov0.shape[0])
    vals = [phi_g(cov0, cov_lag, p) for p in parts]
    k = int(np.argmin(vals))
    return Partitioned(vals[k], parts[k], vals)
