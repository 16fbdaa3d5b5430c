"""Point-neuron models with NEST's names, parameters, defaults and update order.

Each model is a struct-of-arrays: parameters and state are float64 arrays over the neurons one
rank owns (a population's scalar parameter is broadcast). The step functions reproduce NEST
3.10's ``update()`` for one time step ``dt_ms`` — same propagators, same order of operations
(integrate, decay synaptic currents, add arriving spikes, threshold, reset, refractoriness),
so spike times agree with NEST on the dt grid and V_m to rounding.

Membrane potentials of the exactly integrated LIF models are stored relative to E_L (as NEST
does) in the ``V`` state array; the RKF45 models (``iaf_cond_exp``, ``aeif_cond_exp``,
``hh_psc_alpha``) store absolute V_m. Recorded ``V_m`` is always absolute (mV).

Hot path: models with a numba kernel (:meth:`NeuronModel.fast_step`) are stepped a block of
neurons at a time with the ring buffer read in place; the NumPy ``step`` of the LIF models is
the reference the kernels are tested against bit for bit. The RKF45 models transcribe GSL's
rkf45 stepper, step control and ``evolve_apply`` as NEST 3.10 calls them (tolerances in each
class), so their V_m and spike times follow NEST's to rounding (tests: 0 mV difference over
500 ms on this machine).

Registry: :data:`MODELS` maps a NEST model name to its implementation; :func:`get_model`
raises a ``ValueError`` listing the known names for an unknown one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import numba
import numpy as np


def propagator_32(tau_syn: np.ndarray, tau: np.ndarray, C: np.ndarray, h: float) -> np.ndarray:
    """NEST's ``propagator_32`` (libnestutil/propagator_stability.cc), elementwise: the
    V_m response (mV) at ``h`` ms to a unit exponential current (pA) of time constant
    ``tau_syn`` for a membrane with ``tau`` ms and ``C`` pF, with NEST's singular-case switch."""
    tau_syn, tau, C = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (tau_syn, tau, C)))
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
    tau_syn, tau, C = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (tau_syn, tau, C)))
    with np.errstate(divide="ignore", invalid="ignore"):
        p_lin = 1.0 / (3.0 * C * tau * tau) * h * h * h * (tau_syn - tau) * np.exp(-h / tau)
        p = (1.0 / C * (np.exp(-h / tau_syn) * np.expm1(-h / tau + h / tau_syn)
                        / (tau / tau_syn - 1.0) * tau - h * np.exp(-h / tau_syn))
             / (-1.0 - -tau / tau_syn) * tau)
        p_sing = h * h / 2.0 / C * np.exp(-h / tau)
    dev = np.abs(p - p_sing)
    sing = (tau == tau_syn) | ((np.abs(tau - tau_syn) < 0.1) & (dev > 2.0 * np.abs(p_lin)))
    return np.where(sing, p_sing, p)


def steps_of(t_ms: np.ndarray | float, dt_ms: float) -> np.ndarray:
    """Number of dt steps in ``t_ms`` (NEST's ``Time(ms(t)).get_steps()``: nearest step)."""
    return np.rint(np.asarray(t_ms, dtype=np.float64) / dt_ms).astype(np.int64)


