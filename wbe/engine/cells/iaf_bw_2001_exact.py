"""``iaf_bw_2001_exact``: the Brunel & Wang (2001) neuron with every NMDA synapse integrated
on its own (NEST 3.10's ``iaf_bw_2001_exact``, models/iaf_bw_2001_exact.cpp).

The membrane, AMPA and GABA as :mod:`.iaf_bw_2001`; NMDA: each connection j into the NMDA port
has its own rise variable x_j and gating s_j, dx_j/dt = −x_j/τ_rise_NMDA,
ds_j/dt = −s_j/τ_decay_NMDA + α x_j (1 − s_j), and s_NMDA = Σ_j w_j s_j enters the current
with the Mg²⁺ unblock. A spike on connection j adds 1 to x_j (the weight only scales s_j in
the sum). All of it is one ODE system for GSL's rkf45 (absolute tolerance
``gsl_error_tol``), so every synapse's error bounds the step, as in NEST.

How wbe holds it: the NMDA port is ``per_connection`` — connection j of a neuron is numbered by
projection, source id and edge order (NEST numbers them in Connect order; the reference tests
connect NEST in that order) and delivers into ring row ``NMDA + j``; the model is specialised to
the most NMDA connections a neuron of its population has (K). The state vector of a neuron is
V, s_AMPA, s_GABA, (x_j, s_j) for j < K, then the weights w_j: those have derivative 0, so they
ride through the solver unchanged and add nothing to its error norm; unused pairs stay exactly
0 and change neither the sum nor the step sequence. A connection's weight is learnt when its
first spike arrives, as NEST does (it must be non-zero and fixed). Recordables as NEST:
``s_NMDA`` and the currents are those of the last right-hand-side evaluation. Any sender may
feed the NMDA port. Memory: the ring has K NMDA rows for every neuron of the network.
"""

from __future__ import annotations

import math
from functools import cache

import numba
import numpy as np

from ..registry import CELLS, Port, Var
from . import libm
from .iaf_bw_2001 import _CONSTS as _BW_CONSTS
from .iaf_bw_2001 import _PARAMS as _BW_PARAMS
from .iaf_bw_2001 import IafBw2001
from .rkf45 import init_h, integrate_np, make_evolve

_PARAMS = tuple(p for p in _BW_PARAMS if p.name != "s_NMDA")
_CONSTS = (*_BW_CONSTS[:-1], "alpha", "tau_rise_NMDA", "h_step")
_H = len(_CONSTS) - 1
_REC = ("s_NMDA", "I_AMPA", "I_GABA", "I_NMDA")


@numba.njit(cache=True)
def _currents(y, c):
    # y: V, s_AMPA, s_GABA, (x_j, s_j) * K, w_j * K; returns I_AMPA, I_GABA, I_NMDA, s_NMDA
    k = (y.shape[0] - 3) // 3
    v = y[0]
    i_ampa = (v - c[1]) * y[1]
    i_gaba = (v - c[2]) * y[2]
    s_sum = 0.0
    for j in range(k):
        s_sum += y[4 + 2 * j] * y[3 + 2 * k + j]
    i_nmda = (v - c[1]) / (1.0 + c[10] * math.exp(-0.062 * v) / 3.57) * s_sum
    return i_ampa, i_gaba, i_nmda, s_sum


@numba.njit(cache=True)
def _rhs(y, f, c, istim, refr):
    k = (y.shape[0] - 3) // 3
    i_ampa, i_gaba, i_nmda, _s = _currents(y, c)
    i_syn = i_ampa + i_gaba + i_nmda
    f[0] = (-c[6] * (y[0] - c[0]) - i_syn + istim) / c[5]
    f[1] = -y[1] / c[7]
    f[2] = -y[2] / c[8]
    for j in range(k):
        x, s = y[3 + 2 * j], y[4 + 2 * j]
        f[4 + 2 * j] = -s / c[9] + c[12] * x * (1.0 - s)
        f[3 + 2 * j] = -x / c[13]
        f[3 + 2 * k + j] = 0.0  # the weights


def _currents_np(y, c):
    k = (y.shape[0] - 3) // 3
    v = y[0]
    i_ampa = (v - c["E_ex"]) * y[1]
    i_gaba = (v - c["E_in"]) * y[2]
    s_sum = np.zeros_like(v)
    for j in range(k):
        s_sum = s_sum + y[4 + 2 * j] * y[3 + 2 * k + j]
    i_nmda = (v - c["E_ex"]) / (1.0 + c["conc_Mg2"] * libm.exp(-0.062 * v) / 3.57) * s_sum
    return i_ampa, i_gaba, i_nmda, s_sum


