"""Morphology stage: one skeleton per segment (kimimaro TEASAR), written as SWC in µm.

Each label of ``labels.zarr`` is skeletonised by kimimaro with the anisotropy of the volume's
``voxel_size_nm``; vertices are moved to physical µm (``offset_nm`` + index × voxel size, so
c302 skeletons are in worm coordinates), and every connected piece of the skeleton becomes a
tree rooted at its largest-radius vertex (breadth-first order; parents precede children; a
cycle, rare in TEASAR output, is broken by the breadth-first spanning tree).

SWC node types: with ``compartments.zarr`` from the imaging stage (inputs may include
``imaging``) each node takes the majority compartment (1 soma, 2 axon, 3 dendrite) of the
voxels of its own label in the 3×3×3 neighbourhood of its voxel (0 if none). Without it, the
largest-radius node and the nodes connected to it with radius ≥ ``soma_radius_fraction`` × that
radius are the soma (type 1) if the largest radius is ≥ ``soma_min_radius_um``; every other
node is type 0 (undefined).

Every written SWC is read back with :func:`read_swc` (the project's validating reader) and
measured by :func:`morphometrics` (navis: cable length, branch points, leaves, sections, path
distance; a Sholl profile on navis's definitions), giving ``neurons.csv`` (cable from navis, as
before), ``morphometrics.csv`` and ``sholl.csv`` beside ``swc/``.

Real morphologies enter the same form through importers: navis's hemibrain example neurons
(:func:`from_navis`, units converted to µm), the Allen Cell Types SWC files that ship with bmtk
(:func:`bmtk_allen_swc_paths` + :func:`read_swc`) and NeuroML2 cells such as c302's
(:func:`read_neuroml_cell`); :func:`import_morphologies` writes any of them as a morphology
folder (``swc/``, ``nodes.parquet``, ``neurons.csv``, ``morphometrics.csv``, ``sholl.csv``).

SWC convention used here (Cannon et al. 1998, as NeuroMorpho and navis read it): 7 whitespace
separated fields per line ``id type x y z radius parent``, ``#`` starts a comment; ids are
non-negative integers, unique; ``parent`` is ``-1`` for a root or the id of a node in the file
(in any order); radius ≥ 0; x, y, z, radius in µm. A file may hold a forest (several roots, as
skeletons of fragmented segments are) unless ``single_root=True`` is asked for.
"""

from __future__ import annotations

import importlib.util
import os
import time
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from wbe.io.atomic import write_text, written_atomically

if TYPE_CHECKING:  # the stage's parameters (the stage module imports this one)
    from wbe.stages.morphology import Params

SWC_DECIMALS = 4  # µm → 0.1 nm; the written values are the values in nodes.parquet
NODE_COLUMNS = ["neuron_id", "node_id", "type", "x", "y", "z", "radius", "parent"]




# --------------------------------------------------------------------------------------------


def skeletonize_labels(
    labels: np.ndarray, voxel_size_nm: tuple[float, float, float], params: Params | None = None,
    *, progress: bool = False,
) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """kimimaro-skeletonise every label of ``labels`` (z, y, x).

    Returns {label: (vertices (n, 3) as (z, y, x) in nm relative to voxel (0,0,0),
    edges (m, 2) int, radii (n,) nm)}.
    """
    import kimimaro

    if params is None:
        from wbe.stages.morphology import Params

        params = Params()
    p = params
    teasar = {
        "scale": p.scale, "const": p.const_nm, "pdrf_scale": p.pdrf_scale,
        "pdrf_exponent": p.pdrf_exponent,
        "soma_detection_threshold": p.soma_detection_threshold_nm,
        "soma_acceptance_threshold": p.soma_acceptance_threshold_nm,
        "soma_invalidation_scale": p.soma_invalidation_scale,
        "soma_invalidation_const": p.soma_invalidation_const_nm,
    }
    vz, vy, vx = (float(v) for v in voxel_size_nm)
    # kimimaro indexes (x, y, z) on a Fortran array: hand it the transposed view
    skels = kimimaro.skeletonize(
        np.asfortranarray(labels.T), teasar_params=teasar, anisotropy=(vx, vy, vz),
        dust_threshold=p.dust_threshold_voxels, fix_branching=p.fix_branching,
        progress=progress, parallel=p.parallel, fix_borders=True,
    )
    out = {}
    for lab, sk in skels.items():
        v = np.asarray(sk.vertices, float)[:, ::-1]  # (x,y,z) → (z,y,x) nm
        out[int(lab)] = (v, np.asarray(sk.edges, np.int64).reshape(-1, 2),
                         np.asarray(sk.radii, float))
    return out


