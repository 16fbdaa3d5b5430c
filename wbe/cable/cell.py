"""A cable cell solved as NEURON solves it: compartments from a morphology, NEURON's geometry
(areas and axial resistances integrated over the 3-D points), the Hines tree solve with
NEURON's fixed step (backward Euler, ``secondorder = 0``, or Crank–Nicolson,
``secondorder = 2``), membrane mechanisms with NEURON's names, current clamps, spike detection.

**Discretisation** (per section, as NEURON): ``nseg`` segments, one node at each segment's
centre (membrane: capacitance and mechanisms) plus a node of zero area at the section's end
(x = 1; the root section also has one at x = 0), where children attach. ``discretization``:
an int (``nseg`` of every section), ``{"max_length_um": 40}`` (the Allen models' rule,
``nseg = 1 + 2·int(L / max)``) or ``{"d_lambda": 0.1, "frequency_hz": 100}`` (NEURON's d_lambda
rule, ``fixnseg.hoc``: the AC length constant at that frequency from the 3-D points).

**Geometry** as NEURON's ``nrn_area_ri``/``diam_from_list``: points stored in single
precision as NEURON's ``pt3d`` does, each segment's area integrated over the frusta between
the points (diameters interpolated at the segment's half points, tapers included), the axial
resistance between neighbouring nodes from ∫ 4·Ra/(π d²) over each half segment.

**Time step** as NEURON's ``fadvance`` with ``cvode`` off: currents at t + dt/2 (each
mechanism's conductance by NEURON's finite difference, i(v + 0.001) − i(v)), the tree
solve, v updated, then the mechanisms' states with the new v (``cnexp``); the current clamp
is on while ``del <= t + dt/2 < del + dur``. A spike is detected at a node when v rises
above ``threshold`` (NEURON's ``NetCon`` on a section's v: the time of the step's end).

**Mechanisms** are plug-ins (:mod:`wbe.cable.channels`): NEURON's ``pas`` and ``hh`` (its
rate table as NEURON's default ``usetable_hh = 1``, or exact rates with ``usetable_hh=False``)
and the Allen Cell Types channel set, by NEURON's names (``gbar_NaTs``); per section kind
(``"all"`` for every section). Reversal potentials ``ena``, ``ek``, ``eca`` per section kind
(NEURON's defaults 50, −77, 132.458 mV); where a mechanism writes ``cai`` (``CaDynamics``),
``eca`` follows it by Nernst's equation (``cao`` 2 mM), as NEURON's ``ca_ion`` does. The step
is generated from the mechanisms a cell uses, summed and advanced in NEURON's order.

The compiled step (numba) can run interpreted (:meth:`CableCell.run` with ``numpy=True``: the
same source, each mechanism's Python function), giving the same numbers bit for bit;
``tests/reference/test_cable_neuron.py`` holds the cells to NEURON run beside them.
"""

from __future__ import annotations

import importlib
import math
from dataclasses import dataclass, field

import numba
import numpy as np

from .channels import channel, ordered
from .morphology import Section

__all__ = ["CableCell", "CableResult", "IClamp", "Synapse", "nernst_ca"]

_PI = 3.14159265358979323846
#: NEURON's default reversal potentials (mV) and calcium concentrations (mM): ``ena``, ``ek``,
#: ``eca`` (its ``eca0_ca_ion``), ``cai0_ca_ion``, ``cao0_ca_ion``
E_DEFAULT = {"ena": 50.0, "ek": -77.0, "eca": 132.4579341637009}
CAI0, CAO0 = 5e-5, 2.0
#: NEURON 9's units (CODATA 2018): gas constant J/(mol K), Faraday constant C/mol
GAS_CONSTANT, FARADAY = 8.31446261815324, 96485.33212331001


@dataclass
class IClamp:
    """NEURON's ``IClamp`` at ``section(x)``: ``amp`` nA from ``delay_ms`` for ``dur_ms``."""

    section: int | str
    x: float = 0.5
    delay_ms: float = 0.0
    dur_ms: float = 0.0
    amp_nA: float = 0.0