@dataclass
class NeuronModel:
    """Base of a model implementation.

    ``defaults``: NEST parameter defaults (also the set of accepted parameter names, plus
    ``V_m``, the initial membrane potential). ``receptors``: names of the delay ring buffers a
    spike can be delivered into; :meth:`receptor` picks one from a weight's sign.
    ``state_vars``: names of the state arrays a checkpoint stores. ``recordables``: variables a
    StateRecorder can sample.
    """

    name: str
    defaults: dict[str, float]
    receptors: tuple[str, ...]
    state_vars: tuple[str, ...]
    recordables: tuple[str, ...]
    int_state: tuple[str, ...] = field(default=("r",))

    def receptor(self, weight: np.ndarray) -> np.ndarray:
        """Receptor (ring-buffer) index of each weight: 0 = excitatory (w >= 0), 1 = inhibitory."""
        if len(self.receptors) == 1:
            return np.zeros(np.shape(weight), dtype=np.int64)
        return (np.asarray(weight) < 0).astype(np.int64)

    def params(self, given: dict, n: int, select: np.ndarray) -> dict[str, np.ndarray]:
        """Full parameter set (NEST defaults for missing ones) as float64 arrays over the
        neurons ``select`` (local indices into the population of size ``n``)."""
        unknown = set(given) - set(self.defaults) - {"V_m"}
        if unknown:
            raise ValueError(f"model {self.name!r} has no parameter(s) {sorted(unknown)}; "
                             f"known: {sorted(self.defaults)}")
        out = {}
        for k, dflt in {**self.defaults, "V_m": given.get("V_m", self.defaults["E_L"])}.items():
            v = given.get(k, dflt)
            a = np.asarray(v, dtype=np.float64)
            if a.ndim == 0:
                out[k] = np.full(select.size, float(a))
            else:
                if a.shape != (n,):
                    raise ValueError(f"parameter {k!r} of model {self.name!r}: expected a scalar "
                                     f"or an array of length {n}, got shape {a.shape}")
                out[k] = a[select].copy()
        return out

    #: numba fast path (see :meth:`fast_step`): float state rows, float constant rows, the
    #: int64 constant of the refractory period; ``None`` = this model has no numba kernel
    fast_state: ClassVar[tuple[str, ...] | None] = None
    fast_consts: ClassVar[tuple[str, ...]] = ()
    #: the number of the numba kernel behind :meth:`fast_step` in :func:`nb_step` when it
    #: needs no other work (used by the simulator's fused slice loops); None otherwise
    nb_kernel_id: ClassVar[int | None] = None

    def has_fast(self, c: dict) -> bool:
        """Whether :meth:`fast_step` applies to neurons with constants ``c``."""
        return self.fast_state is not None

    def fast_step(self, sf: np.ndarray, r: np.ndarray, ctab: np.ndarray, ci: np.ndarray,
                  refr: np.ndarray, ring: np.ndarray, slot: int, a: int, istim: np.ndarray,
                  out_slot: np.ndarray, out_stamp: np.ndarray, nspk: int, stamp: int) -> int:
        """numba twin of :meth:`step` (bit-identical) for a block of neurons occupying ring
        columns ``[a, a + n)``: ``sf`` float state rows (:attr:`fast_state`), ``r`` refractory
        counters; neuron i's constants are row ``ci[i]`` of ``ctab`` (columns
        :attr:`fast_consts`) and ``refr[ci[i]]`` (refractory steps), so neurons sharing
        parameters share one row.
        Reads and zeroes ``ring[:, slot, a:a+n]``, uses ``istim[a:a+n]`` (pA); appends the ring
        column of each spiking neuron to ``out_slot`` (and ``stamp`` to ``out_stamp``) from
        position ``nspk`` and returns the new count."""
        raise NotImplementedError

    # the following are implemented by each model
    def constants(self, p: dict[str, np.ndarray], dt_ms: float) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def init_state(self, p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def step(self, s: dict, c: dict, syn: np.ndarray, i_stim_pA: np.ndarray) -> np.ndarray:
        """Advance one dt: ``syn[r]`` = summed weights arriving at receptor r in this step,
        ``i_stim_pA`` = stimulus current during this step. Returns the boolean spike mask."""
        raise NotImplementedError

    def record(self, s: dict, c: dict, var: str) -> np.ndarray:
        """Current value of recordable ``var`` (NEST name and unit)."""
        raise NotImplementedError


@numba.njit(cache=True)
def _psc_exp_nb(sf, r, ctab, ci, refr, ring, slot, a, istim, out_slot, out_stamp, nspk, stamp):
    V, i_ex, i_in = sf[0], sf[1], sf[2]
    ring_ex, ring_in = ring[0, slot], ring[1, slot]
    for i in range(V.shape[0]):
        j = a + i
        c = ci[i]  # P22, P21ex, P21in, P20, P11ex, P11in, I_e, Theta, V_reset
        if r[i] == 0:
            V[i] = V[i] * ctab[c, 0] + i_ex[i] * ctab[c, 1] + i_in[i] * ctab[c, 2] + (ctab[c, 6] + istim[j]) * ctab[c, 3]
        else:
            r[i] -= 1
        i_ex[i] = i_ex[i] * ctab[c, 4] + ring_ex[j]
        i_in[i] = i_in[i] * ctab[c, 5] + ring_in[j]
        ring_ex[j] = 0.0
        ring_in[j] = 0.0
        if V[i] >= ctab[c, 7]:
            r[i] = refr[c]
            V[i] = ctab[c, 8]
            out_slot[nspk] = j
            out_stamp[nspk] = stamp
            nspk += 1
    return nspk


@numba.njit(cache=True)
def _psc_delta_nb(sf, r, ctab, ci, refr, ring, slot, a, istim, out_slot, out_stamp, nspk,
                  stamp):
    V = sf[0]
    ring_0, ring_1 = ring[0, slot], ring[1, slot]
    for i in range(V.shape[0]):
        j = a + i
        c = ci[i]  # P30, P33, I_e, V_min, Theta, V_reset
        syn = ring_0[j]
        ring_0[j] = 0.0
        ring_1[j] = 0.0
        if r[i] == 0:
            v = ctab[c, 0] * (istim[j] + ctab[c, 2]) + ctab[c, 1] * V[i] + syn
            V[i] = ctab[c, 3] if v < ctab[c, 3] else v
        else:
            r[i] -= 1
        if V[i] >= ctab[c, 4]:
            r[i] = refr[c]
            V[i] = ctab[c, 5]
            out_slot[nspk] = j
            out_stamp[nspk] = stamp
            nspk += 1
    return nspk


@numba.njit(cache=True)
def nb_step(kid, sf, r, ctab, ci, refr, ring, slot, a, istim, out_slot, out_stamp, nspk, stamp):
    """The numba kernel number ``kid`` (a model's :attr:`NeuronModel.nb_kernel_id`). A switch
    rather than closures over kernel functions: numba keys its on-disk cache of a closure by
    the pickled closure cells, and a pickled dispatcher differs in every process, so slice
    loops closing over a kernel were recompiled (and re-cached) by every run."""
    if kid == 0:
        return _psc_exp_nb(sf, r, ctab, ci, refr, ring, slot, a, istim, out_slot, out_stamp,
                           nspk, stamp)
    return _psc_delta_nb(sf, r, ctab, ci, refr, ring, slot, a, istim, out_slot, out_stamp,
                         nspk, stamp)


class IafPscExp(NeuronModel):
    """NEST ``iaf_psc_exp``: LIF with exponential post-synaptic currents (exact integration)."""

    fast_state = ("V", "i_ex", "i_in")
    fast_consts = ("P22", "P21ex", "P21in", "P20", "P11ex", "P11in", "I_e", "Theta", "V_reset")
    nb_kernel_id = 0  # nb_step

    def fast_step(self, sf, r, ctab, ci, refr, ring, slot, a, istim, out_slot, out_stamp, nspk,
                  stamp):
        return _psc_exp_nb(sf, r, ctab, ci, refr, ring, slot, a, istim, out_slot, out_stamp, nspk,
                           stamp)

    def __init__(self) -> None:
        super().__init__(
            name="iaf_psc_exp",
            defaults=dict(E_L=-70.0, C_m=250.0, tau_m=10.0, tau_syn_ex=2.0, tau_syn_in=2.0,
                          t_ref=2.0, V_th=-55.0, V_reset=-70.0, I_e=0.0),
            receptors=("ex", "in"), state_vars=("V", "i_ex", "i_in", "r"),
            recordables=("V_m", "I_syn_ex", "I_syn_in"))

    def constants(self, p, dt_ms):
        h = dt_ms
        return dict(
            P11ex=np.exp(-h / p["tau_syn_ex"]), P11in=np.exp(-h / p["tau_syn_in"]),
            P22=np.exp(-h / p["tau_m"]),
            P21ex=propagator_32(p["tau_syn_ex"], p["tau_m"], p["C_m"], h),
            P21in=propagator_32(p["tau_syn_in"], p["tau_m"], p["C_m"], h),
            P20=p["tau_m"] / p["C_m"] * (1.0 - np.exp(-h / p["tau_m"])),
            I_e=p["I_e"], Theta=p["V_th"] - p["E_L"], V_reset=p["V_reset"] - p["E_L"],
            E_L=p["E_L"], refr=steps_of(p["t_ref"], dt_ms))

    def init_state(self, p):
        n = p["E_L"].size
        return dict(V=p["V_m"] - p["E_L"], i_ex=np.zeros(n), i_in=np.zeros(n),
                    r=np.zeros(n, dtype=np.int64))

    def step(self, s, c, syn, i_stim_pA):
        V, r = s["V"], s["r"]
        free = r == 0
        vnew = V * c["P22"] + s["i_ex"] * c["P21ex"] + s["i_in"] * c["P21in"] \
            + (c["I_e"] + i_stim_pA) * c["P20"]
        np.copyto(V, vnew, where=free)
        r -= ~free
        s["i_ex"] *= c["P11ex"]
        s["i_in"] *= c["P11in"]
        s["i_ex"] += syn[0]
        s["i_in"] += syn[1]
        spk = V >= c["Theta"]
        np.copyto(r, c["refr"], where=spk)
        np.copyto(V, c["V_reset"], where=spk)
        return spk

    def record(self, s, c, var):
        return {"V_m": lambda: s["V"] + c["E_L"], "I_syn_ex": lambda: s["i_ex"].copy(),
                "I_syn_in": lambda: s["i_in"].copy()}[var]()


class IafPscDelta(NeuronModel):
    """NEST ``iaf_psc_delta``: LIF with delta synapses (weights in mV jump V_m)."""

    fast_state = ("V",)
    fast_consts = ("P30", "P33", "I_e", "V_min", "Theta", "V_reset")
    nb_kernel_id = 1  # nb_step

    def has_fast(self, c):
        return not bool(np.any(c["with_refr"]))  # refractory_input: NumPy path only

    def fast_step(self, sf, r, ctab, ci, refr, ring, slot, a, istim, out_slot, out_stamp, nspk,
                  stamp):
        return _psc_delta_nb(sf, r, ctab, ci, refr, ring, slot, a, istim, out_slot, out_stamp, nspk,
                             stamp)

    def __init__(self) -> None:
        super().__init__(
            name="iaf_psc_delta",
            defaults=dict(E_L=-70.0, C_m=250.0, tau_m=10.0, t_ref=2.0, V_th=-55.0,
                          V_reset=-70.0, I_e=0.0, V_min=-np.inf, refractory_input=0.0),
            receptors=("all",), state_vars=("V", "refr_buf", "r"), recordables=("V_m",))

    def constants(self, p, dt_ms):
        h = dt_ms
        return dict(P33=np.exp(-h / p["tau_m"]), P30=-p["tau_m"] / p["C_m"] * np.expm1(-h / p["tau_m"]),
                    I_e=p["I_e"], Theta=p["V_th"] - p["E_L"], V_reset=p["V_reset"] - p["E_L"],
                    V_min=p["V_min"] - p["E_L"], E_L=p["E_L"], refr=steps_of(p["t_ref"], dt_ms),
                    with_refr=p["refractory_input"] != 0, h=np.full(p["E_L"].size, h),
                    tau_m=p["tau_m"])

    def init_state(self, p):
        n = p["E_L"].size
        return dict(V=p["V_m"] - p["E_L"], refr_buf=np.zeros(n), r=np.zeros(n, dtype=np.int64))

    def step(self, s, c, syn, i_stim_pA):
        V, r, buf = s["V"], s["r"], s["refr_buf"]
        free = r == 0
        vnew = c["P30"] * (i_stim_pA + c["I_e"]) + c["P33"] * V + syn[0]
        if c["with_refr"].any():
            add = free & c["with_refr"] & (buf != 0.0)
            vnew = np.where(add, vnew + buf, vnew)
            buf[add] = 0.0
            acc = ~free & c["with_refr"]
            buf[acc] += syn[0][acc] * np.exp(-r[acc] * c["h"][acc] / c["tau_m"][acc])
        vnew = np.where(vnew < c["V_min"], c["V_min"], vnew)
        np.copyto(V, vnew, where=free)
        r -= ~free
        spk = V >= c["Theta"]
        np.copyto(r, c["refr"], where=spk)
        np.copyto(V, c["V_reset"], where=spk)
        return spk

    def record(self, s, c, var):
        if var != "V_m":
            raise KeyError(var)
        return s["V"] + c["E_L"]


class IafPscAlpha(NeuronModel):
    """NEST ``iaf_psc_alpha``: LIF with alpha-shaped post-synaptic currents (exact)."""

    def __init__(self) -> None:
        super().__init__(
            name="iaf_psc_alpha",
            defaults=dict(E_L=-70.0, C_m=250.0, tau_m=10.0, tau_syn_ex=2.0, tau_syn_in=2.0,
                          t_ref=2.0, V_th=-55.0, V_reset=-70.0, I_e=0.0, V_min=-np.inf),
            receptors=("ex", "in"), state_vars=("V", "dI_ex", "I_ex", "dI_in", "I_in", "r"),
            recordables=("V_m", "I_syn_ex", "I_syn_in"))

    def constants(self, p, dt_ms):
        h = dt_ms
        te, ti, tm, C = p["tau_syn_ex"], p["tau_syn_in"], p["tau_m"], p["C_m"]
        return dict(
            P11ex=np.exp(-h / te), P21ex=h * np.exp(-h / te),
            P11in=np.exp(-h / ti), P21in=h * np.exp(-h / ti),
            P30=-tm / C * np.expm1(-h / tm), expm1_tau_m=np.expm1(-h / tm),
            P31ex=propagator_31(te, tm, C, h), P32ex=propagator_32(te, tm, C, h),
            P31in=propagator_31(ti, tm, C, h), P32in=propagator_32(ti, tm, C, h),
            EPSC0ex=np.e / te, EPSC0in=np.e / ti,
            I_e=p["I_e"], Theta=p["V_th"] - p["E_L"], V_reset=p["V_reset"] - p["E_L"],
            V_min=p["V_min"] - p["E_L"], E_L=p["E_L"], refr=steps_of(p["t_ref"], dt_ms))

    def init_state(self, p):
        n = p["E_L"].size
        z = np.zeros
        return dict(V=p["V_m"] - p["E_L"], dI_ex=z(n), I_ex=z(n), dI_in=z(n), I_in=z(n),
                    r=np.zeros(n, dtype=np.int64))

    def step(self, s, c, syn, i_stim_pA):
        V, r = s["V"], s["r"]
        free = r == 0
        vnew = (c["P30"] * (i_stim_pA + c["I_e"]) + c["P31ex"] * s["dI_ex"] + c["P32ex"] * s["I_ex"]
                + c["P31in"] * s["dI_in"] + c["P32in"] * s["I_in"] + c["expm1_tau_m"] * V + V)
        vnew = np.where(vnew < c["V_min"], c["V_min"], vnew)
        np.copyto(V, vnew, where=free)
        r -= ~free
        s["I_ex"][...] = c["P21ex"] * s["dI_ex"] + c["P11ex"] * s["I_ex"]
        s["dI_ex"] *= c["P11ex"]
        s["dI_ex"] += c["EPSC0ex"] * syn[0]
        s["I_in"][...] = c["P21in"] * s["dI_in"] + c["P11in"] * s["I_in"]
        s["dI_in"] *= c["P11in"]
        s["dI_in"] += c["EPSC0in"] * syn[1]
        spk = V >= c["Theta"]
        np.copyto(r, c["refr"], where=spk)
        np.copyto(V, c["V_reset"], where=spk)
        return spk

    def record(self, s, c, var):
        return {"V_m": lambda: s["V"] + c["E_L"], "I_syn_ex": lambda: s["I_ex"].copy(),
                "I_syn_in": lambda: s["I_in"].copy()}[var]()


class Izhikevich(NeuronModel):
    """NEST ``izhikevich`` with its default ``consistent_integration=True`` update
    (Euler-type, as in NEST's izhikevich.cpp); weights in mV are added to V_m."""

    def __init__(self) -> None:
        super().__init__(
            name="izhikevich",
            defaults=dict(a=0.02, b=0.2, c=-65.0, d=8.0, I_e=0.0, V_th=30.0, V_min=-np.inf,
                          U_m=np.nan, consistent_integration=1.0, E_L=np.nan),
            receptors=("all",), state_vars=("V", "U"), recordables=("V_m", "U_m"), int_state=())

    def params(self, given, n, select):
        given = dict(given)
        given.setdefault("V_m", -65.0)
        p = super().params({k: v for k, v in given.items()}, n, select)
        p["E_L"] = np.zeros(select.size)
        if np.isnan(p["U_m"]).any():
            p["U_m"] = np.where(np.isnan(p["U_m"]), p["b"] * p["V_m"], p["U_m"])
        return p

    def constants(self, p, dt_ms):
        if (p["consistent_integration"] == 0).any():
            raise NotImplementedError("izhikevich consistent_integration=False is not implemented")
        return dict(a=p["a"], b=p["b"], c=p["c"], d=p["d"], I_e=p["I_e"], V_th=p["V_th"],
                    V_min=p["V_min"], h=dt_ms)

    def init_state(self, p):
        return dict(V=p["V_m"].copy(), U=p["U_m"].copy())

    def step(self, s, c, syn, i_stim_pA):
        h = c["h"]
        v_old, u_old = s["V"], s["U"]
        v = v_old + h * (0.04 * v_old * v_old + 5.0 * v_old + 140.0 - u_old + i_stim_pA
                         + c["I_e"]) + syn[0]
        u = u_old + h * c["a"] * (c["b"] * v_old - u_old)
        v = np.where(v < c["V_min"], c["V_min"], v)
        spk = v >= c["V_th"]
        v = np.where(spk, c["c"], v)
        u = np.where(spk, u + c["d"], u)
        s["V"][...] = v  # in place: the arrays may be views of a block's state
        s["U"][...] = u
        return spk

    def record(self, s, c, var):
        return {"V_m": lambda: s["V"].copy(), "U_m": lambda: s["U"].copy()}[var]()


# ------------------------------------------------------------------ adaptive RKF45 (GSL's)
# NEST integrates the conductance-based and Hodgkin-Huxley models with GSL's ``rkf45`` stepper,
# a standard step control (``gsl_odeiv_control_y_new(1e-3, 0)`` for iaf_cond_exp and
# hh_psc_alpha, ``gsl_odeiv_control_yp_new(tol, tol)`` with tol = ``gsl_error_tol`` for
# aeif_cond_exp) and ``gsl_odeiv_evolve_apply``, carrying the suggested
# step size from one time step to the next. The code below transcribes those three GSL routines
# (same Butcher tableau, same error norm, same step-size rule: safety 0.9, order 5, at most
# x5 / x0.2), so the step sequence and the results follow NEST's to rounding.
_AH = (1.0 / 4.0, 3.0 / 8.0, 12.0 / 13.0, 1.0, 1.0 / 2.0)
_B3 = (3.0 / 32.0, 9.0 / 32.0)
_B4 = (1932.0 / 2197.0, -7200.0 / 2197.0, 7296.0 / 2197.0)
_B5 = (8341.0 / 4104.0, -32832.0 / 4104.0, 29440.0 / 4104.0, -845.0 / 4104.0)
_B6 = (-6080.0 / 20520.0, 41040.0 / 20520.0, -28352.0 / 20520.0, 9295.0 / 20520.0,
       -5643.0 / 20520.0)
_C1, _C3, _C4 = 902880.0 / 7618050.0, 3953664.0 / 7618050.0, 3855735.0 / 7618050.0
_C5, _C6 = -1371249.0 / 7618050.0, 277020.0 / 7618050.0
_EC1, _EC3, _EC4 = 1.0 / 360.0, -128.0 / 4275.0, -2197.0 / 75240.0
_EC5, _EC6 = 1.0 / 50.0, 2.0 / 55.0
_DBL_MIN = 2.2250738585072014e-308


def _make_evolve(rhs):
    """``evolve(t0, t1, h, y, c, istim, refr, eps_abs, eps_rel, a_y, a_dydt, w) -> (t, h)``:
    one ``gsl_odeiv_evolve_apply`` with the rkf45 stepper and the standard control
    (``gsl_odeiv_control_standard_new(eps_abs, eps_rel, a_y, a_dydt)``) for the system
    ``rhs(y, f, c, istim, refr)``; ``w`` is a (10, dim) scratch array."""

    @numba.njit(cache=True)
    def evolve(t0, t1, h, y, c, istim, refr, eps_abs, eps_rel, a_y, a_dydt, w):
        n = y.shape[0]
        y0, yerr, k1, k2, k3, k4, k5, k6, yt = w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], \
            w[8]
        yp = w[9]
        dt = t1 - t0
        h0 = h
        for i in range(n):
            y0[i] = y[i]
        rhs(y, k1, c, istim, refr)  # dydt_in
        while True:
            final = False
            if h0 > dt:
                h0 = dt
                final = True
            for i in range(n):
                yt[i] = y[i] + _AH[0] * h0 * k1[i]
            rhs(yt, k2, c, istim, refr)
            for i in range(n):
                yt[i] = y[i] + h0 * (_B3[0] * k1[i] + _B3[1] * k2[i])
            rhs(yt, k3, c, istim, refr)
            for i in range(n):
                yt[i] = y[i] + h0 * (_B4[0] * k1[i] + _B4[1] * k2[i] + _B4[2] * k3[i])
            rhs(yt, k4, c, istim, refr)
            for i in range(n):
                yt[i] = y[i] + h0 * (_B5[0] * k1[i] + _B5[1] * k2[i] + _B5[2] * k3[i]
                                     + _B5[3] * k4[i])
            rhs(yt, k5, c, istim, refr)
            for i in range(n):
                yt[i] = y[i] + h0 * (_B6[0] * k1[i] + _B6[1] * k2[i] + _B6[2] * k3[i]
                                     + _B6[3] * k4[i] + _B6[4] * k5[i])
            rhs(yt, k6, c, istim, refr)
            for i in range(n):
                d_i = _C1 * k1[i] + _C3 * k3[i] + _C4 * k4[i] + _C5 * k5[i] + _C6 * k6[i]
                y[i] += h0 * d_i
            for i in range(n):
                yerr[i] = h0 * (_EC1 * k1[i] + _EC3 * k3[i] + _EC4 * k4[i] + _EC5 * k5[i]
                                + _EC6 * k6[i])
            if a_dydt != 0.0:
                rhs(y, yp, c, istim, refr)  # dydt_out, at t0 + h0
            t = t1 if final else t0 + h0
            # gsl_odeiv_control_hadjust (standard control)
            h_old = h0
            rmax = _DBL_MIN
            for i in range(n):
                d0 = eps_abs
                if a_dydt != 0.0:
                    d0 = eps_rel * (a_y * abs(y[i]) + a_dydt * abs(h_old * yp[i])) + eps_abs
                elif eps_rel != 0.0:
                    d0 = eps_rel * (a_y * abs(y[i])) + eps_abs
                r = abs(yerr[i]) / abs(d0)
                if r > rmax:
                    rmax = r
            if rmax > 1.1:
                fac = 0.9 / rmax ** (1.0 / 5.0)
                if fac < 0.2:
                    fac = 0.2
                h0 = fac * h_old
                if abs(h0) < abs(h_old) and t + h0 != t:
                    for i in range(n):  # undo the step, retry with the smaller h
                        y[i] = y0[i]
                    continue
                h0 = h_old
            elif rmax < 0.5:
                fac = 0.9 / rmax ** (1.0 / 6.0)
                if fac > 5.0:
                    fac = 5.0
                if fac < 1.0:
                    fac = 1.0
                h0 = fac * h_old
            return t, h0

    return evolve


