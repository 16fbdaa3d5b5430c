"""Region-level brain analysis: propagation of a stimulus through the connectome, and whether
the real wiring changes the dynamics compared with a degree-preserving null model.

Entry points (all plain arrays in, plain numbers / DataFrames out):

* :func:`region_rates` — population rate per region in time bins (Hz).
* :func:`hop_distance` — graph distance (hops along weights > 0) from the stimulated regions.
* :func:`propagation` — per region: baseline and response rate, amplitude, z, latency (first
  bin after onset above baseline + ``z_threshold``·SD), responded, hop distance.
* :func:`propagation_summary` — extent (fraction of non-stimulated regions responding), mean
  latency, Spearman ρ of latency and of amplitude against hop distance.
* :func:`fc_sc_correlation` — Pearson r between functional connectivity (correlation of region
  rate series) and structural connectivity (symmetrised weights), upper triangle.
* :func:`compare_real_null` — Mann–Whitney U (two-sided) and a permutation test of the
  difference in means between a measure over real-connectome seeds and over null-model seeds.
* :func:`plot_propagation`, :func:`plot_real_vs_null` — figures.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["region_rates", "hop_distance", "propagation", "propagation_summary",
           "fc_sc_correlation", "compare_real_null", "plot_propagation", "plot_real_vs_null"]


def region_rates(times_ms: np.ndarray, node_ids: np.ndarray, region_of_node: np.ndarray,
                 n_regions: int, *, t_stop_ms: float, bin_ms: float = 5.0,
                 t_start_ms: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Mean rate per neuron of every region in bins of ``bin_ms``: returns (bin starts ms,
    rates (n_regions, n_bins) Hz). ``region_of_node[i]`` is the region of node i."""
    reg = np.asarray(region_of_node, np.int64)
    sizes = np.bincount(reg, minlength=n_regions).astype(float)
    edges = np.arange(t_start_ms, t_stop_ms + 1e-9, bin_ms)
    t = np.asarray(times_ms, float)
    ids = np.asarray(node_ids, np.int64)
    sel = (t >= t_start_ms) & (t < edges[-1])
    b = np.floor((t[sel] - t_start_ms) / bin_ms).astype(np.int64)
    counts = np.zeros((n_regions, len(edges) - 1))
    np.add.at(counts, (reg[ids[sel]], b), 1.0)
    rates = counts / np.maximum(sizes, 1.0)[:, None] / (bin_ms / 1000.0)
    return edges[:-1], rates