def _rhs_np(y, c, istim, refr):
    k = (y.shape[0] - 3) // 3
    i_ampa, i_gaba, i_nmda, _s = _currents_np(y, c)
    i_syn = i_ampa + i_gaba + i_nmda
    f = np.zeros_like(y)
    f[0] = (-c["g_L"] * (y[0] - c["E_L"]) - i_syn + istim) / c["C_m"]
    f[1] = -y[1] / c["tau_AMPA"]
    f[2] = -y[2] / c["tau_GABA"]
    for j in range(k):
        x, s = y[3 + 2 * j], y[4 + 2 * j]
        f[4 + 2 * j] = -s / c["tau_decay_NMDA"] + c["alpha"] * x * (1.0 - s)
        f[3 + 2 * j] = -x / c["tau_rise_NMDA"]
    return f


_evolve = make_evolve(_rhs)


@numba.njit(cache=True)
def kernel(b, ring, slot, istim, out_slot, out_stamp, nspk, stamp):
    sf, r, ctab, itab, ci = b.sf, b.si[0], b.ctab, b.itab, b.ci
    dim = sf.shape[0] - 5  # then s_NMDA, I_AMPA, I_GABA, I_NMDA, h_int
    k = (dim - 3) // 3
    init_h(sf[dim + 4], ctab, ci, _H)
    y = np.empty(dim)
    w = np.empty((10, dim))
    for i in range(sf.shape[1]):
        j = b.a + i
        c = ctab[ci[i]]
        for q in range(dim):
            y[q] = sf[q, i]
        t, h = 0.0, sf[dim + 4, i]
        while t < c[_H]:
            t, h = _evolve(t, c[_H], h, y, c, istim[j], False, c[11], 0.0, 1.0, 0.0, w)
        i_ampa, i_gaba, i_nmda, s_sum = _currents(y, c)  # NEST: the last RHS call's
        sf[dim, i], sf[dim + 1, i], sf[dim + 2, i], sf[dim + 3, i] = s_sum, i_ampa, i_gaba, \
            i_nmda
        y[1] += ring[0, slot, j]
        y[2] += ring[1, slot, j]
        ring[0, slot, j] = 0.0
        ring[1, slot, j] = 0.0
        for q in range(k):
            wq = ring[2 + q, slot, j]
            if wq != 0.0:  # a spike on connection q (one per step at most: one sender)
                y[3 + 2 * q] += 1.0
                y[3 + 2 * k + q] = wq
                ring[2 + q, slot, j] = 0.0
        if r[i] > 0:
            r[i] -= 1
            y[0] = c[4]
        elif y[0] >= c[3]:
            r[i] = itab[ci[i], 0]
            y[0] = c[4]
            out_slot[nspk] = j
            out_stamp[nspk] = stamp
            nspk += 1
        for q in range(dim):
            sf[q, i] = y[q]
        sf[dim + 4, i] = h
    return nspk