def skeleton_to_tree(
    n: int, edges: np.ndarray, radii: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Breadth-first forest over a skeleton graph: each connected piece is rooted at its
    largest-radius vertex. Returns (order: vertex indices in output order, parent: output
    index of the parent or -1, aligned with ``order``)."""
    adj: list[list[int]] = [[] for _ in range(n)]
    for a, b in np.asarray(edges, np.int64).tolist():
        if a != b:
            adj[a].append(b)
            adj[b].append(a)
    seen = np.zeros(n, bool)
    order: list[int] = []
    parent: list[int] = []
    pos = np.full(n, -1, np.int64)
    for root in np.argsort(-np.asarray(radii), kind="stable").tolist():
        if seen[root]:
            continue
        seen[root] = True
        q = deque([root])
        pos[root] = len(order)
        order.append(root)
        parent.append(-1)
        while q:
            u = q.popleft()
            for w in sorted(adj[u]):
                if not seen[w]:
                    seen[w] = True
                    pos[w] = len(order)
                    order.append(w)
                    parent.append(int(pos[u]))
                    q.append(w)
    return np.asarray(order, np.int64), np.asarray(parent, np.int64)


def compartment_types(
    vox_zyx: np.ndarray, label: int, labels: np.ndarray, compartments: np.ndarray
) -> np.ndarray:
    """Majority compartment (1 soma, 2 axon, 3 dendrite; 0 none) of the voxels of ``label`` in
    the 3×3×3 neighbourhood of each voxel index in ``vox_zyx`` (n, 3)."""
    off = np.stack(np.meshgrid([-1, 0, 1], [-1, 0, 1], [-1, 0, 1], indexing="ij"), -1)
    off = off.reshape(-1, 3)
    idx = vox_zyx[:, None, :] + off[None]
    shape = np.asarray(labels.shape)
    idx = np.clip(idx, 0, shape - 1)
    lab = labels[idx[..., 0], idx[..., 1], idx[..., 2]]
    comp = compartments[idx[..., 0], idx[..., 1], idx[..., 2]]
    mine = lab == label
    counts = np.stack([((comp == k) & mine).sum(1) for k in range(1, 4)], 1)
    best = counts.argmax(1) + 1
    return np.where(counts.max(1) > 0, best, 0).astype(np.int64)


def soma_types(
    radius_um: np.ndarray, parent: np.ndarray, *, soma_min_radius_um: float = 1.0,
    fraction: float = 0.5,
) -> np.ndarray:
    """Types without compartments: the largest-radius node's connected region of nodes with
    radius ≥ ``fraction`` × max (if max ≥ ``soma_min_radius_um``) → 1; all else 0."""
    t = np.zeros(len(radius_um), np.int64)
    if len(radius_um) == 0:
        return t
    i = int(np.argmax(radius_um))
    rmax = float(radius_um[i])
    if rmax < soma_min_radius_um:
        return t
    big = radius_um >= fraction * rmax
    children: dict[int, list[int]] = {}
    for c, p in enumerate(parent.tolist()):
        if p >= 0:
            children.setdefault(p, []).append(c)
    stack = [i]
    t[i] = 1
    while stack:
        u = stack.pop()
        nb = children.get(u, []) + ([int(parent[u])] if parent[u] >= 0 else [])
        for w in nb:
            if big[w] and t[w] == 0:
                t[w] = 1
                stack.append(w)
    return t


# --------------------------------------------------------------------------------------------
# SWC: a validating reader, an atomic writer


class MorphologyError(ValueError):
    """A malformed morphology (SWC or NeuroML file, or node table). The message names the file
    (or table), the line (or row) and the node."""


SWC_COLUMNS = ["node_id", "type", "x", "y", "z", "radius", "parent"]


def _atomic_to_csv(df: pd.DataFrame, path: Path, float_format: str = f"%.{SWC_DECIMALS}f") -> None:
    write_text(path, df.to_csv(index=False, float_format=float_format, lineterminator="\n"))


def _int_field(tok: str) -> int:
    """An SWC integer field; ``"3.0"`` is accepted (some writers emit integers as floats)."""
    try:
        return int(tok)
    except ValueError:
        try:
            v = float(tok)
        except ValueError:
            raise ValueError(f"{tok!r} is not a number") from None
        if not v.is_integer():
            raise ValueError(f"{tok!r} is not an integer") from None
        return int(v)


def check_tree(
    node_id, type_, x, y, z, radius, parent, *, where: Callable[[int], str],
    source: str = "", single_root: bool = False,
) -> None:
    """Validate an SWC node list; raise :class:`MorphologyError` naming the offending node.

    ``where(i)`` renders row ``i`` for messages (e.g. ``"cell.swc:12: node 11"``), ``source``
    names the whole table. Checks: at least one node; ids ≥ 0 and unique; type ≥ 0; finite
    x, y, z; finite radius ≥ 0; parent −1 or an existing id other than the node's own; no
    cycle; a single root if ``single_root``.
    """
    ids = np.asarray(node_id, np.int64)
    par = np.asarray(parent, np.int64)
    typ = np.asarray(type_, np.int64)
    xyz = np.column_stack([np.asarray(x, float), np.asarray(y, float), np.asarray(z, float)])
    rad = np.asarray(radius, float)
    n = len(ids)
    if n == 0:
        raise MorphologyError(f"{source}: no nodes")

    def first(mask: np.ndarray) -> int:
        return int(np.flatnonzero(mask)[0])

    if (bad := ids < 0).any():
        raise MorphologyError(f"{where(first(bad))}: node id must be ≥ 0")
    if (bad := typ < 0).any():
        i = first(bad)
        raise MorphologyError(f"{where(i)}: type {typ[i]} must be ≥ 0")
    if (bad := ~np.isfinite(xyz).all(1)).any():
        i = first(bad)
        raise MorphologyError(f"{where(i)}: position {xyz[i].tolist()} is not finite")
    if (bad := ~np.isfinite(rad)).any():
        raise MorphologyError(f"{where(first(bad))}: radius is not finite")
    if (bad := rad < 0).any():
        i = first(bad)
        raise MorphologyError(f"{where(i)}: negative radius {rad[i]:g} µm")
    dup = pd.Index(ids).duplicated(keep="first")
    if dup.any():
        i = first(dup)
        j = first(ids == ids[i])
        raise MorphologyError(f"{where(i)}: duplicate node id {ids[i]} (first at {where(j)})")
    if (bad := par < -1).any():
        i = first(bad)
        raise MorphologyError(f"{where(i)}: parent {par[i]} must be -1 (root) or a node id")
    if (bad := par == ids).any():
        raise MorphologyError(f"{where(first(bad))}: node is its own parent (a cycle)")
    row_of = pd.Series(np.arange(n), index=ids)
    has_parent = par != -1
    exists = np.isin(par, ids)
    if (bad := has_parent & ~exists).any():
        i = first(bad)
        raise MorphologyError(f"{where(i)}: parent {par[i]} does not exist (missing parent)")
    roots = np.flatnonzero(~has_parent)
    if single_root and len(roots) > 1:
        raise MorphologyError(f"{where(int(roots[1]))}: a second root (parent -1; the first is "
                              f"{where(int(roots[0]))}); one tree per file was asked for")
    # every node must be reachable from a root: breadth-first from a virtual super-root n
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import breadth_first_order

    prow = np.where(has_parent, row_of.reindex(par).fillna(-1).to_numpy(np.int64), n)
    g = coo_matrix((np.ones(n, np.int8), (prow, np.arange(n))), shape=(n + 1, n + 1)).tocsr()
    reached = np.zeros(n + 1, bool)
    reached[breadth_first_order(g, n, directed=True, return_predecessors=False)] = True
    if not reached[:n].all():
        # walk up from the first unreached node until a node repeats: that is the cycle
        seen: dict[int, int] = {}
        i = first(~reached[:n])
        while i not in seen:
            seen[i] = len(seen)
            i = int(prow[i])
        cyc = [k for k, _ in sorted(seen.items(), key=lambda kv: kv[1]) if seen[k] >= seen[i]]
        shown = ", ".join(str(ids[k]) for k in cyc[:10]) + (" …" if len(cyc) > 10 else "")
        raise MorphologyError(f"{where(min(cyc))}: parent links form a cycle through nodes "
                              f"{shown} (no root above them)")


def read_swc(path: str | os.PathLike, *, single_root: bool = False) -> pd.DataFrame:
    """Read and validate an SWC file (µm) into a node table with ``SWC_COLUMNS`` (ids and types
    int64, coordinates and radius float64), rows in file order.

    Raises :class:`MorphologyError` naming the file, the line and the node for: a line without
    exactly 7 fields, a non-numeric or non-integer field, a non-finite value, a negative radius
    or type, a duplicate id, a parent that is not in the file, a cycle, no node at all, and
    (with ``single_root``) more than one root. The convention is in the module docstring.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise MorphologyError(f"{path}: not UTF-8 text ({exc})") from exc
    ints: list[tuple[int, int, int]] = []
    floats: list[tuple[float, float, float, float]] = []
    lines: list[int] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        f = raw.split("#", 1)[0].split()
        if not f:
            continue
        if len(f) != 7:
            raise MorphologyError(
                f"{path}:{lineno}: expected 7 fields (id type x y z radius parent), got "
                f"{len(f)}: {raw.strip()!r}")
        try:
            nid = _int_field(f[0])
        except ValueError as exc:
            raise MorphologyError(f"{path}:{lineno}: node id: {exc}") from None
        vals = []
        for k, (name, tok) in enumerate(zip(("type", "x", "y", "z", "radius", "parent"), f[1:]),
                                         1):
            try:
                vals.append(_int_field(tok) if k in (1, 6) else float(tok))
            except ValueError as exc:
                raise MorphologyError(f"{path}:{lineno}: node {nid}: {name}: {exc}") from None
        ints.append((nid, vals[0], vals[5]))
        floats.append((vals[1], vals[2], vals[3], vals[4]))
        lines.append(lineno)
    iv = np.asarray(ints, np.int64).reshape(-1, 3)
    fv = np.asarray(floats, float).reshape(-1, 4)
    check_tree(iv[:, 0], iv[:, 1], fv[:, 0], fv[:, 1], fv[:, 2], fv[:, 3], iv[:, 2],
               where=lambda i: f"{path}:{lines[i]}: node {iv[i, 0]}", source=str(path),
               single_root=single_root)
    df = pd.DataFrame({"node_id": iv[:, 0], "type": iv[:, 1], "x": fv[:, 0], "y": fv[:, 1],
                       "z": fv[:, 2], "radius": fv[:, 3], "parent": iv[:, 2]})
    df.attrs["source"] = str(path)
    return df


def check_table(table: pd.DataFrame, source: str = "node table", *,
                single_root: bool = False) -> None:
    """Validate an in-memory SWC table (``SWC_COLUMNS``) as :func:`read_swc` validates a file;
    messages name ``source``, the row and the node."""
    missing = [c for c in SWC_COLUMNS if c not in table.columns]
    if missing:
        raise MorphologyError(f"{source}: missing column(s) {missing}; expected {SWC_COLUMNS}")
    ids = table["node_id"].to_numpy()
    check_tree(*(table[c].to_numpy() for c in SWC_COLUMNS), source=source,
               where=lambda i: f"{source}: row {i}: node {ids[i]}", single_root=single_root)


def write_swc(path: Path, node_id, type_, x, y, z, radius, parent, header: str = "") -> None:
    """Write an SWC file (µm) after validating it as :func:`read_swc` would (so nothing
    unreadable is written); values are written with ``SWC_DECIMALS`` decimals, the file under a
    temporary name renamed into place."""
    path = Path(path)
    node_id, type_, parent = (np.asarray(a, np.int64) for a in (node_id, type_, parent))
    x, y, z, radius = (np.asarray(a, float) for a in (x, y, z, radius))
    check_tree(node_id, type_, x, y, z, radius, parent, source=f"{path} (being written)",
               where=lambda i: f"{path} (being written): row {i}: node {node_id[i]}")
    lines = [f"# {h}" for h in header.splitlines()] if header else []
    fmt = f"{{}} {{}} {{:.{SWC_DECIMALS}f}} {{:.{SWC_DECIMALS}f}} {{:.{SWC_DECIMALS}f}} " \
          f"{{:.{SWC_DECIMALS}f}} {{}}"
    for row in zip(node_id.tolist(), type_.tolist(), x.tolist(), y.tolist(), z.tolist(),
                   radius.tolist(), parent.tolist()):
        lines.append(fmt.format(*row))
    write_text(path, "\n".join(lines) + "\n")


def write_swc_table(path: Path, table: pd.DataFrame, header: str = "") -> None:
    """:func:`write_swc` of a table with ``SWC_COLUMNS``."""
    write_swc(path, *(table[c] for c in SWC_COLUMNS), header=header)


# --------------------------------------------------------------------------------------------
# importers: navis neurons, bmtk's Allen Cell Types SWC files, NeuroML2 cells (c302)


def _as_table(node_id, type_, x, y, z, radius, parent) -> pd.DataFrame:
    return pd.DataFrame({
        "node_id": np.asarray(node_id, np.int64), "type": np.asarray(type_, np.int64),
        "x": np.asarray(x, float), "y": np.asarray(y, float), "z": np.asarray(z, float),
        "radius": np.asarray(radius, float), "parent": np.asarray(parent, np.int64),
    })


def navis_units_um(neuron) -> float:
    """Length of one unit of ``neuron``'s coordinates in µm (navis ``units``, a pint quantity,
    e.g. 8 nm voxels → 0.008). Raises :class:`MorphologyError` if the units are not a length."""
    u = getattr(neuron, "units", None)
    try:
        return float((1 * u).to("micrometer").magnitude)
    except (AttributeError, TypeError, ValueError) as exc:
        raise MorphologyError(
            f"navis neuron {getattr(neuron, 'id', '?')}: units {u!s} are not a length; pass "
            f"units_um (µm per coordinate unit)") from exc


def from_navis(neuron, *, units_um: float | None = None) -> pd.DataFrame:
    """A navis ``TreeNeuron`` → SWC table (``SWC_COLUMNS``) in µm.

    Coordinates and radii are multiplied by ``units_um`` (µm per unit of the neuron; default
    from the neuron's navis ``units``: navis's hemibrain example neurons are in 8 nm voxels, so
    × 0.008). ``type`` is navis's ``label`` (the SWC type; 0 where absent) and the neuron's
    soma node(s) get type 1. A missing (NaN) radius is an error, not a silent 0.
    """
    f = navis_units_um(neuron) if units_um is None else float(units_um)
    if not (np.isfinite(f) and f > 0):
        raise MorphologyError(f"navis neuron {neuron.id}: units_um must be > 0, got {f}")
    nodes = neuron.nodes
    if "label" in nodes.columns:
        lab = pd.to_numeric(nodes["label"].astype(object), errors="coerce")
        typ = lab.fillna(0).to_numpy(np.int64)
    else:
        typ = np.zeros(len(nodes), np.int64)
    soma = neuron.soma
    if soma is not None:
        typ = np.where(nodes["node_id"].isin(np.atleast_1d(soma)).to_numpy(), 1, typ)
    src = f"navis neuron {neuron.id}"
    if nodes["radius"].isna().any() if "radius" in nodes.columns else True:
        raise MorphologyError(f"{src}: radius missing (NaN) at some nodes; SWC needs a radius")
    t = _as_table(nodes["node_id"], typ, nodes["x"].to_numpy(float) * f,
                  nodes["y"].to_numpy(float) * f, nodes["z"].to_numpy(float) * f,
                  nodes["radius"].to_numpy(float) * f, nodes["parent_id"])
    check_table(t, src)
    t.attrs["source"] = f"{src} ({neuron.name})"
    return t


def to_navis(table: pd.DataFrame, *, name: str | None = None, validate: bool = True):
    """An SWC table (µm) → navis ``TreeNeuron`` with units µm; the soma is the first node of
    type 1, as ``navis.read_swc`` sets it. The table is validated first (``validate=False``
    only for a table fresh from :func:`read_swc` / :func:`from_navis`, which validated it)."""
    import navis

    src = table.attrs.get("source", "node table")
    if validate:
        check_table(table, src)
    nodes = pd.DataFrame({
        "node_id": table["node_id"].to_numpy(np.int64),
        "parent_id": table["parent"].to_numpy(np.int64),
        "x": table["x"].to_numpy(float), "y": table["y"].to_numpy(float),
        "z": table["z"].to_numpy(float), "radius": table["radius"].to_numpy(float),
        "label": table["type"].to_numpy(np.int64),
    })
    n = navis.TreeNeuron(nodes, units="1 micrometer", name=name or src)
    is_soma = nodes["label"].to_numpy() == 1
    if is_soma.any():
        n.soma = int(nodes["node_id"].to_numpy()[is_soma][0])
    return n


def navis_example_tables() -> dict[str, pd.DataFrame]:
    """navis's five hemibrain DA1 projection neurons (shipped with navis, 8 nm voxels) as SWC
    tables in µm, keyed by body id."""
    import navis

    return {str(n.id): from_navis(n) for n in navis.example_neurons(kind="skeleton")}


def bmtk_allen_swc_paths() -> list[Path]:
    """The Allen Cell Types (mouse V1) SWC reconstructions that ship inside bmtk, in µm."""
    spec = importlib.util.find_spec("bmtk")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("bmtk is not installed: no Allen SWC morphologies")
    d = Path(spec.submodule_search_locations[0]) / "utils" / "scripts" / "bionet" / "morphologies"
    paths = sorted(d.glob("*.swc"))
    if not paths:
        raise FileNotFoundError(f"{d}: no *.swc files")
    return paths


def read_neuroml_cell(path: str | os.PathLike) -> pd.DataFrame:
    """A NeuroML2 cell (e.g. c302's ``*.cell.nml``, µm) → SWC table (``SWC_COLUMNS``).

    Geometry and compartments come from :func:`wbe.anatomy.imaging.read_nml_cell` (the parser the
    imaging stage voxelises with; libNeuroML is not a dependency); the segment tree from the
    ``<parent>`` elements. Each segment's distal point is a node. A segment whose proximal point
    equals its parent's distal point (position and diameter) adds nothing more; otherwise its
    proximal point becomes a node too, child of the parent's distal node (zero length when only
    the diameter differs; a proximal point away from the parent adds that gap to the cable,
    since SWC has no gaps). A root segment of zero length (c302's point soma) is one node.
    Types: 1 soma, 2 axon, 3 dendrite (NeuroML groups), 0 otherwise. Ids 1..n, parents first.
    A ``fractionAlong`` other than 1 is refused (:class:`MorphologyError`) naming the segment.
    """
    from defusedxml import ElementTree as ET

    from wbe.anatomy.imaging import NML_NS, read_nml_cell

    path = Path(path)
    try:
        cell = read_nml_cell(path)
    except ValueError as exc:
        raise MorphologyError(str(exc)) from exc
    morph = ET.parse(str(path)).getroot().find(NML_NS + "cell").find(NML_NS + "morphology")
    ids = list(cell.segment_ids)
    if len(set(ids)) != len(ids):
        d = pd.Index(ids)[pd.Index(ids).duplicated()][0]
        raise MorphologyError(f"{path}: segment {d}: duplicate segment id")
    k_of = {sid: k for k, sid in enumerate(ids)}
    parent: list[int] = []
    for seg in morph.findall(NML_NS + "segment"):
        sid = seg.get("id")
        pe = seg.find(NML_NS + "parent")
        if pe is None:
            parent.append(-1)
            continue
        ps = pe.get("segment")
        if ps not in k_of:
            raise MorphologyError(f"{path}: segment {sid}: parent segment {ps} does not exist")
        fa = float(pe.get("fractionAlong", "1"))
        if fa != 1.0:
            raise MorphologyError(f"{path}: segment {sid}: fractionAlong={fa:g} (only 1, the "
                                  f"parent's distal end, is supported)")
        parent.append(k_of[ps])
    children: dict[int, list[int]] = {}
    for k, p in enumerate(parent):
        children.setdefault(p, []).append(k)
    rows: list[tuple[int, float, float, float, float, int]] = []  # type, x, y, z, r, parent
    distal_node = np.full(len(ids), -1, np.int64)
    queue = deque(children.get(-1, []))
    while queue:
        k = queue.popleft()
        p = parent[k]
        c = int(cell.compartment[k])
        up = -1 if p < 0 else int(distal_node[p]) + 1  # SWC id of the attachment node
        same = (p >= 0 and np.array_equal(cell.p0[k], cell.p1[p]) and cell.r0[k] == cell.r1[p])
        point = (p < 0 and np.array_equal(cell.p0[k], cell.p1[k]) and cell.r0[k] == cell.r1[k])
        if not (same or point):
            rows.append((c, *cell.p0[k].tolist(), float(cell.r0[k]), up))
            up = len(rows)
        rows.append((c, *cell.p1[k].tolist(), float(cell.r1[k]), up))
        distal_node[k] = len(rows) - 1
        queue.extend(children.get(k, []))
    if (distal_node < 0).any():
        k = int(np.flatnonzero(distal_node < 0)[0])
        raise MorphologyError(f"{path}: segment {ids[k]}: parent links form a cycle (no root "
                              f"segment above it)")
    a = np.asarray(rows, float).reshape(-1, 6)
    t = _as_table(np.arange(1, len(a) + 1), a[:, 0], a[:, 1], a[:, 2], a[:, 3], a[:, 4], a[:, 5])
    check_table(t, str(path))
    t.attrs["source"] = str(path)
    return t


# --------------------------------------------------------------------------------------------
# morphometrics (navis)


MORPHOMETRIC_COLUMNS = [
    "n_nodes", "n_trees", "n_branch_points", "n_leaves", "n_segments", "cable_length_um",
    "max_path_distance_um", "max_radial_distance_um", "has_soma", "sholl_center",
    "sholl_max_intersections", "sholl_critical_radius_um",
]
SHOLL_COLUMNS = ["radius_um", "intersections", "cable_length_um", "branch_points"]


def morphometrics(
    x, *, sholl_radii_um: Sequence[float] | None = None, sholl_step_um: float = 10.0,
    units_um: float | None = None, name: str | None = None,
) -> dict:
    """Morphometrics of one neuron from navis, lengths in µm.

    ``x``: an SWC path (read with :func:`read_swc`), an SWC table in µm, or a navis
    ``TreeNeuron`` (converted to µm with :func:`from_navis`; ``units_um`` overrides its units).

    Returns a dict with ``MORPHOMETRIC_COLUMNS`` and ``sholl`` (a DataFrame, ``SHOLL_COLUMNS``):

    - ``cable_length_um``: navis ``cable_length`` (sum of node–parent distances);
    - ``n_branch_points``: navis ``n_branches`` (nodes other than a root with ≥ 2 children);
      ``n_leaves``: navis ``n_leafs`` (nodes without children, roots excepted);
      ``n_segments``: navis ``small_segments`` (unbranched sections between roots, branch points
      and leaves); ``n_trees``: connected pieces;
    - ``max_path_distance_um``: largest distance along the arbor from the soma (navis
      ``geodesic_matrix``) or, without a soma (no type-1 node), from the root (navis
      ``dist_to_root``; in a forest, each piece from its own root);
    - Sholl: spheres of radius ``sholl_radii_um`` (default every ``sholl_step_um`` out to the
      farthest node) around the soma, else the root (one tree), else the centre of mass
      (``sholl_center``: ``soma``, ``root``, ``centermass``), with Euclidean distances d.
      ``intersections``: edges with one end inside the sphere (d ≤ r) and the other outside;
      ``cable_length_um`` / ``branch_points``: edge length / navis branch points whose (child)
      node lies in the shell r_{i-1} < d ≤ r_i (the first shell includes d = 0). These are
      navis's ``sholl_analysis`` definitions with two defects of navis 1.12 left out, so the
      profile is computed here from navis's node table: navis counts only edges whose child is
      inside and parent outside (0 for a straight line rooted at the centre) and drops a node
      lying exactly on a sphere (strict ``<`` on both sides: on voxel-grid skeletons with a
      step that is a multiple of the voxel size that loses cable). Its ``centermass`` and
      coordinate centres also fail under numpy 2. Where no node lies on a sphere, cable and
      branch points per shell equal navis's (tests/reference/test_morphometrics_navis.py).
      ``sholl_max_intersections`` and ``sholl_critical_radius_um`` (the smallest radius where
      it is reached) summarise the profile; ``max_radial_distance_um`` is the farthest node.
    """
    import navis

    if isinstance(x, (str, os.PathLike)):
        n = to_navis(read_swc(x), name=name or Path(x).stem, validate=False)
    elif isinstance(x, pd.DataFrame):
        n = to_navis(x, name=name)
    elif isinstance(x, navis.TreeNeuron):
        n = to_navis(from_navis(x, units_um=units_um), name=name or str(x.name), validate=False)
    else:
        raise TypeError(f"morphometrics: expected an SWC path, an SWC table or a navis "
                        f"TreeNeuron, got {type(x).__name__}")
    nodes = n.nodes
    ids = nodes["node_id"].to_numpy(np.int64)
    par = nodes["parent_id"].to_numpy(np.int64)
    xyz = nodes[["x", "y", "z"]].to_numpy(float)
    soma = None if n.soma is None else int(np.atleast_1d(n.soma)[0])
    roots = np.atleast_1d(n.root)
    if soma is not None:
        g = navis.geodesic_matrix(n, from_=[soma]).to_numpy(float)
        max_path = float(g[np.isfinite(g)].max())
    else:
        d2r = navis.dist_to_root(n, weight="weight")
        max_path = float(max(d2r.values())) if d2r else 0.0
    if soma is not None:
        c, center_name = xyz[int(np.flatnonzero(ids == soma)[0])], "soma"
    elif len(roots) == 1:
        c, center_name = xyz[int(np.flatnonzero(ids == roots[0])[0])], "root"
    else:
        c, center_name = xyz.mean(0), "centermass"
    dist = np.sqrt(((xyz - c) ** 2).sum(1))
    rmax = float(dist.max())
    if sholl_radii_um is None:
        if not sholl_step_um > 0:
            raise ValueError(f"sholl_step_um must be > 0, got {sholl_step_um}")
        radii = sholl_step_um * np.arange(1, max(1, int(np.ceil(rmax / sholl_step_um))) + 1)
    else:
        radii = np.asarray(sholl_radii_um, float)
        if radii.ndim != 1 or len(radii) == 0 or not (radii > 0).all() \
                or not (np.diff(radii) > 0).all():
            raise ValueError(f"sholl_radii_um must be increasing radii > 0 µm, got {radii}")
    child = par >= 0
    row_of = pd.Series(np.arange(len(ids)), index=ids)
    prow = row_of.loc[par[child]].to_numpy()
    dc, dp = dist[child], dist[prow]
    lo, hi = np.minimum(dc, dp), np.maximum(dc, dp)
    inter = ((lo[None, :] <= radii[:, None]) & (hi[None, :] > radii[:, None])).sum(1)
    k = len(radii)
    edge_um = np.sqrt(((xyz[child] - xyz[prow]) ** 2).sum(1))
    cable = np.bincount(np.searchsorted(radii, dc, side="left"), weights=edge_um,
                        minlength=k + 1)[:k]
    is_branch = (nodes["type"] == "branch").to_numpy()
    bp = np.bincount(np.searchsorted(radii, dist[is_branch], side="left"), minlength=k + 1)[:k]
    sholl = pd.DataFrame({
        "radius_um": radii, "intersections": inter.astype(np.int64),
        "cable_length_um": cable.astype(float), "branch_points": bp.astype(np.int64),
    })
    imax = int(np.argmax(inter))
    return {
        "name": str(n.name), "n_nodes": int(n.n_nodes), "n_trees": int(n.n_trees),
        "n_branch_points": int(n.n_branches), "n_leaves": int(n.n_leafs),
        "n_segments": len(n.small_segments), "cable_length_um": float(n.cable_length),
        "max_path_distance_um": max_path, "max_radial_distance_um": rmax,
        "has_soma": soma is not None, "soma_node_id": soma, "sholl_center": center_name,
        "sholl_center_um": tuple(float(v) for v in c),
        "sholl_max_intersections": int(inter[imax]),
        "sholl_critical_radius_um": float(radii[imax]), "sholl": sholl,
    }


def write_morphologies(
    out_dir: Path, tables: dict[int, pd.DataFrame], names: dict[int, str] | None = None, *,
    sholl_step_um: float = 10.0, header: str = "wbe morphology: neuron {id} ({name}), units µm",
) -> dict:
    """Write a morphology folder into ``out_dir`` (existing, empty): ``swc/<id>.swc`` (µm),
    ``nodes.parquet`` (``NODE_COLUMNS``), ``neurons.csv`` (neuron_id, name, n_nodes, cable_um),
    ``morphometrics.csv`` (neuron_id, name, ``MORPHOMETRIC_COLUMNS``; lengths in µm, as the
    column names say) and ``sholl.csv`` (neuron_id, ``SHOLL_COLUMNS``). Each SWC is read back
    with :func:`read_swc` and measured by :func:`morphometrics`; every file is written under a
    temporary name and renamed. ``header`` (with ``{id}``, ``{name}``) heads each SWC.
    Coordinates and radii are rounded to ``SWC_DECIMALS`` first, so that ``nodes.parquet`` equals
    the SWC files. Returns a summary (counts, total cable, seconds spent on morphometrics)."""
    out_dir = Path(out_dir)
    names = names or {}
    swc_dir = out_dir / "swc"
    swc_dir.mkdir(exist_ok=True)
    node_tables, metrics, sholls = [], [], []
    t_m = 0.0
    for nid in sorted(tables):
        t = tables[nid][SWC_COLUMNS].copy()
        for c in ("x", "y", "z", "radius"):
            t[c] = t[c].to_numpy(float).round(SWC_DECIMALS)
        nm = names.get(nid, str(nid))
        path = swc_dir / f"{nid}.swc"
        write_swc_table(path, t, header=header.format(id=nid, name=nm))
        t1 = time.perf_counter()
        m = morphometrics(path, sholl_step_um=sholl_step_um, name=nm)
        t_m += time.perf_counter() - t1
        metrics.append({"neuron_id": nid, "name": nm, **{c: m[c] for c in MORPHOMETRIC_COLUMNS}})
        sh = m["sholl"].copy()
        sh.insert(0, "neuron_id", nid)
        sholls.append(sh)
        nt = t.copy()
        nt.insert(0, "neuron_id", np.int64(nid))
        node_tables.append(nt[NODE_COLUMNS])
    nodes = (pd.concat(node_tables, ignore_index=True) if node_tables
             else pd.DataFrame({c: pd.Series(dtype="int64") for c in NODE_COLUMNS}))
    with written_atomically(out_dir / "nodes.parquet", overwrite=True) as tmp:
        nodes.to_parquet(tmp, index=False)
    mt = pd.DataFrame(metrics, columns=["neuron_id", "name", *MORPHOMETRIC_COLUMNS])
    neurons = pd.DataFrame({"neuron_id": mt["neuron_id"], "name": mt["name"],
                            "n_nodes": mt["n_nodes"], "cable_um": mt["cable_length_um"]})
    _atomic_to_csv(neurons, out_dir / "neurons.csv")
    _atomic_to_csv(mt, out_dir / "morphometrics.csv")
    sholl = (pd.concat(sholls, ignore_index=True) if sholls
             else pd.DataFrame(columns=["neuron_id", *SHOLL_COLUMNS]))
    _atomic_to_csv(sholl, out_dir / "sholl.csv")
    types = nodes["type"].value_counts().to_dict() if len(nodes) else {}
    return {
        "n_skeletons": len(metrics), "n_nodes": int(len(nodes)),
        "cable_um": round(float(mt["cable_length_um"].sum()), 3),
        "node_types": {int(k): int(v) for k, v in types.items()},
        "morphometrics_s": round(t_m, 3),
    }


def import_morphologies(source: str, out: Path, *, sholl_step_um: float = 10.0) -> dict:
    """Import real morphologies into a morphology folder ``out`` (see
    :func:`write_morphologies`), written under a temporary name and renamed when complete.

    ``source``: ``navis-examples`` (navis's hemibrain DA1 neurons, 8 nm → µm),
    ``bmtk-allen`` (bmtk's Allen Cell Types SWC files), ``c302`` or ``c302:AVAL,AVAR`` (c302's
    NeuroML cells), or a folder of ``*.swc`` / ``*.nml`` files (µm). Neurons are numbered 1..n
    in name order; ``neurons.csv`` keeps the names."""
    from wbe.anatomy.imaging import c302_cell_dir, c302_cell_names

    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} exists; refusing to overwrite")
    named: dict[str, pd.DataFrame] = {}
    if source == "navis-examples":
        named = navis_example_tables()
    elif source == "bmtk-allen":
        named = {p.stem: read_swc(p) for p in bmtk_allen_swc_paths()}
    elif source == "c302" or source.startswith("c302:"):
        cells = c302_cell_names() if source == "c302" else source[5:].split(",")
        named = {c: read_neuroml_cell(c302_cell_dir() / f"{c}.cell.nml") for c in cells}
    elif Path(source).is_dir():
        for p in sorted(Path(source).iterdir()):
            if p.suffix.lower() == ".swc":
                named[p.stem] = read_swc(p)
            elif p.name.lower().endswith(".nml"):
                named[p.name.split(".")[0]] = read_neuroml_cell(p)
        if not named:
            raise ValueError(f"{source}: no *.swc or *.nml files")
    else:
        raise ValueError(f"unknown morphology source {source!r}: navis-examples, bmtk-allen, "
                         f"c302[:NAMES] or a folder of SWC/NeuroML files")
    order = sorted(named)
    tables = {i: named[k] for i, k in enumerate(order, 1)}
    names = {i: k for i, k in enumerate(order, 1)}
    with written_atomically(out) as tmp:
        tmp.mkdir()
        summary = write_morphologies(
            tmp, tables, names, sholl_step_um=sholl_step_um,
            header=f"wbe import from {source}: neuron {{id}} ({{name}}), units µm")
    return {"source": source, **summary}


