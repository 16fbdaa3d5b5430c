"""Φ estimators on linear Gaussian systems: closed forms worked by hand for two-node VAR(1)
processes (stationary covariances, ΦAR, ΦG, causal density) to 1e-10, ΦG's fixed point against
a direct numerical minimisation of its Kullback–Leibler divergence, and the estimates from
simulated data converging to the analytic values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from wbe.consciousness import estimators as est


def _triangular(a, b, d):
    """X1_t = a X1 + b X2 (t-1) + e1, X2_t = d X2 (t-1) + e2, unit independent noise: the
    stationary moments by hand."""
    v2 = 1 / (1 - d ** 2)
    c = b * d * v2 / (1 - a * d)
    v1 = (2 * a * b * c + b ** 2 * v2 + 1) / (1 - a ** 2)
    cov0 = np.array([[v1, c], [c, v2]])
    cov1 = np.array([[a, b], [0, d]]) @ cov0
    return cov0, cov1


@pytest.mark.parametrize("a, b, d", [(0.5, 0.4, 0.3), (-0.2, 0.9, 0.6), (0.7, 0.0, -0.5)])
def test_closed_forms_two_node_var(a, b, d):
    cov0, cov1 = _triangular(a, b, d)
    got0, got1 = est.var1_covariances([[a, b], [0, d]], np.eye(2))
    np.testing.assert_allclose(got0, cov0, rtol=1e-12)
    np.testing.assert_allclose(got1, cov1, rtol=1e-12)
    v1, c, v2 = cov0[0, 0], cov0[0, 1], cov0[1, 1]
    g11 = a * v1 + b * c  # Σ(X1_t, X1_{t-1})
    whole = 0.5 * np.log(v1 * v2 - c ** 2)  # det Σ(E) = 1
    part1 = 0.5 * np.log(v1 / (v1 - g11 ** 2 / v1))
    part2 = -0.5 * np.log(1 - d ** 2)
    assert est.phi_ar(cov0, cov1, [[0], [1]]) == pytest.approx(whole - part1 - part2,
                                                                abs=1e-10)
    # Granger 2 → 1: X1 on its own past vs on both pasts (residual 1); 1 → 2: none
    gc21 = np.log(v1 - g11 ** 2 / v1)
    assert est.causal_density_cov(cov0, cov1) == pytest.approx(gc21 / 2, abs=1e-10)
    if b == 0:
        assert est.phi_ar(cov0, cov1, [[0], [1]]) == pytest.approx(0, abs=1e-12)
        assert est.phi_g(cov0, cov1, [[0], [1]]) == pytest.approx(0, abs=1e-12)


@pytest.mark.parametrize("b", [0.3, 1.0, 2.5])
def test_pure_cross_influence(b):
    """X1_t = b X2_{t-1} + e1, X2 white: ΦAR = ΦG = ½ ln(1 + b²) (no part predicts itself)."""
    cov0, cov1 = est.var1_covariances([[0, b], [0, 0]], np.eye(2))
    want = 0.5 * np.log(1 + b ** 2)
    assert est.phi_ar(cov0, cov1, [[0], [1]]) == pytest.approx(want, abs=1e-12)
    assert est.phi_g(cov0, cov1, [[0], [1]]) == pytest.approx(want, abs=1e-10)


def _kl_min(cov0, cov1, free):
    """ΦG by brute force: minimise ½ ln det(Σ(E) + D Σ(X) Dᵀ) / det Σ(E), D = A − A′, over the
    within-part entries of A′ (Nelder–Mead then BFGS)."""
    a = cov1 @ np.linalg.inv(cov0)
    e = cov0 - a @ cov1.T

    def f(x):
        ap = np.zeros_like(a)
        for (i, j), v in zip(free, x):
            ap[i, j] = v
        dd = a - ap
        return 0.5 * (np.linalg.slogdet(e + dd @ cov0 @ dd.T)[1] - np.linalg.slogdet(e)[1])

    x0 = np.array([a[i, j] for i, j in free])
    r = minimize(f, x0, method="Nelder-Mead", options={"xatol": 1e-12, "fatol": 1e-15,
                                                       "maxiter": 40000})
    return minimize(f, r.x, method="BFGS", options={"gtol": 1e-12}).fun


def test_phi_g_equals_direct_minimisation():
    rng = np.random.default_rng(5)
    a = rng.normal(0, 0.3, (3, 3))
    q = rng.normal(0, 1, (3, 3))
    q = q @ q.T + np.eye(3)  # correlated noise
    cov0, cov1 = est.var1_covariances(a, q)
    for parts in ([[0], [1, 2]], [[0], [1], [2]]):
        part_of = {i: k for k, p in enumerate(parts) for i in p}
        free = [(i, j) for i in range(3) for j in range(3) if part_of[i] == part_of[j]]
        assert est.phi_g(cov0, cov1, parts) == pytest.approx(_kl_min(cov0, cov1, free),
                                                              abs=1e-8)


def test_phi_g_ignores_noise_correlation_and_bounds():
    """Block-diagonal dynamics with correlated noise: ΦG = 0 (no part is driven by another's
    past), while ΦAR is not; and ΦG never exceeds stochastic interaction (ΦAR + total
    correlation, Oizumi et al. 2016)."""
    a = np.diag([0.6, -0.4])
    q = np.array([[1.0, 0.8], [0.8, 1.0]])
    cov0, cov1 = est.var1_covariances(a, q)
    assert est.phi_g(cov0, cov1, [[0], [1]]) == pytest.approx(0, abs=1e-12)
    assert abs(est.phi_ar(cov0, cov1, [[0], [1]])) > 1e-3
    rng = np.random.default_rng(2)
    for _ in range(5):
        a = rng.normal(0, 0.35, (3, 3))
        cov0, cov1 = est.var1_covariances(a, np.eye(3))
        parts = [[0], [1, 2]]
        tc = 0.5 * (np.linalg.slogdet(cov0[:1, :1])[1] + np.linalg.slogdet(cov0[1:, 1:])[1]
                    - np.linalg.slogdet(cov0)[1])
        g = est.phi_g(cov0, cov1, parts)
        assert 0 <= g <= est.phi_ar(cov0, cov1, parts) + tc + 1e-12


def test_estimates_from_simulated_data_converge():
    a = np.array([[0.5, 0.4, 0.0], [0.0, 0.3, 0.5], [0.3, 0.0, 0.2]])
    rng = np.random.default_rng(11)
    n_t = 200_000
    x = np.zeros((n_t, 3))
    e = rng.normal(0, 1, (n_t, 3))
    for t in range(1, n_t):
        x[t] = a @ x[t - 1] + e[t]
    cov0, cov1 = est.var1_covariances(a, np.eye(3))
    s0, s1 = est.covariances(x)
    for f in (est.phi_ar, est.phi_g):
        want = f(cov0, cov1, [[0], [1, 2]])
        assert f(s0, s1, [[0], [1, 2]]) == pytest.approx(want, rel=0.03)
    assert est.causal_density(x) == pytest.approx(est.causal_density_cov(cov0, cov1),
                                                  rel=0.03)
    mib = est.phi_g_mib(cov0, cov1)
    assert mib.value == min(mib.all_values) and len(mib.all_values) == 3


def test_mib_finds_the_independent_split():
    """Two uncoupled coupled-pairs: the minimum-information bipartition separates the pairs
    (Φ = 0) for both ΦG and ΦAR."""
    a = np.zeros((4, 4))
    a[0, 1] = a[1, 0] = 0.5
    a[2, 3] = a[3, 2] = -0.4
    cov0, cov1 = est.var1_covariances(a, np.eye(4))
    for mib in (est.phi_g_mib(cov0, cov1), est.phi_ar_mib(cov0, cov1, normalise=False)):
        assert sorted(map(sorted, mib.partition)) == [[0, 1], [2, 3]]
        assert mib.value == pytest.approx(0, abs=1e-12)
    assert len(est.bipartitions(4)) == 7


def test_errors():
    with pytest.raises(ValueError, match="not stationary"):
        est.var1_covariances([[1.1]], [[1.0]])
    with pytest.raises(ValueError, match="partition"):
        est.phi_ar(np.eye(2), np.zeros((2, 2)), [[0], [0, 1]])
