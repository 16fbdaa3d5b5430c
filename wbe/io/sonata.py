"""SONATA point-neuron circuits, simulation configs and spike reports ↔ :class:`Network`.

Follows the conventions of bmtk's PointNet (which drives NEST), see
``/work/shared/notes/sonata-pointnet-conventions.md``:

* neuron parameters are NEST's (names and units) and live in each node type's
  ``dynamics_params`` JSON (``components/point_neuron_models/``); per-node values under
  ``/nodes/<pop>/<group>/dynamics_params/<name>`` are also read (bmtk ignores them, so the writer
  uses them only when a population has too many distinct parameter sets for one type each);
* ``model_template`` is ``nest:<model>``; ``model_type: virtual`` marks spike sources;
* effective weight = ``syn_weight`` × ``nsyns`` (when an ``nsyns`` column exists); a value in
  ``edges.h5`` overrides the edge-types CSV; weight units and sign follow the target model
  (pA for ``iaf_psc_*``, nS for ``*_cond_*``, mV for ``iaf_psc_delta``/``izhikevich``);
* delays in ms, ≥ dt; ``node_id`` restarts at 0 per population; ``node_type_id`` and
  ``edge_type_id`` are unique only within their CSV; an edge population's source/target are
  the ``node_population`` attributes of ``source_node_id``/``target_node_id``;
* configs use manifest variables (``${configdir}``, ``$BASE_DIR``, ...) and may include the
  circuit with ``"network": "circuit_config.json"``.

Simulation-config inputs understood by :func:`load_simulation`:

* ``{"input_type": "spikes", "module": "sonata" | "h5" | "csv", "input_file": ..., "node_set": ...}``
  → :class:`SpikeTrainInput` (virtual nodes; times on the dt grid and > 0, in ms);
* ``{"input_type": "current_clamp", "module": "IClamp", "node_set": ..., "amp": ..., "delay": ...,
  "duration": ...}`` (scalars or equal-length lists; delay/duration in ms) → :class:`CurrentInput`.
  The unit of ``amp`` follows the simulator: bmtk PointNet passes ``amp`` to NEST unchanged, so it
  is **pA** when ``target_simulator`` is NEST or absent; it is nA (the SONATA/NEURON unit, ×1000)
  when ``target_simulator`` is NEURON. An explicit ``"amp_unit": "pA" | "nA"`` overrides both.
  A clamp whose delay + duration reaches ``tstop`` is read as lasting to the end of the run.
* wbe's own Poisson module: ``{"input_type": "poisson", "module": "poisson", "node_set": ...,
  "rate_hz": r (scalar or one per node of the node set), "weight": w (target model's unit),
  "delay_ms": 0.1, "start_ms": 0.0, "stop_ms": <omitted = end of run>}`` → :class:`PoissonInput`
  (an independent Poisson train per target neuron, as NEST's ``poisson_generator``).

``run``: ``tstop`` and ``dt`` in ms, ``random_seed`` (or ``seed``), optional wbe extension
``record_spikes`` (list of population names). ``reports`` with ``module: multimeter_report``
(``cells`` node set, ``variable_name``, ``dt``) → :class:`StateRecorder`. ``output`` (``outputs``),
``conditions`` and ``target_simulator`` are tolerated.

Reading never writes anything. Malformed input raises :class:`SonataError` naming the file and
the field.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np

from wbe.engine.inputs import off_grid, spike_steps
from wbe.engine.network import (
    PLACEMENTS,
    VIRTUAL,
    CurrentInput,
    Network,
    Plasticity,
    PoissonInput,
    Population,
    Projection,
    RunConfig,
    SpikeTrainInput,
    StateRecorder,
)
from wbe.engine.registry import CELLS, PLASTICITY, SYNAPSES

__all__ = [
    "SonataError",
    "write_circuit",
    "read_circuit",
    "write_simulation_config",
    "load_simulation",
    "write_spikes",
    "read_spikes",
    "cell_model_of_template",
    "template_of_cell_model",
]

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


# ----------------------------------------------------------------------------- write circuit
def write_circuit(out_dir: Path, network: Network, *,
                  max_node_types: int = _MAX_NODE_TYPES) -> Path:
    """Write ``network`` (populations and projections) as a SONATA circuit in ``out_dir``.

    Layout (as bmtk's NetworkBuilder): ``circuit_config.json``, ``network/nodes.h5``,
    ``network/edges.h5``, ``network/node_types.csv``, ``network/edge_types.csv`` (space-separated),
    ``components/point_neuron_models/*.json`` (NEST parameter names and units),
    ``components/synaptic_models/*.json``. A population whose parameter arrays take at most
    ``max_node_types`` distinct value sets gets one node type per set; otherwise array parameters
    are stored per node under ``/nodes/<pop>/0/dynamics_params/<name>`` (wbe reads these, bmtk
    1.2 PointNet ignores them: pass a large ``max_node_types`` for circuits meant for bmtk). Edges are sorted by (target, source) and
    indexed both ways. Weights are written as ``syn_weight`` (the effective weight; when a
    projection carries an ``nsyns`` attribute, ``syn_weight = weight / nsyns``). Returns the path
    of ``circuit_config.json``.
    """
    out_dir = Path(out_dir)
    net_dir = out_dir / "network"
    neuron_dir = out_dir / "components" / "point_neuron_models"
    syn_dir = out_dir / "components" / "synaptic_models"
    for d in (net_dir, neuron_dir, syn_dir):
        d.mkdir(parents=True, exist_ok=True)
    names = [p.name for p in network.populations]
    if len(set(names)) != len(names):
        raise ValueError(f"population names must be unique: {names}")

    # ---- nodes
    type_rows: list[list] = []
    next_type = 100
    node_pop_types: dict[str, str] = {}
    with h5py.File(net_dir / "nodes.h5", "w") as h5:
        h5.attrs["magic"] = np.uint32(0x0A7A)
        h5.attrs["version"] = np.array([0, 1], dtype=np.uint32)
        root = h5.create_group("nodes")
        for pop in network.populations:
            n = int(pop.n)
            g = root.create_group(pop.name)
            grp0 = g.create_group("0")
            type_ids = np.full(n, next_type, dtype=np.int64)
            if pop.is_virtual:
                # a non-empty model_template: bmtk PointNet calls .startswith() on it
                type_rows.append([next_type, "virtual", "virtual", None, pop.name])
                next_type += 1
                node_pop_types[pop.name] = "virtual"
            else:
                template = template_of_cell_model(pop.model)
                node_pop_types[pop.name] = "point_neuron"
                scalars = {}
                arrays = {}
                for k, v in pop.params.items():
                    a = np.asarray(v, dtype=np.float64)
                    if a.ndim == 0:
                        scalars[k] = float(a)
                    else:
                        if a.shape != (n,):
                            raise ValueError(
                                f"population {pop.name!r}: parameter {k!r} has shape {a.shape}, "
                                f"expected ({n},)")
                        arrays[k] = a
                akeys = sorted(arrays)
                uniq_rows, inverse = None, None
                if akeys:
                    mat = np.stack([arrays[k] for k in akeys], axis=1)
                    uniq_rows, inverse = np.unique(mat, axis=0, return_inverse=True)
                    inverse = inverse.reshape(-1)
                if akeys and len(uniq_rows) <= max_node_types:
                    for j, row in enumerate(uniq_rows):
                        params = dict(scalars)
                        params.update({k: float(x) for k, x in zip(akeys, row)})
                        fname = f"{pop.name}_{j}.json"
                        _write_json(neuron_dir / fname, params)
                        type_rows.append([next_type + j, "point_neuron", template, fname,
                                          pop.name])
                    type_ids = (next_type + inverse).astype(np.int64)
                    next_type += len(uniq_rows)
                else:
                    fname = f"{pop.name}.json"
                    _write_json(neuron_dir / fname, scalars)
                    type_rows.append([next_type, "point_neuron", template, fname, pop.name])
                    next_type += 1
                    if akeys:
                        dp = grp0.create_group("dynamics_params")
                        for k in akeys:
                            dp.create_dataset(k, data=arrays[k])
            g.create_dataset("node_type_id", data=type_ids)
            g.create_dataset("node_id", data=np.arange(n, dtype=np.int64))
            g.create_dataset("node_group_id", data=np.zeros(n, dtype=np.int64))
            g.create_dataset("node_group_index", data=np.arange(n, dtype=np.int64))
            for k, v in pop.attributes.items():
                v = np.asarray(v)
                if v.shape[:1] != (n,):
                    raise ValueError(f"population {pop.name!r}: attribute {k!r} has length "
                                     f"{v.shape[:1]}, expected {n}")
                _write_attribute_dataset(grp0, k, v)
    _write_types_csv(net_dir / "node_types.csv",
                     ["node_type_id", "model_type", "model_template", "dynamics_params",
                      "population"], type_rows)

    # ---- edges
    pops = {p.name: p for p in network.populations}
    edge_rows: list[list] = []
    edge_pop_types: dict[str, str] = {}
    next_etype = 100
    pnames = [pr.name for pr in network.projections]
    if len(set(pnames)) != len(pnames):
        raise ValueError(f"projection names must be unique: {pnames}")
    with h5py.File(net_dir / "edges.h5", "w") as h5:
        h5.attrs["magic"] = np.uint32(0x0A7A)
        h5.attrs["version"] = np.array([0, 1], dtype=np.uint32)
        root = h5.create_group("edges")
        for pr in network.projections:
            for end in (pr.source, pr.target):
                if end not in pops:
                    raise ValueError(f"projection {pr.name!r}: unknown population {end!r}")
            src = np.asarray(pr.source_ids, dtype=np.int64)
            tgt = np.asarray(pr.target_ids, dtype=np.int64)
            order = np.lexsort((src, tgt))
            src, tgt = src[order], tgt[order]
            w = np.asarray(pr.weight, dtype=np.float64)[order]
            d = np.asarray(pr.delay_ms, dtype=np.float64)[order]
            g = root.create_group(pr.name)
            s_ds = g.create_dataset("source_node_id", data=src)
            s_ds.attrs["node_population"] = pr.source
            t_ds = g.create_dataset("target_node_id", data=tgt)
            t_ds.attrs["node_population"] = pr.target
            m = len(src)
            g.create_dataset("edge_type_id", data=np.full(m, next_etype, dtype=np.int64))
            g.create_dataset("edge_group_id", data=np.zeros(m, dtype=np.int64))
            g.create_dataset("edge_group_index", data=np.arange(m, dtype=np.int64))
            grp0 = g.create_group("0")
            attrs = {k: np.asarray(v)[order] for k, v in pr.attributes.items()}
            if "nsyns" in attrs:
                grp0.create_dataset("syn_weight", data=w / attrs["nsyns"].astype(np.float64))
            else:
                grp0.create_dataset("syn_weight", data=w)
            grp0.create_dataset("delay", data=d)
            for k, v in attrs.items():
                if k in ("syn_weight", "delay"):
                    continue
                _write_attribute_dataset(grp0, k, v)
            idx = g.create_group("indices")
            _ranges_index(idx.create_group("target_to_source"), tgt, pops[pr.target].n)
            _ranges_index(idx.create_group("source_to_target"), src, pops[pr.source].n)
            syn = SYNAPSES.get(pr.synapse)
            edge_pop_types[pr.name] = syn.kind
            if pr.plasticity is not None:
                rule = PLASTICITY.get(pr.plasticity.rule)
                model, fname = rule.name, f"{pr.name}_{rule.name}.json"
                params = dict(zip(rule.param_names,
                                  rule.resolve(pr.plasticity.params, f"projection {pr.name!r}")
                                  .tolist()))
            else:
                model, fname, params = syn.name, f"{syn.name}.json", {}
            if pr.receptor is not None:
                rt = _receptor_type(network, pr)
                params["receptor_type"] = rt
                fname = fname[:-len(".json")] + f"_r{rt}.json"
            _write_json(syn_dir / fname, params)
            edge_rows.append([next_etype, model, fname])
            next_etype += 1
    _write_types_csv(net_dir / "edge_types.csv",
                     ["edge_type_id", "model_template", "dynamics_params"], edge_rows)

    config = {
        "manifest": {"$BASE_DIR": ".", "$NETWORK_DIR": "$BASE_DIR/network",
                     "$COMPONENTS_DIR": "$BASE_DIR/components"},
        "components": {"point_neuron_models_dir": "$COMPONENTS_DIR/point_neuron_models",
                       "synaptic_models_dir": "$COMPONENTS_DIR/synaptic_models"},
        "networks": {
            "nodes": [{"nodes_file": "$NETWORK_DIR/nodes.h5",
                       "node_types_file": "$NETWORK_DIR/node_types.csv",
                       "populations": {k: {"type": v} for k, v in node_pop_types.items()}}],
            "edges": [{"edges_file": "$NETWORK_DIR/edges.h5",
                       "edge_types_file": "$NETWORK_DIR/edge_types.csv",
                       "populations": {k: {"type": v} for k, v in edge_pop_types.items()}}],
        },
    }
    path = out_dir / "circuit_config.json"
    _write_json(path, config)
    return path


def _receptor_type(network: Network, pr: Projection) -> int:
    """NEST's receptor_type number of the port projection ``pr`` names."""
    model = CELLS.get(network.population(pr.target).model)
    return int(model.port(pr.receptor, f"projection {pr.name!r}").receptor_type)


def _write_json(path: Path, obj) -> None:
    Path(path).write_text(json.dumps(obj, indent=2) + "\n", encoding="utf-8")


# ------------------------------------------------------------------------------ read circuit
def read_circuit(circuit_config: Path) -> Network:
    """Read a SONATA circuit (bmtk PointNet conventions) into a :class:`Network`.

    Every population of every ``networks.nodes`` entry becomes a :class:`Population` (one NEST
    model per population; ``model_type: virtual`` → ``"virtual"``); every edge population becomes
    a :class:`Projection` (or several when it mixes synapse models). Parameters constant over a
    population become scalars. Extra node datasets and extra node-type CSV columns become
    ``Population.attributes``; extra edge datasets ``Projection.attributes``.
    """
    conf = _resolve_config(Path(circuit_config))
    return _build_network(conf)


def _components_dir(conf: dict, key: str) -> Path | None:
    comp = conf.get("components", {})
    if not isinstance(comp, dict):
        raise _err(conf["_config_path"], "components", "expected an object")
    v = comp.get(key)
    return Path(v) if v else None


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


def _build_network(conf: dict) -> Network:
    cfg = conf["_config_path"]
    networks = conf.get("networks")
    if not isinstance(networks, dict):
        raise _err(cfg, "networks", "missing or not an object")
    node_entries = networks.get("nodes")
    if not isinstance(node_entries, list) or not node_entries:
        raise _err(cfg, "networks.nodes", "missing or empty list")
    neuron_dir = _components_dir(conf, "point_neuron_models_dir")
    syn_dir = _components_dir(conf, "synaptic_models_dir")
    cache: dict = {}
    populations: list[Population] = []
    sizes: dict[str, int] = {}
    models: dict[str, str] = {}
    for i, entry in enumerate(node_entries):
        for key in ("nodes_file", "node_types_file"):
            if not isinstance(entry, dict) or key not in entry:
                raise _err(cfg, f"networks.nodes[{i}].{key}", "missing")
        types = _read_types_csv(Path(entry["node_types_file"]), "node_type_id")
        nodes_file = Path(entry["nodes_file"])
        pop_props = entry.get("populations", {}) or {}
        for pop in _read_nodes_file(nodes_file, Path(entry["node_types_file"]), types,
                                    neuron_dir, cache, pop_props):
            if pop.name in sizes:
                raise _err(nodes_file, f"/nodes/{pop.name}", "population defined twice")
            sizes[pop.name] = pop.n
            models[pop.name] = pop.model
            populations.append(pop)
    projections: list[Projection] = []
    for i, entry in enumerate(networks.get("edges", []) or []):
        for key in ("edges_file", "edge_types_file"):
            if not isinstance(entry, dict) or key not in entry:
                raise _err(cfg, f"networks.edges[{i}].{key}", "missing")
        types = _read_types_csv(Path(entry["edge_types_file"]), "edge_type_id")
        for pr in _read_edges_file(Path(entry["edges_file"]),
                                   Path(entry["edge_types_file"]), types, syn_dir,
                                   cache, sizes, entry.get("populations", {}) or {}):
            conf.setdefault("_edge_files", {})[pr.name] = entry["edges_file"]
            projections.append(pr)
    return Network(populations=populations, projections=projections)


_NODE_CSV_STANDARD = {"node_type_id", "model_type", "model_template", "dynamics_params",
                      "population", "model_processing", "morphology"}


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


def _read_nodes_file(path: Path, types_path: Path, types: dict, neuron_dir: Path | None,
                     cache: dict, pop_props: dict) -> list[Population]:
    out = []
    for pname, g in _population_groups(path, "nodes"):
        type_ids = _dataset(g, "node_type_id", path, "int").astype(np.int64)
        n = len(type_ids)
        if "node_group_id" in g:
            grp_id = _dataset(g, "node_group_id", path, "int").astype(np.int64)
            grp_idx = _dataset(g, "node_group_index", path, "int").astype(np.int64)
            if len(grp_id) != n or len(grp_idx) != n:
                raise _err(path, f"{g.name}/node_group_id",
                           f"length differs from node_type_id ({n})")
        else:
            grp_id = np.zeros(n, np.int64)
            grp_idx = np.arange(n, dtype=np.int64)
        unknown = np.setdiff1d(np.unique(type_ids), np.fromiter(types, np.int64))
        if len(unknown):
            raise _err(path, f"{g.name}/node_type_id",
                       f"ids {unknown[:5].tolist()} not in {types_path}")
        # model per type
        tmodel: dict[int, str] = {}
        for tid in np.unique(type_ids).tolist():
            row = types[tid]
            mtype = (row.get("model_type") or "").strip()
            tmpl = (row.get("model_template") or "").strip()
            if mtype == "virtual" or (
                    pop_props.get(pname, {}).get("type") == "virtual" and not tmpl):
                tmodel[tid] = VIRTUAL
                continue
            model = cell_model_of_template(tmpl, f"{types_path}: field 'model_template': "
                                                 f"node type {tid}")
            tmodel[tid] = model
        mset = sorted(set(tmodel.values()))
        if len(mset) != 1:
            raise _err(path, f"{g.name}/node_type_id",
                       f"population mixes models {mset}; wbe needs one model per population")
        model = mset[0]
        params: dict[str, np.ndarray] = {}
        attributes: dict[str, np.ndarray] = {}
        defaults = CELLS.get(model).defaults if model != VIRTUAL else {}
        if model != VIRTUAL:
            tparams: dict[int, dict] = {}
            for tid in tmodel:
                fname = types[tid].get("dynamics_params")
                if fname is None:
                    tparams[tid] = {}
                    continue
                fpath = Path(fname)
                if not fpath.is_absolute():
                    if neuron_dir is None:
                        raise _err(types_path, "dynamics_params",
                                   "relative file but no components.point_neuron_models_dir")
                    fpath = neuron_dir / fpath
                data = _load_params_json(fpath, "dynamics_params", cache)
                clean = {}
                for k, v in data.items():
                    if isinstance(v, bool) or not isinstance(v, int | float):
                        raise _err(fpath, k, f"non-scalar parameter {v!r} is not supported")
                    clean[k] = float(v)
                tparams[tid] = clean
            keys = sorted(set().union(*[set(p) for p in tparams.values()]))
            tids = np.array(sorted(tparams), dtype=np.int64)
            pos = np.searchsorted(tids, type_ids)
            for k in keys:
                vals = []
                for tid in tids.tolist():
                    if k in tparams[tid]:
                        vals.append(tparams[tid][k])
                    elif k in defaults:  # the default, derived from others where it depends
                        vals.append(float(CELLS.get(model).resolve(
                            tparams[tid], 1, np.zeros(1, np.int64), str(types_path))[k][0]))
                    else:
                        raise _err(types_path, "dynamics_params",
                                   f"parameter {k!r} set for some node types of population "
                                   f"{pname!r} but not type {tid}, and {model} has no such "
                                   f"parameter (known: {sorted(defaults)})")
                params[k] = np.asarray(vals, dtype=np.float64)[pos]
        # groups: attributes and per-node dynamics_params
        for gid in np.unique(grp_id).tolist():
            gname = str(gid)
            if gname not in g:
                raise _err(path, f"{g.name}/{gname}", "missing node group")
            grp = g[gname]
            sel = np.flatnonzero(grp_id == gid)
            gidx = grp_idx[sel]
            for k, ds in grp.items():
                if k == "dynamics_params" and isinstance(ds, h5py.Group):
                    for pk, pds in ds.items():
                        arr = _dataset(ds, pk, path, "float").astype(np.float64)
                        if len(arr) <= (gidx.max() if len(gidx) else -1):
                            raise _err(path, pds.name, "shorter than the node group")
                        full = params.get(pk)
                        if full is None:
                            full = np.full(n, np.nan)
                            if pk in defaults:
                                full[:] = defaults[pk]
                        full = np.array(full, dtype=np.float64)
                        full[sel] = arr[gidx]
                        params[pk] = full
                    continue
                if not isinstance(ds, h5py.Dataset):
                    continue
                arr = _decode(ds[()])
                if arr.ndim == 0 or len(arr) <= (gidx.max() if len(gidx) else -1):
                    raise _err(path, ds.name, "shorter than the node group")
                if k not in attributes:
                    if len(sel) == n and np.array_equal(gidx, np.arange(n)) \
                            and len(arr) == n:
                        attributes[k] = arr
                        continue
                    attributes[k] = _blank(n, arr.dtype)
                attributes[k][sel] = arr[gidx]
        for k, v in params.items():
            derived = k in defaults and math.isnan(defaults[k])
            if np.isnan(v).any() and not derived:
                raise _err(path, f"{g.name}/*/dynamics_params/{k}",
                           f"not set for every node, and {model} has no default for it")
        # extra CSV columns as node attributes
        extra = sorted({c for tid in tmodel for c in types[tid]} - _NODE_CSV_STANDARD)
        if extra:
            tids = np.array(sorted(tmodel), dtype=np.int64)
            pos = np.searchsorted(tids, type_ids)
            for c in extra:
                if c in attributes:
                    continue
                vals = [_as_number(types[t].get(c)) for t in tids.tolist()]
                if all(isinstance(v, float) for v in vals):
                    attributes[c] = np.asarray(vals, dtype=np.float64)[pos]
                else:
                    attributes[c] = np.array(
                        ["" if v is None else (str(v) if not isinstance(v, float) else
                                               types[t].get(c))
                         for v, t in zip(vals, tids.tolist())], dtype=object)[pos]
        attributes.pop("node_id", None)
        out.append(Population(name=pname, model=model, n=n,
                              params={k: _collapse(v) for k, v in params.items()},
                              attributes=attributes))
    return out


