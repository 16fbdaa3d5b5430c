"""The connectome as a graph: one object that is a node table, sparse weighted adjacencies and a
NetworkX view; its topology (degrees, small-world index, rich club, modules) against seeded
degree-preserving null models; GraphML and Zarr exchange.

:class:`Connectome`

* ``nodes`` — a pandas DataFrame, one row per node, ``node_id`` = 0..n-1 (the row), ``name``
  and whatever is known: ``population``, ``cell_class``, ``neurotransmitter``, ``region``,
  ``x_um``/``y_um``/``z_um`` (position, µm; TVB region centres are converted from mm).
* ``layers`` — named scipy.sparse CSR matrices (n × n, float64), ``[pre, post]`` = weight of
  the connection pre → post (rows presynaptic), e.g. ``chemical`` (synapse counts) and ``gap``
  (gap junctions, stored in both directions as the SONATA circuit holds them).
* ``weight_units`` — the unit of each layer's weights (``"synapses"``, cect's count unit, ...).
* ``provenance`` — where it came from (JSON-safe dict).

Constructors: :meth:`Connectome.from_stage_dir` (a connectome stage folder: the SONATA circuit,
or ``connectivity.npz`` for a ``tvb:`` source), :meth:`~Connectome.from_network`,
:meth:`~Connectome.from_arrays`, :meth:`~Connectome.from_edge_lists`,
:meth:`~Connectome.from_networkx`, :meth:`~Connectome.from_cect`, :meth:`~Connectome.from_tvb`.

Analysis (:func:`analyse` returns all of it as a JSON-safe dict, :func:`plot_analysis` draws it).
Unless stated otherwise measures use the **undirected, binarised** graph (an edge where any
chosen layer connects the pair in either direction; self-connections dropped) restricted to its
**largest connected component** (:func:`undirected_binary`):

* degrees (:func:`degree_table`) — in/out/total of the directed binarised union (self
  connections excluded), and the undirected degree (number of distinct partners);
* small-world index (:func:`small_world`) — Humphries et al. (2006) σ = (C/C_rand)/(L/L_rand),
  C = mean local clustering (Watts & Strogatz 1998), L = characteristic path length, the
  reference values the means over degree-preserving randomisations that stay connected
  (networkx ``connected_double_edge_swap``, ``swaps_per_edge`` × m attempts each). σ > 1: more
  clustered than chance at a comparable path length. (ω, which needs lattice references, is not
  computed: networkx's ``lattice_reference`` takes minutes on a 300-neuron connectome.)
* rich club (:func:`rich_club`) — φ(k) = 2E_{>k} / (N_{>k}(N_{>k} − 1)) (networkx
  ``rich_club_coefficient``) divided by its mean over the same nulls (Colizza et al. 2006);
  one-sided permutation p(k) = (1 + #{φ_null ≥ φ}) / (1 + n_null); significant where
  p < ``alpha``, φ_norm > 1 and the club has ≥ ``min_club_size`` nodes;
* modularity (:func:`modules`) — best of ``n_runs`` seeded Louvain runs (networkx
  ``louvain_communities``, resolution 1) and Newman's Q; Q of the nulls for comparison.

All randomness derives from one integer ``seed`` (numpy ``SeedSequence``), so a result is a
function of the graph and the seed.

Exchange: :func:`write_graphml` / :func:`read_graphml` (the reader parses with defusedxml and
refuses DTDs, i.e. entity-expansion bombs and external entities), :func:`write_zarr` /
:func:`read_zarr` (a Zarr v3 group: CSR arrays per layer, node table columns, units and
provenance in attributes). Both round-trip a :class:`Connectome` exactly; writes go to a
temporary name and are renamed into place.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp

from wbe.connectome import nulls as null_models
from wbe.io.atomic import written_atomically

if TYPE_CHECKING:
    import networkx as nx

    from wbe.engine.network import Network

__all__ = [
    "Connectome", "GraphFormatError", "FORMAT", "undirected_binary", "degree_table",
    "reciprocity",
    "small_world", "rich_club", "modules", "analyse",
    "plot_analysis", "write_graphml", "read_graphml", "write_zarr", "read_zarr",
    "write_outputs", "json_safe",
]

#: format tag written into GraphML graph attributes and Zarr group attributes
FORMAT = "wbe.connectome.touches/1"
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
        self.provenance = json_safe(dict(self.provenance))

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
        GraphML written by :func:`write_graphml`) is restored exactly. Any other graph: nodes
        in iteration order become node ids 0..n-1 (``name`` = the node's ``name`` or ``label``
        attribute, else its key), scalar node attributes become columns, and one layer
        ``weight`` holds the edge attribute ``weight`` (1 where absent) in ``weight_unit``;
        an undirected graph gives a symmetric matrix."""
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


