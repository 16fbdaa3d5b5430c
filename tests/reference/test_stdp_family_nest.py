"""Long-term plasticity rules against NEST 3.10 over 1 s of Poisson-driven pre and post
activity, run beside it in the test.

For every registered rule with a NEST model that is not short-term (``stdp_synapse``,
``vogels_sprekeler_synapse``, …): 20 Poisson spike trains (15 Hz) project all-to-all onto 5
``iaf_psc_alpha`` neurons through plastic synapses, each neuron also kicked by its own Poisson
train (20 Hz) so that it fires irregularly; the plastic weights feed back into the firing. wbe
(compiled and NumPy paths) and NEST (``run_in_nest``: NEST's lazy update at pre spikes, the post
trace on the neuron) give the same post spikes and weights within 1e-12 relative.

A rule that reads a neuromodulator (``stdp_dopamine_synapse``) gets a volume transmitter fed
by 3 dopamine Poisson trains (8 Hz, :func:`wbe.engine.modulators.with_dopamine`), once with
NEST's default trigger every min-delay slice and once every 5 slices; its pre trains stop 5 ms
before the end (NEST's weights are read after the transmitter's trigger at the end, before the
last slice's spikes are delivered).
"""

from __future__ import annotations

import numpy as np
import pytest

from wbe.engine.modulators import with_dopamine
from wbe.engine.network import (
    Network,
    Plasticity,
    Population,
    Projection,
    RunConfig,
    SpikeTrainInput,
)
from wbe.engine.registry import PLASTICITY
from wbe.engine.simulator import simulate

nest = pytest.importorskip("nest")
pytestmark = pytest.mark.nest

T_MS, N_PRE, N_POST = 1000.0, 20, 5
RULES = [(r.name, di) for r in PLASTICITY if r.nest_model and not r.short_term
         for di in ((1, 5) if r.modulated else (1,))]


def poisson_trains(rate_hz: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(node ids, times on the 0.1 ms grid) of ``n`` Poisson trains over the run."""
    r = np.random.default_rng(seed)
    ids, times = [], []
    for i in range(n):
        t = np.unique(np.round(r.uniform(1.0, T_MS - 1.0, r.poisson(rate_hz * T_MS / 1e3)), 1))
        ids.append(np.full(t.size, i))
        times.append(t)
    return np.concatenate(ids), np.concatenate(times)


def network(rule: str, deliver_interval: int = 1) -> Network:
    w0 = 40.0
    spec = PLASTICITY.get(rule)
    params = spec.example_params([w0], headroom=3.0)
    src, tgt = np.divmod(np.arange(N_PRE * N_POST), N_POST)
    r = np.random.default_rng(7)
    pre_ids, pre_t = poisson_trains(15.0, N_PRE, 1)
    if spec.modulated:
        pre_ids, pre_t = pre_ids[pre_t < T_MS - 5.0], pre_t[pre_t < T_MS - 5.0]
    drv_ids, drv_t = poisson_trains(20.0, N_POST, 2)
    net = Network(
        [Population("post", "iaf_psc_alpha", N_POST, {"I_e": 200.0}),
         Population("pre", "virtual", N_PRE), Population("drive", "virtual", N_POST)],
        [Projection("plastic", "pre", "post", src, tgt, w0 * r.uniform(0.5, 1.5, src.size),
                    np.round(r.uniform(0.5, 3.0, src.size), 1),
                    plasticity=Plasticity(rule, params)),
         Projection("kick", "drive", "post", np.arange(N_POST), np.arange(N_POST),
                    np.full(N_POST, 900.0), np.full(N_POST, 1.0))],
        spike_trains=[SpikeTrainInput("pre_st", "pre", pre_ids, pre_t),
                      SpikeTrainInput("drive_st", "drive", drv_ids, drv_t)])
    return with_dopamine(net, T_MS, rate_hz=8.0, n=3, seed=5, delay_ms=1.0,
                         deliver_interval=deliver_interval)


@pytest.mark.parametrize(("rule", "deliver_interval"), RULES,
                         ids=[f"{r}-{d}" if d > 1 else r for r, d in RULES])
def test_weights_after_one_second_of_poisson_activity_equal_nest(rule, deliver_interval):
    from wbe.reference.nest import run_in_nest

    net = network(rule, deliver_interval)
    run = RunConfig(T_MS, 0.1, seed=3)
    spikes, weights = run_in_nest(net, run, with_weights=True)
    w_nest = weights["plastic"]
    t_post = spikes["post"][0]
    assert t_post.size >= 5 * N_POST, "the post neurons should fire repeatedly"
    w0 = net.projections[0].weight
    assert np.mean(np.abs(w_nest - w0) > 1e-6) > 0.9, "most weights should have moved"
    for use_numba in (True, False):
        res = simulate(net, run, use_numba=use_numba)
        assert np.array_equal(np.round(res.spikes["post"][0] / 0.1), np.round(t_post / 0.1))
        np.testing.assert_allclose(res.weights["plastic"], w_nest, rtol=1e-12, atol=0,
                                   err_msg=f"{rule} ({'compiled' if use_numba else 'numpy'})")
