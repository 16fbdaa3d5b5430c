"""Imaging stage: bring a volume into the pipeline as a chunked Zarr v3 array.

Sources
-------
``c302`` (default, real, needs nothing but PyPI)
    The 302 C. elegans neurons of the ``c302`` package (NeuroML2 cells, µm) are voxelised into a
    label volume: every NeuroML ``segment`` is a rounded frustum (truncated cone between its
    proximal and distal points, radius linearly interpolated, capped by spheres) drawn at an
    isotropic voxel size within a slab of the body axis y (default: the nerve ring).
    Labels are 1..N in sorted cell-name order (``label_names.csv``), independent of the slab.
    A voxel claimed by segments of two different cells goes to the segment whose surface is
    farthest away (most negative signed distance ``d - r``; ties: lower label) and is counted
    as an overlap. ``compartments.zarr`` holds the NeuroML ``soma_group`` / ``axon_group`` /
    ``dendrite_group`` membership (1 soma, 2 axon, 3 dendrite) of the winning segment.
``numpy`` (.npy, no pickle), ``tiff`` (one multi-page file or a folder of .tif/.tiff sections),
``png`` (a folder of sections), ``crackle`` (.ckl / .ckl.gz), ``nifti`` (.nii / .nii.gz).

Axis convention: arrays are (z, y, x); ``voxel_size_nm`` is (z, y, x); ``offset_nm`` (z, y, x) is
the physical position of voxel (0, 0, 0)'s centre. For ``c302`` the worm's own x, y, z (µm) are
the volume's x, y, z axes, so ``offset_nm + index * voxel_size_nm`` is the worm coordinate in nm.
"""

from __future__ import annotations

import csv
import glob
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

NML_NS = "{http://www.neuroml.org/schema/neuroml2}"
COMPARTMENT_CODES = {"soma": 1, "axon": 2, "dendrite": 3}




# --------------------------------------------------------------------------------------------
# Zarr I/O shared by the stages


def write_volume(
    path: Path, data: np.ndarray, attrs: dict, chunk_voxels: int = 64
) -> None:
    """Write ``data`` (z, y, x) as a chunked Zarr v3 array at ``path`` with ``attrs``."""
    import zarr

    chunks = tuple(min(int(chunk_voxels), int(s)) or 1 for s in data.shape)
    arr = zarr.create_array(
        store=str(path), shape=data.shape, dtype=data.dtype, chunks=chunks, zarr_format=3,
        overwrite=True,
    )
    arr[...] = data
    arr.attrs.update(attrs)


def read_volume(path: Path) -> tuple[np.ndarray, dict]:
    """Read a Zarr array written by :func:`write_volume`; returns (array (z,y,x), attrs)."""
    import zarr

    try:
        arr = zarr.open_array(str(path), mode="r")
    except Exception as exc:  # noqa: BLE001 - re-raised with the file name
        raise ValueError(f"{path}: not a readable Zarr array ({exc})") from exc
    return np.asarray(arr[...]), dict(arr.attrs)


def read_label_names(path: Path) -> dict[int, str]:
    """Read a ``label,name`` CSV into {label: name}."""
    out: dict[int, str] = {}
    with open(path, newline="") as fh:
        for row in csv.DictReader(fh):
            out[int(row["label"])] = row["name"]
    return out


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


# --------------------------------------------------------------------------------------------
# file readers; each raises ValueError naming the file


def _files_in(folder: Path, exts: tuple[str, ...]) -> list[Path]:
    files = sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in exts)
    if not files:
        raise ValueError(f"{folder}: no {'/'.join(exts)} files in folder")
    return files


def _stack(sections: list[np.ndarray], files: list[Path]) -> np.ndarray:
    shapes = {s.shape for s in sections}
    if len(shapes) != 1:
        bad = next(f for f, s in zip(files, sections) if s.shape != sections[0].shape)
        raise ValueError(f"{bad}: section shape differs from {files[0]} ({shapes})")
    return np.stack(sections)


def read_numpy(path: Path) -> np.ndarray:
    """Read a .npy array (no pickle); 2-D arrays become one z section."""
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"{path}: not a readable .npy array ({exc})") from exc
    return _as3d(arr, path)