# ============================================================================== analysis
def _seeds(seed: int, n: int, purpose: int) -> list[int]:
    """``n`` independent 32-bit seeds for one purpose, from one integer seed."""
    ss = np.random.SeedSequence([int(seed), int(purpose)])
    return [int(x) for x in ss.generate_state(n, np.uint32)] if n else []


def undirected_binary(c: Connectome, layers: Iterable[str] | str | None = None, *,
                      largest_component: bool = True) -> nx.Graph:
    """The undirected, binarised graph of the chosen layers (an edge where any layer connects
    the pair in either direction; self connections dropped); node key = ``node_id``, attribute
    ``name``. ``largest_component``: only its largest connected component."""
    import networkx as nx

    a = c.adjacency(layers, binary=True)
    a = ((a + a.T) > 0).astype(np.int8).tolil()
    a.setdiag(0)
    a = sp.csr_matrix(a)
    a.eliminate_zeros()
    g = nx.from_scipy_sparse_array(a, edge_attribute=None)
    nx.set_node_attributes(g, dict(enumerate(c.names)), "name")
    if largest_component and g.number_of_nodes():
        g = g.subgraph(max(nx.connected_components(g), key=len)).copy()
    return g


def _binary_off_diagonal(c: Connectome, layers: Iterable[str] | str | None) -> sp.csr_matrix:
    """Directed binarised union of the layers without self connections."""
    a = c.adjacency(layers, binary=True).tolil()
    a.setdiag(0)
    a = sp.csr_matrix(a)
    a.eliminate_zeros()
    return a


def reciprocity(c: Connectome, layers: Iterable[str] | str | None = None) -> float:
    """Fraction of directed connections (self connections excluded) whose reverse exists too
    (networkx ``reciprocity`` of the binarised union); NaN without connections."""
    a = _binary_off_diagonal(c, layers)
    return float(a.multiply(a.T).nnz / a.nnz) if a.nnz else float("nan")


def degree_table(c: Connectome, layers: Iterable[str] | str | None = None) -> pd.DataFrame:
    """Per node: ``in``/``out``/``total`` degree of the directed binarised union of the chosen
    layers (number of distinct pre-/postsynaptic partners; self connections excluded) and
    ``undirected`` (distinct partners either way)."""
    a = _binary_off_diagonal(c, layers)
    und = ((a + a.T) > 0)
    out_d = np.diff(a.indptr).astype(np.int64)
    in_d = np.diff(a.tocsc().indptr).astype(np.int64)
    return pd.DataFrame({"node_id": c.nodes["node_id"], "name": c.nodes["name"],
                         "in": in_d, "out": out_d, "total": in_d + out_d,
                         "undirected": np.diff(sp.csr_matrix(und).indptr).astype(np.int64)})




