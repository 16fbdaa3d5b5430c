"""NEST's exact-integration propagators (``libnestutil/propagator_stability.cc``), elementwise."""

from __future__ import annotations

import numpy as np


def propagator_32(tau_syn: np.ndarray, tau: np.ndarray, C: np.ndarray, h: float) -> np.ndarray:
    """NEST's ``propagator_32``: the V_m response (mV) at ``h`` ms to a unit exponential current
    (pA) of time constant ``tau_syn`` for a membrane with ``tau`` ms and ``C`` pF, with NEST's
    switch to the singular form when ``tau`` and ``tau_syn`` (nearly) coincide."""
    tau_syn, tau, C = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64)
                                            for a in (tau_syn, tau, C)))
    with np.errstate(divide="ignore", invalid="ignore"):
        p_lin = 1.0 / (2.0 * C * tau * tau) * h * h * (tau_syn - tau) * np.exp(-h / tau)
        p_sing = h / C * np.exp(-h / tau)
        p = (-tau / (C * (1 - tau / tau_syn)) * np.exp(-h / tau_syn)
             * np.expm1(h * (1 / tau_syn - 1 / tau)))
    dev = np.abs(p - p_sing)
    sing = (tau == tau_syn) | ((np.abs(tau - tau_syn) < 0.1) & (dev > 2.0 * np.abs(p_lin)))
    return np.where(sing, p_sing, p)


def propagator_31(tau_syn: np.ndarray, tau: np.ndarray, C: np.ndarray, h: float) -> np.ndarray:
    """NEST's ``propagator_31``: V_m response to the derivative state of an alpha current."""
    tau_syn, tau, C = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64)
                                            for a in (tau_syn, tau, C)))
    with np.errstate(divide="ignore", invalid="ignore"):
        p_lin = 1.0 / (3.0 * C * tau * tau) * h * h * h * (tau_syn - tau) * np.exp(-h / tau)
        p = (1.0 / C * (np.exp(-h / tau_syn) * np.expm1(-h / tau + h / tau_syn)
                        / (tau / tau_syn - 1.0) * tau - h * np.exp(-h / tau_syn))
             / (-1.0 - -tau / tau_syn) * tau)
        p_sing = h * h / 2.0 / C * np.exp(-h / tau)
    dev = np.abs(p - p_sing)
    sing = (tau == tau_syn) | ((np.abs(tau - tau_syn) < 0.1) & (dev > 2.0 * np.abs(p_lin)))
    return np.where(sing, p_sing, p)
