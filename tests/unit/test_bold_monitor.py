"""The engine's BOLD monitor equals the offline computation from the same drive, binned here
from the recorded spikes; the same in every loop mode, in pieces, without storing spikes."""

from __future__ import annotations

import numpy as np
import pytest

from wbe.engine.context import context
from wbe.engine.loop import Engine
from wbe.engine.network import BoldMonitor, PoissonInput, RunConfig
from wbe.engine.simulator import result_of, simulate
from wbe.hemodynamics.balloon import simulate_bold
from wbe.networks.regions import region_network

DT = 0.1


def _net(n_regions: int = 4, per_region: int = 30, seed: int = 2):
    r = np.random.default_rng(seed)
    w = r.uniform(0.0, 1.0, (n_regions, n_regions))
    np.fill_diagonal(w, 0.0)
    net = region_network(n_regions, per_region, weights=w, g=5.0, J_long_pA=150.0,
                         tract_lengths_mm=r.uniform(5.0, 40.0, (n_regions, n_regions)),
                         seed=seed)
    n_e = net.population("E").n
    n_i = net.population("I").n
    # regions get different drives, so their BOLD differs
    rate = 6000.0 + 800.0 * net.population("E").attributes["region_index"]
    net.poisson += [PoissonInput("bg_e", "E", np.arange(n_e), rate, 87.8),
                    PoissonInput("bg_i", "I", np.arange(n_i), 7000.0, 87.8)]
    return net


def _offline_drive(net, spikes, bin_ms, gain, t_stop_ms, pops=("E", "I")):
    """Counts per region per bin from recorded spikes: bin b holds spikes at times in
    (b·bin, (b+1)·bin]; drive = gain · mean rate (Hz)."""
    n_reg = int(max(net.population(p).attributes["region_index"].max() for p in pops)) + 1
    n_bins = int(round(t_stop_ms / bin_ms))
    counts = np.zeros((n_bins, n_reg))
    size = np.zeros(n_reg)
    for p in pops:
        reg = net.population(p).attributes["region_index"]
        size += np.bincount(reg, minlength=n_reg)
        t, ids = spikes[p]
        stamps = np.rint(t / DT).astype(np.int64)
        b = (stamps - 1) // int(round(bin_ms / DT))
        np.add.at(counts, (b, reg[ids]), 1.0)
    return counts * (gain / (size * bin_ms / 1000.0))


@pytest.mark.parametrize("use_numba", [True, False])
def test_monitor_equals_offline_bold_from_recorded_spikes(use_numba):
    net = _net()
    mon = BoldMonitor(["E", "I"], bin_ms=1.0, gain=0.02, params="tvb", tr_s=0.05,
                      keep_drive=True)
    res = simulate(net, RunConfig(1000.0, DT, seed=3, monitors=[mon]), use_numba=use_numba)
    rec = res.monitors
    drive = _offline_drive(net, res.spikes, 1.0, 0.02, 1000.0)
    assert drive.sum() > 0 and np.ptp(drive.mean(axis=0)) > 0  # regions differ
    assert np.allclose(rec["bold/drive"], drive, rtol=1e-14, atol=0)
    off = simulate_bold(drive, 1.0, "tvb", tr_s=0.05)
    assert np.allclose(rec["bold/t_s"], off.t_s) and rec["bold/t_s"].size == 20
    assert np.allclose(rec["bold/bold"], off.bold, rtol=1e-12, atol=1e-15)
    assert np.array_equal(rec["bold/bold"], simulate_bold(rec["bold/drive"], 1.0, "tvb",
                                                          tr_s=0.05).bold)
    assert np.array_equal(rec["bold/regions"], np.arange(4))
    assert np.array_equal(rec["bold/n_neurons"], np.full(4, 30))
    assert str(rec["bold/unit"]) == "%"


def test_modes_and_pieces_agree_and_no_spike_is_stored():
    net = _net()
    mon = [BoldMonitor(["E"], region_attribute="region", bin_ms=0.5, tr_s=0.02,
                       params="stephan2007", gain=0.05)]
    run = RunConfig(400.0, DT, seed=4, record_spikes=[], monitors=mon)
    fused = simulate(net, run)
    ref = simulate(net, run, use_numba=False)
    assert fused.spikes == {} or all(t.size == 0 for t, _ in fused.spikes.values())
    assert np.array_equal(fused.monitors["bold/bold"], ref.monitors["bold/bold"])
    eng = Engine(net, run, context(None))
    assert eng.mode == "fused"
    for stop in (37, 1003, 1004, 2555, 4000):  # inside bins, slices and chunks
        eng.run_until(stop)
    assert np.array_equal(result_of(eng).monitors["bold/bold"], fused.monitors["bold/bold"])
    assert fused.monitors["bold/bold"].shape == (20, 4)
    assert fused.monitors["bold/regions"].dtype.kind == "U"


def test_neurons_outside_regions_and_bad_specs():
    net = _net()
    idx = net.population("E").attributes["region_index"].copy()
    idx[idx == 3] = -1  # region 3 left out
    net.population("E").attributes["cortex"] = idx
    res = simulate(net, RunConfig(50.0, DT, monitors=[
        BoldMonitor(["E"], region_attribute="cortex", tr_s=0.01)]))
    assert np.array_equal(res.monitors["bold/regions"], [0, 1, 2])

    def build(**kw):
        spec = dict(populations=["E"], tr_s=0.01)
        spec.update(kw)
        Engine(net, RunConfig(10.0, DT, monitors=[BoldMonitor(**spec)]), context(None))

    with pytest.raises(ValueError, match="no population named 'X'"):
        build(populations=["X"])
    with pytest.raises(ValueError, match="no node attribute 'layer'"):
        build(region_attribute="layer")
    with pytest.raises(ValueError, match="bin_ms .* multiple of dt"):
        build(bin_ms=0.25)
    with pytest.raises(ValueError, match="TR .* multiple"):
        build(bin_ms=3.0)
    with pytest.raises(ValueError, match="unknown Balloon parameter set"):
        build(params="spm12")
    with pytest.raises(ValueError, match="monitor names"):
        Engine(net, RunConfig(10.0, DT, monitors=[BoldMonitor(["E"]), BoldMonitor(["I"])]),
               context(None))


def test_python_api_bold():
    import wbe

    sim = wbe.Simulation(dt_ms=DT, seed=5)
    a = sim.population("A", "iaf_psc_alpha", 40, I_e=380.0)
    b = sim.population("B", "iaf_psc_alpha", 20, I_e=390.0)
    sim.bold({"left": a[:20] + b[:10], "right": a[20:]}, tr_s=0.01, gain=0.01,
             keep_drive=True)
    with pytest.raises(ValueError, match="in two regions"):
        sim.bold({"x": a[:5], "y": a[3:8]}, name="other")
    sim.run(100.0)
    t, bold, regions = sim.bold_signal()
    assert list(regions) == ["left", "right"] and bold.shape == (10, 2)
    assert np.allclose(t, 0.01 * np.arange(1, 11))
    sp = sim.spikes()
    drive = sim.result().monitors["bold/drive"]
    assert drive.shape == (100, 2)
    left = sp["A"][1] < 20
    n_left = np.sum(left) + np.sum(sp["B"][1] < 10)
    assert drive[:, 0].sum() == pytest.approx(0.01 * n_left / (30 * 1e-3))
    assert drive[:, 1].sum() == pytest.approx(0.01 * np.sum(~left) / (20 * 1e-3))
    with pytest.raises(ValueError, match="no bold monitor 'x'"):
        sim.bold_signal("x")