def _blank(n: int, dtype) -> np.ndarray:
    """Fill value for nodes/edges of groups that lack an attribute: NaN, 0 or ''."""
    if np.dtype(dtype).kind == "O":
        return np.full(n, "", dtype=object)
    if np.dtype(dtype).kind == "f":
        return np.full(n, np.nan, dtype=dtype)
    return np.zeros(n, dtype=dtype)


def _collapse(a: np.ndarray):
    a = np.asarray(a, dtype=np.float64)
    if len(a) and np.all(a == a[0]):
        return float(a[0])
    return a


_EDGE_STANDARD_DS = {"source_node_id", "target_node_id", "edge_type_id", "edge_group_id",
                     "edge_group_index"}


def _read_edges_file(path: Path, types_path: Path, types: dict, syn_dir: Path | None,
                     cache: dict, sizes: dict[str, int], pop_props: dict) -> list[Projection]:
    out = []
    for ename, g in _population_groups(path, "edges"):
        src = _dataset(g, "source_node_id", path, "int").astype(np.int64)
        tgt = _dataset(g, "target_node_id", path, "int").astype(np.int64)
        etype = _dataset(g, "edge_type_id", path, "int").astype(np.int64)
        m = len(src)
        if len(tgt) != m or len(etype) != m:
            raise _err(path, f"{g.name}/target_node_id",
                       "source_node_id, target_node_id and edge_type_id differ in length")
        ends = {}
        for ds_name in ("source_node_id", "target_node_id"):
            popname = _attr_str(g[ds_name], "node_population")
            if popname is None:
                raise _err(path, f"{g.name}/{ds_name}", "missing attribute node_population")
            if popname not in sizes:
                raise _err(path, f"{g.name}/{ds_name}",
                           f"node_population {popname!r} is not a population of the circuit")
            ends[ds_name] = popname
        for arr, ds_name in ((src, "source_node_id"), (tgt, "target_node_id")):
            size = sizes[ends[ds_name]]
            if m and (arr.min() < 0 or arr.max() >= size):
                bad = int(arr.max()) if arr.max() >= size else int(arr.min())
                raise _err(path, f"{g.name}/{ds_name}",
                           f"dangling node id {bad}: population {ends[ds_name]!r} has "
                           f"{size} nodes")
        unknown = np.setdiff1d(np.unique(etype), np.fromiter(types, np.int64))
        if len(unknown):
            raise _err(path, f"{g.name}/edge_type_id",
                       f"ids {unknown[:5].tolist()} not in {types_path}")
        if "edge_group_id" in g:
            grp_id = _dataset(g, "edge_group_id", path, "int").astype(np.int64)
            grp_idx = _dataset(g, "edge_group_index", path, "int").astype(np.int64)
        else:
            grp_id = np.zeros(m, np.int64)
            grp_idx = np.arange(m, dtype=np.int64)
        # per-edge datasets from groups
        cols: dict[str, np.ndarray] = {}
        for gid in np.unique(grp_id).tolist():
            if str(gid) not in g:
                raise _err(path, f"{g.name}/{gid}", "missing edge group")
            grp = g[str(gid)]
            sel = np.flatnonzero(grp_id == gid)
            gidx = grp_idx[sel]
            for k, ds in grp.items():
                if not isinstance(ds, h5py.Dataset):
                    continue
                if k in ("syn_weight", "delay", "nsyns") and ds.dtype.kind not in "iuf":
                    raise _err(path, ds.name, f"wrong dtype {ds.dtype}, expected numeric")
                arr = _decode(ds[()])
                if arr.ndim == 0 or (len(gidx) and len(arr) <= gidx.max()):
                    raise _err(path, ds.name, "shorter than the edge group")
                if k not in cols:
                    if k in ("syn_weight", "delay"):
                        cols[k] = np.full(m, np.nan)
                    else:
                        cols[k] = _blank(m, arr.dtype)
                cols[k][sel] = arr[gidx]
        # per-edge-type values
        utypes = np.unique(etype).tolist()
        tid_arr = np.array(utypes, dtype=np.int64)
        pos = np.searchsorted(tid_arr, etype)
        model_of = {}
        for tid in utypes:
            row = types[tid]
            tmpl = (row.get("model_template") or "static_synapse").strip()
            if tmpl.startswith("nest:"):
                tmpl = tmpl[len("nest:"):]
            if pop_props.get(ename, {}).get("type") == "electrical":
                tmpl = "gap_junction"
            fname = row.get("dynamics_params")
            data: dict = {}
            if fname:
                fpath = Path(fname)
                if not fpath.is_absolute():
                    if syn_dir is None:
                        raise _err(types_path, "dynamics_params",
                                   "relative file but no components.synaptic_models_dir")
                    fpath = syn_dir / fpath
                data = _load_params_json(fpath, "dynamics_params", cache)
            else:
                fpath = types_path
            wf = row.get("weight_function")
            if wf is not None and wf.strip():
                raise _err(types_path, "weight_function",
                           f"edge type {tid}: user weight function {wf!r} not supported")
            model_of[tid] = _edge_type_model(tmpl, data, row, fpath, types_path, tid)
        for col in ("syn_weight", "delay"):
            csv_vals = np.array([_csv_float(types[t], col, types_path) for t in utypes],
                                dtype=np.float64)[pos]
            if col in cols:
                v = cols[col]
                missing = np.isnan(v)
                v[missing] = csv_vals[missing]
            else:
                v = csv_vals
            if np.isnan(v).any():
                raise _err(path, f"{g.name}/0/{col}",
                           f"no {col} for edge {int(np.flatnonzero(np.isnan(v))[0])} "
                           f"(neither in {path.name} nor in {types_path.name})")
            cols[col] = v
        delay = cols.pop("delay")
        if m and (delay <= 0).any():
            raise _err(path, f"{g.name}/0/delay",
                       f"non-positive delay {float(delay.min())} ms")
        weight = cols.pop("syn_weight")
        if "nsyns" in cols:
            weight = weight * cols["nsyns"].astype(np.float64)
        elif all("nsyns" in types[t] and types[t]["nsyns"] for t in utypes):
            ns = np.array([_csv_float(types[t], "nsyns", types_path) for t in utypes])[pos]
            weight = weight * ns
        attrs = {k: v for k, v in cols.items() if k not in _EDGE_STANDARD_DS}
        per_edge_rt = attrs.pop("receptor_type", None)
        keys = []
        for e_i, tid in enumerate(etype.tolist() if per_edge_rt is not None else []):
            keys.append((model_of[tid], int(per_edge_rt[e_i])))
        groups: dict[tuple, np.ndarray] = {}
        if per_edge_rt is None:
            for tid in utypes:
                groups.setdefault(model_of[tid], []).append(tid)
            groups = {k: np.isin(etype, v) for k, v in groups.items()}
        else:
            uk = sorted(set(keys), key=repr)
            idx = {k: i for i, k in enumerate(uk)}
            code = np.array([idx[k] for k in keys], dtype=np.int64)
            groups = {(k[0][0], k[0][1], k[0][2], k[1]): code == i for i, k in enumerate(uk)}
        for j, (key, sel) in enumerate(groups.items()):
            allsel = bool(sel.all())
            name = ename if len(groups) == 1 else f"{ename}.{j}"
            synapse, plast, receptor = key[0], key[1], key[2]
            if len(key) == 4:
                receptor = key[3]

            def pick(a, _sel=sel, _all=allsel):
                return a if _all else a[_sel]

            out.append(Projection(
                name=name, source=ends["source_node_id"], target=ends["target_node_id"],
                source_ids=pick(src), target_ids=pick(tgt),
                weight=pick(np.asarray(weight, np.float64)),
                delay_ms=pick(np.asarray(delay, np.float64)), synapse=synapse,
                receptor=receptor,
                plasticity=None if plast is None else Plasticity(plast[0], dict(plast[1])),
                attributes={k: pick(v) for k, v in attrs.items()}))
    return out


