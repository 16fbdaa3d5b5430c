"""The Allen Cell Types perisomatic channel set, transcribed from the ``.mod`` files that ship
in bmtk's wheel (``bmtk/utils/scripts/bionet/mechanisms/modfiles``; Hay et al. 2011's models as
the Allen Institute adapted them): their RANGE parameters, rate functions and ``cnexp`` steps
as NMODL generates them. Temperature factors ``qt = 2.3^((celsius − T0)/10)`` as in each file.
``NaV`` is a kinetic scheme, stepped implicitly."""

from __future__ import annotations

import math

import numba
import numpy as np

from .base import Channel, register
from .builtin import _cnexp


@numba.njit(cache=True)
def _vtrap(x, y):
    if abs(x / y) < 1e-6:
        return y * (1.0 - x / y / 2.0)
    return x / (math.exp(x / y) - 1.0)


@numba.njit(cache=True)
def _qt(celsius, t0):
    return math.pow(2.3, (celsius - t0) / 10.0)


# ------------------------------------------------------------------ NaTs / NaTa (Colbert & Pan)
@numba.njit(cache=True)
def _nat_rates(v, p, celsius):
    # p: gbar, malphaF, mbetaF, mvhalf, mk, halphaF, hbetaF, hvhalf, hk
    qt = _qt(celsius, 23.0)
    ma = p[1] * _vtrap(-(v - p[3]), p[4])
    mb = p[2] * _vtrap((v - p[3]), p[4])
    r0 = ma / (ma + mb)
    r1 = (1.0 / (ma + mb)) / qt
    ha = p[5] * _vtrap(v - p[7], p[8])
    hb = p[6] * _vtrap(-(v - p[7]), p[8])
    r2 = ha / (ha + hb)
    r3 = (1.0 / (ha + hb)) / qt
    return r0, r1, r2, r3


@numba.njit(cache=True)
def nat_init(v, s, p, e, cai, aux):
    r = _nat_rates(v, p, aux[0])
    s[0], s[1] = r[0], r[2]


@numba.njit(cache=True)
def nat_current(v, s, p, e, cai, aux, ii):
    ina = p[0] * s[0] * s[0] * s[0] * s[1] * (v - e[0])
    ii[0] += ina
    return ina


@numba.njit(cache=True)
def nat_state(v, s, p, e, cai, ica, aux, dt):
    r = _nat_rates(v, p, aux[0])
    s[0] = _cnexp(s[0], r[0], r[1], dt)
    s[1] = _cnexp(s[1], r[2], r[3], dt)


_NAT = {"gbar": 0.00001, "malphaF": 0.182, "mbetaF": 0.124, "mvhalf": -40.0, "mk": 6.0,
        "halphaF": 0.015, "hbetaF": 0.015, "hvhalf": -66.0, "hk": 6.0}


@register
class NaTs(Channel):
    """Fast inactivating Na⁺ (soma; Colbert & Pan 2002)."""

    name = "NaTs"
    params = _NAT
    states = ("m", "h")
    ions = ("na",)
    source = "bmtk modfiles/NaTs.mod"
    init, current, state = nat_init, nat_current, nat_state


@register
class NaTa(Channel):
    """Fast inactivating Na⁺ (axon; Colbert & Pan 2002)."""

    name = "NaTa"
    params = {**_NAT, "mvhalf": -48.0, "hvhalf": -69.0}
    states = ("m", "h")
    ions = ("na",)
    source = "bmtk modfiles/NaTa.mod"
    init, current, state = nat_init, nat_current, nat_state


# ------------------------------------------------------------------ Nap (persistent Na+)
@numba.njit(cache=True)
def _nap_rates(v, celsius):
    qt = _qt(celsius, 21.0)
    r0 = 1.0 / (1.0 + math.exp((v - -52.6) / -4.6))
    r1 = 1.0 / (1.0 + math.exp((v - -48.8) / 10.0))
    ha = 2.88e-6 * _vtrap(v + 17.0, 4.63)
    hb = 6.94e-6 * _vtrap(-(v + 64.4), 2.63)
    r2 = (1.0 / (ha + hb)) / qt
    return r0, r1, r2


@numba.njit(cache=True)
def nap_init(v, s, p, e, cai, aux):
    r = _nap_rates(v, aux[0])
    s[0] = r[1]


