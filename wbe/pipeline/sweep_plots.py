"""The figures of a parameter sweep: phase-diagram heat maps (mean over seeds and repeats) of
rate, ISI CV, synchrony and peak frequency (and PCI, PCIst, Φ when the sweep computes them), the
regime map (majority over seeds) and the population activity of one typical point per regime
(:func:`plot_sweep`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from wbe.pipeline.sweep import SweepError, SweepSpec

REGIME_COLORS = {"SR": "#d62728", "SI_fast": "#ff7f0e", "SI_slow": "#2ca02c", "AI": "#1f77b4",
                 "silent": "#7f7f7f"}
HEATMAP_METRICS = (("rate_hz", "mean rate (spikes/s)"), ("isi_cv", "ISI CV"),
                   ("chi", "synchrony χ"), ("peak_freq_hz", "population peak (Hz)"))
#: network-level columns of the consciousness outputs (sweep.outputs), plotted when present
OUTPUT_METRICS = (("pci", "PCI (Casali)"), ("pcist", "PCIst"), ("phi", "Φ (coarse-grained)"))


def _panels(table, pop: str) -> list[tuple[str, str, str, str]]:
    """(column, file stem, label, title) of every panel: the population's regime metrics, then
    the consciousness metrics the sweep computed."""
    out = [(f"{pop}_{m}", m, label, f"{pop}: {label}") for m, label in HEATMAP_METRICS]
    out += [(c, c, label, label) for c, label in OUTPUT_METRICS
            if c in table.columns and table[c].notna().any()]
    return out


def _axes(table, spec: SweepSpec) -> tuple[str | None, str | None]:
    keys = list(spec.grid) or [k for k in (spec.points[0] if spec.points else {})]
    x = spec.plot.x or (keys[0] if keys else None)
    y = spec.plot.y or (keys[1] if len(keys) > 1 else None)
    for a in (x, y):
        if a is not None and a not in table.columns:
            raise SweepError(f"sweep.plot: {a!r} is not a column of the table")
    return x, y


def plot_sweep(table, spec: SweepSpec, out: Path, points_root: Path) -> list[Path]:
    """Phase-diagram heat maps (mean over seeds and repeats) of rate, CV, synchrony and peak
    frequency, the regime map (majority over seeds) and example population activity."""
    from matplotlib.colors import ListedColormap

    from wbe.analysis.regimes import MODEL_POPULATIONS
    from wbe.plots import subplots

    pop = spec.plot.population or MODEL_POPULATIONS[spec.model][0]
    x, y = _axes(table, spec)
    paths: list[Path] = []
    if x is None:
        return paths
    panels = _panels(table, pop)
    if y is None:  # one axis: metrics against it
        fig, axs = subplots(1, len(panels), figsize=(4 * len(panels), 3.2))
        g = table.groupby(x)
        for ax, (col, _stem, label, _title) in zip(axs, panels):
            s = g[col].mean()
            ax.plot(s.index, s.to_numpy(), "o-")
            ax.set_xlabel(x)
            ax.set_ylabel(label)
        fig.suptitle(f"{spec.name}: {pop} population")
        fig.tight_layout()
        p = out / "phase_diagram.png"
        fig.savefig(p, dpi=110)
        return [p]
    xs = np.sort(table[x].unique())
    ys = np.sort(table[y].unique())

    def grid_of(values) -> np.ndarray:
        z = np.full((len(ys), len(xs)), np.nan)
        for (xv, yv), v in values.items():
            z[np.searchsorted(ys, yv), np.searchsorted(xs, xv)] = v
        return z

    grouped = table.groupby([x, y])
    extent_kw = dict(origin="lower", aspect="auto", interpolation="nearest")

    def ticks(ax):
        ax.set_xticks(range(len(xs)), [f"{v:g}" for v in xs])
        ax.set_yticks(range(len(ys)), [f"{v:g}" for v in ys])
        ax.set_xlabel(x)
        ax.set_ylabel(y)

    # regime map: majority label over seeds/repeats
    regime_names = list(REGIME_COLORS)
    mode = grouped["regime"].agg(lambda s: s.value_counts().index[0])
    zr = grid_of({k: regime_names.index(v) for k, v in mode.items()})
    cmap = ListedColormap([REGIME_COLORS[r] for r in regime_names])

    def regime_panel(ax):
        ax.imshow(zr, cmap=cmap, vmin=-0.5, vmax=len(regime_names) - 0.5, **extent_kw)
        for (xv, yv), lab in mode.items():
            ax.text(np.searchsorted(xs, xv), np.searchsorted(ys, yv), lab.replace("_", "\n"),
                    ha="center", va="center", fontsize=7, color="white")
        ticks(ax)
        ax.set_title("regime")

    fig, ax = subplots(figsize=(1.0 + 0.75 * len(xs), 1.0 + 0.6 * len(ys)))
    regime_panel(ax)
    fig.tight_layout()
    p = out / "regimes.png"
    fig.savefig(p, dpi=110)
    paths.append(p)

    fig, axs = subplots(1, len(panels) + 1, figsize=(4.2 * (len(panels) + 1), 3.8))
    for ax, (col, stem, label, title) in zip(axs[:-1], panels):
        z = grid_of(grouped[col].mean().to_dict())
        im = ax.imshow(z, cmap="viridis", **extent_kw)
        fig.colorbar(im, ax=ax, label=label)
        ticks(ax)
        ax.set_title(title)
        f2, a2 = subplots(figsize=(1.8 + 0.75 * len(xs), 1.0 + 0.6 * len(ys)))
        im2 = a2.imshow(z, cmap="viridis", **extent_kw)
        f2.colorbar(im2, ax=a2, label=label)
        ticks(a2)
        a2.set_title(f"{spec.name}: {title}")
        f2.tight_layout()
        p2 = out / f"heatmap_{stem}.png"
        f2.savefig(p2, dpi=110)
        paths.append(p2)
    regime_panel(axs[-1])
    fig.suptitle(f"{spec.name}: phase diagram ({spec.model}, order {spec.order}, "
                 f"{len(spec.seeds) * spec.repeats} run(s) per point)")
    fig.tight_layout()
    p = out / "phase_diagram.png"
    fig.savefig(p, dpi=110)
    paths.append(p)
    paths.extend(_activity_plot(table, pop, out, points_root, x, y))
    return paths


def _typical_points(table, pop: str):
    """One row per regime: the point whose metrics lie closest to the regime's medians
    (distance in units of each metric's spread over the whole table)."""
    cols = [f"{pop}_{m}" for m in ("rate_hz", "isi_cv", "chi", "peak_freq_hz")]
    x = table[cols].astype(float)
    spread = (x.quantile(0.75) - x.quantile(0.25)).replace(0.0, 1.0).fillna(1.0)
    picks = []
    for _, grp in table.groupby("regime", sort=True):
        d = ((x.loc[grp.index] - x.loc[grp.index].median()).abs() / spread).sum(axis=1)
        picks.append(d.fillna(np.inf).idxmin())
    return table.loc[picks]


def _activity_plot(table, pop: str, out: Path, points_root: Path, x: str, y: str) -> list[Path]:
    """Population activity (and a raster sample) of one point per regime found."""
    import pandas as pd

    from wbe.plots import subplots

    examples = _typical_points(table, pop)
    if examples.empty:
        return []
    fig, axs = subplots(len(examples), 2, figsize=(11, 2.0 * len(examples)), squeeze=False,
                            gridspec_kw={"width_ratios": [2, 1]})
    for row, (_, r) in zip(axs, examples.iterrows()):
        folder = Path(points_root) / r["key"]
        c = pd.read_parquet(folder / "population_counts.parquet")
        s = pd.read_parquet(folder / "spike_sample.parquet")
        t0 = float(c["bin_start_ms"].iloc[0])
        win = c["bin_start_ms"] < t0 + 200.0
        bin_s = (float(c["bin_start_ms"].iloc[1] - t0) if len(c) > 1 else 1.0) / 1000.0
        rate = c.loc[win, pop] / r[f"{pop}_n_neurons"] / bin_s
        row[0].plot(c.loc[win, "bin_start_ms"], rate, lw=0.7,
                    color=REGIME_COLORS.get(r["regime"], "k"))
        row[0].set_ylabel("spikes/s")
        row[0].set_title(f"{r['regime']}  ({x}={r[x]:g}, {y}={r[y]:g}): {pop} population rate",
                         fontsize=9)
        sw = (s["time_ms"] >= t0) & (s["time_ms"] < t0 + 200.0)
        row[1].plot(s.loc[sw, "time_ms"], s.loc[sw, "node_id"], "|", ms=3, color="k")
        row[1].set_ylabel("neuron")
    axs[-1][0].set_xlabel("time (ms)")
    axs[-1][1].set_xlabel("time (ms)")
    fig.tight_layout()
    p = out / "population_activity.png"
    fig.savefig(p, dpi=110)
    return [p]


__all__ = ["plot_sweep", "REGIME_COLORS", "HEATMAP_METRICS", "OUTPUT_METRICS"]