def _as3d(arr: np.ndarray, path: Path) -> np.ndarray:
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f"{path}: expected a 2-D or 3-D volume, got shape {arr.shape}")
    return arr


def _read_tiff_file(path: Path) -> np.ndarray:
    import tifffile

    try:
        arr = tifffile.imread(path)
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"{path}: not a readable TIFF ({exc})") from exc
    if arr.ndim == 3 and arr.shape[-1] in (3, 4) and arr.shape[0] > 4:
        arr = arr[..., :3].mean(-1).astype(arr.dtype)  # RGB section → grey
    return arr


def read_tiff(path: Path) -> np.ndarray:
    """Read a multi-page TIFF or a folder of single-section TIFFs (sorted by name) as (z,y,x)."""
    path = Path(path)
    if path.is_dir():
        files = _files_in(path, (".tif", ".tiff"))
        secs = [_read_tiff_file(f) for f in files]
        for f, s in zip(files, secs):
            if s.ndim != 2:
                raise ValueError(f"{f}: expected a 2-D section, got shape {s.shape}")
        return _stack(secs, files)
    return _as3d(_read_tiff_file(path), path)


def read_png(path: Path) -> np.ndarray:
    """Read a folder of PNG sections (sorted by name) as (z, y, x); RGB is averaged to grey."""
    import imageio.v3 as iio

    path = Path(path)
    files = _files_in(path, (".png",)) if path.is_dir() else [path]
    secs = []
    for f in files:
        try:
            s = iio.imread(f)
        except Exception as exc:  # noqa: BLE001
            raise ValueError(f"{f}: not a readable PNG ({exc})") from exc
        if s.ndim == 3:
            s = s[..., :3].mean(-1).astype(s.dtype)
        secs.append(s)
    return _stack(secs, files)


def read_crackle(path: Path, crop: list[tuple[int, int]] | None = None) -> np.ndarray:
    """Read a crackle-compressed label volume as (z, y, x).

    crackle arrays are indexed (x, y, z); a ``crop`` ([[z0,z1],[y0,y1],[x0,x1]]) is decoded
    lazily, so only the needed z sections are decompressed.
    """
    import crackle

    try:
        arr = crackle.aload(str(path))
        if crop is not None:
            (z0, z1), (y0, y1), (x0, x1) = crop
            out = arr[x0:x1, y0:y1, z0:z1]
        else:
            out = arr[:, :, :]
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"{path}: not a readable crackle volume ({exc})") from exc
    return np.ascontiguousarray(np.asarray(out).transpose(2, 1, 0))


def read_nifti(path: Path) -> tuple[np.ndarray, tuple[float, float, float]]:
    """Read a 3-D NIfTI (a 4-D one with one volume is accepted) as ((z,y,x), voxel size nm).

    NIfTI stores (i, j, k) = (x, y, z) with zooms in mm (unless the header says µm)."""
    import nibabel as nib

    try:
        img = nib.load(str(path))
        data = np.asanyarray(img.dataobj)
    except Exception as exc:  # noqa: BLE001
        raise ValueError(f"{path}: not a readable NIfTI ({exc})") from exc
    if data.ndim == 4 and data.shape[3] == 1:
        data = data[..., 0]
    if data.ndim != 3:
        raise ValueError(f"{path}: expected a 3-D NIfTI volume, got dims {data.shape}")
    zooms = [float(z) for z in img.header.get_zooms()[:3]]
    unit = img.header.get_xyzt_units()[0]
    scale = {"meter": 1e9, "mm": 1e6, "micron": 1e3}.get(unit, 1e6)
    vs = (zooms[2] * scale, zooms[1] * scale, zooms[0] * scale)
    return np.ascontiguousarray(data.transpose(2, 1, 0)), vs


_NWB_UNIT_NM = {"meters": 1e9, "meter": 1e9, "m": 1e9, "millimeters": 1e6, "mm": 1e6,
                "micrometers": 1e3, "microns": 1e3, "um": 1e3, "µm": 1e3, "nanometers": 1.0,
                "nm": 1.0}