@numba.njit(cache=True)
def nap_current(v, s, p, e, cai, aux, ii):
    r = _nap_rates(v, aux[0])  # instantaneous activation: rates() in BREAKPOINT
    ina = p[0] * r[0] * s[0] * (v - e[0])
    ii[0] += ina
    return ina


@numba.njit(cache=True)
def nap_state(v, s, p, e, cai, ica, aux, dt):
    r = _nap_rates(v, aux[0])
    s[0] = _cnexp(s[0], r[1], r[2], dt)


@register
class Nap(Channel):
    """Persistent Na⁺ (Magistretti & Alonso 1999), instantaneous activation."""

    name = "Nap"
    params = {"gbar": 0.00001}
    states = ("h",)
    ions = ("na",)
    source = "bmtk modfiles/Nap.mod"
    init, current, state = nap_init, nap_current, nap_state


# ------------------------------------------------------------------ two-gate K+ and Ca2+ channels
@numba.njit(cache=True)
def _kp_rates(v, p, celsius):
    # p: gbar, vshift, tauF
    qt = _qt(celsius, 21.0)
    r0 = 1.0 / (1.0 + math.exp(-(v - (-14.3 + p[1])) / 14.6))
    if v < -50.0 + p[1]:
        r1 = p[2] * (1.25 + 175.03 * math.exp(-(v - p[1]) * -0.026)) / qt
    else:
        r1 = p[2] * (1.25 + 13.0 * math.exp(-(v - p[1]) * 0.026)) / qt
    r2 = 1.0 / (1.0 + math.exp(-(v - (-54.0 + p[1])) / -11.0))
    r3 = (360.0 + (1010.0 + 24.0 * (v - (-55.0 + p[1]))) * math.exp(
        -math.pow((v - (-75.0 + p[1])) / 48.0, 2.0))) / qt
    return r0, r1, r2, r3


@numba.njit(cache=True)
def _kt_rates(v, p, celsius):
    # p: gbar, vshift, mTauF, hTauF
    qt = _qt(celsius, 21.0)
    r0 = 1.0 / (1.0 + math.exp(-(v - (-47.0 + p[1])) / 29.0))
    r1 = (0.34 + p[2] * 0.92 * math.exp(-math.pow((v + 71.0 - p[1]) / 59.0, 2.0))) / qt
    r2 = 1.0 / (1.0 + math.exp(-(v + 66.0 - p[1]) / -10.0))
    r3 = (8.0 + p[3] * 49.0 * math.exp(-math.pow((v + 73.0 - p[1]) / 23.0, 2.0))) / qt
    return r0, r1, r2, r3


@numba.njit(cache=True)
def _kd_rates(v, p, celsius):
    r0 = 1.0 - 1.0 / (1.0 + math.exp((v - (-43.0)) / 8.0))
    r1 = 1.0
    r2 = 1.0 / (1.0 + math.exp((v - (-67.0)) / 7.3))
    r3 = 1500.0
    return r0, r1, r2, r3


@numba.njit(cache=True)
def _cahva_rates(v, p, celsius):
    ma = 0.055 * _vtrap(-27.0 - v, 3.8)
    mb = 0.94 * math.exp((-75.0 - v) / 17.0)
    r0 = ma / (ma + mb)
    r1 = 1.0 / (ma + mb)
    ha = 0.000457 * math.exp((-13.0 - v) / 50.0)
    hb = 0.0065 / (math.exp((-v - 15.0) / 28.0) + 1.0)
    r2 = ha / (ha + hb)
    r3 = 1.0 / (ha + hb)
    return r0, r1, r2, r3


@numba.njit(cache=True)
def _calva_rates(v, p, celsius):
    qt = _qt(celsius, 21.0)
    v = v + 10.0
    r0 = 1.0000 / (1.0 + math.exp((v - -30.000) / -6.0))
    r1 = (5.0000 + 20.0000 / (1.0 + math.exp((v - -25.000) / 5.0))) / qt
    r2 = 1.0000 / (1.0 + math.exp((v - -80.000) / 6.4))
    r3 = (20.0000 + 50.0000 / (1.0 + math.exp((v - -40.000) / 7.0))) / qt
    return r0, r1, r2, r3