class _OdeModel(NeuronModel):
    """A model integrated by RKF45 (GSL/NEST). ``fast_state``: the ODE state (as NEST orders it)
    then ``h_int`` (the integration step carried between time steps, ms). The NumPy ``step`` runs
    the same numba kernel (there is no separate NumPy form of an adaptive integrator)."""

    dim: ClassVar[int] = 0

    def init_h(self, p):
        return np.full(p["E_L"].size, 1.0)  # replaced by dt in constants/first step

    def step(self, s, c, syn, i_stim_pA):
        n = s["r"].size
        sf = np.stack([s[v] for v in self.fast_state])
        cols = np.column_stack([np.broadcast_to(np.asarray(c[k], dtype=np.float64), (n,))
                                for k in self.fast_consts])
        ring = np.zeros((2, 1, n))
        ring[0, 0] = syn[0]
        ring[1, 0] = syn[1] if syn.shape[0] > 1 else 0.0
        istim = np.broadcast_to(np.asarray(i_stim_pA, dtype=np.float64), (n,)).copy()
        out = np.empty(n, dtype=np.int64)
        nspk = self.fast_step(sf, s["r"], cols, np.arange(n), np.asarray(c["refr"]), ring, 0, 0,
                              istim, out, out.copy(), 0, 0)
        for i, v in enumerate(self.fast_state):
            s[v][...] = sf[i]
        spk = np.zeros(n, dtype=bool)
        spk[out[:nspk]] = True
        return spk

    def record(self, s, c, var):
        return s[self.rec_map[var]].copy()


