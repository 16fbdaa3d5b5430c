"""Metrics stage: firing rates, ISI CV, Fano factor (:mod:`wbe.analysis.spiking`), the
perturbational complexity index from a virtual perturbation — Casali et al. 2013
(:mod:`wbe.analysis.pci`) and PCIst (:mod:`wbe.consciousness.pcist`) —, integrated information
Φ of the coarse-grained activity (:mod:`wbe.consciousness.tpm`, :mod:`wbe.consciousness.iit`)
and, for the worm, the stimulus response by cell class (:mod:`wbe.validation.worm`). The
perturbation trials and the Φ search run as Dask tasks: on the local ``scheduler``, or on the
Dask cluster of ``cluster`` (local processes or SLURM jobs).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from wbe.analysis.spiking import (
    neuron_metrics,
    pairwise_correlations,
    population_summary,
    split_by_neuron,
)
from wbe.consciousness.tpm import PhiSettings
from wbe.io.jsonutil import write_json
from wbe.pipeline.cluster import ClusterSpec


class PCIParams(BaseModel):
    """Virtual-perturbation PCI settings (see :mod:`wbe.analysis.pci`)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(True, description="compute PCI by re-running the simulation with a "
                          "perturbation (needs the engine); false writes pci.json with status")
    n_trials: int = Field(8, ge=2, description="perturbation trials (different seeds)")
    stim_population: str | None = Field(None, description="population receiving the pulse; "
                                        "None = the first non-virtual population")
    stim_fraction: float = Field(0.1, gt=0, le=1, description="fraction of its neurons "
                                 "stimulated (the first ones by node id)")
    amplitude_pA: float = Field(5000.0, description="pulse amplitude (pA); 5 nA for 2 ms "
                                "moves a 250 pF membrane by 40 mV")
    duration_ms: float = Field(2.0, gt=0, description="pulse duration (ms)")
    t_stim_ms: float | None = Field(None, description="pulse onset (ms); None = t_start_ms + "
                                    "baseline_ms")
    baseline_ms: float = Field(100.0, gt=0, description="pre-stimulus baseline window (ms)")
    response_ms: float = Field(300.0, gt=0, description="post-stimulus window (ms)")
    bin_ms: float = Field(5.0, gt=0, description="bin width of the sources × time matrix (ms)")
    sources: str = Field("neuron", description="'neuron' (a random sample of max_neurons), "
                         "'group' (max_neurons random groups holding every neuron) or "
                         "'population'")
    max_neurons: int = Field(300, ge=1, description="neurons sampled (or groups) as sources")
    alpha: float = Field(0.01, gt=0, lt=1, description="significance level of the bootstrap "
                         "threshold")
    n_boot: int = Field(500, ge=10, description="bootstrap samples for the threshold")


class PhiParams(PhiSettings):
    """Integrated information Φ of the simulated activity (:mod:`wbe.consciousness.tpm`): the
    neurons are pooled into a few nodes, each node is on in a bin when its spike count exceeds
    its median, the transition probabilities between consecutive bins are counted into a TPM
    and exact Φ (IIT 3.0) is computed in every state occupied more than ``min_occupancy``."""

    enabled: bool = Field(True, description="write phi.json (false: phi.json with status)")
    group_by: str = Field("population", description="nodes: 'population', 'random' "
                          "(n_groups random groups of all neurons, seeded) or a node attribute "
                          "(e.g. cell_class, region)")
    n_groups: int = Field(4, ge=2, le=8, description="nodes when group_by is 'random'")
    max_nodes: int = Field(5, ge=2, le=8, description="more nodes than this are not analysed "
                           "(exact Φ is exponential): phi.json says so")


