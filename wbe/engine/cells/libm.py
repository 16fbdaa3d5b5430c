"""Elementwise ``exp``, ``expm1``, ``log`` and ``pow`` of the C library, for NumPy reference code.

NumPy's own ``np.exp``/``np.power`` may use vectorised (SIMD) implementations that round
differently from the C library's, which compiled kernels (numba → LLVM → libm) call; a reference
that must equal its kernel bit for bit uses these instead."""

from __future__ import annotations

import math

import numpy as np

_exp = np.frompyfunc(math.exp, 1, 1)
_pow = np.frompyfunc(math.pow, 2, 1)
_expm1 = np.frompyfunc(math.expm1, 1, 1)
_log = np.frompyfunc(math.log, 1, 1)


def exp(x) -> np.ndarray:
    """``exp`` of every element, by the C library (as ``math.exp``)."""
    return np.asarray(_exp(np.asarray(x, dtype=np.float64)), dtype=np.float64)


def expm1(x) -> np.ndarray:
    """``expm1`` of every element, by the C library (as ``math.expm1``)."""
    return np.asarray(_expm1(np.asarray(x, dtype=np.float64)), dtype=np.float64)


def pow(x, y) -> np.ndarray:  # noqa: A001 - mirrors the C name
    """``pow(x, y)`` of every element, by the C library (as ``math.pow``)."""
    return np.asarray(_pow(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)),
                      dtype=np.float64)


def log(x) -> np.ndarray:
    """``log`` of every element (> 0), by the C library (as ``math.log``)."""
    return np.asarray(_log(np.asarray(x, dtype=np.float64)), dtype=np.float64)