# ---- iaf_cond_exp
@numba.njit(cache=True)
def _cond_exp_rhs(y, f, c, istim, refr):
    # c: g_L, C_m, E_ex, E_in, E_L, tau_syn_ex, tau_syn_in, I_e, V_th, V_reset, h_step
    i_syn_exc = y[1] * (y[0] - c[2])
    i_syn_inh = y[2] * (y[0] - c[3])
    i_leak = c[0] * (y[0] - c[4])
    f[0] = (-i_leak + istim + c[7] - i_syn_exc - i_syn_inh) / c[1]
    f[1] = -y[1] / c[5]
    f[2] = -y[2] / c[6]


_cond_exp_evolve = _make_evolve(_cond_exp_rhs)


@numba.njit(cache=True)
def _cond_exp_nb(sf, r, ctab, ci, refr, ring, slot, a, istim, out_slot, out_stamp, nspk, stamp):
    y = np.empty(3)
    w = np.empty((10, 3))
    for i in range(sf.shape[1]):
        j = a + i
        c = ctab[ci[i]]
        for q in range(3):
            y[q] = sf[q, i]
        t, h = 0.0, sf[3, i]
        while t < c[10]:
            t, h = _cond_exp_evolve(t, c[10], h, y, c, istim[j], 0, 1e-3, 0.0, 1.0, 0.0, w)
        y[1] += ring[0, slot, j]
        y[2] -= ring[1, slot, j]  # inhibitory weights are negative; conductance += |w|
        ring[0, slot, j] = 0.0
        ring[1, slot, j] = 0.0
        if r[i] > 0:
            r[i] -= 1
            y[0] = c[9]
        elif y[0] >= c[8]:
            r[i] = refr[ci[i]]
            y[0] = c[9]
            out_slot[nspk] = j
            out_stamp[nspk] = stamp
            nspk += 1
        for q in range(3):
            sf[q, i] = y[q]
        sf[3, i] = h
    return nspk


