"""Perturbational complexity index (PCI), after Casali et al. 2013 (Sci Transl Med 5:198ra105).

Pipeline (spiking adaptation of the TMS–EEG original):

1. A perturbation (a brief current pulse to a subset of neurons) is applied at ``t_stim_ms`` in
   ``n_trials`` runs with different seeds. Spikes are binned per *source* (a neuron or a
   population) into ``bin_ms`` bins: ``counts[trial, source, bin]``.
2. :func:`significance_matrix` turns the trial-averaged response into a binary matrix
   ``SS[source, time]`` of significant deviations from the pre-stimulus baseline. As in Casali et
   al., the threshold comes from a bootstrap of the baseline: the baseline bins of every trial are
   shuffled in time, averaged over trials, z-scored per source against the baseline, and the
   maximum absolute value over all sources and baseline bins is recorded; the ``1 - alpha``
   quantile of these maxima is the threshold (one threshold for the whole matrix, which controls
   the family-wise error over sources and time).
3. :func:`pci_from_matrix` computes the Lempel–Ziv (LZ76) complexity of ``SS`` flattened
   column-wise (time-major: all sources at t0, then all at t1, ...) and normalises it:
   ``PCI = c(L) · log2(L) / (L · H(p1))`` with ``L`` the number of entries and ``H`` the binary
   entropy of the fraction of ones ``p1``. A random i.i.d. matrix gives PCI ≈ 1, a matrix with
   stereotyped (duplicated) rows a low value.

:func:`lz76` implements the Kaspar & Schuster (1987, Phys Rev A 36:842) algorithm, compiled with
numba when available.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

try:  # numba is a declared dependency; fall back to Python where it is absent
    from numba import njit
except ImportError:  # pragma: no cover
    def njit(*args, **kwargs):  # type: ignore[no-redef]
        if args and callable(args[0]):
            return args[0]
        return lambda f: f


@njit(cache=False)
def _lz76_kernel(s: np.ndarray) -> int:  # pragma: no cover - compiled
    n = s.shape[0]
    if n == 0:
        return 0
    if n == 1:
        return 1
    c = 1
    ell = 1
    i = 0
    k = 1
    kmax = 1
    while True:
        if s[i + k - 1] == s[ell + k - 1]:
            k += 1
            if ell + k > n:
                c += 1
                break
        else:
            if k > kmax:
                kmax = k
            i += 1
            if i == ell:
                c += 1
                ell += kmax
                if ell + 1 > n:
                    break
                i = 0
                k = 1
                kmax = 1
            else:
                k = 1
    return c


def lz76(sequence: Sequence | np.ndarray | str) -> int:
    """Lempel–Ziv (1976) complexity: the number of distinct words in the exhaustive-history
    parsing of ``sequence`` (Kaspar & Schuster 1987 algorithm). ``sequence`` is a string of
    symbols or an integer array; e.g. ``lz76("0001101001000101") == 6``
    (0 · 001 · 10 · 100 · 1000 · 101)."""
    if isinstance(sequence, str):
        arr = np.frombuffer(sequence.encode("utf-8"), dtype=np.uint8).astype(np.int64)
    else:
        arr = np.ascontiguousarray(np.asarray(sequence).ravel()).astype(np.int64)
    return int(_lz76_kernel(arr))


def binary_entropy(p1: float) -> float:
    """Shannon entropy (bits) of a binary source with P(1) = ``p1``; 0 for p1 ∈ {0, 1}."""
    if p1 <= 0.0 or p1 >= 1.0:
        return 0.0
    return float(-p1 * np.log2(p1) - (1.0 - p1) * np.log2(1.0 - p1))


def pci_from_matrix(ss: np.ndarray, *, sort_sources: bool = False) -> float:
    """PCI of a binary ``sources × time`` matrix: LZ76 complexity of the column-wise (time-major)
    flattening, normalised by ``L · H(p1) / log2(L)``. Returns 0.0 for an empty, all-zero or
    all-one matrix (no information). ``sort_sources`` orders rows by their number of ones first
    (Casali et al.'s convention; it makes the value independent of the source order)."""
    ss = np.asarray(ss).astype(bool)
    if ss.ndim != 2:
        raise ValueError(f"PCI needs a 2-D sources × time matrix, got shape {ss.shape}")
    if sort_sources and ss.shape[0] > 1:
        order = np.argsort(ss.sum(axis=1), kind="stable")
        ss = ss[order]
    n_entries = ss.size
    if n_entries < 2:
        return 0.0
    p1 = float(ss.mean())
    h = binary_entropy(p1)
    if h == 0.0:
        return 0.0
    c = lz76(ss.T.ravel().astype(np.int64))
    return float(c * np.log2(n_entries) / (n_entries * h))


def pci_of_matrix(ss: np.ndarray, *, sort_sources: bool = False) -> dict:
    """Lempel–Ziv complexity and PCI of an already binarised ``sources × time`` matrix (what
    ``wbe pci --matrix`` prints): ``lzc`` (the LZ76 word count of the column-wise reading),
    ``pci`` = lzc · log2(L) / (L · H(p1)), ``L`` (entries), ``p1`` (fraction of ones),
    ``entropy_bits`` (H(p1)), ``n_sources``, ``n_bins``. Entries must be 0/1 (or bool)."""
    a = np.asarray(ss)
    if a.ndim != 2 or a.size == 0:
        raise ValueError(f"PCI needs a non-empty 2-D sources × time matrix, got shape {a.shape}")
    if a.dtype != bool:
        if a.dtype.kind not in "biuf" or not np.isin(a, (0, 1)).all():
            raise ValueError("the matrix must be binary (0/1 or bool); binarise it first "
                             "(significance_matrix)")
        a = a.astype(bool)
    if sort_sources and a.shape[0] > 1:
        a = a[np.argsort(a.sum(axis=1), kind="stable")]
    p1 = float(a.mean())
    return {
        "lzc": lz76(a.T.ravel().astype(np.int64)),
        "pci": pci_from_matrix(a),
        "L": int(a.size),
        "p1": p1,
        "entropy_bits": binary_entropy(p1),
        "n_sources": int(a.shape[0]),
        "n_bins": int(a.shape[1]),
    }


@dataclass
class Significance:
    """Result of :func:`significance_matrix`: the binary matrix ``ss`` (sources × response
    bins), the z-scored trial-average ``z`` (same shape) and the bootstrap ``threshold`` (z)."""

    ss: np.ndarray
    z: np.ndarray
    threshold: float


def significance_matrix(
    counts: np.ndarray,
    n_baseline_bins: int,
    *,
    alpha: float = 0.01,
    n_boot: int = 500,
    seed: int = 0,
    two_sided: bool = True,
) -> Significance:
    """Binary matrix of significant post-stimulus activity.

    ``counts``: ``(n_trials, n_sources, n_bins)`` spike counts; the first ``n_baseline_bins`` bins
    are the pre-stimulus baseline, the rest the response. The trial average of every source is
    z-scored against its baseline (mean and SD over baseline bins; the SD is floored at
    ``1 / n_trials`` counts, the smallest change of a trial average, so that silent sources do not
    divide by zero). The threshold is the ``1 - alpha`` quantile of the bootstrap distribution of
    max abs(z) over all sources and baseline bins, where each bootstrap sample shuffles the baseline
    bins of every trial independently in time (Casali et al. 2013). ``two_sided=False`` counts only
    increases of activity.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 3:
        raise ValueError(f"counts must be (trials, sources, bins), got shape {counts.shape}")
    n_trials, n_sources, n_bins = counts.shape
    if not 2 <= n_baseline_bins < n_bins:
        raise ValueError(
            f"n_baseline_bins must be in [2, {n_bins}) (bins total), got {n_baseline_bins}"
        )
    base = counts[:, :, :n_baseline_bins]
    mean_all = counts.mean(axis=0)  # sources × bins
    mu = mean_all[:, :n_baseline_bins].mean(axis=1)
    sd = mean_all[:, :n_baseline_bins].std(axis=1)
    sd = np.maximum(sd, 1.0 / n_trials)
    z = (mean_all[:, n_baseline_bins:] - mu[:, None]) / sd[:, None]

    rng = np.random.default_rng(seed)
    maxima = np.empty(n_boot)
    for b in range(n_boot):
        # independent time shuffle of the baseline of each trial (same for all sources of a
        # trial, preserving spatial correlations), then trial average
        perm = np.argsort(rng.random((n_trials, n_baseline_bins)), axis=1)
        shuffled = np.take_along_axis(base, perm[:, None, :], axis=2)
        zb = (shuffled.mean(axis=0) - mu[:, None]) / sd[:, None]
        maxima[b] = np.max(np.abs(zb)) if two_sided else np.max(zb)
    threshold = float(np.quantile(maxima, 1.0 - alpha))
    ss = (np.abs(z) > threshold) if two_sided else (z > threshold)
    return Significance(ss=ss, z=z, threshold=threshold)


def bin_counts(
    times_ms: np.ndarray,
    source_of_spike: np.ndarray,
    n_sources: int,
    t_start_ms: float,
    t_stop_ms: float,
    bin_ms: float,
) -> np.ndarray:
    """Spike counts ``(n_sources, n_bins)`` in bins of ``bin_ms`` over [t_start_ms, t_stop_ms);
    ``source_of_spike`` maps every spike to a source index (negative = dropped)."""
    n_bins = int(np.floor((t_stop_ms - t_start_ms) / bin_ms + 1e-9))
    t = np.asarray(times_ms, dtype=np.float64)
    s = np.asarray(source_of_spike, dtype=np.int64)
    b = np.floor((t - t_start_ms) / bin_ms + 1e-9).astype(np.int64)
    keep = (b >= 0) & (b < n_bins) & (s >= 0) & (s < n_sources)
    out = np.zeros((n_sources, n_bins), dtype=np.int64)
    np.add.at(out, (s[keep], b[keep]), 1)
    return out


def _stimulated_network(network, stim_population: str, stim_node_ids: np.ndarray,
                        t_stim_ms: float, amplitude_pA: float, duration_ms: float):
    from wbe.engine.network import CurrentInput

    net = copy.copy(network)  # shallow: populations/projections shared, read-only in the engine
    net.currents = list(network.currents) + [
        CurrentInput(
            name="pci_pulse",
            target=stim_population,
            node_ids=np.asarray(stim_node_ids, dtype=np.int64),
            amplitude_pA=float(amplitude_pA),
            start_ms=float(t_stim_ms),
            stop_ms=float(t_stim_ms + duration_ms),
        )
    ]
    return net


def _trial_counts(network, run, seed: int, sources: str, max_neurons: int,
                  t0_ms: float, t1_ms: float, bin_ms: float, sample_seed: int,
                  exclude: dict[str, np.ndarray] | None = None,
                  group_attribute: str | None = None) -> np.ndarray:
    from wbe.engine.simulator import simulate

    run_i = copy.copy(run)
    run_i.seed = int(seed)
    res = simulate(network, run_i)
    pops = [p for p in network.populations if not p.is_virtual]
    empty = (np.zeros(0), np.zeros(0, np.int64))
    if sources == "population":
        parts = []
        for k, p in enumerate(pops):
            t, _ = res.spikes.get(p.name, empty)
            parts.append((np.asarray(t), np.full(len(t), k)))
        t = np.concatenate([a for a, _ in parts]) if parts else np.zeros(0)
        s = np.concatenate([b for _, b in parts]) if parts else np.zeros(0, np.int64)
        return bin_counts(t, s, len(pops), t0_ms, t1_ms, bin_ms)
    offs, off = {}, 0
    for p in pops:
        offs[p.name] = off
        off += p.n
    n_total = off
    eligible = np.ones(n_total, dtype=bool)
    for name, ids in (exclude or {}).items():
        eligible[offs[name] + np.asarray(ids, dtype=np.int64)] = False
    candidates = np.flatnonzero(eligible)
    rng = np.random.default_rng(sample_seed)
    index = np.full(n_total, -1, dtype=np.int64)
    if sources == "group" and group_attribute is not None:
        # random groups within each value of a node attribute (e.g. a module or region):
        # max_neurons // values groups per value, so that no source mixes them
        value = np.concatenate([np.asarray(p.attributes[group_attribute]).astype(str)
                                for p in pops])
        kinds = np.unique(value[candidates])
        per = max(1, max_neurons // kinds.size)
        n_src = 0
        for v in kinds:
            members = candidates[value[candidates] == v]
            n_v = min(per, members.size)
            index[members] = n_src + rng.permutation(np.arange(members.size) % n_v)
            n_src += n_v
    elif sources == "group":
        # every eligible neuron in one of max_neurons random groups of (nearly) equal size, the
        # same in every trial: coarse "channels", as EEG sources pool many neurons
        n_src = min(max_neurons, candidates.size)
        index[candidates] = rng.permutation(np.arange(candidates.size) % n_src)
    else:
        # per neuron: a fixed random sample (same in every trial), at most max_neurons
        chosen = np.sort(rng.choice(candidates, size=min(max_neurons, candidates.size),
                                    replace=False))
        index[chosen] = np.arange(len(chosen))
        n_src = len(chosen)
    ts, ss = [], []
    for p in pops:
        t, ids = res.spikes.get(p.name, empty)
        ts.append(np.asarray(t))
        ss.append(index[offs[p.name] + np.asarray(ids, dtype=np.int64)])
    t = np.concatenate(ts) if ts else np.zeros(0)
    s = np.concatenate(ss) if ss else np.zeros(0, np.int64)
    return bin_counts(t, s, n_src, t0_ms, t1_ms, bin_ms)


def perturbation_counts(
    network,
    run,
    *,
    stim_population: str,
    stim_node_ids: np.ndarray,
    t_stim_ms: float,
    amplitude_pA: float = 1000.0,
    duration_ms: float = 2.0,
    n_trials: int = 10,
    baseline_ms: float = 100.0,
    response_ms: float = 300.0,
    bin_ms: float = 5.0,
    sources: str = "neuron",
    max_neurons: int = 500,
    client=None,
    scheduler: str = "threads",
    progress: bool = False,
    exclude_stimulated: bool = False,
    group_attribute: str | None = None,
) -> np.ndarray:
    """Run ``n_trials`` virtual perturbations (seeds ``run.seed + trial``) of ``network``: a DC
    pulse of ``amplitude_pA`` for ``duration_ms`` to ``stim_node_ids`` of ``stim_population`` at
    ``t_stim_ms``. Returns counts ``(n_trials, n_sources, n_bins)`` over
    [t_stim_ms - baseline_ms, t_stim_ms + response_ms) in ``bin_ms`` bins; sources are a fixed
    random sample of ≤ ``max_neurons`` neurons (``sources="neuron"``), ``max_neurons`` random
    groups that together hold every neuron (``"group"``), or the populations (``"population"``);
    ``exclude_stimulated`` leaves the pulsed neurons out of neuron and group sources (their
    direct response is the stimulus itself, as the TMS artefact is in EEG); with
    ``group_attribute`` (e.g. ``"module"``) group sources never mix neurons of different
    values of that node attribute (``max_neurons // values`` groups per value). Trials run as Dask tasks: on ``client`` (a ``distributed.Client``) if
    given, else the local ``scheduler``."""
    import dask

    if sources not in ("neuron", "group", "population"):
        raise ValueError(f"sources must be 'neuron', 'group' or 'population', got {sources!r}")
    if group_attribute is not None:
        for p in network.populations:
            if not p.is_virtual and group_attribute not in p.attributes:
                raise ValueError(f"group_attribute {group_attribute!r}: population {p.name!r} "
                                 f"has no such node attribute ({sorted(p.attributes)})")
    if t_stim_ms - baseline_ms < 0 or t_stim_ms + response_ms > run.tstop_ms + 1e-9:
        raise ValueError(
            f"window [{t_stim_ms - baseline_ms}, {t_stim_ms + response_ms}] ms must lie in "
            f"[0, tstop_ms={run.tstop_ms}]"
        )
    net = _stimulated_network(network, stim_population, stim_node_ids, t_stim_ms,
                              amplitude_pA, duration_ms)
    exclude = ({stim_population: np.asarray(stim_node_ids, dtype=np.int64)}
               if exclude_stimulated and sources != "population" else None)
    t0, t1 = t_stim_ms - baseline_ms, t_stim_ms + response_ms
    tasks = [
        dask.delayed(_trial_counts)(net, run, run.seed + k, sources, max_neurons, t0, t1,
                                    bin_ms, run.seed, exclude, group_attribute)
        for k in range(n_trials)
    ]
    if client is not None:
        futures = client.compute(tasks)
        if progress:
            from distributed import progress as show_progress

            show_progress(futures)
        results = client.gather(futures)
    elif progress:
        from dask.diagnostics import ProgressBar

        with ProgressBar(dt=1.0):
            results = dask.compute(*tasks, scheduler=scheduler)
    else:
        results = dask.compute(*tasks, scheduler=scheduler)
    return np.stack(results)


def pci_from_counts(counts: np.ndarray, n_baseline_bins: int, *, alpha: float = 0.01,
                    n_boot: int = 500, seed: int = 0) -> dict:
    """Significance matrix + PCI from binned counts (see :func:`significance_matrix`). Returns a
    JSON-able dict: ``pci``, ``threshold_z``, ``p1`` (fraction significant), ``lz`` (raw LZ76
    count), ``lz_norm`` (c·log2(L)/L, without the entropy normalisation), ``n_sources``,
    ``n_bins`` (response), ``warning`` (None, or a note when fewer than 1 % of the entries are
    significant: with so few ones the entropy normalisation drives PCI towards 1 whatever the
    structure, so the value is not interpretable), and the binary matrix as ``ss`` (ndarray)."""
    sig = significance_matrix(counts, n_baseline_bins, alpha=alpha, n_boot=n_boot, seed=seed)
    ss = sig.ss
    order = np.argsort(ss.sum(axis=1), kind="stable")
    ss_sorted = ss[order]
    n_entries = ss.size
    c = lz76(ss_sorted.T.ravel().astype(np.int64)) if n_entries else 0
    p1 = float(ss.mean()) if n_entries else 0.0
    return {
        "pci": pci_from_matrix(ss_sorted),
        "threshold_z": sig.threshold,
        "p1": p1,
        "lz": c,
        "lz_norm": float(c * np.log2(n_entries) / n_entries) if n_entries > 1 else 0.0,
        "warning": (f"only {100 * p1:.2f} % of source×time entries significant: PCI not "
                    "interpretable (weak or no response to the perturbation)")
        if p1 < 0.01 else None,
        "n_sources": int(ss.shape[0]),
        "n_bins": int(ss.shape[1]),
        "ss": ss_sorted,
    }


def perturbational_complexity(network, run, *, stim_population: str,
                              stim_node_ids: np.ndarray, t_stim_ms: float,
                              amplitude_pA: float, duration_ms: float, n_trials: int,
                              baseline_ms: float, response_ms: float, bin_ms: float,
                              sources: str = "group", max_neurons: int = 30,
                              alpha: float = 0.01, n_boot: int = 500,
                              exclude_stimulated: bool = False,
                              group_attribute: str | None = None, keep_counts: bool = False,
                              client=None, scheduler: str = "threads",
                              progress: bool = False) -> dict:
    """Virtual TMS on ``network``: :func:`perturbation_counts`, then Casali et al.'s PCI of the
    significance matrix (:func:`pci_from_counts`) and PCIst (Comolatti et al. 2019,
    :mod:`wbe.consciousness.pcist`) of the trial-averaged response of the same sources (baseline
    window [-baseline_ms, -bin_ms), response [0, response_ms)). Returns :func:`pci_from_counts`'s
    dict (``ss`` included) plus ``pcist``, ``pcist_components``, ``pcist_dnst`` (or
    ``pcist: None`` and ``pcist_status`` when the windows are too short), and with
    ``keep_counts`` the trial counts (``counts``: trials × sources × bins)."""
    from wbe.consciousness.pcist import pcist

    counts = perturbation_counts(
        network, run, stim_population=stim_population, stim_node_ids=stim_node_ids,
        t_stim_ms=t_stim_ms, amplitude_pA=amplitude_pA, duration_ms=duration_ms,
        n_trials=n_trials, baseline_ms=baseline_ms, response_ms=response_ms, bin_ms=bin_ms,
        sources=sources, max_neurons=max_neurons, client=client, scheduler=scheduler,
        progress=progress, exclude_stimulated=exclude_stimulated,
        group_attribute=group_attribute)
    n_base = int(round(baseline_ms / bin_ms))
    res = pci_from_counts(counts, n_base, alpha=alpha, n_boot=n_boot, seed=run.seed)
    times = -baseline_ms + bin_ms * np.arange(counts.shape[2])
    try:
        st = pcist(counts.mean(axis=0), times, baseline_window_ms=(-baseline_ms, -bin_ms),
                   response_window_ms=(0.0, response_ms))
        res.update({"pcist": st.pci, "pcist_components": st.n_components,
                    "pcist_dnst": st.dnst.tolist()})
    except ValueError as exc:  # too few bins for PCIst's windows
        res.update({"pcist": None, "pcist_status": f"skipped: {exc}"})
    if keep_counts:
        res["counts"] = counts
    return res


class VirtualTMS(BaseModel):
    """A virtual TMS experiment as configs describe it: a pulse to the first ``stim_fraction``
    of a population, ``n_trials`` runs (seeds run seed + trial), sources ``n_sources`` random
    groups of the neurons (the pulsed ones left out with ``exclude_stimulated``); read by
    :meth:`measure` into Casali's PCI and PCIst. Studies subclass it to change the defaults."""

    model_config = ConfigDict(extra="forbid")
    n_trials: int = Field(8, ge=2, description="perturbation trials")
    stim_fraction: float = Field(0.1, gt=0, le=1, description="fraction of the population "
                                 "pulsed (the first neurons by id)")
    amplitude_pA: float = Field(20.0, description="pulse amplitude (the model's current unit)")
    duration_ms: float = Field(1.0, gt=0, description="pulse duration (ms)")
    baseline_ms: float = Field(300.0, gt=0, description="pre-stimulus window (ms)")
    response_ms: float = Field(300.0, gt=0, description="post-stimulus window (ms)")
    bin_ms: float = Field(5.0, gt=0, description="bin of the sources × time matrix (ms)")
    n_sources: int = Field(30, ge=2, description="random groups of neurons as sources")
    exclude_stimulated: bool = Field(True, description="leave the pulsed neurons out of the "
                                     "sources (their direct response is the stimulus)")
    alpha: float = Field(0.01, gt=0, lt=1, description="significance level of the bootstrap")
    n_boot: int = Field(200, ge=10, description="bootstrap samples of the threshold")

    def measure(self, network, run, *, population: str, t_stim_ms: float,
                group_attribute: str | None = None, keep_counts: bool = False,
                client=None, scheduler: str = "synchronous") -> dict:
        """:func:`perturbational_complexity` of ``network`` with the pulse at ``t_stim_ms`` to
        ``population`` (``run.tstop_ms`` must reach ``t_stim_ms + response_ms``)."""
        n_stim = max(1, int(round(self.stim_fraction * network.population(population).n)))
        return perturbational_complexity(
            network, run, stim_population=population, stim_node_ids=np.arange(n_stim),
            t_stim_ms=t_stim_ms, amplitude_pA=self.amplitude_pA,
            duration_ms=self.duration_ms, n_trials=self.n_trials,
            baseline_ms=self.baseline_ms, response_ms=self.response_ms, bin_ms=self.bin_ms,
            sources="group", max_neurons=self.n_sources, alpha=self.alpha,
            n_boot=self.n_boot, exclude_stimulated=self.exclude_stimulated,
            group_attribute=group_attribute, keep_counts=keep_counts, client=client,
            scheduler=scheduler)
