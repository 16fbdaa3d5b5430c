"""The rate form of BCM (:func:`wbe.engine.plasticity.bcm_synapse.bcm_rate`) against nengo's
``BCM`` learning rule, run beside it in the test.

nengo 4.1: a 6-neuron rectified-linear ensemble driven by two sinusoids projects through a
learning connection (``BCM(learning_rate=1e-11)``, default filters: 5 ms on pre and post, 1 s
on θ) onto a 4-neuron ensemble, for 0.5 s at dt = 1 ms (longer, nengo's weights run away);
the weights move by up to 10 % of the largest. Fed the activities nengo's neurons produced,
wbe gives nengo's weights at every step (to 1e-12 of their change) and its θ (to 1e-12
relative: nengo discretises the filters by a matrix exponential, wbe by exp, which differ in
the last bits).
"""

from __future__ import annotations

import numpy as np
import pytest

from wbe.engine.plasticity.bcm_synapse import bcm_rate

nengo = pytest.importorskip("nengo")


def run_nengo(t_s: float = 0.5):
    with nengo.Network(seed=3) as net:
        stim = nengo.Node(lambda t: [np.sin(8 * t), np.cos(5 * t)])
        pre = nengo.Ensemble(6, 2, neuron_type=nengo.RectifiedLinear(), seed=1)
        post = nengo.Ensemble(4, 1, neuron_type=nengo.RectifiedLinear(), seed=2)
        nengo.Connection(stim, pre)
        w0 = np.random.default_rng(0).uniform(0.0, 0.01, (4, 6))
        conn = nengo.Connection(pre.neurons, post.neurons, transform=w0,
                                learning_rule_type=nengo.BCM(learning_rate=1e-11))
        probes = {"pre": nengo.Probe(pre.neurons), "post": nengo.Probe(post.neurons),
                  "w": nengo.Probe(conn, "weights"),
                  "theta": nengo.Probe(conn.learning_rule, "theta")}
    with nengo.Simulator(net, dt=0.001, progress_bar=False) as sim:
        sim.run(t_s)
    return w0, {k: sim.data[p] for k, p in probes.items()}


def test_rate_form_equals_nengo_bcm():
    w0, d = run_nengo()
    r = bcm_rate(d["pre"], w0, dt_ms=1.0, learning_rate=1e-11, post_hz=d["post"])
    change = np.abs(d["w"] - w0).max()
    assert change > 0.05 * np.abs(w0).max()  # learning did happen
    assert (d["w"][-1] > w0).any() and (d["w"][-1] < w0).any()  # both ways
    np.testing.assert_allclose(r.weights, d["w"], rtol=0, atol=1e-12 * change)
    np.testing.assert_allclose(r.theta, d["theta"], rtol=1e-12, atol=0)
