"""Validation stage: the reconstructed connectome against a published one, the model neuron's
F-I curve against recordings, and the simulated rates against a reference simulator or table.

Every score goes to ``scores.json`` with its definition and a ``status`` ("ok", "skipped: ...",
"error: ..."); a part that cannot run (reference data missing, NEST absent) is skipped with the
reason rather than failing the stage, unless ``missing: "error"``.

(a) Connectome: the directed adjacency of the reconstruction (pairs with ≥ 1 synapse in
``synapses.parquet``, by neuron ``name``) against a cect dataset, over the neurons present in
both. Chemical synapses (directed): precision, recall, F1, chance level (= reference density
over ordered pairs, the expected precision of a random prediction) and a one-sided
hypergeometric p-value (P[overlap ≥ observed] drawing |predicted| pairs at random from all
ordered pairs). Chemical ∪ gap junctions, undirected: the same scores over unordered pairs.
Spearman ρ between the number of predicted contacts of a pair and its reference synapse count
(0 where absent), over predicted pairs.

(b) F-I: :func:`wbe.ephys.model_fi_curve` with the circuit's neuron model and (first neuron's)
parameters at the recorded step currents, vs :func:`wbe.ephys.recorded_fi` of every NWB file:
RMSE (Hz) over sweeps and rheobases (pA).

(c) Rates: per-neuron rates of the simulation (from the metrics stage) vs the same simulation
config run in NEST (:func:`wbe.reference.nest.run_in_nest`): two-sample KS distance over all
neurons and per population, and model/reference mean-rate ratio per population; or, with a
``{population: rate_hz}`` table, only the ratios.

(d) Propagation (region-level brain, ``propagation.enabled``; a ``tvb:`` connectome): region
rates of the simulation in bins, per region the response to the stimulated regions (amplitude,
z, latency) against hop distance (:func:`wbe.brain.propagation`), summarised as extent,
amplitude/latency–hops Spearman ρ and the FC–SC correlation. With ``null_model.enabled`` the
stage simulates ``n_seeds`` runs on the real connectome (simulation seeds seed, seed+1, …; the
first is the simulation stage's own run) and ``n_seeds`` degree-preserving rewirings
(``null_model_seed`` 1…n, each with the paired simulation seed), with the same background,
stimulus and duration, computes the same measures (hops on each circuit's own graph) and
compares real vs null (:func:`wbe.brain.compare_real_null`: Mann–Whitney U and a permutation
test of the difference in means).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from wbe.importers import load_cect_dataset

# ----------------------------------------------------------------------------------------------
# (a) connectome
# ----------------------------------------------------------------------------------------------


def load_cect(reference: str) -> tuple[list[str], dict, dict]:
    """Reference connectome from cect: ``reference`` is ``"cect:<name>"`` with a name from
    :data:`wbe.importers.CECT_READERS` (or a module of ``cect.readers``), loaded (cached) by
    :func:`wbe.importers.load_cect_dataset`. Returns (neuron names, chemical {(pre, post):
    synapse count}, gap junctions {sorted (a, b): count}); self-connections are left out."""
    if not reference.startswith("cect:"):
        raise ValueError(f"reference must look like 'cect:<dataset>', got {reference!r}")
    data = load_cect_dataset(reference.split(":", 1)[1])
    chem: dict[tuple[str, str], float] = {}
    gap: dict[tuple[str, str], float] = {}
    for pre, post, n in data.chemical:
        if pre != post:
            chem[(pre, post)] = chem.get((pre, post), 0.0) + n
    for pre, post, n in data.gap:
        if pre != post:
            key = tuple(sorted((pre, post)))
            gap[key] = max(gap.get(key, 0.0), n)  # listed both ways
    return list(data.neurons), chem, gap


def _prf(pred: set, ref: set, universe: int) -> dict:
    from scipy.stats import hypergeom

    tp = len(pred & ref)
    precision = tp / len(pred) if pred else None
    recall = tp / len(ref) if ref else None
    f1 = (2 * precision * recall / (precision + recall)
          if precision and recall else (0.0 if pred and ref else None))
    p = float(hypergeom.sf(tp - 1, universe, len(ref), len(pred))) if universe else None
    return {"n_predicted": len(pred), "n_reference": len(ref), "true_positives": tp,
            "precision": precision, "recall": recall, "f1": f1,
            "chance_precision": len(ref) / universe if universe else None,
            "p_value_hypergeom": p, "n_pairs_universe": universe}


def compare_connectomes(pred_contacts: dict[tuple[str, str], float], pred_neurons: list[str],
                        ref_neurons: list[str], ref_chem: dict, ref_gap: dict) -> dict:
    """Scores of a predicted directed connectome (``pred_contacts``: (pre, post) name → number of
    contacts/synapses) against a reference (see :func:`load_cect`), over neurons in both."""
    from scipy.stats import spearmanr

    common = sorted(set(pred_neurons) & set(ref_neurons))
    cs = set(common)
    n = len(common)
    pred = {k for k, v in pred_contacts.items()
            if v > 0 and k[0] in cs and k[1] in cs and k[0] != k[1]}
    ref = {k for k in ref_chem if k[0] in cs and k[1] in cs}
    chem = _prf(pred, ref, n * (n - 1))
    und_pred = {tuple(sorted(k)) for k in pred}
    und_ref = {tuple(sorted(k)) for k in ref} | {k for k in ref_gap if k[0] in cs and k[1] in cs}
    union = _prf(und_pred, und_ref, n * (n - 1) // 2)
    pairs = sorted(pred)
    x = np.array([pred_contacts[k] for k in pairs], float)
    y = np.array([ref_chem.get(k, 0.0) for k in pairs], float)
    if len(pairs) >= 3 and np.ptp(x) > 0 and np.ptp(y) > 0:
        rho, p = spearmanr(x, y)
        spear = {"rho": float(rho), "p_value": float(p), "n_pairs": len(pairs)}
    else:
        spear = {"rho": None, "p_value": None, "n_pairs": len(pairs),
                 "note": "fewer than 3 pairs or a constant variable"}
    return {"n_neurons_common": n, "n_neurons_predicted": len(set(pred_neurons)),
            "n_neurons_reference": len(set(ref_neurons)), "chemical": chem,
            "chemical_or_gap_undirected": union, "spearman_contacts_vs_synapses": spear,
            "common_neurons": common}


def read_predicted(connectome_dir: Path) -> tuple[list[str], dict[tuple[str, str], float]]:
    """(neuron names, {(pre, post) name: number of synapses}) of a connectome-stage folder:
    names from the circuit's node attribute ``name`` (all nodes, so unconnected neurons count),
    contacts from ``synapses.parquet`` (``pre_name``/``post_name``, else ``pre``/``post`` node ids
    mapped through the names)."""
    connectome_dir = Path(connectome_dir)
    syn_path = connectome_dir / "synapses.parquet"
    if not syn_path.exists():
        raise ValueError(f"{connectome_dir}: no synapses.parquet")
    syn = pd.read_parquet(syn_path)
    names: list[str] | None = None
    cfg = connectome_dir / "circuit_config.json"
    if cfg.exists():
        from wbe.sonata import read_circuit

        net = read_circuit(cfg)
        names = []
        for p in net.populations:
            if not p.is_virtual and "name" in p.attributes:
                names.extend(str(v) for v in np.asarray(p.attributes["name"]).tolist())
    if "pre_name" in syn and "post_name" in syn:
        pre, post = syn["pre_name"].astype(str), syn["post_name"].astype(str)
        if names is None:
            names = sorted(set(pre) | set(post))
    else:
        if not names:
            raise ValueError(f"{syn_path}: no pre_name/post_name columns and no node names in "
                             f"{cfg}")
        arr = np.asarray(names)
        pre, post = pd.Series(arr[syn["pre"].to_numpy()]), pd.Series(arr[syn["post"].to_numpy()])
    counts = pd.DataFrame({"pre": pre.to_numpy(), "post": post.to_numpy()}).groupby(
        ["pre", "post"]).size()
    return list(names), {(a, b): float(v) for (a, b), v in counts.items()}


# ----------------------------------------------------------------------------------------------
# (b) F-I, (c) rates
# ----------------------------------------------------------------------------------------------


def _expand_nwb(paths: list[str]) -> tuple[list[Path], list[str]]:
    """NWB files named by ``paths`` (files or folders, relative to the project root)."""
    from wbe.paths import resolve_data_path

    found, missing = [], []
    for s in paths:
        p = resolve_data_path(s)
        if p.is_dir():
            found.extend(sorted(p.glob("*.nwb")))
        elif p.exists():
            found.append(p)
        else:
            missing.append(str(s))
    return found, missing


def fi_scores(model: str, params: dict, recorded: pd.DataFrame, *, current: str = "absolute",
              dt_ms: float = 0.1, max_rate_hz: float | None = None) -> tuple[dict, dict]:
    """Compare the model F-I with a recorded table (rows from :func:`wbe.ephys.recorded_fi`):
    the model runs at every recorded step current (``current``: "absolute" or "delta") for the
    median step duration. Returns (scores, curves for plotting)."""
    from wbe.ephys import model_fi_curve, rheobase

    col = "current_pA" if current == "absolute" else "delta_pA"
    rec = recorded[recorded["step_duration_ms"] > 0]
    dur = float(np.median(rec["step_duration_ms"]))
    cur = rec[col].to_numpy(float)
    grid = np.linspace(min(0.0, cur.min()), cur.max(), 41)
    allc = np.concatenate([cur, grid])
    rates = model_fi_curve(model, params, allc, duration_ms=dur, dt_ms=dt_ms)
    model_at = rates[:len(cur)]
    data = rec["rate_hz"].to_numpy(float)
    rmse = float(np.sqrt(np.mean((model_at - data) ** 2)))
    per_file = {}
    for f, g in rec.groupby("file"):
        idx = np.flatnonzero(rec["file"].to_numpy() == f)
        per_file[f] = {"rmse_hz": float(np.sqrt(np.mean((model_at[idx] - data[idx]) ** 2))),
                       "rheobase_data_pA": rheobase(g[col].to_numpy(float), g["rate_hz"]),
                       "max_rate_data_hz": float(g["rate_hz"].max()), "n_sweeps": int(len(g))}
    scores = {
        "status": "ok", "current": col, "step_duration_ms": dur,
        "rmse_hz": rmse,
        "rheobase_model_pA": rheobase(allc, rates),
        "rheobase_data_pA": rheobase(cur, data),
        "per_file": per_file,
        "model": {"name": model, "params": {k: float(np.ravel(v)[0]) for k, v in params.items()}},
        "definition": "RMSE (spikes/s) between model and recorded firing rate during the step at "
                      "the recorded step currents; rheobase = smallest current with rate > 0 "
                      "(model: over recorded currents and a 41-point grid)",
    }
    curves = {f"data {f}": (g[col].to_numpy(float), g["rate_hz"].to_numpy(float))
              for f, g in rec.groupby("file")}
    order = np.argsort(allc)
    curves[f"model {model}"] = (allc[order], rates[order])
    return scores, curves


def rate_scores(model_rates: dict[str, np.ndarray], reference_rates: dict[str, np.ndarray] | None,
                reference_table: dict[str, float] | None = None) -> dict:
    """KS distance (two-sample, per population and pooled) of per-neuron rates and per-population
    mean-rate ratio model/reference. ``reference_table`` (pop → spikes/s) gives ratios only."""
    from scipy.stats import ks_2samp

    out: dict = {"per_population": {}}
    pooled_m, pooled_r = [], []
    for pop, m in model_rates.items():
        m = np.asarray(m, float)
        row: dict = {"model_mean_hz": float(m.mean()) if len(m) else None}
        if reference_rates is not None and pop in reference_rates:
            r = np.asarray(reference_rates[pop], float)
            row["reference_mean_hz"] = float(r.mean()) if len(r) else None
            if len(m) and len(r):
                ks = ks_2samp(m, r)
                row["ks_distance"] = float(ks.statistic)
                row["ks_p_value"] = float(ks.pvalue)
                pooled_m.append(m)
                pooled_r.append(r)
        elif reference_table is not None and pop in reference_table:
            row["reference_mean_hz"] = float(reference_table[pop])
        ref_mean = row.get("reference_mean_hz")
        row["rate_ratio"] = (row["model_mean_hz"] / ref_mean
                             if ref_mean and row["model_mean_hz"] is not None else None)
        out["per_population"][pop] = row
    if pooled_m:
        ks = ks_2samp(np.concatenate(pooled_m), np.concatenate(pooled_r))
        out["ks_distance_all"] = float(ks.statistic)
        out["ks_p_value_all"] = float(ks.pvalue)
    return out


# ----------------------------------------------------------------------------------------------
# stage
# ----------------------------------------------------------------------------------------------


class NullModelParams(BaseModel):
    """Real connectome vs degree-preserving null models, simulated by this stage."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = Field(False, description="simulate n_seeds real and n_seeds null circuits "
                          "and test the difference (writes real_vs_null.png, null_model.json)")
    n_seeds: int = Field(4, ge=2, description="simulations per group (real seeds seed..seed+n-1;"
                         " null rewiring seeds 1..n)")
    measures: list[str] = Field(
        ["extent", "mean_amplitude_hz", "spearman_amplitude_hops", "fc_sc_r"],
        description="propagation measures compared (keys of propagation_summary and fc_sc_r)")
    n_permutations: int = Field(10000, ge=100, description="permutations of the permutation "
                                "test (exact enumeration when fewer relabellings exist)")


