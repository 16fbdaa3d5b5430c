"""Outputs appear complete or not at all: everything is written under a temporary name beside
its final place and renamed into place when complete (``os.replace``, atomic on one file
system), so an interrupted writer never leaves something that looks finished."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np

__all__ = ["written_atomically", "write_text", "write_bytes", "write_csv", "write_npz"]


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _fsync(path: Path) -> None:
    """Flush a written file to disk before it is renamed into place (a crash after the rename
    must not leave an empty file under the final name)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def written_atomically(final: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``final`` (write a file or create a folder there) and
    rename it to ``final`` when the block succeeds; on an exception nothing is left behind.

    An existing ``final`` is refused (an empty folder excepted) unless ``overwrite``; then it is
    replaced only once the new output is complete."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists() and not overwrite and not (final.is_dir() and not any(final.iterdir())):
        raise FileExistsError(f"{final}: already exists (outputs are not overwritten)")
    # unique per writer (pid + random token: pids repeat across nodes and containers, and
    # threads share one), so two writers of the same target never touch each other's files;
    # the suffix stays last (writers such as matplotlib read the format from it)
    token = f"{os.getpid()}-{secrets.token_hex(4)}"
    tmp = final.with_name(f".{final.stem}.tmp-{token}{final.suffix}")
    try:
        yield tmp
        if tmp.is_file():
            _fsync(tmp)
        if final.is_dir() and not final.is_symlink():
            old = final.with_name(f".{final.name}.old-{token}")
            os.replace(final, old)
            os.replace(tmp, final)
            _remove(old)
        else:
            os.replace(tmp, final)
    finally:
        _remove(tmp)


def write_text(path: Path, text: str, *, overwrite: bool = True) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with written_atomically(Path(path), overwrite=overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_bytes(path: Path, data: bytes, *, overwrite: bool = True) -> Path:
    """Write ``data`` to ``path`` atomically."""
    with written_atomically(Path(path), overwrite=overwrite) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_npz(path: Path, arrays: dict, *, overwrite: bool = True) -> Path:
    """Write numeric ``arrays`` (name → array) to the ``.npz`` file ``path`` atomically
    (read back with ``np.load(path, allow_pickle=False)``)."""
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"{path}: an .npz file name is needed")
    bad = [k for k, v in arrays.items() if np.asarray(v).dtype == object]
    if bad:
        raise TypeError(f"{path}: arrays {bad[:3]} are not numeric")
    with written_atomically(path, overwrite=overwrite) as tmp:
        np.savez(tmp, **{k: np.asarray(v) for k, v in arrays.items()})
    return path


def write_csv(path: Path, table, *, float_format: str | None = "%.6g",
              overwrite: bool = True) -> Path:
    """Write the pandas DataFrame ``table`` as CSV (no index, newline line ends) to ``path``
    atomically; ``float_format`` as pandas' (``None``: full precision)."""
    return write_text(path, table.to_csv(index=False, float_format=float_format,
                                         lineterminator="\n"), overwrite=overwrite)