def _edge_type_model(tmpl: str, data: dict, row: dict, fpath, types_path, tid) -> tuple:
    """(synapse model, (rule, params) or None, receptor_type or None) of one edge type:
    ``model_template`` names a registered synapse model or plasticity rule; a rule's parameters
    come from its dynamics_params JSON (NEST names; unknown keys are an error), a
    ``receptor_type`` from that JSON or an edge-types CSV column."""
    receptor = data.get("receptor_type", row.get("receptor_type"))
    if receptor is not None:
        try:
            receptor = int(float(receptor))
        except (TypeError, ValueError):
            raise _err(fpath, "receptor_type", f"not an integer: {receptor!r}") from None
    if tmpl in SYNAPSES:
        return (tmpl, None, receptor)
    if tmpl in PLASTICITY:
        rule = PLASTICITY.get(tmpl)
        unknown = set(data) - set(rule.param_names) - _SYN_SPEC_KEYS
        if unknown:
            raise _err(fpath, sorted(unknown)[0], f"not a parameter of {tmpl} (known: "
                                                  f"{sorted(rule.param_names)})")
        params = {}
        for k in rule.param_names:
            if k in data:
                try:
                    params[k] = float(data[k])
                except (TypeError, ValueError):
                    raise _err(fpath, k, f"not a number: {data[k]!r}") from None
        try:
            rule.resolve(params, f"{fpath}")
        except ValueError as e:
            raise SonataError(str(e)) from None
        return ("static_synapse", (tmpl, tuple(sorted(params.items()))), receptor)
    known = sorted(SYNAPSES.names() + PLASTICITY.names())
    raise _err(types_path, "model_template",
               f"edge type {tid}: unknown synapse model template {tmpl!r} (known: "
               f"{', '.join(known)})")


