"""Ephys: spike detection, step finding, NWB reading (real Ferguson/Lantyer files), model F-I."""

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from wbe.analysis.ephys import (
    detect_spikes,
    find_step,
    lif_fi_analytic,
    read_sweeps,
    recorded_fi,
    rheobase,
)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
FERGUSON = DATA / "nwb" / "ferguson2015"
LANTYER = DATA / "nwb" / "lantyer2018"
needs_data = pytest.mark.skipif(not FERGUSON.exists(),
                                reason="shared data ../shared/data/nwb not present")


def test_detect_spikes_threshold_and_refractory():
    rate = 10000.0
    v = np.full(10000, -65.0)
    for k in (1000, 1005, 3000, 5000):  # 1005 is 0.5 ms after 1000: a ringing re-crossing
        v[k:k + 3] = 20.0
    t = detect_spikes(v, rate, threshold_mV=0.0, refractory_ms=2.0)
    assert t.tolist() == pytest.approx([100.0, 300.0, 500.0])
    assert len(detect_spikes(v, rate, threshold_mV=30.0)) == 0


def test_find_step_ignores_transients():
    rate = 10000.0
    i = np.full(20000, -70.0)
    i[1000:11000] = 100.0
    i[1000:1003] = 600.0  # capacitive transient at onset
    i[11000:11003] = -600.0
    a, b, base, cur = find_step(i, rate_hz=rate)
    assert abs(a - 1000) <= 3 and abs(b - 11000) <= 3
    assert base == pytest.approx(-70.0)
    assert cur == pytest.approx(100.0, abs=2.0)
    assert find_step(np.zeros(1000), rate_hz=rate)[:2] == (0, 0)


def test_rheobase():
    assert rheobase([10, 20, 30], [0, 0, 5]) == 30.0
    assert rheobase([10, 20], [0, 0]) is None


def test_lif_analytic_values():
    # R I = 16 mV for 400 pA with tau_m 10 ms, C_m 250 pF; threshold distance 15 mV
    f = lif_fi_analytic([300.0, 400.0], C_m=250, tau_m=10, t_ref=2, E_L=-65, V_th=-50,
                        V_reset=-65)
    assert f[0] == 0.0
    assert f[1] == pytest.approx(1e3 / (2 + 10 * np.log(16 / 1)))


def test_not_nwb_raises_naming_file(tmp_path):
    bad = tmp_path / "bad.nwb"
    bad.write_bytes(b"this is not hdf5")
    with pytest.raises(ValueError, match="bad.nwb"):
        read_sweeps(bad)
    with pytest.raises(FileNotFoundError, match="missing.nwb"):
        read_sweeps(tmp_path / "missing.nwb")


def test_wrong_type_nwb_raises(tmp_path):
    from pynwb import NWBHDF5IO, NWBFile, TimeSeries

    nwb = NWBFile(session_description="t", identifier="x",
                  session_start_time=datetime(2020, 1, 1, tzinfo=UTC))
    nwb.add_acquisition(TimeSeries(name="ts", data=np.zeros(10), unit="m", rate=10.0))
    path = tmp_path / "wrong.nwb"
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    with pytest.raises(ValueError, match=r"wrong\.nwb.*no CurrentClampSeries"):
        read_sweeps(path)


@needs_data
def test_ferguson_pyr2_fi():
    df = recorded_fi(FERGUSON / "FergusonEtAl2015_PYR2.nwb")
    assert len(df) == 13
    # 1 s steps from a holding current of about -74 pA, in 25 pA increments
    assert np.allclose(df["step_duration_ms"], 1000.0, atol=1.0)
    assert df["baseline_pA"].between(-81, -70).all()
    assert np.allclose(np.diff(df["delta_pA"]), 25.0, atol=2.0)
    # membrane potential in mV, spikes overshoot 0 mV
    rates = df["rate_hz"].to_numpy()
    assert rates[:2].tolist() == [0.0, 0.0] and rates.max() == 10.0
    assert rheobase(df["current_pA"], rates) == pytest.approx(1.2, abs=1.0)
    assert rheobase(df["delta_pA"], rates) == pytest.approx(75.0, abs=1.0)


@needs_data
def test_ferguson_rebound_cell_hyperpolarising():
    df = recorded_fi(FERGUSON / "FergusonEtAl2015_PYR5_rebound.nwb")
    assert (df["delta_pA"] < 0).all()
    assert (df["n_spikes"] == 0).all()  # silent during hyperpolarising steps
    assert (df["n_spikes_total"] > 0).all()  # firing at the +50 pA holding / rebound


@needs_data
def test_lantyer_fi():
    if not LANTYER.exists():
        pytest.skip("Lantyer data not present")
    df = recorded_fi(LANTYER / "LantyerEtAl2018_180817_ME_9_CC.nwb")
    assert np.allclose(df["step_duration_ms"], 500.0, atol=1.0)
    assert df["rate_hz"].tolist()[:4] == [0.0, 0.0, 0.0, 18.0]
    assert df["rate_hz"].iloc[-1] == pytest.approx(92.0)


def test_model_fi_matches_lif_closed_form():
    from wbe.analysis.ephys import model_fi_curve

    p = dict(C_m=250.0, tau_m=10.0, t_ref=2.0, E_L=-65.0, V_th=-50.0, V_reset=-65.0,
             V_m=-65.0)
    currents = np.array([0.0, 300.0, 380.0, 400.0, 500.0, 700.0, 1000.0])
    dur, dt = 2000.0, 0.1
    f = model_fi_curve("iaf_psc_exp", p, currents, duration_ms=dur, dt_ms=dt)
    lif = {k: v for k, v in p.items() if k != "V_m"}
    fa = lif_fi_analytic(currents, **lif)
    firing = fa > 0
    assert firing.tolist() == [False, False, True, True, True, True, True]  # rheobase 375 pA
    assert f[~firing].tolist() == [0.0, 0.0]
    # grid-time dynamics: the interval is the analytic one rounded up to the step
    period = 1e3 / fa[firing]
    f_grid = 1e3 / (np.ceil(period / dt - 1e-9) * dt)
    assert np.all(np.abs(f[firing] - f_grid) <= 1.0 / (dur / 1e3) + 1e-9)
    assert np.allclose(f[firing], fa[firing], rtol=0.03)