@numba.njit(cache=True)
def _tg_rates(kind, v, p, celsius):
    if kind == 0:
        return _kp_rates(v, p, celsius)
    if kind == 1:
        return _kt_rates(v, p, celsius)
    if kind == 2:
        return _kd_rates(v, p, celsius)
    if kind == 3:
        return _cahva_rates(v, p, celsius)
    return _calva_rates(v, p, celsius)


# a channel g = gbar·m^q·h on one ion; aux: celsius, rate kind, ion (0 na, 1 k, 2 ca), q
@numba.njit(cache=True)
def tg_init(v, s, p, e, cai, aux):
    r = _tg_rates(int(aux[1]), v, p, aux[0])
    s[0], s[1] = r[0], r[2]


@numba.njit(cache=True)
def tg_current(v, s, p, e, cai, aux, ii):
    ion = int(aux[2])
    m = s[0]
    g = p[0]
    for _ in range(int(aux[3])):
        g = g * m
    i = g * s[1] * (v - e[ion])
    ii[ion] += i
    return i


@numba.njit(cache=True)
def tg_state(v, s, p, e, cai, ica, aux, dt):
    r = _tg_rates(int(aux[1]), v, p, aux[0])
    s[0] = _cnexp(s[0], r[0], r[1], dt)
    s[1] = _cnexp(s[1], r[2], r[3], dt)


class _TwoGate(Channel):
    states = ("m", "h")
    init, current, state = tg_init, tg_current, tg_state
    _kind = _ion = _q = 0

    def aux(self, celsius, options):
        return np.array([float(celsius), self._kind, self._ion, self._q], float)


@register
class KP(_TwoGate):
    """Persistent K⁺ (Korngreen & Sakmann 2000)."""

    name = "K_P"
    params = {"gbar": 0.00001, "vshift": 0.0, "tauF": 1.0}
    ions = ("k",)
    source = "bmtk modfiles/K_P.mod"
    _kind, _ion, _q = 0, 1, 2


@register
class KT(_TwoGate):
    """Transient K⁺ (Korngreen & Sakmann 2000)."""

    name = "K_T"
    params = {"gbar": 0.00001, "vshift": 0.0, "mTauF": 1.0, "hTauF": 1.0}
    ions = ("k",)
    source = "bmtk modfiles/K_T.mod"
    _kind, _ion, _q = 1, 1, 4


@register
class Kd(_TwoGate):
    """Slowly inactivating K⁺ (Foust et al. 2011)."""

    name = "Kd"
    params = {"gbar": 0.00001}
    ions = ("k",)
    source = "bmtk modfiles/Kd.mod"
    _kind, _ion, _q = 2, 1, 1


@register
class CaHVA(_TwoGate):
    """High-voltage-activated Ca²⁺ (Reuveni et al. 1993)."""

    name = "Ca_HVA"
    params = {"gbar": 0.00001}
    ions = ("ca",)
    source = "bmtk modfiles/Ca_HVA.mod"
    _kind, _ion, _q = 3, 2, 2


@register
class CaLVA(_TwoGate):
    """Low-voltage-activated Ca²⁺ (Avery & Johnston 1996; Randall & Tsien 1997)."""

    name = "Ca_LVA"
    params = {"gbar": 0.00001}
    ions = ("ca",)
    source = "bmtk modfiles/Ca_LVA.mod"
    _kind, _ion, _q = 4, 2, 2


# ------------------------------------------------------------------ Kv2like (two inactivations)
@numba.njit(cache=True)
def _kv2_rates(v, celsius):
    qt = _qt(celsius, 21.0)
    ma = 0.12 * _vtrap(-(v - 43.0), 11.0)
    mb = 0.02 * math.exp(-(v + 1.27) / 120.0)
    r0 = ma / (ma + mb)
    r1 = 2.5 * (1.0 / (qt * (ma + mb)))
    r2 = 1.0 / (1.0 + math.exp((v + 58.0) / 11.0))
    r3 = (360.0 + (1010.0 + 23.7 * (v + 54.0)) * math.exp(
        -math.pow((v + 75.0) / 48.0, 2.0))) / qt
    r4 = (2350.0 + 1380.0 * math.exp(-0.011 * v) - 210.0 * math.exp(-0.03 * v)) / qt
    return r0, r1, r2, r3, r4


