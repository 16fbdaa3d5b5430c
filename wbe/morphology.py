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

Cable length comes from navis (``navis.read_swc(...).cable_length``) on the written files.
"""

from __future__ import annotations

import csv
import time
from collections import deque
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from wbe.imaging import read_volume

SWC_DECIMALS = 4  # µm → 0.1 nm; the written values are the values in nodes.parquet
NODE_COLUMNS = ["neuron_id", "node_id", "type", "x", "y", "z", "radius", "parent"]


class Params(BaseModel):
    """Parameters of the morphology stage (kimimaro TEASAR; lengths in nm as kimimaro wants)."""

    model_config = ConfigDict(extra="forbid")

    scale: float = Field(
        1.5, description="TEASAR: invalidation radius = scale × boundary distance + const "
        "(dimensionless)", gt=0,
    )
    const_nm: float = Field(300.0, description="TEASAR: constant part of invalidation radius, nm",
                            ge=0)
    pdrf_scale: float = Field(100000.0, description="TEASAR: penalty field scale (dimensionless)")
    pdrf_exponent: int = Field(4, description="TEASAR: penalty field exponent (dimensionless)")
    soma_detection_threshold_nm: float = Field(
        800.0, description="TEASAR: boundary distance (nm) above which a soma is suspected"
    )
    soma_acceptance_threshold_nm: float = Field(
        1100.0, description="TEASAR: boundary distance (nm) above which a soma is accepted"
    )
    soma_invalidation_scale: float = Field(
        1.0, description="TEASAR: soma invalidation radius scale (dimensionless)"
    )
    soma_invalidation_const_nm: float = Field(
        300.0, description="TEASAR: soma invalidation radius constant, nm"
    )
    dust_threshold_voxels: int = Field(
        10, description="objects smaller than this (voxels) are not skeletonised", ge=0
    )
    fix_branching: bool = Field(True, description="kimimaro fix_branching (slower, better)")
    soma_min_radius_um: float = Field(
        1.0, description="without compartments: smallest max radius (µm) that makes a soma"
    )
    soma_radius_fraction: float = Field(
        0.5, description="without compartments: soma nodes have radius ≥ this × max radius",
        gt=0, le=1,
    )
    parallel: int = Field(1, description="kimimaro worker processes", ge=1)


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

    p = params or Params()
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


def write_swc(path: Path, node_id, type_, x, y, z, radius, parent, header: str = "") -> None:
    """Write an SWC file (µm); values are written with ``SWC_DECIMALS`` decimals."""
    lines = [f"# {h}" for h in header.splitlines()] if header else []
    fmt = f"{{}} {{}} {{:.{SWC_DECIMALS}f}} {{:.{SWC_DECIMALS}f}} {{:.{SWC_DECIMALS}f}} " \
          f"{{:.{SWC_DECIMALS}f}} {{}}"
    for row in zip(node_id, type_, x, y, z, radius, parent):
        lines.append(fmt.format(int(row[0]), int(row[1]), *map(float, row[2:6]), int(row[6])))
    Path(path).write_text("\n".join(lines) + "\n")


def skeleton_table(
    label: int, vertices_zyx_nm: np.ndarray, edges: np.ndarray, radii_nm: np.ndarray,
    offset_nm: tuple[float, float, float], voxel_size_nm: tuple[float, float, float],
    labels: np.ndarray | None = None, compartments: np.ndarray | None = None,
    params: Params | None = None,
) -> pd.DataFrame:
    """One skeleton → node table (NODE_COLUMNS) in µm with SWC ids 1..n and parent −1 at roots,
    rounded to ``SWC_DECIMALS`` so that the table equals its SWC file."""
    p = params or Params()
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


def _read_segments(path: Path) -> dict[int, str]:
    with open(path, newline="") as fh:
        return {int(r["label"]): r["name"] for r in csv.DictReader(fh)}


def run(params: Params, inputs: dict[str, Path], out_dir: Path, *, progress: bool = True) -> dict:
    """Write ``swc/<label>.swc``, ``nodes.parquet`` and ``neurons.csv`` from the segmentation
    output ``inputs['segmentation']`` (and compartments from ``inputs['imaging']`` if given)."""
    from tqdm import tqdm

    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    seg = Path(inputs["segmentation"])
    labels, attrs = read_volume(seg / "labels.zarr")
    names = _read_segments(seg / "segments.csv") if (seg / "segments.csv").exists() else {}
    vs = tuple(float(v) for v in attrs.get("voxel_size_nm", (1.0, 1.0, 1.0)))
    offset = tuple(float(v) for v in attrs.get("offset_nm", (0.0, 0.0, 0.0)))
    comps = None
    if "imaging" in inputs and (Path(inputs["imaging"]) / "compartments.zarr").exists():
        comps, _ = read_volume(Path(inputs["imaging"]) / "compartments.zarr")
        if comps.shape != labels.shape:
            raise ValueError(f"{Path(inputs['imaging']) / 'compartments.zarr'}: shape "
                             f"{comps.shape} differs from labels {labels.shape}")
    skels = skeletonize_labels(labels, vs, params, progress=False)
    t_skel = time.perf_counter() - t0
    swc_dir = out_dir / "swc"
    swc_dir.mkdir()
    tables, rows = [], []
    all_labels = sorted(int(v) for v in np.unique(labels) if v > 0)
    for lab in tqdm(all_labels, desc="morphology", disable=not progress, unit="neuron"):
        if lab not in skels or len(skels[lab][0]) == 0:
            continue
        v, e, r = skels[lab]
        df = skeleton_table(lab, v, e, r, offset, vs, labels, comps, params)
        path = swc_dir / f"{lab}.swc"
        write_swc(path, df.node_id, df.type, df.x, df.y, df.z, df.radius, df.parent,
                  header=f"wbe morphology: label {lab} ({names.get(lab, lab)}), units µm")
        tables.append(df)
        rows.append((lab, names.get(lab, str(lab)), len(df), cable_length_um(path)))
    nodes = (pd.concat(tables, ignore_index=True) if tables
             else pd.DataFrame({c: pd.Series(dtype="int64") for c in NODE_COLUMNS}))
    nodes.to_parquet(out_dir / "nodes.parquet", index=False)
    with open(out_dir / "neurons.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["neuron_id", "name", "n_nodes", "cable_um"])
        for lab, nm, nn, cl in rows:
            w.writerow([lab, nm, nn, f"{cl:.4f}"])
    types = nodes["type"].value_counts().to_dict() if len(nodes) else {}
    return {
        "n_labels": len(all_labels), "n_skeletons": len(rows),
        "n_skipped": len(all_labels) - len(rows), "n_nodes": int(len(nodes)),
        "cable_um": round(float(sum(r[3] for r in rows)), 3),
        "node_types": {int(k): int(v) for k, v in types.items()},
        "skeletonize_s": round(t_skel, 3), "wall_s": round(time.perf_counter() - t0, 3),
    }


__all__ = ["Params", "run", "skeletonize_labels", "skeleton_to_tree", "compartment_types",
           "soma_types", "write_swc", "skeleton_table", "cable_length_um", "NODE_COLUMNS"]
