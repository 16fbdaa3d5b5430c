"""Worm and brain analysis on synthetic spikes and graphs (exact expectations)."""

from __future__ import annotations

import numpy as np
import pytest

from wbe.validation import propagation as brain
from wbe.validation import worm


def _spikes(rates_base, rates_stim, seed=0, stim=(500.0, 1000.0), t_stop=1000.0):
    rng = np.random.default_rng(seed)
    tt, ii = [], []
    for i, (rb, rs) in enumerate(zip(rates_base, rates_stim)):
        for (a, b), r in (((0.0, stim[0]), rb), (stim, rs)):
            k = rng.poisson(r * (b - a) / 1000.0)
            tt.append(rng.uniform(a, b, k))
            ii.append(np.full(k, i))
    return np.concatenate(tt), np.concatenate(ii)


def test_stimulus_response_flags_responders_by_class(tmp_path):
    names = np.array(["ALML", "AVAL", "AVBL", "VA1", "DB1", "CANL"])
    cls = np.array(["sensory", "inter", "inter", "motor", "motor", "other"])
    t, i = _spikes([5, 5, 5, 5, 5, 5], [80, 40, 5, 30, 5, 5], stim=(2000.0, 4000.0))
    df = worm.stimulus_response(t, i, names, cls, stim_ms=(2000, 4000), baseline_ms=(0, 2000),
                                stimulated=["ALM*"])
    assert df.set_index("name")["responded"].to_dict() == {
        "ALML": True, "AVAL": True, "AVBL": False, "VA1": True, "DB1": False, "CANL": False}
    assert df["stimulated"].tolist() == [True] + [False] * 5
    s = worm.response_by_class(df).set_index("cell_class")
    assert s.loc["inter", "n_responded"] == 1 and s.loc["inter", "responders"] == "AVAL"
    assert s.loc["sensory", "n"] == 0  # the stimulated cell is left out
    assert worm.plot_response_by_class(df, tmp_path / "r.png").exists()
    assert worm.plot_raster_by_class(t, i, names, cls, tmp_path / "s.png",
                                     stim_ms=(2000, 4000)).exists()


def test_graph_statistics_small_graph(tmp_path):
    neurons = ["A", "B", "C", "D"]
    chem = [("A", "B", 1.0), ("B", "A", 2.0), ("B", "C", 1.0), ("C", "C", 1.0)]
    gap = [("C", "D", 1.0), ("D", "C", 1.0)]
    row, deg = worm.graph_statistics(neurons, chem, gap, name="toy")
    assert row["neurons"] == 4 and row["chemical_edges"] == 3 and row["gap_pairs"] == 1
    assert row["reciprocity"] == pytest.approx(2 / 3)
    assert row["isolated"] == 0 and row["clustering"] == 0.0
    np.testing.assert_array_equal(deg["out"], [1, 2, 0, 0])
    import pandas as pd

    assert worm.plot_graph_statistics(pd.DataFrame([row]), {"toy": deg},
                                      tmp_path / "g.png").exists()


def test_small_world_index_lattice_vs_random():
    import networkx as nx

    ws = nx.watts_strogatz_graph(200, 8, 0.05, seed=1)
    er = nx.gnm_random_graph(200, ws.number_of_edges(), seed=1)
    assert worm.small_world_index(ws)["sigma"] > 2.0
    assert worm.small_world_index(er, n_random=2)["sigma"] == pytest.approx(1.0, abs=0.3)


def _chain(n=6):
    w = np.zeros((n, n))
    for k in range(n - 1):
        w[k, k + 1] = 1.0
    return w


def test_hop_distance_chain():
    d = brain.hop_distance(_chain(), [0])
    np.testing.assert_array_equal(d, [0, 1, 2, 3, 4, 5])
    assert np.isinf(brain.hop_distance(_chain(), [5])[0])


def test_region_rates_and_propagation_latency_grows_with_hops(tmp_path):
    n, t_stop, onset = 6, 600.0, 300.0
    rng = np.random.default_rng(0)
    region = np.repeat(np.arange(n), 50)
    tt, ii = [], []
    for node, r in enumerate(region):
        base = rng.uniform(0, t_stop, rng.poisson(5 * t_stop / 1000))
        tt.append(base)
        ii.append(np.full(len(base), node))
        if r < 4:  # regions 0..3 respond, 10 ms later per hop, 40 Hz extra for 200 ms
            on = onset + 10.0 * r
            extra = rng.uniform(on, on + 200.0, rng.poisson(40 * 0.2))
            tt.append(extra)
            ii.append(np.full(len(extra), node))
    t, ids = np.concatenate(tt), np.concatenate(ii)
    tb, rates = brain.region_rates(t, ids, region, n, t_stop_ms=t_stop, bin_ms=5.0)
    assert rates.shape == (n, 120)
    np.testing.assert_allclose(rates.mean(axis=1)[4:], 5.0, rtol=0.3)
    df = brain.propagation(tb, rates, [0], onset_ms=onset, stop_ms=500.0, weights=_chain(n))
    assert df["responded"].tolist() == [True, True, True, True, False, False]
    lat = df["latency_ms"].to_numpy()
    assert np.all(np.diff(lat[:4]) > 0) and lat[3] >= 25.0
    s = brain.propagation_summary(df)
    assert s["extent"] == pytest.approx(3 / 5) and s["spearman_latency_hops"] == 1.0
    assert brain.plot_propagation(df, tb, rates, tmp_path / "p.png", onset_ms=onset,
                                  stop_ms=500.0).exists()


def test_fc_sc_correlation_positive_when_coupled():
    rng = np.random.default_rng(0)
    common = rng.normal(size=500)
    r = rng.normal(size=(4, 500))
    r[0] += 2 * common
    r[1] += 2 * common
    w = np.zeros((4, 4))
    w[0, 1] = 1.0
    assert brain.fc_sc_correlation(r, w) > 0.8


def test_compare_real_null(tmp_path):
    res = brain.compare_real_null([1.0, 1.1, 1.2, 0.9, 1.05], [2.0, 2.1, 1.9, 2.2, 2.05])
    assert res["permutation_exact"] and res["permutation_p"] == pytest.approx(2 / 252)
    assert res["mannwhitney_p"] < 0.05 and res["difference"] < 0
    same = brain.compare_real_null([1, 2, 3, 4], [1, 2, 3, 4])
    assert same["permutation_p"] == 1.0
    with pytest.raises(ValueError):
        brain.compare_real_null([1.0], [2.0, 3.0])
    assert brain.plot_real_vs_null({"extent": ([1, 2], [3, 4])}, tmp_path / "n.png",
                                   tests={"extent": same}).exists()
