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

**Mechanisms** (NEURON's names; per section kind, ``"all"`` for every section): ``pas``
(``g_pas`` S/cm², ``e_pas`` mV) and ``hh`` (``gnabar_hh``, ``gkbar_hh``, ``gl_hh`` S/cm²,
``el_hh`` mV, with ``ena``, ``ek`` mV; rates from NEURON's ``hh.mod``, through its rate
table as NEURON's default ``usetable_hh = 1`` or exactly with ``usetable_hh=False``;
``celsius``). They are built into the compiled step for now; the Allen channel set and
channels as plug-ins come with the engine's cable cell kind.

The compiled step (numba) has a NumPy twin (:meth:`CableCell.run` with ``numpy=True``) that
gives the same numbers bit for bit; ``tests/reference/test_cable_neuron.py`` holds both to
NEURON run beside them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numba
import numpy as np

from .morphology import Section

__all__ = ["CableCell", "CableResult", "IClamp", "MECHANISMS"]

#: mechanisms and their parameters (NEURON's range names and defaults)
MECHANISMS = {
    "pas": {"g_pas": 0.001, "e_pas": -70.0},
    "hh": {"gnabar_hh": 0.12, "gkbar_hh": 0.036, "gl_hh": 0.0003, "el_hh": -54.3,
           "ena": 50.0, "ek": -77.0},
}
_PI = 3.14159265358979323846
_HH_TABLE = (-100.0, 100.0, 200)  # hh.mod's TABLE ... FROM -100 TO 100 WITH 200


@dataclass
class IClamp:
    """NEURON's ``IClamp`` at ``section(x)``: ``amp`` nA from ``delay_ms`` for ``dur_ms``."""

    section: int | str
    x: float = 0.5
    delay_ms: float = 0.0
    dur_ms: float = 0.0
    amp_nA: float = 0.0


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


# --------------------------------------------------------------------- hh.mod's rates
@numba.njit(cache=True)
def _vtrap(x, y):
    if abs(x / y) < 1e-6:
        return y * (1.0 - x / y / 2.0)
    return x / (math.exp(x / y) - 1.0)


@numba.njit(cache=True)
def _hh_rates_exact(v, q10, out):
    """(minf, mtau, hinf, htau, ninf, ntau) at v (hh.mod's ``rates``)."""
    alpha = 0.1 * _vtrap(-(v + 40.0), 10.0)
    beta = 4.0 * math.exp(-(v + 65.0) / 18.0)
    s = alpha + beta
    out[1] = 1.0 / (q10 * s)
    out[0] = alpha / s
    alpha = 0.07 * math.exp(-(v + 65.0) / 20.0)
    beta = 1.0 / (math.exp(-(v + 35.0) / 10.0) + 1.0)
    s = alpha + beta
    out[3] = 1.0 / (q10 * s)
    out[2] = alpha / s
    alpha = 0.01 * _vtrap(-(v + 55.0), 10.0)
    beta = 0.125 * math.exp(-(v + 65.0) / 80.0)
    s = alpha + beta
    out[5] = 1.0 / (q10 * s)
    out[4] = alpha / s


@numba.njit(cache=True)
def _hh_rates(v, q10, table, out):
    """hh.mod's rates, through NMODL's TABLE (linear interpolation over 200 intervals from
    −100 to 100 mV, clamped at the ends) when ``table`` has rows, else exact."""
    if table.shape[0] == 0:
        _hh_rates_exact(v, q10, out)
        return
    xi = (200.0 / 200.0) * (v - (-100.0))
    if xi <= 0.0:
        for k in range(6):
            out[k] = table[0, k]
        return
    if xi >= 200.0:
        for k in range(6):
            out[k] = table[200, k]
        return
    i = int(xi)
    theta = xi - float(i)
    for k in range(6):
        out[k] = table[i, k] + theta * (table[i + 1, k] - table[i, k])


def _hh_table(q10: float) -> np.ndarray:
    t = np.zeros((201, 6))
    for i in range(201):
        _hh_rates_exact(-100.0 + float(i) * ((100.0 - (-100.0)) / 200.0), q10, t[i])
    return t


# --------------------------------------------------------------------- the step
@numba.njit(cache=True, inline="always")
def _cur(v, k, pas_g, pas_e, has_hh, hh_p, m, h, n):
    """Membrane current density (mA/cm²) at node ``k`` and potential ``v``: pas, then hh."""
    i = 0.0
    if pas_g[k] != 0.0:
        i += pas_g[k] * (v - pas_e[k])
    if has_hh[k]:
        gna = hh_p[k, 0] * m[k] * m[k] * m[k] * h[k]
        gk = hh_p[k, 1] * n[k] * n[k] * n[k] * n[k]
        i += gna * (v - hh_p[k, 4]) + gk * (v - hh_p[k, 5]) + hh_p[k, 2] * (v - hh_p[k, 3])
    return i


@numba.njit(cache=True)
def _run(n_steps, t0_step, dt, cn, v, a, b, par, area, cm, pas_g, pas_e, has_hh, hh_p, m, h,
         n, q10, table, stim_node, stim_on, stim_off, stim_amp, rec_nodes, rec, det_node,
         threshold, above, spikes, n_spk, d, rhs):
    """``n_steps`` NEURON fixed steps from step ``t0_step``; v recorded after each."""
    nn = v.shape[0]
    cj = (2.0 if cn else 1.0) / dt
    r6 = np.empty(6)
    for s in range(n_steps):
        step = t0_step + s
        t_mid = (float(step) + 0.5) * dt
        for k in range(nn):
            rhs[k] = 0.0
            d[k] = 0.0
        for k in range(nn):
            if cm[k] > 0.0:
                vk = v[k]
                g = _cur(vk + 0.001, k, pas_g, pas_e, has_hh, hh_p, m, h, n)
                i = _cur(vk, k, pas_g, pas_e, has_hh, hh_p, m, h, n)
                rhs[k] -= i
                d[k] += (g - i) / 0.001
        for q in range(stim_node.shape[0]):
            if stim_on[q] <= t_mid < stim_off[q]:
                rhs[stim_node[q]] += stim_amp[q] * (1.0e2 / area[stim_node[q]])
        for k in range(nn):
            if cm[k] > 0.0:
                d[k] += 1.0e-3 * cj * cm[k]
        for k in range(1, nn):
            p = par[k]
            dv = v[p] - v[k]
            rhs[k] -= b[k] * dv
            rhs[p] += a[k] * dv
            d[k] -= b[k]
            d[p] -= a[k]
        for k in range(nn - 1, 0, -1):  # triang
            p = a[k] / d[k]
            d[par[k]] -= p * b[k]
            rhs[par[k]] -= p * rhs[k]
        rhs[0] /= d[0]  # bksub
        for k in range(1, nn):
            rhs[k] -= b[k] * rhs[par[k]]
            rhs[k] /= d[k]
        for k in range(nn):
            v[k] += (2.0 if cn else 1.0) * rhs[k]
        for k in range(nn):  # states (cnexp) with the new v
            if has_hh[k]:
                _hh_rates(v[k], q10, table, r6)
                m[k] = m[k] + (1.0 - math.exp(dt * (-1.0 / r6[1]))) * (
                    -(r6[0] / r6[1]) / (-1.0 / r6[1]) - m[k])
                h[k] = h[k] + (1.0 - math.exp(dt * (-1.0 / r6[3]))) * (
                    -(r6[2] / r6[3]) / (-1.0 / r6[3]) - h[k])
                n[k] = n[k] + (1.0 - math.exp(dt * (-1.0 / r6[5]))) * (
                    -(r6[4] / r6[5]) / (-1.0 / r6[5]) - n[k])
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


class CableCell:
    """A cell from ``sections`` (:func:`wbe.cable.morphology.sections_from_swc`).

    ``Ra`` (Ω·cm), ``cm`` (µF/cm²): a number, or per section kind (``{"soma": .., "all":
    ..}``); ``mechanisms``: section kind (or ``"all"``) → {mechanism: {parameter: value}}
    (:data:`MECHANISMS`); ``discretization``: module docstring; ``celsius`` (°C);
    ``usetable_hh``: NEURON's switch for hh's rate table; ``secondorder``: 0 (backward Euler)
    or 2 (Crank–Nicolson), NEURON's global."""

    def __init__(self, sections: list[Section], *, Ra=35.4, cm=1.0, mechanisms=None,
                 discretization=1, celsius: float = 6.3, usetable_hh: bool = True,
                 secondorder: int = 0) -> None:
        if not sections:
            raise ValueError("CableCell: no sections")
        if secondorder not in (0, 2):
            raise ValueError("CableCell.secondorder: 0 (backward Euler) or 2 (Crank-Nicolson)")
        self.sections = sections
        self.names = [s.name for s in sections]
        self.secondorder, self.celsius = secondorder, float(celsius)
        mechanisms = mechanisms or {}
        for kind, mechs in mechanisms.items():
            for mname, prm in mechs.items():
                if mname not in MECHANISMS:
                    raise ValueError(f"CableCell.mechanisms[{kind!r}]: unknown mechanism "
                                     f"{mname!r} (known: {sorted(MECHANISMS)})")
                bad = sorted(set(prm) - set(MECHANISMS[mname]))
                if bad:
                    raise ValueError(f"CableCell.mechanisms[{kind!r}][{mname!r}]: unknown "
                                     f"parameter(s) {bad}")
        par, area, cm_n, rinv = [-1], [1.0e2], [0.0], [0.0]
        pas_g, pas_e, has_hh, hh_p = [0.0], [0.0], [False], [np.zeros(6)]
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
            if sec.parent < 0:
                pnode = 0
            else:
                pnode = self._node_at(sec.parent, sec.parent_x, end_node)
            mechs = {**mechanisms.get("all", {}), **mechanisms.get(sec.kind, {})}
            pp = {**MECHANISMS["pas"], **mechs.get("pas", {})}
            hp = {**MECHANISMS["hh"], **mechs.get("hh", {})}
            self.first_node.append(len(par))
            self.nseg.append(ns)
            for j in range(ns):
                par.append(pnode if j == 0 else len(par) - 1)
                area.append(ar[j])
                rinv.append(ri[j])
                cm_n.append(c)
                pas_g.append(pp["g_pas"] if "pas" in mechs else 0.0)
                pas_e.append(pp["e_pas"])
                has_hh.append("hh" in mechs)
                hh_p.append(np.array([hp[q] for q in ("gnabar_hh", "gkbar_hh", "gl_hh",
                                                      "el_hh", "ena", "ek")], float))
            par.append(len(par) - 1)  # the zero-area node at x = 1
            area.append(1.0e2)
            rinv.append(1.0 / rlast)
            cm_n.append(0.0)
            pas_g.append(0.0)
            pas_e.append(0.0)
            has_hh.append(False)
            hh_p.append(np.zeros(6))
            end_node.append(len(par) - 1)
        self.end_node = end_node
        self.par = np.array(par, np.int64)
        self.area = np.array(area)
        self.rinv = np.array(rinv)
        self.cm = np.array(cm_n)
        self.pas_g, self.pas_e = np.array(pas_g), np.array(pas_e)
        self.has_hh, self.hh_p = np.array(has_hh), np.array(hh_p)
        nn = self.par.size
        self.a, self.b = np.zeros(nn), np.zeros(nn)
        for k in range(1, nn):  # NEURON's connection_coef (rallbranch 1)
            self.a[k] = -1.0e2 * self.rinv[k] / self.area[self.par[k]]
            self.b[k] = -1.0e2 * self.rinv[k] / self.area[k]
        self.q10 = 3.0 ** ((self.celsius - 6.3) / 10.0)
        self.table = _hh_table(self.q10) if usetable_hh else np.zeros((0, 6))

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
        v = np.full(self.par.size, float(v_init))
        r = np.zeros((self.par.size, 6))
        for k in np.flatnonzero(self.has_hh):
            _hh_rates(v[k], self.q10, self.table, r[k])
        return v, r[:, 0].copy(), r[:, 2].copy(), r[:, 4].copy()

    def run(self, tstop_ms: float, dt_ms: float = 0.025, *, v_init: float = -65.0,
            stimuli=(), record=(("soma[0]", 0.5),), spike_detector=None,
            numpy: bool = False) -> CableResult:
        """``finitialize(v_init)`` then fixed steps of ``dt_ms`` to ``tstop_ms``: v at the
        ``record`` locations (``(section, x)``), spike times at ``spike_detector``
        (``(section, x, threshold_mV)``); ``numpy``: the NumPy twin instead of the compiled
        step."""
        n_steps = int(round(tstop_ms / dt_ms))
        v, m, h, n = self.initial_state(v_init)
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
        d, rhs = np.zeros(v.size), np.zeros(v.size)
        args = (n_steps, 0, float(dt_ms), self.secondorder == 2, v, self.a, self.b, self.par,
                self.area, self.cm, self.pas_g, self.pas_e, self.has_hh, self.hh_p, m, h, n,
                self.q10, self.table, stim_node, on, off, amp, rec_nodes, rec, det, thr, above,
                spikes, n_spk, d, rhs)
        (_run_np if numpy else _run)(*args)
        return CableResult(t_ms=np.arange(n_steps + 1) * float(dt_ms), v_mV=rec,
                           spike_times_ms=spikes[:int(n_spk[0])].copy(),
                           recorded=list(record))


def _run_np(n_steps, t0_step, dt, cn, v, a, b, par, area, cm, pas_g, pas_e, has_hh, hh_p, m, h,
            n, q10, table, stim_node, stim_on, stim_off, stim_amp, rec_nodes, rec, det_node,
            threshold, above, spikes, n_spk, d, rhs):
    """NumPy twin of :func:`_run` (currents and states over all nodes at once, the tree solve
    node by node): the same numbers bit for bit."""
    nn = v.shape[0]
    cj = (2.0 if cn else 1.0) / dt
    mem = cm > 0.0
    hh = has_hh

    def cur(vv):
        i = np.zeros(nn)
        on = pas_g != 0.0
        i[on] = i[on] + pas_g[on] * (vv[on] - pas_e[on])
        gna = hh_p[:, 0] * m * m * m * h
        gk = hh_p[:, 1] * n * n * n * n
        ihh = gna * (vv - hh_p[:, 4]) + gk * (vv - hh_p[:, 5]) + hh_p[:, 2] * (vv - hh_p[:, 3])
        i[hh] = i[hh] + ihh[hh]
        return i

    r6 = np.empty(6)
    for s in range(n_steps):
        step = t0_step + s
        t_mid = (float(step) + 0.5) * dt
        g = cur(v + 0.001)
        i = cur(v)
        rhs[:] = np.where(mem, 0.0 - i, 0.0)
        d[:] = np.where(mem, 0.0 + (g - i) / 0.001, 0.0)
        for q in range(stim_node.size):
            if stim_on[q] <= t_mid < stim_off[q]:
                rhs[stim_node[q]] += stim_amp[q] * (1.0e2 / area[stim_node[q]])
        d[mem] += 1.0e-3 * cj * cm[mem]
        for k in range(1, nn):
            p = par[k]
            dv = v[p] - v[k]
            rhs[k] -= b[k] * dv
            rhs[p] += a[k] * dv
            d[k] -= b[k]
            d[p] -= a[k]
        for k in range(nn - 1, 0, -1):
            p = a[k] / d[k]
            d[par[k]] -= p * b[k]
            rhs[par[k]] -= p * rhs[k]
        rhs[0] /= d[0]
        for k in range(1, nn):
            rhs[k] -= b[k] * rhs[par[k]]
            rhs[k] /= d[k]
        v += (2.0 if cn else 1.0) * rhs
        for k in np.flatnonzero(hh):
            _hh_rates.py_func(v[k], q10, table, r6)
            m[k] = m[k] + (1.0 - math.exp(dt * (-1.0 / r6[1]))) * (
                -(r6[0] / r6[1]) / (-1.0 / r6[1]) - m[k])
            h[k] = h[k] + (1.0 - math.exp(dt * (-1.0 / r6[3]))) * (
                -(r6[2] / r6[3]) / (-1.0 / r6[3]) - h[k])
            n[k] = n[k] + (1.0 - math.exp(dt * (-1.0 / r6[5]))) * (
                -(r6[4] / r6[5]) / (-1.0 / r6[5]) - n[k])
        rec[:, step + 1] = v[rec_nodes]
        if det_node >= 0:
            if v[det_node] > threshold:
                if not above[0]:
                    if n_spk[0] < spikes.shape[0]:
                        spikes[n_spk[0]] = float(step + 1) * dt
                    n_spk[0] += 1
                above[0] = True
            else:
                above[0] = False
