"""Synapses from skeleton appositions (the connectome stage's ``source: touch``) and the network
they make, written as a SONATA circuit by :mod:`wbe.stages.connectome`.

Touch detection: two skeleton nodes of different neurons touch where the gap between their
spheres, ``|c_a - c_b| - r_a - r_b``, is ≤ ``touch_distance_um`` (cKDTree
``sparse_distance_matrix`` per geometric radius class pair and chunk of query nodes, so a few
large soma nodes do not widen the search of all others).

Contacts: for every node ``i`` that can be presynaptic and every other neuron ``B`` it touches,
one contact — with the node of ``B`` (that can be postsynaptic) nearest to ``i``'s surface. In a
dense EM segmentation every skeleton node (kimimaro places one per voxel step along the centre
line) touches dozens of facing nodes of each neighbour, so node *pairs* grow with the square of
the node density along a whole apposition surface; contacts grow only linearly (one per node
and neighbouring neuron) and are formed per chunk of query nodes, so the pairs are never held.

Direction (``direction``): ``typed`` — node ``i`` can be presynaptic when its SWC type is in
``pre_types`` (default axon) and its partner node postsynaptic when its type is in
``post_types`` (default soma, dendrite, apical dendrite, axon); ``symmetric`` — every node both
ways; ``auto`` — ``typed`` when any node has type 2 (axon), else ``symmetric``.

Synapses: contacts of the same directed neuron pair closer than ``min_synapse_spacing_um`` are
one synapse — greedy non-maximum suppression in order of increasing gap (ties: presynaptic node
order), so kept synapses of a pair are ≥ the spacing apart and a long apposition yields synapses
in proportion to its length. In a dense segmentation a synapse is therefore a site of membrane
apposition between two neurons, at most one per ``min_synapse_spacing_um`` of it — a
structural ("Peters' rule") estimate, not an identified chemical synapse. A synapse's position
is the midpoint between the two node surfaces along the centre line.

Block-wise (``block_um``): space is cut into cubes; each cube finds the contacts of the nodes
whose centres it holds, using a halo of every node that can reach them, so the union is exactly
the whole-set result; the contacts are then clustered per neuron pair in shards. Dask runs the
blocks (:mod:`wbe.anatomy.blockwise`: ``workers`` local processes, or a distributed cluster).

Neurons: segments named ``<name>~k`` (fragments from segmentation) merge into neuron
``<name>`` when ``merge_fragments`` is set. Network: one population ``neurons`` (attributes
name, x, y, z = soma position in µm: the largest type-1 node, else the largest node), one
chemical projection ``chemical`` with weight = n_synapses × ``weight_per_synapse_pA``
(excitatory) and delay ``delay_ms``; edge attribute ``n_synapses``.

Other sources of the stage (``source``): ``cect:<Dataset>`` imports a C. elegans connectome from cect
(neurons with cell class and neurotransmitter, chemical edges and a symmetric gap-junction edge
population; see :mod:`wbe.connectome.importers`), ``tvb:<N>`` builds a region-level spiking brain from a
tvb-data connectivity (:func:`wbe.networks.regions.region_network`), optionally with the
connectivity replaced by a degree-preserving null model (``tvb.null_model_seed``). Neither
needs the morphology stage (:func:`wbe.stages.connectome.upstream`).

Why one module of ~600 lines: the whole-volume and the block-wise touch detection
(:func:`contacts_whole`, :func:`contacts_blockwise`) and the clustering into synapses are one
algorithm whose two paths must give identical synapses (a test compares them); side by side is
what keeps them in step.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from wbe.anatomy.blockwise import box_distance, compute, point_blocks
from wbe.engine.network import Network, Population, Projection

if TYPE_CHECKING:  # the stage's parameters (the stage module imports this one)
    from wbe.stages.connectome import Params

if TYPE_CHECKING:
    import scipy.sparse as sp

SYNAPSE_COLUMNS = ["pre", "post", "x", "y", "z", "distance_um", "pre_name", "post_name",
                   "post_segment", "post_node_id"]
#: One directed contact: neuron pair (indices), the two nodes (row keys of the node table),
#: surface gap (µm) and the contact point (µm).
CONTACT_COLUMNS = ["pre", "post", "pre_node", "post_node", "distance_um", "x", "y", "z"]
CONTACT_DTYPES = {"pre": "int64", "post": "int64", "pre_node": "int64", "post_node": "int64",
                  "distance_um": "float64", "x": "float64", "y": "float64", "z": "float64"}












# --------------------------------------------------------------------------------------------
# touch detection


def _gap(xyz: np.ndarray, radius: np.ndarray, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Surface gap ``|c_i - c_j| - r_i - r_j`` of node pairs, computed the same way (and so to
    the same bits) wherever a pair is evaluated: in the whole node set or in any block."""
    d = xyz[i] - xyz[j]
    return np.sqrt((d * d).sum(1)) - radius[i] - radius[j]


