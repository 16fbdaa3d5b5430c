"""Per-neuron metrics (Elephant) against direct NumPy; Dask chunking; summaries."""

import json

import numpy as np
import pandas as pd
import pytest

from wbe.analysis.spiking import (
    neuron_metrics,
    pairwise_correlations,
    population_summary,
    split_by_neuron,
)


def _spikes(seed=0, n=12, t_stop=2000.0):
    rng = np.random.default_rng(seed)
    ts, ids = [], []
    for i in range(n):
        k = rng.poisson(2 * i)  # neuron 0 silent
        ts.append(np.sort(rng.uniform(0, t_stop, k)))
        ids.append(np.full(k, i))
    return np.concatenate(ts), np.concatenate(ids)


def test_small_case_by_hand():
    t = np.array([100.0, 200.0, 400.0, 50.0, 150.0, 700.0])
    ids = np.array([0, 0, 0, 1, 1, 2])
    df = neuron_metrics(t, ids, 4, t_start_ms=0.0, t_stop_ms=1000.0, bin_ms=250.0)
    assert df["rate_hz"].tolist() == pytest.approx([3.0, 2.0, 1.0, 0.0])
    isi = np.array([100.0, 200.0])
    assert df.loc[0, "isi_cv"] == pytest.approx(isi.std() / isi.mean())
    assert np.isnan(df.loc[1, "isi_cv"])  # 2 spikes < min_spikes_cv = 3
    counts0 = np.array([2, 1, 0, 0])  # bins of 250 ms
    assert df.loc[0, "fano"] == pytest.approx(counts0.var() / counts0.mean())
    assert np.isnan(df.loc[3, "fano"])
    assert df["n_spikes"].tolist() == [3, 2, 1, 0]


def test_elephant_equals_numpy_and_window():
    t, ids = _spikes()
    kw = dict(t_start_ms=300.0, t_stop_ms=1900.0, bin_ms=100.0)
    a = neuron_metrics(t, ids, 12, backend="elephant", **kw)
    b = neuron_metrics(t, ids, 12, backend="numpy", **kw)
    pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-12)
    # direct check of the window for one neuron
    sel = (ids == 7) & (t >= 300) & (t < 1900)
    assert a.loc[7, "n_spikes"] == sel.sum()
    assert a.loc[7, "rate_hz"] == pytest.approx(sel.sum() / 1.6)


def test_dask_chunks_equal_single():
    t, ids = _spikes(seed=4, n=30)
    kw = dict(t_start_ms=0.0, t_stop_ms=2000.0, bin_ms=50.0, backend="numpy")
    one = neuron_metrics(t, ids, 30, chunk_neurons=1000, **kw)
    many = neuron_metrics(t, ids, 30, chunk_neurons=7, scheduler="threads", **kw)
    pd.testing.assert_frame_equal(one, many)
    many_el = neuron_metrics(t, ids, 30, chunk_neurons=7, scheduler="synchronous",
                             **{**kw, "backend": "elephant"})
    pd.testing.assert_frame_equal(one, many_el, check_exact=False, rtol=1e-12)


def test_poisson_statistics():
    rng = np.random.default_rng(1)
    n, rate, T = 40, 20.0, 20000.0
    ts, ids = [], []
    for i in range(n):
        k = rng.poisson(rate * T / 1000)
        ts.append(np.sort(rng.uniform(0, T, k)))
        ids.append(np.full(k, i))
    df = neuron_metrics(np.concatenate(ts), np.concatenate(ids), n, t_start_ms=0.0,
                        t_stop_ms=T, bin_ms=100.0, backend="numpy")
    s = population_summary(df)
    assert s["rate_hz_mean"] == pytest.approx(rate, rel=0.05)
    assert s["isi_cv_mean"] == pytest.approx(1.0, abs=0.05)
    assert s["fano_mean"] == pytest.approx(1.0, abs=0.1)
    assert s["n_silent"] == 0 and s["n_neurons"] == n


def test_errors():
    with pytest.raises(ValueError, match="node_ids"):
        neuron_metrics(np.array([1.0]), np.array([5]), 3, t_start_ms=0, t_stop_ms=10)
    with pytest.raises(ValueError, match="t_stop_ms"):
        neuron_metrics(np.array([1.0]), np.array([0]), 3, t_start_ms=10, t_stop_ms=10)


def test_pairwise_correlation_identical_trains():
    rng = np.random.default_rng(2)
    base = np.sort(rng.uniform(0, 1000, 50))
    trains = [base, base.copy(), np.sort(rng.uniform(0, 1000, 50))]
    r = pairwise_correlations(trains, t_start_ms=0, t_stop_ms=1000, bin_ms=5.0, max_neurons=3)
    assert r["n_pairs"] == 3
    assert r["corr_mean"] == pytest.approx(1 / 3, abs=0.1)  # pairs: 1, ~0, ~0
    trains2 = split_by_neuron(np.array([1.0, 2.0]), np.array([0, 0]), 2, 0, 10)
    assert pairwise_correlations(trains2, t_start_ms=0, t_stop_ms=10)["n_pairs"] == 0


