"""``bcm_synapse`` against an independent numerical solution of its equations, and its fixed
point: with the Intrator–Cooper threshold (θ relaxing to r²/r_0) the rule drives a neuron's
rate to r_0 from above and from below."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from wbe.engine.network import (
    Network,
    Plasticity,
    Population,
    Projection,
    RunConfig,
    SpikeTrainInput,
)
from wbe.engine.simulator import simulate


def trains(rate_hz: float, n: int, t_ms: float, seed: int):
    r = np.random.default_rng(seed)
    ids, times = [], []
    for i in range(n):
        t = np.unique(np.round(r.uniform(1.0, t_ms - 1.0, r.poisson(rate_hz * t_ms / 1e3)), 1))
        ids.append(np.full(t.size, i))
        times.append(t)
    return np.concatenate(ids), np.concatenate(times)


@pytest.mark.parametrize("power", [1.0, 2.0])
def test_weights_equal_a_numerical_solution_of_the_equations(power):
    prm = {"eta": 3e-4, "tau_y": 80.0, "tau_theta": 700.0, "r_0": 12.0,
           "theta_power": power, "theta_0": 4.0, "Wmax": 1e6}
    t_ms = 3000.0
    pre_ids, pre_t = trains(20.0, 3, t_ms, 1)
    drv_ids, drv_t = trains(25.0, 1, t_ms, 2)
    net = Network(
        [Population("post", "iaf_psc_delta", 1), Population("pre", "virtual", 3),
         Population("drive", "virtual", 1)],
        [Projection("bcm", "pre", "post", np.arange(3), np.zeros(3, np.int64),
                    np.full(3, 0.5), np.array([1.0, 1.7, 2.3]),
                    plasticity=Plasticity("bcm_synapse", prm)),
         Projection("kick", "drive", "post", np.array([0]), np.array([0]), np.array([30.0]),
                    np.array([0.5]))],
        spike_trains=[SpikeTrainInput("a", "pre", pre_ids, pre_t),
                      SpikeTrainInput("b", "drive", drv_ids, drv_t)])
    run = RunConfig(t_ms, 0.1, seed=1)
    res = simulate(net, run)
    assert np.array_equal(res.weights["bcm"], simulate(net, run, use_numba=False).weights["bcm"])
    post = res.spikes["post"][0]
    assert post.size > 30
    # the reference: y and θ by solve_ivp between post spikes, each pre spike adding
    # η·r·(r − θ) at its time (post spikes at the same time count first)
    ty, tt, r0, eta = prm["tau_y"], prm["tau_theta"], prm["r_0"], prm["eta"]

    def rhs(t, z):
        rate = 1000.0 * z[0] / ty
        return [-z[0] / ty, (rate ** power / r0 ** (power - 1.0) - z[1]) / tt]

    events = sorted([(t, 0, -1) for t in post] + [(t, 1, i) for t, i in zip(pre_t, pre_ids)])
    z, t_now = [0.0, prm["theta_0"]], 0.0
    w = np.full(3, 0.5)
    for t, kind, i in events:
        if t > t_now:
            z = solve_ivp(rhs, (t_now, t), z, rtol=1e-12, atol=1e-14, method="DOP853").y[:, -1]
            t_now = t
        if kind == 0:
            z = [z[0] + 1.0, z[1]]
        else:
            rate = 1000.0 * z[0] / ty
            w[i] = max(0.0, w[i] + eta * rate * (rate - z[1]))
    assert np.mean(np.abs(w - 0.5) > 1e-3) == 1.0, "every weight should move"
    np.testing.assert_allclose(res.weights["bcm"], w, rtol=1e-8)


def rate_after_learning(w0: float, seed: int = 3) -> tuple[float, float]:
    """(rate in the first second, in the last 10 s) of 10 neurons driven by 100 Poisson inputs (10 spikes/s)
    through bcm_synapse weights starting at w0 (mV), r_0 = 8 spikes/s."""
    t_ms, n, m = 80_000.0, 10, 100
    ids, times = trains(10.0, m, t_ms, seed)
    src, tgt = np.divmod(np.arange(m * n), n)
    prm = {"eta": 2e-5, "tau_y": 200.0, "tau_theta": 1000.0, "r_0": 8.0, "theta_power": 2.0,
           "theta_0": 8.0, "Wmax": 10.0}
    net = Network(
        [Population("c", "iaf_psc_delta", n), Population("in", "virtual", m)],
        [Projection("bcm", "in", "c", src, tgt, np.full(src.size, w0), np.full(src.size, 1.0),
                    plasticity=Plasticity("bcm_synapse", prm))],
        spike_trains=[SpikeTrainInput("x", "in", ids, times)])
    t, _i = simulate(net, RunConfig(t_ms, 0.1, seed=seed)).spikes["c"]
    return (float(np.sum(t < 1000.0)) / n / 1.0,
            float(np.sum(t >= t_ms - 10_000.0)) / n / 10.0)


@pytest.mark.parametrize("w0", [0.9, 1.3])
def test_drives_the_rate_to_r0(w0):
    before, after = rate_after_learning(w0)
    assert abs(before - 8.0) >= 3.5, f"the start should be far from r_0 ({before:.1f})"
    assert after == pytest.approx(8.0, abs=1.5), f"{before:.1f} -> {after:.1f} spikes/s"


def test_rate_form_becomes_selective_at_the_analytic_fixed_point():
    """The rate form with Intrator & Cooper's θ = ⟨y²⟩/r0 on a linear rate neuron fed two
    orthogonal patterns (20 Hz on input 1 or on input 2, each half the time in random 20 ms
    blocks): BCM's stable fixed points are selective — the response to one pattern goes to
    θ = r0/p = 2·r0, to the other to 0 — and the pattern the neuron first preferred wins."""
    from wbe.engine.plasticity.bcm_synapse import bcm_rate

    rng = np.random.default_rng(1)
    steps, block, r0 = 200_000, 20, 10.0
    which = np.repeat(rng.integers(0, 2, steps // block), block)
    pre = np.zeros((steps, 2))
    pre[np.arange(steps), which] = 20.0
    for w0, win in (([0.40, 0.35], 0), ([0.35, 0.40], 1)):
        r = bcm_rate(pre, [w0], dt_ms=1.0, learning_rate=2e-5, theta_power=2, r0_hz=r0,
                     every=1000)
        resp = np.maximum(r.weights[-1, 0] * 20.0, 0.0)  # responses to the two patterns
        assert abs(resp[win] - 2 * r0) < 0.1 * 2 * r0, resp
        assert resp[1 - win] == 0.0, resp
        start = np.array(w0) * 20.0
        assert abs(start[0] - start[1]) < 0.15 * start.max()  # from nearly unselective


def test_rate_form_rejects_bad_shapes():
    from wbe.engine.plasticity.bcm_synapse import bcm_rate

    with pytest.raises(ValueError, match="post_hz must be"):
        bcm_rate(np.zeros((5, 2)), np.zeros((1, 2)), dt_ms=1.0, learning_rate=1.0,
                 post_hz=np.zeros((5, 3)))
    with pytest.raises(ValueError, match="theta_power"):
        bcm_rate(np.zeros((5, 2)), np.zeros((1, 2)), dt_ms=1.0, learning_rate=1.0,
                 theta_power=3)
