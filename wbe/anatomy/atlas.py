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
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from wbe.io.atomic import written_atomically

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


# --------------------------------------------------------------------------------------------
# neurons


class Params(BaseModel):
    """Atlas labelling: region of each neuron (and voxel) from a NIfTI label atlas."""

    model_config = ConfigDict(extra="forbid")

    atlas: str = Field(
        ..., description="NIfTI label volume (.nii/.nii.gz; integer labels, 0 = unlabelled; "
        "sform/qform in mm), e.g. /usr/share/mricron/templates/aal.nii.gz (Debian mricron-data)",
    )
    labels: str | None = Field(
        None, description="label table (mricron .txt '<id> <name>', or .csv/.tsv with columns "
        "id,name); None: the table beside the atlas (<stem>.nii.txt, .txt, .tsv, .csv), else "
        "names label_<id>",
    )
    transform: list[list[float]] | None = Field(
        None, description="4×4 affine (row-major) from the data frame, in data_unit, to atlas "
        "world mm (registration); None: data are in the atlas frame, only converted to mm",
    )
    data_unit: Literal["um", "mm"] = Field(
        "um", description="unit of the neurons' x, y, z (µm for morphology/connectome touch "
        "tables, mm for tvb region centres); the transform maps from this unit",
    )
    position: Literal["soma", "centroid", "table"] = Field(
        "soma", description="which position labels a neuron: soma (node table: largest type-1 "
        "node, else largest-radius node, as the connectome stage), centroid (mean of its nodes), "
        "table (the table's own x, y, z per row)",
    )
    max_distance_mm: float = Field(
        0.0, ge=0, description="a position on an unlabelled voxel takes the nearest labelled "
        "voxel's region within this distance, mm (atlas world); 0: exact voxel only",
    )

    @field_validator("transform")
    @classmethod
    def _check_transform(cls, v):
        if v is not None:
            check_affine(v, "transform")
        return v

    def matrix(self) -> np.ndarray:
        """Data frame (``data_unit``) → atlas mm as a 4×4 (unit scaling when no transform)."""
        if self.transform is not None:
            return check_affine(self.transform, "transform")
        return np.diag([UNIT_TO_MM[self.data_unit]] * 3 + [1.0])


def neuron_positions(table: pd.DataFrame, position: str) -> pd.DataFrame:
    """One position per neuron from a node table (``neuron_id``, x, y, z[, type, radius]):
    ``soma`` = largest-radius type-1 node, else largest-radius node; ``centroid`` = mean node.
    Returns neuron_id, x, y, z sorted by neuron_id."""
    need = {"neuron_id", "x", "y", "z"} | ({"type", "radius"} if position == "soma" else set())
    missing = sorted(need - set(table.columns))
    if missing:
        raise AtlasError(f"node table lacks column(s) {missing} needed for position "
                         f"{position!r} (has {list(table.columns)})")
    if position == "centroid":
        return (table.groupby("neuron_id", sort=True)[["x", "y", "z"]].mean().reset_index())
    if position != "soma":
        raise AtlasError(f"position must be soma, centroid or table, got {position!r}")
    # the connectome stage's rule (connectome.find_synapses), so both give the same soma
    neuron = table["neuron_id"].to_numpy()
    radius = table["radius"].to_numpy(float)
    score = np.where(table["type"].to_numpy() == 1, radius + 1e6, radius)
    order = np.lexsort((score, neuron))
    last = np.r_[neuron[order][1:] != neuron[order][:-1], True] if len(order) else order
    best = order[last] if len(order) else order
    return table.iloc[best][["neuron_id", "x", "y", "z"]].reset_index(drop=True)


