"""The :class:`Connectome` object: a node table, named sparse weighted adjacencies and a
NetworkX view, with its constructors (stage folders, networks, arrays, edge lists, NetworkX,
cect, tvb-data)."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from wbe.connectome import nulls as null_models
from wbe.io.jsonutil import jsonable

if TYPE_CHECKING:
    import networkx as nx

    from wbe.engine.network import Network


#: format tag written into GraphML graph attributes and Zarr group attributes
FORMAT = "wbe.connectome/1"
_NAME_OK = re.compile(r"^[A-Za-z0-9_.\-]+$")  # layer / column names usable as Zarr node names


class GraphFormatError(ValueError):
    """A GraphML or Zarr connectome file is malformed or unsafe; the message names the file."""


# ============================================================================== the object
@dataclass(eq=False)
class Connectome:
    """A connectome: node table + named sparse weighted adjacencies (rows presynaptic).

    See the module doc. ``nodes`` must have ``node_id`` = 0..n-1 and ``name``; every layer is
    an (n, n) CSR matrix; every layer has a unit in ``weight_units``. Matrices are stored in
    canonical form (float64, sorted indices, duplicates summed, explicit zeros removed; the
    caller's matrices are copied). Text columns hold str (``""`` = unknown)."""

    nodes: pd.DataFrame
    layers: dict[str, sp.csr_matrix]
    weight_units: dict[str, str]
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        nodes = self.nodes.reset_index(drop=True).copy()
        n = len(nodes)
        if "node_id" not in nodes:
            nodes.insert(0, "node_id", np.arange(n, dtype=np.int64))
        if not np.array_equal(nodes["node_id"].to_numpy(), np.arange(n)):
            raise ValueError("nodes['node_id'] must be 0..n-1 in row order")
        nodes["node_id"] = nodes["node_id"].astype(np.int64)
        if "name" not in nodes:
            nodes.insert(1, "name", [str(i) for i in range(n)])
        for col in nodes.columns:
            if not isinstance(col, str) or not _NAME_OK.match(col) or col.startswith("__"):
                raise ValueError(f"node column {col!r}: names must match {_NAME_OK.pattern} "
                                 "and not start with '__'")
            if nodes[col].dtype == object or col == "name":  # text columns: str, '' = unknown
                nodes[col] = pd.Series([v if isinstance(v, str) else
                                        ("" if v is None or (isinstance(v, float) and
                                                             math.isnan(v)) else str(v))
                                        for v in nodes[col].tolist()], dtype=object)
        self.nodes = nodes
        if not self.layers:
            raise ValueError("a Connectome needs at least one layer")
        layers = {}
        for name, m in self.layers.items():
            if not _NAME_OK.match(name) or name == "weight" or name.startswith("__"):
                raise ValueError(f"layer name {name!r}: must match {_NAME_OK.pattern}, not start "
                                 "with '__' and not be 'weight' (the GraphML attribute of the "
                                 "summed weight)")
            if name not in self.weight_units:
                raise ValueError(f"layer {name!r} has no entry in weight_units")
            m = sp.csr_matrix(m, dtype=np.float64, copy=True)
            if m.shape != (n, n):
                raise ValueError(f"layer {name!r} has shape {m.shape}, expected ({n}, {n})")
            m.sum_duplicates()
            m.eliminate_zeros()
            m.sort_indices()
            m.indptr = m.indptr.astype(np.int64)
            m.indices = m.indices.astype(np.int64)
            layers[name] = m
        self.layers = layers
        self.weight_units = {k: str(self.weight_units[k]) for k in layers}
        self.provenance = jsonable(dict(self.provenance))

    # ------------------------------------------------------------------------- basics
    @property
    def n(self) -> int:
        return len(self.nodes)

    @property
    def names(self) -> list[str]:
        return self.nodes["name"].tolist()

    def __repr__(self) -> str:
        parts = ", ".join(f"{k}: {m.nnz} edges ({self.weight_units[k]})"
                          for k, m in self.layers.items())
        return f"Connectome({self.n} nodes; {parts})"

    def __eq__(self, other: object) -> bool:
        """Exact equality: node table (values and dtypes), layers (structure and weights),
        units and provenance."""
        if not isinstance(other, Connectome):
            return NotImplemented
        if list(self.layers) != list(other.layers) or self.weight_units != other.weight_units:
            return False
        if self.provenance != other.provenance:
            return False
        try:
            pd.testing.assert_frame_equal(self.nodes, other.nodes, check_exact=True)
        except AssertionError:
            return False
        return all(_csr_equal(self.layers[k], other.layers[k]) for k in self.layers)

    def _pick(self, layers: Iterable[str] | str | None) -> list[str]:
        if layers is None:
            return list(self.layers)
        if isinstance(layers, str):
            layers = [layers]
        layers = list(layers)
        for k in layers:
            if k not in self.layers:
                raise KeyError(f"no layer {k!r}; have {list(self.layers)}")
        return layers

    def adjacency(self, layers: Iterable[str] | str | None = None, *,
                  binary: bool = False) -> sp.csr_matrix:
        """Weighted adjacency (CSR, ``[pre, post]``) of the chosen layers (default all),
        summed. Summing layers whose units differ is refused unless ``binary`` (1 where any
        chosen layer has an edge)."""
        keys = self._pick(layers)
        units = {self.weight_units[k] for k in keys}
        if len(units) > 1 and not binary:
            raise ValueError(f"layers {keys} have different weight units {sorted(units)}; "
                             "pick one layer or ask for binary=True")
        m = self.layers[keys[0]].copy()
        for k in keys[1:]:
            m = m + self.layers[k]
        m = sp.csr_matrix(m)
        if binary:
            m.data = np.ones_like(m.data)
        m.sort_indices()
        return m

    # ------------------------------------------------------------------------- networkx
    def to_networkx(self, layers: Iterable[str] | str | None = None) -> nx.DiGraph:
        """A NetworkX DiGraph: node key = ``node_id`` with every node-table column as an
        attribute; an edge wherever a chosen layer (default all) has one, with one attribute
        per layer (its weight; absent where the layer has no such edge) and ``weight`` = the
        sum when the chosen layers share a unit. Graph attributes: ``format``, ``layers``,
        ``weight_units``, ``provenance``, ``node_columns`` ([name, dtype] in order)."""
        import networkx as nx

        keys = self._pick(layers)
        g = nx.DiGraph()
        g.graph.update({"format": FORMAT, "layers": keys,
                        "weight_units": {k: self.weight_units[k] for k in keys},
                        "provenance": self.provenance,
                        "node_columns": [[c, str(self.nodes[c].dtype)] for c in self.nodes]})
        cols = {c: self.nodes[c].tolist() for c in self.nodes.columns}
        g.add_nodes_from((i, {c: v[i] for c, v in cols.items()}) for i in range(self.n))
        same_unit = len({self.weight_units[k] for k in keys}) == 1
        for k in keys:
            coo = self.layers[k].tocoo()
            for a, b, w in zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist()):
                if g.has_edge(a, b):
                    g[a][b][k] = w
                else:
                    g.add_edge(a, b, **{k: w})
        if same_unit:
            for _, _, d in g.edges(data=True):
                d["weight"] = math.fsum(d[k] for k in keys if k in d)
        return g

    @classmethod
    def from_networkx(cls, g: nx.Graph, *, weight_unit: str = "unknown",
                      provenance: Mapping[str, Any] | None = None) -> Connectome:
        """From a NetworkX graph. A graph made by :meth:`to_networkx` (or read back from
        GraphML written by :func:`wbe.connectome.graph.exchange.write_graphml`) is restored
        exactly. Any other graph: nodes in iteration order become node ids 0..n-1 (``name`` =
        the node's ``name`` or ``label`` attribute, else its key), scalar node attributes
        become columns, and one layer ``weight`` holds the edge attribute ``weight`` (1 where
        absent) in ``weight_unit``; an undirected graph gives a symmetric matrix."""
        attrs = g.graph
        if attrs.get("format") == FORMAT:
            return cls._from_own_networkx(g)
        nodes = list(g.nodes)
        index = {v: i for i, v in enumerate(nodes)}
        cols: dict[str, list] = {}
        for i, v in enumerate(nodes):
            for k, val in g.nodes[v].items():
                if isinstance(val, (str, int, float, bool, np.generic)):
                    cols.setdefault(k, [None] * len(nodes))[i] = val
        name = [str(g.nodes[v].get("name", g.nodes[v].get("label", v))) for v in nodes]
        df = pd.DataFrame({"node_id": np.arange(len(nodes), dtype=np.int64), "name": name})
        for k, vals in cols.items():
            key = _column_name(k)
            if key in ("node_id", "name"):
                continue
            df[key] = pd.Series(vals).infer_objects()
        rows, cols_, ws = [], [], []
        for a, b, d in g.edges(data=True):
            w = float(d.get("weight", 1.0))
            rows.append(index[a])
            cols_.append(index[b])
            ws.append(w)
            if not g.is_directed() and a != b:
                rows.append(index[b])
                cols_.append(index[a])
                ws.append(w)
        n = len(nodes)
        m = sp.csr_matrix((np.asarray(ws, float), (np.asarray(rows, np.int64),
                                                   np.asarray(cols_, np.int64))), shape=(n, n))
        return cls(df, {"weights": m}, {"weights": weight_unit},
                   dict(provenance or {"source": "networkx"}))

    @classmethod
    def _from_own_networkx(cls, g: nx.Graph) -> Connectome:
        def loads(v):
            return json.loads(v) if isinstance(v, str) else v

        keys = list(loads(g.graph["layers"]))
        units = dict(loads(g.graph["weight_units"]))
        prov = dict(loads(g.graph.get("provenance", "{}")))
        col_types = {str(k): str(v) for k, v in loads(g.graph["node_columns"])}
        nodes = sorted(g.nodes, key=lambda v: int(g.nodes[v]["node_id"]))
        index = {v: i for i, v in enumerate(nodes)}
        data = {}
        for c, dtype in col_types.items():
            vals = [g.nodes[v].get(c) for v in nodes]
            data[c] = pd.Series(vals, dtype=object if dtype == "object" else dtype) \
                if vals else pd.Series([], dtype=object if dtype == "object" else dtype)
        df = pd.DataFrame(data)
        n = len(nodes)
        layers = {}
        for k in keys:
            rows, cols, ws = [], [], []
            for a, b, d in g.edges(data=True):
                if k in d:
                    rows.append(index[a])
                    cols.append(index[b])
                    ws.append(float(d[k]))
            layers[k] = sp.csr_matrix((np.asarray(ws, float), (np.asarray(rows, np.int64),
                                                               np.asarray(cols, np.int64))),
                                      shape=(n, n))
        return cls(df, layers, units, prov)

    # ------------------------------------------------------------------------- constructors
    @classmethod
    def from_arrays(cls, weights: np.ndarray | sp.spmatrix | sp.sparray | Mapping[str, Any], *,
                    names: Sequence[str] | None = None, nodes: pd.DataFrame | None = None,
                    weight_unit: str | Mapping[str, str] = "unknown",
                    provenance: Mapping[str, Any] | None = None) -> Connectome:
        """From one (n, n) weight matrix (dense or sparse, ``[pre, post]``) — layer
        ``weights`` — or a mapping layer name → matrix. ``nodes`` (a node table) or ``names``
        give the nodes; ``weight_unit`` one unit or one per layer."""
        mats = dict(weights) if isinstance(weights, Mapping) else {"weights": weights}
        n = next(iter(mats.values())).shape[0]
        if nodes is None:
            nodes = pd.DataFrame({"node_id": np.arange(n, dtype=np.int64),
                                  "name": list(names) if names is not None
                                  else [str(i) for i in range(n)]})
        units = dict(weight_unit) if isinstance(weight_unit, Mapping) else \
            {k: weight_unit for k in mats}
        return cls(nodes, {k: sp.csr_matrix(v) for k, v in mats.items()}, units,
                   dict(provenance or {"source": "arrays"}))

    @classmethod
    def from_edge_lists(cls, names: Sequence[str],
                        layers: Mapping[str, Iterable[tuple[str, str, float]]], *,
                        weight_unit: str | Mapping[str, str] = "unknown",
                        symmetric: Iterable[str] = (), nodes: pd.DataFrame | None = None,
                        provenance: Mapping[str, Any] | None = None) -> Connectome:
        """From (pre name, post name, weight) lists per layer (cect style). Pairs naming a node
        not in ``names`` are an error; repeated pairs are summed. Layers in ``symmetric`` are
        made symmetric (gap junctions): each unordered pair once, in both directions, with the
        larger of the listed weights (as :func:`wbe.connectome.importers.cect_network`)."""
        index = {nm: i for i, nm in enumerate(names)}
        n = len(names)
        sym = set(symmetric)
        mats = {}
        for k, rows in layers.items():
            rows = list(rows)
            bad = sorted({x for a, b, _ in rows for x in (a, b) if x not in index})
            if bad:
                raise KeyError(f"layer {k!r}: unknown nodes {bad[:5]}")
            if k in sym:
                und: dict[tuple[int, int], float] = {}
                for a, b, w in rows:
                    i, j = sorted((index[a], index[b]))
                    und[(i, j)] = max(und.get((i, j), -math.inf), float(w))
                ii = [i for i, j in und] + [j for i, j in und if i != j]
                jj = [j for i, j in und] + [i for i, j in und if i != j]
                ww = list(und.values()) + [w for (i, j), w in und.items() if i != j]
            else:
                ii = [index[a] for a, _, _ in rows]
                jj = [index[b] for _, b, _ in rows]
                ww = [float(w) for _, _, w in rows]
            mats[k] = sp.csr_matrix((np.asarray(ww, float), (np.asarray(ii, np.int64),
                                                             np.asarray(jj, np.int64))),
                                    shape=(n, n))
        return cls.from_arrays(mats, names=names, nodes=nodes, weight_unit=weight_unit,
                               provenance=provenance or {"source": "edge lists"})

    @classmethod
    def from_network(cls, network: Network, *, populations: Sequence[str] | None = None,
                     provenance: Mapping[str, Any] | None = None) -> Connectome:
        """From the model (:class:`wbe.engine.network.Network`). Nodes: the chosen
        populations (default all non-virtual) in order, node id = the engine's global id
        among them; columns ``population`` (and ``population_node_id`` when there are several),
        ``name`` (the ``name`` attribute, else ``<population>:<i>``), every other population
        attribute (``x``/``y``/``z`` → ``x_um``/``y_um``/``z_um``: SONATA positions are µm).
        Layers: one per projection between chosen populations. Weights: the edge attribute
        ``n_synapses`` (touch detection; unit ``synapses``) or ``count`` (cect; unit the
        ``count_unit`` attribute), else the synaptic weight in the target model's unit."""
        pops = [p for p in network.populations
                if (populations is None and not p.is_virtual)
                or (populations is not None and p.name in populations)]
        if populations is not None:
            missing = set(populations) - {p.name for p in pops}
            if missing:
                raise KeyError(f"no population(s) {sorted(missing)}")
        if not pops:
            raise ValueError("the network has no (non-virtual) population to build a graph of")
        offsets, off = {}, 0
        for p in pops:
            offsets[p.name] = off
            off += p.n
        n = off
        frames = []
        for p in pops:
            d: dict[str, Any] = {"population": [p.name] * p.n}
            if len(pops) > 1:
                d["population_node_id"] = np.arange(p.n, dtype=np.int64)
            for k, v in p.attributes.items():
                d[{"x": "x_um", "y": "y_um", "z": "z_um"}.get(k, _column_name(k))] = \
                    _plain_column(np.asarray(v))
            if "name" not in d:
                d["name"] = [f"{p.name}:{i}" for i in range(p.n)]
            frames.append(pd.DataFrame(d))
        nodes = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        nodes.insert(0, "node_id", np.arange(n, dtype=np.int64))
        front = ["node_id", "name", "population"]
        nodes = nodes[front + [c for c in nodes.columns if c not in front]]
        for c in nodes.columns:  # a column missing in some populations
            if nodes[c].dtype == object:
                nodes[c] = nodes[c].where(nodes[c].notna(), "")
        layers, units = {}, {}
        for pr in network.projections:
            if pr.source not in offsets or pr.target not in offsets:
                continue
            s = np.asarray(pr.source_ids, np.int64) + offsets[pr.source]
            t = np.asarray(pr.target_ids, np.int64) + offsets[pr.target]
            if "n_synapses" in pr.attributes:
                w, unit = np.asarray(pr.attributes["n_synapses"], float), "synapses"
            elif "count" in pr.attributes:
                w = np.asarray(pr.attributes["count"], float)
                cu = pr.attributes.get("count_unit")
                unit = str(np.asarray(cu).reshape(-1)[0]) if cu is not None and \
                    np.asarray(cu).size else "count"
            else:
                w = np.asarray(pr.weight, float)
                unit = _weight_unit(network.population(pr.target).model, pr.kind)
            layers[_column_name(pr.name)] = sp.csr_matrix((w, (s, t)), shape=(n, n))
            units[_column_name(pr.name)] = unit
        if not layers:
            raise ValueError("the network has no projection between the chosen populations")
        return cls(nodes, layers, units, dict(provenance or {"source": "network"}))

    @classmethod
    def from_cect(cls, dataset: str = "Cook2019Herm") -> Connectome:
        """A C. elegans connectome from cect (:func:`wbe.connectome.importers.cect_network`): layers
        ``chemical`` and ``gap`` in cect's count unit, node attributes ``cell_class`` and
        ``neurotransmitter``. Cook 2019 takes ~30 s to load (cect parses a spreadsheet)."""
        from wbe.connectome import importers

        net, summary = importers.cect_network(dataset)
        return cls.from_network(net, provenance={"source": f"cect:{dataset}",
                                                 "count_unit": summary["count_unit"]})

    @classmethod
    def from_tvb(cls, n_regions: int = 76, *, weights: np.ndarray | None = None,
                 null_model_seed: int | None = None) -> Connectome:
        """A tvb-data region connectome (:func:`wbe.connectome.importers.load_tvb`): one layer
        ``weights`` (TVB units; ``weights[i, j]`` = i → j), nodes = regions with ``x_um`` …
        (centres, converted from mm) and ``cortical`` where the zip has it. ``weights``
        replaces the matrix (e.g. the one a connectome stage used; ``null_model_seed`` is then
        only recorded); without it ``null_model_seed`` replaces tvb-data's matrix by the
        connectome stage's degree-preserving null
        (:func:`wbe.connectome.nulls.rewired_matrix`)."""
        from wbe.connectome import importers

        conn = importers.load_tvb(int(n_regions))
        w = conn.weights if weights is None else np.asarray(weights, float)
        if null_model_seed is not None and weights is None:
            w = null_models.rewired_matrix(w, int(null_model_seed))
        nodes = _region_nodes(conn.labels, conn.centres_mm, conn.cortical)
        unit = ("CoCoMac ordinal strength 0-3 (Kötter & Wanke 2005)" if int(n_regions) == 96
                else "TVB weight (arbitrary units)")
        return cls(nodes, {"weights": sp.csr_matrix(w)}, {"weights": unit},
                   {"source": f"tvb:{int(n_regions)}", "null_model_seed": null_model_seed})

    @classmethod
    def from_stage_dir(cls, folder: str | os.PathLike, *, verify: bool = True) -> Connectome:
        """From a connectome stage output folder. ``verify`` checks every file against the
        folder's ``manifest.json`` first (:func:`wbe.pipeline.store.verify`). A ``tvb:`` source is read
        from ``connectivity.npz`` (the region weights the stage used; the SONATA circuit
        holds the spiking neurons built from it); every other source from the SONATA circuit
        (``circuit_config.json``) via :func:`wbe.io.sonata.read_circuit`."""
        from wbe.pipeline import store

        folder = Path(folder)
        manifest = store.verify(folder) if verify else None
        source = str(((manifest or {}).get("params") or {}).get("source", ""))
        prov: dict[str, Any] = {"stage_dir": str(folder)}
        if manifest:
            prov.update({"stage": manifest.get("stage"), "key": manifest.get("key"),
                         "source": source})
            tvb = (manifest.get("params") or {}).get("tvb") or {}
            if source.startswith("tvb:") and tvb.get("null_model_seed") is not None:
                prov["null_model_seed"] = tvb["null_model_seed"]
        npz = folder / "connectivity.npz"
        if source.startswith("tvb:") or (not source and npz.is_file()):
            if not npz.is_file():
                raise FileNotFoundError(f"{npz}: missing (a tvb: connectome stage writes it)")
            with np.load(npz, allow_pickle=False) as z:
                for k in ("weights", "labels", "centres_mm"):
                    if k not in z:
                        raise GraphFormatError(f"{npz}: array {k!r} missing")
                w, labels, centres = z["weights"], z["labels"].tolist(), z["centres_mm"]
            if w.shape != (len(labels), len(labels)):
                raise GraphFormatError(f"{npz}: weights {w.shape} do not match {len(labels)} "
                                       "labels")
            nodes = _region_nodes(labels, centres, None)
            unit = ("CoCoMac ordinal strength 0-3 (Kötter & Wanke 2005)"
                    if source == "tvb:96" else "TVB weight (arbitrary units)")
            return cls(nodes, {"weights": sp.csr_matrix(w)}, {"weights": unit}, prov)
        from wbe.io.sonata import read_circuit

        cfg = folder / "circuit_config.json"
        if not cfg.is_file():
            raise FileNotFoundError(f"{cfg}: missing — {folder} is not a connectome stage output")
        if "source" not in prov:
            prov["source"] = "sonata"
        return cls.from_network(read_circuit(cfg), provenance=prov)


