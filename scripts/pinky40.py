#!/usr/bin/env python
"""The pinky40 dense segmentation (mouse visual cortex EM, 512³ voxels of 16×16×40 nm, kimimaro's
benchmark volume) through imaging → segmentation → morphology → connectome, with the stages' own
``run`` functions, block-wise where memory demands it; then the checks:

* navis reads every SWC file back with the node count, coordinates, radii and parents of
  ``nodes.parquet`` (no loss);
* libsonata reads the SONATA circuit: node and edge population sizes and the synapse counts
  equal what the connectome stage reports.

Usage (from the project root)::

    .venv/bin/python scripts/pinky40.py --out /tmp/pinky40               # full volume
    .venv/bin/python scripts/pinky40.py --out /tmp/p --crop 0 128 0 512 0 512   # a z-slab

Each stage writes ``OUT/<stage>/`` through a temporary folder renamed when complete; a stage
whose folder exists with the same parameters is reused, so an interrupted run resumes.
``OUT/report.json`` holds every stage's summary, wall times, peak RSS and the checks.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT / "../shared/data/em/pinky40/labels_512.npy.ckl.gz"
VOXEL_SIZE_NM = (40.0, 16.0, 16.0)  # (z, y, x): kimimaro's benchmark anisotropy (16, 16, 40) xyz

#: TEASAR parameters of kimimaro's benchmark on this volume (benchmarks/benchmark.py).
TEASAR = {"scale": 1.5, "const_nm": 300.0, "pdrf_scale": 100000.0, "pdrf_exponent": 4,
          "soma_detection_threshold_nm": 1100.0, "soma_acceptance_threshold_nm": 3500.0,
          "soma_invalidation_scale": 1.0, "soma_invalidation_const_nm": 300.0}


def peak_rss_mib() -> dict:
    """Peak resident set size (MiB) of this process and of its waited-for children."""
    me = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    return {"self": round(me, 1), "children_max": round(kids, 1)}


def run_stage(name: str, module, params, inputs: dict[str, Path], out: Path) -> dict:
    """``module.run`` into ``out/name`` via a temporary folder; reuse a finished one with the
    same parameters."""
    final = out / name
    pdict = params.model_dump(mode="json")
    done = final / "summary.json"
    if done.exists():
        prev = json.loads(done.read_text())
        if prev.get("params") == pdict:
            print(f"[{name}] reusing {final}", flush=True)
            return prev
        raise SystemExit(f"{final} exists with other parameters; remove it or use another --out")
    tmp = out / f".{name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    print(f"[{name}] running", flush=True)
    t0 = time.perf_counter()
    try:
        summary = module.run(params, inputs, tmp, progress=True) or {}
        summary = {"params": pdict, "summary": summary,
                   "stage_wall_s": round(time.perf_counter() - t0, 1),
                   "peak_rss_mib_after": peak_rss_mib()}
        (tmp / "summary.json").write_text(json.dumps(summary, indent=1, default=str))
        os.replace(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"[{name}] {json.dumps(summary['summary'], default=str)[:600]}", flush=True)
    return summary


def check_swc(morph: Path, workers: int) -> dict:
    """navis reads every SWC of ``morph/swc`` back; node count, parents, x, y, z and radius
    must equal ``nodes.parquet`` (which holds the written, rounded values)."""
    import navis

    nodes = pd.read_parquet(morph / "nodes.parquet")
    files = sorted((morph / "swc").glob("*.swc"))
    t0 = time.perf_counter()
    nl = navis.read_swc(str(morph / "swc"), parallel=workers if workers > 1 else False,
                        progress=False)
    read_s = time.perf_counter() - t0
    got = []
    for n in nl:
        df = n.nodes[["node_id", "parent_id", "x", "y", "z", "radius"]].copy()
        df["neuron_id"] = int(Path(str(n.file)).stem if getattr(n, "file", None) else n.name)
        got.append(df)
    got = pd.concat(got, ignore_index=True).sort_values(["neuron_id", "node_id"])
    ref = nodes.sort_values(["neuron_id", "node_id"])
    counts_ref = ref.groupby("neuron_id").size()
    counts_got = got.groupby("neuron_id").size()
    same_counts = counts_ref.equals(counts_got.reindex(counts_ref.index))
    ok = same_counts and len(got) == len(ref)
    max_dev = max_rel = float("nan")
    same_parents = ok and np.array_equal(got["parent_id"].to_numpy(), ref["parent"].to_numpy())
    ok = bool(same_parents)
    if ok:
        # navis keeps coordinates as float32: equal to the written 4-decimal values within one
        # float32 unit in the last place
        a = got[["x", "y", "z", "radius"]].to_numpy(np.float64)
        b = ref[["x", "y", "z", "radius"]].to_numpy(np.float64)
        dev = np.abs(a - b)
        max_dev = float(dev.max()) if len(a) else 0.0
        ulp = np.spacing(np.abs(b).astype(np.float32)).astype(np.float64)
        max_rel = float((dev / ulp).max()) if len(a) else 0.0
        ok = max_rel <= 1.0
    return {"swc_files": len(files), "navis_neurons": len(nl), "nodes_parquet": len(ref),
            "nodes_navis": len(got), "same_node_count_every_file": bool(same_counts),
            "same_parents": bool(same_parents), "max_abs_coordinate_difference_um": max_dev,
            "max_difference_float32_ulp": max_rel, "lossless": bool(ok),
            "navis_read_s": round(read_s, 1)}


def check_sonata(conn: Path, summary: dict) -> dict:
    """libsonata reads the circuit; population sizes and synapse counts match the stage."""
    import h5py
    import libsonata

    cfg = libsonata.CircuitConfig.from_file(str(conn / "circuit_config.json"))
    nodes = {p: cfg.node_population(p).size for p in cfg.node_populations}
    edges = {}
    n_syn = 0
    for p in cfg.edge_populations:
        ep = cfg.edge_population(p)
        edges[p] = ep.size
        if "n_synapses" in ep.attribute_names:
            n_syn += int(np.sum(ep.get_attribute("n_synapses", ep.select_all())))
    with h5py.File(conn / "network" / "edges.h5", "r") as h5:
        h5_pops = sorted(h5["edges"].keys())
    ok = (nodes.get("neurons") == summary["n_neurons"]
          and edges.get("chemical") == summary["n_edges"] and n_syn == summary["n_synapses"])
    return {"node_populations": nodes, "edge_populations": edges, "h5_edge_populations": h5_pops,
            "sum_n_synapses": n_syn, "matches_stage": bool(ok)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, type=Path, help="output folder")
    p.add_argument("--data", type=Path, default=DATA, help="pinky40 crackle file")
    p.add_argument("--crop", type=int, nargs=6, metavar=("Z0", "Z1", "Y0", "Y1", "X0", "X1"),
                   help="voxel ranges (half-open) of a sub-volume; default the whole volume")
    p.add_argument("--workers", type=int, default=2, help="processes (Dask, kimimaro)")
    p.add_argument("--block-voxels", type=int, nargs=3, default=(128, 256, 256),
                   metavar=("Z", "Y", "X"), help="segmentation blocks (voxels)")
    p.add_argument("--block-um", type=float, default=3.0, help="touch-detection cubes (µm)")
    p.add_argument("--min-size-voxels", type=int, default=1000,
                   help="segments smaller than this are dropped (kimimaro's dust threshold)")
    p.add_argument("--touch-distance-um", type=float, default=0.05)
    p.add_argument("--spacing-um", type=float, default=1.0)
    args = p.parse_args(argv)

    from wbe.io.atomic import write_text
    from wbe.stages import connectome as connectome_stage
    from wbe.stages import imaging as imaging_stage
    from wbe.stages import morphology as morphology_stage
    from wbe.stages import segmentation as segmentation_stage

    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("WBE_DATA_ROOT", str(ROOT))
    t0 = time.perf_counter()
    crop = None
    if args.crop:
        z0, z1, y0, y1, x0, x1 = args.crop
        crop = [(z0, z1), (y0, y1), (x0, x1)]
    report: dict = {"data": str(args.data.resolve()), "crop": crop, "workers": args.workers,
                    "stages": {}}
    st = report["stages"]
    st["imaging"] = run_stage("imaging", imaging_stage, imaging_stage.Params(
        source="crackle", path=str(args.data.resolve()), kind="labels",
        voxel_size_nm=VOXEL_SIZE_NM, crop=crop, chunk_voxels=64), {}, out)
    st["segmentation"] = run_stage("segmentation", segmentation_stage, segmentation_stage.Params(
        method="relabel", min_size_voxels=args.min_size_voxels, connectivity=26,
        fragments="split", block_voxels=tuple(args.block_voxels), workers=args.workers),
        {"imaging": out / "imaging"}, out)
    st["morphology"] = run_stage("morphology", morphology_stage, morphology_stage.Params(
        **TEASAR, dust_threshold_voxels=args.min_size_voxels, parallel=args.workers),
        {"segmentation": out / "segmentation"}, out)
    st["connectome"] = run_stage("connectome", connectome_stage, connectome_stage.Params(
        touch_distance_um=args.touch_distance_um, min_synapse_spacing_um=args.spacing_um,
        direction="symmetric", merge_fragments=True, block_um=args.block_um,
        workers=args.workers), {"morphology": out / "morphology"}, out)
    print("[checks] navis and libsonata", flush=True)
    report["swc_check"] = check_swc(out / "morphology", args.workers)
    report["sonata_check"] = check_sonata(out / "connectome", st["connectome"]["summary"])
    report["wall_s"] = round(time.perf_counter() - t0, 1)
    report["peak_rss_mib"] = peak_rss_mib()
    write_text(out / "report.json", json.dumps(report, indent=1, default=str))
    print(json.dumps({k: report[k] for k in ("swc_check", "sonata_check", "wall_s",
                                             "peak_rss_mib")}, indent=1, default=str))
    ok = report["swc_check"]["lossless"] and report["sonata_check"]["matches_stage"]
    return 0 if ok else 1


if __name__ == "__main__":  # kimimaro and Dask start worker processes that import this file
    raise SystemExit(main())
