"""Reading a SONATA circuit (nodes, edges, their type CSVs and component JSONs) into a
:class:`~wbe.engine.network.Network`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import h5py
import numpy as np

from wbe.engine.network import (
    VIRTUAL,
    VOLUME_TRANSMITTER,
    EdgeOrigin,
    Network,
    Plasticity,
    Population,
    Projection,
)
from wbe.engine.receptors.base import with_receptors
from wbe.engine.registry import CELLS, PLASTICITY, SYNAPSES

from . import bionet
from ._common import (
    _SYN_SPEC_KEYS,
    SonataError,
    _as_number,
    _attr_str,
    _dataset,
    _decode,
    _dynamics_file,
    _err,
    _load_params_json,
    _population_groups,
    _read_types_csv,
    _resolve_config,
    cell_model_of_template,
)


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
                                    neuron_dir, cache, pop_props, conf):
            if pop.name in sizes:
                raise _err(nodes_file, f"/nodes/{pop.name}", "population defined twice")
            sizes[pop.name] = pop.n
            models[pop.name] = pop.model
            populations.append(pop)
    projections: list[Projection] = []
    bio = conf.get("_bionet", [])
    bio_edges, bio_kinds = [], {name: {} for name in bio}
    for i, entry in enumerate(networks.get("edges", []) or []):
        for key in ("edges_file", "edge_types_file"):
            if not isinstance(entry, dict) or key not in entry:
                raise _err(cfg, f"networks.edges[{i}].{key}", "missing")
        types = _read_types_csv(Path(entry["edge_types_file"]), "edge_type_id")
        for pr in _read_edges_file(Path(entry["edges_file"]),
                                   Path(entry["edge_types_file"]), types, syn_dir,
                                   cache, sizes, entry.get("populations", {}) or {},
                                   bio_kinds):
            if isinstance(pr, bionet.BioEdges):
                bio_edges.append(pr)
                continue
            conf.setdefault("_edge_files", {})[pr.name] = entry["edges_file"]
            projections.append(pr)
    if bio:  # biophysical cells: their synapse ports, every synapse's place
        for pr in bionet.finish(populations, bio_edges, bio_kinds, conf):
            conf.setdefault("_edge_files", {})[pr.name] = next(
                b.file for b in bio_edges if pr.name.split(".")[0] == b.name)
            projections.append(pr)
        for p in populations:
            if p.name in bio:
                try:  # every kind and port checked now, naming the population
                    CELLS.get("cable").with_template(p.template, f"population {p.name!r}")
                except ValueError as e:
                    raise SonataError(f"{cfg}: {e}") from None
    return Network(populations=populations, projections=projections)


_NODE_CSV_STANDARD = {"node_type_id", "model_type", "model_template", "dynamics_params",
                      "population", "model_processing", "morphology"}


def _read_nodes_file(path: Path, types_path: Path, types: dict, neuron_dir: Path | None,
                     cache: dict, pop_props: dict, conf: dict) -> list[Population]:
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
            if tmpl == f"nest:{VOLUME_TRANSMITTER}":
                tmodel[tid] = VOLUME_TRANSMITTER
                continue
            if bionet.is_biophysical(row):  # bmtk BioNet's cells: cable cells
                tmodel[tid] = "cable"
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
        template: dict = {}
        defaults = CELLS.get(model).defaults if model not in (VIRTUAL, VOLUME_TRANSMITTER) \
            else {}
        vec_params: dict[str, list[float]] = {}
        receptors: dict[str, dict] = {}
        biophysical = any(bionet.is_biophysical(types[t]) for t in tmodel)
        if model == VOLUME_TRANSMITTER:
            params = _transmitter_params(types, tmodel, type_ids, neuron_dir, cache, types_path)
        elif biophysical:  # one cell kind per node type; synapse ports come with the edges
            tids = sorted(tmodel)
            template = {"cells": [bionet.cell_template(types[t], t, conf, types_path)
                                  for t in tids]}
            params = bionet.population_params(type_ids, {t: i for i, t in enumerate(tids)},
                                              conf)
            conf.setdefault("_bionet", []).append(pname)
        elif model != VIRTUAL:
            vector_names = {q.name for q in CELLS.get(model).params if q.vector}
            vectors: dict[str, dict[int, tuple]] = {}  # name -> node type -> values
            receptor_sets: dict[int, str] = {}  # node type -> its receptors (JSON text)
            template_sets: dict[int, str] = {}  # node type -> its template (JSON text)
            tparams: dict[int, dict] = {}
            for tid in tmodel:
                fname = types[tid].get("dynamics_params")
                if fname is None:
                    tparams[tid] = {}
                    continue
                fpath = _dynamics_file(fname, neuron_dir, "point_neuron_models_dir", types_path)
                data = _load_params_json(fpath, "dynamics_params", cache)
                clean = {}
                switches = {q.name for q in CELLS.get(model).params if q.flag}
                for k, v in data.items():
                    if k == "template":  # a cable population's morphology and mechanisms
                        if not isinstance(v, dict):
                            raise _err(fpath, k, f"must be an object, got {v!r}")
                        template_sets[tid] = json.dumps(v, sort_keys=True)
                        continue
                    if k == "receptors":  # wbe's receptor plug-ins: one set per population
                        if not isinstance(v, dict) or not all(
                                isinstance(x, dict) for x in v.values()):
                            raise _err(fpath, k, "must map port names to objects with 'kind' "
                                                 f"and parameters, got {v!r}")
                        receptor_sets[tid] = json.dumps(v)  # in file order: receptor_type
                        continue
                    if k in vector_names:  # NEST's array parameters: one list per population
                        if not isinstance(v, list) or not v or not all(
                                isinstance(x, int | float) and not isinstance(x, bool)
                                for x in v):
                            raise _err(fpath, k, f"must be a non-empty list of numbers (one "
                                                 f"per receptor port), got {v!r}")
                        vectors.setdefault(k, {})[tid] = tuple(float(x) for x in v)
                        continue
                    if isinstance(v, bool) and k in switches:  # NEST's boolean parameters
                        v = int(v)
                    if isinstance(v, bool) or not isinstance(v, int | float):
                        what = "a boolean for a parameter that is not a switch" if isinstance(
                            v, bool) else "a non-scalar parameter"
                        raise _err(fpath, k, f"{what} ({v!r}) is not supported")
                    clean[k] = float(v)
                tparams[tid] = clean
            for k, by_type in vectors.items():
                seen = {by_type.get(t) for t in tmodel}  # None: the type keeps the default
                if len(seen) != 1:
                    raise _err(types_path, "dynamics_params",
                               f"node types of population {pname!r} give different {k!r} "
                               f"({sorted(str(list(v)) if v else 'default' for v in seen)}); "
                               f"wbe takes one list (one set of receptor ports) per population")
                vec_params[k] = list(seen.pop())
            seen_rec = {receptor_sets.get(t) for t in tmodel}
            if len(seen_rec) != 1:
                raise _err(types_path, "dynamics_params",
                           f"node types of population {pname!r} give different 'receptors'; "
                           f"wbe takes one set of receptor ports per population")
            seen_tpl = {template_sets.get(t) for t in tmodel}
            if len(seen_tpl) != 1:
                raise _err(types_path, "dynamics_params",
                           f"node types of population {pname!r} give different 'template's; "
                           "wbe takes one template (one cell structure) per population")
            tpl_text = seen_tpl.pop()
            if tpl_text is not None:
                template = json.loads(tpl_text)
                try:  # the morphology and mechanisms checked now, naming the file
                    CELLS.get(model).with_template(template, f"population {pname!r}")
                except ValueError as e:
                    raise _err(types_path, "dynamics_params: template", str(e)) from None
            rec_text = seen_rec.pop()
            if rec_text is not None:
                receptors = json.loads(rec_text)
                try:  # every port, kind and parameter checked now, naming the file
                    with_receptors(CELLS.get(model).specialize(vec_params), receptors,
                                   f"population {pname!r}")
                except ValueError as e:
                    raise _err(types_path, "dynamics_params: receptors", str(e)) from None
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
            if biophysical:
                break
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
                              params={**{k: _collapse(v) for k, v in params.items()},
                                      **vec_params},
                              attributes=attributes, receptors=receptors,
                              template=template))
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
                     cache: dict, sizes: dict[str, int], pop_props: dict,
                     bio_kinds: dict) -> list:
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
        present: dict[str, np.ndarray] = {}  # which edges' groups have each dataset
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
                present.setdefault(k, np.zeros(m, bool))[sel] = True
        # per-edge-type values
        utypes = np.unique(etype).tolist()
        tid_arr = np.array(utypes, dtype=np.int64)
        pos = np.searchsorted(tid_arr, etype)
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
        if ends["target_node_id"] in bio_kinds:  # onto biophysical cells: placed later
            b, kinds = bionet.read_edges(ename, ends, src, tgt, etype, weight, delay, cols,
                                         present, types, syn_dir, path, types_path, cache)
            known = bio_kinds[ends["target_node_id"]]
            for port, spec in kinds.items():
                if known.setdefault(port, spec) != spec:
                    raise _err(types_path, "dynamics_params",
                               f"synapse port {port!r} differs between edge files")
            out.append(b)
            continue
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
                fpath = _dynamics_file(fname, syn_dir, "synaptic_models_dir", types_path)
                data = _load_params_json(fpath, "dynamics_params", cache)
            else:
                fpath = types_path
            wf = row.get("weight_function")
            if wf is not None and wf.strip():
                raise _err(types_path, "weight_function",
                           f"edge type {tid}: user weight function {wf!r} not supported")
            model_of[tid] = _edge_type_model(tmpl, data, row, fpath, types_path, tid)
        nsyns = None
        if "nsyns" in cols:
            nsyns = cols["nsyns"].astype(np.float64)
        elif all("nsyns" in types[t] and types[t]["nsyns"] for t in utypes):
            nsyns = np.array([_csv_float(types[t], "nsyns", types_path) for t in utypes])[pos]
        if nsyns is not None:
            weight = weight * nsyns
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
                attributes={k: pick(v) for k, v in attrs.items()},
                origin=EdgeOrigin(str(path), str(types_path), ename,
                                  None if allsel else np.flatnonzero(sel),
                                  None if nsyns is None else pick(nsyns))))
    return out


def _transmitter_params(types, tmodel, type_ids, neuron_dir, cache, types_path) -> dict:
    """The parameters (``deliver_interval``) of a volume-transmitter population, per node."""
    from wbe.engine.modulators import PARAMS

    known = {q.name: q for q in PARAMS}
    per_type = {}
    for tid in tmodel:
        fname = types[tid].get("dynamics_params")
        data = {}
        if fname:
            fpath = _dynamics_file(fname, neuron_dir, "point_neuron_models_dir", types_path)
            data = _load_params_json(fpath, "dynamics_params", cache)
            for k, v in data.items():
                if k not in known or isinstance(v, bool) or not isinstance(v, int | float):
                    raise _err(fpath, k, f"not a parameter of volume_transmitter (known: "
                                         f"{sorted(known)}) or not a number: {v!r}")
        per_type[tid] = {k: float(data.get(k, q.default)) for k, q in known.items()}
    return {k: np.asarray([per_type[t][k] for t in type_ids.tolist()], np.float64)
            for k in known}


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
        unknown = set(data) - set(rule.param_names) - set(rule.node_refs) - _SYN_SPEC_KEYS
        if unknown:
            raise _err(fpath, sorted(unknown)[0], f"not a parameter of {tmpl} (known: "
                                                  f"{sorted(rule.param_names)})")
        params = {}
        for k in rule.node_refs:  # a node (a population's name), e.g. the volume transmitter
            if not isinstance(data.get(k), str):
                raise _err(fpath, k, f"{tmpl} needs the name of a population here, got "
                                     f"{data.get(k)!r}")
            params[k] = data[k]
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
