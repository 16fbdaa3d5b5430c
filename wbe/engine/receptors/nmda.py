"""``nmda``: a beta conductance gated by the voltage-dependent Mg²⁺ block (Jahr & Stevens 1990)."""

from __future__ import annotations

import math

import numba

from ..cells import libm
from ..registry import RECEPTORS, Param
from .base import ReceptorKind
from .beta import BETA_PARAMS, BETA_STATE, beta_constants, beta_deriv_np, check_beta
from .beta import deriv as beta_deriv
from .beta import jump as beta_jump

_PARAMS = (BETA_PARAMS[0],
           Param("tau_rise", 2.0, "ms", "rise time constant", gt=0.0),
           Param("tau_decay", 100.0, "ms", "decay time constant", gt=0.0),
           Param("conc_Mg2", 1.0, "mM", "extracellular magnesium concentration", ge=0.0),
           Param("K_Mg", 3.57, "mM", "Mg²⁺ concentration of half block at 0 mV", gt=0.0),
           Param("gamma_Mg", 0.062, "1/mV", "voltage dependence of the block"))


@numba.njit(cache=True)
def current(y, o, c, q, v):
    # c[q]: E_rev, tau_rise, tau_decay, g0, conc_Mg2, K_Mg, gamma_Mg
    return y[o + 1] * (c[q] - v) / (1.0 + c[q + 4] / c[q + 5] * math.exp(-c[q + 6] * v))


@RECEPTORS.register
class NmdaReceptor(ReceptorKind):
    """NMDA conductance: a beta function of time gated by the Mg²⁺ block B(V).

    I = g B(V) (E_rev − V), B(V) = 1 / (1 + [Mg²⁺]/K_Mg · exp(−γ V)) with Jahr & Stevens' (1990)
    K_Mg = 3.57 mM and γ = 0.062 /mV; g follows the ``beta`` kinetics (peak w nS, default
    τ_rise 2 ms, τ_decay 100 ms). The block is instantaneous (``ht_neuron`` has NEST's
    slow/fast unblock kinetics).
    """

    name = "nmda"
    params = _PARAMS
    state = BETA_STATE
    consts = ("E_rev", "tau_rise", "tau_decay", "g0", "conc_Mg2", "K_Mg", "gamma_Mg")
    references = ("Jahr CE, Stevens CF (1990). Voltage dependence of NMDA-activated "
                  "macroscopic conductances predicted by single-channel kinetics. J Neurosci "
                  "10:3178-3182.",)
    current, deriv, jump = current, beta_deriv, beta_jump

    def check(self, p, owner):
        check_beta(p, owner)

    def constants(self, p):
        return {**beta_constants(p), "conc_Mg2": p["conc_Mg2"], "K_Mg": p["K_Mg"],
                "gamma_Mg": p["gamma_Mg"]}

    def current_np(self, y, o, c, v):
        return y[o + 1] * (c["E_rev"] - v) / (
            1.0 + c["conc_Mg2"] / c["K_Mg"] * libm.exp(-c["gamma_Mg"] * v))

    def deriv_np(self, y, f, o, c, v):
        beta_deriv_np(y, f, o, c)

    def jump_np(self, y, o, c, w):
        y[o] += w * c["g0"]
