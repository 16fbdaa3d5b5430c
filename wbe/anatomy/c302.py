"""The 302 C. elegans neurons of the ``c302`` package (NeuroML2 cells, µm) as a label volume.

Every NeuroML ``segment`` is a rounded frustum (truncated cone between its proximal and distal
points, radius linearly interpolated, capped by spheres) drawn at an isotropic voxel size within
a slab of the body axis y (default: the nerve ring). Labels are 1..N in sorted cell-name order,
independent of the slab. A voxel claimed by segments of two different cells goes to the segment
whose surface is farthest away (most negative signed distance ``d - r``; ties: lower label) and
is counted as an overlap. The compartment volume holds the NeuroML ``soma_group`` /
``axon_group`` / ``dendrite_group`` membership (1 soma, 2 axon, 3 dendrite) of the winning
segment. The worm's own x, y, z (µm) are the volume's x, y, z axes.
"""

from __future__ import annotations

import glob
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

NML_NS = "{http://www.neuroml.org/schema/neuroml2}"
COMPARTMENT_CODES = {"soma": 1, "axon": 2, "dendrite": 3}


# --------------------------------------------------------------------------------------------
# c302 cells


@dataclass
class CellMorphology:
    """One NeuroML cell as frustums: ``p0``, ``p1`` (n, 3) x,y,z in µm, ``r0``, ``r1`` (n,)
    radii in µm, ``compartment`` (n,) uint8 (0 none, 1 soma, 2 axon, 3 dendrite)."""

    name: str
    p0: np.ndarray
    p1: np.ndarray
    r0: np.ndarray
    r1: np.ndarray
    compartment: np.ndarray
    segment_ids: list[str] = field(default_factory=list)


def c302_cell_dir() -> Path:
    """Folder holding c302's ``<CELL>.cell.nml`` files (found without importing c302)."""
    spec = importlib.util.find_spec("c302")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError("the c302 package is not installed (pip install --no-deps c302)")
    return Path(spec.submodule_search_locations[0]) / "NeuroML2"


def c302_cell_names() -> list[str]:
    """Sorted names of all cells shipped by c302."""
    return sorted(
        Path(f).name[: -len(".cell.nml")] for f in glob.glob(str(c302_cell_dir() / "*.cell.nml"))
    )


def _group_members(morph, ns: str = NML_NS) -> dict[str, set[str]]:
    """Resolve NeuroML segmentGroups (members and includes) into sets of segment ids."""
    direct: dict[str, set[str]] = {}
    includes: dict[str, list[str]] = {}
    for g in morph.findall(ns + "segmentGroup"):
        gid = g.get("id")
        direct[gid] = {m.get("segment") for m in g.findall(ns + "member")}
        includes[gid] = [i.get("segmentGroup") for i in g.findall(ns + "include")]
    resolved: dict[str, set[str]] = {}

    def resolve(gid: str, stack: tuple[str, ...] = ()) -> set[str]:
        if gid in resolved:
            return resolved[gid]
        out = set(direct.get(gid, set()))
        for inc in includes.get(gid, []):
            if inc not in stack:
                out |= resolve(inc, (*stack, gid))
        resolved[gid] = out
        return out

    for gid in direct:
        resolve(gid)
    return resolved


def read_nml_cell(path: Path) -> CellMorphology:
    """Parse one NeuroML2 cell file (defusedxml) into frustums in µm.

    A segment without ``proximal`` starts at its parent's ``distal``. Compartments come from the
    groups ``soma_group``/``axon_group``/``dendrite_group`` (else from the segment names).
    """
    from defusedxml import ElementTree as ET

    try:
        root = ET.parse(str(path)).getroot()
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"{path}: not a readable NeuroML file ({exc})") from exc
    cell = root.find(NML_NS + "cell")
    morph = cell.find(NML_NS + "morphology") if cell is not None else None
    if morph is None:
        raise ValueError(f"{path}: no <cell>/<morphology> element")
    segs = morph.findall(NML_NS + "segment")
    if not segs:
        raise ValueError(f"{path}: morphology has no <segment>")

    def pt(el) -> list[float]:
        return [float(el.get("x")), float(el.get("y")), float(el.get("z")),
                float(el.get("diameter"))]

    distal = {}
    for s in segs:
        d = s.find(NML_NS + "distal")
        if d is None:
            raise ValueError(f"{path}: segment {s.get('id')} has no <distal>")
        distal[s.get("id")] = pt(d)
    groups = _group_members(morph)
    comp_of: dict[str, int] = {}
    for key, code in COMPARTMENT_CODES.items():
        for sid in groups.get(f"{key}_group", set()):
            comp_of.setdefault(sid, code)
    prox, dist, comps, ids = [], [], [], []
    for s in segs:
        sid = s.get("id")
        p = s.find(NML_NS + "proximal")
        if p is not None:
            prox.append(pt(p))
        else:
            par = s.find(NML_NS + "parent")
            if par is None or par.get("segment") not in distal:
                raise ValueError(f"{path}: segment {sid} has neither proximal nor a parent")
            prox.append(distal[par.get("segment")])
        dist.append(distal[sid])
        code = comp_of.get(sid, 0)
        if code == 0:
            nm = (s.get("name") or "").lower()
            code = next((c for k, c in COMPARTMENT_CODES.items() if k in nm), 0)
        comps.append(code)
        ids.append(sid)
    a, b = np.asarray(prox, float), np.asarray(dist, float)
    return CellMorphology(
        name=cell.get("id") or Path(path).name.split(".")[0],
        p0=a[:, :3], p1=b[:, :3], r0=a[:, 3] / 2.0, r1=b[:, 3] / 2.0,
        compartment=np.asarray(comps, np.uint8), segment_ids=ids,
    )


