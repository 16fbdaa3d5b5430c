"""``astrocyte_lr_1994``: astrocytic IP3 and calcium dynamics (Li & Rinzel 1994), NEST 3.10."""

from __future__ import annotations

import math

import numba
import numpy as np

from ..registry import CELLS, Param, Port, Var
from . import libm
from .base import CellModel
from .rkf45 import init_h, integrate_np, make_evolve

#: constant-table columns (the parameters, then the time step)
_CONSTS = ("Ca_tot", "IP3_0", "Kd_IP3_1", "Kd_IP3_2", "Kd_act", "Kd_inh", "Km_SERCA",
           "SIC_scale", "SIC_th", "delta_IP3", "k_IP3R", "rate_IP3R", "rate_L", "rate_SERCA",
           "ratio_ER_cyt", "tau_IP3", "h_step", "v_PLCdelta", "K_PLCdelta")
_H = 16  # column of h_step


@numba.njit(cache=True)
def _rhs(y, f, c, j_noise, refr):
    # y: IP3, Ca_astro, h_IP3R, then the IP3 coupling held over the step (Σ w·IP3_j, Σ w;
    # derivatives 0, so the step control sees no error in them); c: _CONSTS
    ip3, h = y[0], y[2]
    calc = max(0.0, min(y[1], c[0]))  # calcium within [0, Ca_tot]
    alpha = c[10] * c[5] * (ip3 + c[2]) / (ip3 + c[3])
    beta = c[10] * calc
    j_pump = c[13] * math.pow(calc, 2.0) / (math.pow(c[6], 2.0) + math.pow(calc, 2.0))
    m_inf = ip3 / (ip3 + c[2])
    n_inf = calc / (calc + c[4])
    calc_er = (c[0] - calc) / c[14]
    j_leak = c[14] * c[12] * (calc_er - calc)
    j_channel = (c[14] * c[11] * math.pow(m_inf, 3.0) * math.pow(n_inf, 3.0)
                 * math.pow(h, 3.0) * (calc_er - calc))
    plc = c[17] * (calc * calc) / (c[18] * c[18] + calc * calc)
    f[0] = (c[1] - ip3) / c[15] + plc + (y[3] - y[4] * ip3)
    f[1] = j_channel - j_pump + j_leak + j_noise
    f[2] = alpha * (1.0 - h) - beta * h
    f[3] = 0.0
    f[4] = 0.0


def _rhs_np(y, c, j_noise, refr):
    ip3, h = y[0], y[2]
    calc = np.maximum(0.0, np.minimum(y[1], c["Ca_tot"]))
    alpha = c["k_IP3R"] * c["Kd_inh"] * (ip3 + c["Kd_IP3_1"]) / (ip3 + c["Kd_IP3_2"])
    beta = c["k_IP3R"] * calc
    j_pump = c["rate_SERCA"] * libm.pow(calc, 2.0) / (libm.pow(c["Km_SERCA"], 2.0)
                                                       + libm.pow(calc, 2.0))
    m_inf = ip3 / (ip3 + c["Kd_IP3_1"])
    n_inf = calc / (calc + c["Kd_act"])
    calc_er = (c["Ca_tot"] - calc) / c["ratio_ER_cyt"]
    j_leak = c["ratio_ER_cyt"] * c["rate_L"] * (calc_er - calc)
    j_channel = (c["ratio_ER_cyt"] * c["rate_IP3R"] * libm.pow(m_inf, 3.0)
                 * libm.pow(n_inf, 3.0) * libm.pow(h, 3.0) * (calc_er - calc))
    plc = c["v_PLCdelta"] * (calc * calc) / (c["K_PLCdelta"] * c["K_PLCdelta"] + calc * calc)
    f = np.empty_like(y)
    f[0] = (c["IP3_0"] - ip3) / c["tau_IP3"] + plc + (y[3] - y[4] * ip3)
    f[1] = j_channel - j_pump + j_leak + j_noise
    f[2] = alpha * (1.0 - h) - beta * h
    f[3] = 0.0
    f[4] = 0.0
    return f


_evolve = make_evolve(_rhs)


@numba.njit(cache=True)
def sic_of(ca, c):
    """NEST's slow inward current of calcium ``ca`` (µM): ``SIC_scale · ln(y)`` where
    ``y = (ca − SIC_th)`` in nM exceeds 1, else 0 (Nadkarni & Jung 2003)."""
    thr = (ca - c[8]) * 1000.0
    return math.log(thr) * c[7] if thr > 1.0 else 0.0


