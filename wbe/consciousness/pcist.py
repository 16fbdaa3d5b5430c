"""PCIst: the perturbational complexity index from state transitions (Comolatti et al. 2019,
Brain Stimulation 12:1280), written from the paper.

An evoked response (channels × time, time in ms with the stimulus at 0) is reduced to its
principal components: the singular value decomposition of the response window gives the
spatial components, the fewest that explain ``max_var`` % of the response's variance are kept,
and of those the ones whose response-to-baseline amplitude ratio (SNR, √(mean x²) over the
response / √(mean x²) over the baseline) exceeds ``min_snr``. For every kept component *n* the
recurrence matrix R(ε) = [abs(x(tᵢ) − x(tⱼ)) ≤ ε] is formed on the baseline and on the
response; its *state transitions* are the changes along each row (R[i, j+1] ≠ R[i, j]), and
NST(ε) = transitions / N². Scanning ε over ``n_steps`` values from the median of the baseline
distances to the largest response distance, ΔNSTₙ = N_response · max_ε [NST_resp(ε) −
k · NST_base(ε)] (0 when negative); PCIst = Σₙ ΔNSTₙ. Defaults are the paper's: baseline
−400…−50 ms, response 0…300 ms, k = 1.2, max_var 99 %, min_snr 1.1, 100 steps.

Windows select the samples with ``start ≤ t < stop``. The paper's optional time-delay embedding
is not implemented (its default is off).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["PCIstParams", "PCIstResult", "pcist", "state_transitions"]


@dataclass(frozen=True)
class PCIstParams:
    """Settings of :func:`pcist` (Comolatti et al. 2019's defaults)."""

    baseline_window_ms: tuple[float, float] = (-400.0, -50.0)
    response_window_ms: tuple[float, float] = (0.0, 300.0)
    k: float = 1.2
    max_var: float = 99.0
    min_snr: float = 1.1
    n_steps: int = 100
    max_thr_p: float = 1.0
    baseline_correct: bool = False
    average_reference: bool = False

    def __post_init__(self):
        b0, b1 = self.baseline_window_ms
        r0, r1 = self.response_window_ms
        if not (b0 < b1 <= r0 < r1):
            raise ValueError(f"PCIst windows: need baseline_start < baseline_stop <= "
                             f"response_start < response_stop, got baseline "
                             f"{self.baseline_window_ms}, response {self.response_window_ms}")
        if not self.k > 0 or not 0 < self.max_var <= 100 or self.n_steps < 2:
            raise ValueError("PCIst: k > 0, 0 < max_var <= 100 and n_steps >= 2 required")
        if not 0 < self.max_thr_p <= 1:
            raise ValueError("PCIst: max_thr_p must lie in (0, 1]")


@dataclass
class PCIstResult:
    """PCIst and its decomposition: ``dnst`` (ΔNST per kept component), ``thresholds`` (the ε
    maximising each), ``snr`` and ``var_explained`` (%) of the kept components, ``n_components``
    (kept) and ``n_candidates`` (explaining ``max_var`` %)."""

    pci: float
    dnst: np.ndarray
    thresholds: np.ndarray
    snr: np.ndarray
    var_explained: np.ndarray
    n_components: int
    n_candidates: int
    components: np.ndarray = field(repr=False)

    def to_dict(self) -> dict:
        return {"pcist": self.pci, "dnst": self.dnst.tolist(),
                "thresholds": self.thresholds.tolist(), "snr": self.snr.tolist(),
                "var_explained": self.var_explained.tolist(),
                "n_components": self.n_components, "n_candidates": self.n_candidates}


def _window(times: np.ndarray, window: tuple[float, float]) -> slice:
    """Samples with start ≤ t < stop (times increasing)."""
    return slice(int(np.sum(times < window[0])), int(np.sum(times < window[1])))


def state_transitions(distances: np.ndarray, eps: float) -> int:
    """Number of state transitions of the recurrence matrix [distances ≤ eps]: the changes
    between neighbouring entries along every row."""
    r = (distances <= eps).astype(np.int8)
    return int(np.abs(np.diff(r, axis=1)).sum())


def _nst_curve(distances: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """NST(ε) = transitions / N² for every threshold (vectorised over ε)."""
    n = distances.shape[0]
    r = distances[None, :, :] <= thresholds[:, None, None]
    return np.abs(np.diff(r.astype(np.int8), axis=2)).sum(axis=(1, 2)) / float(n * n)


def pcist(signal: np.ndarray, times_ms: np.ndarray, params: PCIstParams | None = None,
          **overrides) -> PCIstResult:
    """PCIst of an evoked response ``signal`` (channels × time; time in ms, stimulus at 0).
    ``params`` or keyword overrides of :class:`PCIstParams`."""
    p = params or PCIstParams()
    if overrides:
        p = PCIstParams(**{**p.__dict__, **overrides})
    x = np.asarray(signal, dtype=np.float64)
    t = np.asarray(times_ms, dtype=np.float64)
    if x.ndim != 2 or t.ndim != 1 or x.shape[1] != t.size:
        raise ValueError(f"PCIst needs signal (channels × time) and times (time,), got "
                         f"{x.shape} and {t.shape}")
    if not np.isfinite(x).all():
        raise ValueError("PCIst: the signal contains NaN or infinite values")
    if np.any(np.diff(t) <= 0):
        raise ValueError("PCIst: times must increase")
    if p.average_reference:
        x = x - x.mean(axis=0, keepdims=True)
    if p.baseline_correct:
        pre = t < -50.0  # the paper: the mean before −50 ms
        if not pre.any():
            raise ValueError("PCIst: baseline correction needs samples before -50 ms")
        x = x - x[:, pre].mean(axis=1, keepdims=True)
    crop = _window(t, (p.baseline_window_ms[0], p.response_window_ms[1]))
    x, t = x[:, crop], t[crop]
    base, resp = _window(t, p.baseline_window_ms), _window(t, p.response_window_ms)
    n_base, n_resp = base.stop - base.start, resp.stop - resp.start
    if n_base < 2 or n_resp < 2:
        raise ValueError(f"PCIst: the baseline ({n_base} samples) and the response "
                         f"({n_resp} samples) need at least 2 samples each")
    # principal components of the response
    _, sv, vt = np.linalg.svd(x[:, resp].T, full_matrices=False)
    var = sv ** 2
    var_pct = 100.0 * var / var.sum() if var.sum() > 0 else np.zeros_like(var)
    reached = np.cumsum(var_pct) >= p.max_var
    n_cand = sv.size if p.max_var >= 100 or not reached.any() else int(np.argmax(reached)) + 1
    comps = vt[:n_cand] @ x  # components × time
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.sqrt(np.mean(comps[:, resp] ** 2, axis=1) / np.mean(comps[:, base] ** 2, axis=1))
    keep = snr > p.min_snr
    comps, snr, var_kept = comps[keep], snr[keep], var_pct[:n_cand][keep]
    dnst = np.zeros(comps.shape[0])
    eps_best = np.zeros(comps.shape[0])
    for i, c in enumerate(comps):
        b, r = c[base], c[resp]
        d_base = np.abs(b[:, None] - b[None, :])
        d_resp = np.abs(r[:, None] - r[None, :])
        eps = np.linspace(np.median(d_base), d_resp.max() * p.max_thr_p, p.n_steps)
        diff = _nst_curve(d_resp, eps) - p.k * _nst_curve(d_base, eps)
        j = int(np.argmax(diff))
        eps_best[i] = eps[j]
        dnst[i] = max(diff[j] * n_resp, 0.0)
    return PCIstResult(float(dnst.sum()), dnst, eps_best, snr, var_kept, int(comps.shape[0]),
                       n_cand, comps)