def load_c302_cells(names: list[str] | None = None, exclude: list[str] = ()) -> list[CellMorphology]:
    """Parse the c302 cells ``names`` (default all, minus ``exclude``), sorted by name."""
    avail = c302_cell_names()
    if names is None:
        names = [n for n in avail if n not in set(exclude)]
    missing = sorted(set(names) - set(avail))
    if missing:
        raise ValueError(f"c302 has no cell(s) {missing}")
    d = c302_cell_dir()
    return [read_nml_cell(d / f"{n}.cell.nml") for n in sorted(names)]


def _split_pieces(p0, p1, r0, r1, max_len):
    """Split frustums longer than ``max_len`` into equal pieces; returns arrays + source index."""
    length = np.linalg.norm(p1 - p0, axis=1)
    k = np.maximum(1, np.ceil(length / max_len).astype(int))
    src = np.repeat(np.arange(len(p0)), k)
    j = np.concatenate([np.arange(n) for n in k]) if len(k) else np.zeros(0, int)
    t0 = (j / k[src])[:, None]
    t1 = ((j + 1) / k[src])[:, None]
    d = (p1 - p0)[src]
    dr = (r1 - r0)[src]
    return (p0[src] + t0 * d, p0[src] + t1 * d, r0[src] + t0[:, 0] * dr,
            r0[src] + t1[:, 0] * dr, src)


@dataclass
class Voxelised:
    """Result of :func:`voxelise_frustums`."""

    labels: np.ndarray  # uint32 (z, y, x)
    compartments: np.ndarray  # uint8 (z, y, x)
    offset_um: np.ndarray  # (z, y, x) centre of voxel (0,0,0) in µm
    voxel_size_um: float
    overlap_voxels: int


def voxelise_frustums(
    p0: np.ndarray, p1: np.ndarray, r0: np.ndarray, r1: np.ndarray, label: np.ndarray,
    compartment: np.ndarray | None, voxel_size_um: float, origin_um: np.ndarray,
    shape_zyx: tuple[int, int, int], *, min_radius_voxels: float = 0.87,
    max_piece_um: float = 2.0,
) -> Voxelised:
    """Draw rounded frustums into a label volume.

    ``p0``, ``p1``: (n, 3) end points x, y, z in µm; ``r0``, ``r1``: radii in µm; ``label``:
    (n,) uint32 > 0; ``compartment``: (n,) uint8 or None. The volume has ``shape_zyx`` voxels of
    ``voxel_size_um`` whose voxel (0,0,0) centre is at ``origin_um`` (x, y, z µm). A voxel
    belongs to a frustum if its centre's distance ``d`` to the axis (clamped to the segment) is
    ≤ the interpolated radius (at least ``min_radius_voxels`` voxels). Overlaps between
    different labels are resolved to the smallest ``d - r`` (ties: lower label) and counted.
    Vectorised per piece (≤ ``max_piece_um`` long).
    """
    p0 = np.asarray(p0, float)
    p1 = np.asarray(p1, float)
    label = np.asarray(label, np.uint32)
    comp = np.zeros(len(p0), np.uint8) if compartment is None else np.asarray(compartment, np.uint8)
    rmin = min_radius_voxels * voxel_size_um
    r0 = np.maximum(np.asarray(r0, float), rmin)
    r1 = np.maximum(np.asarray(r1, float), rmin)
    a, b, ra, rb, src = _split_pieces(p0, p1, r0, r1, max_piece_um)
    origin = np.asarray(origin_um, float)
    shape = np.asarray(shape_zyx, int)
    vs = float(voxel_size_um)
    labels = np.zeros(shape_zyx, np.uint32)
    comps = np.zeros(shape_zyx, np.uint8)
    sd = np.full(shape_zyx, np.inf, np.float32)  # signed distance d - r of the owner
    contested = np.zeros(shape_zyx, bool)
    # bounding boxes in voxel index space, x,y,z order
    rmax = np.maximum(ra, rb)
    lo = np.floor((np.minimum(a, b) - rmax[:, None] - origin) / vs).astype(int)
    hi = np.ceil((np.maximum(a, b) + rmax[:, None] - origin) / vs).astype(int) + 1
    size_xyz = shape[::-1]
    lo = np.clip(lo, 0, size_xyz)
    hi = np.clip(hi, 0, size_xyz)
    keep = np.all(hi > lo, axis=1)
    for i in np.nonzero(keep)[0]:
        (x0, y0, z0), (x1, y1, z1) = lo[i], hi[i]
        zs = origin[2] + vs * np.arange(z0, z1)
        ys = origin[1] + vs * np.arange(y0, y1)
        xs = origin[0] + vs * np.arange(x0, x1)
        ax = b[i] - a[i]
        l2 = float(ax @ ax)
        qx = xs[None, None, :] - a[i, 0]
        qy = ys[None, :, None] - a[i, 1]
        qz = zs[:, None, None] - a[i, 2]
        if l2 > 0:
            t = np.clip((qx * ax[0] + qy * ax[1] + qz * ax[2]) / l2, 0.0, 1.0)
        else:
            t = np.zeros((len(zs), len(ys), len(xs)))
        d = np.sqrt((qx - t * ax[0]) ** 2 + (qy - t * ax[1]) ** 2 + (qz - t * ax[2]) ** 2)
        s = (d - (ra[i] + t * (rb[i] - ra[i]))).astype(np.float32)
        inside = s <= 0
        if not inside.any():
            continue
        sl = (slice(z0, z1), slice(y0, y1), slice(x0, x1))
        lab_v, sd_v = labels[sl], sd[sl]
        lab = label[src[i]]
        other = inside & (lab_v != 0) & (lab_v != lab)
        if other.any():
            contested[sl] |= other
        better = inside & ((s < sd_v) | ((s == sd_v) & (lab < lab_v)))
        if better.any():
            lab_v[better] = lab
            sd_v[better] = s[better]
            comps[sl][better] = comp[src[i]]
    return Voxelised(labels, comps, origin[::-1].copy(), vs, int(contested.sum()))


