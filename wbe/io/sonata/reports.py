"""SONATA spike reports (``/spikes/<pop>``; CSV read too) and membrane reports
(``/report/<pop>/{data, mapping}``, libsonata-readable)."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import h5py
import numpy as np

from ._common import (
    _SORTING,
    _SORTING_ENUM,
    SonataError,
    _attr_str,
    _dataset,
    _err,
    _population_groups,
)


# ------------------------------------------------------------------------------ spike files
def write_spikes(path: Path, spikes: dict[str, tuple[np.ndarray, np.ndarray]],
                 sorting: str = "by_time") -> None:
    """Write a SONATA spike report: ``/spikes/<pop>/timestamps`` (float64 ms, attribute
    ``units="ms"``) and ``/spikes/<pop>/node_ids`` (uint64), attribute ``sorting`` on each
    population group (SONATA enum: none, by_id, by_time)."""
    if sorting not in _SORTING:
        raise ValueError(f"sorting must be one of {list(_SORTING)}, not {sorting!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as h5:
        h5.attrs["magic"] = np.uint32(0x0A7A)
        h5.attrs["version"] = np.array([0, 1], dtype=np.uint32)
        root = h5.create_group("spikes")
        for pop, (t, ids) in spikes.items():
            t = np.asarray(t, dtype=np.float64)
            ids = np.asarray(ids, dtype=np.int64)
            if t.shape != ids.shape:
                raise ValueError(f"population {pop!r}: {len(t)} times but {len(ids)} node ids")
            if sorting == "by_time":
                o = np.lexsort((ids, t))
            elif sorting == "by_id":
                o = np.lexsort((t, ids))
            else:
                o = slice(None)
            g = root.create_group(pop)
            g.attrs.create("sorting", _SORTING[sorting], dtype=_SORTING_ENUM)
            ds = g.create_dataset("timestamps", data=t[o])
            ds.attrs["units"] = "ms"
            g.create_dataset("node_ids", data=ids[o].astype(np.uint64))


def read_spikes(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read a SONATA spike report → population → (timestamps in ms float64, node ids int64), in
    file order. Timestamps stored in seconds (attribute ``units="s"``) are converted to ms. Also
    reads the legacy bmtk layout ``/spikes/{timestamps, gids}`` (population ``"default"``)."""
    path = Path(path)
    try:
        h5 = h5py.File(path, "r")
    except (OSError, FileNotFoundError) as e:
        raise SonataError(f"{path}: cannot open HDF5 file ({e})") from None
    out = {}
    with h5:
        if "spikes" not in h5 or not isinstance(h5["spikes"], h5py.Group):
            raise _err(path, "/spikes", "missing group")
        root = h5["spikes"]
        if "timestamps" in root and isinstance(root["timestamps"], h5py.Dataset):
            groups = {"default": root}
            id_name = "gids" if "gids" in root else "node_ids"
        else:
            groups = {k: v for k, v in root.items()}
            id_name = "node_ids"
        for pop, g in groups.items():
            if not isinstance(g, h5py.Group):
                raise _err(path, f"/spikes/{pop}", "expected a group")
            t = _dataset(g, "timestamps", path, "float").astype(np.float64)
            ids = _dataset(g, id_name, path, "int").astype(np.int64)
            if len(t) != len(ids):
                raise _err(path, f"{g.name}/{id_name}",
                           f"length {len(ids)} differs from timestamps ({len(t)})")
            units = _attr_str(g["timestamps"], "units")
            if units in ("s", "second", "seconds"):
                t = t * 1000.0
            elif units not in (None, "ms", "millisecond", "milliseconds"):
                raise _err(path, f"{g.name}/timestamps", f"unknown units {units!r}")
            out[pop] = (t, ids)
    return out


