"""``gaba_b``: the GABA_B receptor's G-protein cascade (Destexhe & Sejnowski 1995; Destexhe et
al. 1996): slow, and cooperative, so that bursts open far more channels than single spikes."""

from __future__ import annotations

import numba

from ..cells import libm
from ..registry import RECEPTORS, Param, Var
from .base import ReceptorKind


@numba.njit(cache=True)
def current(y, o, c, q, v):
    # y[o:]: T, R, G; c[q]: E_rev, g_max, C_max, tau_T, K1, K2, K3, K4, K_D, n
    gn = y[o + 2] ** c[q + 9]
    return c[q + 1] * gn / (gn + c[q + 8]) * (c[q] - v)


@numba.njit(cache=True)
def deriv(y, f, o, c, q, v):
    f[o] = -y[o] / c[q + 3]
    f[o + 1] = c[q + 4] * y[o] * (1.0 - y[o + 1]) - c[q + 5] * y[o + 1]
    f[o + 2] = c[q + 6] * y[o + 1] - c[q + 7] * y[o + 2]


@numba.njit(cache=True)
def jump(y, o, c, q, w):
    y[o] += w * c[q + 2]


@RECEPTORS.register
class GabaBReceptor(ReceptorKind):
    """GABA_B receptor: a G-protein cascade that opens K⁺ channels cooperatively (slow, bursts).

    Transmitter T → receptor activation R → G-protein G → K⁺ channels, g = g_max Gⁿ/(Gⁿ + K_D):
    dT/dt = −T/τ_T (a release of weight w adds w·C_max mM of GABA); dR/dt = K1 T (1 − R) − K2 R;
    dG/dt = K3 R − K4 G; I = g_max Gⁿ/(Gⁿ + K_D) (E_rev − V). The rates, K_D, n and E_rev are
    Destexhe et al.'s (1996) fit to Otis et al.'s (1993) GABA_B currents; their square pulse of
    transmitter (C_max for 0.3 ms) is an exponential of the same area (τ_T = 0.3 ms). The
    weight counts releases (1 = one release of C_max; dimensionless); several synapses share
    the port's G-proteins, so the response grows steeply with their joint activity.
    """

    name = "gaba_b"
    params = (Param("E_rev", -95.0, "mV", "reversal potential (of K⁺)"),
              Param("g_max", 1.0, "nS", "maximal conductance (all K⁺ channels open)", ge=0.0),
              Param("C_max", 0.5, "mM", "GABA concentration one release adds", ge=0.0),
              Param("tau_T", 0.3, "ms", "time constant of transmitter clearance", gt=0.0),
              Param("K1", 0.52, "1/(mM ms)", "binding rate of GABA to the receptor", ge=0.0),
              Param("K2", 0.0013, "1/ms", "unbinding rate of the receptor", ge=0.0),
              Param("K3", 0.098, "1/ms", "rate of G-protein activation", ge=0.0),
              Param("K4", 0.033, "1/ms", "rate of G-protein decay", gt=0.0),
              Param("K_D", 100.0, "", "dissociation constant of the K⁺ channel (Gⁿ units)",
                    gt=0.0),
              Param("n", 4.0, "", "G-proteins binding one K⁺ channel", ge=1.0, integer=True))
    state = (Var("T", "mM", "GABA concentration"),
             Var("R", "", "fraction of activated receptors"),
             Var("G", "", "activated G-protein"))
    consts = ("E_rev", "g_max", "C_max", "tau_T", "K1", "K2", "K3", "K4", "K_D", "n")
    weight_unit = ""
    references = ("Destexhe A, Sejnowski TJ (1995). G protein activation kinetics and spillover "
                  "of gamma-aminobutyric acid may account for differences between inhibitory "
                  "responses in the hippocampus and thalamus. PNAS 92:9515-9519.",
                  "Destexhe A, Bal T, McCormick DA, Sejnowski TJ (1996). Ionic mechanisms "
                  "underlying synchronized oscillations and propagating waves in a model of "
                  "ferret thalamic slices. J Neurophysiol 76:2049-2070.")
    current, deriv, jump = current, deriv, jump

    def constants(self, p):
        return {k: p[k] for k in self.consts}

    def current_np(self, y, o, c, v):
        gn = libm.pow(y[o + 2], c["n"])
        return c["g_max"] * gn / (gn + c["K_D"]) * (c["E_rev"] - v)

    def deriv_np(self, y, f, o, c, v):
        f[o] = -y[o] / c["tau_T"]
        f[o + 1] = c["K1"] * y[o] * (1.0 - y[o + 1]) - c["K2"] * y[o + 1]
        f[o + 2] = c["K3"] * y[o + 1] - c["K4"] * y[o + 2]

    def jump_np(self, y, o, c, w):
        y[o] += w * c["C_max"]