class IafCondExp(_OdeModel):
    """NEST ``iaf_cond_exp``: LIF with exponential conductances (weights in nS, negative =
    inhibitory of |w|), RKF45 with absolute tolerance 1e-3 (NEST's); V_m clamped to V_reset
    for t_ref after a spike (the membrane is integrated and then reset, as NEST does)."""

    dim = 3
    fast_state = ("V", "g_ex", "g_in", "h_int")
    fast_consts = ("g_L", "C_m", "E_ex", "E_in", "E_L", "tau_syn_ex", "tau_syn_in", "I_e",
                   "V_th", "V_reset", "h_step")
    rec_map: ClassVar[dict] = {"V_m": "V", "g_ex": "g_ex", "g_in": "g_in"}

    def __init__(self) -> None:
        super().__init__(
            name="iaf_cond_exp",
            defaults=dict(V_th=-55.0, V_reset=-60.0, t_ref=2.0, g_L=16.6667, C_m=250.0,
                          E_ex=0.0, E_in=-85.0, E_L=-70.0, tau_syn_ex=0.2, tau_syn_in=2.0,
                          I_e=0.0),
            receptors=("ex", "in"), state_vars=("V", "g_ex", "g_in", "h_int", "r"),
            recordables=("V_m", "g_ex", "g_in"))

    def constants(self, p, dt_ms):
        c = {k: p[k] for k in self.fast_consts if k in p}
        c["h_step"] = np.full(p["E_L"].size, float(dt_ms))
        c["refr"] = steps_of(p["t_ref"], dt_ms)
        return c

    def init_state(self, p):
        n = p["E_L"].size
        return dict(V=p["V_m"].copy(), g_ex=np.zeros(n), g_in=np.zeros(n), h_int=np.zeros(n),
                    r=np.zeros(n, dtype=np.int64))

    def fast_step(self, sf, r, ctab, ci, refr, ring, slot, a, istim, out_slot, out_stamp, nspk,
                  stamp):
        _init_h(sf[-1], ctab, ci)
        return _cond_exp_nb(sf, r, ctab, ci, refr, ring, slot, a, istim, out_slot, out_stamp,
                            nspk, stamp)


