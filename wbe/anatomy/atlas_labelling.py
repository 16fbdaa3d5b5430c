"""Atlas labels as a tool: the ``atlas:`` parameters of the connectome stage (the region of
every neuron, counts per region) and ``wbe atlas`` (label neurons, points or a Zarr volume from
the command line). The atlas itself — reading, label tables, geometry — is :mod:`wbe.anatomy.atlas`.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from wbe.anatomy.atlas import (
    REGION_COLUMNS,
    UNIT_TO_MM,
    Atlas,
    AtlasError,
    _as_points,
    check_affine,
    find_label_table,
    label_volume,
    load_atlas,
    read_transform,
    region_volumes,
    regions_of_points,
    zarr_grid_affine,
)
from wbe.io.atomic import write_csv, written_atomically

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


def write_regions_csv(df: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Atomically write a labelled neuron table (from :func:`run_on_neurons`) as CSV."""
    missing = [c for c in REGION_COLUMNS if c not in df.columns]
    if missing:
        raise AtlasError(f"{path}: table to write lacks {missing}; run run_on_neurons first")
    return write_csv(Path(path), df)


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
    write_csv(out_dir / "region_counts.csv", counts)
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
        write_csv(tmp / "region_volumes.csv", vols)
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
    "Params", "neuron_positions", "run_on_neurons", "run_on_volume", "write_regions_csv",
    "external_paths", "run", "label_zarr_volume", "add_arguments", "cmd_atlas",
]
