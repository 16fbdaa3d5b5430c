"""Dynamical regimes of spiking networks: the metrics that tell them apart, a classifier for
Brunel's (2000) four states, and the same statistics computed out of core with Dask.

Metrics of one population over the analysis window ``[t_start_ms, t_stop_ms)``
(:func:`regime_metrics`, in memory; :func:`spike_statistics_chunked`, chunked):

* ``rate_hz`` — mean firing rate over all neurons (spikes/s).
* ``isi_cv`` — mean over neurons with >= 3 spikes of SD/mean of their inter-spike intervals.
* ``chi`` — Golomb's synchrony measure on spike counts in ``bin_ms`` bins:
  ``chi² = Var_t(A(t)) / mean_i Var_t(s_i(t))`` with ``s_i`` the count of neuron ``i`` and ``A``
  the population mean. 1 = fully synchronous; ~1/√N for independent neurons.
* ``pop_fano`` — variance / mean of the population spike count in ``bin_ms`` bins (1 for
  independent Poisson neurons).
* ``peak_freq_hz`` — frequency of the population oscillation: the lowest peak (>= 5 Hz) of the
  Welch power spectrum of the population count with at least 80% of the largest peak's power (the
  fundamental, not a harmonic); ``peak_snr`` — that peak's power over the Poisson floor (the mean count per
  bin: the spectrum of independent Poisson neurons); ``peak_prominence`` — the peak's power over
  the median power in 5–400 Hz (a sharp oscillation is prominent; broadband noise is not).

Classifier (:func:`classify`), thresholds in :data:`THRESHOLDS`, applied in this order:

1. ``silent``: ``rate_hz < 0.1``.
2. ``SR`` (synchronous regular): ``isi_cv < 0.5`` and ``chi >= 0.3`` — neurons fire
   clock-like, near saturation, locked to the population oscillation.
3. ``SI_fast``: ``peak_freq_hz >= 130`` — a fast population oscillation (Brunel: ~180 Hz for
   D = 1.5 ms, set by the delay) with irregular single neurons.
4. ``SI_slow``: ``peak_freq_hz < 70`` and (``rate_hz < 15`` or ``chi >= 0.3``) — a slow
   population oscillation at low single-neuron rates (weak external drive), or slow
   population bursts that recruit a large part of the network (near the balance point g≈4).
5. ``AI`` (asynchronous irregular): otherwise.

The thresholds were set on this engine's Brunel model A with Brunel's in-degrees (C_E = 1000,
C_I = 250, J = 0.2 mV, D = 1.5 ms) at order 500–2500: in such finite networks the population
activity always carries some oscillation, so synchrony (``chi``) alone does not separate AI
from SI; the oscillation frequency does. On ``config/sweeps/brunel.yaml`` (order 500) the
medians per regime are — SR: 333 spikes/s, CV 0.0, χ 0.53, 332 Hz; SI fast: 30 spikes/s, CV 1.5,
χ 0.17, 168 Hz; AI: 25 spikes/s, CV 1.1, χ 0.20, 84 Hz; SI slow: 6 spikes/s, CV 0.7, χ 0.23,
20 Hz. Brunel 2000 Fig. 8 points — (g=3, η=2) SR,
(g=6, η=4) SI fast, (g=5, η=2) AI, (g=4.5, η=0.9) SI slow — are tested to land in their regime.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

REGIMES = ("SR", "SI_fast", "SI_slow", "AI", "silent")

#: Classifier thresholds (see the module docstring).
THRESHOLDS: dict[str, float] = {
    "silent_rate_hz": 0.1,
    "sr_cv_max": 0.5,
    "sr_chi_min": 0.3,
    "fast_freq_min_hz": 130.0,
    "slow_freq_max_hz": 70.0,
    "slow_rate_max_hz": 15.0,
    "slow_chi_min": 0.3,
}

METRIC_NAMES = ("rate_hz", "isi_cv", "chi", "pop_fano", "peak_freq_hz", "peak_snr",
                "peak_prominence", "n_spikes")


# ------------------------------------------------------------------------------- in memory
def _spectrum(counts: np.ndarray, bin_ms: float) -> dict[str, float]:
    """Spectral peak of the population count (Welch, Hann windows of ~256 ms)."""
    from scipy.signal import welch

    n = len(counts)
    mean = float(counts.mean()) if n else 0.0
    nan = {"peak_freq_hz": float("nan"), "peak_snr": float("nan"),
           "peak_prominence": float("nan")}
    if n < 16 or mean <= 0:
        return nan
    fs_hz = 1000.0 / bin_ms
    nper = int(min(n, max(16, round(256.0 / bin_ms))))
    f, p = welch(counts, fs=fs_hz, nperseg=nper, detrend="constant", scaling="density")
    p = p * fs_hz / 2.0  # one-sided density → variance per bin per unit of fs/2: Poisson = mean
    band = (f >= 5.0) & (f <= min(400.0, fs_hz / 2))
    if not band.any():
        return nan
    idx = np.flatnonzero(band)
    pb = p[idx]
    # the fundamental: the lowest local maximum with at least 80% of the largest power (a
    # pulse train has harmonics of equal power; its frequency is the first)
    left = np.r_[-np.inf, pb[:-1]]
    right = np.r_[pb[1:], -np.inf]
    cand = np.flatnonzero((pb >= left) & (pb >= right) & (pb >= 0.8 * pb.max()))
    k = idx[cand[0]] if len(cand) else idx[np.argmax(pb)]
    med = float(np.median(p[band]))
    return {"peak_freq_hz": float(f[k]), "peak_snr": float(p[k] / mean),
            "peak_prominence": float(p[k] / med) if med > 0 else float("inf")}


def _finish(n_nodes: int, window_ms: float, n_spikes: np.ndarray, isi_n: np.ndarray,
            isi_s1: np.ndarray, isi_s2: np.ndarray, counts: np.ndarray, sq_sum: float,
            bin_ms: float, min_spikes_cv: int = 3) -> dict[str, float]:
    """Metrics from the sufficient statistics (per-neuron spike and ISI sums, population
    count per bin, Σ over neurons and bins of count²)."""
    total = int(n_spikes.sum())
    out: dict[str, float] = {"n_spikes": float(total),
                             "rate_hz": total / max(n_nodes, 1) / (window_ms / 1000.0)}
    ok = (n_spikes >= max(min_spikes_cv, 2)) & (isi_n > 0)
    if ok.any():
        m = isi_s1[ok] / isi_n[ok]
        v = np.maximum(isi_s2[ok] / isi_n[ok] - m * m, 0.0)
        out["isi_cv"] = float(np.mean(np.sqrt(v) / m))
    else:
        out["isi_cv"] = float("nan")
    n_bins = len(counts)
    mean_c = float(counts.mean()) if n_bins else 0.0
    out["pop_fano"] = float(counts.var() / mean_c) if mean_c > 0 else float("nan")
    # Golomb chi: Var_t(A) / mean_i Var_t(s_i), A = counts / n
    var_a = float((counts / n_nodes).var()) if n_bins else 0.0
    mean_s = n_spikes / max(n_bins, 1)
    mean_var_i = (sq_sum / max(n_bins, 1) - float(np.sum(mean_s ** 2))) / n_nodes
    out["chi"] = float(np.sqrt(var_a / mean_var_i)) if mean_var_i > 0 else float("nan")
    out.update(_spectrum(counts.astype(np.float64), bin_ms))
    return out


def regime_metrics(times_ms: np.ndarray, node_ids: np.ndarray, n_nodes: int, *,
                   t_start_ms: float, t_stop_ms: float, bin_ms: float = 1.0) -> dict[str, float]:
    """Regime metrics (module docstring) of one population's spikes (local node ids)."""
    if t_stop_ms <= t_start_ms:
        raise ValueError(f"t_stop_ms ({t_stop_ms}) must exceed t_start_ms ({t_start_ms})")
    if n_nodes <= 0:
        raise ValueError(f"n_nodes must be positive, got {n_nodes}")
    stats = _window_stats(np.asarray(times_ms, dtype=np.float64),
                          np.asarray(node_ids, dtype=np.int64), n_nodes, t_start_ms, t_stop_ms,
                          t_start_ms, bin_ms)
    return _finish(n_nodes, t_stop_ms - t_start_ms, stats.n, stats.isi_n, stats.s1, stats.s2,
                   stats.counts, stats.sq, bin_ms)