def _csv_float(row: dict, col: str, file: Path) -> float:
    v = row.get(col)
    if v is None:
        return math.nan
    try:
        return float(v)
    except ValueError:
        raise _err(file, col, f"not a number: {v!r}") from None


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


# -------------------------------------------------------------------------- simulation config
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


def _resolve_node_set(spec, sets: dict, net: Network, file, field: str,
                      _depth: int = 0) -> dict[str, np.ndarray]:
    """Node set → population → sorted unique node ids."""
    if _depth > 16:
        raise _err(file, field, "node sets nest too deeply")
    if isinstance(spec, str):
        if spec in sets:
            return _resolve_node_set(sets[spec], sets, net, file, field, _depth + 1)
        if spec in [p.name for p in net.populations]:
            return {spec: np.arange(net.population(spec).n, dtype=np.int64)}
        raise _err(file, field, f"unknown node set {spec!r}")
    if isinstance(spec, list):
        out: dict[str, np.ndarray] = {}
        for s in spec:
            for k, v in _resolve_node_set(s, sets, net, file, field, _depth + 1).items():
                out[k] = np.union1d(out.get(k, np.zeros(0, np.int64)), v)
        return out
    if not isinstance(spec, dict):
        raise _err(file, field, f"node set must be a name, list or object, not {spec!r}")
    pops = spec.get("population")
    if pops is None:
        cand = [p for p in net.populations]
    else:
        pops = [pops] if isinstance(pops, str) else pops
        names = [p.name for p in net.populations]
        for p in pops:
            if p not in names:
                raise _err(file, field, f"node set names unknown population {p!r}")
        cand = [net.population(p) for p in pops]
    out = {}
    for pop in cand:
        mask = np.ones(pop.n, dtype=bool)
        for k, v in spec.items():
            if k == "population":
                continue
            vals = v if isinstance(v, list) else [v]
            if k == "node_id":
                ids = np.asarray(vals, dtype=np.int64)
                if len(ids) and (ids.min() < 0 or ids.max() >= pop.n):
                    raise _err(file, field, f"node_id out of range for population {pop.name!r}"
                                            f" ({pop.n} nodes)")
                m = np.zeros(pop.n, dtype=bool)
                m[ids] = True
                mask &= m
            elif k == "model_type":
                ok = ("virtual" in vals) == pop.is_virtual or (
                    "point_neuron" in vals and not pop.is_virtual)
                mask &= ok
            elif k == "model_template":
                mask &= (f"nest:{pop.model}" in vals) or (pop.model in vals)
            elif k in pop.attributes:
                mask &= np.isin(np.asarray(pop.attributes[k]), vals)
            else:
                mask[:] = False
        ids = np.flatnonzero(mask).astype(np.int64)
        if len(ids):
            out[pop.name] = ids
    return out


