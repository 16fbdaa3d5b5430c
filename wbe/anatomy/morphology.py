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

The SWC format itself and the importers are in :mod:`wbe.anatomy.swc`.
"""

from __future__ import annotations

import os
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from wbe.anatomy.swc import (
    SWC_COLUMNS,
    SWC_DECIMALS,
    bmtk_allen_swc_paths,
    from_navis,
    navis_example_tables,
    read_neuroml_cell,
    read_swc,
    to_navis,
    write_swc_table,
)
from wbe.io.atomic import write_csv, written_atomically

if TYPE_CHECKING:  # the stage's parameters (the stage module imports this one)
    from wbe.stages.morphology import Params

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
    write_csv(out_dir / "neurons.csv", neurons, float_format=f"%.{SWC_DECIMALS}f")
    write_csv(out_dir / "morphometrics.csv", mt, float_format=f"%.{SWC_DECIMALS}f")
    sholl = (pd.concat(sholls, ignore_index=True) if sholls
             else pd.DataFrame(columns=["neuron_id", *SHOLL_COLUMNS]))
    write_csv(out_dir / "sholl.csv", sholl, float_format=f"%.{SWC_DECIMALS}f")
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
    from wbe.anatomy.c302 import c302_cell_dir, c302_cell_names

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


__all__ = ["skeletonize_labels", "skeleton_to_tree", "compartment_types", "soma_types",
           "skeleton_table", "cable_length_um", "morphometrics", "write_morphologies",
           "import_morphologies", "NODE_COLUMNS", "MORPHOMETRIC_COLUMNS", "SHOLL_COLUMNS"]