def skeleton_table(
    label: int, vertices_zyx_nm: np.ndarray, edges: np.ndarray, radii_nm: np.ndarray,
    offset_nm: tuple[float, float, float], voxel_size_nm: tuple[float, float, float],
    labels: np.ndarray | None = None, compartments: np.ndarray | None = None,
    params: Params | None = None,
) -> pd.DataFrame:
    """One skeleton → node table (NODE_COLUMNS) in µm with SWC ids 1..n and parent −1 at roots,
    rounded to ``SWC_DECIMALS`` so that the table equals its SWC file."""
    if params is None:
        from wbe.stages.morphology import Params

        params = Params()
    p = params
    order, par = skeleton_to_tree(len(vertices_zyx_nm), edges, radii_nm)
    v = vertices_zyx_nm[order]
    off = np.asarray(offset_nm, float)
    pos_um = (v + off) / 1000.0  # (z, y, x)
    r_um = radii_nm[order] / 1000.0
    if compartments is not None and labels is not None:
        vox = np.rint(v / np.asarray(voxel_size_nm, float)).astype(np.int64)
        types = compartment_types(vox, label, labels, compartments)
    else:
        types = soma_types(r_um, par, soma_min_radius_um=p.soma_min_radius_um,
                           fraction=p.soma_radius_fraction)
    n = len(order)
    df = pd.DataFrame({
        "neuron_id": np.full(n, label, np.int64),
        "node_id": np.arange(1, n + 1, dtype=np.int64),
        "type": types.astype(np.int64),
        "x": pos_um[:, 2].round(SWC_DECIMALS), "y": pos_um[:, 1].round(SWC_DECIMALS),
        "z": pos_um[:, 0].round(SWC_DECIMALS), "radius": r_um.round(SWC_DECIMALS),
        "parent": np.where(par >= 0, par + 1, -1).astype(np.int64),
    })
    return df[NODE_COLUMNS]


def cable_length_um(swc_path: Path) -> float:
    """Cable length (µm, the SWC's unit) of one SWC file via navis."""
    import navis

    return float(navis.read_swc(str(swc_path)).cable_length)






__all__ = ["skeletonize_labels", "skeleton_to_tree", "compartment_types",
           "soma_types", "write_swc", "write_swc_table", "read_swc", "check_tree",
           "check_table", "MorphologyError", "skeleton_table", "cable_length_um",
           "from_navis", "to_navis", "navis_units_um", "navis_example_tables",
           "bmtk_allen_swc_paths", "read_neuroml_cell", "morphometrics", "write_morphologies",
           "import_morphologies", "NODE_COLUMNS", "SWC_COLUMNS", "MORPHOMETRIC_COLUMNS",
           "SHOLL_COLUMNS"]