def load_simulation(simulation_config: Path) -> tuple[Network, RunConfig]:
    """Read a SONATA simulation config (with its circuit) → (:class:`Network` with inputs,
    :class:`RunConfig`). See the module docstring for the inputs understood and their units."""
    path = Path(simulation_config)
    conf = _resolve_config(path)
    net = _build_network(conf)
    run = conf.get("run")
    if not isinstance(run, dict):
        raise _err(path, "run", "missing or not an object")
    try:
        tstop = float(run["tstop"])
    except KeyError:
        raise _err(path, "run.tstop", "missing") from None
    except (TypeError, ValueError):
        raise _err(path, "run.tstop", f"not a number: {run['tstop']!r}") from None
    try:
        dt = float(run.get("dt", 0.1))
    except (TypeError, ValueError):
        raise _err(path, "run.dt", f"not a number: {run.get('dt')!r}") from None
    if not dt > 0:
        raise _err(path, "run.dt", f"must be > 0 ms, got {dt}")
    if not tstop > 0:
        raise _err(path, "run.tstop", f"must be > 0 ms, got {tstop}")
    seed = int(run.get("random_seed", run.get("seed", 1)))
    placement = run.get("placement", "round_robin")
    if placement not in PLACEMENTS:
        raise _err(path, "run.placement", f"expected one of {list(PLACEMENTS)}, got {placement!r}")
    # delays vs dt
    for pr in net.projections:
        if len(pr) and pr.delay_ms.min() < dt * (1 - 1e-9):
            raise SonataError(f"edges of {pr.name!r} ({_edges_file_of(conf, pr.name)}): field "
                              f"'delay': {float(pr.delay_ms.min())} ms is below dt = {dt} ms")
    sets = _node_sets(conf)
    sim = conf.get("target_simulator", "NEST")
    inputs = conf.get("inputs", {}) or {}
    if not isinstance(inputs, dict):
        raise _err(path, "inputs", "expected an object")
    for name, inp in inputs.items():
        field = f"inputs.{name}"
        if not isinstance(inp, dict):
            raise _err(path, field, "expected an object")
        module = str(inp.get("module", "")).lower()
        itype = str(inp.get("input_type", "")).lower()
        if "node_set" not in inp:
            raise _err(path, f"{field}.node_set", "missing")
        nodes = _resolve_node_set(inp["node_set"], sets, net, path, f"{field}.node_set")
        if module in ("sonata", "h5", "csv") or itype == "spikes":
            _add_spike_input(net, name, inp, nodes, dt, path, field, module)
        elif module == "iclamp" or itype == "current_clamp":
            _add_iclamp(net, name, inp, nodes, tstop, sim, path, field)
        elif module == "poisson" or itype == "poisson":
            _add_poisson(net, name, inp, nodes, dt, path, field)
        else:
            raise _err(path, f"{field}.module", f"unsupported input module {module!r}")
    rec_spikes = run.get("record_spikes")
    recorders = []
    for rname, rep in _reports(conf, path).items():
        variables = rep["variable_name"]
        nodes = _resolve_node_set(rep.get("cells", rep.get("node_set")), sets, net, path,
                                  f"reports.{rname}.cells")
        try:
            start = float(rep.get("start_time", 0.0))
            stop = float(rep.get("end_time", math.inf))
            step = float(rep.get("dt", dt))
        except (TypeError, ValueError):
            raise _err(path, f"reports.{rname}", "start_time, end_time, dt must be numbers"
                       ) from None
        for pop, ids in nodes.items():
            if net.population(pop).is_virtual:
                continue
            recorders.append(StateRecorder(population=pop, variables=list(variables),
                                           node_ids=ids, interval_ms=step, start_ms=start,
                                           stop_ms=stop, name=rname))
    rc = RunConfig(tstop_ms=tstop, dt_ms=dt, seed=seed,
                   record_spikes=list(rec_spikes) if rec_spikes is not None else None,
                   state_recorders=recorders, placement=placement)
    return net, rc


