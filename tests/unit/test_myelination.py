"""Activity-dependent myelination (wbe.engine.glia.myelination): delays shrink as the source
neurons fire, and each target spike comes exactly one (changing) delay after its source spike —
the delay the model's equations give, recomputed here independently; the rate sets how fast;
the compiled and NumPy paths agree; a checkpoint restores myelin and delays exactly; specs out
of range are refused. 1 vs 2 ranks: tests/mpi."""

from __future__ import annotations

import numpy as np
import pytest

from wbe.engine.network import (
    Myelination,
    Network,
    Population,
    Projection,
    RunConfig,
    SpikeTrainInput,
)
from wbe.engine.simulator import simulate

DT, L_UM = 0.1, 5000.0
RATES_HZ = (50.0, 5.0)
SPEC = dict(v_min_um_per_ms=500.0, v_max_um_per_ms=10000.0, synaptic_delay_ms=0.5,
            tau_m_ms=200.0, tau_rate_ms=100.0, rate_half_hz=20.0, update_interval_ms=10.0)


def network(t_ms: float = 1000.0, **kw) -> Network:
    """Two regular sources (50 and 5 spikes/s, virtual) 5 mm from their targets
    (iaf_psc_delta, a 100 mV kick: a target spikes in the step its input arrives)."""
    times = [np.round(np.arange(2.0, t_ms, 1000.0 / r), 1) for r in RATES_HZ]
    ids = np.concatenate([np.full(t.size, i) for i, t in enumerate(times)])
    tt = np.concatenate(times)
    o = np.argsort(tt, kind="stable")
    xyz = {"x": np.zeros(2), "y": np.array([0.0, 50.0]), "z": np.zeros(2)}
    return Network(
        [Population("src", "virtual", 2, attributes=xyz),
         Population("tgt", "iaf_psc_delta", 2, {"t_ref": 0.5},
                    attributes={**xyz, "x": np.full(2, L_UM)}),
         Population("near", "iaf_psc_delta", 1, {"I_e": 400.0})],
        [Projection("axon", "src", "tgt", np.arange(2), np.arange(2), np.full(2, 100.0),
                    np.full(2, 3.0)),
         Projection("local", "near", "near", np.array([0]), np.array([0]), np.array([1.0]),
                    np.array([2.0]))],
        spike_trains=[SpikeTrainInput("st", "src", ids[o], tt[o])],
        glia=[Myelination(["axon"], **{**SPEC, **kw})])


def expected_delay_steps(t_ms: float, rate_hz: float) -> dict[float, int]:
    """The model's equations for one regular source, independently of the engine: rate
    trace, myelin at every update, delay in steps in force at each of its spikes."""
    sp = SPEC
    spikes = np.round(np.arange(2.0, t_ms, 1000.0 / rate_hz), 1)
    r, t_last, m = 0.0, 0.0, 0.0
    out, upd = {}, sp["update_interval_ms"]
    k_next = upd
    delay = int(np.rint((sp["synaptic_delay_ms"] + L_UM / sp["v_min_um_per_ms"]) / DT))
    for t in spikes:
        while k_next < t:  # updates before this spike (at slice ends, after delivery)
            r_now = r * np.exp(-(k_next - t_last) / sp["tau_rate_ms"])
            target = r_now / (r_now + sp["rate_half_hz"])
            m = target + (m - target) * np.exp(-upd / sp["tau_m_ms"])
            v = sp["v_min_um_per_ms"] + (sp["v_max_um_per_ms"] - sp["v_min_um_per_ms"]) * m
            delay = int(np.rint((sp["synaptic_delay_ms"] + L_UM / v) / DT))
            k_next += upd
        out[float(t)] = delay
        r = r * np.exp(-(t - t_last) / sp["tau_rate_ms"]) + 1000.0 / sp["tau_rate_ms"]
        t_last = t
    return out


def latencies(res, t_ms: float) -> list[dict[float, float]]:
    t, i = res.spikes["tgt"]
    out = []
    for n, rate in enumerate(RATES_HZ):
        src = np.round(np.arange(2.0, t_ms, 1000.0 / rate), 1)
        tgt = np.sort(t[i == n])
        pairs = {}
        for s in src:  # each source spike's target spike: the first after it
            later = tgt[tgt > s]
            if later.size:
                pairs[float(s)] = float(later[0] - s)
        out.append(pairs)
    return out