def _class_trees(xyz: np.ndarray, radius: np.ndarray):
    """Nodes split by radius class (:func:`_radius_classes`): (class of each node, classes,
    member indices per class, a KD-tree per class, largest radius per class, eps). ``eps``
    widens KD-tree queries so the tree's own rounding never drops a pair :func:`_gap`
    accepts."""
    from scipy.spatial import cKDTree

    cls = _radius_classes(radius)
    classes = np.unique(cls)
    members = [np.flatnonzero(cls == c) for c in classes]
    trees = [cKDTree(xyz[m]) for m in members]
    rmax = [float(radius[m].max()) for m in members]
    eps = 1e-9 * (1.0 + float(np.abs(xyz).max(initial=0.0)) + max(rmax, default=0.0))
    return cls, classes, members, trees, rmax, eps


def _radius_classes(radius: np.ndarray, ratio: float = 2.0) -> np.ndarray:
    """Geometric radius classes (each spans a factor ``ratio``): a class pair searches up to the
    sum of its own largest radii, which is at most ``ratio`` × what its nodes need, so a few
    large (soma) nodes never widen the search of the many thin ones."""
    pos = radius[radius > 0]
    r0 = float(pos.min()) if len(pos) else 1.0
    return np.floor(np.log(np.maximum(radius, r0) / r0) / np.log(ratio)).astype(np.int64)


def _touching_pairs(
    xyz: np.ndarray, radius: np.ndarray, neuron: np.ndarray, touch_distance_um: float,
    query: np.ndarray, chunk_nodes: int,
):
    """Yield, per chunk of query nodes, the arrays (i, j, gap) of every pair of a query node i
    and any node j of another neuron with gap ≤ ``touch_distance_um`` (both directions appear
    when both nodes are queried). Memory is bounded by one chunk's KD-tree candidates."""
    from scipy.spatial import cKDTree

    cls, classes, members, trees, rmax, eps = _class_trees(xyz, radius)
    qcls = cls[query]
    for ca in classes.tolist():
        qa_all = query[qcls == ca]
        for s in range(0, len(qa_all), chunk_nodes):
            qa = qa_all[s:s + chunk_nodes]
            qtree = cKDTree(xyz[qa])
            ra = float(radius[qa].max())
            ii, jj, gg = [], [], []
            for mb, tb, rb in zip(members, trees, rmax):
                sdm = qtree.sparse_distance_matrix(tb, ra + rb + touch_distance_um + eps,
                                                   output_type="ndarray")
                if len(sdm) == 0:
                    continue
                i, j = qa[sdm["i"]], mb[sdm["j"]]
                del sdm
                other = neuron[i] != neuron[j]
                i, j = i[other], j[other]
                g = _gap(xyz, radius, i, j)
                t = g <= touch_distance_um
                ii.append(i[t])
                jj.append(j[t])
                gg.append(g[t])
            if ii:
                yield np.concatenate(ii), np.concatenate(jj), np.concatenate(gg)


