"""Validation stage: the reconstructed connectome against the EM connectome, the model's F-I
curve against patch clamp, rates against NEST (NEURON for cable cells) on the same circuit
and, for region-level brains, stimulus propagation and real-vs-null comparisons. The scores are in
:mod:`wbe.validation.scores`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from wbe.connectome import nulls as null_models
from wbe.io.jsonutil import write_json
from wbe.validation.scores import (
    CONNECTOME_DEFINITION,
    _expand_nwb,
    _propagation_measures,
    compare_connectomes,
    fi_scores,
    load_cect,
    rate_scores,
    read_predicted,
)


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
    fi_nwb: list[str] = Field([], description="current-clamp NWB files or folders of *.nwb "
                              "for the F-I comparison (relative to the project root); empty: "
                              "no F-I comparison (and no fi.png)")
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
        "nest", description="'nest' (same simulation config run in NEST), 'neuron' (the same "
        "run in NEURON: for circuits of cable cells, which NEST has not; Poisson input replays "
        "wbe's draws), a table {population: rate (spikes/s)}, or None to skip")
    t_start_ms: float | None = Field(None, description="rate window start for the reference run "
                                     "(ms); None = the metrics stage's window")
    rates_n_seeds: int = Field(5, ge=1, description="seeds of the rates comparison with the "
                               "reference simulator: the simulation's seed and the next ones, "
                               "each run in wbe and in the reference; per population mean ± SD "
                               "over seeds on both sides and Welch's t-test")
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
                "definition": CONNECTOME_DEFINITION})
    if len(common) == 0:
        res["status"] = "skipped: no neuron names in common with the reference"
    return res


def _validate_fi(params: Params, inputs: dict, out_dir: Path) -> dict:
    from wbe import plots
    from wbe.analysis.ephys import recorded_fi

    if not params.fi_nwb:  # no recordings configured: no comparison, no figure
        return {"status": "skipped: fi_nwb is empty (no recordings configured)", "figure": None}
    files, missing = _expand_nwb(params.fi_nwb)
    if missing or not files:
        what = missing[0] if missing else ", ".join(params.fi_nwb) + " (no .nwb files)"
        res = _status_error(params, f"{what} not found")
        res["figure"] = None  # no recording, nothing to plot: no fi.png
        return res
    rec = pd.concat([recorded_fi(f, threshold_mV=params.spike_threshold_mV,
                                 refractory_ms=params.refractory_ms) for f in files],
                    ignore_index=True)
    recorded = {"files": [str(f) for f in files],
                "sweeps": json.loads(rec.to_json(orient="records"))}
    model = None
    # the neuron as simulated: the simulation's circuit (its model and parameters), else the
    # connectome's
    circuits = [Path(inputs[s]) / sub / "circuit_config.json"
                for s, sub in (("simulation", "circuit"), ("connectome", ""))
                if inputs.get(s) is not None]
    circuit = next((c for c in circuits if c.is_file()), None)
    if circuit is not None:
        from wbe.io.sonata import read_circuit

        net = read_circuit(circuit)
        pops = [p for p in net.populations if not p.is_virtual]
        pop = net.population(params.fi_population) if params.fi_population else (
            pops[0] if pops else None)
        if pop is not None:
            model = (pop.model, dict(pop.params))
    if model is None:
        # the recording alone is still data: fi.png shows it, without a model curve
        res = {"status": "skipped: no neuron model (no connectome circuit)", "recorded": recorded}
        plots.fi_overlay({f"data {f}": (g["current_pA"], g["rate_hz"])
                          for f, g in rec.groupby("file")}, out_dir / "fi.png",
                         status=res["status"])
        res["figure"] = "fi.png"
        return res
    scores, curves = fi_scores(model[0], model[1], rec, current=params.fi_current,
                               dt_ms=params.fi_dt_ms)
    plots.fi_overlay(curves, out_dir / "fi.png",
                     status=f"RMSE {scores['rmse_hz']:.2f} spikes/s")
    scores["recorded"] = recorded
    scores["figure"] = "fi.png"
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
    elif ref in ("nest", "neuron"):
        import importlib.util

        from wbe.analysis.spiking import neuron_metrics
        from wbe.io.sonata import load_simulation

        sim = Path(inputs["simulation"]) / "simulation_config.json"
        net, run_cfg = load_simulation(sim)
        cable = [p.name for p in net.populations if p.model == "cable"]
        msg = None
        if importlib.util.find_spec(ref) is None:
            msg = (f"{'NEST' if ref == 'nest' else 'NEURON'} is not installed (pip install "
                   f"{'nest-simulator' if ref == 'nest' else 'neuron'}, or the 'reference' "
                   "extra of wbe)")
        elif ref == "nest" and cable:
            msg = (f"NEST has no cable cells (population {cable[0]!r}); set "
                   "validation.rates_reference: neuron")
        if msg:
            res = _status_error(params, msg)
            plots.rates_vs_reference({}, {}, out_dir / "rates_vs_reference.png",
                                     status=res["status"])
            return res
        runner = _reference_runner(ref)
        out = runner(net, run_cfg)
        spikes = out.spikes if hasattr(out, "spikes") else out
        t0 = params.t_start_ms if params.t_start_ms is not None else (
            window[0] if window else 0.0)
        t1 = window[1] if window else run_cfg.tstop_ms
        from wbe.engine.cells.base import cell_model_of

        ref_rates = {}
        for p in net.populations:  # spiking neurons (not virtual sources, not astrocytes)
            if not p.simulated or not cell_model_of(p).spiking:
                model_rates.pop(p.name, None)
                continue
            t, ids = spikes.get(p.name, (np.zeros(0), np.zeros(0, np.int64)))
            ref_rates[p.name] = neuron_metrics(t, ids, p.n, t_start_ms=t0, t_stop_ms=t1,
                                               backend="numpy")["rate_hz"].to_numpy()
        res = rate_scores(model_rates, ref_rates)
        res["reference"] = ref
        res["window_ms"] = [t0, t1]
        res["seeds"] = _rates_over_seeds(sim, params.rates_n_seeds, (t0, t1), ref_rates,
                                         run_cfg.seed, runner)
    else:
        raise ValueError(f"rates_reference must be 'nest', 'neuron', a table or None, got "
                         f"{ref!r}")
    res["status"] = "ok"
    res["definition"] = ("KS distance = two-sample Kolmogorov-Smirnov statistic of per-neuron "
                         "rates (spikes/s); rate_ratio = model mean / reference mean")
    per = res["per_population"]
    seeds = (res.get("seeds") or {}).get("per_population")
    if seeds:  # means and SDs over seeds on both sides
        per = seeds
    plots.rates_vs_reference(
        {p: r["model_mean_hz"] for p, r in per.items()},
        {p: r.get("reference_mean_hz") for p, r in per.items()},
        out_dir / "rates_vs_reference.png", status=res["reference"],
        model_sd={p: r.get("model_sd_hz") for p, r in per.items()} if seeds else None,
        reference_sd={p: r.get("reference_sd_hz") for p, r in per.items()} if seeds else None,
        n_seeds=(res.get("seeds") or {}).get("n_seeds"),
        model_rates=np.concatenate(list(model_rates.values())) if ref_rates else None,
        reference_rates=np.concatenate(list(ref_rates.values())) if ref_rates else None)
    return res


def _population_means(spikes: dict, net, window: tuple[float, float]) -> dict[str, float]:
    """Mean rate (spikes/s) per population of spiking neurons (not virtual sources, not
    astrocytes) in ``window`` (ms)."""
    from wbe.engine.cells.base import cell_model_of

    t0, t1 = window
    out = {}
    for p in net.populations:
        if not p.simulated or not cell_model_of(p).spiking:
            continue
        t = np.asarray(spikes.get(p.name, (np.zeros(0), None))[0])
        out[p.name] = float(((t >= t0) & (t < t1)).sum()) / max(p.n, 1) / ((t1 - t0) / 1000.0)
    return out


def _reference_runner(ref: str):
    """The reference simulator's ``run(network, run_config)`` → spikes."""
    if ref == "neuron":
        from wbe.reference.neuron import run_in_neuron

        return run_in_neuron
    from wbe.reference.nest import run_in_nest

    return run_in_nest