@numba.njit(cache=True)
def kernel(b, ring, slot, istim, out_slot, out_stamp, nspk, stamp):
    sf, ctab, ci = b.sf, b.ctab, b.ci
    init_h(sf[3], ctab, ci, _H)
    y = np.empty(5)
    w = np.empty((10, 5))
    for i in range(sf.shape[1]):
        j = b.a + i
        c = ctab[ci[i]]
        for q in range(3):
            y[q] = sf[q, i]
        y[3], y[4] = sf[5, i], sf[6, i]
        t, h = 0.0, sf[3, i]
        while t < c[_H]:  # NEST: gsl_odeiv_control_y_new(1e-3, 0)
            t, h = _evolve(t, c[_H], h, y, c, istim[j], False, 1e-3, 0.0, 1.0, 0.0, w)
        y[1] = max(0.0, min(y[1], c[0]))
        y[0] += c[9] * ring[0, slot, j]
        ring[0, slot, j] = 0.0
        sic = sic_of(y[1], c)
        ring[3, slot, j] = sic  # emitted: sic_connection reads it from here
        ring[4, slot, j] = y[0]  # ... and ip3_connection the IP3
        sf[5, i], sf[6, i] = ring[1, slot, j], ring[2, slot, j]  # coupling from the next step
        ring[1, slot, j] = 0.0
        ring[2, slot, j] = 0.0
        for q in range(3):
            sf[q, i] = y[q]
        sf[3, i] = h
        sf[4, i] = sic
    return nspk


