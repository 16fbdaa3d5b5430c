"""What every part of the SONATA reader and writer shares: errors that name file and field,
model templates, config resolution (manifest variables, includes), CSV tables and HDF5 helpers."""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path

import h5py
import numpy as np

from wbe.engine.registry import CELLS
from wbe.io.atomic import write_text

#: generic NEST ``syn_spec`` keys a synaptic-model JSON may hold besides a rule's parameters
_SYN_SPEC_KEYS = frozenset({"synapse_model", "model", "weight", "delay", "receptor_type"})


def template_of_cell_model(name: str) -> str:
    """SONATA ``model_template`` of a registered cell model: ``nest:<NEST model>`` where NEST
    has the model (what bmtk PointNet reads), else ``wbe:<name>``."""
    model = CELLS.get(name)
    return f"nest:{model.nest_model}" if model.nest_model else f"wbe:{model.name}"


def cell_model_of_template(template: str, where: str) -> str:
    """The registered cell model a ``model_template`` (``nest:<model>`` or ``wbe:<name>``)
    names; :class:`SonataError` listing the known ones otherwise."""
    kind, _, name = template.partition(":")
    if kind == "nest":
        for m in CELLS:
            if m.nest_model == name:
                return m.name
    elif kind == "wbe" and name in CELLS:
        return name
    known = ", ".join(template_of_cell_model(n) for n in CELLS.names())
    raise SonataError(f"{where}: unknown model template {template!r} (the cell models wbe "
                      f"implements: {known}; or model_type 'virtual')")


_SORTING_ENUM = h5py.enum_dtype({"none": 0, "by_id": 1, "by_time": 2}, basetype="u1")
_SORTING = {"none": 0, "by_id": 1, "by_time": 2}
_MAX_NODE_TYPES = 32  # per-node parameter sets above this go to /nodes/<pop>/0/dynamics_params
_NULL = "NULL"


class SonataError(ValueError):
    """A SONATA file is missing, malformed or inconsistent; the message names file and field."""


def _err(file, field: str, what: str) -> SonataError:
    return SonataError(f"{file}: field {field!r}: {what}")


# ----------------------------------------------------------------------------------- configs
_VAR = re.compile(r"\$\{(\w+)\}|\$(\w+)")
_PATH_KEYS_REL_TO_OUTPUT = {"spikes_file", "log_file", "spikes_file_csv", "spikes_file_nwb"}


def _load_json(path: Path):
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise SonataError(f"{path}: cannot read file ({e.strerror})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise SonataError(
            f"{path}: field '(JSON)': malformed JSON at line {e.lineno} column {e.colno}: {e.msg}"
        ) from None


def _substitute(value: str, variables: dict[str, str], file: Path, field: str) -> str:
    for _ in range(32):
        if "$" not in value:
            return value

        def rep(m):
            name = m.group(1) or m.group(2)
            if name not in variables:
                raise _err(file, field, f"unknown manifest variable ${name}")
            return variables[name]

        new = _VAR.sub(rep, value)
        if new == value:
            return value
        value = new
    raise _err(file, field, "manifest variables nest too deeply (cycle?)")