@numba.njit(cache=True)
def kv2_init(v, s, p, e, cai, aux):
    r = _kv2_rates(v, aux[0])
    s[0], s[1], s[2] = r[0], r[2], r[2]


@numba.njit(cache=True)
def kv2_current(v, s, p, e, cai, aux, ii):
    ik = p[0] * s[0] * s[0] * (0.5 * s[1] + 0.5 * s[2]) * (v - e[1])
    ii[1] += ik
    return ik


@numba.njit(cache=True)
def kv2_state(v, s, p, e, cai, ica, aux, dt):
    r = _kv2_rates(v, aux[0])
    s[0] = _cnexp(s[0], r[0], r[1], dt)
    s[1] = _cnexp(s[1], r[2], r[3], dt)
    s[2] = _cnexp(s[2], r[2], r[4], dt)


@register
class Kv2like(Channel):
    """Kv2-like K⁺ with two inactivation time scales."""

    name = "Kv2like"
    params = {"gbar": 0.00001}
    states = ("m", "h1", "h2")
    ions = ("k",)
    source = "bmtk modfiles/Kv2like.mod"
    init, current, state = kv2_init, kv2_current, kv2_state


# ------------------------------------------------------------------ one-gate channels
@numba.njit(cache=True)
def _kv31_rates(v, p, celsius):
    r0 = 1.0 / (1.0 + math.exp((v - (18.700 + p[1])) / (-9.700)))
    r1 = 0.2 * 20.000 / (1.0 + math.exp((v - (-46.560 + p[1])) / (-44.140)))
    return r0, r1


@numba.njit(cache=True)
def _im_rates(v, p, celsius):
    qt = _qt(celsius, 21.0)
    ma = 3.3e-3 * math.exp(2.5 * 0.04 * (v - -35.0))
    mb = 3.3e-3 * math.exp(-2.5 * 0.04 * (v - -35.0))
    r0 = ma / (ma + mb)
    r1 = (1.0 / (ma + mb)) / qt
    return r0, r1


@numba.njit(cache=True)
def _imv2_rates(v, p, celsius):
    qt = _qt(celsius, 30.0)
    ma = 0.007 * math.exp((6.0 * 0.4 * (v - (-48.0))) / 26.12)
    mb = 0.007 * math.exp((-6.0 * (1.0 - 0.4) * (v - (-48.0))) / 26.12)
    r0 = ma / (ma + mb)
    r1 = (15.0 + 1.0 / (ma + mb)) / qt
    return r0, r1


@numba.njit(cache=True)
def _ih_rates(v, p, celsius):
    ma = 0.001 * 6.43 * _vtrap(v + 154.9, 11.9)
    mb = 0.001 * 193.0 * math.exp(v / 33.1)
    r0 = ma / (ma + mb)
    r1 = 1.0 / (ma + mb)
    return r0, r1


@numba.njit(cache=True)
def _og_rates(kind, v, p, celsius):
    if kind == 0:
        return _kv31_rates(v, p, celsius)
    if kind == 1:
        return _im_rates(v, p, celsius)
    if kind == 2:
        return _imv2_rates(v, p, celsius)
    return _ih_rates(v, p, celsius)


# a channel g = gbar·m; aux: celsius, rate kind, ion (0 na, 1 k, 2 ca; -1 nonspecific with its
# reversal potential in p[1])
@numba.njit(cache=True)
def og_init(v, s, p, e, cai, aux):
    r = _og_rates(int(aux[1]), v, p, aux[0])
    s[0] = r[0]


@numba.njit(cache=True)
def og_current(v, s, p, e, cai, aux, ii):
    ion = int(aux[2])
    if ion < 0:
        return p[0] * s[0] * (v - p[1])
    i = p[0] * s[0] * (v - e[ion])
    ii[ion] += i
    return i


@numba.njit(cache=True)
def og_state(v, s, p, e, cai, ica, aux, dt):
    r = _og_rates(int(aux[1]), v, p, aux[0])
    s[0] = _cnexp(s[0], r[0], r[1], dt)


class _OneGate(Channel):
    states = ("m",)
    init, current, state = og_init, og_current, og_state
    _kind = _ion = 0

    def aux(self, celsius, options):
        return np.array([float(celsius), self._kind, self._ion], float)


