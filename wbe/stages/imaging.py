"""Imaging stage: bring a volume into the pipeline as a chunked Zarr array (``volume.zarr``;
for c302 also ``label_names.csv`` and ``compartments.zarr``). The readers and the c302
voxelisation are in :mod:`wbe.anatomy.imaging`.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from wbe.anatomy.c302 import COMPARTMENT_CODES, c302_cell_dir, load_c302_cells, voxelise_c302
from wbe.anatomy.imaging import (
    apply_crop,
    read_crackle,
    read_nifti,
    read_numpy,
    read_nwb_series,
    read_png,
    read_tiff,
    write_volume,
)


class Params(BaseModel):
    """Parameters of the imaging stage."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["c302", "numpy", "tiff", "png", "crackle", "nifti", "nwb"] = Field(
        "c302", description="where the volume comes from (c302 = voxelised C. elegans cells)"
    )
    nwb_series: str | None = Field(
        None, description="nwb source: name of the ImageSeries/TwoPhotonSeries in the file's "
        "acquisition (None: the only one there)"
    )
    nwb_frame: int = Field(
        0, ge=0, description="nwb source with volumetric frames (t, x, y, z): which frame"
    )
    path: str | None = Field(
        None, description="file or folder for file sources (ignored for c302)"
    )
    kind: Literal["auto", "labels", "raw"] = Field(
        "auto",
        description="labels (instance ids) or raw (intensities); auto: integer dtypes wider than "
        "8 bit are labels, everything else raw",
    )
    voxel_size_nm: tuple[float, float, float] | None = Field(
        None,
        description="(z, y, x) voxel size in nm for file sources; None: from the NIfTI header "
        "or the NWB imaging plane's grid spacing, else 1 nm",
    )
    crop: list[tuple[int, int]] | None = Field(
        None, description="[[z0,z1],[y0,y1],[x0,x1]] voxel index ranges (half-open) to keep"
    )
    chunk_voxels: int = Field(64, description="edge length of the Zarr chunks in voxels", ge=8)
    c302_voxel_size_um: float = Field(
        0.2, description="isotropic voxel size in µm for the c302 source", gt=0
    )
    c302_y_range_um: tuple[float, float] = Field(
        (-270.0, -230.0),
        description="slab of the body axis y in µm to voxelise (default: the nerve ring)",
    )
    c302_cells: list[str] | None = Field(
        None, description="cell names to include (None: all cells of c302 except c302_exclude)"
    )
    c302_exclude: list[str] = Field(
        ["MDL08"], description="cell names to leave out (MDL08 is a muscle cell, not a neuron)"
    )
    c302_margin_um: float = Field(
        1.0, description="margin in µm around the cells' bounding box in x and z", ge=0
    )
    c302_min_radius_voxels: float = Field(
        0.87,
        description="smallest drawn radius in voxels; ≥ √3/2 keeps every neurite 6-connected",
        ge=0,
    )
    c302_max_piece_um: float = Field(
        2.0, description="segments longer than this (µm) are drawn as pieces of this length", gt=0
    )


def _infer_kind(vol: np.ndarray, kind: str) -> str:
    if kind != "auto":
        return kind
    if np.issubdtype(vol.dtype, np.integer) and vol.dtype.itemsize > 1:
        return "labels"
    return "raw"


