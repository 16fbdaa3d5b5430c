"""Morphologies as files: SWC (a validating reader, an atomic writer) and the ways real
morphologies come in — navis neurons (units converted to µm), the Allen Cell Types SWC files that
ship with bmtk, NeuroML2 cells such as c302's.

SWC convention used here (Cannon et al. 1998, as NeuroMorpho and navis read it): 7 whitespace
separated fields per line ``id type x y z radius parent``, ``#`` starts a comment; ids are
non-negative integers, unique; ``parent`` is ``-1`` for a root or the id of a node in the file
(in any order); radius ≥ 0; x, y, z, radius in µm. A file may hold a forest (several roots, as
skeletons of fragmented segments are) unless ``single_root=True`` is asked for.
"""

from __future__ import annotations

import importlib.util
import os
from collections import deque
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from wbe.io.atomic import write_text

__all__ = ["MorphologyError", "SWC_COLUMNS", "SWC_DECIMALS", "read_swc", "write_swc",
           "write_swc_table", "check_tree", "check_table", "from_navis", "to_navis",
           "navis_units_um", "navis_example_tables", "bmtk_allen_swc_paths", "read_neuroml_cell"]

SWC_DECIMALS = 4  # µm → 0.1 nm; the written values are the values in nodes.parquet


# --------------------------------------------------------------------------------------------
# SWC: a validating reader, an atomic writer


class MorphologyError(ValueError):
    """A malformed morphology (SWC or NeuroML file, or node table). The message names the file
    (or table), the line (or row) and the node."""


SWC_COLUMNS = ["node_id", "type", "x", "y", "z", "radius", "parent"]


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

    Geometry and compartments come from :func:`wbe.anatomy.c302.read_nml_cell` (the parser the
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

    from wbe.anatomy.c302 import NML_NS, read_nml_cell

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