@numba.njit(cache=True)
def _init_h(h, ctab, ci):
    """A zero integration step (fresh neuron) starts at dt, as NEST's ``IntegrationStep_``."""
    for i in range(h.shape[0]):
        if h[i] == 0.0:
            h[i] = ctab[ci[i], ctab.shape[1] - 1]


# ---- aeif_cond_exp
@numba.njit(cache=True)
def _aeif_rhs(y, f, c, istim, refr):
    # c: C_m, g_L, E_L, E_ex, E_in, V_th, Delta_T, tau_w, a, b, V_peak, V_reset, tau_syn_ex,
    #    tau_syn_in, I_e, gsl_error_tol, h_step
    if refr:
        v = c[11]
    else:
        v = y[0] if y[0] < c[10] else c[10]
    g_ex, g_in, w = y[1], y[2], y[3]
    i_syn_exc = g_ex * (v - c[3])
    i_syn_inh = g_in * (v - c[4])
    i_spike = 0.0 if c[6] == 0.0 else c[1] * c[6] * np.exp((v - c[5]) / c[6])
    if refr:
        f[0] = 0.0
    else:
        f[0] = (-c[1] * (v - c[2]) + i_spike - i_syn_exc - i_syn_inh - w + c[14] + istim) / c[0]
    f[1] = -g_ex / c[12]
    f[2] = -g_in / c[13]
    f[3] = (c[8] * (v - c[2]) - w) / c[7]