@dataclass
class Synapse:
    """A synapse at ``section(x)``: NEURON's ``Exp2Syn`` (``tau1``, ``tau2`` ms, ``e`` mV),
    ``ExpSyn`` (``tau``, ``e``) or ``Exp2NMDA`` (Exp2Syn's kinetics, its current times the
    Mg²⁺ block of Jahr & Stevens (1990), 1 / (1 + exp(−0.062 v) · mg / 3.57), ``mg`` mM); an
    event of weight w (µS) opens it by w (NEURON's ``NET_RECEIVE``), its current
    i = g (v − e) (× the block)."""

    kind: str
    section: int | str
    x: float = 0.5
    params: dict = field(default_factory=dict)


SYNAPSE_DEFAULTS = {"Exp2Syn": {"tau1": 0.1, "tau2": 10.0, "e": 0.0},
                    "ExpSyn": {"tau": 0.1, "e": 0.0},
                    "Exp2NMDA": {"tau1": 2.0, "tau2": 65.0, "e": 0.0, "mg": 1.0}}
#: columns of a synapse row (:func:`_synapse_row`)
SYN_COLS = 7


@numba.njit(cache=True)
def synapse_current(g, v, p):
    """A synapse's current (nA with g in µS) at v (mV) for its row ``p``: g (v − e), for
    ``Exp2NMDA`` times the Mg²⁺ block 1 / (1 + exp(0.062 · −v) · mg / 3.57) (the expression of
    the NMODL file in ``tests/reference/mod``)."""
    if p[6] != 0.0:
        return g * (1.0 / (1.0 + math.exp(0.062 * -v) * (p[5] / 3.57))) * (v - p[2])
    return g * (v - p[2])


def _synapse_row(syn: Synapse, k: int) -> list[float]:
    """(tau1, tau2, e, increment of A, increment of B, mg, 1 for the Mg²⁺ block) per unit
    weight — NEURON's INITIAL of Exp2Syn (tau1 kept below tau2, its peak-normalising
    ``factor``); ExpSyn as Exp2Syn with A ≡ 0."""
    if syn.kind not in SYNAPSE_DEFAULTS:
        raise ValueError(f"synapses[{k}]: kind is one of {sorted(SYNAPSE_DEFAULTS)}, not "
                         f"{syn.kind!r}")
    bad = sorted(set(syn.params) - set(SYNAPSE_DEFAULTS[syn.kind]))
    if bad:
        raise ValueError(f"synapses[{k}] ({syn.kind}): unknown parameter(s) {bad}")
    p = {**SYNAPSE_DEFAULTS[syn.kind], **syn.params}
    if syn.kind == "ExpSyn":
        if not p["tau"] > 0:
            raise ValueError(f"synapses[{k}] (ExpSyn): tau > 0")
        return [1.0, float(p["tau"]), float(p["e"]), 0.0, 1.0, 0.0, 0.0]
    tau1, tau2 = float(p["tau1"]), float(p["tau2"])
    if not (tau1 > 0 and tau2 > 0):
        raise ValueError(f"synapses[{k}] ({syn.kind}): tau1 and tau2 > 0")
    if tau1 / tau2 > 0.9999:
        tau1 = 0.9999 * tau2
    if tau1 / tau2 < 1e-9:
        tau1 = tau2 * 1e-9
    tp = (tau1 * tau2) / (tau2 - tau1) * math.log(tau2 / tau1)
    factor = 1.0 / (-math.exp(-tp / tau1) + math.exp(-tp / tau2))
    if syn.kind == "Exp2NMDA":
        if not p["mg"] >= 0:
            raise ValueError(f"synapses[{k}] (Exp2NMDA): mg >= 0 mM")
        return [tau1, tau2, float(p["e"]), factor, factor, float(p["mg"]), 1.0]
    return [tau1, tau2, float(p["e"]), factor, factor, 0.0, 0.0]


@dataclass
class CableResult:
    """``t_ms`` (n_steps + 1 times), ``v_mV`` (recorded nodes × times, the initial value
    first), ``spike_times_ms`` (at the detector), the recorded ``(section, x)``."""

    t_ms: np.ndarray
    v_mV: np.ndarray
    spike_times_ms: np.ndarray
    recorded: list


# --------------------------------------------------------------------- geometry (NEURON's)
def _arc(points32: np.ndarray) -> np.ndarray:
    """NEURON's pt3d arc lengths: differences of the single-precision coordinates, summed in
    double precision."""
    arc = np.zeros(points32.shape[0])
    for i in range(1, arc.size):
        t = (points32[i, :3] - points32[i - 1, :3]).astype(np.float64)
        arc[i] = arc[i - 1] + math.sqrt(t[0] * t[0] + t[1] * t[1] + t[2] * t[2])
    return arc


