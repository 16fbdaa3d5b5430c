"""Atlas: region labels for points, neurons and imaging volumes from a NIfTI label volume.

An atlas is a 3-D integer NIfTI (0 = unlabelled) whose sform/qform maps voxel indices (i, j, k)
to world coordinates in **mm** (e.g. MNI space), plus a table naming the labels. Debian's
``mricron-data`` ships several under ``/usr/share/mricron/templates`` (``aal.nii.gz`` with
``aal.nii.txt``, ``AICHAmc.nii.gz`` with ``AICHAmc.nii.txt``, ``JHU-WhiteMatter-labels-*``
with ``.nii.txt`` tables; ``brodmann.nii.gz`` and ``HarvardOxford-cort-maxprob-thr0-1mm.nii.gz``
without a table); a user can supply any label NIfTI and a table.

Label tables
------------
Found beside the atlas when ``labels`` is not given: ``<stem>.nii.txt`` (mricron's convention),
``<stem>.txt``, ``<stem>.tsv``, ``<stem>.csv`` (stem = file name without ``.nii``/``.nii.gz``).

* ``.txt``: one region a line, ``<id> <name> [anything else]``, separated by a tab (the name is
  the second tab field and may hold spaces) or else by white space; ``#`` comments and blank
  lines are skipped (mricron's ``aal.nii.txt``: ``1 Precentral_L 2001``; FreeSurfer LUTs fit).
* ``.csv`` / ``.tsv``: a header with an id column (``id``, ``label`` or ``index``) and a
  ``name`` column (wbe's own ``label_names.csv`` from the imaging stage reads as is).

Every label present in the volume must have a name (else an error lists the missing ids); table
entries without voxels are kept (region with 0 voxels). Id 0 is "unlabelled" whatever the table
says. Without any table, label ``n`` is named ``label_<n>``.

Geometry
--------
A world point ``p`` (mm) falls in voxel ``round(A⁻¹ p)`` (``A`` the atlas affine; halves round
up, i.e. ``floor(x + 0.5)``); outside the array it is unlabelled (0). Resampling onto another grid
uses the same nearest-neighbour rule through :func:`scipy.ndimage.affine_transform` (``order=0``,
``mode="grid-constant"``), so a resampled voxel has the label :func:`regions_of_points` gives its
centre.

Registration hook: data (neuron positions, a Zarr volume) live in their own frame — EM µm,
C. elegans body coordinates, a subject's scanner space. ``transform`` is a 4×4 affine from that
frame, in the data's unit (``data_unit``, µm by default, as the morphology and connectome tables
are), to atlas world mm. Without one, the data are taken to be in the atlas frame already and
only converted to mm.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: name of region 0 (outside the atlas or an unlabelled voxel)
UNLABELLED = "unlabelled"
#: mm per unit of the data frame
UNIT_TO_MM = {"nm": 1e-6, "um": 1e-3, "mm": 1.0}
#: NIfTI xyz units → mm (``unknown`` is taken as mm, the convention of MNI-space atlases)
_NIFTI_UNIT_MM = {"meter": 1000.0, "mm": 1.0, "micron": 1e-3, "unknown": 1.0}
_ID_COLUMNS = ("id", "label", "index")
REGION_COLUMNS = ["region_id", "region_name"]


class AtlasError(ValueError):
    """A malformed atlas, label table or transform (the message names the file)."""


# --------------------------------------------------------------------------------------------
# the atlas


@dataclass
class Atlas:
    """A label volume with its geometry and names.

    ``data``: int32 labels indexed (i, j, k) as stored in the NIfTI (0 = unlabelled);
    ``affine``: 4×4, voxel index (i, j, k, 1) → world (x, y, z, 1) in mm;
    ``names``: {label id > 0: name}; ``path`` / ``label_path``: where they came from
    (``label_path`` None: names given as a mapping or generated)."""

    data: np.ndarray = field(repr=False)
    affine: np.ndarray
    names: dict[int, str]
    path: Path | None = None
    label_path: Path | None = None
    _tree: Any = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.affine = check_affine(self.affine, f"{self.path or 'atlas'}: affine")
        if self.data.ndim != 3:
            raise AtlasError(f"{self.path or 'atlas'}: label volume must be 3-D, got "
                             f"shape {self.data.shape}")

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.data.shape)

    @property
    def inverse(self) -> np.ndarray:
        """World mm → voxel index (continuous)."""
        return np.linalg.inv(self.affine)

    @property
    def voxel_volume_mm3(self) -> float:
        return float(abs(np.linalg.det(self.affine[:3, :3])))

    @property
    def region_ids(self) -> np.ndarray:
        """Ids of the table (or of the volume when names were generated), sorted, > 0."""
        return np.asarray(sorted(self.names), np.int64)

    def name(self, region_id: int) -> str:
        rid = int(region_id)
        return UNLABELLED if rid == 0 else self.names.get(rid, f"label_{rid}")

    def names_of(self, ids: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`name` → object array."""
        ids = np.asarray(ids, np.int64)
        uniq, inv = np.unique(ids, return_inverse=True)
        return np.asarray([self.name(u) for u in uniq.tolist()], dtype=object)[inv].reshape(
            ids.shape)

    def labelled_tree(self):
        """cKDTree over the world positions (mm) of the labelled voxels (built once)."""
        if self._tree is None:
            from scipy.spatial import cKDTree

            idx = np.argwhere(self.data > 0)
            xyz = idx @ self.affine[:3, :3].T + self.affine[:3, 3]
            self._tree = (cKDTree(xyz), self.data[tuple(idx.T)].astype(np.int64))
        return self._tree