@register
class Kv31(_OneGate):
    """Kv3.1 fast delayed rectifier (Rettig et al. 1992)."""

    name = "Kv3_1"
    params = {"gbar": 0.00001, "vshift": 0.0}
    ions = ("k",)
    source = "bmtk modfiles/Kv3_1.mod"
    _kind, _ion = 0, 1


@register
class Im(_OneGate):
    """Muscarinic K⁺ (Adams et al. 1982)."""

    name = "Im"
    params = {"gbar": 0.00001}
    ions = ("k",)
    source = "bmtk modfiles/Im.mod"
    _kind, _ion = 1, 1


@register
class ImV2(_OneGate):
    """Muscarinic K⁺, the Allen Institute's second fit."""

    name = "Im_v2"
    params = {"gbar": 0.00001}
    ions = ("k",)
    source = "bmtk modfiles/Im_v2.mod"
    _kind, _ion = 2, 1


@register
class Ih(_OneGate):
    """Hyperpolarisation-activated cation current (Kole et al. 2006), reversal ``ehcn``."""

    name = "Ih"
    params = {"gbar": 0.00001, "ehcn": -45.0}
    source = "bmtk modfiles/Ih.mod"
    _kind, _ion = 3, -1


# ------------------------------------------------------------------ SK (Ca2+-activated K+)
@numba.njit(cache=True)
def _sk_zinf(ca):
    if ca < 1e-7:
        ca = ca + 1e-07
    return 1.0 / (1.0 + math.pow(0.00043 / ca, 4.8))


@numba.njit(cache=True)
def sk_init(v, s, p, e, cai, aux):
    s[0] = _sk_zinf(cai)


@numba.njit(cache=True)
def sk_current(v, s, p, e, cai, aux, ii):
    ik = p[0] * s[0] * (v - e[1])
    ii[1] += ik
    return ik


@numba.njit(cache=True)
def sk_state(v, s, p, e, cai, ica, aux, dt):
    s[0] = _cnexp(s[0], _sk_zinf(cai), p[1], dt)


@register
class SK(Channel):
    """Small-conductance Ca²⁺-activated K⁺ (Köhler et al. 1996), reads ``cai``."""

    name = "SK"
    params = {"gbar": 0.000001, "zTau": 1.0}
    states = ("z",)
    ions = ("k",)
    reads_cai = True
    source = "bmtk modfiles/SK.mod"
    init, current, state = sk_init, sk_current, sk_state


# ------------------------------------------------------------------ CaDynamics (a Ca2+ shell)
#: NEURON 9's units (CODATA 2018): the Faraday constant, C/mol
FARADAY = 96485.33212331001


@numba.njit(cache=True)
def cad_init(v, s, p, e, cai, aux):
    s[0] = p[3]


@numba.njit(cache=True)
def cad_current(v, s, p, e, cai, aux, ii):
    return 0.0


@numba.njit(cache=True)
def cad_state(v, s, p, e, cai, ica, aux, dt):
    # p: gamma, decay, depth, minCai; cai' = -(10000)*(ica*gamma/(2*FARADAY*depth))
    #                                        - (cai - minCai)/decay, by cnexp
    a = -(10000.0) * (ica * p[0] / (2.0 * FARADAY * p[2])) + p[3] / p[1]
    b = (-1.0) / p[1]
    s[0] = s[0] + (1.0 - math.exp(dt * b)) * (-(a / b) - s[0])


@register
class CaDynamics(Channel):
    """Intracellular Ca²⁺ in a submembrane shell (``depth`` µm) with buffering (``gamma``)
    and removal toward ``minCai`` (``decay`` ms); writes ``cai``."""

    name = "CaDynamics"
    params = {"gamma": 0.05, "decay": 80.0, "depth": 0.1, "minCai": 1e-4}
    states = ("cai",)
    writes_cai = True
    source = "bmtk modfiles/CaDynamics.mod"
    init, current, state = cad_init, cad_current, cad_state


# ------------------------------------------------------------------ NaV (a kinetic scheme)
# states C1 C2 C3 C4 C5 I1 I2 I3 I4 I5 O I6 (the .mod file's order); p: gbar, Con, Coff, Oon,
# Ooff, alpha, beta, gamma, delta, alfac, btfac, x1, x2
_NAV_EDGES = ((0, 1), (1, 2), (2, 3), (3, 4), (4, 10), (10, 11), (5, 6), (6, 7), (7, 8),
              (8, 9), (9, 11), (0, 5), (1, 6), (2, 7), (3, 8), (4, 9))