_REPORT_MODULES = ("membrane_report", "multimeter_report", "multimeter")


def _reports(conf: dict, path: Path) -> dict[str, dict]:
    """The enabled membrane reports of a simulation config (bmtk PointNet: ``membrane_report``
    and ``multimeter_report`` are the same), ``variable_name`` as a list."""
    out = {}
    reports = conf.get("reports", {}) or {}
    if not isinstance(reports, dict):
        raise _err(path, "reports", "expected an object")
    for rname, rep in reports.items():
        if not isinstance(rep, dict):
            raise _err(path, f"reports.{rname}", "expected an object")
        if rep.get("enabled", True) is False:
            continue
        module = str(rep.get("module", "membrane_report"))
        if module not in _REPORT_MODULES:
            raise _err(path, f"reports.{rname}.module",
                       f"{module!r} is not supported (known: {', '.join(_REPORT_MODULES)})")
        var = rep.get("variable_name")
        if var is None:
            raise _err(path, f"reports.{rname}.variable_name", "missing")
        out[rname] = {**rep, "variable_name": var if isinstance(var, list) else [var]}
    return out


_SORT_ORDERS = {"time": "by_time", "by_time": "by_time", "id": "by_id", "by_id": "by_id",
                "node_id": "by_id", "gid": "by_id", "none": "none"}


