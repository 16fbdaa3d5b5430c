"""Spike-train metrics: per-neuron firing rate, ISI CV, Fano factor, per-population summaries,
pairwise correlations, and the perturbational complexity index — plus the ``metrics`` stage.

Per-neuron statistics are computed with Elephant/Neo (``elephant.statistics.mean_firing_rate``,
``isi``, ``cv``, ``fanofactor``) by default; ``backend="numpy"`` gives the same numbers with
vectorised NumPy (tested equal) for very large outputs. Neurons are processed in chunks as Dask
tasks (local scheduler, or a ``distributed.Client`` when one is passed).

Definitions (all over the analysis window [t_start_ms, t_stop_ms)):

* ``rate_hz``: spike count / window length (spikes/s).
* ``isi_cv``: SD / mean of the inter-spike intervals (population SD, ddof = 0); NaN with fewer
  than ``min_spikes_cv`` spikes.
* ``fano``: variance / mean of the spike counts in consecutive ``bin_ms`` bins (ddof = 0, as
  Elephant); NaN for a silent neuron.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

# ----------------------------------------------------------------------------------------------
# per-neuron library (plain arrays)
# ----------------------------------------------------------------------------------------------


def split_by_neuron(times_ms: np.ndarray, node_ids: np.ndarray, n_nodes: int,
                    t_start_ms: float, t_stop_ms: float) -> list[np.ndarray]:
    """Spike times (ms, sorted) of each node 0..n_nodes-1 within [t_start_ms, t_stop_ms)."""
    t = np.asarray(times_ms, dtype=np.float64)
    ids = np.asarray(node_ids, dtype=np.int64)
    keep = (t >= t_start_ms) & (t < t_stop_ms)
    if np.any(ids[keep] >= n_nodes) or np.any(ids[keep] < 0):
        raise ValueError(f"node_ids outside [0, {n_nodes}) in the spike data")
    t, ids = t[keep], ids[keep]
    order = np.lexsort((t, ids))
    t, ids = t[order], ids[order]
    bounds = np.searchsorted(ids, np.arange(n_nodes + 1))
    return [t[bounds[i]:bounds[i + 1]] for i in range(n_nodes)]


def _metrics_elephant(trains: list[np.ndarray], t_start_ms: float, t_stop_ms: float,
                      bin_ms: float, min_spikes_cv: int) -> np.ndarray:
    import neo
    import quantities as pq
    from elephant.statistics import cv, fanofactor, isi, mean_firing_rate

    edges = np.arange(t_start_ms, t_stop_ms + 1e-9, bin_ms)  # a partial last bin is dropped
    n_bins = len(edges) - 1
    out = np.full((len(trains), 4), np.nan)
    for i, tr in enumerate(trains):
        out[i, 1] = len(tr)
        if len(tr) == 0:  # Elephant rejects empty trains
            out[i, 0] = 0.0
            continue
        st = neo.SpikeTrain(tr * pq.ms, t_start=t_start_ms * pq.ms, t_stop=t_stop_ms * pq.ms)
        rate = mean_firing_rate(st, t_start=st.t_start, t_stop=st.t_stop)
        out[i, 0] = float(rate.rescale(pq.Hz).magnitude)
        if len(tr) >= max(min_spikes_cv, 2):
            out[i, 2] = float(cv(isi(st).magnitude))
        if len(tr) > 0 and n_bins >= 2:
            cut = np.searchsorted(tr, edges)
            pieces = [tr[cut[k]:cut[k + 1]] for k in range(n_bins)]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out[i, 3] = float(fanofactor(pieces))
    return out


def _metrics_numpy(trains: list[np.ndarray], t_start_ms: float, t_stop_ms: float,
                   bin_ms: float, min_spikes_cv: int) -> np.ndarray:
    edges = np.arange(t_start_ms, t_stop_ms + 1e-9, bin_ms)
    n_bins = len(edges) - 1
    out = np.full((len(trains), 4), np.nan)
    dur_s = (t_stop_ms - t_start_ms) / 1000.0
    for i, tr in enumerate(trains):
        out[i, 0] = len(tr) / dur_s
        out[i, 1] = len(tr)
        if len(tr) >= max(min_spikes_cv, 2):
            d = np.diff(tr)
            out[i, 2] = d.std() / d.mean()
        if len(tr) > 0 and n_bins >= 2:
            c = np.diff(np.searchsorted(tr, edges))
            out[i, 3] = c.var() / c.mean() if c.mean() > 0 else np.nan
    return out


def neuron_metrics(
    times_ms: np.ndarray,
    node_ids: np.ndarray,
    n_nodes: int,
    *,
    t_start_ms: float,
    t_stop_ms: float,
    bin_ms: float = 50.0,
    min_spikes_cv: int = 3,
    backend: str = "elephant",
    chunk_neurons: int = 2000,
    client=None,
    scheduler: str = "threads",
) -> pd.DataFrame:
    """Per-neuron metrics of one population's spikes (``times_ms``, ``node_ids`` local 0..n-1).

    Returns a DataFrame with one row per node: ``node_id``, ``n_spikes``, ``rate_hz``
    (spikes/s), ``isi_cv`` (dimensionless), ``fano`` (dimensionless, counts in ``bin_ms`` bins).
    Neurons are split into chunks of ``chunk_neurons``, each a Dask task; computed on ``client``
    (a ``distributed.Client``) if given, else with the local ``scheduler``
    ("threads", "processes" or "synchronous").
    """
    import dask

    if t_stop_ms <= t_start_ms:
        raise ValueError(f"t_stop_ms ({t_stop_ms}) must exceed t_start_ms ({t_start_ms})")
    if backend not in ("elephant", "numpy"):
        raise ValueError(f"backend must be 'elephant' or 'numpy', got {backend!r}")
    fn = _metrics_elephant if backend == "elephant" else _metrics_numpy
    trains = split_by_neuron(times_ms, node_ids, n_nodes, t_start_ms, t_stop_ms)
    chunks = [trains[i:i + chunk_neurons] for i in range(0, n_nodes, max(1, chunk_neurons))]
    if len(chunks) <= 1:
        results = [fn(c, t_start_ms, t_stop_ms, bin_ms, min_spikes_cv) for c in chunks]
    else:
        tasks = [dask.delayed(fn)(c, t_start_ms, t_stop_ms, bin_ms, min_spikes_cv)
                 for c in chunks]
        if client is not None:
            results = client.gather(client.compute(tasks))
        else:
            results = list(dask.compute(*tasks, scheduler=scheduler))
    arr = np.concatenate(results) if results else np.zeros((0, 4))
    return pd.DataFrame({
        "node_id": np.arange(n_nodes, dtype=np.int64),
        "n_spikes": arr[:, 1].astype(np.int64),
        "rate_hz": arr[:, 0],
        "isi_cv": arr[:, 2],
        "fano": arr[:, 3],
    })


def population_summary(df: pd.DataFrame) -> dict:
    """Summary of one population's per-neuron table: ``n_neurons``, ``n_silent``, and
    mean/median/SD of ``rate_hz``, ``isi_cv``, ``fano`` (NaNs ignored; None where no value)."""
    out: dict = {"n_neurons": int(len(df)), "n_silent": int((df["n_spikes"] == 0).sum())}
    for col in ("rate_hz", "isi_cv", "fano"):
        v = df[col].to_numpy(dtype=np.float64)
        v = v[np.isfinite(v)]
        for name, f in (("mean", np.mean), ("median", np.median), ("sd", np.std)):
            out[f"{col}_{name}"] = float(f(v)) if len(v) else None
    return out


def pairwise_correlations(trains: list[np.ndarray], *, t_start_ms: float, t_stop_ms: float,
                          bin_ms: float = 5.0, max_neurons: int = 100, seed: int = 0) -> dict:
    """Pearson correlation coefficients of binned spike counts (``bin_ms`` bins) between pairs
    of a random sample of ≤ ``max_neurons`` non-silent neurons, with
    ``elephant.spike_train_correlation.correlation_coefficient``. Returns mean, SD and number of
    pairs (None where fewer than 2 active neurons)."""
    import neo
    import quantities as pq
    from elephant.conversion import BinnedSpikeTrain
    from elephant.spike_train_correlation import correlation_coefficient

    active = [i for i, t in enumerate(trains) if len(t) > 0]
    if len(active) < 2:
        return {"corr_mean": None, "corr_sd": None, "n_pairs": 0}
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(active, size=min(max_neurons, len(active)), replace=False))
    sts = [neo.SpikeTrain(trains[i] * pq.ms, t_start=t_start_ms * pq.ms,
                          t_stop=t_stop_ms * pq.ms) for i in pick]
    bst = BinnedSpikeTrain(sts, bin_size=bin_ms * pq.ms, tolerance=None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cc = correlation_coefficient(bst)
    iu = np.triu_indices(len(pick), k=1)
    v = cc[iu]
    v = v[np.isfinite(v)]
    return {"corr_mean": float(v.mean()) if len(v) else None,
            "corr_sd": float(v.std()) if len(v) else None, "n_pairs": int(len(v))}


# ----------------------------------------------------------------------------------------------
# stage
# ----------------------------------------------------------------------------------------------

















