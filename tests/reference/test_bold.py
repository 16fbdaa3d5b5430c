"""The Balloon–Windkessel model against independent integrations of the published equations:
a stiff solver (scipy's Radau at tight tolerance, written here from the equations), TVB's
``BalloonModel`` (tvb-library) and neurolib's ``simulateBOLD``, run beside wbe."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from wbe.cli import main
from wbe.hemodynamics.balloon import (
    PARAMETER_SETS,
    Balloon,
    _integrate,
    balloon_params,
    simulate_bold,
)

T_S = 30.0  # long enough for every set's undershoot to pass its minimum


def _boxcar(dt_ms: float, on_s: float = 1.0, amp: float = 1.0) -> np.ndarray:
    x = np.zeros(int(round(T_S * 1000 / dt_ms)))
    x[:int(round(on_s * 1000 / dt_ms))] = amp
    return x


def _radau(p, on_s: float, amp: float, t_eval: np.ndarray) -> np.ndarray:
    """BOLD of a boxcar (``amp`` for t < on_s) by a stiff solver on the published equations in
    f, v, q themselves (not wbe's logarithms), split at the input's step."""

    def rhs(_t, y, x):
        s, f, v, q = y
        fout = v ** (1 / p.alpha)
        return [x - p.kappa_per_s * s - p.gamma_per_s * (f - 1), s, (f - fout) / p.tau_s,
                (f * (1 - (1 - p.E0) ** (1 / f)) / p.E0 - fout * q / v) / p.tau_s]

    on, off = t_eval[t_eval <= on_s], t_eval[t_eval > on_s]
    a = solve_ivp(rhs, (0, on_s), [0, 1, 1, 1], method="Radau", rtol=1e-11, atol=1e-13,
                  t_eval=on, args=(amp,))
    b = solve_ivp(rhs, (on_s, t_eval[-1]), a.y[:, -1], method="Radau", rtol=1e-11,
                  atol=1e-13, t_eval=off, args=(0.0,))
    _s, _f, v, q = np.hstack([a.y, b.y])
    return p.V0 * (p.k1 * (1 - q) + p.k2 * (1 - q / v) + p.k3 * (1 - v))


def _features(t: np.ndarray, bold: np.ndarray) -> dict[str, float]:
    i = int(np.argmax(bold))
    j = i + int(np.argmin(bold[i:]))
    return {"peak_time_s": t[i], "peak": bold[i], "undershoot_time_s": t[j],
            "undershoot": bold[j]}


@pytest.mark.parametrize("name", sorted(PARAMETER_SETS))
def test_boxcar_response_matches_a_stiff_solver(name):
    """1-s boxcar: peak time, peak, undershoot time and undershoot within 0.05 s and 1 % of
    an independent Radau solve (the whole trace agrees far closer)."""
    p = PARAMETER_SETS[name]
    res = simulate_bold(_boxcar(1.0), 1.0, name)
    ref = _radau(p, 1.0, 1.0, res.t_s)
    got, want = _features(res.t_s, res.bold), _features(res.t_s, ref)
    for key in ("peak_time_s", "undershoot_time_s"):
        assert abs(got[key] - want[key]) <= 0.05, (key, got, want)
    for key in ("peak", "undershoot"):
        assert got[key] == pytest.approx(want[key], rel=0.01), (key, got, want)
    assert want["undershoot"] < 0 < want["peak"]  # a real response: a peak then undershoot
    assert np.max(np.abs(res.bold - ref)) < 1e-8 * want["peak"]


def test_named_sets_differ_as_published():
    """The three sets give distinct responses, with the published shapes: the classic set peaks
    near 3.4 s (Friston 2000's Fig.), the revised sets report percent."""
    feats = {n: _features(*(lambda r: (r.t_s, r.bold))(simulate_bold(_boxcar(10.0), 10.0, n)))
             for n in PARAMETER_SETS}
    assert PARAMETER_SETS["friston2000"].unit == "fraction"
    assert PARAMETER_SETS["tvb"].unit == PARAMETER_SETS["stephan2007"].unit == "%"
    assert 3.0 < feats["friston2000"]["peak_time_s"] < 4.0
    assert feats["stephan2007"]["peak_time_s"] > feats["tvb"]["peak_time_s"] + 1.0  # τ = 2 s
    p = PARAMETER_SETS["stephan2007"]
    assert (p.k1, p.k2, p.k3) == pytest.approx((4.3 * 40.3 * 0.4 * 0.04, 25 * 0.4 * 0.04, 0))


def test_tvb_balloon_model_agrees():
    """TVB's BalloonModel (Heun at the input's 1 ms step, its defaults) on the same drive.
    TVB holds sample n over the interval ending at n (wbe: starting at n), so TVB is given the
    drive one sample later and its first (resting) sample is dropped."""
    pytest.importorskip("tvb.analyzers.fmri_balloon")
    from tvb.analyzers.fmri_balloon import BalloonModel
    from tvb.datatypes.time_series import TimeSeries

    dt = 1.0
    x = np.stack([_boxcar(dt), _boxcar(dt, on_s=2.0, amp=0.5)], axis=1)[:20000]
    inp = np.concatenate([np.zeros((1, 2)), x])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ts = TimeSeries(data=inp[:, None, :, None], time=np.arange(inp.shape[0]) * dt,
                        sample_period=dt, sample_period_unit="ms")
        ts.configure()
        tvb_bold = BalloonModel(time_series=ts).evaluate().data[1:, 0, :, 0]
    ours = simulate_bold(x, dt, "tvb").bold
    peak = np.abs(ours).max(axis=0)
    assert np.all(np.abs(tvb_bold - ours).max(axis=0) < 1e-5 * peak)
    assert np.array_equal(np.argmax(tvb_bold, axis=0), np.argmax(ours, axis=0))


def test_neurolib_simulate_bold_agrees():
    """neurolib's simulateBOLD (Friston 2003's set, forward Euler) at a 0.1 ms drive."""
    tl = pytest.importorskip("neurolib.models.bold.timeIntegration")
    dt = 0.1
    x = np.stack([_boxcar(dt), _boxcar(dt, on_s=0.5, amp=3.0)])[:, :150000]
    n = x.shape[0]
    theirs, *_ = tl.simulateBOLD(x, dt * 1e-3, np.ones(n), X=np.zeros(n), F=np.ones(n),
                                 Q=np.ones(n), V=np.ones(n))
    ours = simulate_bold(x.T, dt, "friston2000").bold
    peak = np.abs(ours).max(axis=0)
    assert np.all(np.abs(theirs.T - ours).max(axis=0) < 2e-4 * peak)  # Euler's error


def test_pieces_equal_one_call_bit_for_bit_and_tr_samples_every_sample():
    rng = np.random.default_rng(3)
    drive = rng.gamma(2.0, 1.0, size=(5000, 3))
    whole = simulate_bold(drive, 1.0, "stephan2007", tr_s=0.72)
    b = Balloon(3, 1.0, "stephan2007", tr_s=0.72)
    ts, bs, i = [], [], 0
    for n in (1, 719, 1, 1000, 3, 3276):
        t, y = b.feed(drive[i:i + n])
        ts.append(t)
        bs.append(y)
        i += n
    assert i == drive.shape[0]
    assert np.array_equal(np.concatenate(ts), whole.t_s)
    assert np.array_equal(np.concatenate(bs), whole.bold)
    every = simulate_bold(drive, 1.0, "stephan2007")
    assert np.array_equal(every.bold[719::720], whole.bold)
    assert np.allclose(whole.t_s, 0.72 * np.arange(1, 7))
    # checkpoint: state and position restore exactly
    b2 = Balloon(3, 1.0, "stephan2007", tr_s=0.72)
    b2.feed(drive[:1500])
    b3 = Balloon(3, 1.0, "stephan2007", tr_s=0.72)
    b3.load(b2.arrays())
    t, y = b3.feed(drive[1500:])
    assert np.array_equal(y, whole.bold[2:])


def test_compiled_kernel_equals_its_python_twin():
    p = balloon_params("tvb")
    drive = np.random.default_rng(0).normal(0.5, 1.0, size=(300, 2))
    args = (drive, 0.005, 3, 7, 2, p.kappa_per_s, p.gamma_per_s, p.tau_s, p.alpha, p.E0,
            p.V0, p.k1, p.k2, p.k3)
    y1, y2 = np.zeros((4, 2)), np.zeros((4, 2))
    o1, o2 = np.zeros((43, 2)), np.zeros((43, 2))
    assert _integrate(*args, y1, o1) == _integrate.py_func(*args, y2, o2) == 43
    assert np.allclose(o1, o2, rtol=1e-13, atol=0) and np.allclose(y1, y2, rtol=1e-13)


def test_strong_drive_stays_positive_and_rest_stays_at_rest():
    res = simulate_bold(np.full(2000, 50.0), 10.0, "friston2000")
    assert np.all(np.isfinite(res.bold)) and np.all(res.state[1:] > 0)
    rest = simulate_bold(np.zeros((100, 2)), 10.0, "tvb")
    assert np.array_equal(rest.bold, np.zeros((100, 2)))


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="TR .* multiple"):
        simulate_bold(np.zeros(10), 1.0, tr_s=0.0015)
    with pytest.raises(ValueError, match="not finite at sample 3"):
        simulate_bold(np.array([0, 0, 0, np.nan]), 1.0)
    with pytest.raises(ValueError, match="unknown Balloon parameter set 'spm'"):
        simulate_bold(np.zeros(10), 1.0, "spm")
    with pytest.raises(ValueError, match="unknown field"):
        balloon_params({"base": "tvb", "tau": 2.0})
    assert balloon_params({"base": "tvb", "tau_s": 2.0}).tau_s == 2.0


def test_cli_prints_json_and_writes_parquet(tmp_path, capsys):
    x = _boxcar(10.0)[:600]
    np.save(tmp_path / "x.npy", x)
    assert main(["bold", "--signal", str(tmp_path / "x.npy"), "--dt-ms", "10",
                 "--params", "friston2000", "--tr-s", "0.5"]) == 0
    out = json.loads(capsys.readouterr().out)
    want = simulate_bold(x, 10.0, "friston2000", tr_s=0.5)
    assert out["t_s"] == pytest.approx(want.t_s.tolist())
    assert out["bold"] == want.bold.tolist() and out["unit"] == "fraction"
    np.save(tmp_path / "x2.npy", np.stack([x, 2 * x], axis=1))
    assert main(["bold", "--signal", str(tmp_path / "x2.npy"), "--dt-ms", "10",
                 "--params", "stephan2007"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["bold"]) == 2 and len(out["bold"][0]) == 600
    import pandas as pd

    assert main(["bold", "--signal", str(tmp_path / "x2.npy"), "--dt-ms", "10", "--params",
                 "tvb", "--out", str(tmp_path / "b.parquet")]) == 0
    table = pd.read_parquet(tmp_path / "b.parquet")
    assert list(table.columns) == ["t_s", "bold_0", "bold_1"]
    assert np.array_equal(table["bold_1"].to_numpy(),
                          simulate_bold(np.stack([x, 2 * x], 1), 10.0, "tvb").bold[:, 1])
    np.save(tmp_path / "bad.npy", np.zeros((2, 2, 2)))
    assert main(["bold", "--signal", str(tmp_path / "bad.npy"), "--dt-ms", "1"]) == 1
    assert "bad.npy: expected a numeric 1-D" in capsys.readouterr().err


def test_flow_driven_balloon_matches_a_stiff_solver():
    """The venous half driven by a given inflow (a vessel network's), held over each sample:
    a rise, then an occlusion-like fall to 30 % and recovery, against Radau piece by piece."""
    from wbe.hemodynamics.balloon import FlowBalloon

    p = PARAMETER_SETS["tvb"]
    dt_ms = 20.0
    t = np.arange(600) * dt_ms / 1000.0
    f = 1.0 + 0.4 * np.exp(-((t - 2.0) / 0.8) ** 2) - 0.7 * ((t > 5.0) & (t < 8.0))
    got = FlowBalloon(1, "tvb", max_step_ms=2.0).feed(f[:, None], dt_ms)[:, 0]

    def rhs(_t, y, fi):
        v, q = y
        fout = v ** (1 / p.alpha)
        return [(fi - fout) / p.tau_s,
                (fi * (1 - (1 - p.E0) ** (1 / fi)) / p.E0 - fout * q / v) / p.tau_s]

    y, want = np.array([1.0, 1.0]), []
    for fi in f:
        sol = solve_ivp(rhs, (0, dt_ms / 1000.0), y, method="Radau", rtol=1e-11, atol=1e-13,
                        args=(fi,))
        y = sol.y[:, -1]
        want.append(p.V0 * (p.k1 * (1 - y[1]) + p.k2 * (1 - y[1] / y[0]) + p.k3 * (1 - y[0])))
    want = np.array(want)
    assert np.max(np.abs(got - want)) < 1e-8 * np.max(np.abs(want))
    assert want.min() < 0 < want.max()  # the fall of flow shows as a negative BOLD