def small_world(g: nx.Graph, *, nulls: Sequence[nx.Graph] | None = None,
                null: Literal["degree_preserving", "gnm", "analytic"] = "degree_preserving",
                n_null: int = 20, seed: int = 0, swaps_per_edge: float = 10.0) -> dict:
    """Humphries' σ = (C/C_rand)/(L/L_rand) of an undirected graph's largest connected
    component (C: mean local clustering, L: characteristic path length, in edges).

    References: ``nulls`` (graphs, e.g. from :func:`wbe.connectome.nulls.rewired_graphs`), or made here:
    ``degree_preserving`` (``n_null`` connected degree-preserving rewirings), ``gnm``
    (``n_null`` G(n, m) graphs, their largest components) or ``analytic`` (the Erdős–Rényi
    approximations C_rand = k/n, L_rand = ln n / ln k, k = mean degree; Watts & Strogatz
    1998). Returns clustering, path_length, clustering_random(_std), path_length_random(_std),
    sigma, the reference used and n_nodes/n_edges of the component."""
    import networkx as nx

    nan = float("nan")
    res: dict[str, Any] = {"clustering": nan, "path_length": nan, "clustering_random": nan,
                           "clustering_random_std": nan, "path_length_random": nan,
                           "path_length_random_std": nan, "sigma": nan,
                           "null": "given" if nulls is not None else null,
                           "n_null": len(nulls) if nulls is not None else
                           (0 if null == "analytic" else n_null),
                           "n_nodes": 0, "n_edges": 0}
    if g.number_of_nodes() < 3:
        return res
    comp = g.subgraph(max(nx.connected_components(g), key=len)).copy()
    n, m = comp.number_of_nodes(), comp.number_of_edges()
    res.update(n_nodes=n, n_edges=m)
    if n < 3:
        return res
    c_obs = nx.average_clustering(comp)
    l_obs = nx.average_shortest_path_length(comp)
    res.update(clustering=c_obs, path_length=l_obs)
    if nulls is None and null == "analytic":
        k = 2.0 * m / n
        c_r, l_r = k / n, (math.log(n) / math.log(k) if k > 1 else nan)
        cs, ls = np.array([c_r]), np.array([l_r])
    else:
        if nulls is None and null == "gnm":
            nulls = []
            for s in _seeds(seed, n_null, 2):
                r = nx.gnm_random_graph(n, m, seed=s)
                nulls.append(r.subgraph(max(nx.connected_components(r), key=len)).copy())
        elif nulls is None:
            nulls = null_models.rewired_graphs(comp, n_null, seed=seed,
                                            swaps_per_edge=swaps_per_edge)
        if not nulls:
            return res
        cs = np.array([nx.average_clustering(r) for r in nulls])
        ls = np.array([nx.average_shortest_path_length(r) for r in nulls])
    c_r, l_r = float(np.mean(cs)), float(np.mean(ls))
    res.update(clustering_random=c_r, path_length_random=l_r,
               clustering_random_std=float(np.std(cs)), path_length_random_std=float(np.std(ls)))
    if c_r > 0 and l_r > 0 and l_obs > 0:
        res["sigma"] = (c_obs / c_r) / (l_obs / l_r)
    return res