def read_nwb_series(path: Path, series: str | None = None, frame: int = 0
                    ) -> tuple[np.ndarray, tuple[float, float, float] | None]:
    """An NWB imaging series (``ImageSeries``, ``TwoPhotonSeries``, ...) from ``acquisition`` as
    a (z, y, x) volume and its voxel size in nm (None when the file does not say).

    NWB stores frames as (t, x, y) or, volumetric, (t, x, y, z). A 4-D series gives frame
    ``frame``; a 3-D one is a z-stack acquired frame by frame (serial sections, a z-scan): frame
    t is section z = t. The voxel size comes from the imaging plane's ``grid_spacing`` (x, y[, z]
    in ``grid_spacing_unit``) of a ``TwoPhotonSeries``/``OnePhotonSeries``; a plain
    ``ImageSeries`` has none. Data kept in external files is refused."""
    from pynwb import NWBHDF5IO
    from pynwb.image import ImageSeries

    try:
        io = NWBHDF5IO(str(path), "r", load_namespaces=True)
        nwb = io.read()
    except Exception as exc:  # noqa: BLE001 - pynwb/h5py raise many types
        raise ValueError(f"{path}: not a readable NWB file ({type(exc).__name__}: {exc})") from exc
    try:
        found = {k: v for k, v in nwb.acquisition.items() if isinstance(v, ImageSeries)}
        if series is None:
            if len(found) != 1:
                raise ValueError(f"{path}: {len(found)} imaging series in acquisition "
                                 f"({sorted(found)}); set imaging.nwb_series")
            series = next(iter(found))
        if series not in found:
            raise ValueError(f"{path}: no imaging series {series!r} in acquisition; "
                             f"found {sorted(found)}")
        ts = found[series]
        if ts.data is None or (getattr(ts, "external_file", None) is not None
                               and len(ts.external_file)):
            raise ValueError(f"{path}: series {series!r} keeps its frames in external files, "
                             "which are not read")
        shape = ts.data.shape
        if len(shape) == 4:
            if frame >= shape[0]:
                raise ValueError(f"{path}: series {series!r} has {shape[0]} frames, "
                                 f"imaging.nwb_frame = {frame}")
            vol = np.asarray(ts.data[frame]).transpose(2, 1, 0)  # (x, y, z) -> (z, y, x)
        elif len(shape) == 3:
            vol = np.asarray(ts.data[:]).transpose(0, 2, 1)  # (t=z, x, y) -> (z, y, x)
        else:
            raise ValueError(f"{path}: series {series!r} has data of shape {shape}; expected "
                             "(t, x, y) or (t, x, y, z)")
        vs = None
        plane = getattr(ts, "imaging_plane", None)
        spacing = getattr(plane, "grid_spacing", None) if plane is not None else None
        if spacing is not None and len(spacing) in (2, 3):
            unit = str(getattr(plane, "grid_spacing_unit", "meters") or "meters")
            if unit not in _NWB_UNIT_NM:
                raise ValueError(f"{path}: imaging plane of {series!r}: unknown "
                                 f"grid_spacing_unit {unit!r}")
            f = _NWB_UNIT_NM[unit]
            sx, sy = float(spacing[0]) * f, float(spacing[1]) * f
            sz = float(spacing[2]) * f if len(spacing) == 3 else float("nan")
            vs = (sz, sy, sx)
    finally:
        io.close()
    return np.ascontiguousarray(vol), vs


def apply_crop(vol: np.ndarray, crop: list[tuple[int, int]] | None) -> np.ndarray:
    """Crop ``vol`` (z, y, x) to [[z0,z1],[y0,y1],[x0,x1]]; validates the ranges."""
    if crop is None:
        return vol
    if len(crop) != 3:
        raise ValueError(f"crop must have 3 ranges (z, y, x), got {crop}")
    sl = []
    for (a, b), n, ax in zip(crop, vol.shape, "zyx"):
        if not 0 <= a < b <= n:
            raise ValueError(f"crop range {ax}=[{a},{b}) outside 0..{n}")
        sl.append(slice(a, b))
    return vol[tuple(sl)]








__all__ = [
    "write_volume", "read_volume", "read_label_names", "CellMorphology",
    "c302_cell_dir", "c302_cell_names", "read_nml_cell", "load_c302_cells", "voxelise_frustums",
    "voxelise_c302", "Voxelised", "read_numpy", "read_tiff", "read_png", "read_crackle",
    "read_nifti", "read_nwb_series", "apply_crop", ]