def _areas_rinv(points32: np.ndarray, nseg: int, ra: float):
    """(area µm² of each segment, 1/resistance µS from the previous node to each centre
    node, the last half segment's resistance MΩ) by NEURON's ``diam_from_list``."""
    arc = _arc(points32)
    d = np.abs(points32[:, 3].astype(np.float64))
    npt = arc.size
    ds = arc[-1] / float(nseg)
    j, x1, y1 = 0, arc[0], d[0]
    areas, rinv = np.zeros(nseg), np.zeros(nseg)
    rparent = 0.0
    for inode in range(nseg):
        si = float(inode) * ds
        area = 0.0
        rleft = ri = 0.0
        for ihalf in range(2):
            ri = 0.0
            sip = si + ds / 2.0
            while True:
                jp = j + 1
                xj, xjp = arc[j], arc[jp]
                if xjp > sip or jp == npt - 1:
                    frac = 1.0 if abs(xjp - xj) < 1e-10 else (sip - xj) / (xjp - xj)
                    x2, y2, jnext = sip, (1.0 - frac) * d[j] + frac * d[jp], j
                else:
                    x2, y2, jnext = xjp, d[jp], jp
                delta = x2 - x1
                if delta < 1e-15:
                    delta = 1e-15
                temp = y2 * y1 / delta
                if temp == 0:
                    temp = 1e-15
                ri += 1.0 / temp
                temp = 0.5 * (y2 - y1)
                temp = math.sqrt(delta * delta + temp * temp)
                area += (y2 + y1) * temp
                x1, y1 = x2, y2
                if j == jnext:
                    break
                j = jnext
            if ihalf == 0:
                rleft = ri * ra / _PI * (4.0 * 0.01)
            else:
                ri = ri * ra / _PI * (4.0 * 0.01)
            si = sip
        rinv[inode] = 1.0 / (rparent + rleft)
        areas[inode] = area * 0.5 * _PI
        rparent = ri
    return areas, rinv, rparent


def _per_kind(value, kind: str, what: str):
    if isinstance(value, dict):
        if kind in value:
            return value[kind]
        if "all" in value:
            return value["all"]
        raise ValueError(f"CableCell.{what}: no value for section kind {kind!r} (nor 'all')")
    return value


def _nseg(sec: Section, disc, ra: float, cm: float) -> int:
    if isinstance(disc, (int, np.integer)) and not isinstance(disc, bool):
        if disc < 1:
            raise ValueError("CableCell.discretization: nseg >= 1")
        return int(disc)
    if isinstance(disc, dict) and "max_length_um" in disc:
        return 1 + 2 * int(_arc(sec.points.astype(np.float32))[-1] / float(disc["max_length_um"]))
    if isinstance(disc, dict) and "d_lambda" in disc:
        p = sec.points.astype(np.float32)
        arc, dd = _arc(p), p[:, 3].astype(np.float64)
        freq = float(disc.get("frequency_hz", 100.0))
        lam = 0.0
        for i in range(1, arc.size):  # stdlib.hoc's lambda_f, point by point
            lam += (arc[i] - arc[i - 1]) / math.sqrt(dd[i - 1] + dd[i])
        lam *= math.sqrt(2.0) * 1e-5 * math.sqrt(4.0 * _PI * freq * ra * cm)
        lam_f = arc[-1] / lam if lam > 0 else math.inf
        return int((arc[-1] / (float(disc["d_lambda"]) * lam_f) + 0.9) / 2) * 2 + 1
    raise ValueError("CableCell.discretization: an int (nseg), {'max_length_um': L} or "
                     f"{{'d_lambda': f, 'frequency_hz': Hz}}, not {disc!r}")


@numba.njit(cache=True)
def nernst_ca(cai, celsius):
    """NEURON's ``nrn_nernst`` for Ca²⁺ (z = 2, ``cao`` 2 mM), mV."""
    if cai <= 0.0:
        return 1e6
    ktf = 1000.0 * GAS_CONSTANT * (celsius + 273.15) / FARADAY
    return ktf / 2.0 * math.log(CAO0 / cai)


