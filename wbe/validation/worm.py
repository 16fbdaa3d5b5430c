"""Worm emulation analysis: which neurons answer a stimulus of a sensory class, by cell class,
and graph statistics of the C. elegans connectomes in cect.

Entry points:

* :func:`stimulus_response` — per neuron: rate in the stimulus window vs the baseline window and
  a Poisson z-score; ``responded`` when z ≥ ``z_threshold`` and the rate rose by at least
  ``min_delta_hz``; stimulated neurons are flagged and left out of the class summary.
* :func:`response_by_class` — the per-class summary (n, n responded, fraction, mean Δrate).
* :func:`plot_response_by_class`, :func:`plot_raster_by_class` — the figures.
* :func:`graph_statistics` / :func:`graph_statistics_table` — per dataset: neurons, chemical
  edges, gap-junction pairs, degrees, clustering, reciprocity, small-world index;
  :func:`plot_graph_statistics` — table plot + degree distributions.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

import numpy as np
import pandas as pd

from wbe.connectome.importers import CELL_CLASSES

__all__ = ["stimulus_response", "response_by_class", "plot_response_by_class",
           "plot_raster_by_class", "graph_statistics", "graph_statistics_table",
           "plot_graph_statistics", "small_world_index", "DEFAULT_DATASETS"]

DEFAULT_DATASETS = ("White1986", "Varshney", "Cook2019Herm", "Witvliet8", "OpenWormUnified")


def stimulus_response(
    times_ms: np.ndarray, node_ids: np.ndarray, names: np.ndarray, cell_class: np.ndarray, *,
    stim_ms: tuple[float, float], baseline_ms: tuple[float, float],
    stimulated: list[str] | tuple[str, ...] = (), z_threshold: float = 3.0,
    min_delta_hz: float = 1.0,
) -> pd.DataFrame:
    """Per-neuron response of one population to a stimulus.

    ``times_ms``/``node_ids``: its spikes; ``names``/``cell_class``: node attributes (length n);
    windows ``[start, stop)`` in ms; ``stimulated``: name patterns of the driven cells.
    With r = T_stim/T_base, z = (n_stim − r·n_base) / sqrt(max(n_stim + r²·n_base, 1)) is the
    two-sample Poisson z of the spike counts.
    Columns: node_id, name, cell_class, stimulated, rate_baseline_hz, rate_stim_hz, delta_hz, z,
    responded."""
    names = np.asarray(names).astype(str)
    cls = np.asarray(cell_class).astype(str)
    n = len(names)
    t = np.asarray(times_ms, float)
    ids = np.asarray(node_ids, np.int64)
    t_s = (stim_ms[1] - stim_ms[0]) / 1000.0
    t_b = (baseline_ms[1] - baseline_ms[0]) / 1000.0
    if t_s <= 0 or t_b <= 0:
        raise ValueError("stimulus and baseline windows must have positive length")
    in_s = (t >= stim_ms[0]) & (t < stim_ms[1])
    in_b = (t >= baseline_ms[0]) & (t < baseline_ms[1])
    n_s = np.bincount(ids[in_s], minlength=n).astype(float)
    n_b = np.bincount(ids[in_b], minlength=n).astype(float)
    ratio = t_s / t_b
    z = (n_s - n_b * ratio) / np.sqrt(np.maximum(n_s + n_b * ratio ** 2, 1.0))
    r_s, r_b = n_s / t_s, n_b / t_b
    stim = np.array([any(fnmatch.fnmatchcase(nm, p) for p in stimulated) for nm in names],
                    dtype=bool)
    return pd.DataFrame({
        "node_id": np.arange(n), "name": names, "cell_class": cls, "stimulated": stim,
        "rate_baseline_hz": r_b, "rate_stim_hz": r_s, "delta_hz": r_s - r_b, "z": z,
        "responded": (z >= z_threshold) & (r_s - r_b >= min_delta_hz),
    })


def response_by_class(df: pd.DataFrame) -> pd.DataFrame:
    """Per cell class (non-stimulated neurons): n, n_responded, fraction_responded,
    mean_delta_hz, and the names of the responders (comma-separated, strongest first)."""
    rows = []
    d = df[~df["stimulated"]]
    for c in CELL_CLASSES:
        sub = d[d["cell_class"] == c]
        resp = sub[sub["responded"]].sort_values("delta_hz", ascending=False)
        rows.append({"cell_class": c, "n": len(sub), "n_responded": len(resp),
                     "fraction_responded": len(resp) / len(sub) if len(sub) else 0.0,
                     "mean_delta_hz": float(sub["delta_hz"].mean()) if len(sub) else 0.0,
                     "responders": ",".join(resp["name"].tolist())})
    return pd.DataFrame(rows)


def plot_response_by_class(df: pd.DataFrame, path: Path, *, title: str = "") -> Path:
    """Δrate of every non-stimulated neuron by class (strip plot; responders filled) and the
    fraction of responders per class (bars)."""
    from wbe import plots

    fig, axes = plots.subplots(1, 2, figsize=(10, 4))
    d = df[~df["stimulated"]]
    for k, c in enumerate(CELL_CLASSES):
        sub = d[d["cell_class"] == c]
        x = k + np.linspace(-0.25, 0.25, max(len(sub), 1))[:len(sub)]
        axes[0].scatter(x, sub["delta_hz"], s=10,
                        c=np.where(sub["responded"], "C3", "0.6"))
        for _, r in sub[sub["responded"]].nlargest(4, "delta_hz").iterrows():
            axes[0].annotate(r["name"], (x[list(sub.index).index(r.name)], r["delta_hz"]),
                             fontsize=7)
    axes[0].axhline(0, color="k", lw=0.5)
    axes[0].set_xticks(range(len(CELL_CLASSES)), CELL_CLASSES)
    axes[0].set_ylabel("rate during stimulus − baseline (Hz)")
    summary = response_by_class(df)
    axes[1].bar(summary["cell_class"], summary["fraction_responded"], color="C0")
    for k, r in summary.iterrows():
        axes[1].text(k, r["fraction_responded"], f"{r['n_responded']}/{r['n']}", ha="center",
                     va="bottom", fontsize=8)
    axes[1].set_ylabel("fraction responding")
    axes[1].set_ylim(0, 1.05)
    fig.suptitle(title or "response to stimulation by cell class")
    return plots.save(fig, path)


def plot_raster_by_class(times_ms: np.ndarray, node_ids: np.ndarray, names: np.ndarray,
                         cell_class: np.ndarray, path: Path, *,
                         stim_ms: tuple[float, float] | None = None,
                         t_stop_ms: float | None = None) -> Path:
    """Raster of all neurons, rows grouped by cell class (sensory, inter, motor, other) then
    name, with the stimulus window shaded."""
    from wbe import plots

    names = np.asarray(names).astype(str)
    cls = np.asarray(cell_class).astype(str)
    rank = {c: k for k, c in enumerate(CELL_CLASSES)}
    order = sorted(range(len(names)), key=lambda i: (rank.get(cls[i], 99), names[i]))
    row = np.empty(len(names), np.int64)
    row[order] = np.arange(len(names))
    t = np.asarray(times_ms, float)
    ids = np.asarray(node_ids, np.int64)
    fig, ax = plots.subplots(figsize=(10, 7))
    colors = {c: f"C{k}" for k, c in enumerate(CELL_CLASSES)}
    for c in CELL_CLASSES:
        sel = cls[ids] == c if len(ids) else np.zeros(0, bool)
        ax.scatter(t[sel], row[ids[sel]], s=1, c=colors[c], label=c)
    if stim_ms is not None:
        ax.axvspan(*stim_ms, color="0.85", zorder=0)
    for c in CELL_CLASSES:
        rows_c = row[cls == c]
        if len(rows_c):
            ax.axhline(rows_c.max() + 0.5, color="0.5", lw=0.5)
    ax.set_xlim(0, t_stop_ms if t_stop_ms else (t.max() if len(t) else 1.0))
    ax.set_ylim(-1, len(names))
    ax.set_xlabel("time (ms)")
    ax.set_ylabel("neuron (by class, then name)")
    ax.legend(loc="upper right", markerscale=8, fontsize=8)
    return plots.save(fig, path)


# ---------------------------------------------------------------------------- graph statistics
def small_world_index(graph, *, n_random: int = 0, seed: int = 0) -> dict:
    """Humphries' σ of an undirected graph's largest connected component
    (:func:`wbe.connectome.graph.small_world`): ``n_random`` = 0 uses the Erdős–Rényi approximations
    C_rand = k/n, L_rand = ln n / ln k; otherwise the mean over ``n_random`` seeded G(n, m)
    graphs. For degree-preserving references use :func:`wbe.connectome.graph.small_world` directly."""
    from wbe.connectome.graph import small_world

    return small_world(graph, null="analytic" if n_random == 0 else "gnm", n_null=n_random,
                       seed=seed)


def graph_statistics(neurons: list[str], chemical: list[tuple[str, str, float]],
                     gap: list[tuple[str, str, float]], *, name: str = "",
                     n_random: int = 0) -> tuple[dict, dict[str, np.ndarray]]:
    """Statistics of one connectome (cect-style lists, self pairs ignored; a pair naming a cell
    missing from ``neurons`` adds it), computed on a :class:`wbe.connectome.graph.Connectome`. Returns
    (row, degree arrays {"in", "out", "gap"}). Row: dataset, neurons, chemical_edges (directed
    pairs), gap_pairs (undirected), mean_in_degree, max_out_degree, reciprocity (chemical),
    clustering (undirected union of chemical and gap), path_length, sigma (small-world),
    isolated."""
    from wbe.connectome import graph as g

    extra = sorted({x for a, b, _ in (*chemical, *gap) for x in (a, b)} - set(neurons))
    c = g.Connectome.from_edge_lists(list(neurons) + extra, {"chemical": chemical, "gap": gap},
                                     symmetric=["gap"], provenance={"source": name or "lists"})
    chem_deg = g.degree_table(c, "chemical")
    deg_in = chem_deg["in"].to_numpy(float)
    deg_out = chem_deg["out"].to_numpy(float)
    deg_gap = g.degree_table(c, "gap")["undirected"].to_numpy(float)
    und = g.undirected_binary(c, largest_component=False)
    sw = small_world_index(und, n_random=n_random)
    n = c.n
    n_chem = int(deg_out.sum())
    row = {"dataset": name, "neurons": n, "chemical_edges": n_chem,
           "gap_pairs": int(deg_gap.sum()) // 2,
           "mean_in_degree": float(deg_in.mean()) if n else 0.0,
           "max_out_degree": int(deg_out.max()) if n else 0,
           "mean_gap_degree": float(deg_gap.mean()) if n else 0.0,
           "reciprocity": g.reciprocity(c, "chemical") if n_chem else 0.0,
           "density": n_chem / (n * (n - 1)) if n > 1 else 0.0,
           "clustering": sw["clustering"], "path_length": sw["path_length"],
           "sigma": sw["sigma"], "isolated": int(sum(1 for v in und if und.degree(v) == 0))}
    return row, {"in": deg_in, "out": deg_out, "gap": deg_gap}


def graph_statistics_table(datasets: tuple[str, ...] = DEFAULT_DATASETS, *, n_random: int = 0
                           ) -> tuple[pd.DataFrame, dict[str, dict[str, np.ndarray]]]:
    """:func:`graph_statistics` for several cect datasets (loaded with
    :func:`wbe.connectome.importers.load_cect_dataset`; ~15–30 s each on first load). Returns the table
    (with the weight ``count_unit`` column) and the degree arrays per dataset."""
    from wbe.connectome.importers import load_cect_dataset

    rows, degrees = [], {}
    for ds in datasets:
        data = load_cect_dataset(ds)
        row, deg = graph_statistics(data.neurons, data.chemical, data.gap, name=ds,
                                    n_random=n_random)
        row["count_unit"] = data.count_unit
        rows.append(row)
        degrees[ds] = deg
    return pd.DataFrame(rows), degrees


def plot_graph_statistics(table: pd.DataFrame, degrees: dict[str, dict[str, np.ndarray]],
                          path: Path) -> Path:
    """Bars of the headline statistics per dataset and the in-/out-/gap-degree distributions
    (complementary cumulative, log-log)."""
    from wbe import plots

    stats = ["neurons", "chemical_edges", "gap_pairs", "reciprocity", "clustering", "sigma"]
    fig, axes = plots.subplots(2, 4, figsize=(15, 7))
    for ax, col in zip(axes.flat[:6], stats):
        ax.bar(range(len(table)), table[col], color=plots.colors(len(table)))
        ax.set_xticks(range(len(table)), table["dataset"], rotation=45, ha="right", fontsize=7)
        ax.set_title(col)
    for ax, kind in zip(axes.flat[6:], ("out", "gap")):
        for k, (ds, deg) in enumerate(degrees.items()):
            d = np.sort(deg[kind])[::-1]
            d = d[d > 0]
            if len(d):
                ax.loglog(d, np.arange(1, len(d) + 1) / len(d), label=ds,
                          color=plots.colors(len(degrees))[k])
        ax.set_xlabel(f"{kind} degree")
        ax.set_ylabel("P(degree ≥ k)")
        ax.legend(fontsize=6)
    return plots.save(fig, path)
