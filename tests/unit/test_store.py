"""The content-addressed store: keys, manifests, verification, atomic publication."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wbe.pipeline import store


def _publish(folder, stage="imaging", **files):
    with store.publish(folder, stage=stage, params={"a": 1}) as (tmp, summary):
        for name, text in files.items():
            (tmp / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp / name).write_text(text)
        summary["n"] = len(files)
    return folder


def test_publish_writes_manifest_with_matching_sha256(tmp_path):
    out = _publish(tmp_path / "imaging" / "k1", **{"a.txt": "hello", "sub/b.txt": "world"})
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["files"]) == {"a.txt", "sub/b.txt"}
    for rel, meta in manifest["files"].items():
        assert meta["sha256"] == store.sha256_file(out / rel)
    assert manifest["params"] == {"a": 1} and manifest["summary"] == {"n": 2}
    assert manifest["key"] == "k1" and manifest["stage"] == "imaging"
    assert manifest["wbe_version"] and manifest["finished_utc"]
    assert store.verify(out)["key"] == "k1"


def test_failed_stage_leaves_nothing(tmp_path):
    final = tmp_path / "simulation" / "k"
    with pytest.raises(RuntimeError), store.publish(final, stage="simulation") as (tmp, _):
        (tmp / "spikes.h5").write_text("half")
        raise RuntimeError("crash mid-write")
    assert not final.exists()
    assert list((tmp_path / "simulation").iterdir()) == []


def test_never_overwrites(tmp_path):
    out = _publish(tmp_path / "k", **{"a.txt": "1"})
    with pytest.raises(store.StoreError, match="never overwritten"):
        _publish(out, **{"a.txt": "2"})
    assert (out / "a.txt").read_text() == "1"


@pytest.mark.parametrize("tamper", ["modify", "delete", "add"])
def test_verify_names_the_bad_file(tmp_path, tamper):
    out = _publish(tmp_path / "k", **{"a.txt": "1", "b.txt": "2"})
    if tamper == "modify":
        (out / "b.txt").write_text("3")
        match = "b.txt: sha256"
    elif tamper == "delete":
        (out / "b.txt").unlink()
        match = "b.txt: listed"
    else:
        (out / "c.txt").write_text("x")
        match = "c.txt: not listed"
    with pytest.raises(store.StoreError, match=match):
        store.verify(out)


def test_verify_incomplete_folder(tmp_path):
    (tmp_path / "k").mkdir()
    with pytest.raises(store.StoreError, match="manifest.json: missing"):
        store.verify(tmp_path / "k")


def test_keys_follow_dependencies(monkeypatch):
    monkeypatch.setattr(store, "code_version", lambda stage: "c")
    stages = {"a": (), "b": ("a",), "c": ("b",)}
    params = {"a": {"x": 1}, "b": {"y": 1}, "c": {"z": 1}}
    base = store.plan(params, stages=stages)
    again = store.plan(params, stages=stages)
    assert {s: p.key for s, p in base.items()} == {s: p.key for s, p in again.items()}
    changed = store.plan({**params, "b": {"y": 2}}, stages=stages)
    assert changed["a"].key == base["a"].key  # upstream untouched
    assert changed["b"].key != base["b"].key and changed["c"].key != base["c"].key
    ext = store.plan(params, external={"a": {"f": {"sha256": "1"}}}, stages=stages)
    assert ext["a"].key != base["a"].key  # external data is part of the key


def test_canonical_json_is_order_independent():
    assert store.short_hash({"a": 1, "b": [1, 2]}) == store.short_hash({"b": [1, 2], "a": 1})
    assert len(store.short_hash({})) == store.KEY_LENGTH


def test_code_version_tracks_source():
    v = store.code_version("simulation")
    assert v == store.code_version("simulation") and len(v) == store.KEY_LENGTH


def test_fingerprint_changes_with_content(tmp_path):
    f = tmp_path / "data.bin"
    f.write_bytes(b"abc")
    a = store.fingerprint_path(f)
    f.write_bytes(b"abd")
    assert store.fingerprint_path(f)["sha256"] != a["sha256"]
    with pytest.raises(store.StoreError, match="does not exist"):
        store.fingerprint_path(tmp_path / "nope")


def test_code_version_follows_imports_without_a_list():
    """A stage's key covers every wbe module it imports (here: segmentation imports imaging;
    the connectome stage runs the importers), so no dependency can be forgotten."""
    import wbe

    root = Path(wbe.__file__).parent

    def files(stage):
        return {p.relative_to(root).as_posix() for p in store.code_files((store.STAGE_MODULES[stage],))}

    assert {"stages/segmentation.py", "anatomy/segmentation.py", "anatomy/imaging.py"} <= files(
        "segmentation")
    assert {"stages/connectome.py", "connectome/importers.py", "io/sonata/circuit_write.py",
            "io/sonata/__init__.py", "engine/network.py"} <= files("connectome")
    sim = files("simulation")
    assert "engine/simulator.py" in sim and "analysis/spiking.py" not in sim  # only what it uses
    # the models the registries import at run time by package name are hashed too
    assert {"engine/cells/iaf_psc_exp.py", "engine/cells/aeif_cond_alpha.py",
            "engine/synapses/gap_junction.py", "engine/plasticity/stdp_synapse.py"} <= sim


def test_code_version_covers_a_new_model_file(tmp_path, monkeypatch):
    """Adding a model is adding one file to a registry's package; the simulation's key must
    change with it although nothing imports the file statically. (On a copy of the package:
    the tests run in parallel, and others hash the real one.)"""
    import shutil

    import wbe

    copy = tmp_path / "wbe"
    shutil.copytree(Path(wbe.__file__).parent, copy,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    monkeypatch.setattr(store, "_PACKAGE_ROOT", copy)
    before = store.code_version("simulation")
    new = copy / "engine" / "cells" / "zz_test_only_model.py"
    new.write_text("# a model file\n")
    assert new in store.code_files((store.STAGE_MODULES["simulation"],))
    assert store.code_version("simulation") != before
    new.unlink()
    assert store.code_version("simulation") == before

def test_unknown_module_has_no_code_version():
    with pytest.raises(store.StoreError, match="cannot find wbe module"):
        store.code_hash(("wbe.no_such_module",))


@pytest.mark.parametrize("umask, dir_mode, file_mode", [(0o002, 0o775, 0o664),
                                                        (0o022, 0o755, 0o644),
                                                        (0o077, 0o700, 0o600)])
def test_published_folders_follow_the_umask(tmp_path, umask, dir_mode, file_mode):
    """A group on a shared file system reads what a colleague's umask lets it read: the stage
    folder, its subfolders and its files (manifest included) take their modes from the umask."""
    import os
    import stat

    old = os.umask(umask)
    try:
        out = _publish(tmp_path / "imaging" / "k", **{"a.txt": "1", "sub/b.txt": "2"})
    finally:
        os.umask(old)
    for d in (out, out / "sub"):
        assert stat.S_IMODE(d.stat().st_mode) == dir_mode, d
    for f in (out / "a.txt", out / "sub" / "b.txt", out / "manifest.json"):
        assert stat.S_IMODE(f.stat().st_mode) == file_mode, f


def test_manifest_says_who_where_and_when(tmp_path, monkeypatch):
    import platform

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOGNAME", "someone")  # getpass reads LOGNAME first
    manifest = json.loads((_publish(tmp_path / "k", **{"a.txt": "1"}) / "manifest.json")
                          .read_text())
    assert manifest["user"] == "someone"
    assert manifest["host"] == platform.node()
    assert manifest["working_directory"] == str(tmp_path)
    assert manifest["started_utc"] <= manifest["finished_utc"]
    assert isinstance(manifest["command"], list) and manifest["command"]