def hop_distance(weights: np.ndarray, sources: list[int] | np.ndarray) -> np.ndarray:
    """Fewest hops from any of ``sources`` to every region along directed edges
    (``weights[i, j] > 0``: i → j); inf where unreachable, 0 at the sources."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import shortest_path

    w = np.asarray(weights, float)
    adj = csr_matrix((w > 0) & ~np.eye(len(w), dtype=bool), dtype=float)
    d = shortest_path(adj, directed=True, unweighted=True, indices=np.asarray(sources, int))
    return np.atleast_2d(d).min(axis=0)


def propagation(t_bins_ms: np.ndarray, rates_hz: np.ndarray, stim_regions: list[int], *,
                onset_ms: float, stop_ms: float, weights: np.ndarray,
                baseline_ms: tuple[float, float] | None = None, z_threshold: float = 3.0,
                labels: list[str] | None = None) -> pd.DataFrame:
    """Per region: ``baseline_hz`` and ``baseline_sd_hz`` (over bins of the baseline window,
    default [0, onset)), ``response_hz`` (mean over [onset, stop)), ``amplitude_hz`` (response −
    baseline), ``z`` (amplitude / (SD/√n_bins)), ``latency_ms`` (first bin start ≥ onset whose
    rate exceeds baseline + z_threshold·SD, minus onset; NaN if none), ``responded`` (z ≥
    z_threshold and a latency), ``hops`` (:func:`hop_distance`), ``stimulated``."""
    t = np.asarray(t_bins_ms, float)
    r = np.asarray(rates_hz, float)
    base = baseline_ms or (float(t[0]), onset_ms)
    bsel = (t >= base[0]) & (t < base[1])
    ssel = (t >= onset_ms) & (t < stop_ms)
    if bsel.sum() < 2 or ssel.sum() < 1:
        raise ValueError("baseline needs ≥ 2 bins and the stimulus window ≥ 1 bin")
    mu = r[:, bsel].mean(axis=1)
    sd = r[:, bsel].std(axis=1, ddof=1)
    sd = np.where(sd > 0, sd, np.maximum(mu, 1e-3))  # silent baseline: one-spike scale
    resp = r[:, ssel].mean(axis=1)
    amp = resp - mu
    z = amp / (sd / np.sqrt(ssel.sum()))
    above = r[:, ssel] > (mu + z_threshold * sd)[:, None]
    first = np.where(above.any(axis=1), above.argmax(axis=1), -1)
    lat = np.where(first >= 0, t[ssel][np.maximum(first, 0)] - onset_ms, np.nan)
    n = r.shape[0]
    stim = np.zeros(n, bool)
    stim[np.asarray(stim_regions, int)] = True
    return pd.DataFrame({
        "region": labels if labels is not None else [f"R{k}" for k in range(n)],
        "stimulated": stim, "hops": hop_distance(weights, stim_regions),
        "baseline_hz": mu, "baseline_sd_hz": sd, "response_hz": resp, "amplitude_hz": amp,
        "z": z, "latency_ms": lat, "responded": (z >= z_threshold) & ~np.isnan(lat)})


def propagation_summary(df: pd.DataFrame) -> dict:
    """``extent`` (fraction of non-stimulated regions that responded), ``n_responded``,
    ``mean_latency_ms`` (responders), ``spearman_latency_hops``, ``spearman_amplitude_hops``
    (finite hops, non-stimulated; NaN when < 3 regions), ``mean_amplitude_hz``."""
    from scipy.stats import spearmanr

    d = df[~df["stimulated"]]
    resp = d[d["responded"]]
    fin = d[np.isfinite(d["hops"])]

    def rho(x, y):
        if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
            return float("nan")
        return float(spearmanr(x, y).statistic)

    fin_r = resp[np.isfinite(resp["hops"])]
    return {"extent": len(resp) / len(d) if len(d) else 0.0, "n_responded": int(len(resp)),
            "mean_latency_ms": float(resp["latency_ms"].mean()) if len(resp) else float("nan"),
            "mean_amplitude_hz": float(d["amplitude_hz"].mean()) if len(d) else float("nan"),
            "spearman_latency_hops": rho(fin_r["hops"].to_numpy(),
                                         fin_r["latency_ms"].to_numpy()),
            "spearman_amplitude_hops": rho(fin["hops"].to_numpy(),
                                           fin["amplitude_hz"].to_numpy())}


def fc_sc_correlation(rates_hz: np.ndarray, weights: np.ndarray) -> float:
    """Pearson r between FC (correlation matrix of region rate series) and SC ((W + Wᵀ)/2),
    over the upper triangle of regions whose rate varies."""
    r = np.asarray(rates_hz, float)
    ok = r.std(axis=1) > 0
    if ok.sum() < 3:
        return float("nan")
    fc = np.corrcoef(r[ok])
    w = np.asarray(weights, float)[np.ix_(ok, ok)]
    sc = (w + w.T) / 2.0
    iu = np.triu_indices(ok.sum(), 1)
    if np.ptp(sc[iu]) == 0:
        return float("nan")
    return float(np.corrcoef(fc[iu], sc[iu])[0, 1])


def compare_real_null(real: np.ndarray | list[float], null: np.ndarray | list[float], *,
                      n_permutations: int = 10000, seed: int = 0) -> dict:
    """Does the real wiring change a dynamics measure? ``real``: the measure over simulation
    seeds on the real connectome; ``null``: over null-model rewirings (one seed each). Returns
    means, SDs, the difference, Cohen's d, Mann–Whitney U with its two-sided p, and a two-sided
    permutation p of the difference in means (exact enumeration when it has ≤ n_permutations
    relabellings)."""
    from itertools import combinations
    from math import comb

    from scipy.stats import mannwhitneyu

    a = np.asarray(real, float)
    b = np.asarray(null, float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if len(a) < 2 or len(b) < 2:
        raise ValueError("need ≥ 2 finite values in each group")
    diff = float(a.mean() - b.mean())
    pooled = np.sqrt(((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1))
                     / (len(a) + len(b) - 2))
    u = mannwhitneyu(a, b, alternative="two-sided")
    allv = np.r_[a, b]
    n, k = len(allv), len(a)
    if comb(n, k) <= n_permutations:
        diffs = []
        for idx in combinations(range(n), k):
            m = np.zeros(n, bool)
            m[list(idx)] = True
            diffs.append(allv[m].mean() - allv[~m].mean())
        diffs = np.asarray(diffs)
        exact = True
    else:
        rng = np.random.default_rng(seed)
        diffs = np.empty(n_permutations)
        for p in range(n_permutations):
            perm = rng.permutation(n)
            diffs[p] = allv[perm[:k]].mean() - allv[perm[k:]].mean()
        exact = False
    p_perm = float((np.sum(np.abs(diffs) >= abs(diff) - 1e-12) + (0 if exact else 1))
                   / (len(diffs) + (0 if exact else 1)))
    return {"n_real": int(len(a)), "n_null": int(len(b)), "mean_real": float(a.mean()),
            "mean_null": float(b.mean()), "sd_real": float(a.std(ddof=1)),
            "sd_null": float(b.std(ddof=1)), "difference": diff,
            "cohens_d": diff / pooled if pooled > 0 else float("inf") * np.sign(diff),
            "mannwhitney_u": float(u.statistic), "mannwhitney_p": float(u.pvalue),
            "permutation_p": p_perm, "permutation_exact": exact}


def plot_propagation(df: pd.DataFrame, t_bins_ms: np.ndarray, rates_hz: np.ndarray, path: Path,
                     *, onset_ms: float, stop_ms: float, title: str = "") -> Path:
    """Left: region × time rate map (regions sorted by hop distance, then latency) with the
    stimulus window marked. Right: latency and amplitude vs hop distance."""
    from wbe import plots

    order = np.lexsort((df["latency_ms"].fillna(np.inf).to_numpy(), df["hops"].to_numpy()))
    fig, axes = plots.subplots(1, 3, figsize=(15, 5), gridspec_kw={"width_ratios": [2, 1, 1]})
    t = np.asarray(t_bins_ms)
    im = axes[0].imshow(np.asarray(rates_hz)[order], aspect="auto", origin="lower",
                        extent=(t[0], t[-1] + (t[1] - t[0] if len(t) > 1 else 1), 0, len(df)),
                        cmap="viridis")
    axes[0].axvline(onset_ms, color="w", lw=1)
    axes[0].axvline(stop_ms, color="w", lw=1, ls="--")
    axes[0].set_xlabel("time (ms)")
    axes[0].set_ylabel("region (by hops from stimulus)")
    fig.colorbar(im, ax=axes[0], label="rate (Hz)")
    d = df[~df["stimulated"] & np.isfinite(df["hops"])]
    jitter = np.random.default_rng(0).uniform(-0.15, 0.15, len(d))
    axes[1].scatter(d["hops"] + jitter, d["latency_ms"], s=12,
                    c=np.where(d["responded"], "C3", "0.6"))
    axes[1].set_xlabel("hops from stimulated regions")
    axes[1].set_ylabel("latency (ms)")
    axes[2].scatter(d["hops"] + jitter, d["amplitude_hz"], s=12,
                    c=np.where(d["responded"], "C3", "0.6"))
    axes[2].set_xlabel("hops from stimulated regions")
    axes[2].set_ylabel("rate change (Hz)")
    fig.suptitle(title or "propagation of the stimulus")
    return plots.save(fig, path)


def plot_real_vs_null(values: dict[str, tuple[list[float], list[float]]], path: Path, *,
                      tests: dict[str, dict] | None = None) -> Path:
    """One panel per measure: the real-connectome values next to the null-model values, with
    the permutation/Mann–Whitney p in the title. ``values``: measure → (real, null)."""
    from wbe import plots

    k = max(len(values), 1)
    fig, axes = plots.subplots(1, k, figsize=(4 * k, 4), squeeze=False)
    for ax, (name, (real, null)) in zip(axes[0], values.items()):
        for x, vals, c in ((0, real, "C0"), (1, null, "C1")):
            vals = np.asarray(vals, float)
            ax.scatter(x + np.linspace(-0.1, 0.1, max(len(vals), 1))[:len(vals)], vals, c=c)
            if len(vals):
                ax.hlines(np.nanmean(vals), x - 0.2, x + 0.2, color=c)
        ax.set_xticks([0, 1], ["real", "null"])
        ttl = name
        if tests and name in tests:
            ttl += f"\nperm p={tests[name]['permutation_p']:.3g}, " \
                   f"MW p={tests[name]['mannwhitney_p']:.3g}"
        ax.set_title(ttl, fontsize=9)
    return plots.save(fig, path)