def test_delays_follow_the_myelin_the_model_predicts():
    t_ms = 1000.0
    res = simulate(network(t_ms), RunConfig(t_ms, dt_ms=DT))
    lat = latencies(res, t_ms)
    for n, rate in enumerate(RATES_HZ):
        want = expected_delay_steps(t_ms, rate)
        got = {s: round(v / DT) for s, v in lat[n].items()}
        arriving = [s for s in want if s + want[s] * DT < t_ms]
        assert [got[s] for s in arriving] == [want[s] for s in arriving], n
    fast, slow = lat[0], lat[1]
    assert fast[2.0] == pytest.approx(10.5) and slow[2.0] == pytest.approx(10.5)  # bare axons
    # 50 Hz: m → 50/70, v → 7.3 mm/s, delay → 1.2 ms; 5 Hz: m → 5/25, delay → 2.6 ms
    assert max(v for s, v in fast.items() if s > 700) < 1.5
    assert min(v for s, v in slow.items() if s > 700) > 2.0


def test_reference_path_equals_compiled():
    a = simulate(network(400.0), RunConfig(400.0, dt_ms=DT))
    b = simulate(network(400.0), RunConfig(400.0, dt_ms=DT), use_numba=False)
    for pop in a.spikes:
        assert all(np.array_equal(x, y) for x, y in zip(a.spikes[pop], b.spikes[pop]))


@pytest.mark.parametrize("t_stop", [333.3, 400.0])
def test_checkpoint_restores_myelin_and_delays(tmp_path, t_stop):
    full = simulate(network(), RunConfig(1000.0, dt_ms=DT))
    simulate(network(), RunConfig(t_stop, dt_ms=DT), checkpoint=tmp_path / "ck")
    second = simulate(network(), RunConfig(1000.0, dt_ms=DT), restore=tmp_path / "ck")
    t, i = full.spikes["tgt"]
    keep = t > t_stop
    assert np.array_equal(t[keep], second.spikes["tgt"][0])
    assert np.array_equal(i[keep], second.spikes["tgt"][1])


@pytest.mark.parametrize(("kw", "match"), [
    ({"update_interval_ms": 0.0}, "update_interval_ms"),
    ({"m_initial": 2.0}, "m_initial"),
    ({"v_max_um_per_ms": 100.0}, "v_max_um_per_ms must be >="),
])
def test_bad_myelination_is_refused(kw, match):
    with pytest.raises(ValueError, match=match):
        simulate(network(50.0, **kw), RunConfig(50.0, dt_ms=DT))


def test_edited_edges_keep_their_axon_lengths(tmp_path):
    """Edited projections lose their per-edge attributes; myelin keeps each surviving edge's
    ``length_um`` by its edge key (here lengths unlike the neurons' distance)."""
    from wbe.engine.context import context
    from wbe.engine.loop import Engine

    net = network(400.0)
    net.projections[0].attributes = {"length_um": np.array([4000.0, 2000.0])}
    eng = Engine(net, RunConfig(400.0, dt_ms=DT), context(None))
    eng.run_until(1000)
    d0 = eng.net.projections[0].delay_ms.copy()
    eng.edit_edges({"axon": np.array([True, False])})  # prune the first
    assert eng.net.projections[0].attributes == {}
    eng.run_until(1001)  # (no update in between: the delay is the one myelin set)
    assert eng.net.projections[0].delay_ms[0] == d0[1]
    g = eng.glia[0]
    assert g._lengths(eng.net, eng.net.projections[0], "t")[0] == 2000.0


def test_set_delays_refuses_what_the_run_cannot_take():
    from wbe.engine.context import context
    from wbe.engine.loop import Engine

    eng = Engine(network(50.0), RunConfig(50.0, dt_ms=DT), context(None))
    with pytest.raises(ValueError, match="no projection 'nope'"):
        eng.set_delays({"nope": np.zeros(1)})
    with pytest.raises(ValueError, match="projection 'axon'.*range"):
        eng.set_delays({"axon": np.array([0.2, 50.0])})