class PropagationParams(BaseModel):
    """Propagation of the stimulus through a region-level brain (``tvb:`` connectome)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = Field(False, description="write propagation.json and propagation.png")
    stimulus_index: int = Field(0, ge=0, description="the simulation stimulus (index into "
                                "simulation.stimulus) analysed")
    bin_ms: float = Field(5.0, gt=0, description="bin of the region rate series (ms)")
    z_threshold: float = Field(3.0, gt=0, description="z (and baseline SDs for the latency) "
                               "of a responding region")
    baseline_start_ms: float = Field(100.0, ge=0, description="baseline window = "
                                     "[baseline_start_ms, stimulus onset) ms")
    null_model: NullModelParams = Field(default_factory=NullModelParams)


class Params(BaseModel):
    """Parameters of the ``validation`` stage."""

    model_config = ConfigDict(extra="forbid")

    reference: str | None = Field("cect:Cook2019Herm", description="reference connectome, "
                                  "'cect:<dataset>' (White1986, Varshney, Cook2019Herm, "
                                  "Cook2019Male, Witvliet, Witvliet1..8, Wang2024Herm, "
                                  "OpenWormUnified); None skips (a)")
    fi_nwb: list[str] = Field(["../shared/data/nwb/ferguson2015/"], description="current-clamp "
                              "NWB files or folders of *.nwb for the F-I comparison (relative "
                              "to the working directory)")
    missing: str = Field("skip", description="'skip' (record status) or 'error' when reference "
                         "data (NWB files, NEST) are missing")
    fi_current: str = Field("absolute", description="F-I x axis: 'absolute' injected current "
                            "during the step (pA, holding included) or 'delta' (step minus "
                            "baseline, pA)")
    spike_threshold_mV: float = Field(0.0, description="spike detection threshold (mV)")
    refractory_ms: float = Field(2.0, gt=0, description="spike detection refractory (ms)")
    fi_population: str | None = Field(None, description="population whose neuron model is "
                                      "used for the model F-I; None = the first non-virtual")
    fi_dt_ms: float = Field(0.1, gt=0, description="time step of the model F-I run (ms)")
    rates_reference: str | dict[str, float] | None = Field(
        "nest", description="'nest' (same simulation config run in NEST), a table "
        "{population: rate (spikes/s)}, or None to skip")
    t_start_ms: float | None = Field(None, description="rate window start for the reference run "
                                     "(ms); None = the metrics stage's window")
    propagation: PropagationParams = Field(default_factory=PropagationParams,
                                           description="stimulus propagation and null model "
                                           "(region-level brain)")


def _status_error(params: Params, msg: str) -> dict:
    if params.missing == "error":
        raise FileNotFoundError(msg)
    return {"status": f"skipped: {msg}"}


def _validate_connectome(params: Params, inputs: dict, out_dir: Path) -> dict:
    from wbe import plots

    if params.reference is None:
        plots.connectome_comparison(np.zeros((0, 0)), np.zeros((0, 0)), [],
                                    out_dir / "connectome_comparison.png", title="skipped")
        return {"status": "skipped: reference is None"}
    if inputs.get("connectome") is None:
        return {"status": "skipped: no connectome input"}
    names, contacts = read_predicted(Path(inputs["connectome"]))
    ref_neurons, chem, gap = load_cect(params.reference)
    res = compare_connectomes(contacts, names, ref_neurons, chem, gap)
    common = res.pop("common_neurons")
    idx = {nm: k for k, nm in enumerate(common)}
    pred = np.zeros((len(common), len(common)), bool)
    ref = np.zeros_like(pred)
    for (a, b), v in contacts.items():
        if a in idx and b in idx and v > 0 and a != b:
            pred[idx[a], idx[b]] = True
    for (a, b) in chem:
        if a in idx and b in idx:
            ref[idx[a], idx[b]] = True
    c = res["chemical"]
    plots.connectome_comparison(
        pred, ref, common, out_dir / "connectome_comparison.png",
        scores={"precision": c["precision"], "recall": c["recall"], "F1": c["f1"],
                "chance": c["chance_precision"]} if c["n_predicted"] else None,
        title=f"chemical synapses vs {params.reference} ({len(common)} common neurons)")
    res.update({"status": "ok", "reference": params.reference,
                "definition": __doc__.split("(b)")[0].split("(a)")[1].strip()})
    if len(common) == 0:
        res["status"] = "skipped: no neuron names in common with the reference"
    return res


def _validate_fi(params: Params, inputs: dict, out_dir: Path) -> dict:
    from wbe import plots
    from wbe.ephys import recorded_fi

    files, missing = _expand_nwb(params.fi_nwb)
    if missing or not files:
        what = missing[0] if missing else ", ".join(params.fi_nwb) + " (no .nwb files)"
        res = _status_error(params, f"{what} not found")
        plots.fi_overlay({}, out_dir / "fi.png", status=f"F-I {res['status']}")
        return res
    rec = pd.concat([recorded_fi(f, threshold_mV=params.spike_threshold_mV,
                                 refractory_ms=params.refractory_ms) for f in files],
                    ignore_index=True)
    recorded = {"files": [str(f) for f in files],
                "sweeps": json.loads(rec.to_json(orient="records"))}
    model = None
    if inputs.get("connectome") is not None and (
            Path(inputs["connectome"]) / "circuit_config.json").exists():
        from wbe.sonata import read_circuit

        net = read_circuit(Path(inputs["connectome"]) / "circuit_config.json")
        pops = [p for p in net.populations if not p.is_virtual]
        pop = net.population(params.fi_population) if params.fi_population else (
            pops[0] if pops else None)
        if pop is not None:
            model = (pop.model, dict(pop.params))
    if model is None:
        res = {"status": "skipped: no neuron model (no connectome circuit)", "recorded": recorded}
        plots.fi_overlay({f"data {f}": (g["current_pA"], g["rate_hz"])
                          for f, g in rec.groupby("file")}, out_dir / "fi.png",
                         status=res["status"])
        return res
    try:
        import wbe.engine.simulator  # noqa: F401
    except ImportError as e:
        res = _status_error(params, f"engine not available ({e})")
        res["recorded"] = recorded
        return res
    scores, curves = fi_scores(model[0], model[1], rec, current=params.fi_current,
                               dt_ms=params.fi_dt_ms)
    plots.fi_overlay(curves, out_dir / "fi.png",
                     status=f"RMSE {scores['rmse_hz']:.2f} spikes/s")
    scores["recorded"] = recorded
    return scores


def _validate_rates(params: Params, inputs: dict, out_dir: Path) -> dict:
    from wbe import plots

    ref = params.rates_reference
    if ref is None:
        plots.rates_vs_reference({}, {}, out_dir / "rates_vs_reference.png", status="skipped")
        return {"status": "skipped: rates_reference is None"}
    mdir = inputs.get("metrics")
    if mdir is None or not (Path(mdir) / "neuron_metrics.parquet").exists():
        return {"status": "skipped: no metrics input"}
    table = pd.read_parquet(Path(mdir) / "neuron_metrics.parquet")
    if "source" in table:
        table = table[table["source"] == "simulation"]
    model_rates = {p: g["rate_hz"].to_numpy(float) for p, g in table.groupby("population",
                                                                               sort=False)}
    window = None
    pm = Path(mdir) / "population_metrics.json"
    if pm.exists():
        window = json.loads(pm.read_text()).get("definitions", {}).get("window_ms")
    ref_rates = None
    if isinstance(ref, dict):
        res = rate_scores(model_rates, None, ref)
        res["reference"] = "table"
    elif ref == "nest":
        try:
            from wbe.reference.nest import run_in_nest
        except ImportError as e:
            res = _status_error(params, f"NEST reference not available ({e})")
            plots.rates_vs_reference({}, {}, out_dir / "rates_vs_reference.png",
                                     status=res["status"])
            return res
        from wbe.metrics import neuron_metrics
        from wbe.sonata import load_simulation

        sim = Path(inputs["simulation"]) / "simulation_config.json"
        net, run_cfg = load_simulation(sim)
        out = run_in_nest(net, run_cfg)
        spikes = out.spikes if hasattr(out, "spikes") else out
        t0 = params.t_start_ms if params.t_start_ms is not None else (
            window[0] if window else 0.0)
        t1 = window[1] if window else run_cfg.tstop_ms
        ref_rates = {}
        for p in net.populations:
            if p.is_virtual:
                continue
            t, ids = spikes.get(p.name, (np.zeros(0), np.zeros(0, np.int64)))
            ref_rates[p.name] = neuron_metrics(t, ids, p.n, t_start_ms=t0, t_stop_ms=t1,
                                               backend="numpy")["rate_hz"].to_numpy()
        res = rate_scores(model_rates, ref_rates)
        res["reference"] = "nest"
        res["window_ms"] = [t0, t1]
    else:
        raise ValueError(f"rates_reference must be 'nest', a table or None, got {ref!r}")
    res["status"] = "ok"
    res["definition"] = ("KS distance = two-sample Kolmogorov-Smirnov statistic of per-neuron "
                         "rates (spikes/s); rate_ratio = model mean / reference mean")
    per = res["per_population"]
    plots.rates_vs_reference(
        {p: r["model_mean_hz"] for p, r in per.items()},
        {p: r.get("reference_mean_hz") for p, r in per.items()},
        out_dir / "rates_vs_reference.png", status=res["reference"],
        model_rates=np.concatenate(list(model_rates.values())) if ref_rates else None,
        reference_rates=np.concatenate(list(ref_rates.values())) if ref_rates else None)
    return res


# ----------------------------------------------------------------------------------------------
# (d) propagation through a region-level brain, real vs null connectome
# ----------------------------------------------------------------------------------------------
def _propagation_measures(spikes: dict, net, weights: np.ndarray, stim_regions: np.ndarray,
                          p: PropagationParams, onset_ms: float, stop_ms: float,
                          t_stop_ms: float, labels: list[str] | None = None):
    """(per-region table, bin starts, region rates, summary) of one run: every non-virtual
    population with a ``region_index`` attribute pooled per region."""
    from wbe import brain

    n_reg = weights.shape[0]
    reg, ts, ids_all, off = [], [], [], 0
    for pop in net.populations:
        if pop.is_virtual or "region_index" not in pop.attributes:
            continue
        t, ids = spikes.get(pop.name, (np.zeros(0), np.zeros(0, np.int64)))
        reg.append(np.asarray(pop.attributes["region_index"], np.int64))
        ts.append(np.asarray(t, float))
        ids_all.append(np.asarray(ids, np.int64) + off)
        off += pop.n
    if not reg:
        raise ValueError("validation.propagation: no population has a 'region_index' "
                         "attribute (use a tvb: connectome)")
    tb, rates = brain.region_rates(np.concatenate(ts), np.concatenate(ids_all),
                                   np.concatenate(reg), n_reg, t_stop_ms=t_stop_ms,
                                   bin_ms=p.bin_ms, t_start_ms=p.baseline_start_ms)
    df = brain.propagation(tb, rates, list(stim_regions), onset_ms=onset_ms, stop_ms=stop_ms,
                           weights=weights, z_threshold=p.z_threshold, labels=labels)
    summary = brain.propagation_summary(df)
    summary["fc_sc_r"] = brain.fc_sc_correlation(rates, weights)
    return df, tb, rates, summary


def _validate_propagation(params: Params, inputs: dict, out_dir: Path, progress: bool) -> dict:
    from wbe import brain, importers
    from wbe import connectome as cstage
    from wbe.engine.network import RunConfig
    from wbe.engine.simulator import simulate
    from wbe.sonata import load_simulation, read_circuit, read_spikes
    from wbe.stages import Background, Drive, add_inputs, select

    p = params.propagation
    if inputs.get("connectome") is None or inputs.get("simulation") is None:
        return {"status": "skipped: needs the connectome and simulation inputs"}
    conn_dir, sim_dir = Path(inputs["connectome"]), Path(inputs["simulation"])
    cparams = cstage.Params(**json.loads((conn_dir / "manifest.json").read_text())["params"])
    if not cparams.source.startswith("tvb:"):
        return {"status": f"skipped: propagation needs a tvb: connectome, not {cparams.source}"}
    sp = json.loads((sim_dir / "manifest.json").read_text())["params"]
    drives = [Drive(**d) for d in sp.get("stimulus", [])]
    if p.stimulus_index >= len(drives):
        raise ValueError(f"validation.propagation.stimulus_index={p.stimulus_index}: the "
                         f"simulation has {len(drives)} stimuli")
    drive = drives[p.stimulus_index]
    background = Background(**sp["background"])
    net, run_cfg = load_simulation(sim_dir / "simulation_config.json")
    t_stop = float(run_cfg.tstop_ms)
    onset, stop = float(drive.start_ms), float(min(drive.stop_ms, t_stop))
    cz = np.load(conn_dir / "connectivity.npz", allow_pickle=False)
    weights, tl = cz["weights"], cz["tract_lengths_mm"]
    labels = [str(x) for x in cz["labels"]]
    stim_regions = np.unique(np.concatenate(
        [np.asarray(net.population(pop).attributes["region_index"], np.int64)[ids]
         for pop, ids in select(net, drive.neurons).items()]))
    df, tb, rates, summary = _propagation_measures(read_spikes(sim_dir / "spikes.h5"), net,
                                                   weights, stim_regions, p, onset, stop,
                                                   t_stop, labels)
    brain.plot_propagation(df, tb, rates, out_dir / "propagation.png", onset_ms=onset,
                           stop_ms=stop, title=f"propagation from "
                           f"{', '.join(labels[r] for r in stim_regions)}")
    doc = {"status": "ok", "stimulated_regions": [labels[r] for r in stim_regions],
           "onset_ms": onset, "stop_ms": stop, "bin_ms": p.bin_ms, "summary": summary,
           "regions": json.loads(df.to_json(orient="records"))}
    (out_dir / "propagation.json").write_text(json.dumps(doc, indent=2, default=_json_default))
    res = {"status": "ok", "stimulated_regions": doc["stimulated_regions"], **summary}
    nm = p.null_model
    if not nm.enabled:
        return res
    if cparams.tvb.null_model_seed is not None:
        res["null_model"] = {"status": "skipped: the connectome is itself a null model"}
        return res

    def run_one(network, seed):
        add_inputs(network, background, drives)
        cfg = RunConfig(tstop_ms=t_stop, dt_ms=float(sp["dt_ms"]), seed=seed)
        return simulate(network, cfg, progress=False).spikes

    seed0 = int(sp["seed"])
    values: dict[str, tuple[list, list]] = {m: ([], []) for m in nm.measures}
    runs = []
    for k in range(nm.n_seeds):
        if k == 0:
            s_real = read_spikes(sim_dir / "spikes.h5")
        else:
            s_real = run_one(read_circuit(conn_dir / "circuit_config.json"), seed0 + k)
        *_, m_real = _propagation_measures(s_real, net, weights, stim_regions, p, onset, stop,
                                           t_stop)
        null_params = cparams.model_copy(deep=True)
        null_params.tvb.null_model_seed = k + 1
        null_net, _ = cstage.import_network(null_params)
        w_null, _tl = importers.degree_preserving_null(weights, k + 1, extra=tl)
        s_null = run_one(null_net, seed0 + k)
        *_, m_null = _propagation_measures(s_null, null_net, w_null, stim_regions, p, onset,
                                           stop, t_stop)
        runs.append({"seed": seed0 + k, "null_model_seed": k + 1, "real": m_real,
                     "null": m_null})
        for m in nm.measures:
            values[m][0].append(m_real.get(m, float("nan")))
            values[m][1].append(m_null.get(m, float("nan")))
    tests = {}
    for m, (a, b) in values.items():
        try:
            tests[m] = brain.compare_real_null(a, b, n_permutations=nm.n_permutations,
                                               seed=seed0)
        except ValueError as e:
            tests[m] = {"status": f"skipped: {e}"}
    brain.plot_real_vs_null(values, out_dir / "real_vs_null.png",
                            tests={m: t for m, t in tests.items() if "permutation_p" in t})
    null_doc = {"status": "ok", "n_seeds": nm.n_seeds, "tests": tests, "runs": runs,
                "definition": "real: simulation seeds seed..seed+n-1 on the real connectome; "
                              "null: degree-preserving Maslov-Sneppen rewirings (seeds 1..n) "
                              "with the paired simulation seed; same background, stimulus, "
                              "duration; Mann-Whitney U (two-sided) and a permutation test of "
                              "the difference in means"}
    (out_dir / "null_model.json").write_text(json.dumps(null_doc, indent=2,
                                                        default=_json_default))
    res["null_model"] = {"status": "ok", "tests": tests}
    return res


def run(params: Params, inputs: dict[str, Path], out_dir: Path, *, progress: bool = True) -> dict:
    """Validation stage: writes ``scores.json`` ({"connectome", "fi", "rates"}, each with
    ``status`` and definitions) and ``connectome_comparison.png``, ``fi.png``,
    ``rates_vs_reference.png``; with ``propagation.enabled`` also ``propagation.json``,
    ``propagation.png`` and (null model) ``null_model.json``, ``real_vs_null.png``. Returns the
    headline numbers."""
    from wbe import plots

    if params.missing not in ("skip", "error"):
        raise ValueError(f"missing must be 'skip' or 'error', got {params.missing!r}")
    if params.fi_current not in ("absolute", "delta"):
        raise ValueError(f"fi_current must be 'absolute' or 'delta', got {params.fi_current!r}")
    out_dir = Path(out_dir)
    scores = {
        "connectome": _validate_connectome(params, inputs, out_dir),
        "fi": _validate_fi(params, inputs, out_dir),
        "rates": _validate_rates(params, inputs, out_dir),
    }
    if params.propagation.enabled:
        scores["propagation"] = _validate_propagation(params, inputs, out_dir, progress)
    for name, fn, kw in (("connectome_comparison.png", plots.connectome_comparison,
                          {"pred": np.zeros((0, 0)), "ref": np.zeros((0, 0)), "names": []}),
                         ("fi.png", plots.fi_overlay, {"curves": {}}),
                         ("rates_vs_reference.png", plots.rates_vs_reference,
                          {"model": {}, "reference": {}})):
        if not (out_dir / name).exists():  # every PNG exists, saying why it is empty
            part = {"connectome_comparison.png": "connectome", "fi.png": "fi",
                    "rates_vs_reference.png": "rates"}[name]
            st = scores[part]["status"]
            if name == "connectome_comparison.png":
                fn(path=out_dir / name, title=st, **kw)
            else:
                fn(path=out_dir / name, status=st, **kw)
    (out_dir / "scores.json").write_text(json.dumps(scores, indent=2, default=_json_default))
    c = scores["connectome"].get("chemical", {})
    return {
        "connectome_status": scores["connectome"]["status"],
        "chemical_precision": c.get("precision"), "chemical_recall": c.get("recall"),
        "chemical_f1": c.get("f1"),
        "fi_status": scores["fi"]["status"], "fi_rmse_hz": scores["fi"].get("rmse_hz"),
        "rates_status": scores["rates"]["status"],
        "ks_distance_all": scores["rates"].get("ks_distance_all"),
        **_propagation_headline(scores.get("propagation")),
    }


def _propagation_headline(res: dict | None) -> dict:
    """The propagation extent and, per compared measure, the permutation p (for the summary)."""
    if not res:
        return {}
    out = {"propagation_status": res["status"], "propagation_extent": res.get("extent")}
    for m, t in res.get("null_model", {}).get("tests", {}).items():
        out[f"null_{m}_real_mean"] = t.get("mean_real")
        out[f"null_{m}_null_mean"] = t.get("mean_null")
        out[f"null_{m}_permutation_p"] = t.get("permutation_p")
    return out


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def external_paths(params: Params) -> dict[str, Path]:
    """External recordings this stage reads: part of its content key (fingerprinted)."""
    from wbe.paths import resolve_data_path

    return {f"fi_nwb[{k}]": resolve_data_path(p) for k, p in enumerate(params.fi_nwb)}
