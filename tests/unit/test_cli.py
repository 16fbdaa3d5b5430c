"""The command line: stage subcommands verify inputs and publish atomically."""

from __future__ import annotations

import json
import subprocess
import sys

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