def _read_spikes_csv(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rows = _read_table_csv(path)
    out: dict[str, tuple[list, list]] = {}
    for i, r in enumerate(rows):
        try:
            t = float(r["timestamps"])
            nid = int(r["node_ids"])
        except (KeyError, TypeError, ValueError):
            raise _err(path, f"line {i + 2}", "expected columns timestamps, node_ids "
                                              "(and population)") from None
        pop = r.get("population") or "default"
        out.setdefault(pop, ([], []))
        out[pop][0].append(t)
        out[pop][1].append(nid)
    return {k: (np.asarray(t, np.float64), np.asarray(n, np.int64)) for k, (t, n) in out.items()}


def _read_table_csv(path: Path) -> list[dict]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise SonataError(f"{path}: cannot read file ({e.strerror})") from None
    rows = [r for r in csv.reader(io.StringIO(text), delimiter=" ", skipinitialspace=True) if r]
    if not rows:
        raise _err(path, "(header)", "empty CSV file")
    return [dict(zip(rows[0], r)) for r in rows[1:]]




def write_report(path: Path, variable: str, data: dict, *, units: str = "",
                 dt_ms: float | None = None) -> None:
    """Write a SONATA membrane report of point neurons: per population
    ``/report/<pop>/data`` (n_times × n_nodes float32, as the SONATA specification and libsonata
    require; attributes ``variable`` and ``units``) and
    ``/report/<pop>/mapping/{node_ids, index_pointers, element_ids, element_pos, time}`` — one
    element per node, ``time`` = [first sample, last sample + step, step] in ms (end exclusive).
    ``data``: population → (times_ms, node_ids, values[n_times, n_nodes]) with regular times.
    libsonata reads it (``ElementReportReader``); ``index_pointer`` is linked for bmtk."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as h5:
        h5.attrs["magic"] = np.uint32(0x0A7A)
        h5.attrs["version"] = np.array([0, 1], dtype=np.uint32)
        root = h5.create_group("report")
        for pop, (t, ids, v) in data.items():
            t = np.asarray(t, np.float64)
            ids = np.asarray(ids, np.int64)
            v = np.asarray(v, np.float64).reshape(t.size, ids.size)
            if t.size > 1:
                step = float(t[1] - t[0])
                if not np.allclose(np.diff(t), step, rtol=1e-9, atol=1e-9):
                    raise ValueError(f"report {path}: population {pop!r}: irregular times")
            else:
                step = float(dt_ms if dt_ms is not None else 0.1)
            start = float(t[0]) if t.size else 0.0
            g = root.create_group(pop)
            ds = g.create_dataset("data", data=v.astype(np.float32))  # SONATA: float32
            ds.attrs["variable"] = variable
            ds.attrs["units"] = units
            m = g.create_group("mapping")
            m.create_dataset("node_ids", data=ids.astype(np.uint64))
            m.create_dataset("index_pointers", data=np.arange(ids.size + 1, dtype=np.uint64))
            m["index_pointer"] = m["index_pointers"]  # the name bmtk reads
            m.create_dataset("element_ids", data=np.zeros(ids.size, np.uint32))
            m.create_dataset("element_pos", data=np.zeros(ids.size, np.float64))
            tm = m.create_dataset("time", data=np.array([start, start + t.size * step, step]))
            tm.attrs["units"] = "ms"


def read_report(path: Path) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """A SONATA membrane report (one element per node) → population → (times_ms, node_ids,
    values[n_times, n_nodes])."""
    path = Path(path)
    out = {}
    for pop, g in _population_groups(path, "report"):
        data = _dataset(g, "data", path, "float")
        if "mapping" not in g:
            raise _err(path, f"{g.name}/mapping", "missing group")
        m = g["mapping"]
        ids = _dataset(m, "node_ids", path, "int").astype(np.int64)
        start, stop, step = (float(x) for x in _dataset(m, "time", path, "float"))
        n = int(round((stop - start) / step))
        # the end is exclusive by the specification; bmtk writes the last sample's time
        if data.ndim != 2 or data.shape[1] != ids.size or data.shape[0] not in (n, n + 1):
            raise _err(path, f"{g.name}/data", f"shape {data.shape}, expected ({n}, {ids.size})")
        out[pop] = (start + step * np.arange(data.shape[0]), ids, np.asarray(data, np.float64))
    return out
