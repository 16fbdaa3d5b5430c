"""The one atomic writer: outputs appear complete or not at all, and writers never collide."""

import threading

import pandas as pd
import pytest

from wbe.io.atomic import write_csv, write_text, written_atomically


def test_failure_leaves_nothing_and_keeps_the_old_file(tmp_path):
    final = tmp_path / "a.txt"
    write_text(final, "old")
    with pytest.raises(RuntimeError):
        with written_atomically(final, overwrite=True) as tmp:
            tmp.write_text("half")
            raise RuntimeError("interrupted")
    assert final.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt"]


def test_existing_output_is_refused_unless_overwrite(tmp_path):
    final = tmp_path / "out"
    final.mkdir()
    with written_atomically(final) as tmp:  # an empty folder is not an output yet
        tmp.mkdir()
        (tmp / "x").write_text("1")
    with pytest.raises(FileExistsError, match="already exists"):
        with written_atomically(final):
            pass
    with written_atomically(final, overwrite=True) as tmp:
        tmp.mkdir()
        (tmp / "y").write_text("2")
    assert [p.name for p in final.iterdir()] == ["y"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_temporary_name_keeps_the_suffix(tmp_path):
    with written_atomically(tmp_path / "fig.png") as tmp:
        assert tmp.suffix == ".png" and tmp.parent == tmp_path and tmp.name.startswith(".")
        tmp.write_bytes(b"x")


def test_concurrent_writers_of_one_target_do_not_collide(tmp_path):
    """Threads share a pid (as processes on different nodes may): each writer has its own
    temporary file, so every writer finishes and the result is one complete version."""
    final = tmp_path / "t.csv"
    errors = []
    go = threading.Barrier(8)

    def writer(k):
        try:
            go.wait()
            write_csv(final, pd.DataFrame({"k": [k] * 2000}))
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    df = pd.read_csv(final)
    assert len(df) == 2000 and df["k"].nunique() == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.csv"]
