"""Parameter declarations shared by NEST's point models (names, units, NEST 3.10 defaults).

A model takes these as they are or with another default (``dataclasses.replace``)."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ..registry import Param, Port, Var

__all__ = ["E_L", "C_m", "tau_m", "t_ref", "V_th", "V_reset", "I_e", "V_m", "V_min",
           "tau_syn_ex", "tau_syn_in", "g_L", "E_ex", "E_in", "SPIKE_PORT", "DELTA_PORT",
           "V_REL", "replace", "beta_normalization"]

E_L = Param("E_L", -70.0, "mV", "leak reversal (resting) potential")
C_m = Param("C_m", 250.0, "pF", "membrane capacitance", gt=0.0)
tau_m = Param("tau_m", 10.0, "ms", "membrane time constant", gt=0.0)
t_ref = Param("t_ref", 2.0, "ms", "duration of the absolute refractory period", ge=0.0)
V_th = Param("V_th", -55.0, "mV", "spike threshold")
V_reset = Param("V_reset", -70.0, "mV", "membrane potential after a spike")
I_e = Param("I_e", 0.0, "pA", "constant external input current")
V_m = Param("V_m", math.nan, "mV", "initial membrane potential (default: E_L)", initial=True)
V_min = Param("V_min", -math.inf, "mV", "absolute lower bound of the membrane potential")
tau_syn_ex = Param("tau_syn_ex", 2.0, "ms", "time constant of excitatory synaptic input",
                   gt=0.0)
tau_syn_in = Param("tau_syn_in", 2.0, "ms", "time constant of inhibitory synaptic input",
                   gt=0.0)
g_L = Param("g_L", 16.6667, "nS", "leak conductance", gt=0.0)
E_ex = Param("E_ex", 0.0, "mV", "excitatory reversal potential")
E_in = Param("E_in", -85.0, "mV", "inhibitory reversal potential")

#: NEST's spike port of its point models: receptor_type 0, split by the sign of the weight
SPIKE_PORT = Port("spike", 0, ("ex", "in"),
                  "spikes; weight >= 0 excitatory, < 0 inhibitory (NEST receptor_type 0)")
#: the port of delta-synapse models: one row, the weight is added to V_m
DELTA_PORT = Port("spike", 0, ("all",), "spikes; the weight (mV) jumps V_m")

#: V_m of models that integrate the membrane potential relative to E_L
V_REL = Var("V_m", "mV", "membrane potential", state="V", offset="E_L")


def beta_normalization(tau_rise: np.ndarray, tau_decay: np.ndarray) -> np.ndarray:
    """NEST's ``beta_normalization_factor``: the jump of dg that makes g peak at 1 (the alpha
    function's e/τ when the time constants (nearly) coincide)."""
    eps = np.finfo(np.float64).eps
    out = np.empty(tau_rise.shape)
    for i, (tr, td) in enumerate(zip(tau_rise.tolist(), tau_decay.tolist())):
        diff = td - tr
        peak = 0.0
        if abs(diff) > eps:
            t_peak = td * tr * math.log(td / tr) / diff
            peak = math.exp(-t_peak / td) - math.exp(-t_peak / tr)
        out[i] = math.e / td if abs(peak) < eps else (1.0 / tr - 1.0 / td) / peak
    return out
