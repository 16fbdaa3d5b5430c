"""``quantal_stp_synapse`` beside NEST 3.10: the same statistics of release.

NEST draws a synapse's releases from its per-thread random stream and wbe from streams keyed by
(seed, edge id, stamp), so the two agree in distribution, not spike for spike. One presynaptic
train drives M synapses, each onto its own ``iaf_psc_delta`` neuron that cannot fire (θ far
away, τ_m 1e9 ms: V_m only integrates); the jump of V_m at each arrival is that spike's
``n_release · weight``. For every spike of the train, the mean and the variance over the M
synapses of the released sites must agree between wbe and NEST (within 4.5 standard errors),
and at the first spike both must match the binomial law Binomial(a, u) they start from. Both
sides are seeded, so the test is deterministic. The rule must also depress: later spikes of a
fast train release less than the first.
"""

from __future__ import annotations

import numpy as np
import pytest

from wbe.engine.network import (
    Network,
    Plasticity,
    Population,
    Projection,
    RunConfig,
    SpikeTrainInput,
    StateRecorder,
)
from wbe.engine.registry import PLASTICITY
from wbe.engine.simulator import simulate

nest = pytest.importorskip("nest")
pytestmark = pytest.mark.nest

DT, DELAY, W, M = 0.1, 1.0, 1.0, 3000
REC_MS = 1.0  # V_m sampled every ms: it is constant between arrivals (>= 5 ms apart)
POST = {"tau_m": 1e9, "V_th": 1e9, "E_L": 0.0, "V_m": 0.0, "V_reset": 0.0, "C_m": 1.0,
        "t_ref": 0.1}
TRAIN = np.round(np.r_[5.0 + 20.0 * np.arange(8), 400.0, 405.0], 1)  # 50 Hz, then recovery
T = 420.0
RULE = PLASTICITY.get("quantal_stp_synapse")
CASES = {"example": RULE.example, "nest-defaults": {},
         "facilitating": {"U": 0.1, "u": 0.1, "tau_fac": 200.0, "tau_rec": 50.0, "n": 3.0,
                          "a": 3.0}}


def _jumps(times: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(spikes, M) V_m jumps at the train's arrivals (parrot + delay, 1.1 ms after each spike):
    the last sample at or before the spike to the first sample 3 ms after it."""
    before = np.searchsorted(times, TRAIN + 1e-6) - 1
    after = np.searchsorted(times, TRAIN + 3.0 - 1e-6)
    return v[after] - v[before]


def run_nest(params: dict) -> np.ndarray:
    nest.set_verbosity("M_ERROR")
    nest.ResetKernel()
    nest.resolution = DT
    nest.rng_seed = 12
    post = nest.Create("iaf_psc_delta", M, params=POST)
    pre = nest.Create("parrot_neuron")
    sg = nest.Create("spike_generator", params={"spike_times": TRAIN.tolist()})
    nest.Connect(sg, pre, syn_spec={"delay": DT})
    syn = {"synapse_model": "quantal_stp_synapse", "weight": W, "delay": DELAY,
           **RULE.nest_values(params)}
    nest.Connect(pre, post, "all_to_all", syn)
    mm = nest.Create("multimeter", params={"record_from": ["V_m"], "interval": REC_MS})
    nest.Connect(mm, post)
    nest.Simulate(T)
    ev = mm.get("events")
    senders, times, v = (np.asarray(ev[k]) for k in ("senders", "times", "V_m"))
    order = np.lexsort((senders, times))
    nt = np.unique(times)
    return _jumps(nt, v[order].reshape(nt.size, M))


def run_wbe(params: dict, seed: int = 5, use_numba: bool = True) -> np.ndarray:
    net = Network(
        [Population("post", "iaf_psc_delta", M, POST), Population("pre", "virtual", 1)],
        [Projection("syn", "pre", "post", np.zeros(M, np.int64), np.arange(M), np.full(M, W),
                    np.full(M, DELAY), plasticity=Plasticity(RULE.name, params))],
        spike_trains=[SpikeTrainInput("pre", "pre", np.zeros(TRAIN.size, np.int64),
                                      np.round(TRAIN + DT, 1))])
    res = simulate(net, RunConfig(T, dt_ms=DT, seed=seed, state_recorders=[
        StateRecorder("post", ["V_m"], np.arange(M), REC_MS)]), use_numba=use_numba)
    times, _, v = res.state["post"]["V_m"]
    return _jumps(np.asarray(times), v)


@pytest.mark.parametrize("case", list(CASES))
def test_release_statistics_match_nest(case):
    params = CASES[case]
    full = {**RULE.defaults, **params}
    theirs, ours = run_nest(params) / W, run_wbe(params) / W
    for name, x in (("NEST", theirs), ("wbe", ours)):  # whole numbers of sites (V_m leaks 1e-8)
        assert np.max(np.abs(x - np.round(x))) < 1e-6, name
        x[...] = np.round(x)
        assert x.min() >= 0 and x.max() <= full["n"], name
    # the first spike: Binomial(a, u) on both sides
    a, u = full["a"], full["u"]
    for name, x in (("NEST", theirs[0]), ("wbe", ours[0])):
        assert abs(x.mean() - a * u) <= 4.5 * np.sqrt(a * u * (1 - u) / M), name
    # every spike: wbe's mean and variance against NEST's
    for k in range(TRAIN.size):
        o, t = ours[k], theirs[k]
        se_mean = np.sqrt((o.var(ddof=1) + t.var(ddof=1)) / M) + 1e-12
        assert abs(o.mean() - t.mean()) <= 4.5 * se_mean, (case, k, o.mean(), t.mean())
        # the variance's standard error from the fourth central moment
        se_var = np.sqrt(sum((np.mean((x - x.mean()) ** 4) - x.var() ** 2) / M
                             for x in (o, t))) + 1e-12
        assert abs(o.var(ddof=1) - t.var(ddof=1)) <= 4.5 * se_var, (case, k)
    if case == "example":  # depression at 50 Hz, recovery after 240 ms
        assert ours[7].mean() < 0.7 * ours[0].mean() and ours[8].mean() > ours[7].mean()


def test_keyed_draws_reference_equals_compiled_and_depend_on_the_seed():
    a = run_wbe(RULE.example, seed=5)
    assert np.array_equal(a, run_wbe(RULE.example, seed=5, use_numba=False))
    assert not np.array_equal(a, run_wbe(RULE.example, seed=6))
