"""``aeif_cond_beta_multisynapse``: the AdEx neuron with any number of receptor ports, each a
beta-function conductance with its own reversal potential and rise and decay times.

As NEST 3.10 (models/aeif_cond_beta_multisynapse.cpp), read for its exact semantics:

* the vector parameters ``E_rev``, ``tau_rise``, ``tau_decay`` (equal lengths, one element per
  port; 0 < tau_rise <= tau_decay) make ``n_receptors`` ports with ``receptor_type`` 1 … n
  (there is no port 0) and state V_m, w, then (dg_k, g_k) per port;
* C dV/dt = −g_L (V − E_L) + g_L Δ_T exp((V − V_th)/Δ_T) + Σ_k g_k (E_rev_k − V) − w + I_e + I,
  with V = min(V_m, V_peak) (V_reset while refractory) inside the right-hand side, and
  dg_k/dt' = −dg_k/τ_rise_k, dg_k/dt = dg_k' − g_k/τ_decay_k;
* RKF45 with the derivative step control at ``gsl_error_tol``, the step carried between time
  steps; after every sub-step the refractory clamp or the spike (V_m = V_reset, w += b);
* a spike of weight w (nS, >= 0; NEST rejects negative weights) on port k adds
  w · ``beta_normalization_factor``(τ_rise_k, τ_decay_k) to dg_k at the end of the step, so that
  g_k peaks at w nS; the recordables are V_m, w and ``g_1`` … ``g_n``.

The number of ports is a property of a population (its vector parameters), so this model
specialises itself (:meth:`~wbe.engine.cells.base.CellModel.specialize`): one compiled block per
number of ports, the per-port constants as columns of the constant table.
"""

from __future__ import annotations

import math
from functools import cache

import numba
import numpy as np

from ..registry import CELLS, Param, Port, Var
from .aeif_cond_exp import (
    AEIF_PARAMS,
    AEIF_REFERENCES,
    aeif_step_np,
    check_aeif,
    i_spike_np,
    v_aeif_np,
)
from .base import CellModel, steps_of
from .common import beta_normalization
from .rkf45 import init_h, make_evolve

_DROPPED = ("E_ex", "E_in", "tau_syn_ex", "tau_syn_in")
_PARAMS = (*(p for p in AEIF_PARAMS if p.name not in _DROPPED),
           Param("E_rev", 0.0, "mV", "reversal potential of each receptor port", vector=True),
           Param("tau_rise", 2.0, "ms", "conductance rise time of each receptor port", gt=0.0,
                 vector=True),
           Param("tau_decay", 20.0, "ms", "conductance decay time of each receptor port",
                 gt=0.0, vector=True))
_VECTORS = ("E_rev", "tau_rise", "tau_decay")
#: the per-neuron constants; then, per port k (1-based), E_rev_k, tau_rise_k, tau_decay_k, g0_k
_BASE = ("C_m", "g_L", "E_L", "V_th", "Delta_T", "tau_w", "a", "b", "V_peak", "V_reset", "I_e",
         "gsl_error_tol", "h_step")
_NB = len(_BASE)
_PER = ("E_rev", "tau_rise", "tau_decay", "g0")


@numba.njit(cache=True)
def _rhs(y, f, c, istim, refr):
    # y: V, w, (dg_k, g_k) per port; c: _BASE, then (E_rev, tau_rise, tau_decay, g0) per port
    if refr:
        v = c[9]
    else:
        v = y[0] if y[0] < c[8] else c[8]
    w = y[1]
    n = (y.shape[0] - 2) // 2
    i_syn = 0.0
    for k in range(n):
        i_syn += y[3 + 2 * k] * (c[_NB + 4 * k] - v)
    i_spike = 0.0 if c[4] == 0.0 else c[4] * c[1] * math.exp((v - c[3]) / c[4])
    if refr:
        f[0] = 0.0
    else:
        f[0] = (-c[1] * (v - c[2]) + i_spike + i_syn - w + c[10] + istim) / c[0]
    f[1] = (c[6] * (v - c[2]) - w) / c[5]
    for k in range(n):
        f[2 + 2 * k] = -y[2 + 2 * k] / c[_NB + 4 * k + 1]
        f[3 + 2 * k] = y[2 + 2 * k] - y[3 + 2 * k] / c[_NB + 4 * k + 2]