def detect_touches(
    xyz: np.ndarray, radius: np.ndarray, neuron: np.ndarray, touch_distance_um: float, *,
    chunk_nodes: int = 100_000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All node pairs (i < j) of different ``neuron`` whose surface gap
    ``|xyz_i - xyz_j| - r_i - r_j`` ≤ ``touch_distance_um`` (all µm).

    Returns (i, j, gap_um), sorted by (i, j). Nodes are grouped into geometric radius classes
    so each class pair searches only up to its own largest radii; query nodes go in chunks.
    In a dense segmentation this list grows with the square of the node density along the
    skeletons (every node touches every facing node of its neighbour); the connectome uses
    :func:`node_contacts`, which keeps one partner per node and neuron instead.
    """
    xyz = np.asarray(xyz, float)
    radius = np.asarray(radius, float)
    neuron = np.asarray(neuron)
    e = np.zeros(0, np.int64)
    if len(xyz) < 2:
        return e, e, np.zeros(0)
    ii, jj, gg = [e], [e], [np.zeros(0)]
    for i, j, g in _touching_pairs(xyz, radius, neuron, touch_distance_um,
                                   np.arange(len(xyz)), chunk_nodes):
        lo = i < j
        ii.append(i[lo])
        jj.append(j[lo])
        gg.append(g[lo])
    i, j, g = np.concatenate(ii), np.concatenate(jj), np.concatenate(gg)
    order = np.lexsort((j, i))
    return i[order].astype(np.int64), j[order].astype(np.int64), g[order]


def node_contacts(
    xyz: np.ndarray, radius: np.ndarray, neuron: np.ndarray, touch_distance_um: float, *,
    pre_ok: np.ndarray | None = None, post_ok: np.ndarray | None = None,
    query: np.ndarray | None = None, key: np.ndarray | None = None, chunk_nodes: int = 100_000,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Directed contacts of the ``query`` nodes (default: all): for every query node ``i`` that
    can be presynaptic (``pre_ok[i]``) and every other neuron ``B`` within reach, the node ``j``
    of ``B`` that can be postsynaptic (``post_ok[j]``) with the smallest surface gap, if that
    gap is ≤ ``touch_distance_um`` (ties: smallest ``key``; ``key`` defaults to the index).

    Returns (pre node i, post node j, gap µm, n_touches) sorted by ``key[i]`` then the neuron of
    ``j``. ``n_touches`` counts the touching node pairs (any types) whose smaller-``key`` node is
    a query node, so counts over disjoint query sets add up to the total. Every value depends
    only on the query node and the nodes within its reach, which is what makes block-wise
    detection (:func:`contacts_blockwise`) exact.
    """
    xyz = np.asarray(xyz, float)
    radius = np.asarray(radius, float)
    neuron = np.asarray(neuron)
    n = len(xyz)
    key = np.arange(n, dtype=np.int64) if key is None else np.asarray(key, np.int64)
    query = np.arange(n, dtype=np.int64) if query is None else np.asarray(query, np.int64)
    pre_ok = np.ones(n, bool) if pre_ok is None else np.asarray(pre_ok, bool)
    post_ok = np.ones(n, bool) if post_ok is None else np.asarray(post_ok, bool)
    e = np.zeros(0, np.int64)
    pi, pj, pg, n_touch = [e], [e], [np.zeros(0)], 0
    if n >= 2 and len(query):
        for i, j, g in _touching_pairs(xyz, radius, neuron, touch_distance_um, query,
                                       chunk_nodes):
            n_touch += int(np.count_nonzero(key[i] < key[j]))
            ok = pre_ok[i] & post_ok[j]
            if not ok.any():
                continue
            i, j, g = i[ok], j[ok], g[ok]
            # one contact per (pre node, post neuron): the nearest node of that neuron
            order = np.lexsort((key[j], g, neuron[j], key[i]))
            i, j, g = i[order], j[order], g[order]
            first = np.r_[True, (i[1:] != i[:-1]) | (neuron[j[1:]] != neuron[j[:-1]])]
            pi.append(i[first])
            pj.append(j[first])
            pg.append(g[first])
    i, j, g = np.concatenate(pi), np.concatenate(pj), np.concatenate(pg)
    order = np.lexsort((neuron[j], key[i]))
    return i[order], j[order], g[order], n_touch


def contact_table(
    xyz: np.ndarray, radius: np.ndarray, neuron: np.ndarray, key: np.ndarray,
    pre: np.ndarray, post: np.ndarray, gap: np.ndarray,
) -> pd.DataFrame:
    """Contacts as a table (CONTACT_COLUMNS): neuron pair, the two nodes' ``key``, the gap and
    the contact point — the midpoint between the two node surfaces along the centre line."""
    ci, cj = xyz[pre], xyz[post]
    d = np.sqrt(((cj - ci) ** 2).sum(1))
    u = np.divide(cj - ci, d[:, None], out=np.zeros_like(ci), where=d[:, None] > 0)
    pos = ci + u * ((d + radius[pre] - radius[post]) / 2.0)[:, None]
    return pd.DataFrame({
        "pre": neuron[pre].astype(np.int64), "post": neuron[post].astype(np.int64),
        "pre_node": key[pre].astype(np.int64), "post_node": key[post].astype(np.int64),
        "distance_um": gap.astype(float), "x": pos[:, 0], "y": pos[:, 1], "z": pos[:, 2],
    }, columns=CONTACT_COLUMNS)


def _block_contacts(
    xyz: np.ndarray, radius: np.ndarray, neuron: np.ndarray, key: np.ndarray,
    pre_ok: np.ndarray, post_ok: np.ndarray, n_own: int, touch_distance_um: float,
    chunk_nodes: int, n_shards: int,
) -> tuple:
    """One block: the contacts of its own nodes (the first ``n_own``) among own + halo nodes,
    split into ``n_shards`` tables by neuron pair (see :func:`_shard_of`), and its touch
    count. Returns (table_0, ..., table_{n_shards-1}, n_touches)."""
    i, j, g, n_touch = node_contacts(
        xyz, radius, neuron, touch_distance_um, pre_ok=pre_ok, post_ok=post_ok,
        query=np.arange(n_own), key=key, chunk_nodes=chunk_nodes)
    tab = contact_table(xyz, radius, neuron, key, i, j, g)
    shard = _shard_of(tab["pre"].to_numpy(), tab["post"].to_numpy(), n_shards)
    return (*(tab[shard == s].reset_index(drop=True) for s in range(n_shards)), n_touch)


def _shard_of(pre: np.ndarray, post: np.ndarray, n_shards: int) -> np.ndarray:
    """Shard of each directed neuron pair: all contacts of a pair land in one shard."""
    h = (pre.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)) ^ post.astype(np.uint64)
    return (h % np.uint64(n_shards)).astype(np.int64)


