"""Morphology stage: one skeleton per label (kimimaro) as SWC in µm, the node table and
morphometrics. The methods are in :mod:`wbe.anatomy.morphology`.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from wbe.anatomy.imaging import read_volume
from wbe.anatomy.morphology import (
    SWC_COLUMNS,
    skeleton_table,
    skeletonize_labels,
    write_morphologies,
)


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
    sholl_step_um: float = Field(
        2.0, description="spacing (µm) of the Sholl spheres in morphometrics.csv / sholl.csv "
        "(2 µm suits the worm's skeletons, most within 10 µm of their soma; 10-20 µm is usual "
        "for mammalian neurons)", gt=0,
    )


def _read_segments(path: Path) -> dict[int, str]:
    with open(path, newline="") as fh:
        return {int(r["label"]): r["name"] for r in csv.DictReader(fh)}


def run(params: Params, inputs: dict[str, Path], out_dir: Path, *, progress: bool = True) -> dict:
    """Write ``swc/<label>.swc``, ``nodes.parquet``, ``neurons.csv``, ``morphometrics.csv`` and
    ``sholl.csv`` (:func:`write_morphologies`) from the segmentation output
    ``inputs['segmentation']`` (and compartments from ``inputs['imaging']`` if given)."""
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
    tables: dict[int, pd.DataFrame] = {}
    all_labels = sorted(int(v) for v in np.unique(labels) if v > 0)
    for lab in tqdm(all_labels, desc="morphology", disable=not progress, unit="neuron"):
        if lab not in skels or len(skels[lab][0]) == 0:
            continue
        v, e, r = skels[lab]
        df = skeleton_table(lab, v, e, r, offset, vs, labels, comps, params)
        tables[lab] = df[SWC_COLUMNS]
    summary = write_morphologies(
        out_dir, tables, {lab: names.get(lab, str(lab)) for lab in tables},
        sholl_step_um=params.sholl_step_um, header="wbe morphology: label {id} ({name}), units µm",
    )
    from wbe import plots

    plots.skeleton_projections(pd.read_parquet(out_dir / "nodes.parquet"),
                               pd.read_csv(out_dir / "morphometrics.csv"),
                               out_dir / "skeletons.png")
    return {
        "n_labels": len(all_labels), "n_skeletons": summary["n_skeletons"],
        "n_skipped": len(all_labels) - summary["n_skeletons"], "n_nodes": summary["n_nodes"],
        "cable_um": summary["cable_um"], "node_types": summary["node_types"],
        "skeletonize_s": round(t_skel, 3), "morphometrics_s": summary["morphometrics_s"],
        "wall_s": round(time.perf_counter() - t0, 3),
    }