def _rhs_np(y, c, istim, refr):
    v = v_aeif_np(y[0], c, refr)
    w = y[1]
    n = (y.shape[0] - 2) // 2
    i_syn = 0.0
    for k in range(n):
        i_syn = i_syn + y[3 + 2 * k] * (c[f"E_rev_{k + 1}"] - v)
    f = np.empty_like(y)
    f[0] = np.where(refr, 0.0, (-c["g_L"] * (v - c["E_L"]) + i_spike_np(v, c) + i_syn - w
                                + c["I_e"] + istim) / c["C_m"])
    f[1] = (c["a"] * (v - c["E_L"]) - w) / c["tau_w"]
    for k in range(n):
        f[2 + 2 * k] = -y[2 + 2 * k] / c[f"tau_rise_{k + 1}"]
        f[3 + 2 * k] = y[2 + 2 * k] - y[3 + 2 * k] / c[f"tau_decay_{k + 1}"]
    return f


_evolve = make_evolve(_rhs)


@numba.njit(cache=True)
def kernel(b, ring, slot, istim, out_slot, out_stamp, nspk, stamp):
    sf, r, ctab, itab, ci = b.sf, b.si[0], b.ctab, b.itab, b.ci
    dim = sf.shape[0] - 1  # the last row carries the integration step
    npt = (dim - 2) // 2
    init_h(sf[dim], ctab, ci, _NB - 1)
    y = np.empty(dim)
    w = np.empty((10, dim))
    for i in range(sf.shape[1]):
        j = b.a + i
        c = ctab[ci[i]]
        v_peak = c[8] if c[4] > 0.0 else c[3]
        for q in range(dim):
            y[q] = sf[q, i]
        t, h = 0.0, sf[dim, i]
        spiked = False
        while t < c[12]:
            t, h = _evolve(t, c[12], h, y, c, istim[j], r[i] > 0, c[11], c[11], 0.0, 1.0, w)
            if y[0] < -1e3 or y[1] < -1e6 or y[1] > 1e6:
                raise FloatingPointError("aeif_cond_beta_multisynapse: numerical instability")
            if r[i] > 0:
                y[0] = c[9]
            elif y[0] >= v_peak:
                y[0] = c[9]
                y[1] += c[7]
                refr = itab[ci[i], 0]
                r[i] = refr + 1 if refr > 0 else 0
                spiked = True
        if r[i] > 0:
            r[i] -= 1
        for k in range(npt):
            y[2 + 2 * k] += ring[k, slot, j] * c[_NB + 4 * k + 3]
            ring[k, slot, j] = 0.0
        if spiked:  # NEST may emit several spikes in one step when t_ref = 0: one is recorded
            out_slot[nspk] = j
            out_stamp[nspk] = stamp
            nspk += 1
        for q in range(dim):
            sf[q, i] = y[q]
        sf[dim, i] = h
    return nspk


def _ports(n: int) -> tuple[Port, ...]:
    return tuple(Port(str(k), k, (f"r{k}",), f"receptor port {k}: a beta conductance with "
                      f"E_rev[{k - 1}], tau_rise[{k - 1}], tau_decay[{k - 1}]; weight (nS) >= 0",
                      nonnegative=True)
                 for k in range(1, n + 1))