def load_source(params: Params) -> tuple[np.ndarray, dict]:
    """Read a file source; returns (volume (z,y,x), attrs with voxel_size_nm/source/kind)."""
    if params.path is None:
        raise ValueError(f"source {params.source!r} needs `path`")
    from wbe.pipeline.paths import resolve_data_path

    path = resolve_data_path(params.path)
    if not path.exists():
        raise ValueError(f"{path}: no such file or folder")
    vs = params.voxel_size_nm
    cropped = False
    if params.source == "numpy":
        vol = read_numpy(path)
    elif params.source == "tiff":
        vol = read_tiff(path)
    elif params.source == "png":
        vol = read_png(path)
    elif params.source == "crackle":
        vol = read_crackle(path, params.crop)
        cropped = True
    elif params.source == "nifti":
        vol, vs_h = read_nifti(path)
        vs = vs or vs_h
    elif params.source == "nwb":
        vol, vs_h = read_nwb_series(path, params.nwb_series, params.nwb_frame)
        if vs is None and vs_h is not None:
            if not np.isfinite(vs_h[0]):
                raise ValueError(f"{path}: the imaging plane gives no z spacing for a stack of "
                                 "2-D frames; set imaging.voxel_size_nm")
            vs = vs_h
    else:  # pragma: no cover - pydantic restricts the choices
        raise ValueError(f"unknown source {params.source!r}")
    if not cropped:
        vol = apply_crop(vol, params.crop)
    vs = tuple(float(v) for v in (vs or (1.0, 1.0, 1.0)))
    kind = _infer_kind(vol, params.kind)
    if kind == "labels":
        if not np.issubdtype(vol.dtype, np.integer) or (vol.min() if vol.size else 0) < 0:
            raise ValueError(f"{path}: labels must be non-negative integers, got {vol.dtype}")
        vol = vol.astype(np.uint32, copy=False)
    offset = [0.0, 0.0, 0.0]
    if params.crop is not None:
        offset = [c[0] * v for c, v in zip(params.crop, vs)]
    attrs = {"voxel_size_nm": list(vs), "offset_nm": offset, "source": f"{params.source}:{path}",
             "kind": kind}
    return np.ascontiguousarray(vol), attrs


def run(params: Params, inputs: dict[str, Path], out_dir: Path, *, progress: bool = True) -> dict:
    """Write ``volume.zarr`` (and for c302 ``label_names.csv`` + ``compartments.zarr``)."""
    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    summary: dict = {"source": params.source}
    if params.source == "c302":
        cells = load_c302_cells(params.c302_cells, params.c302_exclude)
        labels_of = {c.name: i + 1 for i, c in enumerate(cells)}
        vox = voxelise_c302(
            cells, labels_of, params.c302_voxel_size_um, params.c302_y_range_um,
            params.c302_margin_um, params.c302_min_radius_voxels, params.c302_max_piece_um,
        )
        vol, comps = vox.labels, vox.compartments
        vs_nm = [params.c302_voxel_size_um * 1000.0] * 3
        offset_nm = [float(v) * 1000.0 for v in vox.offset_um]
        if params.crop is not None:
            vol, comps = apply_crop(vol, params.crop), apply_crop(comps, params.crop)
            offset_nm = [o + c[0] * v for o, c, v in zip(offset_nm, params.crop, vs_nm)]
        attrs = {"voxel_size_nm": vs_nm, "offset_nm": offset_nm, "source": "c302",
                 "kind": "labels"}
        with open(out_dir / "label_names.csv", "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["label", "name"])
            for name, lab in labels_of.items():
                w.writerow([lab, name])
        write_volume(out_dir / "compartments.zarr", comps, attrs, params.chunk_voxels)
        present = np.unique(vol)
        summary.update(
            n_cells=len(cells), n_labels_present=int((present > 0).sum()),
            overlap_voxels=vox.overlap_voxels,
            compartment_voxels={k: int((comps == c).sum()) for k, c in COMPARTMENT_CODES.items()},
        )
    else:
        vol, attrs = load_source(params)
        if attrs["kind"] == "labels":
            summary["n_labels_present"] = int((np.unique(vol) > 0).sum())
    write_volume(out_dir / "volume.zarr", vol, attrs, params.chunk_voxels)
    from wbe import plots

    plots.volume_projections(out_dir / "volume.zarr", out_dir / "volume.png", kind=attrs["kind"],
                             voxel_size_nm=attrs["voxel_size_nm"],
                             title=f"imaging: {params.source} ({attrs['kind']})")
    summary.update(
        shape_zyx=[int(s) for s in vol.shape], voxel_size_nm=attrs["voxel_size_nm"],
        kind=attrs["kind"], n_voxels=int(vol.size),
        foreground_voxels=int((vol > 0).sum()) if attrs["kind"] == "labels" else None,
        wall_s=round(time.perf_counter() - t0, 3),
    )
    return summary


def external_paths(params: Params) -> dict[str, Path]:
    """The data this stage reads from outside the store: part of its content key."""
    from wbe.pipeline.paths import resolve_data_path

    if params.source == "c302":
        return {"c302_cells": c302_cell_dir()}
    return {"source": resolve_data_path(params.path)} if params.path else {}


