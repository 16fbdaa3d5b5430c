"""The ischaemia experiment: a perfused block of cortex (:func:`wbe.networks.vascular.
perfused_block`) run twice from the same state — once intact, once with the arteriole feeding
one quadrant of its vascular bed occluded at ``onset_s`` — and what the occlusion does to blood
flow, the energy budget, the neurons' spikes and the BOLD signal.

Both runs are points of the study (content-addressed in ``<results>/ischaemia_points/<key>/``,
Dask tasks); the output ``<results>/ischaemia/<key>/`` holds ``summary.json`` (per region —
the starved quadrant, the rest — and run: flow, ATP store, energy deficit, firing rate and BOLD
before and after the onset; wall times), ``timecourses.parquet`` and ``ischaemia.png`` (flow,
ATP, rate and BOLD over time in both runs, and rasters of the quadrant's neurons).
``wbe ischaemia CONFIG`` or ``snakemake --configfile config/ischaemia.yaml``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from wbe.io.jsonutil import dumps
from wbe.pipeline import store
from wbe.pipeline.cluster import ClusterSpec

__all__ = ["IschaemiaSpec", "IschaemiaError", "load_ischaemia_spec", "study_key",
           "run_study", "simulate_run"]

POINT_CODE = ("wbe.engine", "wbe.networks.vascular", "wbe.hemodynamics",
              "wbe.experiments.ischaemia")


class BlockSpec(BaseModel):
    """The neurons (:func:`wbe.networks.vascular.perfused_block`)."""

    model_config = ConfigDict(extra="forbid")
    n_exc: int = Field(320, ge=4)
    n_inh: int = Field(80, ge=1)
    p: float = Field(0.1, gt=0, le=1, description="in-degree / population size")
    J_pA: float = Field(87.8, gt=0)
    g: float = Field(5.0, gt=0)
    bg_rate_hz: float = Field(8000.0, ge=0)
    dt_ms: float = Field(0.1, gt=0)


class BedSpec(BaseModel):
    """The vascular bed (:func:`wbe.hemodynamics.vessels.h_tree_vessels`)."""

    model_config = ConfigDict(extra="forbid")
    levels: int = Field(4, ge=2, le=10, description="H-tree levels (2^levels leaves)")
    extent_um: float = Field(400.0, gt=0)
    depth_um: float = Field(200.0, gt=0)
    mesh_radius_um: float = Field(2.0, ge=0, description="collateral capillaries' radius")
    p_arterial_mmHg: float = Field(60.0)
    p_venous_mmHg: float = Field(15.0)


class CouplingSpec(BaseModel):
    """The vasculature's coupling to the neurons (:class:`wbe.engine.network.Vasculature`)."""

    model_config = ConfigDict(extra="forbid")
    update_interval_ms: float = Field(10.0, gt=0)
    calibration_ms: float = Field(1000.0, gt=0)
    nvc_gain_per_hz: float = Field(0.05, ge=0)
    supply_reserve: float = Field(0.5, ge=0)
    atp_store_s: float = Field(1.0, gt=0, description="ATP store in seconds of resting use "
                                                       "(grey matter: ~15 s; less, to see it "
                                                       "drain in a short run)")
    k_atp: float = Field(0.3, gt=0)
    pump_pA: float = Field(150.0, ge=0)
    balloon: Literal["friston2000", "tvb", "stephan2007"] = "friston2000"