@CELLS.register
class AstrocyteLR1994(CellModel):
    """Astrocyte: IP3, cytosolic calcium and IP3-receptor gating (Li & Rinzel 1994), NEST's
    ``astrocyte_lr_1994``.

    Li–Rinzel's reduction of the De Young–Keizer IP3 receptor: calcium released from the ER
    through IP3 receptors (``J_channel`` ∝ m∞³ n∞³ h³), taken back by the SERCA pump and leaking
    from the ER; IP3 relaxes to ``IP3_0`` with ``tau_IP3``. Input and output as Nadkarni & Jung
    (2003): a spike of weight w (>= 0) raises IP3 by ``delta_IP3 · w`` after the step's
    integration; a current input is added to dCa/dt (µM/ms); the node emits, every step, the slow
    inward current ``SIC = SIC_scale · ln((Ca − SIC_th)/nM)`` above threshold (0 below), which
    ``sic_connection`` carries to neurons. Never spikes. RKF45 with NEST's absolute tolerance
    1e-3; calcium is kept within [0, Ca_tot]. Concentrations in µM, rates per ms.

    wbe's extensions for intercellular calcium waves (Höfer et al. 2002), off by default (then
    the model is NEST's, bit for bit): IP3 produced by Ca²⁺-activated PLCδ (``v_PLCdelta``,
    ``K_PLCdelta``) regenerates the signal, and IP3 passes gap junctions to other astrocytes
    (``ip3_connection``, a flux Σ w·(IP3_j − IP3) with the neighbours' IP3 of ``delay`` earlier
    and the cell's own of now).
    """

    name = "astrocyte_lr_1994"
    nest_model = "astrocyte_lr_1994"
    params = (
        Param("Ca_tot", 2.0, "µM", "total free calcium in terms of cytosolic volume", gt=0.0),
        Param("IP3_0", 0.16, "µM", "baseline IP3 concentration", ge=0.0),
        Param("Kd_IP3_1", 0.13, "µM", "first IP3R dissociation constant of IP3", gt=0.0),
        Param("Kd_IP3_2", 0.9434, "µM", "second IP3R dissociation constant of IP3", gt=0.0),
        Param("Kd_act", 0.08234, "µM", "IP3R dissociation constant of calcium (activation)",
              gt=0.0),
        Param("Kd_inh", 1.049, "µM", "IP3R dissociation constant of calcium (inhibition)",
              ge=0.0),
        Param("Km_SERCA", 0.1, "µM", "half-activation constant of the SERCA pump", gt=0.0),
        Param("SIC_scale", 1.0, "", "scale of the slow inward current", gt=0.0),
        Param("SIC_th", 0.19669, "µM", "calcium threshold of the slow inward current", ge=0.0),
        Param("delta_IP3", 0.0002, "µM", "IP3 increase per unit of synaptic input weight",
              ge=0.0),
        Param("k_IP3R", 0.0002, "1/(µM·ms)", "IP3R binding constant of calcium inhibition",
              ge=0.0),
        Param("rate_IP3R", 0.006, "1/ms", "maximal calcium release rate through IP3R", ge=0.0),
        Param("rate_L", 0.00011, "1/ms", "rate constant of calcium leak from the ER", ge=0.0),
        Param("rate_SERCA", 0.0009, "µM/ms", "maximal calcium uptake rate of the SERCA pump",
              ge=0.0),
        Param("ratio_ER_cyt", 0.185, "", "ratio of ER and cytosol volumes", gt=0.0),
        Param("tau_IP3", 7142.0, "ms", "time constant of IP3's decay to IP3_0", gt=0.0),
        Param("IP3", 0.16, "µM", "initial IP3 (NEST: 0.16 µM whatever IP3_0 is)", ge=0.0,
              initial=True),
        Param("Ca_astro", 0.073, "µM", "initial cytosolic calcium", ge=0.0, initial=True),
        Param("h_IP3R", 0.793, "", "initial fraction of IP3 receptors not inactivated",
              ge=0.0, le=1.0, initial=True),
        Param("v_PLCdelta", 0.0, "µM/ms", "Ca²⁺-activated IP3 production by PLCδ, "
              "v·Ca²/(K² + Ca²) (Höfer et al. 2002; wbe's extension: 0 is NEST's model)",
              ge=0.0, extension=True),
        Param("K_PLCdelta", 0.5, "µM", "calcium of half-maximal PLCδ activation (wbe's "
              "extension)", gt=0.0, extension=True),
    )
    state = (Var("IP3", "µM", "IP3 concentration"),
             Var("Ca_astro", "µM", "cytosolic calcium concentration"),
             Var("h_IP3R", "", "fraction of IP3 receptors not inactivated by calcium"),
             Var("h_int", "ms", "integration step carried between time steps (RKF45)"),
             Var("SIC", "", "slow inward current of the last step (pA at a sic_connection "
                 "weight of 1)"),
             Var("ip3_in", "µM/ms", "Σ w·IP3 of the coupled astrocytes (ip3_connection)"),
             Var("ip3_w", "1/ms", "Σ w of the coupled astrocytes"))
    int_state = ()
    ports = (Port("spike", 0, ("syn",), "spikes; weight >= 0 (IP3 rises by delta_IP3 · w)",
                  nonnegative=True),
             Port("IP3", 0, ("ip3_in", "ip3_w"), "IP3 of coupled astrocytes (gap junctions, "
                  "ip3_connection): the flux Σ w·(IP3_j − IP3), w in 1/ms", event="IP3"))
    emits = (Var("SIC", "pA", "slow inward current (times the sic_connection weight)",
                 state="SIC"),
             Var("IP3", "µM", "IP3, for the gap junctions to other astrocytes", state="IP3"))
    spiking = False
    recordables = (Var("IP3", "µM", "IP3 concentration", state="IP3"),
                   Var("Ca_astro", "µM", "cytosolic calcium concentration", state="Ca_astro"),
                   Var("h_IP3R", "", "fraction of IP3 receptors not inactivated",
                       state="h_IP3R"),
                   Var("SIC", "pA", "slow inward current emitted in the last step",
                       state="SIC"))
    consts = _CONSTS
    int_consts = ()
    weight_unit = ""
    references = (
        "Höfer T, Venance L, Giaume C (2002). Control and plasticity of intercellular calcium "
        "waves in astrocytes: a modeling approach. J Neurosci 22:4850-4859.",
        "Li YX, Rinzel J (1994). Equations for InsP3 receptor-mediated [Ca2+]i oscillations "
        "derived from a detailed kinetic model: a Hodgkin-Huxley like formalism. J Theor Biol "
        "166:461-473.",
        "De Young GW, Keizer J (1992). A single-pool inositol 1,4,5-trisphosphate-receptor-based "
        "model for agonist-stimulated oscillations in Ca2+ concentration. PNAS 89:9895-9899.",
        "Nadkarni S, Jung P (2003). Spontaneous oscillations of dressed neurons: a new mechanism "
        "for epilepsy? Phys Rev Lett 91:268101.")
    #: strong input to reach SIC threshold within a short run (NEST's examples use delta_IP3
    #: 0.5 µM with Poisson drive)
    example = {"params": {"delta_IP3": 0.5, "Ca_astro": 0.19}, "weight": 1.0,
               "current_pA": 0.0}
    nest_vm_tolerance_mV = 0.0
    kernel = kernel

    def constants(self, p, dt_ms):
        c = {k: p[k] for k in _CONSTS if k in p}
        c["h_step"] = np.full(p["Ca_tot"].size, float(dt_ms))
        return c

    def init_state(self, p):
        n = p["Ca_tot"].size
        return dict(IP3=p["IP3"].copy(), Ca_astro=p["Ca_astro"].copy(),
                    h_IP3R=p["h_IP3R"].copy(), h_int=np.zeros(n), SIC=np.zeros(n),
                    ip3_in=np.zeros(n), ip3_w=np.zeros(n))

    def step(self, s, c, syn, i_stim_pA):
        n = s["IP3"].size
        names = ("IP3", "Ca_astro", "h_IP3R")
        h = np.where(s["h_int"] == 0.0, c["h_step"], s["h_int"])
        y = np.stack([s[k] for k in (*names, "ip3_in", "ip3_w")])
        j_noise = np.broadcast_to(np.asarray(i_stim_pA, np.float64), (n,))
        integrate_np(_rhs_np, y, h, c, j_noise, np.zeros(n, bool),
                     c["h_step"][0] if n else 0.0, 1e-3, 0.0, 1.0, 0.0)
        y[1] = np.maximum(0.0, np.minimum(y[1], c["Ca_tot"]))
        y[0] = y[0] + c["delta_IP3"] * syn[0]
        thr = (y[1] - c["SIC_th"]) * 1000.0
        sic = np.where(thr > 1.0, libm.log(np.where(thr > 1.0, thr, 1.0)) * c["SIC_scale"], 0.0)
        for k, v in zip(names, y):
            s[k][...] = v
        s["h_int"][...] = h
        s["SIC"][...] = sic
        s["ip3_in"][...] = syn[1]  # the coupling that arrived: from the next step on
        s["ip3_w"][...] = syn[2]
        return np.zeros(n, bool)