# --------------------------------------------------------------------- the generated step
#: the capacitance, the axial currents, NEURON's tree solve (triang, bksub) and the voltage
#: update of one step: shared by this module's step and the engine's ``cable`` kernel, each
#: naming its arrays ({nn} nodes, {cm}, {a}, {b}, {par}, {ion_nodes})
#: the matrix and the ion currents cleared before a step's currents are summed
_CLEAR = """        for k in range({nn}):
            rhs[k] = 0.0
            d[k] = 0.0
        for k in {ion_nodes}:
            for z in range(3):
                ion_i[k, z] = 0.0
                ion_d[k, z] = 0.0
"""
_ASSEMBLE = """        for k in range({nn}):
            if {cm}[k] > 0.0:
                d[k] += 1.0e-3 * cj * {cm}[k]
        for k in range(1, {nn}):
            p = {par}[k]
            dv = v[p] - v[k]
            rhs[k] -= {b}[k] * dv
            rhs[p] += {a}[k] * dv
            d[k] -= {b}[k]
            d[p] -= {a}[k]
"""
_ELIMINATE = """        for k in range({nn} - 1, 0, -1):
            p = {a}[k] / d[k]
            d[{par}[k]] -= p * {b}[k]
            rhs[{par}[k]] -= p * rhs[k]
        rhs[0] /= d[0]
        for k in range(1, {nn}):
            rhs[k] -= {b}[k] * rhs[{par}[k]]
            rhs[k] /= d[k]
"""
_UPDATE = """        for k in range({nn}):
            v[k] += (2.0 if cn else 1.0) * rhs[k]
        if cn:  # NEURON's second_order_cur: the ion currents at the new v
            for k in {ion_nodes}:
                for z in range(3):
                    ion_i[k, z] += ion_d[k, z] * rhs[k]
"""
#: the matrix assembled (capacitance, axial currents), NEURON's triang/bksub, v updated; the
#: engine's kernel runs the elimination for several cells of a kind at once (the same
#: operations per cell, interleaved)
_SOLVE = _ASSEMBLE + _ELIMINATE + _UPDATE
_LOOP_HEAD = """
import math

import numba
import numpy as np

from wbe.cable.cell import nernst_ca, synapse_current
{imports}


def run(n_steps, t0_step, dt, cn, celsius, v, a, b, par, area, cm, e, cai, ion_i, ion_d,
        stim_node, stim_on, stim_off, stim_amp, rec_nodes, rec, det_node, threshold, above,
        spikes, n_spk, d, rhs, ii, ii2, syn_node, syn_p, syn_s, ev_t, ev_syn, ev_w, ev_at,
        ion_nodes, {margs}):
    nn = v.shape[0]
    cj = (2.0 if cn else 1.0) / dt
    ns = syn_node.shape[0]
    syn_k = np.empty((ns, 2))  # cnexp's factors of A' = -A/tau1, B' = -B/tau2 (constant)
    for q in range(ns):
        syn_k[q, 0] = 1.0 - math.exp(dt * ((-1.0) / syn_p[q, 0]))
        syn_k[q, 1] = 1.0 - math.exp(dt * ((-1.0) / syn_p[q, 1]))
    for s in range(n_steps):
        step = t0_step + s
        t_mid = (float(step) + 0.5) * dt
        while ev_at[0] < ev_t.shape[0] and ev_t[ev_at[0]] <= t_mid:  # NEURON: t <= t + dt/2
            q = ev_syn[ev_at[0]]
            syn_s[q, 0] += ev_w[ev_at[0]] * syn_p[q, 3]
            syn_s[q, 1] += ev_w[ev_at[0]] * syn_p[q, 4]
            ev_at[0] += 1
{clear}{currents}
        for q in range(syn_node.shape[0]):  # point processes: nA, over the node's area
            j = syn_node[q]
            g = syn_s[q, 1] - syn_s[q, 0]
            i1 = synapse_current(g, v[j] + 0.001, syn_p[q])
            i = synapse_current(g, v[j], syn_p[q])
            rhs[j] -= i * (1.0e2 / area[j])
            d[j] += (i1 - i) / 0.001 * (1.0e2 / area[j])
        for q in range(stim_node.shape[0]):
            if stim_on[q] <= t_mid < stim_off[q]:
                rhs[stim_node[q]] += stim_amp[q] * (1.0e2 / area[stim_node[q]])
{solve}{states}
        for q in range(ns):
            syn_s[q, 0] = syn_s[q, 0] + syn_k[q, 0] * (-syn_s[q, 0])
            syn_s[q, 1] = syn_s[q, 1] + syn_k[q, 1] * (-syn_s[q, 1])
        for q in range(rec_nodes.shape[0]):
            rec[q, step + 1] = v[rec_nodes[q]]
        if det_node >= 0:
            if v[det_node] > threshold:
                if not above[0]:
                    if n_spk[0] < spikes.shape[0]:
                        spikes[n_spk[0]] = float(step + 1) * dt
                    n_spk[0] += 1
                above[0] = True
            else:
                above[0] = False


def init(v, e, cai, celsius, {margs}):
{inits}
"""