@dataclass
class OutputSpec:
    """Where a simulation config wants its outputs (the ``output`` and ``reports`` sections).

    ``output_dir`` (default: ``output`` beside the config), ``spikes_file`` (default
    ``spikes.h5``) and ``log_file`` (optional) relative to it, ``spikes_sort_order``
    (``by_time``, ``by_id`` or ``none``; SONATA's ``time``/``id`` accepted), ``overwrite``
    (``overwrite_output_dir``; default false). ``reports``: report name → one file per
    variable: ``file_name`` (default ``<name>.h5``) for a single variable, ``<stem>_<var>.h5``
    for each of several."""

    output_dir: Path
    spikes_file: Path
    spikes_sort_order: str = "by_time"
    log_file: Path | None = None
    overwrite: bool = False
    reports: dict[str, dict[str, Path]] = field(default_factory=dict)


def output_spec(simulation_config: Path) -> OutputSpec:
    """The :class:`OutputSpec` of a SONATA simulation config (nothing is created)."""
    path = Path(simulation_config)
    conf = _resolve_config(path)
    out = conf.get("output", conf.get("outputs", {})) or {}
    if not isinstance(out, dict):
        raise _err(path, "output", "expected an object")
    base = Path(out.get("output_dir") or path.resolve().parent / "output")

    def under(v, default):
        v = Path(v or default)
        return v if v.is_absolute() else base / v

    order = str(out.get("spikes_sort_order", "time"))
    if order not in _SORT_ORDERS:
        raise _err(path, "output.spikes_sort_order",
                   f"{order!r}: expected one of {sorted(_SORT_ORDERS)}")
    overwrite = out.get("overwrite_output_dir", conf.get("run", {}).get(
        "overwrite_output_dir", False))
    if not isinstance(overwrite, bool):
        raise _err(path, "output.overwrite_output_dir", "expected true or false")
    reports = {}
    for rname, rep in _reports(conf, path).items():
        fname = Path(rep.get("file_name") or f"{rname}.h5")
        variables = rep["variable_name"]
        if len(variables) == 1:
            reports[rname] = {variables[0]: under(fname, fname)}
        else:
            reports[rname] = {v: under(fname.with_name(f"{fname.stem}_{v}{fname.suffix or '.h5'}"),
                                       None) for v in variables}
    return OutputSpec(output_dir=base, spikes_file=under(out.get("spikes_file"), "spikes.h5"),
                      spikes_sort_order=_SORT_ORDERS[order],
                      log_file=under(out["log_file"], None) if out.get("log_file") else None,
                      overwrite=overwrite, reports=reports)


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


def _edges_file_of(conf: dict, name: str) -> str:
    return str(conf.get("_edge_files", {}).get(name, conf["_config_path"]))


def _add_spike_input(net, name, inp, nodes, dt, path, field, module):
    f = inp.get("input_file")
    if not f:
        raise _err(path, f"{field}.input_file", "missing")
    spikes = _read_spikes_csv(Path(f)) if module == "csv" else read_spikes(Path(f))
    for pop, ids in nodes.items():
        p = net.population(pop)
        if not p.is_virtual:
            raise _err(path, f"{field}.node_set",
                       f"spike input into population {pop!r}, which is not virtual")
        if pop in spikes:
            t, nid = spikes[pop]
        elif len(spikes) == 1 and len(nodes) == 1:
            t, nid = next(iter(spikes.values()))
        else:
            continue
        keep = np.isin(nid, ids)
        t, nid = t[keep], nid[keep]
        if len(t) and (t <= 0).any():
            raise _err(f, "timestamps", f"spike time {float(t.min())} ms is not > 0")
        if len(t) and off_grid(t, dt).any():
            bad = float(t[off_grid(t, dt)][0])
            warnings.warn(f"{f}: spike times off the dt = {dt} ms grid (e.g. {bad} ms) act at the "
                          "end of their step, as NEST's spike_generator (bmtk: precise_times) "
                          "delivers them to grid-based neurons", stacklevel=3)
            t = np.round(spike_steps(t, dt) * dt, 9)
        o = np.lexsort((nid, t))
        net.spike_trains.append(SpikeTrainInput(name=name if len(nodes) == 1 else f"{name}.{pop}",
                                                population=pop, node_ids=nid[o],
                                                times_ms=t[o]))


def _listify(v, n: int, file, field: str) -> list[float]:
    vals = v if isinstance(v, list) else [v] * n
    if len(vals) != n:
        raise _err(file, field, f"expected {n} values, got {len(vals)}")
    try:
        return [float(x) for x in vals]
    except (TypeError, ValueError):
        raise _err(file, field, f"not numbers: {v!r}") from None


def _add_iclamp(net, name, inp, nodes, tstop, sim, path, field):
    for k in ("amp", "delay", "duration"):
        if k not in inp:
            raise _err(path, f"{field}.{k}", "missing")
    n = len(inp["amp"]) if isinstance(inp["amp"], list) else 1
    amps = _listify(inp["amp"], n, path, f"{field}.amp")
    delays = _listify(inp["delay"], n, path, f"{field}.delay")
    durs = _listify(inp["duration"], n, path, f"{field}.duration")
    unit = inp.get("amp_unit")
    if unit is None:
        unit = "nA" if str(sim).upper() == "NEURON" else "pA"
    if unit not in ("pA", "nA"):
        raise _err(path, f"{field}.amp_unit", f"must be 'pA' or 'nA', not {unit!r}")
    scale = 1000.0 if unit == "nA" else 1.0
    for j, (a, d, du) in enumerate(zip(amps, delays, durs)):
        if d < 0 or du < 0:
            raise _err(path, f"{field}.delay", "delay and duration must be ≥ 0 ms")
        stop = d + du
        stop = math.inf if stop >= tstop else stop
        for pop, ids in nodes.items():
            suffix = ("" if n == 1 else f".{j}") + ("" if len(nodes) == 1 else f".{pop}")
            net.currents.append(CurrentInput(name=f"{name}{suffix}", target=pop, node_ids=ids,
                                             amplitude_pA=a * scale, start_ms=d, stop_ms=stop))


