"""``beta``: a rise-and-decay (difference of exponentials) conductance peaking at the weight."""

from __future__ import annotations

import numba
import numpy as np

from ..cells.common import beta_normalization
from ..registry import RECEPTORS, Param, Var
from .base import ReceptorKind

#: the parameters of a beta conductance (shared with ``nmda``)
BETA_PARAMS = (Param("E_rev", 0.0, "mV", "reversal potential"),
               Param("tau_rise", 0.5, "ms", "rise time constant", gt=0.0),
               Param("tau_decay", 2.0, "ms", "decay time constant", gt=0.0))
BETA_STATE = (Var("dg", "nS/ms", "derivative state of the conductance"),
              Var("g", "nS", "conductance"))


@numba.njit(cache=True)
def current(y, o, c, q, v):
    # c[q]: E_rev, tau_rise, tau_decay, g0
    return y[o + 1] * (c[q] - v)


@numba.njit(cache=True)
def deriv(y, f, o, c, q, v):
    f[o] = -y[o] / c[q + 1]
    f[o + 1] = y[o] - y[o + 1] / c[q + 2]


@numba.njit(cache=True)
def jump(y, o, c, q, w):
    y[o] += w * c[q + 3]


def check_beta(p: dict, owner: str) -> None:
    if p["tau_rise"] > p["tau_decay"]:
        raise ValueError(f"{owner}: tau_rise ({p['tau_rise']:g} ms) must be <= tau_decay "
                         f"({p['tau_decay']:g} ms)")


def beta_constants(p: dict) -> dict:
    return {"E_rev": p["E_rev"], "tau_rise": p["tau_rise"], "tau_decay": p["tau_decay"],
            "g0": beta_normalization(np.asarray(p["tau_rise"], np.float64),
                                     np.asarray(p["tau_decay"], np.float64))}


def beta_deriv_np(y, f, o, c):
    f[o] = -y[o] / c["tau_rise"]
    f[o + 1] = y[o] - y[o + 1] / c["tau_decay"]


@RECEPTORS.register
class BetaReceptor(ReceptorKind):
    """Beta (rise/decay) conductance peaking at w (nS); an alpha function when τ_rise = τ_decay.

    I = g (E_rev − V); dg'/dt = −g'/τ_rise, dg/dt = g' − g/τ_decay; a spike adds
    w · ``beta_normalization``(τ_rise, τ_decay) to g' so that g peaks at w (NEST's
    ``aeif_cond_beta_multisynapse`` port, here for any hosting model).
    """

    name = "beta"
    params = BETA_PARAMS
    state = BETA_STATE
    consts = ("E_rev", "tau_rise", "tau_decay", "g0")
    references = ("Rotter S, Diesmann M (1999). Exact digital simulation of time-invariant "
                  "linear systems with applications to neuronal modeling. Biol Cybern "
                  "81:381-402.",)
    current, deriv, jump = current, deriv, jump

    def check(self, p, owner):
        check_beta(p, owner)

    def constants(self, p):
        return beta_constants(p)

    def current_np(self, y, o, c, v):
        return y[o + 1] * (c["E_rev"] - v)

    def deriv_np(self, y, f, o, c, v):
        beta_deriv_np(y, f, o, c)

    def jump_np(self, y, o, c, w):
        y[o] += w * c["g0"]