def voxelise_c302(
    cells: list[CellMorphology], labels_of: dict[str, int], voxel_size_um: float,
    y_range_um: tuple[float, float], margin_um: float = 1.0, min_radius_voxels: float = 0.87,
    max_piece_um: float = 2.0,
) -> Voxelised:
    """Voxelise ``cells`` within the body-axis slab ``y_range_um`` (µm) at ``voxel_size_um``.

    The x and z extent is the bounding box (plus ``margin_um``) of the parts of the cells that
    lie in the slab. ``labels_of`` maps cell name → label (uint32 > 0).
    """
    ylo, yhi = float(y_range_um[0]), float(y_range_um[1])
    if not yhi > ylo:
        raise ValueError(f"c302_y_range_um must be increasing, got {y_range_um}")
    P0, P1, R0, R1, L, C = [], [], [], [], [], []
    for c in cells:
        P0.append(c.p0)
        P1.append(c.p1)
        R0.append(c.r0)
        R1.append(c.r1)
        L.append(np.full(len(c.p0), labels_of[c.name], np.uint32))
        C.append(c.compartment)
    p0, p1 = np.concatenate(P0), np.concatenate(P1)
    r0, r1 = np.concatenate(R0), np.concatenate(R1)
    lab, comp = np.concatenate(L), np.concatenate(C)
    # clip each frustum to the slab (parametric in y), keep those that reach into it
    rr = np.maximum(r0, r1)
    dy = p1[:, 1] - p0[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        ta = np.where(dy != 0, (ylo - rr - p0[:, 1]) / dy, -np.inf)
        tb = np.where(dy != 0, (yhi + rr - p0[:, 1]) / dy, np.inf)
    tlo = np.clip(np.minimum(ta, tb), 0, 1)
    thi = np.clip(np.maximum(ta, tb), 0, 1)
    flat = dy == 0
    in_flat = flat & (p0[:, 1] + rr >= ylo) & (p0[:, 1] - rr <= yhi)
    tlo = np.where(flat, 0.0, tlo)
    thi = np.where(flat, np.where(in_flat, 1.0, 0.0), thi)
    sel = thi > tlo
    sel |= in_flat
    if not sel.any():
        raise ValueError(f"no c302 segment lies in y range {y_range_um} µm")
    d = p1 - p0
    q0 = p0 + tlo[:, None] * d
    q1 = p0 + thi[:, None] * d
    s0 = r0 + tlo * (r1 - r0)
    s1 = r0 + thi * (r1 - r0)
    q0, q1, s0, s1, lab, comp = q0[sel], q1[sel], s0[sel], s1[sel], lab[sel], comp[sel]
    rs = np.maximum(s0, s1)[:, None]
    bmin = np.minimum(q0, q1) - rs - margin_um
    bmax = np.maximum(q0, q1) + rs + margin_um
    lo = bmin.min(0)
    hi = bmax.max(0)
    lo[1], hi[1] = ylo, yhi
    vs = float(voxel_size_um)
    n_xyz = np.maximum(1, np.round((hi - lo) / vs).astype(int))
    origin = lo + vs / 2.0
    return voxelise_frustums(
        q0, q1, s0, s1, lab, comp, vs, origin, tuple(int(v) for v in n_xyz[::-1]),
        min_radius_voxels=min_radius_voxels, max_piece_um=max_piece_um,
    )


__all__ = ["NML_NS", "COMPARTMENT_CODES", "CellMorphology", "c302_cell_dir", "c302_cell_names",
           "read_nml_cell", "load_c302_cells", "voxelise_frustums", "voxelise_c302",
           "Voxelised"]