# ------------------------------------------------------------------------ sufficient statistics
@dataclass
class _Partial:
    """Sufficient statistics of the spikes in one time window (combinable in time order)."""

    n: np.ndarray        # spikes per neuron
    first: np.ndarray    # first spike time per neuron (nan if none)
    last: np.ndarray     # last spike time per neuron (nan if none)
    isi_n: np.ndarray    # ISIs per neuron
    s1: np.ndarray       # Σ ISI per neuron
    s2: np.ndarray       # Σ ISI² per neuron
    counts: np.ndarray   # population count per bin of the window
    sq: float            # Σ over (neuron, bin) of count²


def _window_stats(t: np.ndarray, ids: np.ndarray, n_nodes: int, lo_ms: float, hi_ms: float,
                  t0_ms: float, bin_ms: float) -> _Partial:
    """Statistics of the spikes with lo_ms <= t < hi_ms; bins counted from t0_ms (lo_ms and
    hi_ms lie on bin edges)."""
    keep = (t >= lo_ms) & (t < hi_ms)
    t, ids = t[keep], ids[keep]
    if len(ids) and (ids.min() < 0 or ids.max() >= n_nodes):
        raise ValueError(f"node_ids outside [0, {n_nodes}) in the spike data")
    o = np.lexsort((t, ids))
    t, ids = t[o], ids[o]
    n = np.bincount(ids, minlength=n_nodes).astype(np.int64)
    first = np.full(n_nodes, np.nan)
    last = np.full(n_nodes, np.nan)
    if len(t):
        starts = np.flatnonzero(np.r_[True, ids[1:] != ids[:-1]])
        ends = np.r_[starts[1:], len(ids)] - 1
        first[ids[starts]] = t[starts]
        last[ids[ends]] = t[ends]
    d = np.diff(t)
    same = ids[1:] == ids[:-1]
    d, g = d[same], ids[1:][same]
    isi_n = np.bincount(g, minlength=n_nodes).astype(np.int64)
    s1 = np.bincount(g, d, minlength=n_nodes)
    s2 = np.bincount(g, d * d, minlength=n_nodes)
    b0 = int(round((lo_ms - t0_ms) / bin_ms))
    nb = int(round((hi_ms - lo_ms) / bin_ms))
    b = np.minimum(((t - lo_ms) / bin_ms).astype(np.int64), nb - 1)
    counts = np.bincount(b, minlength=nb).astype(np.int64)
    _, pair_counts = np.unique(ids * (nb + b0 + 1) + b, return_counts=True)
    sq = float(np.sum(pair_counts.astype(np.float64) ** 2))
    return _Partial(n, first, last, isi_n, s1, s2, counts, sq)