class IafBw2001Exact(IafBw2001):
    """Brunel & Wang (2001) integrate-and-fire neuron with every NMDA synapse's saturating
    kinetics integrated on its own (NEST ``iaf_bw_2001_exact``).

    As ``iaf_bw_2001`` for the membrane, AMPA and GABA; each NMDA connection j has its rise
    variable x_j (+1 per spike) and gating s_j (ds_j/dt = −s_j/τ_decay + α x_j (1 − s_j)), and
    s_NMDA = Σ w_j s_j. One ODE system per neuron, RKF45 as NEST; slow for many NMDA inputs (as
    in NEST), exact where ``iaf_bw_2001`` approximates the saturation.
    """

    name = "iaf_bw_2001_exact"
    nest_model = "iaf_bw_2001_exact"
    params = _PARAMS
    ei_ports = ("AMPA", "GABA")
    weight_unit = "nS"
    references = ("Brunel N, Wang X-J (2001). Effects of neuromodulation in a cortical network "
                  "model of object working memory dominated by recurrent inhibition. J Comput "
                  "Neurosci 11:63-85.",
                  "Wang X-J (1999). Synaptic basis of cortical persistent activity: the "
                  "importance of NMDA receptors to working memory. J Neurosci 19:9587-9603.")
    example = {"params": {"V_m": -65.0}, "weight": 6.0, "current_pA": 450.0}
    nest_vm_tolerance_mV = 1e-6
    kernel = kernel
    ports = (Port("AMPA", 1, ("AMPA",), "AMPA receptor; weight (nS) added to s_AMPA"),
             Port("GABA", 2, ("GABA",), "GABA receptor; weight (nS) added to s_GABA"),
             Port("NMDA", 3, ("NMDA",), "NMDA receptor: each connection its own synapse "
                  "(x_j += 1 per spike; weight w_j (nS, non-zero, fixed) scales s_j)",
                  per_connection=True))
    recordables = (Var("V_m", "mV", "membrane potential", state="V"),
                   Var("s_AMPA", "nS", "AMPA conductance", state="s_AMPA"),
                   Var("s_GABA", "nS", "GABA conductance", state="s_GABA"),
                   Var("s_NMDA", "nS", "NMDA conductance Σ w_j s_j (NEST's: the last "
                       "right-hand-side evaluation)", state="s_NMDA"),
                   *(Var(q, "pA", f"{q[2:]} current (NEST's: the last right-hand-side "
                         f"evaluation)", state=q) for q in ("I_NMDA", "I_AMPA", "I_GABA")))
    consts = _CONSTS

    def __init__(self, n_nmda: int = 0) -> None:
        self.n_nmda = k = int(n_nmda)
        self.state = (Var("V", "mV", "membrane potential"),
                      Var("s_AMPA", "nS", "AMPA conductance"),
                      Var("s_GABA", "nS", "GABA conductance"),
                      *(v for j in range(1, k + 1) for v in (
                          Var(f"x_NMDA_{j}", "", f"rise variable of NMDA connection {j}"),
                          Var(f"s_NMDA_{j}", "", f"gating of NMDA connection {j}"))),
                      *(Var(f"w_NMDA_{j}", "nS", f"weight of NMDA connection {j} (0 until its "
                                                 f"first spike)") for j in range(1, k + 1)),
                      *(Var(q, "nS" if q == "s_NMDA" else "pA",
                            f"{q} at the last right-hand-side evaluation") for q in _REC),
                      Var("h_int", "ms", "integration step carried between time steps (RKF45)"))

    @property
    def key(self) -> str:
        return f"{self.name}[{self.n_nmda}]"

    @property
    def rows(self) -> tuple[str, ...]:
        return ("AMPA", "GABA", "NMDA", *(f"NMDA_{j}" for j in range(2, self.n_nmda + 1)))

    def specialize(self, params, connections=None):
        return _specialised(int((connections or {}).get("NMDA", self.n_nmda)))

    # resolve (NEST's checks) and constants: iaf_bw_2001's

    def init_state(self, p):
        n = p["E_L"].size
        s = {"V": p["V_m"].copy(), "s_AMPA": p["s_AMPA"].copy(), "s_GABA": p["s_GABA"].copy(),
             "h_int": np.zeros(n), "r": np.zeros(n, np.int64)}
        for v in self.state:
            s.setdefault(v.name, np.zeros(n))
        return s

    def step(self, s, c, syn, i_stim_pA):
        n, k = s["V"].size, self.n_nmda
        names = [v.name for v in self.state[:3 + 3 * k]]
        h = np.where(s["h_int"] == 0.0, c["h_step"], s["h_int"])
        y = np.stack([s[q] for q in names])
        r = s["r"]
        istim = np.broadcast_to(np.asarray(i_stim_pA, np.float64), (n,))
        integrate_np(_rhs_np, y, h, c, istim, np.zeros(n, bool), c["h_step"][0] if n else 0.0,
                     c["gsl_error_tol"], 0.0, 1.0, 0.0)
        i_ampa, i_gaba, i_nmda, s_sum = _currents_np(y, c)
        s["s_NMDA"][...], s["I_AMPA"][...], s["I_GABA"][...], s["I_NMDA"][...] = \
            s_sum, i_ampa, i_gaba, i_nmda
        y[1] += syn[0]
        y[2] += syn[1]
        for q in range(k):
            hit = syn[2 + q] != 0.0
            y[3 + 2 * q] = np.where(hit, y[3 + 2 * q] + 1.0, y[3 + 2 * q])
            y[3 + 2 * k + q] = np.where(hit, syn[2 + q], y[3 + 2 * k + q])
        refr = r > 0
        spk = ~refr & (y[0] >= c["V_th"])
        r[refr] -= 1
        y[0] = np.where(refr | spk, c["V_reset"], y[0])
        r[spk] = c["refr"][spk]
        for q, v in zip(names, y):
            s[q][...] = v
        s["h_int"][...] = h
        return spk


@cache
def _specialised(k: int) -> IafBw2001Exact:
    m = IafBw2001Exact(k)
    m.check_spec()
    return m


CELLS.register(IafBw2001Exact)
