"""Intercellular calcium waves between astrocytes (astrocyte_lr_1994 with Höfer et al. 2002's
regenerative, Ca²⁺-activated IP3 production and IP3 gap junctions, ip3_connection): a wave
started by IP3 in one cell travels along a chain, each cell's calcium onset as an independent
ODE solve (SciPy, tight tolerance, the same equations written out here) predicts; without
regeneration it dies after a few cells (Höfer's "limited regenerative signalling"); an
unstimulated network stays quiet; its speed is within the published range."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from wbe.engine.network import Network, Population, RunConfig, StateRecorder
from wbe.engine.simulator import simulate
from wbe.networks.astrocytes import astrocyte_lattice, wave_speed_um_per_s

N, SPACING_UM, F_PER_MS, DELAY_MS, T_MS = 12, 30.0, 1e-3, 5.0, 22000.0
WAVE = {"tau_IP3": 1000.0, "v_PLCdelta": 1e-3, "K_PLCdelta": 0.5}
ONSET_UM = 0.3  # calcium that marks a cell as reached (µM)


def chain(stim_uM: float | None = 3.0, **params):
    attrs, gj = astrocyte_lattice("a", (N,), SPACING_UM, coupling_per_ms=F_PER_MS,
                                  delay_ms=DELAY_MS)
    ip3 = np.full(N, 0.16)
    if stim_uM is not None:
        ip3[0] = stim_uM
    net = Network([Population("a", "astrocyte_lr_1994", N, {**WAVE, **params, "IP3": ip3},
                              attributes=attrs)], [gj])
    return net, np.stack([attrs["x"], attrs["y"], attrs["z"]], axis=1)


def onsets(net, dt_ms: float = 1.0) -> np.ndarray:
    res = simulate(net, RunConfig(T_MS, dt_ms=dt_ms, state_recorders=[
        StateRecorder("a", ["Ca_astro"], np.arange(N), 5.0)]))
    t, _ids, ca = res.state["a"]["Ca_astro"]
    hit = ca > ONSET_UM
    return np.where(hit.any(axis=0), t[np.argmax(hit, axis=0)], np.nan)


def reference_onsets() -> np.ndarray:
    """The same cells as an ODE system (NEST's Li–Rinzel astrocyte, PLCδ, linear IP3 gap
    junctions without delay) solved by SciPy's LSODA at tight tolerance."""
    p = dict(Ca_tot=2.0, IP3_0=0.16, K1=0.13, K2=0.9434, Ka=0.08234, Ki=1.049, Ks=0.1,
             k=0.0002, rR=0.006, rL=0.00011, rS=0.0009, q=0.185, **WAVE)

    def rhs(_t, y):
        ip3, ca, h = y[:N], np.clip(y[N:2 * N], 0.0, p["Ca_tot"]), y[2 * N:]
        er = (p["Ca_tot"] - ca) / p["q"]
        flux = np.zeros(N)
        flux[1:] += ip3[:-1] - ip3[1:]
        flux[:-1] += ip3[1:] - ip3[:-1]
        dip3 = ((p["IP3_0"] - ip3) / p["tau_IP3"]
                + p["v_PLCdelta"] * ca ** 2 / (p["K_PLCdelta"] ** 2 + ca ** 2) + F_PER_MS * flux)
        m, n = ip3 / (ip3 + p["K1"]), ca / (ca + p["Ka"])
        dca = (p["q"] * p["rR"] * m ** 3 * n ** 3 * h ** 3 * (er - ca)
               - p["rS"] * ca ** 2 / (p["Ks"] ** 2 + ca ** 2) + p["q"] * p["rL"] * (er - ca))
        dh = p["k"] * p["Ki"] * (ip3 + p["K1"]) / (ip3 + p["K2"]) * (1 - h) - p["k"] * ca * h
        return np.concatenate([dip3, dca, dh])

    y0 = np.concatenate([np.full(N, 0.16), np.full(N, 0.073), np.full(N, 0.793)])
    y0[0] = 3.0
    t = np.arange(0.0, T_MS, 5.0)
    sol = solve_ivp(rhs, (0.0, T_MS), y0, t_eval=t, method="LSODA", rtol=1e-9, atol=1e-12)
    hit = sol.y[N:2 * N] > ONSET_UM
    return np.where(hit.any(axis=1), t[np.argmax(hit, axis=1)], np.nan)


def test_wave_travels_the_chain_as_the_equations_predict():
    net, xyz = chain()
    got = onsets(net)
    want = reference_onsets()
    assert np.all(np.isfinite(got)) and np.all(np.diff(got) > 0)  # cell after cell
    # the engine's RKF45 at NEST's tolerance and 5 ms gap-junction delay vs a tight solve
    assert np.max(np.abs(got - want)[1:] / want[1:]) < 0.03, (got, want)
    speed = wave_speed_um_per_s(xyz, got)
    # intercellular calcium waves in astrocytes: about 10-30 µm/s (Cornell-Bell et al. 1990;
    # Scemes & Giaume 2006); here 30 µm between cells gives ~16 µm/s
    assert 10.0 < speed < 30.0, speed


def test_without_regeneration_the_wave_dies_and_quiet_cells_stay_quiet():
    net, _ = chain(v_PLCdelta=0.0)
    reached = np.isfinite(onsets(net)).sum()
    assert 1 < reached <= 4  # limited: IP3 diffusing alone fades within a few cells
    quiet, _ = chain(stim_uM=None)
    assert not np.isfinite(onsets(quiet)).any()


def test_the_time_step_does_not_set_the_wave():
    net, _ = chain()
    a, b = onsets(net, 1.0), onsets(net, 0.5)
    assert np.max(np.abs(a - b)) <= 20.0  # ms, against ~1.8 s per cell


def test_a_two_dimensional_wave_spreads_by_distance():
    attrs, gj = astrocyte_lattice("a", (7, 7), SPACING_UM, coupling_per_ms=F_PER_MS,
                                  delay_ms=DELAY_MS)
    ip3 = np.full(49, 0.16)
    ip3[24] = 10.0  # the centre (in 2-D its four neighbours drain it: a stronger start)
    net = Network([Population("a", "astrocyte_lr_1994", 49, {**WAVE, "IP3": ip3},
                              attributes=attrs)], [gj])
    res = simulate(net, RunConfig(8000.0, dt_ms=1.0, state_recorders=[
        StateRecorder("a", ["Ca_astro"], np.arange(49), 5.0)]))
    t, _ids, ca = res.state["a"]["Ca_astro"]
    hit = ca > ONSET_UM
    on = np.where(hit.any(axis=0), t[np.argmax(hit, axis=0)], np.nan)
    d = np.hypot(attrs["x"] - attrs["x"][24], attrs["y"] - attrs["y"][24])
    ring1 = np.isclose(d, SPACING_UM)
    ring2 = np.isclose(d, 2 * SPACING_UM)
    assert np.all(np.isfinite(on[ring1])) and np.nanmax(on[ring1]) < np.nanmin(on[ring2])
    assert np.ptp(on[ring1]) == pytest.approx(0.0, abs=1e-9)  # the lattice's symmetry
    assert np.all(np.isfinite(on))  # it reaches the corners
    far = d > 2.5 * SPACING_UM
    assert np.corrcoef(d[far], on[far])[0, 1] > 0.9