def _cluster_shard(parts: list[pd.DataFrame], spacing_um: float) -> tuple[pd.DataFrame, int]:
    """Greedy non-maximum suppression of one shard's contacts (all blocks' pieces of it);
    returns (kept contacts, number of contacts)."""
    tab = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=CONTACT_COLUMNS)
    keep = cluster_contacts(tab["pre"].to_numpy(), tab["post"].to_numpy(),
                            tab[["x", "y", "z"]].to_numpy(float), tab["distance_um"].to_numpy(),
                            spacing_um, key=tab["pre_node"].to_numpy())
    return tab.iloc[keep].reset_index(drop=True), len(tab)


def block_halos(
    xyz: np.ndarray, radius: np.ndarray, touch_distance_um: float, block_um: float,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Partition of the nodes into cubes of edge ``block_um`` (each node in the one cube that
    holds its centre) and each cube's halo: every other node that can touch one of the cube's
    nodes — ``j`` with distance(c_j, bounding box of the cube's nodes) ≤ r_max(cube) + r_j +
    ``touch_distance_um``. Returns [(own node indices, halo node indices)] per non-empty cube.

    The halo is per node: a large soma reaches into cubes its centre is far from, and a cube
    holding a soma reaches far, while thin neurites of thin cubes reach only a little."""
    blk, grid, _ = point_blocks(xyz, block_um)
    cls, classes, members, trees, rmax, eps = _class_trees(xyz, radius)
    order = np.argsort(blk, kind="stable")
    bounds = np.searchsorted(blk[order], np.arange(len(grid) + 1))
    out = []
    for b in range(len(grid)):
        own = np.sort(order[bounds[b]:bounds[b + 1]])
        lo, hi = xyz[own].min(0), xyz[own].max(0)
        centre, half = (lo + hi) / 2.0, float(np.linalg.norm(hi - lo)) / 2.0
        reach = float(radius[own].max()) + touch_distance_um + eps
        cand = [m[np.asarray(t.query_ball_point(centre, half + reach + r), np.int64)]
                for m, t, r in zip(members, trees, rmax)]
        cand = np.concatenate(cand) if cand else np.zeros(0, np.int64)
        cand = cand[blk[cand] != b]
        near = box_distance(xyz[cand], lo, hi) <= reach + radius[cand]
        out.append((own, np.sort(cand[near])))
    return out


def contacts_blockwise(
    xyz: np.ndarray, radius: np.ndarray, neuron: np.ndarray, touch_distance_um: float,
    spacing_um: float, *, block_um: float, pre_ok: np.ndarray | None = None,
    post_ok: np.ndarray | None = None, chunk_nodes: int = 100_000, scheduler=None,
    workers: int = 1, n_shards: int | None = None, progress: bool = False,
) -> tuple[pd.DataFrame, dict]:
    """:func:`node_contacts` on all nodes, then :func:`cluster_contacts`, block-wise with Dask.

    Space is cut into cubes of ``block_um`` (:func:`block_halos`). A contact is owned by the
    cube holding its presynaptic node, and every node that can touch that node is in the cube
    or its halo, so each cube computes its own nodes' contacts exactly as the whole node set
    would, and the union over cubes is the whole-set contact list, each contact once. The
    contacts are then sharded by directed neuron pair and each shard clustered on its own
    (the greedy clustering only compares contacts of one pair). Memory per task: one cube
    with its halo, or one shard of the contacts.

    Returns (synapses: the kept contacts, CONTACT_COLUMNS, sorted by pre, post, pre_node;
    counts {n_touches, n_contacts, n_synapses, n_blocks, ...}).
    """
    import dask

    xyz = np.asarray(xyz, float)
    radius = np.asarray(radius, float)
    neuron = np.asarray(neuron, np.int64)
    n = len(xyz)
    pre_ok = np.ones(n, bool) if pre_ok is None else np.asarray(pre_ok, bool)
    post_ok = np.ones(n, bool) if post_ok is None else np.asarray(post_ok, bool)
    n_shards = max(1, int(n_shards or 4 * max(1, workers)))
    blocks = block_halos(xyz, radius, touch_distance_um, block_um) if n else []
    parts = []
    for own, halo in blocks:
        sub = np.concatenate([own, halo])
        parts.append(dask.delayed(_block_contacts, nout=n_shards + 1, pure=True)(
            xyz[sub], radius[sub], neuron[sub], sub, pre_ok[sub], post_ok[sub], len(own),
            float(touch_distance_um), int(chunk_nodes), n_shards))
    shards = [dask.delayed(_cluster_shard, pure=True)([p[s] for p in parts], spacing_um)
              for s in range(n_shards)] if parts else []
    touches = [p[n_shards] for p in parts]
    res = compute([*shards, *touches], scheduler=scheduler, workers=workers,
                  progress=progress, desc="touch blocks")
    kept = [r[0] for r in res[:len(shards)]]
    syn = (pd.concat(kept, ignore_index=True) if kept else
           pd.DataFrame(columns=CONTACT_COLUMNS)).astype(CONTACT_DTYPES)
    syn = syn.sort_values(["pre", "post", "pre_node"], kind="stable").reset_index(drop=True)
    halo_sizes = [len(h) for _, h in blocks]
    counts = {"n_touches": int(sum(res[len(shards):])),
              "n_contacts": int(sum(r[1] for r in res[:len(shards)])),
              "n_synapses": int(len(syn)), "n_blocks": len(blocks),
              "mean_halo_nodes": round(float(np.mean(halo_sizes)), 1) if blocks else 0.0}
    return syn, counts


def contacts_whole(
    xyz: np.ndarray, radius: np.ndarray, neuron: np.ndarray, touch_distance_um: float,
    spacing_um: float, *, pre_ok: np.ndarray | None = None, post_ok: np.ndarray | None = None,
    chunk_nodes: int = 100_000,
) -> tuple[pd.DataFrame, dict]:
    """The reference for :func:`contacts_blockwise`: the same on the whole node set at once."""
    neuron = np.asarray(neuron, np.int64)
    key = np.arange(len(neuron), dtype=np.int64)
    i, j, g, n_touch = node_contacts(xyz, radius, neuron, touch_distance_um, pre_ok=pre_ok,
                                     post_ok=post_ok, key=key, chunk_nodes=chunk_nodes)
    tab = contact_table(np.asarray(xyz, float), np.asarray(radius, float), neuron, key, i, j, g)
    syn, n_contacts = _cluster_shard([tab], spacing_um)
    syn = syn.astype(CONTACT_DTYPES).sort_values(["pre", "post", "pre_node"], kind="stable")
    syn = syn.reset_index(drop=True)
    return syn, {"n_touches": n_touch, "n_contacts": n_contacts, "n_synapses": len(syn),
                 "n_blocks": 1}


def direct_touches(
    i: np.ndarray, j: np.ndarray, types: np.ndarray, direction: str = "auto",
    pre_types: tuple[int, ...] = (2,), post_types: tuple[int, ...] = (1, 2, 3, 4),
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Turn undirected touches (node i, node j) into directed contacts (pre node, post node).

    Returns (pre_node, post_node, touch_index) with ``touch_index`` into the inputs."""
    types = np.asarray(types)
    direction = resolve_direction(direction, types)
    k = np.arange(len(i))
    if direction == "symmetric":
        return np.r_[i, j], np.r_[j, i], np.r_[k, k]
    ti, tj = types[i], types[j]
    fwd = np.isin(ti, pre_types) & np.isin(tj, post_types)
    bwd = np.isin(tj, pre_types) & np.isin(ti, post_types)
    return np.r_[i[fwd], j[bwd]], np.r_[j[fwd], i[bwd]], np.r_[k[fwd], k[bwd]]


def resolve_direction(direction: str, types: np.ndarray) -> str:
    """``auto`` → ``typed`` when any node is an axon (SWC type 2), else ``symmetric``."""
    if direction == "auto":
        return "typed" if np.any(np.asarray(types) == 2) else "symmetric"
    if direction not in ("typed", "symmetric"):
        raise ValueError(f"direction must be auto, typed or symmetric, got {direction!r}")
    return direction


def direction_masks(
    types: np.ndarray, direction: str, pre_types: tuple[int, ...], post_types: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """(can be presynaptic, can be postsynaptic) per node for ``direction``."""
    types = np.asarray(types)
    if resolve_direction(direction, types) == "symmetric":
        return np.ones(len(types), bool), np.ones(len(types), bool)
    return np.isin(types, pre_types), np.isin(types, post_types)


def cluster_contacts(
    pre: np.ndarray, post: np.ndarray, pos: np.ndarray, gap: np.ndarray, spacing_um: float,
    *, key: np.ndarray | None = None,
) -> np.ndarray:
    """Greedy non-maximum suppression of contacts per directed (pre, post) neuron pair.

    Contacts are visited in order of increasing gap (ties: increasing ``key``, default the
    index); a contact is kept unless a kept contact of the same pair lies closer than
    ``spacing_um`` (µm). Returns indices of kept contacts, sorted. Only kept contacts look up
    their neighbours, so memory stays linear in the number of contacts."""
    from scipy.spatial import cKDTree

    n = len(pre)
    if n == 0:
        return np.zeros(0, np.int64)
    key = np.arange(n) if key is None else np.asarray(key)
    order = np.lexsort((np.arange(n), key, gap, post, pre))
    pre_s, post_s = pre[order], post[order]
    starts = np.flatnonzero(np.r_[True, (pre_s[1:] != pre_s[:-1]) | (post_s[1:] != post_s[:-1])])
    ends = np.r_[starts[1:], n]
    kept = [order[starts[ends - starts == 1]]]
    r = spacing_um * (1 - 1e-12)
    for s, e in zip(starts.tolist(), ends.tolist()):
        if e - s == 1:
            continue
        idx = order[s:e]  # sorted by gap within the pair
        if spacing_um <= 0:
            kept.append(idx)
            continue
        p = pos[idx]
        tree = cKDTree(p)
        alive = np.ones(e - s, bool)
        mine = []
        for a in range(e - s):
            if alive[a]:
                mine.append(a)
                alive[tree.query_ball_point(p[a], r=r, return_sorted=False)] = False
        kept.append(idx[mine])
    return np.sort(np.concatenate(kept).astype(np.int64))


def base_name(name: str) -> str:
    """Neuron name without the segmentation fragment suffix ``~k``."""
    return name.split("~", 1)[0]


def find_synapses(
    nodes: pd.DataFrame, neuron_names: dict[int, str], params: Params, *, scheduler=None,
    progress: bool = False,
) -> tuple[pd.DataFrame, list[str], np.ndarray, dict]:
    """Synapses from a node table (``morphology.NODE_COLUMNS``, µm).

    Block-wise (:func:`contacts_blockwise`) when ``params.block_um`` is set, else on the whole
    node set (:func:`contacts_whole`); both give the same table. Returns (synapses DataFrame
    with SYNAPSE_COLUMNS, pre/post = index into ``names``; ``names`` the sorted neuron names;
    soma positions (n, 3) µm; counts dict)."""
    seg_ids = nodes["neuron_id"].to_numpy()
    seg_name = {int(k): (base_name(v) if params.merge_fragments else v)
                for k, v in neuron_names.items()}
    uniq = np.unique(seg_ids)
    for sid in uniq.tolist():
        seg_name.setdefault(int(sid), str(sid))
    names = sorted({seg_name[int(s)] for s in uniq.tolist()})
    index = {nm: k for k, nm in enumerate(names)}
    lut = np.asarray([index[seg_name[int(s)]] for s in uniq.tolist()], np.int64)
    neuron = lut[np.searchsorted(uniq, seg_ids)] if len(seg_ids) else np.zeros(0, np.int64)
    xyz = nodes[["x", "y", "z"]].to_numpy(float)
    radius = nodes["radius"].to_numpy(float)
    types = nodes["type"].to_numpy()
    # soma positions
    soma = np.full((len(names), 3), np.nan)
    score = np.where(types == 1, radius + 1e6, radius)
    order = np.lexsort((score, neuron))
    if len(order):
        last = np.r_[neuron[order][1:] != neuron[order][:-1], True]
        best = order[last]
        soma[neuron[best]] = xyz[best]
    pre_ok, post_ok = direction_masks(types, params.direction, tuple(params.pre_types),
                                      tuple(params.post_types))
    if params.block_um is None:
        syn, counts = contacts_whole(xyz, radius, neuron, params.touch_distance_um,
                                     params.min_synapse_spacing_um, pre_ok=pre_ok,
                                     post_ok=post_ok, chunk_nodes=params.chunk_nodes)
    else:
        syn, counts = contacts_blockwise(
            xyz, radius, neuron, params.touch_distance_um, params.min_synapse_spacing_um,
            block_um=params.block_um, pre_ok=pre_ok, post_ok=post_ok,
            chunk_nodes=params.chunk_nodes, scheduler=scheduler, workers=params.workers,
            progress=progress)
    syn = syn.copy()
    syn["pre_name"] = [names[v] for v in syn["pre"].tolist()]
    syn["post_name"] = [names[v] for v in syn["post"].tolist()]
    # where on the target's skeleton the synapse sits: its segment (morphology neuron_id) and
    # SWC node id (what the connectome's cable cells place their synapses by)
    rows = syn["post_node"].to_numpy(np.int64)
    syn["post_segment"] = seg_ids[rows].astype(np.int64) if len(rows) else np.zeros(0, np.int64)
    syn["post_node_id"] = (nodes["node_id"].to_numpy()[rows].astype(np.int64) if len(rows)
                           else np.zeros(0, np.int64))
    syn = syn.sort_values(["pre", "post", "x", "y", "z"], kind="stable").reset_index(drop=True)
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
        delay_ms=np.full(len(src), float(params.delay_ms)), synapse="static_synapse",
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








__all__ = ["detect_touches",
           "node_contacts", "contact_table", "contacts_whole", "contacts_blockwise",
           "block_halos", "direct_touches", "resolve_direction", "direction_masks",
           "cluster_contacts", "find_synapses", "build_network", "connectome_matrix",
           "load_connectome_matrix", "base_name", "SYNAPSE_COLUMNS", "CONTACT_COLUMNS"]