def run_on_neurons(params: Params, neuron_table: pd.DataFrame,
                   atlas: Atlas | None = None) -> pd.DataFrame:
    """Label neurons with atlas regions.

    ``position`` soma/centroid: ``neuron_table`` is a node table (morphology ``nodes.parquet``);
    the result has one row per neuron (neuron_id, x, y, z in ``data_unit``). ``table``: every row
    of ``neuron_table`` (needs x, y, z) is kept. Columns added: ``x_mm``, ``y_mm``, ``z_mm``
    (atlas world), ``region_id`` (0 = outside/unlabelled), ``region_name``."""
    atlas = atlas or load_atlas(_path(params.atlas), _path(params.labels) if params.labels
                                else None)
    if params.position == "table":
        missing = sorted({"x", "y", "z"} - set(neuron_table.columns))
        if missing:
            raise AtlasError(f"neuron table lacks column(s) {missing} (has "
                             f"{list(neuron_table.columns)})")
        out = neuron_table.copy().reset_index(drop=True)
    else:
        out = neuron_positions(neuron_table, params.position)
    m = params.matrix()
    xyz = _as_points(out[["x", "y", "z"]].to_numpy(float), "neuron positions")
    mm = xyz @ m[:3, :3].T + m[:3, 3]
    out["x_mm"], out["y_mm"], out["z_mm"] = mm[:, 0], mm[:, 1], mm[:, 2]
    ids = regions_of_points(atlas, mm, max_distance_mm=params.max_distance_mm)
    out["region_id"] = ids
    out["region_name"] = atlas.names_of(ids).astype(str) if len(ids) else np.asarray([], str)
    return out


def run_on_volume(params: Params, shape: tuple[int, int, int], voxel_size_nm: Any,
                  offset_nm: Any = (0.0, 0.0, 0.0), atlas: Atlas | None = None,
                  ) -> tuple[np.ndarray, pd.DataFrame]:
    """Region label of every voxel of a wbe Zarr volume (index (z, y, x), ``voxel_size_nm``,
    ``offset_nm``) and the per-region table (:func:`region_volumes`, mm³ in atlas space)."""
    atlas = atlas or load_atlas(_path(params.atlas), _path(params.labels) if params.labels
                                else None)
    grid = zarr_grid_affine(voxel_size_nm, offset_nm, params.data_unit)
    m = params.matrix() @ grid  # index → atlas mm
    lab = label_volume(atlas, shape, m)
    vox_mm3 = float(abs(np.linalg.det(m[:3, :3])))
    return lab, region_volumes(atlas, lab, vox_mm3)


# --------------------------------------------------------------------------------------------
# writing


