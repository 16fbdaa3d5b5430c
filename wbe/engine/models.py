"""Point-neuron models with NEST's names, parameters, defaults and update order.

Each model is a struct-of-arrays: parameters and state are float64 arrays over the neurons one
rank owns (a population's scalar parameter is broadcast). The step functions reproduce NEST
3.10's ``update()`` for one time step ``dt_ms`` — same propagators, same order of operations
(integrate, decay synaptic currents, add arriving spikes, threshold, reset, refractoriness),
so spike times agree with NEST on the dt grid and V_m to rounding.

Membrane potentials are stored relative to E_L (as NEST does) in ``y3``/``V`` state arrays;
recorded ``V_m`` is absolute (mV).

Registry: :data:`MODELS` maps a NEST model name to its implementation; :func:`get_model`
raises a ``ValueError`` listing the known names for an unknown one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

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


class IafPscExp(NeuronModel):
    """NEST ``iaf_psc_exp``: LIF with exponential post-synaptic currents (exact integration)."""

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
        s["I_ex"] = c["P21ex"] * s["dI_ex"] + c["P11ex"] * s["I_ex"]
        s["dI_ex"] *= c["P11ex"]
        s["dI_ex"] += c["EPSC0ex"] * syn[0]
        s["I_in"] = c["P21in"] * s["dI_in"] + c["P11in"] * s["I_in"]
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
        s["V"], s["U"] = v, u
        return spk

    def record(self, s, c, var):
        return {"V_m": lambda: s["V"].copy(), "U_m": lambda: s["U"].copy()}[var]()


MODELS: dict[str, NeuronModel] = {
    m.name: m for m in (IafPscExp(), IafPscDelta(), IafPscAlpha(), Izhikevich())
}


def get_model(name: str) -> NeuronModel:
    """The implementation of NEST model ``name``; ``ValueError`` listing known models if none."""
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown neuron model {name!r}; the engine implements "
                         f"{sorted(MODELS)} (and 'virtual' for spike sources)") from None
