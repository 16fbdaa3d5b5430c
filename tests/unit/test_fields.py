"""The neuromodulator field solver (wbe.engine.fields.diffusion) against analytic solutions:
the steady state of a point source with uptake, c ∝ exp(−r/λ)/r (λ = √(D/k), with the
no-flux walls' images, the method of images being exact for them), within 1 % away from the
source; the spread of an instantaneous release (a decaying Gaussian); conservation of the
amount without uptake; exact first-order decay; saturable uptake against a tight ODE solve;
exactness in time of the linear step."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from wbe.engine.fields.diffusion import (
    Grid,
    ReactionDiffusion,
    point_release,
    point_source_steady_state,
)

D = 0.24  # µm²/ms: dopamine's effective diffusion in brain tissue (Rice & Cragg 2008)


def with_images(fn, p_um, src_um, grid: Grid):
    """``fn(r)`` of a point source in infinite space, made the solution in the grid's box
    (walls half a voxel beyond the outer centres, no flux) by the source's reflections in the
    walls (27 terms; the next images lie beyond twice the box and add < 1e-9 here)."""
    h, n = grid.spacing_um, grid.shape
    total = 0.0
    for refl in itertools.product((0, 1, 2), repeat=3):
        q = np.array(src_um, np.float64)
        for a, s in enumerate(refl):
            lo, hi = grid.origin_um[a] - h / 2, grid.origin_um[a] + (n[a] - 0.5) * h
            q[a] = q[a] if s == 0 else (2 * lo - q[a] if s == 1 else 2 * hi - q[a])
        total = total + fn(np.linalg.norm(p_um - q, axis=1))
    return total


def test_point_source_reaches_the_analytic_steady_state():
    lam, h, n = 8.0, 1.0, 64
    k = D / lam ** 2
    grid = Grid((n, n, n), h)
    # the linear step is exact in time: one step of 200 λ²/D is the steady state
    rd = ReactionDiffusion(grid, D, 200 * lam ** 2 / D, k_per_ms=k)
    src = rd.zeros()
    c0 = n // 2
    src[c0, c0, c0] = 1.0 / grid.voxel_um3  # 1 µM·µm³/ms
    c = rd.step(rd.zeros(), src)

    def ss(r):
        return point_source_steady_state(r, 1.0, D, k)

    for d, r_min in (((1, 0, 0), 8.0), ((1, 1, 0), 6.0), ((1, 1, 1), 6.0)):
        step = np.linalg.norm(d) * h
        rr = np.arange(int(np.ceil(r_min / step)), int(3 * lam / step) + 1)
        idx = c0 + rr[:, None] * np.array(d)
        got = c[idx[:, 0], idx[:, 1], idx[:, 2]]
        want = with_images(ss, idx * h, np.full(3, c0 * h), grid)
        assert np.max(np.abs(got / want - 1)) < 0.01, d
    # the images matter (the test would see a solver ignoring the walls) ...
    assert with_images(ss, np.array([[c0 + 24.0, c0, c0]]), np.full(3, c0 * h), grid)[0] > \
        1.05 * ss(24.0)
    # ... and so does the decay: λ sets the profile
    ratio = c[c0 + 16, c0, c0] / c[c0 + 8, c0, c0]
    assert ratio == pytest.approx(0.5 * np.exp(-1.0), rel=0.02)


@pytest.mark.parametrize(("laplacian", "min_sigma_voxels", "tol"),
                         [("spectral", 3.0, 1e-4), ("finite_difference", 8.0, 0.01)])
def test_instantaneous_release_follows_the_analytic_time_course(laplacian, min_sigma_voxels,
                                                                tol):
    h, n, k, amount = 1.0, 64, 1e-3, 1000.0
    grid = Grid((n, n, n), h)
    rd = ReactionDiffusion(grid, D, 5.0, k_per_ms=k, laplacian=laplacian)
    c = rd.zeros()
    rd.release(c, np.array([[32.0, 32.0, 32.0]]), np.array([amount]))
    checked = 0
    for i in range(1, 61):
        c = rd.step(c)
        t = 5.0 * i
        sigma = np.sqrt(2 * D * t)
        if sigma < min_sigma_voxels * h:
            continue
        r = np.arange(0, int(2.5 * sigma))
        got = c[32 + r, 32, 32]
        want = with_images(lambda d, t=t: point_release(d, t, amount, D, k),
                           np.stack([32.0 + r, np.full(r.size, 32.0), np.full(r.size, 32.0)],
                                    axis=1), np.full(3, 32.0), grid)
        assert np.max(np.abs(got / want - 1)) < tol, t
        checked += 1
    assert checked >= 3


@pytest.mark.parametrize("laplacian", ReactionDiffusion.LAPLACIANS)
def test_amount_is_conserved_without_uptake(laplacian):
    grid = Grid((24, 20, 16), 2.0, (-5.0, 3.0, 0.0))
    rd = ReactionDiffusion(grid, D, 2.0, laplacian=laplacian)
    r = np.random.default_rng(1)
    c = rd.zeros()
    total = 0.0
    for i in range(200):
        if i % 20 == 0:
            amounts = r.uniform(10.0, 100.0, 5)
            pos = grid.origin_um + r.uniform(0, 1, (5, 3)) * (np.array(grid.shape) - 1) * 2.0
            rd.release(c, pos, amounts)
            total += amounts.sum()
        c = rd.step(c)
    assert c.sum() * grid.voxel_um3 == pytest.approx(total, rel=1e-12)
    if laplacian == "finite_difference":
        assert c.min() >= -1e-15 * c.max()  # no negative concentrations


def test_first_order_decay_and_exactness_in_time():
    grid = Grid((16, 16, 16), 1.0)
    c0 = np.random.default_rng(2).uniform(0, 1, grid.shape)
    one = ReactionDiffusion(grid, D, 10.0, k_per_ms=0.05)
    ten = ReactionDiffusion(grid, D, 1.0, k_per_ms=0.05)
    a, b = one.step(c0), c0
    for _ in range(10):
        b = ten.step(b)
    assert np.max(np.abs(a - b)) < 1e-12
    assert a.sum() == pytest.approx(c0.sum() * np.exp(-0.5), rel=1e-12)


def test_saturable_uptake_matches_an_ode_solve():
    grid = Grid((2, 2, 2), 1.0)
    vmax, km = 0.02, 0.5
    c0 = np.array([0.05, 0.3, 1.0, 4.0, 10.0, 0.0, 2.0, 0.7]).reshape(grid.shape)
    rd = ReactionDiffusion(grid, 0.0, 7.0, vmax_uM_per_ms=vmax, km_uM=km)
    c = c0
    for _ in range(20):
        c = rd.step(c)
    for x0, x in zip(c0.ravel(), c.ravel()):
        sol = solve_ivp(lambda t, y: -vmax * y / (km + y), (0, 140.0), [x0], rtol=1e-12,
                        atol=1e-15)
        assert x == pytest.approx(sol.y[0, -1], rel=1e-8, abs=1e-14)


def test_strang_splitting_is_second_order():
    grid = Grid((16, 16, 16), 1.0)
    c0 = np.zeros(grid.shape)
    c0[8, 8, 8] = 50.0

    def run(dt):
        rd = ReactionDiffusion(grid, D, dt, vmax_uM_per_ms=0.01, km_uM=0.2)
        c = c0
        for _ in range(int(round(40.0 / dt))):
            c = rd.step(c)
        return c

    ref = run(0.125)
    e1, e2 = (np.max(np.abs(run(dt) - ref)) for dt in (4.0, 2.0))
    assert 3.0 < e1 / e2 < 5.0


def test_grid_places_samples_and_refuses_outside_positions():
    g = Grid.around(np.array([[0.0, 0, 0], [10.0, 4.0, 2.0]]), 1.0, margin_um=2.0)
    assert g.shape == (15, 9, 7) and g.origin_um == (-2.0, -2.0, -2.0)
    x, y, z = np.meshgrid(*g.centres_um(), indexing="ij")
    lin = 2.0 * x - 3.0 * y + 0.5 * z + 1.0
    p = np.array([[0.3, 1.7, -0.4], [9.9, 3.2, 1.1]])
    assert np.allclose(g.sample(lin, p), 2.0 * p[:, 0] - 3.0 * p[:, 1] + 0.5 * p[:, 2] + 1.0)
    with pytest.raises(ValueError, match="dopamine.*outside"):
        g.voxel_of(np.array([[50.0, 0, 0]]), owner="dopamine")
    with pytest.raises(ValueError, match="D_um2_per_ms"):
        ReactionDiffusion(g, -1.0, 1.0)
