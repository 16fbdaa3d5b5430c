"""Connectome stage: synapses from skeleton appositions, written as a SONATA circuit.

Touch detection: two skeleton nodes of different neurons touch where the gap between their
spheres, ``|c_a - c_b| - r_a - r_b``, is ≤ ``touch_distance_um`` (cKDTree
``sparse_distance_matrix``, radius classes × chunks of query nodes so that a few large soma
nodes do not blow up the search radius of all others).

Direction (``direction``): ``typed`` — a touch is a synapse pre→post when the pre node's SWC
type is in ``pre_types`` (default axon) and the post node's type is in ``post_types`` (default
soma, dendrite, apical dendrite), checked both ways; ``symmetric`` — both directions for every
touch; ``auto`` — ``typed`` when any node has type 2 (axon), else ``symmetric``.

Synapses: contacts of the same directed pair closer than ``min_synapse_spacing_um`` are one
synapse — greedy non-maximum suppression in order of increasing gap, so kept synapses of a pair
are ≥ the spacing apart and a long apposition yields synapses in proportion to its length.
A synapse's position is the midpoint between the two node surfaces along the centre line.

Neurons: segments named ``<name>~k`` (fragments from segmentation) merge into neuron
``<name>`` when ``merge_fragments`` is set. Network: one population ``neurons`` (attributes
name, x, y, z = soma position in µm: the largest type-1 node, else the largest node), one
chemical projection ``chemical`` with weight = n_synapses × ``weight_per_synapse_pA``
(excitatory) and delay ``delay_ms``; edge attribute ``n_synapses``.

Other sources (``source``): ``cect:<Dataset>`` imports a C. elegans connectome from cect
(neurons with cell class and neurotransmitter, chemical edges and a symmetric gap-junction edge
population; see :mod:`wbe.importers`), ``tvb:<N>`` builds a region-level spiking brain from a
tvb-data connectivity (:func:`wbe.engine.brain.region_network`), optionally with the
connectivity replaced by a degree-preserving null model (``tvb.null_model_seed``). Neither
needs the morphology stage (:func:`upstream`).
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from wbe.engine.network import Network, Population, Projection

if TYPE_CHECKING:
    import scipy.sparse as sp

SYNAPSE_COLUMNS = ["pre", "post", "x", "y", "z", "distance_um", "pre_name", "post_name"]


class TvbParams(BaseModel):
    """The region-level brain built for ``source: tvb:<N>`` (see :mod:`wbe.engine.brain`)."""

    model_config = ConfigDict(extra="forbid")
    neurons_per_region: int = Field(200, ge=2, description="LIF neurons per region (E + I)")
    frac_exc: float = Field(0.8, gt=0, lt=1, description="fraction of excitatory neurons")
    p_local: float = Field(0.1, gt=0, le=1, description="local in-degree as a fraction of the "
                           "region's source population (fixed in-degree)")
    J_pA: float = Field(87.8, gt=0, description="local excitatory weight, pA (0.15 mV PSP of "
                        "the PD14 neuron)")
    g: float = Field(4.0, ge=0, description="inhibitory weight = -g·J_pA")
    k_long: float = Field(20.0, ge=0, description="long-range E→E in-degree of an E neuron "
                          "averaged over regions; per source ∝ TVB weight")
    J_long_pA: float | None = Field(None, description="long-range weight, pA (None = J_pA)")
    velocity_m_per_s: float = Field(3.0, gt=0, description="conduction velocity, m/s "
                                    "(delay ms = tract length mm / velocity)")
    local_delay_ms: float = Field(1.5, gt=0, description="delay of local synapses, ms")
    min_delay_ms: float = Field(0.1, gt=0, description="lower bound of long-range delays, ms")
    neuron_params: dict[str, float] = Field(
        {}, description="iaf_psc_exp parameters (NEST names/units) overriding the PD14 neuron")
    seed: int = Field(1, ge=0, description="seed of the random wiring")
    null_model_seed: int | None = Field(
        None, description="when set, the TVB weights are replaced by a degree-preserving "
        "Maslov–Sneppen rewiring with this seed (tract lengths travel with the edges)")


class Params(BaseModel):
    """Parameters of the connectome stage."""

    model_config = ConfigDict(extra="forbid")

    source: str = Field(
        "touch", description="'touch' (synapses from the morphology stage's skeletons), "
        "'cect:<Dataset>' (e.g. cect:Cook2019Herm) or 'tvb:<N>' (e.g. tvb:96)",
        pattern=r"^(touch|cect:[A-Za-z0-9_]+|tvb:[0-9]+)$",
    )

    touch_distance_um: float = Field(
        0.1, description="largest surface gap between skeleton nodes that counts as a touch, µm",
        ge=0,
    )
    min_synapse_spacing_um: float = Field(
        1.0, description="contacts of one directed pair closer than this (µm) are one synapse",
        ge=0,
    )
    direction: Literal["auto", "typed", "symmetric"] = Field(
        "auto", description="how touches become directed synapses (see module doc)"
    )
    pre_types: list[int] = Field([2], description="SWC types that can be presynaptic (typed)")
    post_types: list[int] = Field(
        [1, 2, 3, 4], description="SWC types that can be postsynaptic (typed); axon included "
        "because C. elegans synapses are mostly en passant between neurites NeuroML calls axon"
    )
    merge_fragments: bool = Field(
        True, description="merge segments named '<name>~k' into the neuron '<name>'"
    )
    min_synapses: int = Field(1, description="edges with fewer synapses are dropped", ge=1)
    model: str = Field("iaf_psc_exp", description="NEST neuron model of the population")
    neuron_params: dict[str, float] = Field(
        {}, description="NEST parameters (NEST units: mV, ms, pF, pA); others take NEST defaults"
    )
    weight_per_synapse_pA: float = Field(
        20.0, description="edge weight per synapse, pA (iaf_psc_*); weight = n × this", gt=0
    )
    delay_ms: float = Field(1.0, description="synaptic delay, ms", gt=0)
    chunk_nodes: int = Field(
        100_000, description="query nodes per cKDTree chunk (memory bound)", ge=1000
    )
    gap_conductance_per_junction_nS: float = Field(
        0.5, ge=0, description="cect: gap-junction conductance per counted junction, nS "
        "(weight = count × this)")
    sign_from_neurotransmitter: bool = Field(
        True, description="cect: GABA-only cells (Wang et al. 2024 atlas) inhibit, all others "
        "excite; False = all excitatory")
    drop_self_connections: bool = Field(
        False, description="cect: drop autapses and self gap junctions (kept by default so "
        "edge counts equal cect's)")
    tvb: TvbParams = Field(default_factory=TvbParams)


def upstream(params: Params) -> tuple[str, ...]:
    """Stages this one reads: the morphology for touch detection, nothing for imports."""
    return ("morphology",) if params.source == "touch" else ()


# --------------------------------------------------------------------------------------------


def detect_touches(
    xyz: np.ndarray, radius: np.ndarray, neuron: np.ndarray, touch_distance_um: float, *,
    chunk_nodes: int = 100_000, n_radius_classes: int = 3,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All node pairs (i < j) of different ``neuron`` whose surface gap
    ``|xyz_i - xyz_j| - r_i - r_j`` ≤ ``touch_distance_um`` (all µm).

    Returns (i, j, gap_um), sorted by (i, j). Nodes are grouped into radius classes (quantiles)
    so each class pair searches only up to its own max radii; query nodes go in chunks.
    """
    from scipy.spatial import cKDTree

    xyz = np.asarray(xyz, float)
    radius = np.asarray(radius, float)
    neuron = np.asarray(neuron)
    n = len(xyz)
    if n < 2:
        e = np.zeros(0, np.int64)
        return e, e, np.zeros(0)
    qs = np.unique(np.quantile(radius, np.linspace(0, 1, n_radius_classes + 1)[1:-1]))
    cls = np.searchsorted(qs, radius, side="left")
    members = [np.flatnonzero(cls == c) for c in range(len(qs) + 1)]
    members = [m for m in members if len(m)]
    trees = [cKDTree(xyz[m]) for m in members]
    rmax = [float(radius[m].max()) for m in members]
    ii, jj, gg = [], [], []
    for a, ma in enumerate(members):
        for b in range(a, len(members)):
            mb = members[b]
            reach = rmax[a] + rmax[b] + touch_distance_um
            for s in range(0, len(ma), chunk_nodes):
                qa = ma[s:s + chunk_nodes]
                sdm = cKDTree(xyz[qa]).sparse_distance_matrix(
                    trees[b], reach, output_type="ndarray")
                if len(sdm) == 0:
                    continue
                i, j, d = qa[sdm["i"]], mb[sdm["j"]], sdm["v"]
                gap = d - radius[i] - radius[j]
                ok = (gap <= touch_distance_um) & (neuron[i] != neuron[j])
                if a == b:
                    ok &= i < j
                ii.append(i[ok])
                jj.append(j[ok])
                gg.append(gap[ok])
    if not ii:
        e = np.zeros(0, np.int64)
        return e, e, np.zeros(0)
    i, j, g = np.concatenate(ii), np.concatenate(jj), np.concatenate(gg)
    if len(i) == 0:
        e = np.zeros(0, np.int64)
        return e, e, np.zeros(0)
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    order = np.lexsort((hi, lo))
    lo, hi, g = lo[order], hi[order], g[order]
    keep = np.r_[True, (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])]
    return lo[keep].astype(np.int64), hi[keep].astype(np.int64), g[keep]