class IschaemiaSpec(BaseModel):
    """The ``ischaemia:`` section of a config."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field("ischaemia", pattern=r"^[A-Za-z0-9_.-]+$")
    duration_s: float = Field(6.0, gt=0, description="biological time of each run (s)")
    onset_s: float = Field(2.0, gt=0, description="when the arteriole is occluded (s)")
    reperfusion_s: float | None = Field(None, description="when it opens again (None: never)")
    quadrant: int = Field(0, ge=0, le=3, description="the bed quadrant whose arteriole closes")
    fraction: float = Field(1.0, gt=0, le=1, description="how far it closes (1: fully)")
    seed: int = 1
    block: BlockSpec = Field(default_factory=BlockSpec)
    bed: BedSpec = Field(default_factory=BedSpec)
    coupling: CouplingSpec = Field(default_factory=CouplingSpec)
    cluster: ClusterSpec = Field(default_factory=ClusterSpec)

    @model_validator(mode="after")
    def _check(self) -> IschaemiaSpec:
        if not self.coupling.calibration_ms / 1000.0 < self.onset_s < self.duration_s:
            raise ValueError("need coupling.calibration_ms < onset_s < duration_s (the "
                             "occlusion after the calibration, inside the run)")
        if self.reperfusion_s is not None and not self.onset_s < self.reperfusion_s:
            raise ValueError("reperfusion_s must come after onset_s")
        return self


class IschaemiaError(ValueError):
    """An ischaemia spec is wrong; the message names the key."""


def load_ischaemia_spec(data: dict | None, source: str = "ischaemia spec") -> IschaemiaSpec:
    from wbe.pipeline.studies import validated

    return validated(IschaemiaSpec, data, "ischaemia", source, IschaemiaError)


def _science(spec: IschaemiaSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude={"cluster", "name"})


def study_key(spec: IschaemiaSpec) -> str:
    return store.short_hash({"kind": "ischaemia", "spec": _science(spec),
                             "code": store.code_hash(POINT_CODE + ("wbe.plots",))})


# ------------------------------------------------------------------------------ simulating
def build(spec: IschaemiaSpec, occluded: bool):
    """The block, its bed and vasculature; with the occlusion when ``occluded``."""
    from wbe.hemodynamics.vessels import h_tree_vessels
    from wbe.networks.vascular import ischaemia, perfused_block

    b = spec.bed
    bed = h_tree_vessels(b.levels, extent_um=b.extent_um, depth_um=b.depth_um,
                         mesh_radius_um=b.mesh_radius_um, p_arterial_mmHg=b.p_arterial_mmHg,
                         p_venous_mmHg=b.p_venous_mmHg)
    k = spec.block
    net, bed = perfused_block(bed, n_exc=k.n_exc, n_inh=k.n_inh, p=k.p, J_pA=k.J_pA, g=k.g,
                              bg_rate_hz=k.bg_rate_hz, seed=spec.seed,
                              vasculature=spec.coupling.model_dump(mode="json"))
    if occluded:
        stop = np.inf if spec.reperfusion_s is None else spec.reperfusion_s * 1000.0
        net.fields[0].occlusions.append(ischaemia(bed, spec.onset_s * 1000.0,
                                                  quadrant=spec.quadrant, stop_ms=stop,
                                                  fraction=spec.fraction))
    return net, bed


def simulate_run(spec: IschaemiaSpec, occluded: bool) -> dict[str, np.ndarray]:
    """One run: the vasculature's records (``fields/blood/...``), the spikes of E and I and
    which neurons lie in the occluded quadrant."""
    from wbe.engine.network import RunConfig
    from wbe.engine.simulator import simulate
    from wbe.networks.vascular import territory_in_quadrant

    net, bed = build(spec, occluded)
    t0 = time.perf_counter()
    res = simulate(net, RunConfig(spec.duration_s * 1000.0, spec.block.dt_ms, seed=spec.seed))
    wall = time.perf_counter() - t0
    out = {k.removeprefix("fields/blood/"): v for k, v in res.glia.items()
           if k.startswith("fields/blood/")}
    out["in_quadrant"] = territory_in_quadrant(out["position_um"], bed, spec.quadrant)
    for p in net.populations:
        t, ids = res.spikes[p.name]
        xyz = np.stack([p.attributes[a] for a in "xyz"], 1)
        out[f"spikes/{p.name}/t_ms"], out[f"spikes/{p.name}/ids"] = t, ids
        out[f"spikes/{p.name}/in_quadrant"] = territory_in_quadrant(xyz, bed, spec.quadrant)
    out["wall_s"] = np.array(wall)
    return out


def compute_point(run: dict[str, Any], points_root: str, spec_json: str) -> dict[str, Any]:
    """Simulate one run and publish it (a Dask task; a no-op when it exists)."""
    from wbe.pipeline.sweep import is_complete, publish_point

    final = Path(points_root) / run["key"]
    if is_complete(final):
        return {"key": run["key"], "computed": False}
    rec = simulate_run(IschaemiaSpec.model_validate(json.loads(spec_json)), run["occluded"])

    def write(tmp: Path, summary: dict) -> None:
        np.savez(tmp / "records.npz", **rec)
        summary.update({"wall_s": float(rec["wall_s"])})

    return publish_point(final, "ischaemia_point", run["key"],
                         {"spec": run["spec"], "occluded": run["occluded"]}, write)


def expand(spec: IschaemiaSpec) -> list[dict[str, Any]]:
    code = store.code_hash(POINT_CODE)
    runs = []
    for occluded in (False, True):
        run = {"spec": _science(spec), "occluded": occluded, "code": code}
        run["key"] = store.short_hash({"kind": "ischaemia_point", **run})
        runs.append(run)
    return runs


# -------------------------------------------------------------------------------- results
def _rate(rec: dict, inside: bool, lo_ms: float, hi_ms: float) -> float:
    n, spikes = 0, 0
    for pop in ("E", "I"):
        sel = rec[f"spikes/{pop}/in_quadrant"] == inside
        t, ids = rec[f"spikes/{pop}/t_ms"], rec[f"spikes/{pop}/ids"]
        k = (t > lo_ms) & (t <= hi_ms) & sel[ids]
        spikes += int(k.sum())
        n += int(sel.sum())
    return spikes / max(n, 1) / ((hi_ms - lo_ms) / 1000.0)


def summarise(spec: IschaemiaSpec, control: dict, occluded: dict) -> dict[str, Any]:
    """Before (calibration end → onset) and after (the last half of the time after onset) the
    onset, per region (the quadrant, the rest) and run."""
    t = control["t_ms"]
    on = spec.onset_s * 1000.0
    before = (t > spec.coupling.calibration_ms) & (t <= on)
    after = t > on + 0.5 * (spec.duration_s * 1000.0 - on)
    lo_after = on + 0.5 * (spec.duration_s * 1000.0 - on)
    out: dict[str, Any] = {}
    for run, rec in (("control", control), ("occluded", occluded)):
        for region, inside in (("quadrant", True), ("rest", False)):
            sel = rec["in_quadrant"] == inside
            d0 = rec["deficit_atp"][before][-1, sel].sum()
            d1 = rec["deficit_atp"][-1, sel].sum()
            out[f"{run}/{region}"] = {
                "flow_before": float(rec["flow"][before][:, sel].mean()),
                "flow_after": float(rec["flow"][after][:, sel].mean()),
                "atp_end": float(rec["atp"][-1, sel].mean()),
                "deficit_after_onset_atp": float(d1 - d0),
                "rate_before_hz": _rate(rec, inside, spec.coupling.calibration_ms, on),
                "rate_after_hz": _rate(rec, inside, lo_after, spec.duration_s * 1000.0),
                "bold_after": float(rec["bold"][after][:, sel].mean()),
                "n_territories": int(sel.sum()),
            }
        out[f"{run}/wall_s"] = float(rec["wall_s"])
    return out


def run_study(spec: IschaemiaSpec | dict, results_dir: str | Path = "results", client=None,
              *, out_dir: str | Path | None = None) -> dict[str, Any]:
    from wbe.pipeline.sweep import compute_on, is_complete

    if not isinstance(spec, IschaemiaSpec):
        spec = load_ischaemia_spec(spec)
    results_dir = Path(results_dir)
    points_root = results_dir / "ischaemia_points"
    out = Path(out_dir) if out_dir is not None else results_dir / "ischaemia" / study_key(spec)
    runs = expand(spec)
    t0 = time.perf_counter()
    counts = compute_on(spec.cluster, runs, points_root, client, compute=compute_point,
                        extra=(spec.model_dump_json(),))
    recs = []
    for r in runs:
        folder = points_root / r["key"]
        store.verify(folder)
        with np.load(folder / "records.npz", allow_pickle=False) as z:
            recs.append({k: z[k] for k in z.files})
    summary = {"name": spec.name, "onset_s": spec.onset_s, "duration_s": spec.duration_s,
               "quadrant": spec.quadrant, "measures": summarise(spec, *recs),
               "points": counts, "wall_s_study": time.perf_counter() - t0}
    if not (out.exists() and is_complete(out)):
        with store.publish(out, stage="ischaemia", key=study_key(spec),
                           params=_science(spec)) as (tmp, s):
            (tmp / "summary.json").write_text(dumps(summary, indent=2, sort_keys=True))
            _timecourses(*recs).to_parquet(tmp / "timecourses.parquet", index=False)
            plot(spec, *recs, tmp / "ischaemia.png")
            q = summary["measures"]["occluded/quadrant"]
            s.update({"flow_after": q["flow_after"], "rate_after_hz": q["rate_after_hz"]})
    return {"out": str(out), **summary}


def _timecourses(control: dict, occluded: dict):
    import pandas as pd

    rows = []
    for run, rec in (("control", control), ("occluded", occluded)):
        for region, inside in (("quadrant", True), ("rest", False)):
            sel = rec["in_quadrant"] == inside
            rows.append(pd.DataFrame({
                "run": run, "region": region, "t_ms": rec["t_ms"],
                "flow": rec["flow"][:, sel].mean(1), "atp": rec["atp"][:, sel].mean(1),
                "deficit_atp": rec["deficit_atp"][:, sel].sum(1),
                "rate_hz": rec["rate_hz"][:, sel].mean(1), "bold": rec["bold"][:, sel].mean(1),
                "dilation": rec["dilation"][:, sel].mean(1)}))
    return pd.concat(rows, ignore_index=True)


def plot(spec: IschaemiaSpec, control: dict, occluded: dict, path: Path) -> Path:
    """Flow, ATP store, rate and BOLD of the quadrant and the rest in both runs, and rasters
    of the quadrant's neurons."""
    from wbe.plots import subplots

    fig, axs = subplots(3, 2, figsize=(11, 9))
    on = spec.onset_s
    panels = (("flow", "blood flow (rest = 1)"), ("atp", "ATP store (full = 1)"),
              ("rate_hz", "rate (Hz, per update)"), ("bold", "BOLD (territory, from flow)"))
    for ax, (key, label) in zip(axs.ravel()[:4], panels):
        for run, rec, ls in (("control", control, "--"), ("occluded", occluded, "-")):
            t = rec["t_ms"] / 1000.0
            for region, inside, col in (("quadrant", True, "C3"), ("rest", False, "C0")):
                sel = rec["in_quadrant"] == inside
                y = rec[key][:, sel].mean(1)
                if key == "rate_hz":  # 10-update running mean: per-update rates are noisy
                    w = np.ones(10)
                    y = np.convolve(y, w, mode="same") / np.convolve(np.ones_like(y), w,
                                                                     mode="same")
                ax.plot(t, y, ls, color=col, lw=1, label=f"{region}, {run}")
        ax.axvline(on, color="k", lw=0.8)
        ax.set_ylabel(label)
        ax.set_xlabel("time (s)")
    axs[0, 0].legend(fontsize=7)
    for ax, (run, rec) in zip(axs[2], (("control", control), ("occluded", occluded))):
        t, ids = rec["spikes/E/t_ms"], rec["spikes/E/ids"]
        inside = rec["spikes/E/in_quadrant"]
        order = np.argsort(~inside, kind="stable")  # the quadrant's neurons first
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        ax.plot(t / 1000.0, rank[ids], ",", color="k")
        ax.axhline(inside.sum(), color="C3", lw=0.8)
        ax.axvline(on, color="k", lw=0.8)
        ax.set_title(f"{run}: excitatory spikes (below the red line: the quadrant)",
                     fontsize=9)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("neuron")
    fig.suptitle(f"{spec.name}: arteriole of quadrant {spec.quadrant} occluded at {on:g} s")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


# ----------------------------------------------------------------------------- command line
def add_arguments(p) -> None:
    from wbe.pipeline.studies import add_study_arguments

    add_study_arguments(p, "ischaemia")


def cmd_ischaemia(args) -> int:
    from wbe.pipeline.studies import spec_from_args

    spec = spec_from_args(args, "ischaemia", load_ischaemia_spec, IschaemiaError)
    out = run_study(spec, args.results, out_dir=args.out)
    m = out["measures"]
    for run in ("control", "occluded"):
        q = m[f"{run}/quadrant"]
        print(f"{run:9s} quadrant: flow {q['flow_before']:.2f} -> {q['flow_after']:.2f}, "
              f"ATP {q['atp_end']:.2f}, rate {q['rate_before_hz']:.1f} -> "
              f"{q['rate_after_hz']:.1f} Hz, BOLD {q['bold_after']:+.4f}")
    print(out["out"])
    return 0
