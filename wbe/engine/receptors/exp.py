"""``exp``: a conductance that jumps by the weight and decays exponentially."""

from __future__ import annotations

import numba

from ..registry import RECEPTORS, Param, Var
from .base import ReceptorKind


@numba.njit(cache=True)
def current(y, o, c, q, v):
    # c[q]: E_rev, tau_decay
    return y[o] * (c[q] - v)


@numba.njit(cache=True)
def deriv(y, f, o, c, q, v):
    f[o] = -y[o] / c[q + 1]


@numba.njit(cache=True)
def jump(y, o, c, q, w):
    y[o] += w


@RECEPTORS.register
class ExpReceptor(ReceptorKind):
    """Exponential conductance: g jumps by w (nS) and decays with ``tau_decay``.

    I = g (E_rev − V); dg/dt = −g/τ_decay (the kinetics of ``iaf_cond_exp``'s synapses, with a
    reversal potential per port).
    """

    name = "exp"
    params = (Param("E_rev", 0.0, "mV", "reversal potential"),
              Param("tau_decay", 2.0, "ms", "decay time constant", gt=0.0))
    state = (Var("g", "nS", "conductance"),)
    consts = ("E_rev", "tau_decay")
    current, deriv, jump = current, deriv, jump

    def constants(self, p):
        return {"E_rev": p["E_rev"], "tau_decay": p["tau_decay"]}

    def current_np(self, y, o, c, v):
        return y[o] * (c["E_rev"] - v)

    def deriv_np(self, y, f, o, c, v):
        f[o] = -y[o] / c["tau_decay"]

    def jump_np(self, y, o, c, w):
        y[o] += w