@numba.njit(cache=True)
def _nav_rates(v, p, celsius):
    """The forward and backward rates (1/ms) of the scheme's 16 transitions, in
    ``_NAV_EDGES`` order (the .mod file's ``rates``)."""
    qt = math.pow(2.3, (celsius - 37.0) / 10.0)
    con, coff, oon, ooff, alpha, beta, gamma, delta, alfac, btfac, x1, x2 = (
        p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11], p[12])
    ea, eb = math.exp(v / x1), math.exp(v / x2)
    f = np.empty(16)
    b = np.empty(16)
    f[0], f[1], f[2], f[3] = (qt * 4 * alpha * ea, qt * 3 * alpha * ea, qt * 2 * alpha * ea,
                              qt * 1 * alpha * ea)
    f[4], f[5] = qt * gamma, qt * oon
    f[6], f[7], f[8], f[9] = (qt * 4 * alpha * alfac * ea, qt * 3 * alpha * alfac * ea,
                              qt * 2 * alpha * alfac * ea, qt * 1 * alpha * alfac * ea)
    f[10] = qt * gamma
    f[11], f[12] = qt * con, qt * con * alfac
    f[13] = qt * con * math.pow(alfac, 2.0)
    f[14] = qt * con * math.pow(alfac, 3.0)
    f[15] = qt * con * math.pow(alfac, 4.0)
    b[0], b[1], b[2], b[3] = (qt * 1 * beta * eb, qt * 2 * beta * eb, qt * 3 * beta * eb,
                              qt * 4 * beta * eb)
    b[4], b[5] = qt * delta, qt * ooff
    b[6], b[7], b[8], b[9] = (qt * 1 * beta * eb / btfac, qt * 2 * beta * eb / btfac,
                              qt * 3 * beta * eb / btfac, qt * 4 * beta * eb / btfac)
    b[10] = qt * delta
    b[11], b[12] = qt * coff, qt * coff / btfac
    b[13] = qt * coff / math.pow(btfac, 2.0)
    b[14] = qt * coff / math.pow(btfac, 3.0)
    b[15] = qt * coff / math.pow(btfac, 4.0)
    return f, b


@numba.njit(cache=True)
def _nav_matrix(v, p, celsius, dt, y_old):
    """The linear system of one backward-Euler step, (I − dt·J) y = y_old, with the equation
    of the last state replaced by the conservation Σ y = 1 (the .mod file's CONSERVE)."""
    f, b = _nav_rates(v, p, celsius)
    a = np.zeros((12, 13))
    for k in range(16):
        i, j = _NAV_EDGES[k]
        # flux f·y_i from i to j, b·y_j back: J[j,i] += f, J[i,i] -= f, J[i,j] += b, J[j,j] -= b
        a[j, i] -= dt * f[k]
        a[i, i] += dt * f[k]
        a[i, j] -= dt * b[k]
        a[j, j] += dt * b[k]
    for i in range(12):
        a[i, i] += 1.0
        a[i, 12] = y_old[i]
    for j in range(12):
        a[11, j] = 1.0
    a[11, 12] = 1.0
    return a


@numba.njit(cache=True)
def _solve(a):
    """Gaussian elimination with partial pivoting of the augmented system ``a`` (n, n + 1)."""
    n = a.shape[0]
    for c in range(n):
        piv = c
        for r in range(c + 1, n):
            if abs(a[r, c]) > abs(a[piv, c]):
                piv = r
        if piv != c:
            for k in range(c, n + 1):
                a[c, k], a[piv, k] = a[piv, k], a[c, k]
        for r in range(c + 1, n):
            m = a[r, c] / a[c, c]
            if m != 0.0:
                for k in range(c, n + 1):
                    a[r, k] -= m * a[c, k]
    x = np.empty(n)
    for r in range(n - 1, -1, -1):
        acc = a[r, n]
        for k in range(r + 1, n):
            acc -= a[r, k] * x[k]
        x[r] = acc / a[r, r]
    return x


