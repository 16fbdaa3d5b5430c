"""Writing a :class:`~wbe.engine.network.Network` as a SONATA circuit (bmtk PointNet
conventions)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from wbe.engine.cells.base import cell_model_of
from wbe.engine.network import (
    Network,
    Projection,
)
from wbe.engine.registry import CELLS, PLASTICITY, SYNAPSES

from ._common import (
    _MAX_NODE_TYPES,
    _ranges_index,
    _write_attribute_dataset,
    _write_json,
    _write_types_csv,
    template_of_cell_model,
)


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
            elif pop.is_volume_transmitter:  # NEST's volume_transmitter: no neuron parameters
                fname = f"{pop.name}.json"
                _write_json(neuron_dir / fname, {k: int(v) for k, v in pop.params.items()})
                type_rows.append([next_type, "point_neuron", "nest:volume_transmitter", fname,
                                  pop.name])
                next_type += 1
                node_pop_types[pop.name] = "point_neuron"
            else:
                template = template_of_cell_model(pop.model)
                cell = CELLS.get(pop.model)
                node_pop_types[pop.name] = "point_neuron"
                one, per = cell.split_params(pop.params)
                scalars = dict(one)  # numbers, and vector parameters as lists (JSON arrays)
                arrays = {}
                for k, v in per.items():
                    a = np.asarray(v, dtype=np.float64)
                    if a.shape != (n,):
                        raise ValueError(f"population {pop.name!r}: parameter {k!r} has shape "
                                         f"{a.shape}, expected ({n},)")
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
                        _write_json(neuron_dir / fname, _node_params(cell, params, pop))
                        type_rows.append([next_type + j, "point_neuron", template, fname,
                                          pop.name])
                    type_ids = (next_type + inverse).astype(np.int64)
                    next_type += len(uniq_rows)
                else:
                    fname = f"{pop.name}.json"
                    _write_json(neuron_dir / fname, _node_params(cell, scalars, pop))
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
                params = rule.nest_values(dict(zip(
                    rule.param_names,
                    rule.resolve(pr.plasticity.params, f"projection {pr.name!r}").tolist())))
                params.update({r: pr.plasticity.params[r] for r in rule.node_refs})
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



def _node_params(cell, params: dict, pop) -> dict:
    """A node type's ``dynamics_params`` JSON: the parameters as NEST takes them and, for a
    population with receptor plug-ins, ``receptors`` (port → kind and parameters; wbe's
    extension, which NEST does not read); for a population with a ``template`` (a cable cell's
    morphology and mechanisms), ``template``."""
    out = cell.nest_values(params, keep_extensions=True)
    if getattr(pop, "template", None):  # a cable population's morphology and mechanisms
        out["template"] = json.loads(json.dumps(pop.template,
                                                default=lambda o: np.asarray(o).tolist()))
    if pop.receptors:
        out["receptors"] = {port: {k: (v if k == "kind" else float(v)) for k, v in spec.items()}
                            for port, spec in pop.receptors.items()}
    return out

def _receptor_type(network: Network, pr: Projection) -> int:
    """NEST's receptor_type number of the port projection ``pr`` names."""
    model = cell_model_of(network.population(pr.target))
    return int(model.port(pr.receptor, f"projection {pr.name!r}").receptor_type)
