"""Current-clamp electrophysiology: read NWB sweeps, detect spikes, F-I curves — recorded and
model.

NWB layout (as in the Ferguson 2015 / Lantyer 2018 files converted by OpenSourceBrain): every
sweep is a ``CurrentClampSeries`` in ``acquisition`` (membrane potential, unit volts) with a
``CurrentClampStimulusSeries`` of the same sweep in ``stimulus`` (injected current, amperes);
they are paired by ``sweep_number`` (else by name: ``CurrentClampSeries_07`` ↔
``CurrentClampStimulusSeries_07``). Data are converted with the series' ``conversion`` and
``offset`` and its ``unit`` to mV and pA; the membrane potential must then look physiological
(median within [-120, 0] mV) or a :class:`ValueError` names the file and sweep.

The step of a sweep is the longest run of samples whose current departs from the pre-step
baseline (median of the first 2 % of samples) by more than half of the largest departure; its
current is reported both as the absolute injected current (``current_pA``, what the cell
receives, holding current included) and relative to the baseline (``delta_pA``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

_V_SCALE_TO_MV = {"volts": 1e3, "volt": 1e3, "v": 1e3, "millivolts": 1.0, "mv": 1.0}
_I_SCALE_TO_PA = {"amperes": 1e12, "ampere": 1e12, "a": 1e12, "nanoamperes": 1e3, "na": 1e3,
                  "picoamperes": 1.0, "pa": 1.0}


@dataclass
class Sweep:
    """One current-clamp sweep: membrane potential ``v_mV`` and injected current ``i_pA``
    sampled at ``rate_hz`` from ``t0_s``."""

    name: str
    sweep_number: int | None
    v_mV: np.ndarray
    i_pA: np.ndarray
    rate_hz: float
    t0_s: float

    @property
    def t_ms(self) -> np.ndarray:
        """Sample times (ms)."""
        return self.t0_s * 1e3 + np.arange(len(self.v_mV)) * 1e3 / self.rate_hz


def _scaled(series, table: dict, path: Path, what: str) -> np.ndarray:
    unit = str(series.unit).strip().lower()
    if unit not in table:
        raise ValueError(f"{path}: {series.name}: unit {series.unit!r} of {what} not understood "
                         f"(expected one of {sorted(table)})")
    data = np.asarray(series.data[:], dtype=np.float64)
    conv = float(series.conversion if series.conversion is not None else 1.0)
    off = float(getattr(series, "offset", 0.0) or 0.0)
    return (data * conv + off) * table[unit]


def read_sweeps(path: Path) -> list[Sweep]:
    """All current-clamp sweeps of the NWB file at ``path`` (read-only), in sweep order.

    Raises ValueError naming the file if it cannot be read as NWB, has no CurrentClampSeries,
    a sweep has no matching stimulus, or units/values are implausible."""
    from pynwb import NWBHDF5IO
    from pynwb.icephys import CurrentClampSeries

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: NWB file not found")
    try:
        io = NWBHDF5IO(str(path), mode="r", load_namespaces=True)
        nwb = io.read()
    except Exception as e:  # h5py/hdmf raise many kinds
        raise ValueError(f"{path}: not a readable NWB file ({type(e).__name__}: {e})") from e
    try:
        acq = [s for s in nwb.acquisition.values() if isinstance(s, CurrentClampSeries)]
        if not acq:
            kinds = sorted({type(s).__name__ for s in nwb.acquisition.values()})
            raise ValueError(f"{path}: no CurrentClampSeries in acquisition (found {kinds}); "
                             "expected a current-clamp recording")
        stims = list(nwb.stimulus.values())
        by_num = {getattr(s, "sweep_number", None): s for s in stims
                  if getattr(s, "sweep_number", None) is not None}
        by_name = {s.name: s for s in stims}
        out = []
        for s in acq:
            num = getattr(s, "sweep_number", None)
            st = by_num.get(num) if num is not None else None
            if st is None:
                st = by_name.get(s.name.replace("CurrentClampSeries", "CurrentClampStimulusSeries"))
            if st is None:
                raise ValueError(f"{path}: sweep {s.name}: no stimulus series found "
                                 "(matched by sweep_number and by name)")
            v = _scaled(s, _V_SCALE_TO_MV, path, "membrane potential")
            i = _scaled(st, _I_SCALE_TO_PA, path, "stimulus current")
            if len(v) != len(i):
                raise ValueError(f"{path}: sweep {s.name}: {len(v)} voltage samples but "
                                 f"{len(i)} current samples")
            med = float(np.median(v))
            if not -120.0 <= med <= 0.0:
                raise ValueError(f"{path}: sweep {s.name}: median membrane potential {med:.4g} mV "
                                 "after unit conversion is not physiological; check unit/"
                                 "conversion")
            if s.rate is None:
                raise ValueError(f"{path}: sweep {s.name}: no sampling rate (timestamps only "
                                 "are not supported)")
            out.append(Sweep(s.name, None if num is None else int(num), v, i, float(s.rate),
                             float(s.starting_time or 0.0)))
    finally:
        io.close()
    out.sort(key=lambda w: (w.sweep_number if w.sweep_number is not None else 0, w.name))
    return out


def detect_spikes(v_mV: np.ndarray, rate_hz: float, *, threshold_mV: float = 0.0,
                  refractory_ms: float = 2.0) -> np.ndarray:
    """Spike times (ms from the first sample): upward crossings of ``threshold_mV``, the next
    crossing counted only after ``refractory_ms`` (and after V fell below threshold)."""
    v = np.asarray(v_mV, dtype=np.float64)
    up = np.flatnonzero((v[1:] >= threshold_mV) & (v[:-1] < threshold_mV)) + 1
    if len(up) == 0:
        return np.zeros(0)
    t = up * 1e3 / rate_hz
    keep = [0]
    for k in range(1, len(t)):
        if t[k] - t[keep[-1]] >= refractory_ms:
            keep.append(k)
    return t[np.asarray(keep)]


def find_step(i_pA: np.ndarray, *, rate_hz: float = 10000.0, min_step_pA: float = 2.0,
              smooth_ms: float = 5.0) -> tuple[int, int, float, float]:
    """(onset sample, offset sample (exclusive), baseline current pA, mean current during the
    step pA) of the main current step; onset = offset = 0 if no step exceeds ``min_step_pA``.
    The current is median-filtered over ``smooth_ms`` first, so that brief capacitive
    transients of the recorded command (sub-ms, hundreds of pA) are not taken for the step."""
    from scipy.ndimage import median_filter

    raw = np.asarray(i_pA, dtype=np.float64)
    w = max(1, int(round(smooth_ms * 1e-3 * rate_hz)) | 1)
    i = median_filter(raw, size=w, mode="nearest") if w > 1 else raw
    n0 = max(10, int(0.02 * len(i)))
    base = float(np.median(i[:n0]))
    d = i - base
    k = int(np.argmax(np.abs(d)))
    amp = d[k]
    if abs(amp) < min_step_pA:
        return 0, 0, base, base
    on = (d * np.sign(amp)) > 0.5 * abs(amp)
    # longest run of True
    edges = np.diff(np.concatenate([[0], on.astype(np.int8), [0]]))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    j = int(np.argmax(stops - starts))
    a, b = int(starts[j]), int(stops[j])
    return a, b, base, float(np.mean(raw[a:b]))


def fi_from_sweeps(sweeps: list[Sweep], *, threshold_mV: float = 0.0,
                   refractory_ms: float = 2.0) -> pd.DataFrame:
    """Recorded F-I table, one row per sweep: ``sweep``, ``current_pA`` (mean absolute injected
    current during the step), ``baseline_pA``, ``delta_pA`` (step minus baseline),
    ``step_start_ms``, ``step_duration_ms``, ``n_spikes`` (during the step), ``rate_hz``
    (spikes/s during the step), ``n_spikes_total`` (whole sweep)."""
    rows = []
    for s in sweeps:
        a, b, base, cur = find_step(s.i_pA, rate_hz=s.rate_hz)
        spikes = detect_spikes(s.v_mV, s.rate_hz, threshold_mV=threshold_mV,
                               refractory_ms=refractory_ms)
        t_on, t_off = a * 1e3 / s.rate_hz, b * 1e3 / s.rate_hz
        n_in = int(np.sum((spikes >= t_on) & (spikes < t_off)))
        dur = t_off - t_on
        rows.append({
            "sweep": s.name, "sweep_number": s.sweep_number, "current_pA": cur,
            "baseline_pA": base, "delta_pA": cur - base, "step_start_ms": t_on,
            "step_duration_ms": dur, "n_spikes": n_in,
            "rate_hz": n_in / (dur / 1e3) if dur > 0 else np.nan,
            "n_spikes_total": int(len(spikes)),
        })
    return pd.DataFrame(rows)


def recorded_fi(path: Path, *, threshold_mV: float = 0.0, refractory_ms: float = 2.0
                ) -> pd.DataFrame:
    """F-I table (see :func:`fi_from_sweeps`) of the NWB file at ``path``, column ``file``."""
    df = fi_from_sweeps(read_sweeps(path), threshold_mV=threshold_mV,
                        refractory_ms=refractory_ms)
    df.insert(0, "file", Path(path).name)
    return df


def rheobase(currents_pA: np.ndarray, rates_hz: np.ndarray) -> float | None:
    """Smallest current (pA) with a rate > 0; None if none fires."""
    c, r = np.asarray(currents_pA, float), np.asarray(rates_hz, float)
    firing = c[r > 0]
    return float(firing.min()) if len(firing) else None


def model_fi_curve(model: str, params: dict, currents_pA, duration_ms: float = 1000.0,
                   dt_ms: float = 0.1, *, seed: int = 1) -> np.ndarray:
    """Firing rate (spikes/s) of neuron ``model`` with NEST ``params`` (scalars) for every DC
    amplitude in ``currents_pA``, from one wbe engine run: a population of len(currents)
    uncoupled neurons, neuron k receiving ``currents_pA[k]`` for ``duration_ms`` (ms).
    Rate = spikes in the run / duration."""
    from wbe.engine.network import CurrentInput, Network, Population, RunConfig
    from wbe.engine.simulator import simulate

    cur = np.asarray(currents_pA, dtype=np.float64)
    n = len(cur)
    if n == 0:
        return np.zeros(0)
    scalars = {k: float(np.asarray(v).ravel()[0]) if np.ndim(v) else float(v)
               for k, v in params.items()}
    net = Network(
        populations=[Population("fi", model, n, params=scalars)],
        currents=[CurrentInput("dc", "fi", np.arange(n, dtype=np.int64), cur.copy(), 0.0,
                               np.inf)],
    )
    res = simulate(net, RunConfig(tstop_ms=float(duration_ms), dt_ms=float(dt_ms), seed=seed))
    _, ids = res.spikes.get("fi", (np.zeros(0), np.zeros(0, np.int64)))
    counts = np.bincount(np.asarray(ids, dtype=np.int64), minlength=n)
    return counts / (duration_ms / 1e3)


def lif_fi_analytic(currents_pA, *, C_m: float = 250.0, tau_m: float = 10.0,
                    t_ref: float = 2.0, E_L: float = -70.0, V_th: float = -55.0,
                    V_reset: float = -70.0) -> np.ndarray:
    """Closed-form f-I (spikes/s) of a leaky integrate-and-fire neuron (``iaf_psc_*``) under DC
    ``I`` (pA): f = 1 / (t_ref + τ_m ln((R I + E_L − V_reset) / (R I + E_L − V_th))) with
    R = τ_m / C_m (GΩ·... so R I in mV for pA, ms, pF); 0 below rheobase. NEST defaults."""
    i = np.asarray(currents_pA, dtype=np.float64)
    ri = i * tau_m / C_m  # mV
    out = np.zeros_like(i)
    ok = ri + E_L > V_th
    out[ok] = 1e3 / (t_ref + tau_m * np.log((ri[ok] + E_L - V_reset) / (ri[ok] + E_L - V_th)))
    return out
