"""Validation: connectome scores (hand-made and cect), rate scores, stage run."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wbe.stages.validation import Params
from wbe.validation.scores import compare_connectomes, load_cect, rate_scores

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def test_compare_connectomes_by_hand():
    ref_neurons = ["A", "B", "C", "D"]
    ref_chem = {("A", "B"): 3.0, ("B", "C"): 1.0, ("C", "A"): 2.0, ("D", "A"): 5.0}
    ref_gap = {("A", "D"): 1.0}
    pred = {("A", "B"): 4.0, ("B", "C"): 1.0, ("A", "C"): 2.0, ("X", "A"): 9.0}
    r = compare_connectomes(pred, ["A", "B", "C", "X"], ref_neurons, ref_chem, ref_gap)
    assert r["n_neurons_common"] == 3
    c = r["chemical"]
    # universe 3*2 = 6 ordered pairs; ref among common: AB, BC, CA; pred: AB, BC, AC
    assert (c["true_positives"], c["n_predicted"], c["n_reference"]) == (2, 3, 3)
    assert c["precision"] == pytest.approx(2 / 3) and c["recall"] == pytest.approx(2 / 3)
    assert c["f1"] == pytest.approx(2 / 3)
    assert c["chance_precision"] == pytest.approx(3 / 6)
    # hypergeometric: P[X >= 2], M=6, n=3, N=3 -> (9 + 1) / 20
    assert c["p_value_hypergeom"] == pytest.approx(10 / 20)
    u = r["chemical_or_gap_undirected"]
    # unordered universe 3; ref {AB, BC, AC}; pred {AB, BC, AC}
    assert u["precision"] == 1.0 and u["recall"] == 1.0
    s = r["spearman_contacts_vs_synapses"]
    # x = (AB 4, AC 2, BC 1), y = (3, 0, 1): ranks (3, 2, 1) vs (3, 1, 2) -> rho 0.5
    assert s["n_pairs"] == 3 and s["rho"] == pytest.approx(0.5)


def test_compare_connectomes_empty_prediction():
    r = compare_connectomes({}, ["A", "B"], ["A", "B"], {("A", "B"): 1.0}, {})
    assert r["chemical"]["precision"] is None and r["chemical"]["recall"] == 0.0


def test_load_cect_varshney():
    neurons, chem, gap = load_cect("cect:Varshney")
    assert len(neurons) > 250
    assert len(chem) > 1500 and len(gap) > 300
    assert all(a <= b for a, b in gap)
    # self-consistency: the reference against itself is perfect
    r = compare_connectomes(chem, neurons, neurons, chem, gap)
    assert r["chemical"]["f1"] == pytest.approx(1.0)
    assert r["chemical"]["p_value_hypergeom"] < 1e-100
    assert 0 < r["chemical"]["chance_precision"] < 0.1


def test_load_cect_unknown():
    with pytest.raises(ValueError, match="cect"):
        load_cect("Varshney")
    with pytest.raises(ValueError, match="unknown cect dataset"):
        load_cect("cect:NoSuchData")


@pytest.mark.slow
def test_white_vs_cook_overlap():
    """Two published worm connectomes agree far above chance (Cook 2019 re-annotated White)."""
    n1, c1, g1 = load_cect("cect:White1986")
    n2, c2, g2 = load_cect("cect:Cook2019Herm")
    r = compare_connectomes(c1, n1, n2, c2, g2)
    assert r["chemical"]["precision"] > 5 * r["chemical"]["chance_precision"]


def test_rate_scores():
    rng = np.random.default_rng(0)
    m = {"E": rng.exponential(5, 500), "I": rng.exponential(10, 200)}
    r = {"E": rng.exponential(5, 500), "I": rng.exponential(20, 200)}
    s = rate_scores(m, r)
    assert s["per_population"]["E"]["ks_distance"] < 0.12
    assert s["per_population"]["I"]["ks_distance"] > 0.2
    assert s["per_population"]["I"]["rate_ratio"] == pytest.approx(0.5, rel=0.25)
    t = rate_scores(m, None, {"E": 5.0})
    assert t["per_population"]["E"]["rate_ratio"] == pytest.approx(1.0, rel=0.15)
    assert t["per_population"]["I"]["rate_ratio"] is None


def test_params_forbid_extra():
    with pytest.raises(ValueError):
        Params(nonsense=1)


def _fake_connectome(tmp_path: Path) -> Path:
    d = tmp_path / "connectome"
    d.mkdir()
    syn = pd.DataFrame({"pre": [0, 0, 1], "post": [1, 1, 2],
                        "pre_name": ["AVAL", "AVAL", "AVAR"],
                        "post_name": ["AVAR", "AVAR", "AVBL"]})
    syn.to_parquet(d / "synapses.parquet")
    return d


def test_stage_run_skips_cleanly(tmp_path):
    from wbe.stages.validation import run

    out = tmp_path / "out"
    out.mkdir()
    p = Params(reference="cect:Varshney", fi_nwb=[str(tmp_path / "nope")],
               rates_reference={"E": 1.0})
    summary = run(p, {"connectome": _fake_connectome(tmp_path)}, out, progress=False)
    scores = json.loads((out / "scores.json").read_text())
    assert scores["connectome"]["status"] == "ok"
    assert scores["connectome"]["n_neurons_common"] == 3
    assert scores["fi"]["status"].startswith("skipped:") and "not found" in scores["fi"]["status"]
    assert scores["rates"]["status"].startswith("skipped")
    for f in ("connectome_comparison.png", "rates_vs_reference.png"):
        assert (out / f).exists()
    # no F-I recording: nothing to plot, so no fi.png; the scores say why
    assert not (out / "fi.png").exists()
    assert scores["fi"]["figure"] is None and summary["fi_figure"] is None
    assert summary["connectome_status"] == "ok"
    with pytest.raises(FileNotFoundError):
        out2 = tmp_path / "out2"
        out2.mkdir()
        run(Params(reference=None, fi_nwb=[str(tmp_path / "nope")], missing="error",
                   rates_reference=None), {}, out2)


@pytest.mark.skipif(not (DATA / "nwb" / "ferguson2015").exists(),
                    reason="shared data ../shared/data/nwb/ferguson2015 not present")
def test_stage_fi_with_engine(tmp_path):
    from wbe.engine.network import Network, Population
    from wbe.io import sonata
    from wbe.stages.validation import run

    p = Params(reference=None, rates_reference=None,
               fi_nwb=[str(DATA / "nwb" / "ferguson2015" / "FergusonEtAl2015_PYR2.nwb")])
    # a recording but no circuit: fi.png shows the recorded curve alone
    d = _fake_connectome(tmp_path)
    out0 = tmp_path / "out0"
    out0.mkdir()
    summary = run(p, {"connectome": d}, out0)
    fi0 = json.loads((out0 / "scores.json").read_text())["fi"]
    assert fi0["status"] == "skipped: no neuron model (no connectome circuit)"
    assert len(fi0["recorded"]["sweeps"]) == 13
    assert fi0["figure"] == "fi.png" and summary["fi_figure"] == "fi.png"
    assert (out0 / "fi.png").stat().st_size > 0

    C_m, tau_m, t_ref = 100.0, 20.0, 2.0
    net = Network(populations=[Population(
        "neurons", "iaf_psc_exp", 2, params={"C_m": C_m, "tau_m": tau_m, "t_ref": t_ref},
        attributes={"name": np.array(["AVAL", "AVAR"])})])
    sonata.write_circuit(d, net)
    out = tmp_path / "out"
    out.mkdir()
    run(p, {"connectome": d}, out)
    fi = json.loads((out / "scores.json").read_text())["fi"]
    assert fi["status"] == "ok" and fi["figure"] == "fi.png"
    assert (out / "fi.png").stat().st_size > 0
    rec = pd.DataFrame(fi["recorded"]["sweeps"])
    assert fi["rheobase_data_pA"] == pytest.approx(rec.loc[rec.rate_hz > 0, "current_pA"].min())
    # The expected RMSE on its own: the LIF closed form (NEST defaults E_L = V_reset = -70 mV,
    # V_th = -55 mV; rheobase C_m (V_th - E_L) / tau_m = 75 pA) at the recorded absolute step
    # currents, each interval rounded up to the 0.1 ms grid as the engine integrates; the
    # engine's count over the 1 s step differs from that rate by less than one spike (1 Hz),
    # so by the triangle inequality the RMSEs differ by at most 1 spikes/s.
    dur = fi["step_duration_ms"]
    assert dur == pytest.approx(1000.0, abs=0.2)
    i = rec["current_pA"].to_numpy(float)
    ri = i * tau_m / C_m
    f_model = np.zeros_like(i)
    ok = ri > 15.0
    period = t_ref + tau_m * np.log(ri[ok] / (ri[ok] - 15.0))
    f_model[ok] = 1e3 / (np.ceil(period / 0.1 - 1e-9) * 0.1)
    assert ok.sum() == 8  # the eight steps from 77 pA up drive the model above threshold
    rmse = np.sqrt(np.mean((f_model - rec["rate_hz"].to_numpy(float)) ** 2))
    assert fi["rmse_hz"] == pytest.approx(rmse, abs=1.0)
    assert rmse > 20.0  # the model fires up to ~100 spikes/s where the cell fires <= 10


def test_stage_propagation_and_null_model(tmp_path):
    """validation.propagation on a small tvb:96 brain (10 neurons per region, 300 ms): the
    stage writes the propagation table and plot, simulates real and null circuits and tests
    real vs null; off by default."""
    pytest.importorskip("tvb_data")
    from wbe.stages import connectome as connectome_stage
    from wbe.stages import simulation
    from wbe.stages.validation import run

    conn = tmp_path / "conn"
    conn.mkdir()
    cp = connectome_stage.Params(source="tvb:96", tvb={"neurons_per_region": 10, "k_long": 5.0,
                                                 "J_long_pA": 150.0})
    connectome_stage.run(cp, {}, conn, progress=False)
    (conn / "manifest.json").write_text(json.dumps({"params": cp.model_dump()}))
    sim = tmp_path / "sim"
    sim.mkdir()
    sp = simulation.Params(duration_ms=300.0, background={"rate_hz": 7000.0, "weight_pA": 87.8},
                           stimulus=[{"neurons": ["RM-V1_?_E_*"], "rate_hz": 3000.0,
                                      "weight_pA": 87.8, "start_ms": 150.0, "stop_ms": 250.0}],
                           record={"n_voltage_traces": 0})
    simulation.run(sp, {"connectome": conn}, sim, progress=False)
    (sim / "manifest.json").write_text(json.dumps({"params": sp.model_dump()}))
    base = dict(reference=None, fi_nwb=[], rates_reference=None)
    out = tmp_path / "out"
    out.mkdir()
    summary = run(Params(**base), {"connectome": conn, "simulation": sim}, out, progress=False)
    assert "propagation_status" not in summary and not (out / "propagation.json").exists()
    out2 = tmp_path / "out2"
    out2.mkdir()
    p = Params(**base, propagation={"enabled": True, "baseline_start_ms": 50.0,
                                    "null_model": {"enabled": True, "n_seeds": 2,
                                                   "measures": ["extent", "fc_sc_r"]}})
    summary = run(p, {"connectome": conn, "simulation": sim}, out2, progress=False)
    scores = json.loads((out2 / "scores.json").read_text())
    prop = scores["propagation"]
    assert prop["status"] == "ok"
    assert sorted(prop["stimulated_regions"]) == ["RM-V1_L", "RM-V1_R"]
    table = json.loads((out2 / "propagation.json").read_text())["regions"]
    assert len(table) == 96 and sum(r["hops"] == 0 for r in table) == 2
    null = json.loads((out2 / "null_model.json").read_text())
    assert [r["null_model_seed"] for r in null["runs"]] == [1, 2]
    assert set(null["tests"]) == {"extent", "fc_sc_r"}
    assert summary["propagation_status"] == "ok"
    for f in ("propagation.png", "real_vs_null.png"):
        assert (out2 / f).stat().st_size > 0