def check_affine(matrix: Any, what: str = "transform") -> np.ndarray:
    """Validate a 4×4 affine (finite, last row 0 0 0 1, invertible); returns it as float64."""
    try:
        m = np.asarray(matrix, dtype=float)
    except (TypeError, ValueError) as exc:
        raise AtlasError(f"{what}: not a numeric 4×4 matrix ({exc})") from exc
    if m.shape != (4, 4):
        raise AtlasError(f"{what}: expected a 4×4 affine, got shape {m.shape}")
    if not np.all(np.isfinite(m)):
        raise AtlasError(f"{what}: contains NaN or infinite values")
    if not np.allclose(m[3], [0.0, 0.0, 0.0, 1.0]):
        raise AtlasError(f"{what}: last row must be [0, 0, 0, 1] (an affine), got {m[3].tolist()}")
    lin = m[:3, :3]
    scale = float(np.abs(lin).max())
    if scale == 0.0 or abs(np.linalg.det(lin)) <= 1e-12 * scale**3 or np.linalg.cond(lin) > 1e12:
        raise AtlasError(f"{what}: singular (not invertible), linear part {lin.tolist()}")
    return m


def read_transform(path: str | os.PathLike) -> np.ndarray:
    """Read a 4×4 affine from a text file (4 rows of 4 numbers, ``#`` comments allowed)."""
    path = Path(path)
    try:
        m = np.loadtxt(path, dtype=float, comments="#", ndmin=2)
    except (OSError, ValueError) as exc:
        raise AtlasError(f"{path}: not a readable 4×4 text matrix ({exc})") from exc
    return check_affine(m, str(path))


# --------------------------------------------------------------------------------------------
# reading


def _stem(path: Path) -> str:
    name = path.name
    for suf in (".nii.gz", ".nii"):
        if name.lower().endswith(suf):
            return name[: -len(suf)]
    return path.stem


def find_label_table(nifti_path: str | os.PathLike) -> Path | None:
    """The label table shipped beside an atlas, if any (see the module doc for the names)."""
    p = Path(nifti_path)
    stem = _stem(p)
    for cand in (f"{stem}.nii.txt", f"{stem}.txt", f"{stem}.tsv", f"{stem}.csv"):
        q = p.with_name(cand)
        if q.is_file():
            return q
    return None


def _parse_id(text: str, where: str) -> int:
    try:
        v = float(text)
    except ValueError:
        raise AtlasError(f"{where}: label id {text!r} is not a number") from None
    if not np.isfinite(v) or v != int(v) or v < 0:
        raise AtlasError(f"{where}: label id {text!r} is not a non-negative integer")
    return int(v)


