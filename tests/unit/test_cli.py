"""The command line: stage subcommands verify inputs and publish atomically."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from wbe.cli import build_parser, main
from wbe.pipeline import store


def test_every_stage_has_a_subcommand():
    text = build_parser().format_help()
    for stage in store.STAGES:
        assert stage in text


def test_bad_params_fail_naming_the_key(tmp_path, capsys):
    rc = main(["simulation", "--params", json.dumps({"duration_ms": -1}),
               "--input", f"connectome={tmp_path}", "--out", str(tmp_path / "out")])
    assert rc == 2
    assert "duration_ms" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_corrupt_input_is_refused_naming_the_file(tmp_path, capsys):
    up = tmp_path / "connectome"
    with store.publish(up, stage="connectome") as (tmp, _):
        (tmp / "circuit_config.json").write_text("{}")
    (up / "circuit_config.json").write_text('{"tampered": 1}')
    rc = main(["simulation", "--input", f"connectome={up}", "--out", str(tmp_path / "sim")])
    assert rc == 1
    assert "circuit_config.json: sha256" in capsys.readouterr().err
    assert not (tmp_path / "sim").exists()


def test_wrong_inputs_are_refused(tmp_path, capsys):
    rc = main(["simulation", "--out", str(tmp_path / "sim")])
    assert rc == 2 and "connectome" in capsys.readouterr().err


@pytest.mark.parametrize("cmd", [["--help"], ["simulation", "--help"], ["build", "--help"]])
def test_help_runs_as_a_command(cmd):
    out = subprocess.run([sys.executable, "-m", "wbe.cli", *cmd], capture_output=True, text=True)
    assert out.returncode == 0 and "usage" in out.stdout


def test_build_simulate_export_write_complete_outputs_only(tmp_path, monkeypatch):
    out = tmp_path / "brunel"
    assert main(["build", "brunel", "--order", "20", "--tstop-ms", "50", "--out", str(out)]) == 0
    assert (out / "simulation_config.json").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporaries left
    spikes = tmp_path / "spikes.h5"
    assert main(["simulate", str(out / "simulation_config.json"), "--spikes", str(spikes),
                 "--no-progress"]) == 0
    assert main(["export-nwb", str(spikes), str(tmp_path / "spikes.nwb")]) == 0
    assert (tmp_path / "spikes.nwb").stat().st_size > 0
    # never overwrite a built network
    assert main(["build", "brunel", "--order", "20", "--out", str(out)]) == 1

    # a build that fails half-way leaves nothing behind
    from wbe.networks import generators

    def broken(kind, folder, **kw):
        (folder / "network").mkdir(parents=True)
        (folder / "network" / "nodes.h5").write_bytes(b"half")
        raise ValueError("generator failed")

    monkeypatch.setattr(generators, "build_to_sonata", broken)
    assert main(["build", "brunel", "--out", str(tmp_path / "failed")]) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["brunel", "spikes.h5", "spikes.nwb"]


def test_graph_command_analyses_graphml_and_refuses_existing_output(tmp_path, capsys):
    import networkx as nx

    from wbe.connectome import graph

    g = nx.watts_strogatz_graph(60, 6, 0.1, seed=1)
    c = graph.Connectome.from_arrays(nx.to_scipy_sparse_array(g, format="csr"),
                                     weight_unit="synapses")
    src = tmp_path / "ws.graphml"
    graph.write_graphml(c, src)
    out = tmp_path / "an"
    assert main(["graph", str(src), "--out", str(out), "--n-null", "3"]) == 0
    res = json.loads((out / "graph.json").read_text())
    assert res["small_world"]["sigma"] > 1.5
    assert {"graph.png", "connectome.graphml", "connectome.zarr"} <= {p.name for p in out.iterdir()}
    capsys.readouterr()
    assert main(["graph", str(src), "--out", str(out), "--n-null", "3"]) != 0
    err = capsys.readouterr().err
    assert "already exists" in err and "Traceback" not in err  # one line naming the folder
    assert err.strip().startswith("wbe graph: error:") and str(out) in err


def _schema_leaves(node: dict, prefix: str = "") -> set[str]:
    """Dotted keys of every scalar or list field under a JSON Schema object (list items of
    objects as ``key[].field``)."""
    out = set()
    for name, sub in node.get("properties", {}).items():
        key = f"{prefix}{name}"
        out.add(key)
        variants = [sub, *sub.get("anyOf", [])]
        for v in variants:
            if v.get("type") == "object" and "properties" in v:
                out |= _schema_leaves(v, f"{key}.")
            if v.get("type") == "array" and v.get("items", {}).get("type") == "object":
                out |= _schema_leaves(v["items"], f"{key}[].")
    return out


@pytest.mark.parametrize("stage", list(store.STAGES))
def test_stage_help_lists_every_parameter_with_its_default(stage, capsys):
    """`wbe <stage> --help` names every key of the stage's config section (the same models as
    the schema) with its default."""
    from wbe.pipeline.config import json_schema

    with pytest.raises(SystemExit) as done:
        main([stage, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    listed = {line.split()[0] for line in text.split("parameters (--params", 1)[1].splitlines()[1:]
              if line.startswith("  ") and not line.startswith("    ")}
    assert listed == _schema_leaves(json_schema()["properties"][stage])
    if stage == "simulation":
        assert "background.rate_hz" in text and "= 8000.0" in text and "(spikes/s)" in text


def test_simulate_prints_rates_per_population_and_draws_a_raster(tmp_path, capsys):
    from wbe.io import sonata

    out = tmp_path / "brunel"
    assert main(["build", "brunel", "--order", "20", "--tstop-ms", "100", "--out", str(out)]) == 0
    capsys.readouterr()
    spikes, png = tmp_path / "spikes.h5", tmp_path / "raster.png"
    assert main(["simulate", str(out / "simulation_config.json"), "--spikes", str(spikes),
                 "--raster", str(png), "--no-progress"]) == 0
    captured = capsys.readouterr()
    summary = json.loads(captured.out.strip().splitlines()[-1])
    written = sonata.read_spikes(spikes)
    sizes = {"E": 80, "I": 20}  # Brunel order 20: 4·order excitatory, order inhibitory
    assert set(summary["rates_hz"]) == set(sizes)
    for pop, n in sizes.items():
        n_spikes = len(written[pop][0]) if pop in written else 0
        assert summary["rates_hz"][pop] == pytest.approx(n_spikes / n / 0.1)
        assert pop in captured.err
    assert "rate (spikes/s)" in captured.err
    assert png.stat().st_size > 0


def test_spike_metrics_on_any_spike_file(tmp_path, capsys):
    """`wbe spike-metrics` reads a SONATA spike file written elsewhere (here straight with h5py,
    as another simulator would) and reports rates that count silent neurons."""
    import h5py
    import numpy as np

    spikes = tmp_path / "other.h5"
    times = np.array([10.0, 20.0, 30.0, 40.0, 15.0, 90.0])
    ids = np.array([0, 0, 0, 0, 3, 3], dtype=np.uint64)
    with h5py.File(spikes, "w") as f:
        g = f.create_group("spikes/cortex")
        g.attrs["sorting"] = "by_time"
        g.create_dataset("timestamps", data=times).attrs["units"] = "ms"
        g.create_dataset("node_ids", data=ids)
    assert main(["spike-metrics", str(spikes), "--t-stop-ms", "100", "--out",
                 str(tmp_path / "m")]) == 0
    s = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["populations"]["cortex"]
    # no config: 4 neurons (largest id 3), two of them silent; 6 spikes in 100 ms
    assert s["n_neurons"] == 4 and s["n_silent"] == 2
    assert s["rate_hz_mean"] == pytest.approx(6 / 4 / 0.1)
    for name in ("neuron_metrics.parquet", "population_metrics.json", "raster.png"):
        assert (tmp_path / "m" / name).stat().st_size > 0


def test_simulate_never_writes_into_a_published_stage_folder(tmp_path, capsys):
    """A stage folder's simulation_config.json puts its outputs beside it: `wbe simulate`
    refuses (naming the folder) rather than alter a published folder, and --output-dir
    writes them elsewhere."""
    from wbe.networks import generators

    sim = tmp_path / "results" / "simulation" / "k"
    with store.publish(sim, stage="simulation") as (tmp, _):
        generators.build_to_sonata("brunel", tmp, order=20, tstop_ms=50.0, seed=3)
    assert main(["simulate", str(sim / "simulation_config.json"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "published stage folder" in err and str(sim.resolve()) in err
    store.verify(sim)  # untouched
    rerun = tmp_path / "rerun"
    assert main(["simulate", str(sim / "simulation_config.json"), "--output-dir", str(rerun),
                 "--no-progress"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert Path(summary["spikes"]).parent == rerun and Path(summary["spikes"]).is_file()
    store.verify(sim)
