"""Homeostatic synaptic scaling (``synaptic_scaling``): every weight equals the closed-form
solution of dw/dt = w (1 − r/r*)/τ_s computed here from the recorded postsynaptic spikes (so the
scaling of a neuron's synapses keeps their ratios), and neurons started far above and far below
the target rate converge to it. Bit-identity of the compiled and NumPy paths, checkpoints and
1 vs 2 ranks: the contract tests (tests/unit/test_contract.py, tests/mpi)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wbe.engine.network import (
    Network,
    Plasticity,
    PoissonInput,
    Population,
    Projection,
    RunConfig,
    SpikeTrainInput,
)
from wbe.engine.simulator import simulate

DT = 0.1


def trains(n: int, rate_hz: float, t_ms: float, seed: int) -> SpikeTrainInput:
    r = np.random.default_rng(seed)
    ids, times = [], []
    for i in range(n):
        t = np.unique(np.round(r.uniform(1.0, t_ms - 1.0, r.poisson(rate_hz * t_ms / 1e3)), 1))
        ids.append(np.full(t.size, i))
        times.append(t)
    ids, times = np.concatenate(ids), np.concatenate(times)
    o = np.lexsort((ids, times))
    return SpikeTrainInput("pre_st", "pre", ids[o], times[o])


def closed_form(w0: float, posts: np.ndarray, t_u: int, p: dict) -> float:
    """w(t_u) from w(0) = w0 given the post spike stamps ``posts``: the module docstring's
    solution between consecutive post spikes (the trace K grows by 1 at each)."""
    k = p["r_initial"] * p["tau_rate"] / 1000.0
    log_f, t_prev = 0.0, 0
    for t, spike in [*((int(x), True) for x in posts if x <= t_u), (t_u, False)]:
        span = (t - t_prev) * DT
        log_f += (span - 1000.0 * k * -math.expm1(-span / p["tau_rate"]) / p["r_target"]
                  ) / p["tau_scaling"]
        k = k * math.exp(-span / p["tau_rate"]) + (1.0 if spike else 0.0)
        t_prev = t
    return w0 * math.exp(log_f)


def test_weights_follow_the_closed_form_and_keep_their_ratios():
    t_ms, n_pre, n_post = 3000.0, 12, 3
    prm = {"r_target": 5.0, "tau_rate": 200.0, "tau_scaling": 500.0, "r_initial": 3.0}
    src, tgt = np.divmod(np.arange(n_pre * n_post), n_post)
    r = np.random.default_rng(2)
    w0 = r.uniform(5.0, 20.0, src.size)
    st = trains(n_pre, 6.0, t_ms, 3)
    net = Network(
        [Population("post", "iaf_psc_exp", n_post, {"I_e": 150.0}),
         Population("pre", "virtual", n_pre)],
        [Projection("plastic", "pre", "post", src, tgt, w0, np.round(r.uniform(0.5, 3.0,
                                                                              src.size), 1),
                    plasticity=Plasticity("synaptic_scaling", prm))],
        poisson=[PoissonInput("drive", "post", np.arange(n_post), 9000.0, 25.0)],
        spike_trains=[st])
    res = simulate(net, RunConfig(t_ms, DT, seed=4))
    t_post, i_post = res.spikes["post"]
    pre_stamps = np.round(st.times_ms / DT).astype(np.int64)
    k_end = int(round(t_ms / DT))
    got = res.weights["plastic"]
    assert t_post.size > 20
    for e in range(src.size):  # one factor per neuron and time: the ratios are kept
        posts = np.round(t_post[i_post == tgt[e]] / DT).astype(np.int64)
        t_u = max(int(pre_stamps[st.node_ids == src[e]].max()),
                  int(posts.max()) if posts.size else 0)  # the synapse's last update
        assert t_u <= k_end
        want = closed_form(w0[e], posts, t_u, prm)
        assert got[e] == pytest.approx(want, rel=1e-12, abs=0.0), (e, got[e], want)
        assert not np.isclose(got[e], w0[e], rtol=1e-3), "the weights should have moved"


def test_neurons_converge_to_the_target_rate_from_above_and_below():
    """20 neurons with 80 of 200 Poisson inputs (10 Hz) each: half start with weights that make
    them fire at > 20 spikes/s, half silent; with r* = 5 spikes/s, τ_s = 1 s, τ_r = 500 ms, both
    halves fire at r* within 25 % over the last 5 s of 20 s."""
    t_ms, n_pre, n_post, k_in = 20000.0, 200, 20, 80
    r = np.random.default_rng(8)
    src = np.concatenate([r.choice(n_pre, k_in, replace=False) for _ in range(n_post)])
    tgt = np.repeat(np.arange(n_post), k_in)
    w0 = np.where(tgt < n_post // 2, 400.0, 50.0)
    prm = {"r_target": 5.0, "tau_rate": 500.0, "tau_scaling": 1000.0, "r_initial": 5.0}
    net = Network(
        [Population("post", "iaf_psc_exp", n_post), Population("pre", "virtual", n_pre)],
        [Projection("plastic", "pre", "post", src, tgt, w0, np.full(src.size, 1.0),
                    plasticity=Plasticity("synaptic_scaling", prm))],
        spike_trains=[trains(n_pre, 10.0, t_ms, 5)])
    res = simulate(net, RunConfig(t_ms, DT, seed=1))
    t, i = res.spikes["post"]
    early = np.bincount(i[t < 200.0], minlength=n_post) / 0.2
    late = np.bincount(i[t >= t_ms - 5000.0], minlength=n_post) / 5.0
    assert early[: n_post // 2].mean() > 20.0 and early[n_post // 2:].mean() < 1.0, early
    for half in (late[: n_post // 2], late[n_post // 2:]):
        assert abs(half.mean() - 5.0) <= 1.25, late
    w = res.weights["plastic"]  # the strong weights shrank, the weak ones grew
    assert w[tgt < n_post // 2].max() < 400.0 and w[tgt >= n_post // 2].min() > 50.0