_CURRENT = """        for q in range(n{k}.shape[0]):
            j = n{k}[q]
{zero}            g = cur{k}(v[j] + 0.001, s{k}[q], p{k}[q], e[j], cai[j], x{k}, ii2)
            i = cur{k}(v[j], s{k}[q], p{k}[q], e[j], cai[j], x{k}, ii)
            rhs[j] -= i
            d[j] += (g - i) / 0.001
{ions}"""
_ION_ZERO = """            ii[{z}] = 0.0
            ii2[{z}] = 0.0
"""
_ION_ADD = """            ion_i[j, {z}] += ii[{z}]
            ion_d[j, {z}] += (ii2[{z}] - ii[{z}]) / 0.001
"""
_ION_INDEX = {"na": 0, "k": 1, "ca": 2}
_STATE = """        for q in range(n{k}.shape[0]):
            j = n{k}[q]
            st{k}(v[j], s{k}[q], p{k}[q], e[j], cai[j], ion_i[j, 2], x{k}, dt)
"""
_WROTE_CAI = """            cai[j] = s{k}[q, 0]
            e[j, 2] = nernst_ca(cai[j], celsius)
"""
_INIT = """    for q in range(n{k}.shape[0]):
        j = n{k}[q]
        ini{k}(v[j], s{k}[q], p{k}[q], e[j], cai[j], x{k})
"""


def _loop(names: tuple[str, ...]):
    """The generated module (``run``, ``init`` compiled; ``run_py``, ``init_py`` the same
    source with each mechanism's Python functions) for mechanisms ``names`` in order."""
    from wbe.engine.jit import load_generated

    chans = [channel(n) for n in names]
    imports, cur, st, ini, margs, deps = [], [], [], [], [], []
    for k, ch in enumerate(chans):
        for fn, alias in ((ch.current, "cur"), (ch.state, "st"), (ch.init, "ini")):
            f = fn.py_func
            imports.append(f"from {f.__module__} import {f.__name__} as {alias}{k}")
            deps.append(importlib.import_module(f.__module__))
        margs.append(f"n{k}, p{k}, s{k}, x{k}")
        zs = [_ION_INDEX[ion] for ion in ch.ions]  # only the ions it writes
        cur.append(_CURRENT.format(k=k, zero="".join(_ION_ZERO.format(z=z) for z in zs),
                                   ions="".join(_ION_ADD.format(z=z) for z in zs)))
        st.append(_STATE.format(k=k) + (_WROTE_CAI.format(k=k) if ch.writes_cai else ""))
        ini.append(_INIT.format(k=k) + (_WROTE_CAI.format(k=k).replace("            ", "        ")
                                        if ch.writes_cai else ""))
    src = _LOOP_HEAD.format(imports="\n".join(imports), margs=", ".join(margs) or "_unused=0",
                            clear=_CLEAR.format(nn="nn", ion_nodes="ion_nodes"),
                            currents="".join(cur), states="".join(st),
                            inits="".join(ini) or "    pass\n",
                            solve=_SOLVE.format(nn="nn", cm="cm", a="a", b="b", par="par",
                                                ion_nodes="ion_nodes"))
    py = src.replace("\ndef run(", "\ndef run_py(").replace("\ndef init(", "\ndef init_py(")
    for k in range(len(chans)):
        for alias in ("cur", "st", "ini"):
            py = py.replace(f"{alias}{k}(", f"{alias}{k}.py_func(")
    py = py.replace("nernst_ca(cai[j], celsius)", "nernst_ca.py_func(cai[j], celsius)")
    py = py.replace("synapse_current(", "synapse_current.py_func(")
    src = src.replace("\ndef run(", "\n@numba.njit(cache=True)\ndef run(").replace(
        "\ndef init(", "\n@numba.njit(cache=True)\ndef init(")
    import wbe.cable.cell as me

    return load_generated("cable_step", src + "\n" + py, [me, *deps])