def _resolve_config(path: Path, _depth: int = 0) -> dict:
    """Load a SONATA config, resolve manifest variables, make paths absolute and merge the
    included ``network`` / ``simulation`` configs (the including file wins on conflicts)."""
    path = Path(path)
    conf = _load_json(path)
    if not isinstance(conf, dict):
        raise _err(path, "(top level)", "expected a JSON object")
    confdir = str(path.resolve().parent)
    variables = {"configdir": confdir, "workingdir": os.getcwd(), "configfname": str(path)}
    manifest = conf.get("manifest", {})
    if not isinstance(manifest, dict):
        raise _err(path, "manifest", "expected an object")
    raw = {k.lstrip("$"): str(v) for k, v in manifest.items()}
    variables.update(raw)
    for k in raw:
        variables[k] = _substitute(raw[k], variables, path, f"manifest.{k}")

    def walk(obj, key_path: str, key: str | None):
        if isinstance(obj, dict):
            return {k: walk(v, f"{key_path}.{k}" if key_path else k, k) for k, v in obj.items()}
        if isinstance(obj, list):
            return [walk(v, f"{key_path}[{i}]", key) for i, v in enumerate(obj)]
        if isinstance(obj, str):
            s = _substitute(obj, variables, path, key_path)
            if key is not None and (key.endswith("_file") or key.endswith("_dir")
                                    or key in ("network", "simulation")):
                if key not in _PATH_KEYS_REL_TO_OUTPUT and s and not os.path.isabs(s):
                    s = os.path.normpath(os.path.join(confdir, s))
            return s
        return obj

    resolved = walk({k: v for k, v in conf.items() if k != "manifest"}, "", None)
    resolved["_config_path"] = str(path)
    for inc in ("network", "simulation"):
        child_path = resolved.get(inc)
        if isinstance(child_path, str):
            if _depth > 4:
                raise _err(path, inc, "config includes nest too deeply")
            child = _resolve_config(Path(child_path), _depth + 1)
            for k, v in child.items():
                if k == "_config_path":
                    continue
                if k not in resolved:
                    resolved[k] = v
                elif isinstance(v, dict) and isinstance(resolved[k], dict):
                    resolved[k] = {**v, **resolved[k]}
    return resolved