def _rates_over_seeds(sim_config: Path, n_seeds: int, window: tuple[float, float],
                      ref_rates: dict, seed0: int, run_in_reference=None) -> dict:
    """Per population: wbe's and the reference simulator's (``run_in_reference``, NEST's by
    default) mean rates over ``n_seeds`` seeds (the simulation's seed, whose runs are
    already there, and the next ones, each run in both simulators on the same SONATA
    circuit), mean ± SD (ddof 1) and Welch's t-test."""
    from scipy import stats

    from wbe.engine.simulator import simulate
    from wbe.io.sonata import load_simulation, read_spikes

    run_in_reference = run_in_reference or _reference_runner("nest")

    seeds = [int(seed0) + k for k in range(n_seeds)]
    net0, _ = load_simulation(sim_config)
    # the simulation stage's own spikes (this seed), in the same window as every other run
    runs_model = {p: [r] for p, r in _population_means(
        read_spikes(sim_config.parent / "spikes.h5"), net0, window).items()}
    runs_ref = {p: [float(np.mean(r))] for p, r in ref_rates.items()}
    for seed in seeds[1:]:
        for runs, runner in ((runs_model, lambda n, r: simulate(n, r, progress=False).spikes),
                             (runs_ref, run_in_reference)):
            net, run_cfg = load_simulation(sim_config)
            run_cfg.seed = seed
            out = runner(net, run_cfg)
            spikes = out.spikes if hasattr(out, "spikes") else out
            for pop, rate in _population_means(spikes, net, window).items():
                runs.setdefault(pop, []).append(rate)
    per = {}
    for pop in runs_model:
        a, b = np.asarray(runs_model[pop]), np.asarray(runs_ref.get(pop, []))
        welch = stats.ttest_ind(a, b, equal_var=False) if len(a) > 1 and len(b) > 1 else None
        p_value = None if welch is None or not np.isfinite(welch.pvalue) else float(welch.pvalue)
        per[pop] = {
            "model_runs_hz": a.tolist(), "reference_runs_hz": b.tolist(),
            "model_mean_hz": float(a.mean()), "reference_mean_hz": float(b.mean()) if len(b) else None,
            "model_sd_hz": float(a.std(ddof=1)) if len(a) > 1 else None,
            "reference_sd_hz": float(b.std(ddof=1)) if len(b) > 1 else None,
            "welch_p_value": p_value,
        }
    return {"n_seeds": n_seeds, "seeds": seeds, "window_ms": list(window), "per_population": per,
            "definition": "population mean rate (spikes/s) per seed; mean ± SD (ddof 1) over "
                          "seeds; Welch's two-sample t-test of wbe's against the reference's"}