def _csr_equal(a: sp.csr_matrix, b: sp.csr_matrix) -> bool:
    return (a.shape == b.shape and np.array_equal(a.indptr, b.indptr)
            and np.array_equal(a.indices, b.indices) and np.array_equal(a.data, b.data))


def _column_name(k: Any) -> str:
    s = re.sub(r"[^A-Za-z0-9_.\-]", "_", str(k))
    return s or "_"


def _plain_column(v: np.ndarray) -> np.ndarray | list:
    if v.dtype.kind in "OUS":
        return [str(x) for x in v.tolist()]
    return v


def _region_nodes(labels: Sequence[str], centres_mm: np.ndarray,
                  cortical: np.ndarray | None) -> pd.DataFrame:
    c = np.asarray(centres_mm, float) * 1000.0
    d = {"node_id": np.arange(len(labels), dtype=np.int64), "name": [str(x) for x in labels],
         "x_um": c[:, 0], "y_um": c[:, 1], "z_um": c[:, 2]}
    if cortical is not None:
        d["cortical"] = np.asarray(cortical, bool)
    return pd.DataFrame(d)


def _weight_unit(model: str, kind: str) -> str:
    if kind == "electrical":
        return "nS"
    if model in ("iaf_psc_delta", "izhikevich"):
        return "mV"
    if "_cond_" in model:
        return "nS"
    return "pA"
