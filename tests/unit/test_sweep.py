"""Parameter sweeps (wbe.pipeline.sweep), regime metrics and classifier (wbe.analysis.regimes), Dask clients
(wbe.pipeline.cluster)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wbe.analysis import regimes
from wbe.pipeline import store, sweep
from wbe.pipeline.cluster import ClusterSpec

ROOT = Path(__file__).resolve().parents[2]

TINY = {"name": "tiny", "order": 20, "t_sim_ms": 250.0, "t_warmup_ms": 50.0,
        "base": {"V0_mV": None}, "grid": {"g": [4, 6], "eta": [2]}}


@pytest.fixture(scope="module")
def client():
    """An in-process Dask client (threads): fast to start, enough to exercise the scheduling."""
    from distributed import Client

    c = Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None)
    yield c
    c.close()


# ------------------------------------------------------------------------------------ spec
def test_spec_defaults_and_brunel_config_validate():
    spec = sweep.load_spec({})
    assert spec.model == "brunel" and spec.cluster.kind == "local" and spec.seeds == [1]
    cfg = sweep.load_spec_file(ROOT / "config" / "sweeps" / "brunel.yaml")
    assert set(cfg.grid) == {"g", "eta"}
    runs = sweep.expand(cfg)
    pts = {(r["params"]["g"], r["params"]["eta"]) for r in runs}
    assert {(3, 2), (6, 4), (5, 2), (4.5, 0.9)} <= pts  # Brunel 2000 Fig. 8


@pytest.mark.parametrize("bad, needle", [
    ({"grid": {"gee": [1]}}, "grid.gee"),
    ({"base": {"seed": 3}}, "base.seed"),
    ({"points": [{"tstop_ms": 5}]}, "points[0].tstop_ms"),
    ({"t_sim_ms": 100, "t_warmup_ms": 200}, "t_warmup_ms"),
    ({"cluster": {"kind": "pbs"}}, "sweep.cluster.kind"),
    ({"grid": {"g": []}}, "grid.g"),
    ({"unknown": 1}, "sweep.unknown"),
])
def test_spec_rejects_with_key(bad, needle):
    with pytest.raises(sweep.SweepError) as exc:
        sweep.load_spec(bad)
    assert needle in str(exc.value)


def test_spec_file_errors(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("sweep: [1, 2]\n")
    with pytest.raises(sweep.SweepError, match="must be a mapping"):
        sweep.load_spec_file(p)
    p.write_text("sweep: {order: 10\n")
    with pytest.raises(sweep.SweepError, match="not valid YAML"):
        sweep.load_spec_file(p)


def test_expand_grid_points_seeds_repeats_and_keys():
    spec = sweep.load_spec({**TINY, "points": [{"g": 4, "eta": 2}, {"g": 5, "eta": 1.5}],
                            "seeds": [1, 2], "repeats": 2})
    runs = sweep.expand(spec)
    # grid 2 + one new point = 3 parameter sets (the duplicate point dropped) x 2 seeds x 2
    assert len(runs) == 3 * 2 * 2
    assert len({r["key"] for r in runs}) == len(runs)
    seeds = {(r["seed"], r["repeat"], r["params"]["seed"]) for r in runs}
    assert (2, 1, 2 + sweep.REPEAT_SEED_STRIDE) in seeds
    assert all(r["params"]["order"] == 20 for r in runs)
    # 4 and 4.0 are the same point; a changed parameter is another point
    a = sweep.expand(sweep.load_spec({**TINY, "grid": {"g": [4.0], "eta": [2.0]}}))[0]
    b = sweep.expand(sweep.load_spec({**TINY, "grid": {"g": [4], "eta": [2]}}))[0]
    c = sweep.expand(sweep.load_spec({**TINY, "grid": {"g": [4], "eta": [2.5]}}))[0]
    assert a["key"] == b["key"] != c["key"]
    # spec axes may be swept too
    d = sweep.expand(sweep.load_spec({**TINY, "grid": {"order": [10, 20]}}))
    assert [r["params"]["order"] for r in d] == [10, 20]


def test_sweep_key_ignores_cluster():
    a = sweep.load_spec(TINY)
    b = sweep.load_spec({**TINY, "cluster": {"kind": "slurm", "n_workers": 7}})
    c = sweep.load_spec({**TINY, "t_sim_ms": 300.0})
    assert sweep.sweep_key(a) == sweep.sweep_key(b) != sweep.sweep_key(c)


# --------------------------------------------------------------------------------- metrics
def _poisson(n: int, rate_hz: float, t_ms: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    counts = rng.poisson(rate_hz * t_ms / 1000.0, n)
    ids = np.repeat(np.arange(n), counts)
    t = rng.uniform(0, t_ms, counts.sum())
    o = np.argsort(t, kind="stable")
    return t[o], ids[o]


def test_metrics_of_independent_poisson_neurons():
    n, t_ms = 400, 4000.0
    t, ids = _poisson(n, 20.0, t_ms)
    m = regimes.regime_metrics(t, ids, n, t_start_ms=0.0, t_stop_ms=t_ms)
    assert m["rate_hz"] == pytest.approx(20.0, rel=0.05)
    assert m["isi_cv"] == pytest.approx(1.0, abs=0.08)
    assert m["pop_fano"] == pytest.approx(1.0, abs=0.1)
    assert m["chi"] == pytest.approx(1 / np.sqrt(n), rel=0.3)  # the finite-size floor
    assert regimes.classify(m) == "AI"


def test_metrics_of_synchronous_regular_firing():
    n, period_ms, t_ms = 100, 10.0, 2000.0
    times = np.arange(5.0, t_ms, period_ms)
    t = np.repeat(times, n) + 0.05
    ids = np.tile(np.arange(n), len(times))
    m = regimes.regime_metrics(t, ids, n, t_start_ms=0.0, t_stop_ms=t_ms)
    assert m["rate_hz"] == pytest.approx(100.0, rel=0.01)
    assert m["isi_cv"] == pytest.approx(0.0, abs=1e-9)
    assert m["chi"] == pytest.approx(1.0, abs=1e-6)
    assert m["peak_freq_hz"] == pytest.approx(100.0, abs=4.0)  # Welch resolution ~3.9 Hz
    assert regimes.classify(m) == "SR"


def test_metrics_reject_bad_input():
    with pytest.raises(ValueError, match="t_stop_ms"):
        regimes.regime_metrics(np.zeros(1), np.zeros(1, int), 1, t_start_ms=5, t_stop_ms=5)
    with pytest.raises(ValueError, match="node_ids outside"):
        regimes.regime_metrics(np.array([1.0]), np.array([3]), 2, t_start_ms=0, t_stop_ms=10)


def test_silent_population():
    m = regimes.regime_metrics(np.zeros(0), np.zeros(0, int), 10, t_start_ms=0, t_stop_ms=100)
    assert m["rate_hz"] == 0 and np.isnan(m["chi"]) and regimes.classify(m) == "silent"


@pytest.mark.parametrize("m, regime", [
    ({"rate_hz": 300, "isi_cv": 0.05, "chi": 0.6, "peak_freq_hz": 300}, "SR"),
    ({"rate_hz": 35, "isi_cv": 1.5, "chi": 0.2, "peak_freq_hz": 175}, "SI_fast"),
    ({"rate_hz": 8, "isi_cv": 0.7, "chi": 0.3, "peak_freq_hz": 40}, "SI_slow"),
    ({"rate_hz": 25, "isi_cv": 0.8, "chi": 0.35, "peak_freq_hz": 20}, "SI_slow"),
    ({"rate_hz": 25, "isi_cv": 1.1, "chi": 0.2, "peak_freq_hz": 100}, "AI"),
    ({"rate_hz": 0.0, "isi_cv": None, "chi": None, "peak_freq_hz": None}, "silent"),
])
def test_classifier_branches(m, regime):
    assert regimes.classify(m) == regime


def test_chunked_statistics_equal_in_memory(tmp_path):
    """The Dask path over a Zarr/HDF5 spike report gives the in-memory numbers, with many
    pieces (ISIs across piece boundaries, bins never split)."""
    import h5py
    import zarr

    n, t_ms = 300, 3000.0
    t, ids = _poisson(n, 15.0, t_ms, seed=3)
    ref = regimes.regime_metrics(t, ids, n, t_start_ms=200.0, t_stop_ms=2800.0)
    root = zarr.open_group(str(tmp_path / "spikes.zarr"), mode="w")
    g = root.require_group("spikes").require_group("E")
    g.create_array("timestamps", data=t, chunks=(1000,))
    g.create_array("node_ids", data=ids.astype(np.uint64), chunks=(1000,))
    got = regimes.population_statistics(tmp_path / "spikes.zarr", {"E": n}, t_start_ms=200.0,
                                        t_stop_ms=2800.0, chunk_spikes=2500)["E"]
    with h5py.File(tmp_path / "spikes.h5", "w") as h5:
        h5.create_dataset("spikes/E/timestamps", data=t)
        h5.create_dataset("spikes/E/node_ids", data=ids.astype(np.uint64))
    got_h5 = regimes.population_statistics(tmp_path / "spikes.h5", {"E": n}, t_start_ms=200.0,
                                           t_stop_ms=2800.0, chunk_spikes=4000)["E"]
    for name in regimes.METRIC_NAMES:
        assert got[name] == pytest.approx(ref[name], rel=1e-9, nan_ok=True), name
        assert got_h5[name] == pytest.approx(ref[name], rel=1e-9, nan_ok=True), name


def test_state_synchrony_chunked(tmp_path, client):
    import zarr

    rng = np.random.default_rng(0)
    common = rng.normal(size=(500, 1))
    z = zarr.open_array(str(tmp_path / "v.zarr"), mode="w", shape=(500, 64), chunks=(500, 16),
                        dtype="f8")
    z[:] = np.repeat(common, 64, axis=1) - 60.0
    assert regimes.state_synchrony_chunked(z, chunk_neurons=16)["chi"] == pytest.approx(1.0)
    z[:] = rng.normal(size=(500, 64)) - 60.0
    out = regimes.state_synchrony_chunked(z, chunk_neurons=16, client=client)
    assert out["chi"] == pytest.approx(1 / 8, rel=0.3) and out["mean"] == pytest.approx(-60, abs=0.1)


# ----------------------------------------------------------------------------------- sweep
def test_run_sweep_table_plots_and_resume(tmp_path, client):
    spec = sweep.load_spec(TINY)
    out = sweep.run_sweep(spec, tmp_path / "results", client=client)
    assert out["computed"] == 2 and out["reused"] == 0
    folder = Path(out["out"])
    assert folder == tmp_path / "results" / "sweep" / sweep.sweep_key(spec)
    store.verify(folder)
    table = pd.read_parquet(folder / "table.parquet")
    assert len(table) == 2
    for col in ("g", "eta", "seed", "order", "regime", "E_rate_hz", "E_isi_cv", "E_chi",
                "E_peak_freq_hz", "I_rate_hz", "key", "code_version", "git_revision", "host"):
        assert col in table.columns, col
    for png in ("phase_diagram.png", "regimes.png", "heatmap_rate_hz.png",
                "population_activity.png"):
        assert (folder / png).stat().st_size > 1000, png
    point = tmp_path / "results" / "sweep_points" / table["key"].iloc[0]
    doc = json.loads((point / "metrics.json").read_text())
    assert doc["params"]["g"] == table["g"].iloc[0] and doc["regime"] in regimes.REGIMES

    # an interrupted sweep: one point lost, a half-written folder left behind
    shutil.rmtree(point)
    (tmp_path / "results" / "sweep_points" / f".{point.name}.tmp-x").mkdir()
    grown = sweep.load_spec({**TINY, "grid": {"g": [4, 6, 8], "eta": [2]}})
    again = sweep.run_sweep(grown, tmp_path / "results", client=client, plots=False)
    assert again["computed"] == 2 and again["reused"] == 1  # the lost point + the new one
    assert len(pd.read_parquet(Path(again["out"]) / "table.parquet")) == 3


def test_sweep_with_consciousness_outputs(tmp_path, client):
    """sweep.outputs: virtual-TMS PCI and PCIst and Φ of 3 random groups at every point, in the
    table and as heat maps; the outputs enter the point keys (points without them keep theirs)."""
    spec = sweep.load_spec({**TINY, "t_sim_ms": 600.0, "grid": {"g": [4, 6], "eta": [2]},
                            "outputs": {"pci": {"n_trials": 3, "baseline_ms": 100.0,
                                                "response_ms": 100.0, "n_sources": 8,
                                                "n_boot": 20},
                                        "phi": {"n_groups": 3}}})
    plain = sweep.expand(sweep.load_spec({**TINY, "t_sim_ms": 600.0}))
    runs = sweep.expand(spec)
    assert {r["key"] for r in runs}.isdisjoint(r["key"] for r in plain)
    out = sweep.run_sweep(spec, tmp_path / "results", client=client)
    table = pd.read_parquet(Path(out["out"]) / "table.parquet")
    for col in ("pci", "pci_p1", "pcist", "phi"):
        assert col in table.columns and table[col].notna().all(), col
    assert (table["phi"] >= 0).all() and (table["pci_p1"] >= 0).all()
    for png in ("heatmap_pci.png", "heatmap_pcist.png", "heatmap_phi.png"):
        assert (Path(out["out"]) / png).stat().st_size > 1000, png
    doc = json.loads((tmp_path / "results" / "sweep_points" / runs[0]["key"] /
                      "metrics.json").read_text())
    assert doc["outputs"]["phi"]["n_groups"] == 3 and "phi_coverage" in doc["consciousness"]


def test_compute_point_is_idempotent(tmp_path):
    run = sweep.expand(sweep.load_spec({**TINY, "grid": {"g": [5], "eta": [2]}}))[0]
    assert sweep.compute_point(run, str(tmp_path))["computed"] is True
    assert sweep.compute_point(run, str(tmp_path))["computed"] is False
    store.verify(tmp_path / run["key"])


def test_cli_print_key_and_errors(tmp_path, capsys):
    p = tmp_path / "s.yaml"
    p.write_text("sweep:\n  order: 20\n  grid: {g: [4]}\n")
    assert sweep.cli_sweep([str(p), "--print-key"]) == 0
    key = capsys.readouterr().out.strip()
    assert key == sweep.sweep_key(sweep.load_spec({"order": 20, "grid": {"g": [4]}}))
    assert sweep.cli_sweep(["--spec-json", '{"order": 20, "grid": {"g": [4]}}',
                            "--print-key"]) == 0
    assert capsys.readouterr().out.strip() == key
    assert sweep.cli_sweep(["--spec-json", '{"grid": {"x": [1]}}']) == 1
    assert "sweep.grid" in capsys.readouterr().err
    assert sweep.cli_sweep([]) == 1


def test_cli_runs_a_sweep_as_module(tmp_path):
    spec = {**TINY, "grid": {"g": [5], "eta": [2]}, "cluster": {"n_workers": 1}}
    r = subprocess.run([sys.executable, "-m", "wbe.pipeline.sweep", "--spec-json", json.dumps(spec),
                        "--results", str(tmp_path), "--out", str(tmp_path / "out"),
                        "--no-plots"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.strip().splitlines()[-1])
    assert summary["computed"] == 1 and (tmp_path / "out" / "table.parquet").is_file()


# --------------------------------------------------------------------------------- cluster
def test_cluster_spec_and_slurm_job_script():
    pytest.importorskip("dask_jobqueue")
    from wbe.pipeline.cluster import slurm_cluster

    spec = ClusterSpec.model_validate({"kind": "slurm", "n_workers": 3, "slurm": {
        "queue": "short", "cores": 2, "memory": "3GB", "walltime": "00:20:00",
        "job_extra_directives": ["--qos=test"], "job_script_prologue": ["echo hi"]}})
    cluster = slurm_cluster(spec)
    try:
        script = cluster.job_script()
    finally:
        cluster.close()
    for needle in ("#SBATCH -p short", "#SBATCH --cpus-per-task=2", "#SBATCH -t 00:20:00",
                   "#SBATCH --qos=test", "echo hi", "export OMP_NUM_THREADS=1", sys.executable):
        assert needle in script, needle
    with pytest.raises(ValueError):
        ClusterSpec.model_validate({"n_workers": 0})


def test_sweep_rule_dry_run(tmp_path):
    """studies.smk parses and plans the sweep folder from the config's sweep section."""
    snakemake = Path(sys.executable).with_name("snakemake")
    if not snakemake.exists():
        pytest.skip("snakemake not installed beside this Python")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(json.dumps({"sweep": TINY}))
    snakefile = tmp_path / "Snakefile"
    snakefile.write_text(f'include: "{ROOT / "workflow" / "rules" / "studies.smk"}"\n\n'
                         "rule all:\n    input: SWEEP_DIR\n    default_target: True\n")
    r = subprocess.run([str(snakemake), "-s", str(snakefile), "-d", str(tmp_path), "-n",
                        "--configfile", str(cfg)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    key = sweep.sweep_key(sweep.load_spec(TINY))
    assert f"results/sweep/{key}" in r.stdout


# ---------------------------------------------------------------------- Brunel's regimes
@pytest.mark.slow
def test_brunel_fig8_points_land_in_their_regimes():
    """Brunel (2000) Fig. 8: (g=3, η=2) SR, (g=6, η=4) SI fast, (g=5, η=2) AI,
    (g=4.5, η=0.9) SI slow — with the config's network (2,500 neurons, C_E = 1000)."""
    cfg = sweep.load_spec_file(ROOT / "config" / "sweeps" / "brunel.yaml")
    expected = {(3, 2): "SR", (6, 4): "SI_fast", (5, 2): "AI", (4.5, 0.9): "SI_slow"}
    got = {}
    for (g, eta), _ in expected.items():
        res = regimes.simulate_point("brunel", {**cfg.base, "order": cfg.order, "g": g,
                                                "eta": eta, "seed": 1},
                                     t_sim_ms=cfg.t_sim_ms, t_warmup_ms=cfg.t_warmup_ms)
        got[(g, eta)] = res["regime"]
    assert got == expected