class CableCell:
    """A cell from ``sections`` (:func:`wbe.cable.morphology.sections_from_swc`).

    ``Ra`` (Ω·cm), ``cm`` (µF/cm²): a number, or per section kind (``{"soma": .., "all":
    ..}``); ``mechanisms``: section kind (or ``"all"``) → {mechanism: {parameter: value}} with
    NEURON's parameter names (``{"hh": {"gnabar_hh": 0.1}}``); ``reversal``: section kind (or
    ``"all"``) → {``ena``/``ek``/``eca``: mV}; ``discretization``: module docstring;
    ``celsius`` (°C); ``usetable_hh``: NEURON's switch for hh's rate table; ``secondorder``: 0
    (backward Euler) or 2 (Crank–Nicolson), NEURON's global."""

    def __init__(self, sections: list[Section], *, Ra=35.4, cm=1.0, mechanisms=None,
                 reversal=None, discretization=1, celsius: float = 6.3,
                 usetable_hh: bool = True, secondorder: int = 0) -> None:
        if not sections:
            raise ValueError("CableCell: no sections")
        if secondorder not in (0, 2):
            raise ValueError("CableCell.secondorder: 0 (backward Euler) or 2 (Crank-Nicolson)")
        self.sections = sections
        self.names = [s.name for s in sections]
        self.secondorder, self.celsius = secondorder, float(celsius)
        mechanisms = mechanisms or {}
        reversal = reversal or {}
        for kind, mechs in mechanisms.items():
            for mname, prm in mechs.items():
                try:
                    ch = channel(mname)
                except ValueError as exc:
                    raise ValueError(f"CableCell.mechanisms[{kind!r}]: {exc}") from None
                known = {f"{q}_{mname}" for q in ch.params}
                bad = sorted(set(prm) - known)
                if bad:
                    raise ValueError(f"CableCell.mechanisms[{kind!r}][{mname!r}]: unknown "
                                     f"parameter(s) {bad}; known: {sorted(known)}")
        for kind, ev in reversal.items():
            bad = sorted(set(ev) - set(E_DEFAULT))
            if bad:
                raise ValueError(f"CableCell.reversal[{kind!r}]: unknown {bad}; known: "
                                 f"{sorted(E_DEFAULT)}")
        par, area, cm_n, rinv, e_n = [-1], [1.0e2], [0.0], [0.0], [list(E_DEFAULT.values())]
        inst: dict[str, list] = {}
        self.first_node, self.nseg = [], []
        end_node = []
        for k, sec in enumerate(sections):
            if not (sec.parent < k):
                raise ValueError(f"CableCell: section {sec.name} comes before its parent")
            pts = np.asarray(sec.points, np.float64)
            if pts.ndim != 2 or pts.shape[1] != 4 or pts.shape[0] < 2:
                raise ValueError(f"CableCell: section {sec.name}: points must be (n >= 2, 4)")
            if np.any(pts[:, 3] <= 0):
                raise ValueError(f"CableCell: section {sec.name}: a diameter <= 0")
            ra = float(_per_kind(Ra, sec.kind, "Ra"))
            c = float(_per_kind(cm, sec.kind, "cm"))
            ns = _nseg(sec, discretization, ra, c)
            ar, ri, rlast = _areas_rinv(pts.astype(np.float32), ns, ra)
            pnode = 0 if sec.parent < 0 else self._node_at(sec.parent, sec.parent_x, end_node)
            mechs = {**mechanisms.get("all", {}), **mechanisms.get(sec.kind, {})}
            ev = {**E_DEFAULT, **reversal.get("all", {}), **reversal.get(sec.kind, {})}
            self.first_node.append(len(par))
            self.nseg.append(ns)
            for j in range(ns):
                node = len(par)
                par.append(pnode if j == 0 else node - 1)
                area.append(ar[j])
                rinv.append(ri[j])
                cm_n.append(c)
                e_n.append([ev["ena"], ev["ek"], ev["eca"]])
                for mname, prm in mechs.items():
                    ch = channel(mname)
                    row = [float(prm.get(f"{q}_{mname}", dflt)) for q, dflt in ch.params.items()]
                    inst.setdefault(mname, []).append((node, row))
            par.append(len(par) - 1)  # the zero-area node at x = 1
            area.append(1.0e2)
            rinv.append(1.0 / rlast)
            cm_n.append(0.0)
            e_n.append(list(E_DEFAULT.values()))
            end_node.append(len(par) - 1)
        self.end_node = end_node
        self.par = np.array(par, np.int64)
        self.area = np.array(area)
        self.rinv = np.array(rinv)
        self.cm = np.array(cm_n)
        self.e0 = np.array(e_n, np.float64)
        nn = self.par.size
        self.a, self.b = np.zeros(nn), np.zeros(nn)
        for k in range(1, nn):  # NEURON's connection_coef (rallbranch 1)
            self.a[k] = -1.0e2 * self.rinv[k] / self.area[self.par[k]]
            self.b[k] = -1.0e2 * self.rinv[k] / self.area[k]
        self.mechanism_names = tuple(ordered(inst))
        opts = {"usetable_hh": usetable_hh}
        self._mech = []
        for name in self.mechanism_names:
            ch = channel(name)
            nodes = np.array([n for n, _ in inst[name]], np.int64)
            prm = np.array([r for _, r in inst[name]], np.float64).reshape(nodes.size, -1)
            self._mech.append((nodes, prm, len(ch.states), ch.aux(self.celsius, opts)))
        #: the nodes of mechanisms that write ion currents (their ion arrays are kept)
        self.ion_nodes = np.unique(np.concatenate(
            [nodes for (nodes, *_), name in zip(self._mech, self.mechanism_names)
             if channel(name).ions] or [np.zeros(0, np.int64)])).astype(np.int64)
        self._step = None  # the generated step: made when the cell first runs

    @property
    def _code(self):
        if self._step is None:
            self._step = _loop(self.mechanism_names)
        return self._step

    # ------------------------------------------------------------------ locations
    def _node_at(self, sec: int, x: float, end_node=None) -> int:
        """NEURON's node of ``section(x)``: x = 0 its parent's node, x = 1 its end node,
        else the centre of the segment holding x."""
        end_node = self.end_node if end_node is None else end_node
        if not 0.0 <= x <= 1.0:
            raise ValueError(f"CableCell: position {x} on {self.names[sec]} is not in [0, 1]")
        if x == 1.0:
            return end_node[sec]
        if x == 0.0:
            p = self.sections[sec].parent
            return 0 if p < 0 else self._node_at(p, self.sections[sec].parent_x, end_node)
        return self.first_node[sec] + min(int(x * self.nseg[sec]), self.nseg[sec] - 1)

    def section_index(self, section: int | str) -> int:
        if isinstance(section, str):
            if section not in self.names:
                raise ValueError(f"CableCell: no section {section!r}")
            return self.names.index(section)
        if not 0 <= int(section) < len(self.sections):
            raise ValueError(f"CableCell: no section {section}")
        return int(section)

    def node(self, section: int | str, x: float = 0.5) -> int:
        """The node index of ``section(x)``."""
        return self._node_at(self.section_index(section), float(x))

    @property
    def n_compartments(self) -> int:
        return int(np.count_nonzero(self.cm > 0))

    def segment_area_um2(self, section, x: float = 0.5) -> float:
        return float(self.area[self.node(section, x)])

    # ------------------------------------------------------------------ running
    def initial_state(self, v_init: float):
        """NEURON's ``finitialize(v_init)``: (v, reversal potentials, cai, each mechanism's
        states)."""
        v = np.full(self.par.size, float(v_init))
        e = self.e0.copy()
        cai = np.full(self.par.size, CAI0)
        states = [np.zeros((nodes.size, ns)) for nodes, _, ns, _ in self._mech]
        args = []
        for (nodes, prm, _, aux), st in zip(self._mech, states):
            args += [nodes, prm, st, aux]
        self._code.init(v, e, cai, self.celsius, *args)
        return v, e, cai, states

    def run(self, tstop_ms: float, dt_ms: float = 0.025, *, v_init: float = -65.0,
            stimuli=(), synapses=(), events=(), record=(("soma[0]", 0.5),),
            spike_detector=None, numpy: bool = False) -> CableResult:
        """``finitialize(v_init)`` then fixed steps of ``dt_ms`` to ``tstop_ms``: v at the
        ``record`` locations (``(section, x)``), spike times at ``spike_detector``
        (``(section, x, threshold_mV)``); ``synapses``: :class:`Synapse` (or dicts), and
        ``events``: ``(synapse index, times ms, weight µS)`` — spikes arriving at a synapse
        (NEURON delivers an event at the step whose midpoint it does not pass); ``numpy``: the step interpreted (the same source
        and each mechanism's Python functions) instead of compiled."""
        n_steps = int(round(tstop_ms / dt_ms))
        v, e, cai, states = self.initial_state(v_init)
        st = [IClamp(**s) if isinstance(s, dict) else s for s in stimuli]
        stim_node = np.array([self.node(s.section, s.x) for s in st], np.int64)
        if stim_node.size and np.any(self.cm[stim_node] == 0):
            raise ValueError("CableCell.run: a current clamp at a node of zero area (x = 0 or "
                             "1); place it inside a section")
        on = np.array([s.delay_ms for s in st], float)
        off = np.array([s.delay_ms + s.dur_ms for s in st], float)
        amp = np.array([s.amp_nA for s in st], float)
        rec_nodes = np.array([self.node(s, x) for s, x in record], np.int64)
        rec = np.zeros((rec_nodes.size, n_steps + 1))
        rec[:, 0] = v[rec_nodes]
        det, thr = -1, 0.0
        if spike_detector is not None:
            det, thr = self.node(spike_detector[0], spike_detector[1]), float(
                spike_detector[2])
        above = np.array([v[det] > thr if det >= 0 else False])
        spikes, n_spk = np.zeros(max(1, n_steps)), np.zeros(1, np.int64)
        syns = [Synapse(**q) if isinstance(q, dict) else q for q in synapses]
        syn_node = np.array([self.node(q.section, q.x) for q in syns], np.int64)
        if syn_node.size and np.any(self.cm[syn_node] == 0):
            raise ValueError("CableCell.run: a synapse at a node of zero area (x = 0 or 1); "
                             "place it inside a section")
        syn_p = np.array([_synapse_row(q, k) for k, q in enumerate(syns)],
                         np.float64).reshape(-1, SYN_COLS)
        ev = [(float(t), int(k), float(w)) for k, times, w in events
              for t in np.atleast_1d(np.asarray(times, np.float64))]
        for t, k, w in ev:
            if not 0 <= k < len(syns):
                raise ValueError(f"CableCell.run: an event for synapse {k}; there are "
                                 f"{len(syns)}")
            if not math.isfinite(t) or not math.isfinite(w) or w < 0:
                raise ValueError(f"CableCell.run: event at {t} ms of weight {w} µS on synapse "
                                 f"{k}: times finite, weights finite and >= 0")
        ev.sort(key=lambda e: e[0])  # stable: same-time events in the order given
        ev_t = np.array([e[0] for e in ev], np.float64)
        ev_syn = np.array([e[1] for e in ev], np.int64)
        ev_w = np.array([e[2] for e in ev], np.float64)
        nn = v.size
        margs = []
        for (nodes, prm, _, aux), s in zip(self._mech, states):
            margs += [nodes, prm, s, aux]
        run = self._code.run_py if numpy else self._code.run
        run(n_steps, 0, float(dt_ms), self.secondorder == 2, self.celsius, v, self.a, self.b,
            self.par, self.area, self.cm, e, cai, np.zeros((nn, 3)), np.zeros((nn, 3)),
            stim_node, on, off, amp, rec_nodes, rec, det, thr, above, spikes, n_spk,
            np.zeros(nn), np.zeros(nn), np.zeros(3), np.zeros(3), syn_node, syn_p,
            np.zeros((syn_node.size, 2)), ev_t, ev_syn, ev_w, np.zeros(1, np.int64),
            self.ion_nodes, *margs)
        return CableResult(t_ms=np.arange(n_steps + 1) * float(dt_ms), v_mV=rec,
                           spike_times_ms=spikes[:int(n_spk[0])].copy(),
                           recorded=list(record))