def direct_touches(
    i: np.ndarray, j: np.ndarray, types: np.ndarray, direction: str = "auto",
    pre_types: tuple[int, ...] = (2,), post_types: tuple[int, ...] = (1, 2, 3, 4),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Turn undirected touches (node i, node j) into directed contacts (pre node, post node).

    Returns (pre_node, post_node, touch_index) with ``touch_index`` into the inputs."""
    types = np.asarray(types)
    if direction == "auto":
        direction = "typed" if np.any(types == 2) else "symmetric"
    k = np.arange(len(i))
    if direction == "symmetric":
        return np.r_[i, j], np.r_[j, i], np.r_[k, k]
    if direction != "typed":
        raise ValueError(f"direction must be auto, typed or symmetric, got {direction!r}")
    ti, tj = types[i], types[j]
    fwd = np.isin(ti, pre_types) & np.isin(tj, post_types)
    bwd = np.isin(tj, pre_types) & np.isin(ti, post_types)
    return np.r_[i[fwd], j[bwd]], np.r_[j[fwd], i[bwd]], np.r_[k[fwd], k[bwd]]


def cluster_contacts(
    pre: np.ndarray, post: np.ndarray, pos: np.ndarray, gap: np.ndarray, spacing_um: float
) -> np.ndarray:
    """Greedy non-maximum suppression of contacts per directed (pre, post) neuron pair.

    Contacts are visited in order of increasing gap; a contact is kept unless a kept contact of
    the same pair lies closer than ``spacing_um`` (µm). Returns indices of kept contacts."""
    from scipy.spatial import cKDTree

    n = len(pre)
    if n == 0:
        return np.zeros(0, np.int64)
    order = np.lexsort((np.arange(n), gap, post, pre))
    pre_s, post_s = pre[order], post[order]
    starts = np.flatnonzero(np.r_[True, (pre_s[1:] != pre_s[:-1]) | (post_s[1:] != post_s[:-1])])
    ends = np.r_[starts[1:], n]
    kept = []
    for s, e in zip(starts.tolist(), ends.tolist()):
        idx = order[s:e]  # sorted by gap within the pair
        if e - s == 1 or spacing_um <= 0:
            kept.extend(idx.tolist())
            continue
        p = pos[idx]
        nbrs = cKDTree(p).query_ball_point(p, r=spacing_um * (1 - 1e-12), return_sorted=False)
        alive = np.ones(e - s, bool)
        for a in range(e - s):
            if alive[a]:
                kept.append(int(idx[a]))
                alive[nbrs[a]] = False
                alive[a] = False
    return np.sort(np.asarray(kept, np.int64))


def base_name(name: str) -> str:
    """Neuron name without the segmentation fragment suffix ``~k``."""
    return name.split("~", 1)[0]


def find_synapses(nodes: pd.DataFrame, neuron_names: dict[int, str], params: Params) -> tuple[
        pd.DataFrame, list[str], np.ndarray, dict]:
    """Synapses from a node table (``morphology.NODE_COLUMNS``, µm).

    Returns (synapses DataFrame with SYNAPSE_COLUMNS, pre/post = index into ``names``;
    ``names`` the sorted neuron names; soma positions (n, 3) µm; counts dict)."""
    seg_ids = nodes["neuron_id"].to_numpy()
    seg_name = {int(k): (base_name(v) if params.merge_fragments else v)
                for k, v in neuron_names.items()}
    for sid in np.unique(seg_ids).tolist():
        seg_name.setdefault(int(sid), str(sid))
    names = sorted({seg_name[int(s)] for s in np.unique(seg_ids).tolist()})
    index = {nm: k for k, nm in enumerate(names)}
    lut = {s: index[seg_name[s]] for s in np.unique(seg_ids).tolist()}
    neuron = np.fromiter((lut[s] for s in seg_ids.tolist()), np.int64, len(seg_ids))
    xyz = nodes[["x", "y", "z"]].to_numpy(float)
    radius = nodes["radius"].to_numpy(float)
    types = nodes["type"].to_numpy()
    # soma positions
    soma = np.full((len(names), 3), np.nan)
    score = np.where(types == 1, radius + 1e6, radius)
    order = np.lexsort((score, neuron))
    last = np.r_[neuron[order][1:] != neuron[order][:-1], True]
    best = order[last]
    soma[neuron[best]] = xyz[best]
    i, j, gap = detect_touches(xyz, radius, neuron, params.touch_distance_um,
                               chunk_nodes=params.chunk_nodes)
    pn, qn, k = direct_touches(i, j, types, params.direction, tuple(params.pre_types),
                               tuple(params.post_types))
    # contact point: midpoint between the two surfaces along the centre line
    ci, cj = xyz[pn], xyz[qn]
    d = np.linalg.norm(cj - ci, axis=1)
    u = np.divide(cj - ci, d[:, None], out=np.zeros_like(ci), where=d[:, None] > 0)
    pos = ci + u * ((d + radius[pn] - radius[qn]) / 2.0)[:, None]
    pre_n, post_n = neuron[pn], neuron[qn]
    keep = cluster_contacts(pre_n, post_n, pos, gap[k], params.min_synapse_spacing_um)
    syn = pd.DataFrame({
        "pre": pre_n[keep].astype(np.int64), "post": post_n[keep].astype(np.int64),
        "x": pos[keep, 0], "y": pos[keep, 1], "z": pos[keep, 2],
        "distance_um": gap[k][keep],
    })
    syn["pre_name"] = [names[v] for v in syn["pre"].tolist()]
    syn["post_name"] = [names[v] for v in syn["post"].tolist()]
    syn = syn.sort_values(["pre", "post", "x", "y", "z"], kind="stable").reset_index(drop=True)
    counts = {"n_touches": int(len(i)), "n_contacts": int(len(pn)), "n_synapses": int(len(syn))}
    return syn[SYNAPSE_COLUMNS], names, soma, counts


def build_network(
    names: list[str], soma_xyz: np.ndarray, synapses: pd.DataFrame, params: Params
) -> Network:
    """The in-memory model: population ``neurons`` (one node per name) and projection
    ``chemical`` with one edge per (pre, post) pair having ≥ ``min_synapses`` synapses."""
    n = len(names)
    attrs = {"name": np.asarray(names, dtype=str)}
    for c, k in zip("xyz", range(3)):
        attrs[c] = np.asarray(soma_xyz[:, k], float) if n else np.zeros(0)
    pop = Population("neurons", params.model, n, dict(params.neuron_params), attrs)
    if len(synapses):
        pairs = synapses.groupby(["pre", "post"], sort=True).size()
        pairs = pairs[pairs >= params.min_synapses]
        src = pairs.index.get_level_values(0).to_numpy(np.int64)
        tgt = pairs.index.get_level_values(1).to_numpy(np.int64)
        cnt = pairs.to_numpy(np.int64)
    else:
        src = tgt = cnt = np.zeros(0, np.int64)
    proj = Projection(
        name="chemical", source="neurons", target="neurons", source_ids=src, target_ids=tgt,
        weight=cnt.astype(float) * params.weight_per_synapse_pA,
        delay_ms=np.full(len(src), float(params.delay_ms)), kind="chemical",
        attributes={"n_synapses": cnt},
    )
    return Network(populations=[pop], projections=[proj])


def connectome_matrix(
    network: Network, projection: str = "chemical", count_attribute: str | None = "n_synapses"
) -> tuple[sp.csr_matrix, list[str]]:
    """Adjacency (scipy.sparse CSR, [pre, post] = n synapses, or the weight when
    ``count_attribute`` is None or missing) and the node names of the projection's source
    population (the same as the target's here)."""
    import scipy.sparse as sp

    proj = next((p for p in network.projections if p.name == projection), None)
    if proj is None:
        raise KeyError(f"no projection {projection!r}")
    src_pop = network.population(proj.source)
    tgt_pop = network.population(proj.target)
    vals = (proj.attributes.get(count_attribute) if count_attribute else None)
    vals = np.asarray(proj.weight if vals is None else vals, float)
    m = sp.csr_matrix((vals, (proj.source_ids, proj.target_ids)), shape=(src_pop.n, tgt_pop.n))
    names = [str(v) for v in src_pop.attributes.get("name", np.arange(src_pop.n))]
    return m, names


def load_connectome_matrix(out_dir: Path) -> tuple[sp.csr_matrix, list[str]]:
    """Adjacency (scipy.sparse CSR of synapse counts) and neuron names from a connectome
    stage folder (``synapses.parquet`` + ``neurons.csv`` written beside it)."""
    import scipy.sparse as sp

    out_dir = Path(out_dir)
    with open(out_dir / "neurons.csv", newline="") as fh:
        names = [r["name"] for r in csv.DictReader(fh)]
    syn = pd.read_parquet(out_dir / "synapses.parquet")
    m = sp.csr_matrix((np.ones(len(syn)), (syn["pre"].to_numpy(), syn["post"].to_numpy())),
                      shape=(len(names), len(names)))
    m.sum_duplicates()
    return m, names


def import_network(params: Params) -> tuple[Network, dict]:
    """The network of a ``cect:`` or ``tvb:`` source and a summary of it."""
    from wbe import importers

    kind, arg = importers.parse_source(params.source)
    if kind == "cect":
        return importers.cect_network(
            arg, model=params.model, neuron_params=params.neuron_params,
            weight_per_synapse_pA=params.weight_per_synapse_pA,
            gap_conductance_per_junction_nS=params.gap_conductance_per_junction_nS,
            delay_ms=params.delay_ms, sign_from_neurotransmitter=params.sign_from_neurotransmitter,
            drop_self_connections=params.drop_self_connections)
    if kind == "tvb":
        from wbe.engine.brain import region_network

        conn = importers.load_tvb(int(arg))
        tp = params.tvb
        w, tl = conn.weights, conn.tract_lengths_mm
        if tp.null_model_seed is not None:
            w, tl = importers.degree_preserving_null(w, tp.null_model_seed, extra=tl)
        net = region_network(
            conn.n_regions, tp.neurons_per_region, weights=w, tract_lengths_mm=tl,
            labels=conn.labels, centres_mm=conn.centres_mm, frac_exc=tp.frac_exc,
            p_local=tp.p_local, J_pA=tp.J_pA, g=tp.g, k_long=tp.k_long, J_long_pA=tp.J_long_pA,
            velocity_m_per_s=tp.velocity_m_per_s, local_delay_ms=tp.local_delay_ms,
            min_delay_ms=tp.min_delay_ms, neuron_params=tp.neuron_params, seed=tp.seed)
        summary = {"source": params.source, "n_regions": conn.n_regions,
                   "n_neurons": net.n_total, "weight_unit": "TVB (arbitrary units)",
                   "null_model_seed": tp.null_model_seed,
                   **{f"n_edges_{p.name}": len(p) for p in net.projections}}
        return net, summary
    raise ValueError(f"source {params.source!r} is not an import")


def _write_import(params: Params, out_dir: Path) -> dict:
    """Write the SONATA circuit of an imported source, ``neurons.csv`` and, for cect, a
    ``synapses.parquet`` with one row per chemical (pre, post) pair (positions NaN; ``count`` =
    cect's number in ``count_unit``); for tvb, ``connectivity.npz`` (the weights and tract
    lengths used: ``weights``, ``tract_lengths_mm``, ``labels``, ``centres_mm``)."""
    from wbe import importers
    from wbe.sonata import write_circuit

    t0 = time.perf_counter()
    net, summary = import_network(params)
    write_circuit(out_dir, net)
    with open(out_dir / "neurons.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        cols = [c for c in ("name", "cell_class", "neurotransmitter", "region", "x", "y", "z")
                if any(c in p.attributes for p in net.populations)]
        w.writerow(["population", "node_id", *cols])
        for p in net.populations:
            vals = [np.asarray(p.attributes.get(c, np.full(p.n, ""))) for c in cols]
            for k in range(p.n):
                w.writerow([p.name, k, *(v[k] for v in vals)])
    kind, arg = importers.parse_source(params.source)
    if kind == "cect":
        pop = net.populations[0]
        chem = next(p for p in net.projections if p.name == "chemical")
        names = np.asarray(pop.attributes["name"])
        syn = pd.DataFrame({
            "pre": chem.source_ids, "post": chem.target_ids,
            "x": np.nan, "y": np.nan, "z": np.nan, "distance_um": np.nan,
            "pre_name": names[chem.source_ids], "post_name": names[chem.target_ids],
            "count": chem.attributes["count"], "count_unit": chem.attributes["count_unit"]})
        syn.to_parquet(out_dir / "synapses.parquet", index=False)
    else:
        conn = importers.load_tvb(int(arg))
        wts, tl = conn.weights, conn.tract_lengths_mm
        if params.tvb.null_model_seed is not None:
            wts, tl = importers.degree_preserving_null(wts, params.tvb.null_model_seed, extra=tl)
        np.savez(out_dir / "connectivity.npz", weights=wts, tract_lengths_mm=tl,
                 labels=np.asarray(conn.labels, dtype=str), centres_mm=conn.centres_mm)
    summary["wall_s"] = round(time.perf_counter() - t0, 3)
    return summary


def run(params: Params, inputs: dict[str, Path], out_dir: Path, *, progress: bool = True) -> dict:
    """Write ``synapses.parquet``, ``neurons.csv`` (node id, name, soma x, y, z µm) and the
    SONATA circuit from the morphology output ``inputs['morphology']`` (``source: touch``), or
    the imported circuit of a ``cect:``/``tvb:`` source (:func:`import_network`)."""
    from wbe.sonata import write_circuit

    out_dir = Path(out_dir)
    if params.source != "touch":
        return _write_import(params, out_dir)
    t0 = time.perf_counter()
    morph = Path(inputs["morphology"])
    nodes = pd.read_parquet(morph / "nodes.parquet")
    with open(morph / "neurons.csv", newline="") as fh:
        seg_names = {int(r["neuron_id"]): r["name"] for r in csv.DictReader(fh)}
    syn, names, soma, counts = find_synapses(nodes, seg_names, params)
    net = build_network(names, soma, syn, params)
    syn.to_parquet(out_dir / "synapses.parquet", index=False)
    with open(out_dir / "neurons.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["node_id", "name", "x", "y", "z"])
        for k, nm in enumerate(names):
            w.writerow([k, nm, *(f"{v:.4f}" for v in soma[k])])
    write_circuit(out_dir, net)
    proj = net.projections[0]
    return {
        "n_neurons": len(names), **counts, "n_edges": len(proj),
        "mean_synapses_per_edge": round(float(np.mean(proj.attributes["n_synapses"])), 3)
        if len(proj) else 0.0,
        "wall_s": round(time.perf_counter() - t0, 3),
    }


__all__ = ["Params", "TvbParams", "run", "upstream", "import_network", "detect_touches", "direct_touches", "cluster_contacts",
           "find_synapses", "build_network", "connectome_matrix", "load_connectome_matrix",
           "base_name", "SYNAPSE_COLUMNS"]