def _add_poisson(net, name, inp, nodes, dt, path, field):
    for k in ("rate_hz", "weight"):
        if k not in inp:
            raise _err(path, f"{field}.{k}", "missing")
    try:
        weight = float(inp["weight"])
        delay = float(inp.get("delay_ms", 0.1))
        start = float(inp.get("start_ms", 0.0))
        stop = inp.get("stop_ms")
        stop = math.inf if stop is None else float(stop)
    except (TypeError, ValueError):
        raise _err(path, field, "weight, delay_ms, start_ms, stop_ms must be numbers") from None
    if delay < dt * (1 - 1e-9):
        raise _err(path, f"{field}.delay_ms", f"{delay} ms is below dt = {dt} ms")
    total = sum(len(v) for v in nodes.values())
    rate = inp["rate_hz"]
    if isinstance(rate, list):
        rates = np.asarray(_listify(rate, total, path, f"{field}.rate_hz"))
    else:
        try:
            rates = float(rate)
        except (TypeError, ValueError):
            raise _err(path, f"{field}.rate_hz", f"not a number: {rate!r}") from None
    off = 0
    for pop, ids in nodes.items():
        r = rates if isinstance(rates, float) else rates[off:off + len(ids)]
        off += len(ids)
        net.poisson.append(PoissonInput(name=name if len(nodes) == 1 else f"{name}.{pop}",
                                        target=pop, node_ids=ids, rate_hz=r, weight=weight,
                                        delay_ms=delay, start_ms=start, stop_ms=stop))


def _node_set_spec(pop: Population, ids: np.ndarray) -> dict:
    ids = np.asarray(ids, dtype=np.int64)
    if len(ids) == pop.n and np.array_equal(ids, np.arange(pop.n)):
        return {"population": pop.name}
    return {"population": pop.name, "node_id": ids.tolist()}


def write_simulation_config(out_dir: Path, circuit_config: Path, network: Network,
                            run: RunConfig) -> Path:
    """Write ``simulation_config.json`` (+ ``node_sets.json`` and ``inputs/<name>.h5`` spike
    files) in ``out_dir`` describing ``run`` and the inputs of ``network`` over the circuit at
    ``circuit_config`` (included as ``"network"``, relative to ``out_dir`` when possible).
    Currents are written as bmtk ``IClamp`` inputs with ``amp`` in pA (``amp_unit: "pA"``);
    Poisson inputs use wbe's ``module: "poisson"``. Returns the config path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    circuit_config = Path(circuit_config)
    try:
        net_ref = os.path.relpath(circuit_config.resolve(), out_dir.resolve())
    except ValueError:
        net_ref = str(circuit_config.resolve())
    node_sets: dict[str, dict] = {}
    inputs: dict[str, dict] = {}
    pops = {p.name: p for p in network.populations}

    def add_set(key: str, pop: str, ids) -> str:
        node_sets[key] = _node_set_spec(pops[pop], ids)
        return key

    names_seen: set[str] = set()
    for inp in [*network.spike_trains, *network.currents, *network.poisson]:
        if inp.name in names_seen:
            raise ValueError(f"input names must be unique; {inp.name!r} repeats")
        names_seen.add(inp.name)
    if network.spike_trains:
        (out_dir / "inputs").mkdir(exist_ok=True)
    for st in network.spike_trains:
        fname = f"inputs/{st.name}.h5"
        write_spikes(out_dir / fname, {st.population: (st.times_ms, st.node_ids)})
        inputs[st.name] = {"input_type": "spikes", "module": "sonata",
                           "input_file": "$BASE_DIR/" + fname,
                           "node_set": add_set(f"{st.name}_nodes", st.population,
                                               np.arange(pops[st.population].n))}
    for c in network.currents:
        amp = c.amplitude_pA
        if np.ndim(amp) != 0:
            raise ValueError(f"current {c.name!r}: per-node amplitudes cannot be written as an "
                             f"IClamp; split it into inputs of equal amplitude")
        stop = c.stop_ms if math.isfinite(c.stop_ms) else run.tstop_ms
        inputs[c.name] = {"input_type": "current_clamp", "module": "IClamp",
                          "node_set": add_set(f"{c.name}_nodes", c.target, c.node_ids),
                          "amp": float(amp), "amp_unit": "pA", "delay": float(c.start_ms),
                          "duration": float(stop - c.start_ms)}
    for p in network.poisson:
        d = {"input_type": "poisson", "module": "poisson",
             "node_set": add_set(f"{p.name}_nodes", p.target, p.node_ids),
             "rate_hz": (float(p.rate_hz) if np.ndim(p.rate_hz) == 0
                         else np.asarray(p.rate_hz, dtype=np.float64).tolist()),
             "weight": float(p.weight), "delay_ms": float(p.delay_ms),
             "start_ms": float(p.start_ms)}
        if math.isfinite(p.stop_ms):
            d["stop_ms"] = float(p.stop_ms)
        inputs[p.name] = d
    reports: dict[str, dict] = {}
    for i, r in enumerate(run.state_recorders):
        rname = r.name or f"state_{i}"
        part = add_set(f"{rname}_{r.population}_nodes", r.population, r.node_ids)
        if rname in reports:  # the same report over another population: a compound node set
            cells = reports[rname]["cells"]
            node_sets[cells] = [*node_sets[cells], part]
            continue
        cells = f"{rname}_nodes"
        node_sets[cells] = [part]
        rep = {"module": "multimeter_report", "cells": cells, "variable_name": list(r.variables),
               "dt": float(r.interval_ms), "file_name": f"{rname}.h5"}
        if r.start_ms > 0:
            rep["start_time"] = float(r.start_ms)
        if math.isfinite(r.stop_ms):
            rep["end_time"] = float(r.stop_ms)
        reports[rname] = rep
    run_d = {"tstop": float(run.tstop_ms), "dt": float(run.dt_ms), "random_seed": int(run.seed)}
    if run.placement != "round_robin":  # wbe's own key (neurons on MPI ranks)
        run_d["placement"] = run.placement
    if run.record_spikes is not None:
        run_d["record_spikes"] = list(run.record_spikes)
    _write_json(out_dir / "node_sets.json", node_sets)
    conf = {
        "manifest": {"$BASE_DIR": ".", "$OUTPUT_DIR": "$BASE_DIR/output"},
        "target_simulator": "NEST",
        "network": net_ref,
        "run": run_d,
        "conditions": {},
        "node_sets_file": "$BASE_DIR/node_sets.json",
        "inputs": inputs,
        "output": {"output_dir": "$OUTPUT_DIR", "spikes_file": "spikes.h5",
                    "spikes_sort_order": "time"},
        "reports": reports,
    }
    path = out_dir / "simulation_config.json"
    _write_json(path, conf)
    return path
