"""Engine unit tests: counter RNG, analytic LIF solutions, numba == NumPy kernels, checkpoint
resume identity, STDP pair rule, errors."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from wbe.engine import rng
from wbe.engine.network import (
    Network,
    Plasticity,
    Population,
    Projection,
    RunConfig,
    SpikeTrainInput,
    StateRecorder,
)
from wbe.engine.registry import CELLS
from wbe.engine.simulator import simulate

_spec = importlib.util.spec_from_file_location(
    "engine_case", Path(__file__).parent.parent / "mpi" / "engine_case.py")
case = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(case)


# ------------------------------------------------------------------------------------ rng
def test_poisson_numba_equals_numpy_and_distribution():
    gid = np.arange(50_000)
    for lam in (0.0, 0.05, 1.28, 30.0, 1234.5):
        a = rng.poisson(11, 3, 17, gid, np.full(gid.size, lam))
        b = rng.poisson(11, 3, 17, gid, np.full(gid.size, lam), use_numba=False)
        assert np.array_equal(a, b)
        se = np.sqrt(lam / gid.size) if lam else 1e-12
        assert abs(a.mean() - lam) < 5 * se + 1e-12
        if lam:
            assert abs(a.var() / lam - 1) < 0.05
    # pure function of the key; different steps/purposes differ
    assert np.array_equal(rng.poisson(11, 3, 17, gid[10:20], 1.0),
                          rng.poisson(11, 3, 17, gid, 1.0)[10:20])
    assert not np.array_equal(rng.poisson(11, 3, 18, gid, 1.0), rng.poisson(11, 3, 17, gid, 1.0))


def test_edge_keys_name_an_edge_wherever_it_lives():
    """Stochastic synapses' stream keys: unchanged by reordering edges (SONATA sorts them by
    target, then source, keeping multapses in order) or by which subset a rank holds; distinct
    for multapses and across projections."""
    r = np.random.default_rng(4)
    src, tgt = r.integers(0, 30, 2000), r.integers(0, 30, 2000)  # many multapses
    k = rng.edge_keys("p", src, tgt)
    assert np.unique(k).size == k.size
    order = np.lexsort((src, tgt))  # stable, as the SONATA writer
    assert np.array_equal(rng.edge_keys("p", src[order], tgt[order]), k[order])
    mine = tgt % 2 == 0  # a rank's share: every multapse of a pair shares its target
    assert np.array_equal(rng.edge_keys("p", src[mine], tgt[mine]), k[mine])
    assert not np.any(np.isin(rng.edge_keys("q", src, tgt), k))


# ------------------------------------------------------------------------------ analytic
@pytest.mark.parametrize("model", ["iaf_psc_exp", "iaf_psc_delta", "iaf_psc_alpha"])
def test_dc_first_spike_and_fi_curve(model):
    """LIF under DC: V(t) = E_L + I·R·(1 − e^{−t/τ}); first spike at the first grid point past
    t* = −τ ln(1 − θ/(I R)); then one spike every t_ref + t* (V_reset = E_L)."""
    dt, tau, C, tref = 0.1, 10.0, 250.0, 2.0
    currents = np.array([400.0, 500.0, 800.0, 1500.0])
    net = Network([Population("n", model, 4, {"I_e": currents})])
    res = simulate(net, RunConfig(500.0, dt_ms=dt))
    t, i = res.spikes["n"]
    for j, cur in enumerate(currents):
        tstar = -tau * np.log(1 - 15.0 / (cur * tau / C))
        ksteps = int(np.ceil(tstar / dt - 1e-9))
        tj = t[i == j]
        assert tj[0] == pytest.approx(ksteps * dt, abs=1e-9)
        isi = np.diff(tj)
        assert np.allclose(isi, (ksteps + round(tref / dt)) * dt, atol=1e-9)


def test_psc_exp_psp_matches_closed_form():
    """A single spike of J pA: V − E_L = J/C · τs τm/(τm−τs) · (e^{−t/τm} − e^{−t/τs})."""
    J, C, tm, ts = 100.0, 250.0, 10.0, 2.0
    net = Network(
        [Population("n", "iaf_psc_exp", 1), Population("s", "virtual", 1)],
        [Projection("p", "s", "n", np.array([0]), np.array([0]), np.array([J]), np.array([1.0]))],
        spike_trains=[SpikeTrainInput("st", "s", np.array([0]), np.array([1.0]))])
    res = simulate(net, RunConfig(40.0, state_recorders=[StateRecorder("n", ["V_m"], [0], 0.1)]))
    times, _, v = res.state["n"]["V_m"]
    s = np.clip(times - 2.0, 0, None)  # spike at 1.0 ms + delay 1.0 ms
    ref = -70.0 + J / C * ts * tm / (tm - ts) * (np.exp(-s / tm) - np.exp(-s / ts))
    assert np.max(np.abs(v[:, 0] - ref)) < 1e-12
    peak = J / C * ts * tm / (tm - ts) * ((ts / tm) ** (ts / (tm - ts)) - (ts / tm) ** (tm / (tm - ts)))
    assert v[:, 0].max() + 70.0 == pytest.approx(peak, rel=1e-4)  # on the 0.1 ms grid


# ------------------------------------------------------------------------------ engine
def test_numba_and_numpy_kernels_identical():
    """Every component's NumPy reference (cells, Poisson, currents, static and STDP delivery)
    equals the compiled loop bit for bit."""
    net = case.build()
    a = case.flatten(simulate(net, case.run_config(60.0)))
    b = case.flatten(simulate(net, case.run_config(60.0), use_numba=False))
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k


def test_checkpoint_resume_bit_identical(tmp_path):
    full = case.flatten(simulate(case.build(), case.run_config(80.0), checkpoint=tmp_path / "f"))
    first = case.flatten(simulate(case.build(), case.run_config(33.3), checkpoint=tmp_path / "h"))
    second = case.flatten(simulate(case.build(), case.run_config(80.0), restore=tmp_path / "h",
                                   checkpoint=tmp_path / "g"))
    for k in full:
        if k.startswith("weights/"):
            assert np.array_equal(second[k], full[k])
        else:
            assert np.array_equal(np.concatenate((first[k], second[k])), full[k]), k
    from wbe.engine import checkpoint as ck

    fa, fd = ck.read(tmp_path / "f")
    ga, gd = ck.read(tmp_path / "g")
    assert fa["step"] == ga["step"] == 800
    for k in fd:
        assert np.array_equal(fd[k], gd[k]), k


def test_unknown_model_lists_known():
    with pytest.raises(ValueError, match="iaf_psc_exp"):
        CELLS.get("no_such_model")
    with pytest.raises(ValueError, match="no parameter"):
        simulate(Network([Population("n", "iaf_psc_exp", 2, {"tau_x": 1.0})]), RunConfig(1.0))


def test_delay_below_dt_rejected():
    net = Network([Population("n", "iaf_psc_exp", 2)],
                  [Projection("p", "n", "n", np.array([0]), np.array([1]), np.array([1.0]),
                              np.array([0.0]))])
    with pytest.raises(ValueError, match="delays"):
        simulate(net, RunConfig(1.0))


# ------------------------------------------------------------------------------ STDP
RULE = {"tau_plus": 20.0, "tau_minus": 15.0, "lambda": 0.1, "alpha": 1.2, "mu_plus": 0.0,
        "mu_minus": 0.0, "Wmax": 5.0}


def stdp_pair_network(t_pre: list[float], t_post_drive: list[float], d_ms: float, rule: dict):
    """pre (virtual) → post (iaf_psc_delta) plastic with weight 1 mV; post is forced to spike
    at t + 1 ms for each t in ``t_post_drive`` by a 100 mV static input with 1 ms delay."""
    return Network(
        [Population("post", "iaf_psc_delta", 1), Population("pre", "virtual", 1),
         Population("drive", "virtual", 1)],
        [Projection("syn", "pre", "post", np.array([0]), np.array([0]), np.array([1.0]),
                    np.array([d_ms]), plasticity=Plasticity("stdp_synapse", rule)),
         Projection("kick", "drive", "post", np.array([0]), np.array([0]), np.array([100.0]),
                    np.array([1.0]))],
        spike_trains=[SpikeTrainInput("a", "pre", np.zeros(len(t_pre), np.int64), np.array(t_pre)),
                      SpikeTrainInput("b", "drive", np.zeros(len(t_post_drive), np.int64),
                                      np.array(t_post_drive))])


def nest_pair_rule(t_pre, t_post, d, r: dict, w0=1.0):
    """Straight transcription of NEST stdp_synapse::send for sorted spike lists."""
    w, kplus, t_last, wmax, lam = w0, 0.0, 0.0, r["Wmax"], r["lambda"]
    for tp in t_pre:
        for tq in [x for x in t_post if t_last - d < x <= tp - d]:
            kp = kplus * np.exp((t_last - (tq + d)) / r["tau_plus"])
            nw = w / wmax + lam * (1.0 - w / wmax) ** r["mu_plus"] * kp
            w = min(nw, 1.0) * wmax
        before = [x for x in t_post if x < tp - d]
        km = sum(np.exp(-(tp - d - x) / r["tau_minus"]) for x in before)
        w = max(w / wmax - r["alpha"] * lam * (w / wmax) ** r["mu_minus"] * km, 0.0) * wmax
        kplus = kplus * np.exp((t_last - tp) / r["tau_plus"]) + 1.0
        t_last = tp
    return w


@pytest.mark.parametrize("mu", [0.0, 1.0, 0.4])
@pytest.mark.parametrize("t_post_drive", [[9.0], [14.0], [5.0, 19.0, 30.0]])
def test_stdp_pair_matches_nest_rule(t_post_drive, mu):
    rule = {**RULE, "mu_plus": mu, "mu_minus": mu}
    t_pre, d = [10.0, 25.0, 60.0], 1.5
    res = simulate(stdp_pair_network(t_pre, t_post_drive, d, rule), RunConfig(80.0))
    t_post = res.spikes["post"][0]
    assert np.allclose(t_post, np.array(t_post_drive) + 1.0)
    expected = nest_pair_rule(t_pre, list(t_post), d, rule)
    assert res.weights["syn"][0] == pytest.approx(expected, rel=1e-12)
    assert res.weights["syn"][0] != 1.0


def test_rkf45_closures_have_distinct_symbol_names():
    """Every model's RKF45 ``evolve`` (a closure of ``rkf45.make_evolve``) is named after its
    right-hand side: numba names compiled code by module, qualified name, types and a
    per-process counter, so same-named closures could collide when kernels come from the cache
    in another order — a kernel then calls another model's right-hand side."""
    import importlib
    import pkgutil

    import wbe.engine.cells as cells

    names = {}
    for info in pkgutil.iter_modules(cells.__path__):
        mod = importlib.import_module(f"wbe.engine.cells.{info.name}")
        ev = getattr(mod, "_evolve", None)
        if ev is not None:
            names[info.name] = ev.py_func.__qualname__
    assert len(names) >= 6 and len(set(names.values())) == len(names)
    for mod, q in names.items():
        assert f"wbe.engine.cells.{mod}._rhs" in q, q