@numba.njit(cache=True)
def nav_init(v, s, p, e, cai, aux):
    """The .mod file's LINEAR ``seqinitial``, equation by equation — with its I3 balance as
    written (``I4*bi3`` where the scheme has ``I4*b13``), so the initial state is NEURON's,
    not quite the scheme's steady state."""
    f, b = _nav_rates(v, p, aux[0])
    f01 = f[0]
    f02 = f[1]
    f03 = f[2]
    f04 = f[3]
    f0O = f[4]
    fin = f[5]
    f11 = f[6]
    f12 = f[7]
    f13 = f[8]
    f14 = f[9]
    f1n = f[10]
    fi1 = f[11]
    fi2 = f[12]
    fi3 = f[13]
    fi4 = f[14]
    fi5 = f[15]
    b01 = b[0]
    b02 = b[1]
    b03 = b[2]
    b04 = b[3]
    b0O = b[4]
    bin_ = b[5]
    b11 = b[6]
    b12 = b[7]
    b13 = b[8]
    b14 = b[9]
    b1n = b[10]
    bi1 = b[11]
    bi2 = b[12]
    bi3 = b[13]
    bi4 = b[14]
    bi5 = b[15]
    a = np.zeros((12, 13))  # columns: C1..C5, I1..I5, O, I6
    a[0, 5] += bi1
    a[0, 1] += b01
    a[0, 0] += -(fi1 + f01)
    a[1, 0] += f01
    a[1, 6] += bi2
    a[1, 2] += b02
    a[1, 1] += -(b01 + fi2 + f02)
    a[2, 1] += f02
    a[2, 7] += bi3
    a[2, 3] += b03
    a[2, 2] += -(b02 + fi3 + f03)
    a[3, 2] += f03
    a[3, 8] += bi4
    a[3, 4] += b04
    a[3, 3] += -(b03 + fi4 + f04)
    a[4, 3] += f04
    a[4, 9] += bi5
    a[4, 10] += b0O
    a[4, 4] += -(b04 + fi5 + f0O)
    a[5, 4] += f0O
    a[5, 11] += bin_
    a[5, 10] += -(b0O + fin)
    a[6, 0] += fi1
    a[6, 6] += b11
    a[6, 5] += -(bi1 + f11)
    a[7, 5] += f11
    a[7, 1] += fi2
    a[7, 7] += b12
    a[7, 6] += -(b11 + bi2 + f12)
    a[8, 6] += f12
    a[8, 2] += fi3
    a[8, 8] += bi3
    a[8, 7] += -(b12 + bi3 + f13)
    a[9, 7] += f13
    a[9, 3] += fi4
    a[9, 9] += b14
    a[9, 8] += -(b13 + bi4 + f14)
    a[10, 8] += f14
    a[10, 4] += fi5
    a[10, 11] += b1n
    a[10, 9] += -(b14 + bi5 + f1n)
    for j in range(12):
        a[11, j] = 1.0
    a[11, 12] = 1.0
    y = _solve(a)
    for i in range(12):
        s[i] = y[i]


@numba.njit(cache=True)
def nav_current(v, s, p, e, cai, aux, ii):
    ina = p[0] * s[10] * (v - e[0])
    ii[0] += ina
    return ina


@numba.njit(cache=True)
def nav_state(v, s, p, e, cai, ica, aux, dt):
    y = _solve(_nav_matrix(v, p, aux[0], dt, s))
    for i in range(12):
        s[i] = y[i]


@register
class NaV(Channel):
    """Na⁺ as a 12-state kinetic scheme (Carter et al. 2012): five closed, six inactivated,
    one open state; implicit (backward Euler) steps of the linear scheme as NMODL's
    ``sparse`` method takes them, the conservation Σ = 1 replacing one equation; the initial
    state its steady state (the .mod file's LINEAR ``seqinitial``)."""

    name = "NaV"
    params = {"gbar": 0.015, "Con": 0.01, "Coff": 40.0, "Oon": 8.0, "Ooff": 0.05,
              "alpha": 400.0, "beta": 12.0, "gamma": 250.0, "delta": 60.0, "alfac": 2.51,
              "btfac": 5.32, "x1": 24.0, "x2": -24.0}
    states = ("C1", "C2", "C3", "C4", "C5", "I1", "I2", "I3", "I4", "I5", "O", "I6")
    ions = ("na",)
    source = "bmtk modfiles/NaV.mod"
    init, current, state = nav_init, nav_current, nav_state