_aeif_evolve = _make_evolve(_aeif_rhs)


@numba.njit(cache=True)
def _aeif_nb(sf, r, ctab, ci, refr, ring, slot, a, istim, out_slot, out_stamp, nspk, stamp):
    y = np.empty(4)
    w = np.empty((10, 4))
    for i in range(sf.shape[1]):
        j = a + i
        c = ctab[ci[i]]
        v_peak = c[10] if c[6] > 0.0 else c[5]
        for q in range(4):
            y[q] = sf[q, i]
        t, h = 0.0, sf[4, i]
        spiked = False
        while t < c[16]:
            t, h = _aeif_evolve(t, c[16], h, y, c, istim[j], r[i] > 0, c[15], c[15], 0.0,
                                1.0, w)
            if y[0] < -1e3 or y[3] < -1e6 or y[3] > 1e6:
                raise FloatingPointError("aeif_cond_exp: numerical instability")
            if r[i] > 0:
                y[0] = c[11]
            elif y[0] >= v_peak:
                y[0] = c[11]
                y[3] += c[9]
                r[i] = refr[ci[i]] + 1 if refr[ci[i]] > 0 else 0
                spiked = True
        if r[i] > 0:
            r[i] -= 1
        y[1] += ring[0, slot, j]
        y[2] -= ring[1, slot, j]
        ring[0, slot, j] = 0.0
        ring[1, slot, j] = 0.0
        if spiked:  # NEST may emit several spikes in one step when t_ref = 0: one is recorded
            out_slot[nspk] = j
            out_stamp[nspk] = stamp
            nspk += 1
        for q in range(4):
            sf[q, i] = y[q]
        sf[4, i] = h
    return nspk


class AeifCondExp(_OdeModel):
    """NEST ``aeif_cond_exp`` (AdEx, Brette & Gerstner 2005) with exponential conductances
    (nS; negative weight = inhibitory of |w|). RKF45 with NEST's derivative control: absolute and
    relative tolerance ``gsl_error_tol`` (default 1e-6) on ``h·dy/dt``. Spike when V_m >= V_peak (V_th if Delta_T = 0), checked after every
    integrator sub-step: V_m = V_reset, w += b, refractory for t_ref (V clamped at V_reset)."""

    dim = 4
    fast_state = ("V", "g_ex", "g_in", "w", "h_int")
    fast_consts = ("C_m", "g_L", "E_L", "E_ex", "E_in", "V_th", "Delta_T", "tau_w", "a", "b",
                   "V_peak", "V_reset", "tau_syn_ex", "tau_syn_in", "I_e", "gsl_error_tol",
                   "h_step")
    rec_map: ClassVar[dict] = {"V_m": "V", "g_ex": "g_ex", "g_in": "g_in", "w": "w"}

    def __init__(self) -> None:
        super().__init__(
            name="aeif_cond_exp",
            defaults=dict(C_m=281.0, t_ref=0.0, V_reset=-60.0, E_L=-70.6, g_L=30.0, I_e=0.0,
                          a=4.0, b=80.5, Delta_T=2.0, tau_w=144.0, V_th=-50.4, V_peak=0.0,
                          E_ex=0.0, E_in=-85.0, tau_syn_ex=0.2, tau_syn_in=2.0,
                          gsl_error_tol=1e-6, w=0.0),
            receptors=("ex", "in"), state_vars=("V", "g_ex", "g_in", "w", "h_int", "r"),
            recordables=("V_m", "g_ex", "g_in", "w"))

    constants = IafCondExp.constants

    def init_state(self, p):
        n = p["E_L"].size
        return dict(V=p["V_m"].copy(), g_ex=np.zeros(n), g_in=np.zeros(n), w=p["w"].copy(),
                    h_int=np.zeros(n), r=np.zeros(n, dtype=np.int64))

    def fast_step(self, sf, r, ctab, ci, refr, ring, slot, a, istim, out_slot, out_stamp, nspk,
                  stamp):
        _init_h(sf[-1], ctab, ci)
        return _aeif_nb(sf, r, ctab, ci, refr, ring, slot, a, istim, out_slot, out_stamp, nspk,
                        stamp)


# ---- hh_psc_alpha
@numba.njit(cache=True)
def _hh_rhs(y, f, c, istim, refr):
    # c: C_m, g_Na, g_K, g_L, E_Na, E_K, E_L, tau_syn_ex, tau_syn_in, I_e, EPSC0ex, EPSC0in,
    #    h_step
    v, m, hh, n = y[0], y[1], y[2], y[3]
    di_ex, i_ex, di_in, i_in = y[4], y[5], y[6], y[7]
    alpha_n = (0.01 * (v + 55.0)) / (1.0 - np.exp(-(v + 55.0) / 10.0))
    beta_n = 0.125 * np.exp(-(v + 65.0) / 80.0)
    alpha_m = (0.1 * (v + 40.0)) / (1.0 - np.exp(-(v + 40.0) / 10.0))
    beta_m = 4.0 * np.exp(-(v + 65.0) / 18.0)
    alpha_h = 0.07 * np.exp(-(v + 65.0) / 20.0)
    beta_h = 1.0 / (1.0 + np.exp(-(v + 35.0) / 10.0))
    i_na = c[1] * m * m * m * hh * (v - c[4])
    i_k = c[2] * n * n * n * n * (v - c[5])
    i_l = c[3] * (v - c[6])
    f[0] = (-(i_na + i_k + i_l) + istim + c[9] + i_ex + i_in) / c[0]
    f[1] = alpha_m * (1 - m) - beta_m * m
    f[2] = alpha_h * (1 - hh) - beta_h * hh
    f[3] = alpha_n * (1 - n) - beta_n * n
    f[4] = -di_ex / c[7]
    f[5] = di_ex - (i_ex / c[7])
    f[6] = -di_in / c[8]
    f[7] = di_in - (i_in / c[8])


