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

(b) F-I: :func:`wbe.analysis.ephys.model_fi_curve` with the circuit's neuron model and (first neuron's)
parameters at the recorded step currents, vs :func:`wbe.analysis.ephys.recorded_fi` of every NWB file:
RMSE (Hz) over sweeps and rheobases (pA).

(c) Rates: per-neuron rates of the simulation (from the metrics stage) vs the same simulation
config run in NEST (:func:`wbe.reference.nest.run_in_nest`): two-sample KS distance over all
neurons and per population, and model/reference mean-rate ratio per population; or, with a
``{population: rate_hz}`` table, only the ratios.

(d) Propagation (region-level brain, ``propagation.enabled``; a ``tvb:`` connectome): region
rates of the simulation in bins, per region the response to the stimulated regions (amplitude,
z, latency) against hop distance (:func:`wbe.validation.propagation.propagation`), summarised as extent,
amplitude/latency–hops Spearman ρ and the FC–SC correlation. With ``null_model.enabled`` the
stage simulates ``n_seeds`` runs on the real connectome (simulation seeds seed, seed+1, …; the
first is the simulation stage's own run) and ``n_seeds`` degree-preserving rewirings
(``null_model_seed`` 1…n, each with the paired simulation seed), with the same background,
stimulus and duration, computes the same measures (hops on each circuit's own graph) and
compares real vs null (:func:`wbe.validation.propagation.compare_real_null`: Mann–Whitney U and a permutation
test of the difference in means).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from wbe.connectome.importers import load_cect_dataset

#: How the connectome is scored, as the module docstring's item (a) says (written into scores.json).
CONNECTOME_DEFINITION = __doc__.split("(b)")[0].split("(a)")[1].strip()

if TYPE_CHECKING:  # the stage's parameters (the stage module imports this one)
    from wbe.stages.validation import PropagationParams

# ----------------------------------------------------------------------------------------------
# (a) connectome
# ----------------------------------------------------------------------------------------------


def load_cect(reference: str) -> tuple[list[str], dict, dict]:
    """Reference connectome from cect: ``reference`` is ``"cect:<name>"`` with a name from
    :data:`wbe.connectome.importers.CECT_READERS` (or a module of ``cect.readers``), loaded (cached) by
    :func:`wbe.connectome.importers.load_cect_dataset`. Returns (neuron names, chemical {(pre, post):
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
        from wbe.io.sonata import read_circuit

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
    from wbe.pipeline.paths import resolve_data_path

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
    """Compare the model F-I with a recorded table (rows from :func:`wbe.analysis.ephys.recorded_fi`):
    the model runs at every recorded step current (``current``: "absolute" or "delta") for the
    median step duration. Returns (scores, curves for plotting)."""
    from wbe.analysis.ephys import model_fi_curve, rheobase

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
















# ----------------------------------------------------------------------------------------------
# (d) propagation through a region-level brain, real vs null connectome
# ----------------------------------------------------------------------------------------------
def _propagation_measures(spikes: dict, net, weights: np.ndarray, stim_regions: np.ndarray,
                          p: PropagationParams, onset_ms: float, stop_ms: float,
                          t_stop_ms: float, labels: list[str] | None = None):
    """(per-region table, bin starts, region rates, summary) of one run: every non-virtual
    population with a ``region_index`` attribute pooled per region."""
    from wbe.validation import propagation as brain

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