def _merge(a: _Partial, b: _Partial) -> _Partial:
    """Combine statistics of two consecutive windows (``a`` before ``b``): an ISI spans the
    boundary for every neuron that fired in both."""
    both = (a.n > 0) & (b.n > 0)
    gap = np.where(both, b.first - a.last, 0.0)
    return _Partial(
        n=a.n + b.n,
        first=np.where(a.n > 0, a.first, b.first),
        last=np.where(b.n > 0, b.last, a.last),
        isi_n=a.isi_n + b.isi_n + both,
        s1=a.s1 + b.s1 + gap,
        s2=a.s2 + b.s2 + gap * gap,
        counts=np.concatenate([a.counts, b.counts]),
        sq=a.sq + b.sq,
    )


def _search_sorted_on_disk(arr, value: float, lo: int = 0, hi: int | None = None) -> int:
    """First index i in the sorted 1-d on-disk array ``arr`` with arr[i] >= value, reading
    O(log n) single elements (works for Zarr, HDF5 and NumPy arrays)."""
    hi = arr.shape[0] if hi is None else hi
    while lo < hi:
        mid = (lo + hi) // 2
        if float(arr[mid]) < value:
            lo = mid + 1
        else:
            hi = mid
    return lo


def spike_statistics_chunked(times_ms, node_ids, n_nodes: int, *, t_start_ms: float,
                             t_stop_ms: float, bin_ms: float = 1.0,
                             chunk_spikes: int = 1_000_000, client=None,
                             scheduler: str = "threads") -> dict[str, float]:
    """:func:`regime_metrics` of a population whose spikes (sorted by time, as SONATA
    ``sorting=by_time`` and the wbe engine write them) live in on-disk arrays — Zarr or HDF5
    datasets, or anything with ``shape`` and slicing — without loading them all.

    The window is cut at bin edges into pieces of about ``chunk_spikes`` spikes (found by
    binary search on the times array); each piece is one Dask task that reads only its slice
    and reduces it to per-neuron sums (O(n_nodes) memory); the pieces are merged pairwise in
    time order (a tree reduction). Computed on ``client`` if given, else with ``scheduler``.
    """
    import dask

    if t_stop_ms <= t_start_ms:
        raise ValueError(f"t_stop_ms ({t_stop_ms}) must exceed t_start_ms ({t_start_ms})")
    if times_ms.shape != node_ids.shape:
        raise ValueError(f"{times_ms.shape[0]} spike times but {node_ids.shape[0]} node ids")
    n_bins = max(1, int(round((t_stop_ms - t_start_ms) / bin_ms)))
    i0 = _search_sorted_on_disk(times_ms, t_start_ms)
    i1 = _search_sorted_on_disk(times_ms, t_stop_ms, lo=i0)
    n_pieces = max(1, min(n_bins, -(-(i1 - i0) // max(1, chunk_spikes))))
    edges_bins = np.linspace(0, n_bins, n_pieces + 1).round().astype(int)
    edges_ms = t_start_ms + edges_bins * bin_ms
    cuts = [i0] + [_search_sorted_on_disk(times_ms, e, lo=i0, hi=i1) for e in edges_ms[1:-1]]
    cuts.append(i1)

    def piece(k: int) -> _Partial:
        a, b = cuts[k], cuts[k + 1]
        t = np.asarray(times_ms[a:b], dtype=np.float64)
        ids = np.asarray(node_ids[a:b], dtype=np.int64)
        return _window_stats(t, ids, n_nodes, float(edges_ms[k]), float(edges_ms[k + 1]),
                             t_start_ms, bin_ms)

    parts = [dask.delayed(piece)(k) for k in range(n_pieces)]
    while len(parts) > 1:  # pairwise, order-preserving tree reduction
        nxt = [dask.delayed(_merge)(parts[i], parts[i + 1]) for i in range(0, len(parts) - 1, 2)]
        if len(parts) % 2:
            nxt.append(parts[-1])
        parts = nxt
    if client is not None:
        total = client.compute(parts[0]).result()
    else:
        (total,) = dask.compute(parts[0], scheduler=scheduler)
    return _finish(n_nodes, t_stop_ms - t_start_ms, total.n, total.isi_n, total.s1, total.s2,
                   total.counts, total.sq, bin_ms)


def state_synchrony_chunked(values, *, chunk_neurons: int = 1000, client=None,
                            scheduler: str = "threads") -> dict[str, float]:
    """Golomb's χ on a sampled state variable (``values[n_times, n_nodes]``, e.g. V_m from
    ``state.zarr``): ``χ² = Var_t(mean_i V_i) / mean_i Var_t(V_i)``, plus the population mean
    and mean per-neuron SD (same units as ``values``). Read as a Dask array in column chunks
    of ``chunk_neurons`` neurons; never loads the whole array."""
    import dask
    import dask.array as da

    x = da.from_array(values, chunks=(values.shape[0], chunk_neurons))
    pop = x.mean(axis=1)
    var_i = x.var(axis=0)
    args = (pop.var(), var_i.mean(), x.mean(), da.sqrt(var_i).mean())
    if client is not None:
        var_pop, mean_var, mean_v, mean_sd = client.gather(client.compute(list(args)))
    else:
        var_pop, mean_var, mean_v, mean_sd = dask.compute(*args, scheduler=scheduler)
    chi = float(np.sqrt(var_pop / mean_var)) if mean_var > 0 else float("nan")
    return {"chi": chi, "mean": float(mean_v), "sd_mean": float(mean_sd)}


def population_statistics(path, sizes: Mapping[str, int], *, t_start_ms: float,
                          t_stop_ms: float, bin_ms: float = 1.0, chunk_spikes: int = 1_000_000,
                          client=None) -> dict[str, dict[str, float]]:
    """Per-population :func:`spike_statistics_chunked` of a spike report on disk: a SONATA
    ``spikes.h5`` or a Zarr group with the same layout (``spikes/<pop>/timestamps`` in ms and
    ``spikes/<pop>/node_ids``), time-sorted. ``sizes``: population → number of neurons."""
    from pathlib import Path

    path = Path(path)
    out: dict[str, dict[str, float]] = {}
    if path.suffix in (".h5", ".hdf5"):
        import h5py

        with h5py.File(path, "r") as h5:
            for pop, n in sizes.items():
                g = h5["spikes"][pop]
                out[pop] = spike_statistics_chunked(
                    g["timestamps"], g["node_ids"], n, t_start_ms=t_start_ms,
                    t_stop_ms=t_stop_ms, bin_ms=bin_ms, chunk_spikes=chunk_spikes,
                    scheduler="synchronous")  # h5py handles are not thread-safe
        return out
    import zarr

    root = zarr.open_group(str(path), mode="r")
    for pop, n in sizes.items():
        g = root["spikes"][pop]
        out[pop] = spike_statistics_chunked(
            g["timestamps"], g["node_ids"], n, t_start_ms=t_start_ms, t_stop_ms=t_stop_ms,
            bin_ms=bin_ms, chunk_spikes=chunk_spikes, client=client)
    return out


# ------------------------------------------------------------------------------- classifier
def classify(m: Mapping[str, Any], thresholds: Mapping[str, float] | None = None) -> str:
    """Brunel regime of a point from its excitatory-population metrics (module docstring)."""
    th = {**THRESHOLDS, **(thresholds or {})}

    def val(name: str) -> float:
        v = m.get(name)
        return float("nan") if v is None else float(v)

    rate, cv, chi, f = val("rate_hz"), val("isi_cv"), val("chi"), val("peak_freq_hz")
    if not rate >= th["silent_rate_hz"]:
        return "silent"
    if cv < th["sr_cv_max"] and chi >= th["sr_chi_min"]:
        return "SR"
    if f >= th["fast_freq_min_hz"]:
        return "SI_fast"
    if f < th["slow_freq_max_hz"] and (rate < th["slow_rate_max_hz"]
                                       or chi >= th["slow_chi_min"]):
        return "SI_slow"
    return "AI"


# ------------------------------------------------------------------------------ one point
#: Parameters of a point that are not generator arguments.
POINT_FIELDS = ("t_sim_ms", "t_warmup_ms", "bin_ms")

#: Populations of each model whose metrics enter the table (the first one is classified).
MODEL_POPULATIONS: dict[str, tuple[str, ...]] = {"brunel": ("E", "I")}


def generator(model: str):
    """The network generator function of ``model``."""
    from wbe.networks import generators

    if model not in MODEL_POPULATIONS:
        raise ValueError(f"unknown sweep model {model!r}; known: {sorted(MODEL_POPULATIONS)}")
    return getattr(generators, model)


def simulate_point(model: str, params: Mapping[str, Any], *, t_sim_ms: float,
                   t_warmup_ms: float, bin_ms: float = 1.0,
                   populations: Sequence[str] | None = None,
                   phi: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Build ``model`` with ``params`` (generator keyword arguments, ``seed`` included),
    simulate ``t_sim_ms`` serially and return metrics per population over
    ``[t_warmup_ms, t_sim_ms)``, the regime, the population count per ``bin_ms`` bin and a
    spike sample (first 50 neurons of the first population) for plots. With ``phi`` (the
    fields of :class:`wbe.pipeline.sweep.SweepPhi`) also Φ of the activity pooled into random
    groups of all neurons (``consciousness``: ``phi``, ``phi_coverage``)."""
    from wbe.engine.simulator import simulate

    pops = tuple(populations or MODEL_POPULATIONS[model])
    t0 = time.perf_counter()
    net, run = generator(model)(tstop_ms=float(t_sim_ms), **dict(params))
    res = simulate(net, run)  # serial: a Dask worker is not an MPI launch
    wall_sim_s = time.perf_counter() - t0
    metrics: dict[str, dict[str, float]] = {}
    counts: dict[str, list[int]] = {}
    n_bins = int(round((t_sim_ms - t_warmup_ms) / bin_ms))
    for pop in pops:
        t, ids = res.spikes.get(pop, (np.zeros(0), np.zeros(0, dtype=np.int64)))
        n = net.population(pop).n
        metrics[pop] = regime_metrics(t, ids, n, t_start_ms=t_warmup_ms, t_stop_ms=t_sim_ms,
                                      bin_ms=bin_ms)
        keep = (t >= t_warmup_ms) & (t < t_sim_ms)
        b = np.minimum(((t[keep] - t_warmup_ms) / bin_ms).astype(np.int64), n_bins - 1)
        counts[pop] = np.bincount(b, minlength=n_bins).astype(int).tolist()
    consciousness: dict[str, Any] = {}
    if phi:
        from wbe.consciousness.tpm import PhiSettings, random_groups

        phi = dict(phi)
        groups = random_groups({p.name: p.n for p in net.populations if not p.is_virtual},
                               int(phi.pop("n_groups")), int(params.get("seed", 1)))
        doc = PhiSettings(**phi).measure(res.spikes, groups, t_warmup_ms, t_sim_ms)
        consciousness.update({"phi": doc["mean_phi"], "phi_coverage": doc["coverage"]})
    t, ids = res.spikes.get(pops[0], (np.zeros(0), np.zeros(0, dtype=np.int64)))
    s = ids < 50
    return {
        "consciousness": consciousness,
        "metrics": metrics,
        "regime": classify(metrics[pops[0]]),
        "counts": counts,
        "sample": {"time_ms": np.asarray(t[s]).tolist(), "node_id": np.asarray(ids[s]).tolist()},
        "n_neurons": {p: int(net.population(p).n) for p in pops},
        "wall_s": {"simulate": wall_sim_s, **{f"engine_{k}": v for k, v in res.wall_s.items()}},
    }


def point_pci(model: str, params: Mapping[str, Any], *, t_warmup_ms: float,
              settings: Mapping[str, Any]) -> dict[str, Any]:
    """Virtual TMS on one sweep point (``settings``: the fields of
    :class:`wbe.analysis.pci.VirtualTMS`): the pulse at ``t_warmup_ms + baseline_ms`` to the
    model's first population, trials serial (the point already is a Dask task). Returns
    ``pci``, ``pci_p1`` (fraction significant), ``pcist``, ``pcist_components`` and
    ``pci_warning``."""
    from wbe.analysis.pci import VirtualTMS

    tms = VirtualTMS.model_validate(dict(settings))
    t_stim = float(t_warmup_ms) + tms.baseline_ms
    net, run = generator(model)(tstop_ms=t_stim + tms.response_ms, **dict(params))
    res = tms.measure(net, run, population=MODEL_POPULATIONS[model][0], t_stim_ms=t_stim)
    return {"pci": res["pci"], "pci_p1": res["p1"], "pcist": res.get("pcist"),
            "pcist_components": res.get("pcist_components"), "pci_warning": res["warning"]}