class AeifCondBetaMultisynapse(CellModel):
    """AdEx neuron with any number of beta-conductance receptor ports (E_rev, τ_rise, τ_decay).

    The AdEx membrane of ``aeif_cond_exp`` (Brette & Gerstner 2005); each element of the vector
    parameters ``E_rev``, ``tau_rise`` and ``tau_decay`` is a receptor port (``receptor_type``
    1, 2, …) whose conductance is a beta function peaking at ``w`` nS. Excitation and inhibition
    are ports with high and low reversal potentials; weights are >= 0. RKF45 with NEST's
    derivative control (tolerance ``gsl_error_tol``).
    """

    name = "aeif_cond_beta_multisynapse"
    nest_model = "aeif_cond_beta_multisynapse"
    params = _PARAMS
    ei_ports = ("1", "2")
    weight_unit = "nS"
    references = (*AEIF_REFERENCES,
                  "Rotter S, Diesmann M (1999). Exact digital simulation of time-invariant "
                  "linear systems with applications to neuronal modeling. Biol Cybern "
                  "81:381-402.")
    example = {"params": {"I_e": 900.0, "a": 2.0, "b": 30.0, "E_rev": [0.0, -85.0, 0.0],
                          "tau_rise": [0.5, 1.0, 3.0], "tau_decay": [2.0, 8.0, 40.0]},
               "weight": 6.0, "current_pA": 300.0}
    nest_vm_tolerance_mV = 1e-6
    kernel = kernel

    def __init__(self, n_receptors: int = 1) -> None:
        n = int(n_receptors)
        self.n_receptors = n
        self.ports = _ports(n)
        self.state = (Var("V", "mV", "membrane potential"), Var("w", "pA", "adaptation current"),
                      *(v for k in range(1, n + 1) for v in (
                          Var(f"dg_{k}", "nS/ms", f"derivative state of port {k}'s conductance"),
                          Var(f"g_{k}", "nS", f"conductance of port {k}"))),
                      Var("h_int", "ms", "integration step carried between time steps (RKF45)"))
        self.recordables = (Var("V_m", "mV", "membrane potential", state="V"),
                            Var("w", "pA", "adaptation current", state="w"),
                            *(Var(f"g_{k}", "nS", f"conductance of receptor port {k}",
                                  state=f"g_{k}") for k in range(1, n + 1)))
        self.consts = (*_BASE, *(f"{q}_{k}" for k in range(1, n + 1) for q in _PER))

    @property
    def key(self) -> str:
        return f"{self.name}[{self.n_receptors}]"

    def check_spec(self) -> None:
        # the registered instance has NEST's single default port; the E/I pair needs two
        if self.n_receptors >= 2:
            super().check_spec()
        else:
            _specialised(2).check_spec()

    def specialize(self, params, connections=None):
        return _specialised(_n_ports(params, f"model {self.name!r}"))

    def port(self, receptor, owner=""):
        try:
            return super().port(receptor, owner)
        except ValueError as e:
            raise ValueError(f"{e} (one port per element of E_rev, tau_rise and "
                             f"tau_decay)") from None

    def resolve(self, given, n, select, owner=""):
        who = owner or f"model {self.name!r}"
        if _n_ports(given, who) != self.n_receptors:
            return self.specialize(given).resolve(given, n, select, owner)
        p = super().resolve(given, n, select, owner)
        check_aeif(p, who)
        if np.any(p["tau_decay"] < p["tau_rise"]):
            raise ValueError(f"{who}: every tau_rise must be <= its tau_decay")
        return p

    def constants(self, p, dt_ms):
        c = {k: p[k] for k in _BASE if k in p}
        m = p["E_L"].size
        c["h_step"] = np.full(m, float(dt_ms))
        c["refr"] = steps_of(p["t_ref"], dt_ms)
        for k in range(self.n_receptors):
            c[f"E_rev_{k + 1}"] = p["E_rev"][:, k].copy()
            c[f"tau_rise_{k + 1}"] = p["tau_rise"][:, k].copy()
            c[f"tau_decay_{k + 1}"] = p["tau_decay"][:, k].copy()
            c[f"g0_{k + 1}"] = beta_normalization(p["tau_rise"][:, k], p["tau_decay"][:, k])
        return c

    def init_state(self, p):
        m = p["E_L"].size
        s = {"V": p["V_m"].copy(), "w": p["w"].copy(), "h_int": np.zeros(m),
             "r": np.zeros(m, dtype=np.int64)}
        for k in range(1, self.n_receptors + 1):
            s[f"dg_{k}"], s[f"g_{k}"] = np.zeros(m), np.zeros(m)
        return s

    def step(self, s, c, syn, i_stim_pA):
        m = s["V"].size
        names = [v.name for v in self.state[:-1]]
        h = np.where(s["h_int"] == 0.0, c["h_step"], s["h_int"])
        y = np.stack([s[k] for k in names])
        istim = np.broadcast_to(np.asarray(i_stim_pA, np.float64), (m,))
        spk = aeif_step_np(_rhs_np, y, h, s["r"], c, istim, 0, 1, self.name)
        for k in range(self.n_receptors):
            y[2 + 2 * k] += syn[k] * c[f"g0_{k + 1}"]
        for k, v in zip(names, y):
            s[k][...] = v
        s["h_int"][...] = h
        return spk


def _n_ports(params: dict, owner: str) -> int:
    """The number of receptor ports ``params`` declare (the common length of the vectors)."""
    sizes = {k: np.atleast_1d(np.asarray(params[k], dtype=np.float64)).shape[-1]
             for k in _VECTORS if k in params}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"{owner}: E_rev, tau_rise and tau_decay must have the same length "
                         f"(one element per receptor port), got "
                         + ", ".join(f"{k}: {v}" for k, v in sizes.items()))
    n = next(iter(sizes.values()), 1)
    if sizes and len(sizes) < len(_VECTORS) and n != 1:
        missing = [k for k in _VECTORS if k not in sizes]
        raise ValueError(f"{owner}: {n} receptor ports need all of E_rev, tau_rise and "
                         f"tau_decay; missing {missing}")
    if n < 1:
        raise ValueError(f"{owner}: E_rev, tau_rise and tau_decay must not be empty")
    return n


@cache
def _specialised(n: int) -> AeifCondBetaMultisynapse:
    m = AeifCondBetaMultisynapse(n)
    m.check_spec()
    return m


CELLS.register(AeifCondBetaMultisynapse)  # after _specialised: its check builds one
