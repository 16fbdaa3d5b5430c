"""Segmentation stage: instance labels (``labels.zarr``, ``segments.csv``) by relabelling and
cleaning a label volume or by watershed of raw EM, whole-volume or block-wise. The methods are
in :mod:`wbe.anatomy.segmentation`.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from wbe.anatomy.blockwise import (
    block_shape_for,
    block_slices,
    compute,
    open_volume,
)
from wbe.anatomy.imaging import read_label_names, read_volume, write_volume
from wbe.anatomy.segmentation import relabel_blockwise, relabel_components
from wbe.anatomy.watershed import membrane_probability, watershed_blockwise, watershed_segment


class Params(BaseModel):
    """Parameters of the segmentation stage."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["auto", "relabel", "watershed"] = Field(
        "auto", description="relabel for label volumes, watershed for raw EM; auto picks by the "
        "volume's kind attribute"
    )
    min_size_voxels: int = Field(
        20, description="connected components smaller than this (voxels) are dropped", ge=0
    )
    connectivity: Literal[6, 18, 26] = Field(
        26, description="3-D voxel connectivity for connected components (faces/edges/corners)"
    )
    fragments: Literal["split", "merge", "drop"] = Field(
        "split", description="fate of the non-largest components of a label (see module doc)"
    )
    sigma_px: float = Field(
        3.0, description="watershed: Gaussian smoothing sigma in pixels (in-plane)", ge=0
    )
    ridge_sigmas_px: list[float] = Field(
        [3.0, 5.0], description="watershed: Sato ridge filter scales in pixels (in-plane)"
    )
    ridge_weight: float = Field(
        0.5, description="watershed: weight of the ridge filter vs inverted intensity (0..1)",
        ge=0, le=1,
    )
    membrane_threshold: float = Field(
        0.6, description="watershed: membrane probability above which a pixel is membrane (0..1)",
        ge=0, le=1,
    )
    seed_min_distance_px: int = Field(
        25, description="watershed: minimum distance in pixels between seeds in a section", ge=1
    )
    seed_min_depth_px: float = Field(
        12.0, description="watershed: distance-transform value (pixels) a seed must exceed", ge=0
    )
    compactness: float = Field(0.0, description="watershed: compactness (0 = classic)", ge=0)
    block_voxels: tuple[int, int, int] | None = Field(
        None, description="(z, y, x) voxels per block for block-wise processing with Dask over "
        "the chunked Zarr volume (rounded up to whole chunks; watershed: z-slabs of the first "
        "number of sections); the labels are identical to whole-volume processing. None: the "
        "whole volume in memory"
    )
    workers: int = Field(
        1, ge=1, description="local Dask worker processes for block-wise processing (a running "
        "distributed cluster, e.g. DASK_SCHEDULER_ADDRESS, takes precedence); does not change "
        "the result"
    )


def _write_segments(path: Path, rows: list[tuple[int, str, int]]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["label", "name", "voxels"])
        w.writerows(rows)


def _count_labels_blockwise(source, block_voxels, scheduler=None, workers: int = 1) -> int:
    """Number of distinct non-zero values of a Zarr volume, block by block."""
    import dask

    src = open_volume(source)
    block = block_shape_for(src.shape, block_voxels, src.chunks)

    def one(sl):
        import fastremap

        return fastremap.unique(np.asarray(open_volume(source)[sl]))

    d = [dask.delayed(one, pure=True)(sl) for sl in block_slices(src.shape, block)]
    vals = compute(d, scheduler=scheduler, workers=workers)
    u = np.unique(np.concatenate(vals)) if vals else np.zeros(0)
    return int((u > 0).sum())


def run(params: Params, inputs: dict[str, Path], out_dir: Path, *, progress: bool = True) -> dict:
    """Write ``labels.zarr`` and ``segments.csv`` from the imaging output ``inputs['imaging']``
    (block-wise with Dask when ``params.block_voxels`` is set)."""
    import zarr

    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    img = Path(inputs["imaging"])
    src_path = img / "volume.zarr"
    try:
        src = zarr.open_array(str(src_path), mode="r")
    except Exception as exc:  # noqa: BLE001 - re-raised with the file name
        raise ValueError(f"{src_path}: not a readable Zarr array ({exc})") from exc
    attrs = dict(src.attrs)
    method = params.method
    if method == "auto":
        method = "relabel" if attrs.get("kind") == "labels" else "watershed"
    out_attrs = {**attrs, "kind": "labels"}
    blockwise = params.block_voxels is not None
    if method == "relabel":
        if not np.issubdtype(src.dtype, np.integer):
            raise ValueError(f"{src_path}: relabel needs integer labels, got {src.dtype}")
        names_file = img / "label_names.csv"
        names = read_label_names(names_file) if names_file.exists() else None
        if blockwise:
            rows = relabel_blockwise(
                str(src_path), out_dir / "labels.zarr", names, block_voxels=params.block_voxels,
                min_size_voxels=params.min_size_voxels, connectivity=params.connectivity,
                fragments=params.fragments, attrs=out_attrs, workers=params.workers,
                progress=progress)
            n_in = _count_labels_blockwise(str(src_path), params.block_voxels,
                                           workers=params.workers)
        else:
            vol, _ = read_volume(src_path)
            labels, rows = relabel_components(
                vol, names, min_size_voxels=params.min_size_voxels,
                connectivity=params.connectivity, fragments=params.fragments,
            )
            n_in = int((np.unique(vol) > 0).sum())
        summary = {"method": method, "n_input_labels": n_in,
                   "n_fragments": sum("~" in r[1] for r in rows)}
    else:
        ws = {"sigma_px": params.sigma_px, "ridge_sigmas_px": tuple(params.ridge_sigmas_px),
              "ridge_weight": params.ridge_weight}
        seeds = {"membrane_threshold": params.membrane_threshold,
                 "seed_min_distance_px": params.seed_min_distance_px,
                 "seed_min_depth_px": params.seed_min_depth_px,
                 "compactness": params.compactness}
        if blockwise:
            rows = watershed_blockwise(
                str(src_path), out_dir / "labels.zarr", block_sections=params.block_voxels[0],
                block_voxels=params.block_voxels, **ws, **seeds, min_size_voxels=params.min_size_voxels,
                connectivity=params.connectivity, attrs=out_attrs, workers=params.workers,
                progress=progress)
        else:
            vol, _ = read_volume(src_path)
            prob = membrane_probability(vol, **ws)
            labels = watershed_segment(prob, **seeds)
            labels, rows = relabel_components(labels, None,
                                              min_size_voxels=params.min_size_voxels,
                                              connectivity=params.connectivity, fragments="drop")
        summary = {"method": method}
    summary["blockwise"] = blockwise
    if not blockwise:
        write_volume(out_dir / "labels.zarr", labels, out_attrs)
    _write_segments(out_dir / "segments.csv", rows)
    from wbe import plots

    plots.volume_projections(out_dir / "labels.zarr", out_dir / "labels.png", kind="labels",
                             voxel_size_nm=attrs.get("voxel_size_nm", (1000.0,) * 3),
                             title=f"segmentation ({method}): {len(rows)} segments")
    summary.update(n_segments=len(rows), labelled_voxels=int(sum(r[2] for r in rows)),
                   wall_s=round(time.perf_counter() - t0, 3))
    return summary


