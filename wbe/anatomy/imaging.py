"""Imaging stage: bring a volume into the pipeline as a chunked Zarr v3 array.

Sources
-------
``c302`` (default, real, needs nothing but PyPI)
    The 302 C. elegans neurons of the ``c302`` package voxelised into a label volume
    (:mod:`wbe.anatomy.c302`), with ``label_names.csv`` and ``compartments.zarr``.
``numpy`` (.npy, no pickle), ``tiff`` (one multi-page file or a folder of .tif/.tiff sections),
``png`` (a folder of sections), ``crackle`` (.ckl / .ckl.gz), ``nifti`` (.nii / .nii.gz).

Axis convention: arrays are (z, y, x); ``voxel_size_nm`` is (z, y, x); ``offset_nm`` (z, y, x) is
the physical position of voxel (0, 0, 0)'s centre. For ``c302`` the worm's own x, y, z (µm) are
the volume's x, y, z axes, so ``offset_nm + index * voxel_size_nm`` is the worm coordinate in nm.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

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
    "write_volume", "read_volume", "read_label_names", "read_numpy", "read_tiff", "read_png",
    "read_crackle", "read_nifti", "read_nwb_series", "apply_crop",
]
