"""NEURON's built-in ``pas`` and ``hh`` (``src/nrnoc/passive.mod``, ``hh.mod``)."""

from __future__ import annotations

import math

import numba
import numpy as np

from .base import Channel, register


# --------------------------------------------------------------------- pas
@numba.njit(cache=True)
def pas_init(v, s, p, e, cai, aux):
    pass


@numba.njit(cache=True)
def pas_current(v, s, p, e, cai, aux, ii):
    return p[0] * (v - p[1])


@numba.njit(cache=True)
def pas_state(v, s, p, e, cai, ica, aux, dt):
    pass


@register
class Pas(Channel):
    """Passive leak: i = g (v − e)."""

    name = "pas"
    params = {"g": 0.001, "e": -70.0}
    source = "NEURON src/nrnoc/passive.mod"
    init, current, state = pas_init, pas_current, pas_state


# --------------------------------------------------------------------- hh
@numba.njit(cache=True)
def _vtrap(x, y):
    if abs(x / y) < 1e-6:
        return y * (1.0 - x / y / 2.0)
    return x / (math.exp(x / y) - 1.0)


@numba.njit(cache=True)
def hh_rates_exact(v, q10):
    """(minf, mtau, hinf, htau, ninf, ntau) at ``v`` (hh.mod's ``rates``)."""
    alpha = 0.1 * _vtrap(-(v + 40.0), 10.0)
    beta = 4.0 * math.exp(-(v + 65.0) / 18.0)
    s = alpha + beta
    mtau = 1.0 / (q10 * s)
    minf = alpha / s
    alpha = 0.07 * math.exp(-(v + 65.0) / 20.0)
    beta = 1.0 / (math.exp(-(v + 35.0) / 10.0) + 1.0)
    s = alpha + beta
    htau = 1.0 / (q10 * s)
    hinf = alpha / s
    alpha = 0.01 * _vtrap(-(v + 55.0), 10.0)
    beta = 0.125 * math.exp(-(v + 65.0) / 80.0)
    s = alpha + beta
    ntau = 1.0 / (q10 * s)
    ninf = alpha / s
    return minf, mtau, hinf, htau, ninf, ntau


@numba.njit(cache=True)
def _row(aux, i):
    b = 3 + 6 * i
    return aux[b], aux[b + 1], aux[b + 2], aux[b + 3], aux[b + 4], aux[b + 5]


@numba.njit(cache=True)
def _hh_rates(v, aux):
    """hh's rates through NMODL's TABLE (aux[2] = 1: linear interpolation over 200 intervals
    from −100 to 100 mV, clamped at the ends; NEURON's ``usetable_hh``) or exactly."""
    if aux[2] == 0.0:
        return hh_rates_exact(v, aux[1])
    xi = (200.0 / 200.0) * (v - (-100.0))
    if xi <= 0.0:
        return _row(aux, 0)
    if xi >= 200.0:
        return _row(aux, 200)
    i = int(xi)
    th = xi - float(i)
    a0, a1, a2, a3, a4, a5 = _row(aux, i)
    b0, b1, b2, b3, b4, b5 = _row(aux, i + 1)
    return (a0 + th * (b0 - a0), a1 + th * (b1 - a1), a2 + th * (b2 - a2),
            a3 + th * (b3 - a3), a4 + th * (b4 - a4), a5 + th * (b5 - a5))


@numba.njit(cache=True)
def hh_init(v, s, p, e, cai, aux):
    r = _hh_rates(v, aux)
    s[0], s[1], s[2] = r[0], r[2], r[4]


@numba.njit(cache=True)
def hh_current(v, s, p, e, cai, aux, ii):
    gna = p[0] * s[0] * s[0] * s[0] * s[1]
    ina = gna * (v - e[0])
    gk = p[1] * s[2] * s[2] * s[2] * s[2]
    ik = gk * (v - e[1])
    il = p[2] * (v - p[3])
    ii[0] += ina
    ii[1] += ik
    return ina + ik + il


@numba.njit(cache=True)
def _cnexp(x, inf, tau, dt):
    """NMODL's cnexp step of x' = (inf − x)/tau, in the form nocmodl writes it."""
    return x + (1.0 - math.exp(dt * ((-1.0) / tau))) * (-((inf) / tau) / ((-1.0) / tau) - x)


@numba.njit(cache=True)
def hh_state(v, s, p, e, cai, ica, aux, dt):
    r = _hh_rates(v, aux)
    s[0] = _cnexp(s[0], r[0], r[1], dt)
    s[1] = _cnexp(s[1], r[2], r[3], dt)
    s[2] = _cnexp(s[2], r[4], r[5], dt)


@register
class HH(Channel):
    """Hodgkin–Huxley squid axon sodium, potassium and leak (NEURON's ``hh``); q10 = 3 from
    6.3 °C; NEURON's rate table unless ``usetable_hh`` is False."""

    name = "hh"
    params = {"gnabar": 0.12, "gkbar": 0.036, "gl": 0.0003, "el": -54.3}
    states = ("m", "h", "n")
    ions = ("na", "k")
    source = "NEURON src/nrnoc/hh.mod"
    init, current, state = hh_init, hh_current, hh_state

    def aux(self, celsius, options):
        q10 = 3.0 ** ((celsius - 6.3) / 10.0)
        use = bool(options.get("usetable_hh", True))
        table = np.array([hh_rates_exact(-100.0 + float(i) * ((100.0 - (-100.0)) / 200.0), q10)
                          for i in range(201)])
        return np.concatenate([[celsius, q10, 1.0 if use else 0.0], table.ravel()])