def test_stage_run_on_sonata(tmp_path):
    from wbe.engine.network import Network, Population, RunConfig
    from wbe.io import sonata
    from wbe.stages.metrics import Params, run

    net = Network(populations=[Population("E", "iaf_psc_exp", 12)])
    circuit = sonata.write_circuit(tmp_path / "circuit", net)
    sim = tmp_path / "sim"
    sonata.write_simulation_config(sim, circuit, net, RunConfig(tstop_ms=2000.0))
    t, ids = _spikes(n=10)  # nodes 10, 11 silent
    sonata.write_spikes(sim / "spikes.h5", {"E": (t, ids)})
    out = tmp_path / "out"
    out.mkdir()
    p = Params(t_start_ms=0.0, pci={"enabled": False},
               phi={"group_by": "random", "n_groups": 3, "bin_ms": 20.0})
    summary = run(p, {"simulation": sim}, out, progress=False)
    assert (out / "neuron_metrics.parquet").exists()
    for f in ("population_metrics.json", "pci.json", "phi.json", "rates.png", "isi_cv.png",
              "pci.png"):
        assert (out / f).exists(), f
    assert summary["pci_status"] == "disabled"
    phi = json.loads((out / "phi.json").read_text())
    assert phi["status"] == "ok" and phi["labels"] == ["g0", "g1", "g2"]
    assert phi["n_bins"] == 100 and len(phi["tpm"]) == 8
    assert summary["phi_mean"] == phi["mean_phi"] >= 0
    # one population is one node: nothing to integrate, and phi.json says why
    out2 = tmp_path / "out2"
    out2.mkdir()
    run(Params(t_start_ms=0.0, pci={"enabled": False}), {"simulation": sim}, out2,
        progress=False)
    assert "1 node(s)" in json.loads((out2 / "phi.json").read_text())["status"]
    df = pd.read_parquet(out / "neuron_metrics.parquet")
    assert set(df["population"]) == {"E"} and len(df) == 12
    assert df["rate_hz"].iloc[10:].tolist() == [0.0, 0.0]
    assert summary["mean_rate_hz"]["E"] == pytest.approx(len(t) / 12 / 2.0)


def test_stage_worm_response(tmp_path):
    """metrics.worm_response: a touch neuron driven in a window, its chemical target answers;
    the class summary, JSON and PNGs are written; off by default."""
    import json

    from wbe.engine.network import Network, Population, RunConfig
    from wbe.io import sonata
    from wbe.stages.metrics import Params, run

    names = np.array(["ALML", "AVAL", "AVAR", "VA01", "DB01", "RIS"])
    cls = np.array(["sensory", "inter", "inter", "motor", "motor", "inter"])
    net = Network([Population("neurons", "iaf_psc_exp", 6, {},
                              {"name": names, "cell_class": cls})])
    circuit = sonata.write_circuit(tmp_path / "circuit", net)
    sim = tmp_path / "sim"
    sonata.write_simulation_config(sim, circuit, net, RunConfig(tstop_ms=1000.0))
    drive = {"neurons": ["ALML"], "rate_hz": 1.0, "weight_pA": 1.0, "start_ms": 400.0,
             "stop_ms": 800.0}
    (sim / "manifest.json").write_text(json.dumps({"params": {"stimulus": [drive]}}))
    rng = np.random.default_rng(0)
    t_ava = np.sort(np.r_[rng.uniform(100, 400, 3), rng.uniform(400, 800, 40)])
    t_bg = np.sort(rng.uniform(100, 1000, 20))
    t = np.r_[t_ava, t_bg, np.linspace(400, 799, 50)]
    ids = np.r_[np.full(len(t_ava), 1), np.full(len(t_bg), 3), np.zeros(50, np.int64)]
    o = np.argsort(t, kind="stable")
    sonata.write_spikes(sim / "spikes.h5", {"neurons": (t[o], ids[o])})
    out = tmp_path / "out"
    out.mkdir()
    summary = run(Params(pci={"enabled": False}), {"simulation": sim}, out, progress=False)
    assert "worm_responders" not in summary and not (out / "worm_response.json").exists()
    out2 = tmp_path / "out2"
    out2.mkdir()
    p = Params(pci={"enabled": False}, worm_response={"enabled": True})
    summary = run(p, {"simulation": sim}, out2, progress=False)
    assert summary["worm_responders"]["inter"] == "1/3"
    assert summary["worm_responders"]["motor"] == "0/2"
    doc = json.loads((out2 / "worm_response.json").read_text())
    assert doc["stim_ms"] == [400.0, 800.0] and doc["baseline_ms"] == [100.0, 400.0]
    inter = next(r for r in doc["by_class"] if r["cell_class"] == "inter")
    assert inter["responders"] == "AVAL"
    assert next(r for r in doc["neurons"] if r["name"] == "ALML")["stimulated"]
    for f in ("worm_response.png", "worm_raster.png"):
        assert (out2 / f).stat().st_size > 0


def test_run_pci_reports_casali_and_pcist(tmp_path):
    """The metrics stage's virtual perturbation on a small Brunel network: Casali's PCI and
    PCIst of the same trial-averaged group responses."""
    from wbe.networks.generators import build_to_sonata
    from wbe.stages.metrics import PCIParams, run_pci

    _, sc = build_to_sonata("brunel", tmp_path / "b", order=50, J_mV=0.2, tstop_ms=400.0,
                            V0_mV=None, seed=2)
    p = PCIParams(n_trials=3, amplitude_pA=20.0, duration_ms=1.0, baseline_ms=100.0,
                  response_ms=100.0, sources="group", max_neurons=10, n_boot=50)
    res = run_pci(p, sc, t_start_ms=100.0, scheduler="synchronous")
    assert res["status"] == "ok" and res["n_sources"] == 10
    assert res["pcist"] is not None and res["pcist"] >= 0
    assert res["pcist_components"] == len(res["pcist_dnst"])