# ------------------------------------------------------------------------------- CSV tables
def _read_types_csv(path: Path, id_col: str) -> dict[int, dict[str, str | None]]:
    """Read a bmtk node/edge-types CSV (space-separated, ``NULL`` = missing) → id → row."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as e:
        raise SonataError(f"{path}: cannot read file ({e.strerror})") from None
    rows = list(csv.reader(io.StringIO(text), delimiter=" ", skipinitialspace=True))
    rows = [r for r in rows if r]
    if not rows:
        raise _err(path, "(header)", "empty CSV file")
    header = rows[0]
    if id_col not in header:
        raise _err(path, id_col, f"missing column (header is {header})")
    out: dict[int, dict[str, str | None]] = {}
    for lineno, r in enumerate(rows[1:], start=2):
        if len(r) != len(header):
            raise _err(path, f"line {lineno}",
                       f"has {len(r)} values but the header has {len(header)} columns")
        row = {h: (None if v in ("NULL", "None", "") else v) for h, v in zip(header, r)}
        try:
            tid = int(row[id_col])
        except (TypeError, ValueError):
            raise _err(path, id_col, f"line {lineno}: not an integer: {row[id_col]!r}") from None
        if tid in out:
            raise _err(path, id_col, f"duplicate id {tid}")
        out[tid] = row
    return out


def _write_types_csv(path: Path, header: list[str], rows: list[list]) -> None:
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, delimiter=" ", lineterminator="\n")
        w.writerow(header)
        for r in rows:
            w.writerow([_NULL if v is None else v for v in r])


def _as_number(v: str | None):
    if v is None:
        return None
    try:
        return float(v)
    except ValueError:
        return v


# --------------------------------------------------------------------------------- HDF5 helpers
def _dataset(grp, name: str, file, kind: str = "any") -> np.ndarray:
    if name not in grp:
        raise _err(file, f"{grp.name}/{name}", "missing dataset")
    ds = grp[name]
    if not isinstance(ds, h5py.Dataset):
        raise _err(file, f"{grp.name}/{name}", "expected a dataset, found a group")
    if kind == "int" and ds.dtype.kind not in "iu":
        raise _err(file, ds.name, f"wrong dtype {ds.dtype}, expected an integer type")
    if kind == "float" and ds.dtype.kind not in "iuf":
        raise _err(file, ds.name, f"wrong dtype {ds.dtype}, expected a numeric type")
    return ds[()]


def _decode(arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind in "OS":
        return np.array([x.decode("utf-8") if isinstance(x, bytes) else str(x) for x in arr],
                        dtype=object)
    return arr


def _attr_str(obj, name: str) -> str | None:
    v = obj.attrs.get(name)
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.decode("utf-8")
    if isinstance(v, np.ndarray):
        v = v.flat[0]
        return v.decode("utf-8") if isinstance(v, bytes) else str(v)
    return str(v)


def _write_attribute_dataset(grp, name: str, values: np.ndarray) -> None:
    values = np.asarray(values)
    if values.dtype.kind in "OUS":
        data = [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values]
        grp.create_dataset(name, data=data, dtype=h5py.string_dtype("utf-8"))
    elif values.dtype.kind == "b":
        grp.create_dataset(name, data=values.astype(np.uint8))
    else:
        grp.create_dataset(name, data=values)


def _ranges_index(grp, ids: np.ndarray, n_nodes: int) -> None:
    """Write a SONATA index (``node_id_to_ranges``, ``range_to_edge_id``) for ``ids``."""
    order = np.argsort(ids, kind="stable")
    sorted_edges = order.astype(np.uint64)
    # contiguous runs of edge ids within each node (in sorted order)
    n = len(ids)
    if n:
        sid = ids[order]
        brk = np.flatnonzero((np.diff(sid) != 0) | (np.diff(order) != 1)) + 1
        starts = np.concatenate([[0], brk])
        ends = np.concatenate([brk, [n]])
        r_start = sorted_edges[starts]
        r_end = sorted_edges[ends - 1] + 1
        r_node = sid[starts]
    else:
        r_start = r_end = np.zeros(0, np.uint64)
        r_node = np.zeros(0, np.int64)
    range_to_edge = np.stack([r_start, r_end], axis=1).astype(np.uint64)
    node_to_ranges = np.zeros((n_nodes, 2), np.uint64)
    if len(r_node):
        first = np.searchsorted(r_node, np.arange(n_nodes), side="left")
        last = np.searchsorted(r_node, np.arange(n_nodes), side="right")
        node_to_ranges[:, 0] = first
        node_to_ranges[:, 1] = last
        empty = first == last
        node_to_ranges[empty] = 0
    grp.create_dataset("node_id_to_ranges", data=node_to_ranges)
    grp["node_id_to_range"] = grp["node_id_to_ranges"]  # hard link: the name bmtk reads
    grp.create_dataset("range_to_edge_id", data=range_to_edge.reshape(-1, 2))




def _write_json(path: Path, obj) -> None:
    """Write ``obj`` as indented JSON, atomically (temporary name, then rename)."""
    write_text(Path(path), json.dumps(obj, indent=2) + "\n")


def _population_groups(path: Path, top: str):
    """Yield ``(name, group)`` for every population under ``/<top>`` of a SONATA HDF5 file,
    raising :class:`SonataError` naming the file and the field when the layout is wrong."""
    try:
        h5 = h5py.File(path, "r")
    except (OSError, FileNotFoundError) as e:
        raise SonataError(f"{path}: cannot open HDF5 file ({e})") from None
    with h5:
        if top not in h5 or not isinstance(h5[top], h5py.Group):
            raise _err(path, f"/{top}", "missing group")
        for name, g in h5[top].items():
            if not isinstance(g, h5py.Group):
                raise _err(path, f"/{top}/{name}", "expected a group")
            yield name, g


def _dynamics_file(fname: str, base: Path | None, components_key: str, types_path) -> Path:
    """A types CSV's ``dynamics_params`` file: absolute, or relative to the config's
    ``components.<components_key>`` folder (``base``; an error naming both when it is missing)."""
    fpath = Path(fname)
    if not fpath.is_absolute():
        if base is None:
            raise _err(types_path, "dynamics_params",
                       f"relative file but no components.{components_key}")
        fpath = base / fpath
    return fpath


def _load_params_json(path: Path, field: str, cache: dict) -> dict:
    if path in cache:
        return cache[path]
    if not path.exists():
        raise _err(path, field, "dynamics_params file not found")
    data = _load_json(path)
    if not isinstance(data, dict):
        raise _err(path, "(top level)", "expected a JSON object of parameters")
    cache[path] = data
    return data


def _node_sets(conf: dict) -> dict:
    sets = {}
    f = conf.get("node_sets_file")
    if f:
        data = _load_json(Path(f))
        if not isinstance(data, dict):
            raise _err(f, "(top level)", "expected an object of node sets")
        sets.update(data)
    inline = conf.get("node_sets")
    if isinstance(inline, dict):
        sets.update(inline)
    return sets
