"""What the Snakemake report says about each stage: a caption per stage folder with its numbers
(what went in, what came out, how it compares) and a front page for the whole run.

Every stage folder gets ``caption.rst`` when it is published (``wbe <stage>``): the figure
description below plus sentences built from the stage's parameters, its summary (the manifest's
``summary``) and, for validation, its ``scores.json``. The validation stage also gets
``front_page.rst``: the run in a few sentences and a table of headline numbers with their
references, read from the manifests of the folders it validated. The Snakefile points the report
at these files, so the report and a folder read on its own tell the same story.

Captions are RST rendered by Snakemake through Jinja: text taken from data passes through
:func:`_plain`, which keeps Jinja and RST markup out.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["CAPTION", "FRONT_PAGE", "FIGURES", "caption", "front_page", "report_pattern", "write"]

CAPTION = "caption.rst"
FRONT_PAGE = "front_page.rst"

#: What each stage's figures show (the part of a caption that does not depend on the run).
FIGURES: dict[str, str] = {
    "imaging": (
        "Maximum projections of the acquired volume along z, y and x (labels coloured at "
        "random; raw intensities in grey)."),
    "segmentation": (
        "Maximum projections of the instance labels along z, y and x (each segment its own "
        "colour)."),
    "morphology": (
        "Skeletons of every segment projected on the x-y and x-z planes, coloured by SWC node "
        "type (soma, axon, dendrite), and the distribution of cable length per skeleton (µm)."),
    "connectome": (
        "Topology of the connectome (undirected, binarised union of all layers, largest "
        "component) against seeded degree-preserving null models (connected double-edge "
        "swaps). (a) In-, out- and total-degree distributions. (b) Rich-club coefficient φ(k) "
        "against the null mean ± 2 s.d. (c) Normalised φ(k); dots mark degrees where p < 0.05 "
        "(permutation test over the nulls), and the box names the club at the peak. "
        "(d) Clustering, path length and Louvain modularity Q relative to the nulls; "
        "σ = (C/C_rand)/(L/L_rand) > 1 means small-world. Numbers are in ``graph.json``; the "
        "graph is exported as ``connectome.graphml`` and ``connectome.zarr``; with "
        "``connectome.atlas`` set, ``regions.csv`` gives every neuron's atlas region."),
    "simulation": (
        "Spike raster of the simulated circuit (each dot a spike, time in ms; neuron names on "
        "the axis for small circuits, populations otherwise). Shaded: the windows in which "
        "``simulation.stimulus`` drives named cells. With ``simulation.glia``, ``glia.png``: "
        "each neuromodulator field's mean and peak concentration (µM) over time and a slice "
        "through it at the end (at the plane of its peak), the astrocytes' calcium, the "
        "microglial cells' states (grey surveillant, orange activated, red phagocytic) with "
        "the synapses they pruned, and the myelin of the axons over time (records in "
        "``glia.npz``)."),
    "plasticity": (
        "Synaptic weights before and after the plastic phase (pair STDP, continued from the "
        "simulation's checkpoint)."),
    "metrics": (
        "Spiking statistics of the simulation: per-neuron firing rate (spikes/s), coefficient "
        "of variation of inter-spike intervals, the raster of the analysis window, and the "
        "perturbational complexity index (Casali et al. 2013: Lempel-Ziv complexity of the "
        "significant response to a virtual perturbation, normalised by source entropy)."),
    "validation": (
        "Validation against independent references: the reconstructed connectome against an "
        "EM connectome (precision/recall of predicted connections against chance), the model "
        "neuron's F-I curve against current-clamp recordings (only when recordings are "
        "configured and present), and per-population rates against NEST (NEURON for cable "
        "cells) running the same SONATA circuit with the same seeds. ``scores.json`` holds "
        "every score with its definition and status."),
}


def report_pattern(name: str) -> str:
    """A Snakemake report pattern for a file in a result folder: Snakemake finds files in a
    folder only through wildcards, so a plain file name becomes a wildcard constrained to
    that name (``{name}.png`` and other patterns pass unchanged)."""
    import re

    return name if "{" in name else f"{{file,{re.escape(name)}}}"


def _plain(text: Any) -> str:
    """Data as caption text: RST markup characters escaped, braces (Jinja) made parentheses."""
    s = " ".join(str(text).split()).replace("\\", "\\\\")  # one line: no RST directive
    for ch in "*`_|":
        s = s.replace(ch, "\\" + ch)
    return s.replace("{", "(").replace("}", ")")


def _num(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    if isinstance(x, int) or (isinstance(x, float) and x.is_integer() and abs(x) < 1e15):
        return f"{int(x):,}"
    if abs(x) != 0 and (abs(x) < 1e-3 or abs(x) >= 1e6):
        return f"{x:.{digits - 1}e}"
    return f"{x:.{digits}g}"


def _lines(title: str, items: list[str]) -> str:
    items = [i for i in items if i]
    if not items:
        return ""
    return f"**{title}** " + " ".join(items) + "\n\n"


def _imaging(p: Mapping, s: Mapping, inputs: Mapping) -> tuple[list[str], list[str]]:
    shape = s.get("shape_zyx")
    vox = s.get("voxel_size_nm")
    went = [f"source {_plain(p.get('source'))}."]
    out = []
    if shape:
        out.append(f"a {s.get('kind', 'volume')} volume of {' × '.join(map(str, shape))} voxels "
                   f"(z, y, x)" + (f", voxel {' × '.join(_num(v) for v in vox)} nm" if vox else "")
                   + ".")
    if s.get("n_labels_present") is not None:
        out.append(f"{_num(s['n_labels_present'])} labelled cells present"
                   + (f" of {_num(s['n_cells'])}" if s.get("n_cells") else "") + ".")
    return went, out


def _segmentation(p, s, inputs):
    went = [f"the imaging volume; method {_plain(p.get('method'))}."]
    out = [f"{_num(s.get('n_segments'))} segments from {_num(s.get('n_input_labels'))} input "
           f"labels ({_num(s.get('labelled_voxels'))} labelled voxels)."] \
        if s.get("n_segments") is not None else []
    return went, out


def _morphology(p, s, inputs):
    went = ["the segmentation's labels (kimimaro skeletonisation)."]
    out = []
    if s.get("n_skeletons") is not None:
        out.append(f"{_num(s['n_skeletons'])} skeletons ({_num(s.get('n_skipped', 0))} labels "
                   f"skipped), {_num(s.get('n_nodes'))} nodes, {_num(s.get('cable_um'))} µm of "
                   "cable.")
    return went, out


def _connectome(p, s, inputs):
    src = p.get("source", "touch")
    went = ([f"the skeletons; a synapse where an axon passes within "
             f"{_num(p.get('touch_distance_um'))} µm of another neuron."]
            if src in (None, "touch") else [f"the connectome {_plain(src)}."])
    out = []
    n = s.get("n_neurons") or s.get("neurons")
    if n is not None:
        out.append(f"{_num(n)} neurons, {_edges_text(s)}"
                   + (f", {_num(s['n_synapses'])} synapses" if s.get("n_synapses") else "")
                   + ".")
    if s.get("n_regions"):
        out.append(f"{_num(s['n_regions'])} regions.")
    if s.get("cable_sections"):
        out.append(f"Cable cells on their skeletons: {_num(s['cable_sections'])} sections "
                   f"({_num(s.get('cable_bridges', 0))} bridges between a neuron's fragments), "
                   "every synapse on the compartment where its touch was found.")
    g = s.get("graph") or {}
    if g.get("graph_sigma") is not None:
        out.append(f"Small-world σ = {_num(g['graph_sigma'])}, modularity Q = "
                   f"{_num(g.get('graph_Q'))} ({_num(g.get('graph_n_modules'))} modules), "
                   f"rich club of {_num(g.get('graph_rich_club_size', 0))} neurons.")
    return went, out


def _edge_counts(s: Mapping) -> dict[str, int]:
    """Edge counts of a connectome summary: ``n_edges`` (touch), or one per kind or projection
    (``n_chemical_edges``, ``n_gap_edges`` from cect; ``n_edges_<projection>`` from tvb)."""
    if s.get("n_edges") is not None:
        return {"": int(s["n_edges"])}
    return {k.removeprefix("n_").removesuffix("_edges").removeprefix("edges_"): int(v)
            for k, v in s.items() if k.startswith("n_") and "edges" in k and isinstance(v, int)}


def _edges_text(s: Mapping) -> str:
    counts = _edge_counts(s)
    if not counts:
        return "edges n/a"
    if list(counts) == [""]:
        return f"{_num(counts[''])} connected pairs"
    return ", ".join(f"{_num(v)} {_plain(k)} edges" for k, v in counts.items())


def _stimuli(p: Mapping) -> str:
    parts = []
    for d in p.get("stimulus") or []:
        who = ", ".join(_plain(n) for n in d.get("neurons", []))
        stop = min(d.get("stop_ms", math.inf), p.get("duration_ms", math.inf))
        kind = d.get("kind", "poisson")
        if kind == "dc":
            what = f"a DC of {_num(d.get('amplitude_pA'))} pA"
        elif kind == "step":
            what = "steps of " + ", ".join(
                f"{_num(v)} pA from {_num(t)} ms" for t, v in zip(
                    d.get("amplitude_times_ms", []), d.get("amplitude_values_pA", []),
                    strict=False))
        elif kind == "spike_train":
            times = d.get("spike_times_ms", [])
            what = (f"{len(times)} given spikes × {_num(d.get('weight_pA'))} (first at "
                    f"{_num(times[0] if times else None)} ms, delay {_num(d.get('delay_ms'))} ms)")
        else:
            what = f"{_num(d.get('rate_hz'))} spikes/s × {_num(d.get('weight_pA'))}"
        parts.append(f"{who}: {what} from {_num(d.get('start_ms'))} to {_num(stop)} ms")
    bg = p.get("background") or {}
    text = (f"Poisson background {_num(bg.get('rate_hz'))} spikes/s × "
            f"{_num(bg.get('weight_pA'))} (weights in the model's unit: pA for current-based "
            "models) to every neuron")
    return text + ("; stimulus: " + "; ".join(parts) if parts else "") + "."


def _simulation(p, s, inputs):
    cells = (f"{_plain(p['model'])} neurons" if p.get("model") else "the connectome's neurons")
    if p.get("neuron_params"):
        cells += " with " + ", ".join(f"{_plain(k)} = {_num(v)}"
                                      for k, v in sorted(p["neuron_params"].items()))
    went = [f"the connectome's SONATA wiring, {cells}; {_num(p.get('duration_ms'))} ms at dt "
            f"{_num(p.get('dt_ms'))} ms, seed {_num(p.get('seed'))}.", _stimuli(p)]
    g = p.get("glia") or {}
    parts = []
    if g.get("astrocytes"):
        parts.append(f"astrocytes (one per {_num(g['astrocytes'].get('neurons_per_astrocyte'))} "
                     "neurons, tripartite synapses with slow inward currents)")
    for nm in g.get("neuromodulators") or []:
        parts.append(f"a {_plain(nm.get('transmitter'))} field (D {_num(nm.get('D_um2_per_ms'))}"
                     f" µm²/ms, uptake {_num(nm.get('uptake_per_ms'))}/ms)")
    if g.get("myelination"):
        parts.append("activity-dependent myelination")
    if g.get("microglia"):
        n = len(g["microglia"].get("injuries") or [])
        parts.append(f"microglia ({n} injur{'y' if n == 1 else 'ies'})")
    if parts:
        went.append("Glia and neuromodulators: " + "; ".join(parts) + ".")
    out = []
    if s.get("spikes") is not None:
        out.append(f"{_num(s['spikes'])} spikes from {_num(s.get('neurons'))} neurons "
                   f"({_num(s.get('synapses'))} synapses): mean rate "
                   f"{_num(s.get('mean_rate_hz'))} spikes/s.")
    peaks = [f"{_plain(k[:-len('_peak_uM')])} peak {_num(v)} µM" for k, v in sorted(s.items())
             if k.endswith("_peak_uM")]
    if peaks:
        out.append("Fields: " + ", ".join(peaks) + ".")
    if s.get("synapses_pruned") is not None:
        out.append(f"Microglia pruned {_num(s['synapses_pruned'])} synapses.")
    if s.get("mean_myelin_end") is not None:
        out.append(f"Mean myelin at the end {_num(s['mean_myelin_end'])}.")
    return went, out


def _plasticity(p, s, inputs):
    st = p.get("stdp") or {}
    went = [f"the simulation's checkpoint, {_num(p.get('duration_ms'))} ms more with pair STDP "
            f"(τ+ {_num(st.get('tau_plus_ms'))} ms, τ− {_num(st.get('tau_minus_ms'))} ms, "
            f"λ {_num(st.get('lambda_'))}, α {_num(st.get('alpha'))})."]
    out = []
    if s.get("plastic_synapses") is not None:
        out.append(f"{_num(s['plastic_synapses'])} plastic synapses: "
                   f"{_num(s.get('potentiated'))} potentiated, {_num(s.get('depressed'))} "
                   f"depressed; mean weight {_num(s.get('mean_weight_before'))} → "
                   f"{_num(s.get('mean_weight_after'))} pA.")
    return went, out


def _metrics(p, s, inputs):
    end = "the end of the run" if p.get("t_stop_ms") is None else f"{_num(p['t_stop_ms'])} ms"
    went = [f"the simulation's spikes from {_num(p.get('t_start_ms'))} ms to {end} (rates "
            "below), and the plastic phase's."]
    out = [f"{_plain(pop)}: {_num(r)} spikes/s."
           for pop, r in (s.get("mean_rate_hz") or {}).items()]
    if s.get("pci") is not None:
        out.append(f"PCI = {_num(s['pci'])} ({_plain(s.get('pci_status'))}).")
    elif s.get("pci_status"):
        out.append(f"PCI: {_plain(s['pci_status'])}.")
    if s.get("pcist") is not None:
        out.append(f"PCIst = {_num(s['pcist'])} (Comolatti et al. 2019, same trials).")
    if s.get("phi_mean") is not None:
        out.append(f"Φ of the coarse-grained activity (IIT 3.0, occupancy-weighted over its "
                   f"states) = {_num(s['phi_mean'])}.")
    elif s.get("phi_status"):
        out.append(f"Φ: {_plain(s['phi_status'])}.")
    return went, out


def _connectome_sentence(c: Mapping) -> str:
    if not str(c.get("status", "")).startswith("ok"):
        return f"Connectome: {_plain(c.get('status'))}."
    ch = c.get("chemical") or {}
    return (f"Connectome vs {_plain(c.get('reference'))} ({_num(c.get('n_neurons_common'))} "
            f"neurons in common): precision {_num(ch.get('precision'))} (chance "
            f"{_num(ch.get('chance_precision'))}, hypergeometric p = "
            f"{_num(ch.get('p_value_hypergeom'))}), recall {_num(ch.get('recall'))}, "
            f"F1 {_num(ch.get('f1'))}.")


def _rates_sentence(r: Mapping) -> str:
    if not str(r.get("status", "")).startswith("ok"):
        return f"Rates: {_plain(r.get('status'))}."
    seeds = r.get("seeds") or {}
    parts = []
    for pop, v in (seeds.get("per_population") or {}).items():
        parts.append(f"{_plain(pop)} wbe {_num(v.get('model_mean_hz'))} ± "
                     f"{_num(v.get('model_sd_hz'))} vs {_plain(r.get('reference'))} "
                     f"{_num(v.get('reference_mean_hz'))} ± {_num(v.get('reference_sd_hz'))} "
                     f"spikes/s (Welch p = {_num(v.get('welch_p_value'))})")
    window = seeds.get("window_ms") or r.get("window_ms")
    span = f" ({_num(window[0])}-{_num(window[1])} ms)" if window else ""
    head = (f"Rates over {_num(seeds.get('n_seeds'))} seeds on both sides{span}: "
            if parts else "Rates: ")
    tail = f"; per-neuron KS distance {_num(r.get('ks_distance_all'))}"
    return head + "; ".join(parts) + tail + "."


def _fi_sentence(f: Mapping) -> str:
    if not str(f.get("status", "")).startswith("ok"):
        return ""
    return (f"F-I of {_plain((f.get('model') or {}).get('name'))} vs "
            f"{len((f.get('recorded') or {}).get('files', []))} recording(s): RMSE "
            f"{_num(f.get('rmse_hz'))} spikes/s.")


def _scores(folder: Path | None) -> dict:
    if folder is None or not (Path(folder) / "scores.json").is_file():
        return {}
    return json.loads((Path(folder) / "scores.json").read_text())


def _validation(p, s, inputs, folder=None):
    went = [f"{', '.join(sorted(inputs))} folders; references: connectome "
            f"{_plain(p.get('reference'))}, rates {_plain(p.get('rates_reference'))}, "
            f"F-I recordings: {len(p.get('fi_nwb') or []) or 'none'}."]
    sc = _scores(folder)
    out = [_connectome_sentence(sc["connectome"]) if "connectome" in sc else "",
           _rates_sentence(sc["rates"]) if "rates" in sc else "",
           _fi_sentence(sc["fi"]) if "fi" in sc else ""]
    prop = sc.get("propagation") or {}
    if str(prop.get("status", "")).startswith("ok"):
        out.append(f"Propagation: {_num(prop.get('n_responded'))} regions responded to the "
                   f"stimulus ({_num(100 * float(prop.get('extent') or 0))} % of those not "
                   "stimulated).")
    return went, out


_NUMBERS = {"imaging": _imaging, "segmentation": _segmentation, "morphology": _morphology,
            "connectome": _connectome, "simulation": _simulation, "plasticity": _plasticity,
            "metrics": _metrics, "validation": _validation}


def caption(stage: str, params: Mapping, summary: Mapping, inputs: Mapping[str, Path],
            folder: Path | None = None) -> str:
    """The RST caption of a stage folder: what its figures show, what went in, what came out."""
    fn = _NUMBERS[stage]
    went, out = fn(params, summary, inputs, folder) if stage == "validation" else fn(
        params, summary, inputs)
    return (FIGURES[stage] + "\n\n" + _lines("In:", went) + _lines("Out:", out)).rstrip() + "\n"


def _manifest(folder: Path | None) -> dict:
    if folder is None or not (Path(folder) / "manifest.json").is_file():
        return {}
    return json.loads((Path(folder) / "manifest.json").read_text())


def front_page(inputs: Mapping[str, Path], folder: Path) -> str:
    """The report's front page, written by the validation stage into ``folder`` (beside its
    ``scores.json``): the run in a few sentences and a table of headline numbers, each with its
    reference, read from the manifests of the stages in ``inputs``."""
    con = _manifest(inputs.get("connectome"))
    sim = _manifest(inputs.get("simulation"))
    met = _manifest(inputs.get("metrics"))
    cs, ss, ms = con.get("summary", {}), sim.get("summary", {}), met.get("summary", {})
    sc = _scores(folder)
    src = (con.get("params") or {}).get("source", "touch")
    touch = src in (None, "touch")
    how = "touch detection on reconstructed skeletons" if touch else f"imported from {_plain(src)}"
    story = [
        ("**wbe** took a brain from anatomy to a validated emulation" if touch else
         "**wbe** simulated and validated an imported connectome")
        + ", each stage reading the previous stage's real output (folders "
        "``results/<stage>/<key>/``, each with a ``manifest.json`` of parameters, input keys, "
        "the sha256 of every file, and who made it, where and when).",
        (f"The connectome ({how}) has {_num(cs.get('n_neurons') or ss.get('neurons'))} neurons "
         f"and {_edges_text(cs)}; simulated for "
         f"{_num((sim.get('params') or {}).get('duration_ms'))} ms it fired "
         f"{_num(ss.get('spikes'))} spikes (mean {_num(ss.get('mean_rate_hz'))} spikes/s over "
         "the whole run)."),
    ]
    if "connectome" in sc:
        story.append(_connectome_sentence(sc["connectome"]))
    if "rates" in sc:
        story.append(_rates_sentence(sc["rates"]))
    if "fi" in sc and _fi_sentence(sc["fi"]):
        story.append(_fi_sentence(sc["fi"]))
    rows = [("neurons", _num(cs.get("n_neurons") or ss.get("neurons")), "connectome stage"),
            ("edges", _edges_text(cs), "connectome stage"),
            ("spikes", _num(ss.get("spikes")), "simulation stage"),
            ("mean rate over the run (spikes/s)", _num(ss.get("mean_rate_hz")),
             "simulation stage")]
    if ms.get("pci") is not None:
        rows.append(("PCI", _num(ms["pci"]), "Casali et al. 2013"))
    if ms.get("pcist") is not None:
        rows.append(("PCIst", _num(ms["pcist"]), "Comolatti et al. 2019"))
    if ms.get("phi_mean") is not None:
        rows.append(("Φ (coarse-grained)", _num(ms["phi_mean"]), "IIT 3.0, exact"))
    c = sc.get("connectome") or {}
    if str(c.get("status", "")).startswith("ok"):
        ch = c.get("chemical") or {}
        ref = _plain(c.get("reference"))
        rows += [("connectome precision", f"{_num(ch.get('precision'))} (chance "
                  f"{_num(ch.get('chance_precision'))})", ref),
                 ("connectome recall", _num(ch.get("recall")), ref),
                 ("hypergeometric p", _num(ch.get("p_value_hypergeom")), ref)]
    r = sc.get("rates") or {}
    for pop, v in ((r.get("seeds") or {}).get("per_population") or {}).items():
        window = (r.get("seeds") or {}).get("window_ms") or [None, None]
        rows.append((f"rate {_plain(pop)} (spikes/s, {_num(window[0])}-{_num(window[1])} ms, "
                     "mean ± SD over seeds)",
                     f"wbe {_num(v.get('model_mean_hz'))} ± {_num(v.get('model_sd_hz'))}; "
                     f"reference {_num(v.get('reference_mean_hz'))} ± "
                     f"{_num(v.get('reference_sd_hz'))}", _plain(r.get("reference"))))
    f = sc.get("fi") or {}
    if str(f.get("status", "")).startswith("ok"):
        rows.append(("F-I RMSE (spikes/s)", _num(f.get("rmse_hz")), "current-clamp NWB"))
    table = [".. list-table:: Headline numbers", "   :header-rows: 1", "",
             "   * - quantity", "     - value", "     - reference"]
    for q, v, ref in rows:
        table += [f"   * - {q}", f"     - {v}", f"     - {ref}"]
    return ("\n\n".join(story) + "\n\n" + "\n".join(table) + "\n")


def write(stage: str, params: Mapping, summary: Mapping, inputs: Mapping[str, Path],
          folder: Path) -> list[str]:
    """Write the stage's caption (and, for validation, the front page) into ``folder``."""
    folder = Path(folder)
    (folder / CAPTION).write_text(caption(stage, params, summary, inputs, folder),
                                  encoding="utf-8")
    written = [CAPTION]
    if stage == "validation":
        (folder / FRONT_PAGE).write_text(front_page(inputs, folder),
                                         encoding="utf-8")
        written.append(FRONT_PAGE)
    return written