class WormResponseParams(BaseModel):
    """Which neurons answer the stimulation of a sensory class, by cell class (:mod:`wbe.validation.worm`);
    needs node attributes ``name`` and ``cell_class`` (a ``cect:`` connectome)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = Field(False, description="write worm_response.json, worm_response.png and "
                          "worm_raster.png")
    stimulus_index: int = Field(0, ge=0, description="the simulation stimulus (index into "
                                "simulation.stimulus) whose window and cells are analysed")
    population: str | None = Field(None, description="population analysed; None = the first "
                                   "non-virtual one")
    baseline_ms: tuple[float, float] | None = Field(
        None, description="baseline window [start, stop) ms; None = [t_start_ms, stimulus "
        "start)")
    z_threshold: float = Field(3.0, gt=0, description="Poisson z of the count change that "
                               "counts as a response")
    min_delta_hz: float = Field(1.0, ge=0, description="smallest rate increase (spikes/s) "
                                "that counts as a response")


class Params(BaseModel):
    """Parameters of the ``metrics`` stage."""

    model_config = ConfigDict(extra="forbid")

    t_start_ms: float = Field(100.0, ge=0, description="discard spikes before this time "
                              "(warm-up, ms)")
    t_stop_ms: float | None = Field(None, description="end of the analysis window (ms); None = "
                                    "the simulation's tstop_ms")
    bin_ms: float = Field(50.0, gt=0, description="bin width for the Fano factor (ms)")
    min_spikes_cv: int = Field(3, ge=2, description="fewest spikes for an ISI CV")
    corr_bin_ms: float = Field(5.0, gt=0, description="bin width for pairwise correlations (ms)")
    corr_max_neurons: int = Field(100, ge=0, description="neurons sampled per population for "
                                  "pairwise correlations (0 = skip)")
    backend: str = Field("elephant", description="'elephant' (Elephant/Neo) or 'numpy'")
    chunk_neurons: int = Field(2000, ge=1, description="neurons per Dask task")
    scheduler: str = Field("threads", description="local Dask scheduler: threads, processes, "
                           "synchronous")
    raster_neurons: int = Field(50, ge=1, description="neurons per population in rasters")
    pci: PCIParams = Field(default_factory=PCIParams, description="PCI settings")
    phi: PhiParams = Field(default_factory=PhiParams, description="integrated information Φ")
    cluster: ClusterSpec | None = Field(None, description="a Dask cluster (local processes or "
                                        "SLURM jobs) for the perturbation trials and Φ; None = "
                                        "the local scheduler")
    worm_response: WormResponseParams = Field(default_factory=WormResponseParams,
                                              description="response by cell class (worm)")


def _load_sim(sim_dir: Path) -> tuple[dict[str, int] | None, float | None]:
    """(neurons per non-virtual population, tstop_ms) from the simulation folder's SONATA
    ``simulation_config.json``; (None, None) where there is none."""
    cfg = sim_dir / "simulation_config.json"
    if not cfg.exists():
        return None, None
    from wbe.io.sonata import load_simulation

    net, run_cfg = load_simulation(cfg)
    return {p.name: p.n for p in net.populations if not p.is_virtual}, float(run_cfg.tstop_ms)


def metrics_from_spikes(spikes: dict, sizes: dict[str, int] | None, params: Params,
                        t_stop_ms: float, client=None) -> tuple[pd.DataFrame, dict]:
    """Per-neuron table (all populations; column ``population``) and per-population summary
    for ``spikes`` (pop → (times_ms, node_ids)). ``sizes`` gives neurons per population (so
    silent neurons count); None = max node id + 1."""
    frames, summary = [], {}
    pops = list(sizes) if sizes else list(spikes)
    for pop in pops:
        t, ids = spikes.get(pop, (np.zeros(0), np.zeros(0, np.int64)))
        n = sizes[pop] if sizes else (int(np.max(ids)) + 1 if len(ids) else 0)
        df = neuron_metrics(t, ids, n, t_start_ms=params.t_start_ms, t_stop_ms=t_stop_ms,
                            bin_ms=params.bin_ms, min_spikes_cv=params.min_spikes_cv,
                            backend=params.backend, chunk_neurons=params.chunk_neurons,
                            client=client, scheduler=params.scheduler)
        df.insert(0, "population", pop)
        frames.append(df)
        s = population_summary(df)
        if params.corr_max_neurons > 0 and n > 1:
            trains = split_by_neuron(t, ids, n, params.t_start_ms, t_stop_ms)
            s.update(pairwise_correlations(trains, t_start_ms=params.t_start_ms,
                                           t_stop_ms=t_stop_ms, bin_ms=params.corr_bin_ms,
                                           max_neurons=params.corr_max_neurons))
        summary[pop] = s
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["population", "node_id", "n_spikes", "rate_hz", "isi_cv", "fano"])
    return table, summary


def run_pci(p: PCIParams, sim_config: Path, t_start_ms: float, *, client=None,
            scheduler: str = "threads", progress: bool = False) -> dict:
    """Virtual-perturbation PCI for the simulation described by ``sim_config``: Casali et
    al.'s PCI of the significance matrix and PCIst (Comolatti et al. 2019) of the trial-averaged
    response of the same sources. Returns a JSON-able dict with ``status`` ("ok", "disabled" or
    "skipped: <reason>") and, when ok, the numbers and the binary matrix ``ss`` (ndarray)."""
    if not p.enabled:
        return {"status": "disabled"}
    from wbe.analysis.pci import perturbational_complexity
    from wbe.io.sonata import load_simulation

    net, run = load_simulation(sim_config)
    real = [q for q in net.populations if not q.is_virtual]
    if not real:
        return {"status": "skipped: no non-virtual population"}
    pop = net.population(p.stim_population) if p.stim_population else real[0]
    n_stim = max(1, int(round(p.stim_fraction * pop.n)))
    t_stim = p.t_stim_ms if p.t_stim_ms is not None else t_start_ms + p.baseline_ms
    if t_stim + p.response_ms > run.tstop_ms:
        run.tstop_ms = float(t_stim + p.response_ms)
    res = perturbational_complexity(
        net, run, stim_population=pop.name, stim_node_ids=np.arange(n_stim),
        t_stim_ms=t_stim, amplitude_pA=p.amplitude_pA, duration_ms=p.duration_ms,
        n_trials=p.n_trials, baseline_ms=p.baseline_ms, response_ms=p.response_ms,
        bin_ms=p.bin_ms, sources=p.sources, max_neurons=p.max_neurons, alpha=p.alpha,
        n_boot=p.n_boot, client=client, scheduler=scheduler, progress=progress)
    res.update({"status": "ok", "stim_population": pop.name, "n_stimulated": n_stim,
                "t_stim_ms": t_stim, "n_trials": p.n_trials})
    return res


def run_phi(p: PhiParams, sim_config: Path, spikes: dict, t_start_ms: float,
            t_stop_ms: float, *, client=None, scheduler: str = "threads") -> dict:
    """Φ of the simulated activity coarse-grained as :class:`PhiParams` says
    (:func:`wbe.consciousness.tpm.phi_of_spikes`); JSON-able dict with ``status`` and, when
    ok, ``mean_phi`` and Φ per observed state."""
    if not p.enabled:
        return {"status": "disabled"}
    from wbe.consciousness.tpm import attribute_groups, random_groups
    from wbe.io.sonata import load_simulation

    net, run_cfg = load_simulation(sim_config)
    real = [q for q in net.populations if not q.is_virtual]
    if p.group_by == "population":
        groups = {q.name: [q.name] for q in real}
    elif p.group_by == "random":
        groups = random_groups({q.name: q.n for q in real}, p.n_groups, run_cfg.seed)
    else:
        try:
            groups = attribute_groups(real, p.group_by)
        except ValueError as exc:
            raise ValueError(f"metrics.phi.group_by: {exc}") from None
    if len(groups) < 2:
        return {"status": f"skipped: {len(groups)} node(s) from group_by={p.group_by!r} "
                          "(set metrics.phi.group_by to 'random' or a node attribute)"}
    if len(groups) > p.max_nodes:
        return {"status": f"skipped: {len(groups)} nodes from group_by={p.group_by!r} exceed "
                          f"max_nodes={p.max_nodes}"}
    doc = p.measure(spikes, groups, t_start_ms, t_stop_ms, client=client, scheduler=scheduler)
    doc.update({"status": "ok", "group_by": p.group_by})
    return doc


def run_worm_response(p: WormResponseParams, sim_dir: Path, spikes: dict, out_dir: Path,
                      t_start_ms: float) -> dict:
    """Response of every neuron to the simulation's stimulus ``p.stimulus_index`` by cell class
    (:func:`wbe.validation.worm.stimulus_response`, :func:`wbe.validation.worm.response_by_class`). Writes
    ``worm_response.json`` (window, per-class summary, per-neuron table), ``worm_response.png``
    and ``worm_raster.png``; returns a small summary (responders per class)."""
    from wbe.io.sonata import load_simulation
    from wbe.validation import worm

    net, run_cfg = load_simulation(sim_dir / "simulation_config.json")
    stimuli = json.loads((sim_dir / "manifest.json").read_text())["params"].get("stimulus", [])
    if p.stimulus_index >= len(stimuli):
        raise ValueError(f"metrics.worm_response.stimulus_index={p.stimulus_index}: the "
                         f"simulation has {len(stimuli)} stimuli")
    drive = stimuli[p.stimulus_index]
    real = [q for q in net.populations if not q.is_virtual]
    pop = net.population(p.population) if p.population else real[0]
    for col in ("name", "cell_class"):
        if col not in pop.attributes:
            raise ValueError(f"metrics.worm_response: population {pop.name!r} has no node "
                             f"attribute {col!r} (use a cect: connectome)")
    stim_ms = (float(drive["start_ms"]), float(min(drive["stop_ms"], run_cfg.tstop_ms)))
    base = tuple(p.baseline_ms) if p.baseline_ms is not None else (t_start_ms, stim_ms[0])
    t, ids = spikes.get(pop.name, (np.zeros(0), np.zeros(0, np.int64)))
    names, cls = pop.attributes["name"], pop.attributes["cell_class"]
    df = worm.stimulus_response(t, ids, names, cls, stim_ms=stim_ms, baseline_ms=base,
                                stimulated=drive["neurons"], z_threshold=p.z_threshold,
                                min_delta_hz=p.min_delta_hz)
    by_class = worm.response_by_class(df)
    title = f"response to {', '.join(drive['neurons'])} ({stim_ms[0]:g}–{stim_ms[1]:g} ms)"
    worm.plot_response_by_class(df, out_dir / "worm_response.png", title=title)
    worm.plot_raster_by_class(t, ids, names, cls, out_dir / "worm_raster.png", stim_ms=stim_ms,
                              t_stop_ms=run_cfg.tstop_ms)
    doc = {"population": pop.name, "stimulated": drive["neurons"], "stim_ms": list(stim_ms),
           "baseline_ms": list(base), "z_threshold": p.z_threshold,
           "min_delta_hz": p.min_delta_hz,
           "definition": "responded: two-sample Poisson z of the spike counts (stimulus vs "
                         "baseline window) >= z_threshold and rate increase >= min_delta_hz",
           "by_class": json.loads(by_class.to_json(orient="records")),
           "neurons": json.loads(df.to_json(orient="records"))}
    write_json(out_dir / "worm_response.json", doc)
    return {r["cell_class"]: f"{r['n_responded']}/{r['n']}" for r in doc["by_class"]}


def run(params: Params, inputs: dict[str, Path], out_dir: Path, *, progress: bool = True) -> dict:
    """Metrics stage: reads ``inputs["simulation"]`` (``spikes.h5``, ``simulation_config.json``)
    and, if given, ``inputs["plasticity"]`` (``spikes.h5``, ``edges_plastic.h5``); writes
    ``neuron_metrics.parquet`` (column ``source`` = simulation/plasticity),
    ``population_metrics.json``, ``pci.json`` (PCI and PCIst), ``phi.json`` (Φ per state),
    ``rates.png``, ``isi_cv.png``, ``pci.png``
    (and ``raster.png``); with ``worm_response.enabled`` also ``worm_response.json``,
    ``worm_response.png`` and ``worm_raster.png`` (:func:`run_worm_response`). Returns
    per-population mean rates, PCI, PCIst and the mean Φ."""
    from wbe import plots
    from wbe.io.sonata import read_spikes

    out_dir = Path(out_dir)
    sim_dir = Path(inputs["simulation"])
    sizes, tstop_sim = _load_sim(sim_dir)
    t_stop = params.t_stop_ms if params.t_stop_ms is not None else tstop_sim
    if t_stop is None:
        raise ValueError(f"t_stop_ms not given and not found in {sim_dir}/simulation_config.json")

    tables, pop_json = [], {}
    sources = [("simulation", sim_dir)]
    if inputs.get("plasticity") is not None and (Path(inputs["plasticity"]) / "spikes.h5").exists():
        sources.append(("plasticity", Path(inputs["plasticity"])))
    spikes_sim = None
    for label, d in sources:
        spikes = read_spikes(d / "spikes.h5")
        if label == "simulation":
            spikes_sim = spikes
        table, summary = metrics_from_spikes(spikes, sizes, params, t_stop)
        table.insert(0, "source", label)
        tables.append(table)
        pop_json[label] = summary
    table = pd.concat(tables, ignore_index=True)
    table.to_parquet(out_dir / "neuron_metrics.parquet", index=False)
    pop_json["definitions"] = {
        "window_ms": [params.t_start_ms, t_stop],
        "rate_hz": "spike count / window length (spikes/s)",
        "isi_cv": f"SD/mean of ISIs (ddof 0), neurons with >= {params.min_spikes_cv} spikes",
        "fano": f"variance/mean of counts in {params.bin_ms} ms bins (ddof 0)",
        "corr": f"Pearson r of {params.corr_bin_ms} ms binned counts, sampled pairs",
    }
    write_json(out_dir / "population_metrics.json", pop_json)

    sim_table = table[table["source"] == "simulation"]
    plots.rate_histogram(sim_table, out_dir / "rates.png")
    plots.isi_cv_histogram(sim_table, out_dir / "isi_cv.png")
    if spikes_sim is not None:
        plots.raster(spikes_sim, out_dir / "raster.png", max_neurons=params.raster_neurons,
                     t_start_ms=params.t_start_ms, t_stop_ms=t_stop)

    client = None
    if params.cluster is not None:
        from wbe.pipeline.cluster import make_client

        client = make_client(params.cluster)
    try:
        pci = run_pci(params.pci, sim_dir / "simulation_config.json", params.t_start_ms,
                      client=client, scheduler=params.scheduler, progress=progress)
        phi = run_phi(params.phi, sim_dir / "simulation_config.json", spikes_sim or {},
                      params.t_start_ms, t_stop, client=client, scheduler=params.scheduler)
    finally:
        if client is not None:
            from wbe.pipeline.cluster import close_client

            close_client(client)
    ss = pci.pop("ss", None)
    write_json(out_dir / "pci.json", pci)
    write_json(out_dir / "phi.json", phi)
    plots.pci_matrix(ss, out_dir / "pci.png", pci=pci.get("pci"), status=pci["status"],
                     bin_ms=params.pci.bin_ms)
    extra = {}
    if params.worm_response.enabled:
        extra["worm_responders"] = run_worm_response(params.worm_response, sim_dir, spikes_sim,
                                                     out_dir, params.t_start_ms)
    return {
        **extra,
        "mean_rate_hz": {pop: s["rate_hz_mean"] for pop, s in pop_json["simulation"].items()},
        "pci": pci.get("pci"),
        "pci_status": pci["status"],
        "pcist": pci.get("pcist"),
        "phi_mean": phi.get("mean_phi"),
        "phi_status": phi["status"],
        "n_neurons": int(len(sim_table)),
    }