_hh_evolve = _make_evolve(_hh_rhs)


@numba.njit(cache=True)
def _hh_nb(sf, r, ctab, ci, refr, ring, slot, a, istim, out_slot, out_stamp, nspk, stamp):
    y = np.empty(8)
    w = np.empty((10, 8))
    for i in range(sf.shape[1]):
        j = a + i
        c = ctab[ci[i]]
        for q in range(8):
            y[q] = sf[q, i]
        u_old = y[0]
        t, h = 0.0, sf[8, i]
        while t < c[12]:
            t, h = _hh_evolve(t, c[12], h, y, c, istim[j], 0, 1e-3, 0.0, 1.0, 0.0, w)
        y[4] += ring[0, slot, j] * c[10]
        y[6] += ring[1, slot, j] * c[11]
        ring[0, slot, j] = 0.0
        ring[1, slot, j] = 0.0
        if r[i] > 0:
            r[i] -= 1
        elif y[0] >= 0.0 and u_old > y[0]:  # threshold and local maximum
            r[i] = refr[ci[i]]
            out_slot[nspk] = j
            out_stamp[nspk] = stamp
            nspk += 1
        for q in range(8):
            sf[q, i] = y[q]
        sf[8, i] = h
    return nspk


def _hh_equilibrium(v):
    alpha_n = (0.01 * (v + 55.0)) / (1.0 - np.exp(-(v + 55.0) / 10.0))
    beta_n = 0.125 * np.exp(-(v + 65.0) / 80.0)
    alpha_m = (0.1 * (v + 40.0)) / (1.0 - np.exp(-(v + 40.0) / 10.0))
    beta_m = 4.0 * np.exp(-(v + 65.0) / 18.0)
    alpha_h = 0.07 * np.exp(-(v + 65.0) / 20.0)
    beta_h = 1.0 / (1.0 + np.exp(-(v + 35.0) / 10.0))
    return alpha_m / (alpha_m + beta_m), alpha_h / (alpha_h + beta_h), alpha_n / (alpha_n + beta_n)


class HhPscAlpha(_OdeModel):
    """NEST ``hh_psc_alpha``: Hodgkin-Huxley with alpha-shaped currents (pA). RKF45 with
    absolute tolerance 1e-3 (NEST's). A spike is V_m >= 0 mV at a local maximum (V_m fell
    during the step), then t_ref of pseudo-refractoriness (no spike detection). Gating
    variables start at their equilibrium at -65 mV (NEST's defaults ``Act_m``, ``Inact_h``,
    ``Act_n``) unless given."""

    dim = 8
    fast_state = ("V", "m", "h", "n", "dI_ex", "I_ex", "dI_in", "I_in", "h_int")
    fast_consts = ("C_m", "g_Na", "g_K", "g_L", "E_Na", "E_K", "E_L", "tau_syn_ex",
                   "tau_syn_in", "I_e", "EPSC0ex", "EPSC0in", "h_step")
    rec_map: ClassVar[dict] = {"V_m": "V", "Act_m": "m", "Inact_h": "h", "Act_n": "n",
                               "I_syn_ex": "I_ex", "I_syn_in": "I_in"}

    def __init__(self) -> None:
        m0, h0, n0 = (float(x) for x in _hh_equilibrium(-65.0))
        super().__init__(
            name="hh_psc_alpha",
            defaults=dict(E_L=-54.402, C_m=100.0, g_Na=12000.0, g_K=3600.0, g_L=30.0,
                          E_Na=50.0, E_K=-77.0, tau_syn_ex=0.2, tau_syn_in=2.0, t_ref=2.0,
                          I_e=0.0, Act_m=m0, Inact_h=h0, Act_n=n0),
            receptors=("ex", "in"),
            state_vars=("V", "m", "h", "n", "dI_ex", "I_ex", "dI_in", "I_in", "h_int", "r"),
            recordables=("V_m", "Act_m", "Inact_h", "Act_n", "I_syn_ex", "I_syn_in"))

    def params(self, given, n, select):
        given = dict(given)
        given.setdefault("V_m", -65.0)
        return super().params(given, n, select)

    def constants(self, p, dt_ms):
        c = {k: p[k] for k in self.fast_consts if k in p}
        c["EPSC0ex"] = np.e / p["tau_syn_ex"]
        c["EPSC0in"] = np.e / p["tau_syn_in"]
        c["h_step"] = np.full(p["E_L"].size, float(dt_ms))
        c["refr"] = steps_of(p["t_ref"], dt_ms)
        return c

    def init_state(self, p):
        n = p["E_L"].size
        z = np.zeros
        return dict(V=p["V_m"].copy(), m=p["Act_m"].copy(), h=p["Inact_h"].copy(),
                    n=p["Act_n"].copy(), dI_ex=z(n), I_ex=z(n), dI_in=z(n), I_in=z(n),
                    h_int=z(n), r=np.zeros(n, dtype=np.int64))

    def fast_step(self, sf, r, ctab, ci, refr, ring, slot, a, istim, out_slot, out_stamp, nspk,
                  stamp):
        _init_h(sf[-1], ctab, ci)
        return _hh_nb(sf, r, ctab, ci, refr, ring, slot, a, istim, out_slot, out_stamp, nspk,
                      stamp)


MODELS: dict[str, NeuronModel] = {
    m.name: m for m in (IafPscExp(), IafPscDelta(), IafPscAlpha(), Izhikevich(),
                        IafCondExp(), AeifCondExp(), HhPscAlpha())
}


def get_model(name: str) -> NeuronModel:
    """The implementation of NEST model ``name``; ``ValueError`` listing known models if none."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown neuron model {name!r}; the engine implements "
                         f"{sorted(MODELS)} (and 'virtual' for spike sources)") from None