def rich_club(g: nx.Graph, nulls: Sequence[nx.Graph], *, alpha: float = 0.05,
              min_club_size: int = 3) -> dict:
    """Rich-club coefficient φ(k) of an undirected graph (networkx, no normalisation), its
    mean and s.d. over ``nulls`` (degree-preserving randomisations of ``g``), φ_norm(k) =
    φ/⟨φ_null⟩ and the one-sided permutation p(k) = (1 + #{φ_null ≥ φ}) / (1 + n_null).

    Significant k: p < ``alpha``, φ_norm > 1 and N_{>k} ≥ ``min_club_size``. Returns lists
    over k (``k``, ``n_above``, ``phi``, ``phi_null_mean``, ``phi_null_std``, ``phi_norm``,
    ``p``), ``significant_k``, ``significant_ranges`` ([k_first, k_last] runs of consecutive
    significant k), ``peak_k`` (largest φ_norm among significant k), ``club`` (names of the
    nodes with degree > peak_k, most connected first)."""
    import networkx as nx

    g = nx.Graph(g)
    g.remove_edges_from(list(nx.selfloop_edges(g)))
    res: dict[str, Any] = {"k": [], "n_above": [], "phi": [], "phi_null_mean": [],
                           "phi_null_std": [], "phi_norm": [], "p": [], "significant_k": [],
                           "significant_ranges": [], "peak_k": None, "peak_phi_norm": None,
                           "club": [], "n_null": len(nulls), "alpha": alpha,
                           "min_club_size": min_club_size}
    if g.number_of_edges() == 0:
        return res
    phi = nx.rich_club_coefficient(g, normalized=False)
    ks = sorted(phi)
    null_phi = np.full((len(nulls), len(ks)), np.nan)
    for r, h in enumerate(nulls):
        h = nx.Graph(h)
        h.remove_edges_from(list(nx.selfloop_edges(h)))
        pr = nx.rich_club_coefficient(h, normalized=False)
        null_phi[r] = [pr.get(k, np.nan) for k in ks]
    deg = np.array([d for _, d in g.degree()])
    obs = np.array([phi[k] for k in ks])
    n_above = np.array([(deg > k).sum() for k in ks])
    if len(nulls):
        mean = np.nanmean(null_phi, axis=0)
        std = np.nanstd(null_phi, axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            norm = np.where(mean > 0, obs / mean, np.nan)
        p = (1 + (null_phi >= obs[None, :] - 1e-12).sum(axis=0)) / (1 + len(nulls))
    else:
        mean = std = norm = p = np.full(len(ks), np.nan)
    sig = (p < alpha) & (norm > 1) & (n_above >= min_club_size)
    sig_k = [k for k, s in zip(ks, sig) if s]
    ranges: list[list[int]] = []
    for k in sig_k:
        if ranges and k == ranges[-1][1] + 1:
            ranges[-1][1] = k
        else:
            ranges.append([k, k])
    res.update(k=ks, n_above=n_above.tolist(), phi=obs.tolist(), phi_null_mean=mean.tolist(),
               phi_null_std=std.tolist(), phi_norm=norm.tolist(), p=p.tolist(),
               significant_k=sig_k, significant_ranges=ranges)
    if sig_k:
        idx = [ks.index(k) for k in sig_k]
        best = idx[int(np.argmax(norm[idx]))]
        peak = ks[best]
        names = nx.get_node_attributes(g, "name")
        members = sorted((v for v in g if g.degree(v) > peak),
                         key=lambda v: (-g.degree(v), str(names.get(v, v))))
        res.update(peak_k=peak, peak_phi_norm=float(norm[best]),
                   club=[str(names.get(v, v)) for v in members])
    return res


def modules(g: nx.Graph, *, seed: int = 0, n_runs: int = 10, resolution: float = 1.0,
            nulls: Sequence[nx.Graph] = ()) -> dict:
    """Louvain communities (networkx ``louvain_communities``, unweighted, ``resolution``) of an
    undirected graph: the partition with the largest Newman modularity Q over ``n_runs``
    seeded runs. Returns ``Q``, ``Q_runs`` (all runs), ``n_modules``, ``sizes`` (largest first),
    ``membership`` (node → module index, modules numbered by decreasing size) and, when
    ``nulls`` are given, the mean and s.d. of Q over them (one seeded run each:
    ``Q_null_mean``/``Q_null_std``)."""
    import networkx as nx

    def best(h: nx.Graph, seeds: list[int]) -> tuple[float, list[set], list[float]]:
        qs, parts = [], []
        for s in seeds:
            part = nx.community.louvain_communities(h, weight=None, resolution=resolution,
                                                    seed=s)
            qs.append(nx.community.modularity(h, part, weight=None, resolution=resolution))
            parts.append(part)
        k = int(np.argmax(qs))
        return qs[k], parts[k], qs

    nan = float("nan")
    if g.number_of_edges() == 0:
        return {"Q": nan, "Q_runs": [], "n_modules": g.number_of_nodes(), "sizes": [],
                "membership": {}, "Q_null_mean": nan, "Q_null_std": nan, "n_null": 0}
    seeds = _seeds(seed, n_runs, 3)
    q, part, qs = best(g, seeds)
    part = sorted(part, key=lambda s: (-len(s), min(s)))
    membership = {v: i for i, s in enumerate(part) for v in s}
    qn = [best(h, seeds[:1])[0] for h in nulls]  # one run per null keeps this affordable
    return {"Q": q, "Q_runs": qs, "n_modules": len(part), "sizes": [len(s) for s in part],
            "membership": membership,
            "Q_null_mean": float(np.mean(qn)) if qn else nan,
            "Q_null_std": float(np.std(qn)) if qn else nan, "n_null": len(qn),
            "resolution": resolution}


def analyse(c: Connectome, *, layers: Iterable[str] | str | None = None, seed: int = 0,
            n_null: int = 50, swaps_per_edge: float = 10.0, alpha: float = 0.05,
            min_club_size: int = 3, n_louvain: int = 10) -> dict:
    """Topology of a connectome as a JSON-safe dict (see the module doc): ``summary`` (nodes,
    edges per layer, reciprocity, density, assortativity), ``degrees`` (statistics and the
    ten largest hubs), ``small_world``, ``rich_club``, ``modularity``, ``nodes`` (per node:
    name, in/out/total/undirected degree, module — null for nodes outside the largest
    component), ``params`` and ``wall_s``. ``n_null`` degree-preserving nulls of the largest
    component are shared by σ, the rich club and Q_null."""
    import networkx as nx

    t0 = time.perf_counter()
    keys = c._pick(layers)
    deg = degree_table(c, keys)
    n_dir = int(_binary_off_diagonal(c, keys).nnz)
    recip = reciprocity(c, keys)
    full = undirected_binary(c, keys, largest_component=False)
    g = full.subgraph(max(nx.connected_components(full), key=len)).copy() \
        if full.number_of_nodes() else full
    nulls = null_models.rewired_graphs(g, n_null, seed=seed, swaps_per_edge=swaps_per_edge) \
        if g.number_of_nodes() >= 4 else []
    sw = small_world(g, nulls=nulls) if nulls else small_world(g, null="analytic")
    rc = rich_club(g, nulls, alpha=alpha, min_club_size=min_club_size)
    mod = modules(g, seed=seed, n_runs=n_louvain, nulls=nulls)
    n = c.n
    assort = nx.degree_assortativity_coefficient(g) if g.number_of_edges() > 1 else float("nan")
    summary = {
        "n_nodes": n, "layers": keys,
        "weight_units": {k: c.weight_units[k] for k in keys},
        "n_edges": {k: int(c.layers[k].nnz) for k in keys},
        "n_directed_edges_union": n_dir,
        "n_self_connections": int(c.adjacency(keys, binary=True).diagonal().sum()),
        "n_undirected_edges": full.number_of_edges(),
        "density_directed": n_dir / (n * (n - 1)) if n > 1 else float("nan"),
        "reciprocity": recip, "degree_assortativity": assort,
        "n_isolated": int(sum(1 for v in full if full.degree(v) == 0)),
        "n_components": nx.number_connected_components(full) if n else 0,
        "largest_component_nodes": g.number_of_nodes(),
        "largest_component_edges": g.number_of_edges(),
        "provenance": c.provenance,
    }
    degrees = {}
    for kind in ("in", "out", "total", "undirected"):
        v = deg[kind].to_numpy()
        degrees[kind] = {"mean": float(v.mean()) if n else float("nan"),
                         "median": float(np.median(v)) if n else float("nan"),
                         "max": int(v.max()) if n else 0}
    hubs = deg.sort_values(["total", "name"], ascending=[False, True]).head(10)
    degrees["hubs"] = hubs[["name", "total", "in", "out"]].to_dict("records")
    module_of = [mod["membership"].get(i) for i in range(n)]
    mod_out = {k: v for k, v in mod.items() if k != "membership"}
    return json_safe({
        "format": "wbe.connectome.graph-analysis/1",
        "summary": summary, "degrees": degrees, "small_world": sw, "rich_club": rc,
        "modularity": mod_out,
        "nodes": {"name": deg["name"].tolist(), "in": deg["in"].tolist(),
                  "out": deg["out"].tolist(), "total": deg["total"].tolist(),
                  "undirected": deg["undirected"].tolist(), "module": module_of},
        "params": {"seed": seed, "n_null": n_null, "swaps_per_edge": swaps_per_edge,
                   "alpha": alpha, "min_club_size": min_club_size, "n_louvain": n_louvain,
                   "null_model": "connected degree-preserving double-edge swaps (networkx)",
                   "graph": "undirected, binarised, self connections dropped, largest "
                            "connected component"},
        "wall_s": round(time.perf_counter() - t0, 3),
    })


def json_safe(obj: Any) -> Any:
    """``obj`` with numpy scalars/arrays turned into Python numbers/lists, tuples and sets into
    lists, dict keys into strings and NaN/±inf into None (strict JSON)."""
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = sorted(obj, key=str) if isinstance(obj, (set, frozenset)) else obj
        return [json_safe(v) for v in items]
    if isinstance(obj, np.ndarray):
        return json_safe(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    return str(obj)


# ============================================================================== figure
def plot_analysis(result: Mapping[str, Any], path: str | os.PathLike, *,
                  title: str = "") -> Path:
    """Four panels from :func:`analyse`: (a) in/out/total degree distributions
    (complementary cumulative, log–log); (b) rich-club coefficient φ(k) vs the null mean ± 2 s.d.;
    (c) normalised φ(k) with the significant degrees marked and the club at the peak named;
    (d) clustering, path length and modularity against the null (mean ± s.d.) with σ."""
    from wbe import plots

    fig, axes = plots.subplots(2, 2, figsize=(11, 8.5))
    ax = axes[0, 0]
    nodes = result["nodes"]
    for kind, col in (("in", "C0"), ("out", "C1"), ("total", "C2")):
        d = np.sort(np.asarray(nodes[kind], float))[::-1]
        d = d[d > 0]
        if len(d):
            ax.loglog(d, np.arange(1, len(d) + 1) / len(nodes[kind]), drawstyle="steps-post",
                      color=col, label=f"{kind} (mean {np.mean(nodes[kind]):.1f})")
    ax.set_xlabel("degree k (distinct partners)")
    ax.set_ylabel("P(degree ≥ k)")
    ax.set_title("(a) degree distributions (directed)")
    ax.legend(fontsize=8)

    rc = result["rich_club"]

    def arr(key):
        return np.asarray([np.nan if v is None else v for v in rc[key]], float)

    # degrees whose club has fewer than min_club_size nodes carry no information: not drawn
    keep = np.asarray(rc["n_above"], float) >= rc["min_club_size"]
    k, phi, mean, std, norm = (arr(key)[keep] for key in
                               ("k", "phi", "phi_null_mean", "phi_null_std", "phi_norm"))
    ax = axes[0, 1]
    if len(k):
        ax.plot(k, phi, color="C3", lw=1.5, label="connectome")
        ax.plot(k, mean, color="0.3", lw=1, label=f"null mean (n = {rc['n_null']})")
        ax.fill_between(k, np.clip(mean - 2 * std, 0, 1), np.clip(mean + 2 * std, 0, 1),
                        color="0.8", label="null ± 2 s.d.")
        ax.legend(fontsize=8)
    else:
        plots.note(ax, "no edges")
    ax.set_xlabel("degree k (undirected)")
    ax.set_ylabel("rich-club coefficient φ(k)")
    ax.set_title("(b) rich club vs degree-preserving nulls")

    ax = axes[1, 0]
    if len(k):
        ax.plot(k, norm, color="C3", lw=1)
        sig = np.isin(k, rc["significant_k"])
        ax.scatter(k[sig], norm[sig], s=12, color="C3", zorder=3,
                   label=f"p < {rc['alpha']} (N>k ≥ {rc['min_club_size']})")
        for a, b in rc["significant_ranges"]:
            ax.axvspan(a - 0.5, b + 0.5, color="C3", alpha=0.1)
        ax.axhline(1, color="k", lw=0.7, ls="--")
        if rc["peak_k"] is not None:
            club = rc["club"]
            txt = ", ".join(club[:12]) + (" …" if len(club) > 12 else "")
            ax.set_title(f"(c) normalised rich club; peak k = {rc['peak_k']}: "
                         f"{len(club)} nodes", fontsize=10)
            ax.text(0.98, 0.03, txt, transform=ax.transAxes, ha="right", va="bottom",
                    fontsize=7, wrap=True, bbox={"fc": "w", "ec": "0.8", "alpha": 0.8})
        else:
            ax.set_title("(c) normalised rich club (no significant k)")
        ax.legend(fontsize=8, loc="upper left")
    else:
        plots.note(ax, "no edges")
    ax.set_xlabel("degree k (undirected)")
    ax.set_ylabel("φ(k) / ⟨φ_null(k)⟩")

    ax = axes[1, 1]
    sw, mod = result["small_world"], result["modularity"]

    def val(v):
        return np.nan if v is None else float(v)

    labels = ["clustering C", "path length L", "modularity Q"]
    obs = [val(sw["clustering"]), val(sw["path_length"]), val(mod["Q"])]
    nul = [val(sw["clustering_random"]), val(sw["path_length_random"]), val(mod["Q_null_mean"])]
    err = [val(sw["clustering_random_std"]), val(sw["path_length_random_std"]),
           val(mod["Q_null_std"])]
    x = np.arange(3)
    ref = np.where(np.isfinite(nul) & (np.asarray(nul) > 0), nul, 1.0)
    ax.bar(x - 0.2, np.asarray(obs) / ref, 0.4, color="C3", label="connectome")
    ax.bar(x + 0.2, np.asarray(nul) / ref, 0.4, yerr=np.asarray(err) / ref, color="0.7",
           label="null mean ± s.d.")
    for xi, o in zip(x, obs):
        ax.text(xi - 0.2, 0.02, f"{o:.3g}", ha="center", va="bottom", fontsize=8, rotation=90,
                color="w")
    ax.axhline(1, color="k", lw=0.7, ls="--")
    ax.set_xticks(x, labels)
    ax.set_ylabel("relative to the null mean")
    ax.set_title(f"(d) σ = {val(sw['sigma']):.2f}; {mod['n_modules']} Louvain modules")
    ax.legend(fontsize=8)
    s = result["summary"]
    source = (s.get("provenance") or {}).get("source") or "connectome"
    fig.suptitle(title or f"{source}: {s['n_nodes']} nodes, {s['n_undirected_edges']} "
                 f"undirected edges (largest component {s['largest_component_nodes']} nodes); "
                 f"seed {result['params']['seed']}", fontsize=11)
    return plots.save(fig, Path(path))


# ============================================================================== exchange
def _atomic_file(path: Path, write) -> Path:
    """Call ``write(tmp_path)`` on a temporary file beside ``path``, then rename it."""
    with written_atomically(Path(path), overwrite=True) as tmp:
        write(tmp)
    return Path(path)


def write_graphml(c: Connectome, path: str | os.PathLike) -> Path:
    """Write ``c`` as GraphML (networkx ``write_graphml`` of :meth:`Connectome.to_networkx`;
    graph attributes JSON-encoded; floats written with Python's round-trip repr). Atomic."""
    import networkx as nx

    g = c.to_networkx()
    for k in ("layers", "weight_units", "provenance", "node_columns"):
        g.graph[k] = json.dumps(g.graph[k], ensure_ascii=False)
    return _atomic_file(Path(path), lambda tmp: nx.write_graphml(g, str(tmp), encoding="utf-8"))


def read_graphml(path: str | os.PathLike, *, weight_unit: str = "unknown") -> Connectome:
    """Read GraphML safely into a :class:`Connectome`.

    The bytes are parsed with defusedxml first, which refuses any DTD (so no entity expansion —
    "billion laughs" — and no external entities); only a document that passes is interpreted by
    networkx (``parse_graphml``). Files written by :func:`write_graphml` round-trip exactly;
    others go through :meth:`Connectome.from_networkx` (``weight_unit`` for their weights).
    Raises :class:`GraphFormatError` naming the file for unsafe, malformed or non-GraphML
    input."""
    import xml.etree.ElementTree as ET

    import defusedxml
    import defusedxml.ElementTree as DET
    import networkx as nx

    path = Path(path)
    data = path.read_bytes()
    try:
        root = DET.fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except defusedxml.DTDForbidden as e:
        raise GraphFormatError(
            f"{path}: refused — the file declares a DTD (<!DOCTYPE …>, {e}); DTDs allow entity "
            "expansion ('billion laughs') and external entities, and GraphML needs none") from e
    except defusedxml.DefusedXmlException as e:
        raise GraphFormatError(f"{path}: refused — unsafe XML construct ({e})") from e
    except ET.ParseError as e:
        raise GraphFormatError(f"{path}: not well-formed XML ({e}); the file is truncated or "
                               "corrupt") from e
    if root.tag != "{http://graphml.graphdrawing.org/xmlns}graphml":
        raise GraphFormatError(f"{path}: root element is {root.tag!r}, expected GraphML's "
                               "'{http://graphml.graphdrawing.org/xmlns}graphml'")
    try:
        g = nx.parse_graphml(data, node_type=str)
    except (nx.NetworkXError, KeyError, ValueError, TypeError) as e:
        raise GraphFormatError(f"{path}: not valid GraphML ({type(e).__name__}: {e})") from e
    try:
        return Connectome.from_networkx(g, weight_unit=weight_unit,
                                        provenance={"source": f"graphml:{path.name}"})
    except (KeyError, ValueError, TypeError, json.JSONDecodeError) as e:
        raise GraphFormatError(f"{path}: GraphML does not describe a connectome as expected "
                               f"({type(e).__name__}: {e})") from e


def write_zarr(c: Connectome, path: str | os.PathLike, *, overwrite: bool = False) -> Path:
    """Write ``c`` as a Zarr v3 group (under a temporary name, renamed into place):

    * attrs: ``format`` (``wbe.connectome.touches/1``), ``n_nodes``, ``layers`` (order),
      ``weight_units``, ``node_columns`` ([name, dtype] in order), ``orientation``,
      ``provenance``, ``units`` (node columns with a unit);
    * ``nodes/<column>`` (n,) — strings as variable-length UTF-8;
    * ``layers/<name>/{indptr (n+1,) int64, indices (nnz,) int64, data (nnz,) float64}`` —
      CSR, rows presynaptic; attrs ``shape``, ``unit``.
    An existing ``path`` is an error unless ``overwrite``."""
    import zarr

    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: exists (pass overwrite=True to replace it)")
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        root = zarr.open_group(str(tmp), mode="w")
        ng = root.create_group("nodes")
        for col in c.nodes.columns:
            s = c.nodes[col]
            if s.dtype == object:
                arr = ng.create_array(col, shape=(c.n,), dtype=str)
                if c.n:
                    arr[...] = np.asarray([str(v) for v in s.tolist()],
                                          dtype=np.dtypes.StringDType())
            else:
                ng.create_array(col, data=s.to_numpy())
        lg = root.create_group("layers")
        for k, m in c.layers.items():
            g = lg.create_group(k)
            g.create_array("indptr", data=m.indptr.astype(np.int64))
            g.create_array("indices", data=m.indices.astype(np.int64))
            g.create_array("data", data=m.data.astype(np.float64))
            g.attrs.update({"shape": list(m.shape), "unit": c.weight_units[k], "format": "csr"})
        root.attrs.update({
            "format": FORMAT, "n_nodes": c.n, "layers": list(c.layers),
            "weight_units": c.weight_units,
            "node_columns": [[col, str(c.nodes[col].dtype)] for col in c.nodes.columns],
            "units": {col: "µm" for col in c.nodes.columns if col.endswith("_um")},
            "orientation": "layers[name][pre, post]: rows presynaptic, columns postsynaptic",
            "provenance": c.provenance,
        })
        if path.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
            os.replace(path, trash / path.name)
            os.replace(tmp, path)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def read_zarr(path: str | os.PathLike) -> Connectome:
    """Read a group written by :func:`write_zarr`; malformed input raises
    :class:`GraphFormatError` naming the file and the field."""
    import zarr

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such Zarr group")
    try:
        root = zarr.open_group(str(path), mode="r")
    except Exception as e:  # zarr raises several types for a non-group
        raise GraphFormatError(f"{path}: not a Zarr group ({type(e).__name__}: {e})") from e
    attrs = dict(root.attrs)
    if attrs.get("format") != FORMAT:
        raise GraphFormatError(f"{path}: attribute 'format' is {attrs.get('format')!r}, "
                               f"expected {FORMAT!r}")
    try:
        n = int(attrs["n_nodes"])
        cols = {str(k): str(v) for k, v in attrs["node_columns"]}
        keys = list(attrs["layers"])
        units = dict(attrs["weight_units"])
    except (KeyError, TypeError, ValueError) as e:
        raise GraphFormatError(f"{path}: attribute {e} missing or malformed") from e
    data = {}
    for col, dtype in cols.items():
        try:
            a = root[f"nodes/{col}"][...]
        except KeyError as e:
            raise GraphFormatError(f"{path}: array nodes/{col} missing") from e
        if a.shape != (n,):
            raise GraphFormatError(f"{path}: nodes/{col} has shape {a.shape}, expected ({n},)")
        data[col] = pd.Series([str(v) for v in a.tolist()], dtype=object) \
            if dtype == "object" else pd.Series(a, dtype=dtype)
    layers = {}
    for k in keys:
        try:
            ip, ix, dv = (root[f"layers/{k}/{f}"][...] for f in ("indptr", "indices", "data"))
        except KeyError as e:
            raise GraphFormatError(f"{path}: array layers/{k}/… missing ({e})") from e
        if ip.shape != (n + 1,) or ip[0] != 0 or np.any(np.diff(ip) < 0) or ip[-1] != len(ix) \
                or len(ix) != len(dv):
            raise GraphFormatError(f"{path}: layers/{k}: indptr/indices/data are not a valid "
                                   f"CSR of {n} rows")
        if len(ix) and (ix.min() < 0 or ix.max() >= n):
            raise GraphFormatError(f"{path}: layers/{k}/indices: column index out of 0..{n - 1}")
        layers[k] = sp.csr_matrix((dv.astype(np.float64), ix.astype(np.int64),
                                   ip.astype(np.int64)), shape=(n, n))
    try:
        return Connectome(pd.DataFrame(data), layers, units, dict(attrs.get("provenance", {})))
    except (KeyError, ValueError) as e:
        raise GraphFormatError(f"{path}: {e}") from e


# ============================================================================== stage outputs
def write_outputs(c: Connectome, out_dir: str | os.PathLike, *, seed: int = 0,
                  n_null: int = 50, title: str = "", **analyse_kw) -> dict:
    """Write ``graph.json`` (:func:`analyse`), ``graph.png`` (:func:`plot_analysis`),
    ``connectome.graphml`` and ``connectome.zarr`` into ``out_dir`` (each atomically). Returns
    a short summary for a stage manifest (σ, Q, modules, rich-club range, wall time)."""
    out_dir = Path(out_dir)
    res = analyse(c, seed=seed, n_null=n_null, **analyse_kw)
    text = json.dumps(res, indent=1, sort_keys=False, allow_nan=False, ensure_ascii=False)

    def write_text(tmp: Path) -> None:
        tmp.write_text(text + "\n", encoding="utf-8")

    _atomic_file(out_dir / "graph.json", write_text)
    _atomic_file(out_dir / "graph.png", lambda tmp: plot_analysis(res, tmp, title=title))
    write_graphml(c, out_dir / "connectome.graphml")
    write_zarr(c, out_dir / "connectome.zarr", overwrite=True)
    rc = res["rich_club"]
    return {"graph_sigma": res["small_world"]["sigma"], "graph_Q": res["modularity"]["Q"],
            "graph_n_modules": res["modularity"]["n_modules"],
            "graph_rich_club_ranges": rc["significant_ranges"],
            "graph_rich_club_size": len(rc["club"]), "graph_wall_s": res["wall_s"]}