def _validate_propagation(params: Params, inputs: dict, out_dir: Path, progress: bool) -> dict:
    from wbe.engine.network import RunConfig
    from wbe.engine.simulator import simulate
    from wbe.io.sonata import load_simulation, read_circuit, read_spikes
    from wbe.stages import connectome as connectome_stage
    from wbe.stages.common import (
        Background,
        Drive,
        add_inputs,
        apply_neuron_settings,
        select,
        simulated_circuit,
    )
    from wbe.validation import propagation as brain

    p = params.propagation
    if inputs.get("connectome") is None or inputs.get("simulation") is None:
        return {"status": "skipped: needs the connectome and simulation inputs"}
    conn_dir, sim_dir = Path(inputs["connectome"]), Path(inputs["simulation"])
    cparams = connectome_stage.Params(**json.loads((conn_dir / "manifest.json").read_text())["params"])
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
    write_json(out_dir / "propagation.json", doc)
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
            s_real = run_one(read_circuit(simulated_circuit(sim_dir)), seed0 + k)
        *_, m_real = _propagation_measures(s_real, net, weights, stim_regions, p, onset, stop,
                                           t_stop)
        null_params = cparams.model_copy(deep=True)
        null_params.tvb.null_model_seed = k + 1
        null_net, _ = connectome_stage.import_network(null_params)
        apply_neuron_settings(null_net, sp.get("model"), sp.get("neuron_params") or {})
        w_null, _tl = null_models.rewired_matrix(weights, k + 1, extra=tl)
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
    write_json(out_dir / "null_model.json", null_doc)
    res["null_model"] = {"status": "ok", "tests": tests}
    return res


def run(params: Params, inputs: dict[str, Path], out_dir: Path, *, progress: bool = True) -> dict:
    """Validation stage: writes ``scores.json`` ({"connectome", "fi", "rates"}, each with
    ``status`` and definitions), ``connectome_comparison.png``, ``rates_vs_reference.png`` and,
    when there is an F-I recording to plot, ``fi.png`` (``scores["fi"]["figure"]`` is
    ``"fi.png"``, or None with the reason in ``scores["fi"]["status"]``); with
    ``propagation.enabled`` also ``propagation.json``, ``propagation.png`` and (null model)
    ``null_model.json``, ``real_vs_null.png``. Returns the headline numbers."""
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
    # fi.png is absent without an F-I recording (scores["fi"]["figure"] is None and the status
    # says why); the two other PNGs always exist, saying why they are empty
    for name, fn, kw in (("connectome_comparison.png", plots.connectome_comparison,
                          {"pred": np.zeros((0, 0)), "ref": np.zeros((0, 0)), "names": []}),
                         ("rates_vs_reference.png", plots.rates_vs_reference,
                          {"model": {}, "reference": {}})):
        if not (out_dir / name).exists():
            part = {"connectome_comparison.png": "connectome",
                    "rates_vs_reference.png": "rates"}[name]
            st = scores[part]["status"]
            if name == "connectome_comparison.png":
                fn(path=out_dir / name, title=st, **kw)
            else:
                fn(path=out_dir / name, status=st, **kw)
    write_json(out_dir / "scores.json", scores)
    c = scores["connectome"].get("chemical", {})
    return {
        "connectome_status": scores["connectome"]["status"],
        "chemical_precision": c.get("precision"), "chemical_recall": c.get("recall"),
        "chemical_f1": c.get("f1"),
        "fi_status": scores["fi"]["status"], "fi_rmse_hz": scores["fi"].get("rmse_hz"),
        "fi_figure": scores["fi"].get("figure"),
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


def external_paths(params: Params) -> dict[str, Path]:
    """External recordings this stage reads: part of its content key (fingerprinted)."""
    from wbe.pipeline.paths import resolve_data_path

    return {f"fi_nwb[{k}]": resolve_data_path(p) for k, p in enumerate(params.fi_nwb)}