def write_csv_atomic(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``df`` as CSV to ``path`` via a temporary file in the same folder + rename, so a
    reader never sees a partial file; the temporary file is removed on failure."""
    path = Path(path)
    with written_atomically(path, overwrite=True) as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    return path


def write_regions_csv(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Atomically write a labelled neuron table (from :func:`run_on_neurons`) as CSV."""
    missing = [c for c in REGION_COLUMNS if c not in df.columns]
    if missing:
        raise AtlasError(f"{path}: table to write lacks {missing}; run run_on_neurons first")
    return write_csv_atomic(df, path)


def _path(p: str | os.PathLike) -> Path:
    from wbe.pipeline.paths import resolve_data_path

    return resolve_data_path(p)


def external_paths(params: Params) -> dict[str, Path]:
    """The files this step reads from outside the store (part of its content key)."""
    atlas_path = _path(params.atlas)
    out = {"atlas": atlas_path}
    table = _path(params.labels) if params.labels else find_label_table(atlas_path)
    if table is not None:
        out["labels"] = table
    return out


def run(params: Params, inputs: dict[str, Path], out_dir: Path, *, progress: bool = True) -> dict:
    """Stage-style entry: label the neurons of ``inputs['morphology']`` (``nodes.parquet`` +
    ``neurons.csv`` names; position soma/centroid) or of ``inputs['connectome']``
    (``neurons.csv`` x, y, z; position table) and write ``regions.csv`` (one row per neuron) and
    ``region_counts.csv`` (region_id, region_name, n_neurons) into ``out_dir``."""
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    atlas = load_atlas(_path(params.atlas), _path(params.labels) if params.labels else None)
    if "morphology" in inputs:
        morph = Path(inputs["morphology"])
        if params.position == "table":
            raise AtlasError("position 'table' needs a neuron table with x, y, z (connectome "
                             "neurons.csv), not the morphology node table")
        nodes = pd.read_parquet(morph / "nodes.parquet")
        df = run_on_neurons(params, nodes, atlas)
        names_csv = morph / "neurons.csv"
        if names_csv.exists():
            names = pd.read_csv(names_csv)[["neuron_id", "name"]]
            df = names.merge(df, on="neuron_id", how="right")
    elif "connectome" in inputs:
        if params.position != "table":
            raise AtlasError(f"position {params.position!r} needs a node table (morphology "
                             "input); the connectome's neurons.csv has one x, y, z per neuron: "
                             "use position 'table'")
        df = run_on_neurons(params, pd.read_csv(Path(inputs["connectome"]) / "neurons.csv"),
                            atlas)
    else:
        raise AtlasError(f"atlas step needs a 'morphology' or 'connectome' input, got "
                         f"{sorted(inputs)}")
    write_regions_csv(df, out_dir / "regions.csv")
    counts = (df.groupby(["region_id", "region_name"], sort=True).size()
              .rename("n_neurons").reset_index())
    write_csv_atomic(counts, out_dir / "region_counts.csv")
    n_in = int((df["region_id"] > 0).sum())
    return {
        "atlas": str(atlas.path), "labels": str(atlas.label_path) if atlas.label_path else None,
        "n_regions_atlas": len(atlas.names), "n_neurons": int(len(df)),
        "n_labelled": n_in, "n_regions_hit": int(df.loc[df.region_id > 0, "region_id"].nunique()),
        "wall_s": round(time.perf_counter() - t0, 3),
    }


# --------------------------------------------------------------------------------------------
# command line (``wbe atlas``; registered by wbe.cli like ``wbe sweep``)


def label_zarr_volume(params: Params, volume: str | os.PathLike, out_dir: str | os.PathLike,
                      atlas: Atlas | None = None) -> dict:
    """Label every voxel of a wbe Zarr volume (``voxel_size_nm``/``offset_nm`` attrs) and
    write ``out_dir/regions.zarr`` (int32, same grid and attrs) and ``region_volumes.csv``.
    ``out_dir`` is created under a temporary name and renamed when complete; an existing
    non-empty ``out_dir`` is refused."""

    from wbe.anatomy.imaging import read_volume, write_volume

    volume, out_dir = Path(volume), Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise AtlasError(f"{out_dir}: already exists and is not empty")
    vol, attrs = read_volume(volume)
    if vol.ndim != 3:
        raise AtlasError(f"{volume}: expected a 3-D (z, y, x) volume, got shape {vol.shape}")
    if "voxel_size_nm" not in attrs:
        raise AtlasError(f"{volume}: no voxel_size_nm attribute (not a wbe volume?)")
    lab, vols = run_on_volume(params, vol.shape, attrs["voxel_size_nm"],
                              attrs.get("offset_nm", (0.0, 0.0, 0.0)), atlas)
    with written_atomically(out_dir) as tmp:
        tmp.mkdir()
        out_attrs = {k: attrs[k] for k in ("voxel_size_nm", "offset_nm") if k in attrs}
        out_attrs.update(kind="labels", source=f"atlas:{params.atlas}", atlas_of=str(volume))
        write_volume(tmp / "regions.zarr", lab, out_attrs)
        write_csv_atomic(vols, tmp / "region_volumes.csv")
    return {"shape_zyx": list(lab.shape), "n_labelled_voxels": int((lab > 0).sum()),
            "n_regions_hit": int((vols.n_voxels[vols.region_id > 0] > 0).sum())}


def add_arguments(p):
    """Options of ``wbe atlas`` (see :func:`cmd_atlas`)."""
    p.add_argument("atlas", help="NIfTI label atlas (.nii/.nii.gz), world mm")
    p.add_argument("--labels", help="label table (default: the one beside the atlas)")
    p.add_argument("--transform", metavar="FILE",
                   help="4×4 affine text file: data frame (in --data-unit) → atlas mm")
    p.add_argument("--data-unit", choices=["um", "mm"],
                   help="unit of the data coordinates (default: mm for --points, i.e. atlas "
                   "world; um for --neurons and --volume, the pipeline's unit)")
    p.add_argument("--max-distance-mm", type=float, default=0.0,
                   help="unlabelled → nearest labelled voxel within this distance (mm)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--points", nargs="+", metavar="X,Y,Z",
                      help="points to label (printed as CSV, or written to --out)")
    what.add_argument("--neurons", metavar="TABLE",
                      help="node table (.parquet, position soma/centroid) or neuron table with "
                      "x, y, z (.csv/.parquet, position table)")
    what.add_argument("--volume", metavar="ZARR", help="wbe Zarr volume: label every voxel")
    p.add_argument("--position", choices=["soma", "centroid", "table"], default="soma",
                   help="with --neurons: which position labels a neuron (default soma)")
    p.add_argument("--out", help="regions.csv for --points/--neurons (written atomically); "
                   "output folder for --volume (regions.zarr + region_volumes.csv)")
    return p


def cmd_atlas(args) -> int:
    """``wbe atlas``: region labels of points, neurons or a volume; with none of them, a summary
    of the atlas (JSON) and its regions."""
    import json
    import sys

    from pydantic import ValidationError

    unit = args.data_unit or ("mm" if args.points else "um")
    try:
        params = Params(
            atlas=str(args.atlas), labels=args.labels, data_unit=unit,
            transform=read_transform(args.transform).tolist() if args.transform else None,
            position=args.position, max_distance_mm=args.max_distance_mm)
    except ValidationError as exc:
        raise AtlasError(f"invalid atlas options: {exc}") from None
    atlas = load_atlas(_path(params.atlas), _path(params.labels) if params.labels else None)
    if args.volume:
        if not args.out:
            raise AtlasError("--volume needs --out FOLDER")
        summary = label_zarr_volume(params, args.volume, args.out, atlas)
        print(json.dumps({"out": str(args.out), **summary}))
        return 0
    if args.points or args.neurons:
        if args.points:
            try:
                xyz = [[float(v) for v in s.split(",")] for s in args.points]
            except ValueError:
                raise AtlasError(f"--points: expected X,Y,Z numbers, got {args.points}") from None
            table = pd.DataFrame(_as_points(xyz, "--points"), columns=["x", "y", "z"])
            params = params.model_copy(update={"position": "table"})
        else:
            src = Path(args.neurons)
            if not src.is_file():
                raise FileNotFoundError(f"{src}: neuron table not found")
            table = pd.read_parquet(src) if src.suffix == ".parquet" else pd.read_csv(src)
        df = run_on_neurons(params, table, atlas)
        if args.out:
            write_regions_csv(df, args.out)
            print(json.dumps({"out": str(args.out), "n": int(len(df)),
                              "n_labelled": int((df.region_id > 0).sum())}))
        else:
            df.to_csv(sys.stdout, index=False, float_format="%.6g")
        return 0
    print(json.dumps({
        "atlas": str(atlas.path), "labels": str(atlas.label_path) if atlas.label_path else None,
        "shape": list(atlas.shape), "voxel_volume_mm3": atlas.voxel_volume_mm3,
        "affine_mm": atlas.affine.tolist(), "n_regions": len(atlas.names)}))
    for rid, name in atlas.names.items():
        print(f"{rid}\t{name}")
    return 0


__all__ = [
    "Atlas", "AtlasError", "Params", "UNLABELLED", "load_atlas", "read_label_table",
    "find_label_table", "read_transform", "check_affine", "to_atlas_mm", "regions_of_points",
    "label_volume", "zarr_grid_affine", "region_volumes", "neuron_positions", "run_on_neurons",
    "run_on_volume", "write_csv_atomic", "write_regions_csv", "external_paths", "run",
    "label_zarr_volume", "add_arguments", "cmd_atlas",
]