def read_label_table(path: str | os.PathLike) -> dict[int, str]:
    """Read a label table (mricron ``.txt``, or ``.csv``/``.tsv`` with a header) into
    {id: name}; id 0 is dropped (it is always "unlabelled"). Raises :class:`AtlasError` naming
    the file and line on a malformed table (bad id, empty name, duplicate id, no rows)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise AtlasError(f"{path}: cannot read label table ({exc})") from exc
    rows: list[tuple[int, str, str]] = []  # (id text, name, where)
    suffix = path.suffix.lower()
    if suffix in (".csv", ".tsv"):
        reader = csv.DictReader(text.splitlines(), delimiter="," if suffix == ".csv" else "\t")
        cols = {c.strip().lower(): c for c in (reader.fieldnames or []) if c is not None}
        id_col = next((cols[c] for c in _ID_COLUMNS if c in cols), None)
        if id_col is None or "name" not in cols:
            raise AtlasError(f"{path}: header must have an id column ({'/'.join(_ID_COLUMNS)}) "
                             f"and a 'name' column, got {reader.fieldnames}")
        for k, r in enumerate(reader, start=2):
            if not any((v or "").strip() for v in r.values() if isinstance(v, str)):
                continue
            rows.append(((r.get(id_col) or "").strip(), (r.get(cols["name"]) or "").strip(),
                         f"{path}:{k}"))
    else:
        for k, line in enumerate(text.splitlines(), start=1):
            s = line.strip()
            if not s or s.startswith("#"):
                continue
            parts = [t.strip() for t in s.split("\t")] if "\t" in s else s.split()
            if len(parts) < 2:
                raise AtlasError(f"{path}:{k}: expected '<id> <name> ...', got {s!r}")
            rows.append((parts[0], parts[1], f"{path}:{k}"))
    if not rows:
        raise AtlasError(f"{path}: label table has no rows")
    out: dict[int, str] = {}
    for id_text, name, where in rows:
        rid = _parse_id(id_text, where)
        if not name:
            raise AtlasError(f"{where}: label {rid} has an empty name")
        if rid == 0:
            continue
        if rid in out:
            raise AtlasError(f"{where}: label id {rid} appears twice")
        out[rid] = name
    if not out:
        raise AtlasError(f"{path}: label table names no label > 0")
    return out


def _integer_labels(data: np.ndarray, path: Path) -> np.ndarray:
    """Check and convert label data to int32 (integral, finite, 0 ≤ v < 2³¹)."""
    if data.dtype.kind == "b":
        return data.astype(np.int32)
    if data.dtype.kind not in "iuf":
        raise AtlasError(f"{path}: label data must be integers, got dtype {data.dtype}")
    if data.size == 0:
        raise AtlasError(f"{path}: label volume is empty, shape {data.shape}")
    if data.dtype.kind == "f":
        if not np.all(np.isfinite(data)):
            raise AtlasError(f"{path}: label data contain NaN or infinite values")
        frac = data != np.round(data)
        if frac.any():
            bad = np.unique(data[frac])[:5].tolist()
            raise AtlasError(f"{path}: label data must be integers, got non-integer values "
                             f"such as {bad} (dtype {data.dtype}; a probability map, not a "
                             "label atlas?)")
    lo, hi = data.min(), data.max()
    if lo < 0:
        raise AtlasError(f"{path}: label data must be ≥ 0, minimum is {lo}")
    if hi > np.iinfo(np.int32).max:
        raise AtlasError(f"{path}: label {hi} does not fit int32")
    return np.ascontiguousarray(data.astype(np.int32))


def load_atlas(
    nifti_path: str | os.PathLike,
    labels: str | os.PathLike | Mapping[int, str] | None = None,
) -> Atlas:
    """Read a NIfTI label atlas and its names.

    ``labels``: a table path (see :func:`read_label_table`), a mapping {id: name}, or None to
    use the table beside the atlas (:func:`find_label_table`; none: names ``label_<id>``).

    Rejected with :class:`AtlasError` naming the file: unreadable/truncated files, arrays that
    are not 3-D (a 4-D file is accepted only with one volume), non-integer or negative label
    data, no sform/qform (world coordinates unknown), a singular or non-finite affine, and a
    table that leaves a label of the volume without a name. The affine is converted to mm from
    the header's xyz unit (``unknown`` → mm).
    """
    import nibabel as nib

    path = Path(nifti_path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: atlas file not found")
    try:
        img = nib.load(str(path))
    except Exception as exc:  # noqa: BLE001 - re-raised with the file name
        raise AtlasError(f"{path}: not a readable NIfTI ({type(exc).__name__}: {exc})") from exc
    if not isinstance(img, nib.Nifti1Image | nib.Nifti2Image):
        raise AtlasError(f"{path}: not a NIfTI-1/2 image ({type(img).__name__})")
    shape = tuple(int(s) for s in img.shape)
    if len(shape) < 3 or any(s != 1 for s in shape[3:]):
        extra = "" if len(shape) < 3 else (f" ({int(np.prod(shape[3:]))} volumes; a "
                                            "probabilistic atlas? use its max-prob version)")
        raise AtlasError(f"{path}: expected a 3-D label volume, got shape {shape}{extra}")
    hdr = img.header
    if int(hdr["sform_code"]) == 0 and int(hdr["qform_code"]) == 0:
        raise AtlasError(f"{path}: no sform or qform (both codes 0): the voxel → world mm "
                         "mapping is unknown")
    try:
        data = np.asanyarray(img.dataobj)
    except Exception as exc:  # noqa: BLE001 - truncated gzip, short file, bad scaling
        raise AtlasError(f"{path}: cannot read the voxel data ({type(exc).__name__}: {exc})"
                         ) from exc
    data = data.reshape(shape[:3])
    labels_arr = _integer_labels(data, path)
    unit = hdr.get_xyzt_units()[0]
    scale = _NIFTI_UNIT_MM.get(unit)
    if scale is None:
        raise AtlasError(f"{path}: spatial unit {unit!r} is not a length")
    affine = np.asarray(img.affine, float).copy()
    affine[:3, :] *= scale
    affine = check_affine(affine, f"{path}: sform/qform")
    present = np.unique(labels_arr)
    present = present[present > 0]
    label_path: Path | None = None
    if labels is None:
        label_path = find_label_table(path)
        names = read_label_table(label_path) if label_path is not None else None
    elif isinstance(labels, Mapping):
        names = {int(k): str(v) for k, v in labels.items() if int(k) != 0}
    else:
        label_path = Path(labels)
        if not label_path.is_file():
            raise FileNotFoundError(f"{label_path}: label table not found")
        names = read_label_table(label_path)
    if names is None:
        names = {int(v): f"label_{int(v)}" for v in present.tolist()}
    else:
        missing = sorted(set(present.tolist()) - set(names))
        if missing:
            src = label_path or "the given names"
            raise AtlasError(f"{src}: does not match {path}: {len(missing)} label(s) of the "
                             f"volume have no name, e.g. {missing[:10]} (table ids "
                             f"{min(names)}..{max(names)}, volume ids "
                             f"{int(present.min())}..{int(present.max())})")
    return Atlas(labels_arr, affine, dict(sorted(names.items())), path, label_path)


# --------------------------------------------------------------------------------------------
# lookup


def _as_points(xyz: Any, what: str = "points") -> np.ndarray:
    p = np.asarray(xyz, dtype=float)
    if p.ndim == 1 and p.shape[0] == 3:
        p = p[None, :]
    if p.ndim != 2 or p.shape[1] != 3:
        raise AtlasError(f"{what}: expected (n, 3) x, y, z coordinates, got shape {p.shape}")
    bad = ~np.all(np.isfinite(p), axis=1)
    if bad.any():
        raise AtlasError(f"{what}: {int(bad.sum())} point(s) are not finite, first at row "
                         f"{int(np.argmax(bad))}")
    return p


def to_atlas_mm(xyz: Any, transform: Any = None) -> np.ndarray:
    """Apply ``transform`` (4×4, data frame → atlas mm; None = identity) to (n, 3) points."""
    p = _as_points(xyz)
    if transform is None:
        return p.copy()
    t = check_affine(transform)
    return p @ t[:3, :3].T + t[:3, 3]


def regions_of_points(
    atlas: Atlas, xyz: Any, transform: Any = None, *, max_distance_mm: float = 0.0,
) -> np.ndarray:
    """Region id (int64, 0 = outside/unlabelled) of each point (n, 3).

    ``xyz`` are atlas world mm, or, with ``transform`` (4×4), coordinates of the data frame that
    ``transform`` maps to atlas mm. The point's voxel is the nearest (``floor(A⁻¹p + 0.5)``);
    outside the array → 0. With ``max_distance_mm`` > 0, a point that lands on 0 takes the label
    of the nearest labelled voxel centre within that distance (mm, atlas world)."""
    from scipy import ndimage as ndi

    p = to_atlas_mm(xyz, transform)
    ijk = p @ atlas.inverse[:3, :3].T + atlas.inverse[:3, 3]
    ids = ndi.map_coordinates(atlas.data, ijk.T, order=0, mode="grid-constant", cval=0,
                              prefilter=False, output=np.int32).astype(np.int64)
    if max_distance_mm < 0:
        raise AtlasError(f"max_distance_mm must be ≥ 0, got {max_distance_mm}")
    if max_distance_mm > 0 and (ids == 0).any():
        tree, lab = atlas.labelled_tree()
        if len(lab):
            miss = np.nonzero(ids == 0)[0]
            d, k = tree.query(p[miss], k=1, distance_upper_bound=float(max_distance_mm))
            ok = np.isfinite(d)
            ids[miss[ok]] = lab[k[ok]]
    return ids


def label_volume(
    atlas: Atlas, shape: tuple[int, int, int], affine: Any, transform: Any = None,
) -> np.ndarray:
    """Resample the atlas labels (nearest neighbour) onto a grid of ``shape``.

    ``affine`` (4×4) maps the grid's array index (a0, a1, a2, 1) to the data frame, and
    ``transform`` (4×4, optional) the data frame to atlas mm (None: ``affine`` already gives
    atlas mm — e.g. another NIfTI in the same space, ``img.affine``). Each voxel gets the label
    of its centre, as :func:`regions_of_points` would; voxels outside the atlas get 0.
    Returns int32 of ``shape``."""
    from scipy import ndimage as ndi

    shape = tuple(int(s) for s in shape)
    if len(shape) != 3 or any(s <= 0 for s in shape):
        raise AtlasError(f"target shape must be 3 positive sizes, got {shape}")
    m = check_affine(affine, "target affine")
    if transform is not None:
        m = check_affine(transform) @ m
    index_to_atlas = atlas.inverse @ m  # target index → atlas voxel index
    return ndi.affine_transform(atlas.data, index_to_atlas, output_shape=shape, order=0,
                                mode="grid-constant", cval=0, prefilter=False,
                                output=np.int32)


def zarr_grid_affine(
    voxel_size_nm: Any, offset_nm: Any = (0.0, 0.0, 0.0), data_unit: str = "um",
) -> np.ndarray:
    """4×4 from a wbe Zarr volume's index (z, y, x) to data-frame (x, y, z) in ``data_unit``,
    from its ``voxel_size_nm`` and ``offset_nm`` attributes (both (z, y, x), nm)."""
    if data_unit not in UNIT_TO_MM:
        raise AtlasError(f"data_unit must be one of {sorted(UNIT_TO_MM)}, got {data_unit!r}")
    vs = np.asarray(voxel_size_nm, float)
    off = np.asarray(offset_nm, float)
    if vs.shape != (3,) or off.shape != (3,) or np.any(vs <= 0) or not np.all(np.isfinite(off)):
        raise AtlasError(f"voxel_size_nm {vs.tolist()} / offset_nm {off.tolist()}: expected "
                         "3 positive sizes and 3 finite offsets (z, y, x)")
    f = UNIT_TO_MM["nm"] / UNIT_TO_MM[data_unit]
    m = np.zeros((4, 4))
    for row, col in ((0, 2), (1, 1), (2, 0)):  # x ← index axis 2, y ← 1, z ← 0
        m[row, col] = vs[col] * f
        m[row, 3] = off[col] * f
    m[3, 3] = 1.0
    return m


def region_volumes(atlas: Atlas, labels: np.ndarray, voxel_volume_mm3: float) -> pd.DataFrame:
    """Voxels and mm³ per region of a label array (e.g. from :func:`label_volume`): one row
    per atlas region (0 voxels where absent) plus region 0 (unlabelled), sorted by id.
    Columns: region_id, region_name, n_voxels, volume_mm3."""
    if not np.isfinite(voxel_volume_mm3) or voxel_volume_mm3 <= 0:
        raise AtlasError(f"voxel_volume_mm3 must be > 0, got {voxel_volume_mm3}")
    lab = np.asarray(labels).ravel()
    if lab.size and lab.min() < 0:
        raise AtlasError("labels must be ≥ 0")
    counts = np.bincount(lab.astype(np.int64), minlength=1) if lab.size else np.zeros(1, int)
    ids = np.union1d(np.r_[0, atlas.region_ids], np.nonzero(counts)[0])
    n = np.asarray([counts[i] if i < len(counts) else 0 for i in ids.tolist()], np.int64)
    return pd.DataFrame({
        "region_id": ids.astype(np.int64), "region_name": [atlas.name(i) for i in ids.tolist()],
        "n_voxels": n, "volume_mm3": n * float(voxel_volume_mm3),
    })


__all__ = [
    "Atlas", "AtlasError", "UNLABELLED", "load_atlas", "read_label_table", "find_label_table",
    "read_transform", "check_affine", "to_atlas_mm", "regions_of_points", "label_volume",
    "zarr_grid_affine", "region_volumes",
]
