"""Figures written by the stages. Every function writes one PNG to ``path`` (dpi 110) and
returns the path; inputs are plain arrays / DataFrames.

Figures are built with :class:`matplotlib.figure.Figure` directly, not through pyplot: writing
a file needs no GUI backend, so importing this module never changes the backend a notebook or
script has chosen (the Python API's plots, :mod:`wbe.api`, draw into pyplot figures)."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

DPI = 110


def subplots(*args, figsize=(8, 5), **kw):
    """``(fig, axes)`` as :func:`matplotlib.pyplot.subplots` gives, on a pyplot-free figure."""
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(*args, **kw)


def colors(n: int):
    cmap = matplotlib.colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def save(fig, path: Path) -> Path:
    """Lay out ``fig``, write it to ``path`` (PNG, dpi 110) and return the path."""
    path = Path(path)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    return path


def note(ax, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=10,
            wrap=True)
    ax.set_xticks([])
    ax.set_yticks([])


def raster(spikes: dict, path: Path, *, max_neurons: int = 50, t_start_ms: float = 0.0,
           t_stop_ms: float | None = None, seed: int = 0, names: dict | None = None,
           windows: list[tuple[float, float, str]] = (), max_named_rows: int = 60) -> Path:
    """Spike raster of a random sample of ≤ ``max_neurons`` neurons per population (among
    those that spiked), one colour per population; ``spikes``: pop → (times_ms, node_ids).

    ``names`` (pop → array of cell names by node id) labels every row with its cell's name when
    at most ``max_named_rows`` rows are shown (small circuits such as the worm); ``windows``
    ``(start_ms, stop_ms, label)`` shade the stimulus windows."""
    fig, ax = subplots(figsize=(8, 5))
    rng = np.random.default_rng(seed)
    row = 0
    cols = colors(max(1, len(spikes)))
    ticks, labels, row_names = [], [], []
    for k, (pop, (t, ids)) in enumerate(spikes.items()):
        t, ids = np.asarray(t), np.asarray(ids)
        m = (t >= t_start_ms) & ((t < t_stop_ms) if t_stop_ms is not None else True)
        t, ids = t[m], ids[m]
        uniq = np.unique(ids)
        pick = np.sort(rng.choice(uniq, size=min(max_neurons, len(uniq)), replace=False)) \
            if len(uniq) else uniq
        rows = {int(n): row + j for j, n in enumerate(pick)}
        sel = np.isin(ids, pick)
        y = np.array([rows[int(i)] for i in ids[sel]])
        ax.scatter(t[sel], y, s=2, color=cols[k], marker="|", linewidths=0.8)
        ticks.append(row + max(len(pick), 1) / 2)
        labels.append(pop)
        pop_names = (names or {}).get(pop)
        row_names += [(row + j, str(pop_names[int(n)]) if pop_names is not None else None)
                      for j, n in enumerate(pick)]
        row += max(len(pick), 1)
    for i, (start, stop, label) in enumerate(windows):
        lo = max(start, t_start_ms)
        hi = min(stop, t_stop_ms) if t_stop_ms is not None else stop
        if hi > lo:
            ax.axvspan(lo, hi, color="0.85", zorder=0, label=label if i < 8 else None)
    named = row_names and len(row_names) <= max_named_rows and all(n for _, n in row_names)
    if named:
        ax.set_yticks([r for r, _ in row_names])
        ax.set_yticklabels([n for _, n in row_names], fontsize=max(4, min(8, 400 // row)))
        ax.set_ylabel("neuron")
    else:
        ax.set_yticks(ticks)
        ax.set_yticklabels(labels)
        ax.set_ylabel("population (sampled neurons)")
    if t_stop_ms is not None:
        ax.set_xlim(t_start_ms, t_stop_ms)
    if windows:
        ax.legend(loc="upper right", fontsize=7, framealpha=0.8)
    ax.set_xlabel("time (ms)")
    ax.set_title("spike raster" + (" (shaded: stimulus)" if windows else ""))
    return save(fig, path)


def _hist_by_pop(df, col: str, path: Path, xlabel: str, title: str, bins: int = 40) -> Path:
    fig, ax = subplots(figsize=(7, 4.5))
    vals = df[col].to_numpy(dtype=float)
    vals = vals[np.isfinite(vals)]
    if len(vals) == 0:
        note(ax, f"no finite {col} values")
        return save(fig, path)
    edges = np.histogram_bin_edges(vals, bins=bins)
    pops = list(dict.fromkeys(df["population"])) if "population" in df else [None]
    for c, pop in zip(colors(len(pops)), pops, strict=False):
        v = df[col] if pop is None else df.loc[df["population"] == pop, col]
        v = v.to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        ax.hist(v, bins=edges, histtype="step", color=c, lw=1.5,
                label=f"{pop} (n={len(v)}, mean {v.mean():.3g})" if len(v) else str(pop))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("neurons")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return save(fig, path)


def rate_histogram(df, path: Path) -> Path:
    """Histogram of per-neuron firing rates (column ``rate_hz``) per population."""
    return _hist_by_pop(df, "rate_hz", path, "firing rate (spikes/s)", "per-neuron firing rate")


def isi_cv_histogram(df, path: Path) -> Path:
    """Histogram of per-neuron ISI CV (column ``isi_cv``) per population."""
    return _hist_by_pop(df, "isi_cv", path, "ISI coefficient of variation", "ISI irregularity")


def fi_overlay(curves: dict, path: Path, *, status: str | None = None) -> Path:
    """F-I curves overlaid: ``curves``: label → (currents_pA, rates_hz). ``status`` (e.g.
    "skipped: ... not found") is written on the figure."""
    fig, ax = subplots(figsize=(6.5, 4.5))
    if not curves:
        note(ax, status or "no F-I data")
        return save(fig, path)
    for c, (label, (i_pa, f_hz)) in zip(colors(len(curves)), curves.items(), strict=False):
        order = np.argsort(i_pa)
        ax.plot(np.asarray(i_pa)[order], np.asarray(f_hz)[order], "o-", color=c, ms=4,
                label=label)
    ax.set_xlabel("injected current (pA)")
    ax.set_ylabel("firing rate during step (spikes/s)")
    ax.set_title("F-I curve")
    if status:
        ax.text(0.02, 0.98, status, transform=ax.transAxes, va="top", fontsize=8)
    ax.legend(fontsize=8)
    return save(fig, path)


def pci_matrix(ss, path: Path, *, pci: float | None = None, status: str = "ok",
               bin_ms: float = 5.0) -> Path:
    """Binary significance matrix (sources × time bins) with the PCI in the title; a note with
    ``status`` instead when there is no matrix."""
    fig, ax = subplots(figsize=(7, 4.5))
    if ss is None or np.asarray(ss).size == 0:
        note(ax, f"PCI: {status}")
        return save(fig, path)
    ss = np.asarray(ss)
    ax.imshow(ss, aspect="auto", interpolation="nearest", cmap="Greys",
              extent=(0, ss.shape[1] * bin_ms, ss.shape[0], 0))
    ax.set_xlabel("time after stimulus (ms)")
    ax.set_ylabel("source (sorted by activity)")
    ax.set_title(f"significant activity, PCI = {pci:.3f}" if pci is not None else "PCI")
    return save(fig, path)


def weight_histograms(before: np.ndarray, after: np.ndarray, path: Path, *,
                      unit: str = "pA") -> Path:
    """Synaptic weight histograms before and after plasticity (weights in ``unit``)."""
    fig, ax = subplots(figsize=(6.5, 4.5))
    b, a = np.asarray(before, float), np.asarray(after, float)
    both = np.concatenate([b, a]) if len(b) + len(a) else np.zeros(1)
    edges = np.histogram_bin_edges(both, bins=50)
    ax.hist(b, bins=edges, histtype="step", lw=1.5, label=f"before (mean {b.mean():.3g})"
            if len(b) else "before")
    ax.hist(a, bins=edges, histtype="step", lw=1.5, label=f"after (mean {a.mean():.3g})"
            if len(a) else "after")
    ax.set_xlabel(f"synaptic weight ({unit})")
    ax.set_ylabel("synapses")
    ax.set_title("weights before / after plasticity")
    ax.legend(fontsize=8)
    return save(fig, path)


def structural_growth(network, st: dict, projections: list[str], path: Path) -> Path:
    """Structural plasticity's outcome: every neuron's final calcium against the growth
    curves' targets (ε), and the in- and out-degrees of the synapses grown (``st``: the
    ``structural/...`` arrays of :meth:`wbe.engine.structural.Structural.arrays`)."""
    fig, (a1, a2) = subplots(1, 2, figsize=(11, 4.2))
    off = network.offsets()
    ca = np.concatenate([st["structural/Ca"][off[p.name]:off[p.name] + p.n]
                         for p in network.populations if p.synaptic_elements] or [np.zeros(0)])
    a1.hist(ca, bins=40, color="0.35")
    targets: dict[float, set[str]] = {}
    for p in network.populations:
        for name, el in p.synaptic_elements.items():
            targets.setdefault(float(el.get("eps", 0.7)), set()).add(name)
    for j, (eps, names) in enumerate(sorted(targets.items())):
        a1.axvline(eps, ls="--", lw=1, color="C3")
        a1.text(eps, a1.get_ylim()[1] * (0.95 - 0.07 * j), " ε " + ", ".join(sorted(names)),
                fontsize=7, color="C3", va="top")
    a1.set_xlabel("calcium at the end (Ca)")
    a1.set_ylabel("neurons")
    a1.set_title(f"calcium of {ca.size} neurons (mean {ca.mean() if ca.size else 0:.3g})")
    n_total = network.n_total
    indeg, outdeg = np.zeros(n_total, int), np.zeros(n_total, int)
    n_syn = 0
    for pr in network.projections:
        if pr.name in projections:
            np.add.at(outdeg, off[pr.source] + np.asarray(pr.source_ids, int), 1)
            np.add.at(indeg, off[pr.target] + np.asarray(pr.target_ids, int), 1)
            n_syn += len(pr)
    mask = np.zeros(n_total, bool)
    for a, b in ((off[p.name], off[p.name] + p.n) for p in network.populations
                 if p.synaptic_elements):
        mask[a:b] = True
    top = max(1, int(max(indeg.max(initial=0), outdeg.max(initial=0))))
    bins = np.arange(top + 2) - 0.5
    a2.hist(indeg[mask], bins=bins, histtype="step", lw=1.5, label="in-degree")
    a2.hist(outdeg[mask], bins=bins, histtype="step", lw=1.5, ls="--", label="out-degree")
    a2.set_xlabel("grown synapses per neuron")
    a2.set_ylabel("neurons")
    a2.set_title(f"{n_syn} synapses grown (none before)")
    a2.legend(fontsize=8)
    return save(fig, path)


def connectome_comparison(pred: np.ndarray, ref: np.ndarray, names: list[str], path: Path, *,
                          scores: dict | None = None, title: str = "") -> Path:
    """Predicted vs reference binary adjacency (rows = pre, columns = post, same neuron order)
    side by side, with an overlay panel (TP black, FP red, FN blue) and the scores as text."""
    pred, ref = np.asarray(pred, bool), np.asarray(ref, bool)
    if pred.size == 0:
        fig, ax = subplots(figsize=(6, 4))
        note(ax, f"connectome comparison: {title or 'no common neurons'}")
        return save(fig, path)
    fig, axes = subplots(1, 3, figsize=(14, 5))
    axes[0].imshow(pred, cmap="Greys", interpolation="nearest")
    axes[0].set_title("reconstructed")
    axes[1].imshow(ref, cmap="Greys", interpolation="nearest")
    axes[1].set_title("reference")
    rgb = np.ones(pred.shape + (3,))
    rgb[pred & ref] = (0, 0, 0)
    rgb[pred & ~ref] = (0.85, 0.1, 0.1)
    rgb[~pred & ref] = (0.2, 0.4, 0.9)
    axes[2].imshow(rgb, interpolation="nearest")
    axes[2].set_title("overlay: TP black, FP red, FN blue")
    for ax in axes:
        ax.set_xlabel(f"postsynaptic neuron ({len(names)})")
        ax.set_ylabel("presynaptic neuron")
        if len(names) <= 40:
            ax.set_xticks(range(len(names)))
            ax.set_xticklabels(names, rotation=90, fontsize=6)
            ax.set_yticks(range(len(names)))
            ax.set_yticklabels(names, fontsize=6)
    if scores:
        txt = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in scores.items())
        fig.suptitle(f"{title}  {txt}", fontsize=9)
    elif title:
        fig.suptitle(title, fontsize=9)
    return save(fig, path)


def rates_vs_reference(model: dict, reference: dict, path: Path, *, status: str | None = None,
                       model_rates: np.ndarray | None = None,
                       reference_rates: np.ndarray | None = None,
                       model_sd: dict | None = None, reference_sd: dict | None = None,
                       n_seeds: int | None = None) -> Path:
    """Per-population mean rates, model vs reference (scatter with identity line; spikes/s;
    error bars: SD over ``n_seeds`` seeds when given); with per-neuron arrays also their
    empirical CDFs side by side."""
    two = model_rates is not None and reference_rates is not None
    fig, axes = subplots(1, 2 if two else 1, figsize=(11 if two else 5.5, 4.5))
    ax = axes[0] if two else axes
    common = [p for p in model if p in reference and model[p] is not None
              and reference[p] is not None]
    if not common:
        note(ax, status or "no reference rates")
        return save(fig, path)
    x = np.array([reference[p] for p in common], float)
    y = np.array([model[p] for p in common], float)
    ax.scatter(x, y, color="k", zorder=3)
    if model_sd or reference_sd:
        def sd(d, p):
            return (d or {}).get(p) or 0.0

        ax.errorbar(x, y, xerr=[sd(reference_sd, p) for p in common],
                    yerr=[sd(model_sd, p) for p in common], fmt="none", ecolor="0.3", lw=1)
    for p, xi, yi in zip(common, x, y, strict=False):
        ax.annotate(p, (xi, yi), fontsize=8, xytext=(3, 3), textcoords="offset points")
    hi = max(x.max(), y.max(), 1e-3) * 1.1
    ax.plot([0, hi], [0, hi], "--", color="0.5")
    ax.set_xlim(0, hi)
    ax.set_ylim(0, hi)
    ax.set_xlabel("reference mean rate (spikes/s)")
    ax.set_ylabel("model mean rate (spikes/s)")
    ax.set_title("population rates" + (f" ({status})" if status else "")
                 + (f", mean ± SD over {n_seeds} seeds" if n_seeds and n_seeds > 1 else ""))
    if two:
        for lab, r in (("model", model_rates), ("reference", reference_rates)):
            r = np.sort(np.asarray(r, float))
            axes[1].step(r, np.arange(1, len(r) + 1) / max(len(r), 1), where="post", label=lab)
        axes[1].set_xlabel("per-neuron rate (spikes/s)")
        axes[1].set_ylabel("cumulative fraction")
        axes[1].legend(fontsize=8)
        axes[1].set_title("rate distributions")
    return save(fig, path)


def _label_colours(projection: np.ndarray) -> np.ndarray:
    """RGB image of a label projection: 0 white, every label its own (hashed) colour."""
    lab = np.asarray(projection, dtype=np.uint64)
    h = (lab * np.uint64(2654435761)) % np.uint64(1 << 24)
    rgb = np.stack([(h >> np.uint64(s)) & np.uint64(255) for s in (16, 8, 0)], axis=-1)
    rgb = 0.25 + 0.6 * rgb.astype(float) / 255.0
    rgb[lab == 0] = 1.0
    return rgb


def volume_projections(zarr_path: Path, path: Path, *, kind: str = "labels",
                       voxel_size_nm=(1.0, 1.0, 1.0), title: str = "") -> Path:
    """Maximum projections of a (z, y, x) Zarr volume along each axis, computed chunk by chunk
    with Dask (bounded memory for any volume); labels coloured per label, raw data in grey."""
    import dask.array as da

    vol = da.from_zarr(str(zarr_path))
    proj = [vol.max(axis=a).compute() for a in range(3)]
    fig, axes = subplots(1, 3, figsize=(12, 4))
    vz, vy, vx = (float(v) / 1000.0 for v in voxel_size_nm)  # µm
    views = (("z projection (y, x)", proj[0], vx, vy), ("y projection (z, x)", proj[1], vx, vz),
             ("x projection (z, y)", proj[2], vy, vz))
    for ax, (name, img, sx, sy) in zip(axes, views, strict=True):
        extent = (0, img.shape[1] * sx, img.shape[0] * sy, 0)
        if kind == "labels":
            ax.imshow(_label_colours(img), extent=extent, interpolation="nearest")
        else:
            ax.imshow(img, cmap="gray", extent=extent, interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("µm")
    axes[0].set_ylabel("µm")
    fig.suptitle(title or f"{kind} volume {tuple(vol.shape)} voxels (z, y, x)")
    return save(fig, path)


def skeleton_projections(nodes, morphometrics, path: Path) -> Path:
    """Skeleton nodes (table with x, y, z in µm and SWC ``type``) projected on x-y and x-z,
    coloured by node type, and the distribution of cable length per skeleton (µm)."""
    fig, axes = subplots(1, 3, figsize=(13, 4))
    names = {1: "soma", 2: "axon", 3: "dendrite"}
    for t, c in zip(sorted(set(map(int, nodes["type"]))), colors(4), strict=False):
        sel = nodes["type"].to_numpy() == t
        for ax, (a, b) in zip(axes[:2], (("x", "y"), ("x", "z")), strict=True):
            ax.scatter(nodes[a].to_numpy()[sel], nodes[b].to_numpy()[sel], s=0.5, color=c,
                       label=names.get(t, f"type {t}"))
    for ax, (a, b) in zip(axes[:2], (("x", "y"), ("x", "z")), strict=True):
        ax.set_xlabel(f"{a} (µm)")
        ax.set_ylabel(f"{b} (µm)")
        ax.set_aspect("equal", adjustable="datalim")
    axes[0].legend(markerscale=10, fontsize=7, loc="upper right")
    axes[0].set_title(f"{nodes['neuron_id'].nunique()} skeletons, {len(nodes)} nodes", fontsize=9)
    cable = morphometrics["cable_length_um"].to_numpy(dtype=float) if len(morphometrics) else []
    if len(cable):
        axes[2].hist(cable, bins=30, color="0.4")
        axes[2].set_xlabel("cable length per skeleton (µm)")
        axes[2].set_ylabel("skeletons")
    else:
        note(axes[2], "no morphometrics")
    return save(fig, path)


def glia(records: dict, astro_state: dict, path: Path) -> Path:
    """What the glia and neuromodulators did (``SimResult.glia`` and the astrocytes' sampled
    state): each field's mean and peak concentration over time and a slice through its final
    concentration at the plane of its peak; the astrocytes' calcium; microglial states over time
    with the synapses pruned; myelin over time. Panels only for what ran."""
    fields = sorted({k.split("/")[1] for k in records if k.startswith("fields/")})
    panels = [("field", f) for f in fields] + [("slice", f) for f in fields]
    if "Ca_astro" in astro_state:
        panels.append(("astro", None))
    micro = sorted({k.rsplit("/", 1)[0] for k in records if k.startswith("microglia/")})
    myel = sorted({k.rsplit("/", 1)[0] for k in records if k.startswith("myelination/")})
    panels += [("micro", m) for m in micro] + [("myel", m) for m in myel]
    if not panels:
        fig, ax = subplots(figsize=(5, 3))
        note(ax, "no glia or neuromodulators ran")
        return save(fig, path)
    cols = 2
    rows = (len(panels) + 1) // 2
    fig, axes = subplots(rows, cols, figsize=(10, 3.2 * rows), squeeze=False)
    for ax, (kind, name) in zip(axes.ravel(), panels):
        if kind == "field":
            k = f"fields/{name}/"
            ax.plot(records[k + "t_ms"], records[k + "mean_uM"], label="mean")
            ax.plot(records[k + "t_ms"], records[k + "max_uM"], label="peak")
            ax.set(xlabel="time (ms)", ylabel="µM", title=f"{name}: concentration")
            ax.legend(fontsize=8)
        elif kind == "slice":
            k = f"fields/{name}/"
            c = records[k + "c"]
            z = int(np.unravel_index(np.argmax(c), c.shape)[2])
            h, o = float(records[k + "spacing_um"][0]), records[k + "origin_um"]
            ext = (o[0] - h / 2, o[0] + h * (c.shape[0] - 0.5), o[1] - h / 2,
                   o[1] + h * (c.shape[1] - 0.5))
            im = ax.imshow(c[:, :, z].T, origin="lower", extent=ext, cmap="magma",
                           aspect="equal")
            fig.colorbar(im, ax=ax, label="µM")
            ax.set(xlabel="x (µm)", ylabel="y (µm)",
                   title=f"{name} at the end, z = {o[2] + h * z:.0f} µm")
        elif kind == "astro":
            t, ids, v = astro_state["Ca_astro"]
            for j in range(min(v.shape[1], 10)):
                ax.plot(t, v[:, j], lw=0.8)
            ax.set(xlabel="time (ms)", ylabel="Ca²⁺ (µM)", title="astrocytes: calcium")
        elif kind == "micro":
            st = records[name + "/state"]
            t = records[name + "/t_ms"]
            if st.size:
                ax.imshow(st.T, aspect="auto", origin="lower", interpolation="nearest",
                          extent=(t[0], t[-1], -0.5, st.shape[1] - 0.5), vmin=0, vmax=2,
                          cmap=matplotlib.colors.ListedColormap(["#d9d9d9", "#fdae61",
                                                                 "#d7191c"]))
            pruned = records[name + "/pruned"]
            ax.set(xlabel="time (ms)", ylabel="microglial cell",
                   title=f"microglia ({int(pruned[-1]) if pruned.size else 0} synapses "
                         "pruned)")
        else:
            m = records[name + "/m"]
            t = records[name + "/t_ms"]
            if m.size:
                ax.plot(t, m.mean(axis=1), label="mean")
                ax.fill_between(t, m.min(axis=1), m.max(axis=1), alpha=0.3, label="range")
                ax.legend(fontsize=8)
            ax.set(xlabel="time (ms)", ylabel="myelin (0–1)", title="myelination")
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    return save(fig, path)
