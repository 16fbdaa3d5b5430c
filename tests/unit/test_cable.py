"""wbe.cable without NEURON: the SWC → sections rule, the compiled step against its NumPy twin
(bit for bit), a sealed passive cylinder against cable theory, and errors that name what is
wrong (the comparison with NEURON is tests/reference/test_cable_neuron.py)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from wbe.anatomy.swc import MorphologyError, bmtk_allen_swc_paths, read_swc
from wbe.cable import CableCell, Section, sections_from_swc


def _table(rows):
    return pd.DataFrame(rows, columns=["node_id", "type", "x", "y", "z", "radius", "parent"])


def test_swc_rule_soma_branches_and_types():
    t = _table([(1, 1, 0, 0, 0, 5.0, -1), (2, 3, 0, 6, 0, 1.0, 1), (3, 3, 0, 20, 0, 0.8, 2),
                (4, 3, 5, 30, 0, 0.5, 3), (5, 3, -5, 30, 0, 0.5, 3), (6, 2, 0, -6, 0, 0.4, 1),
                (7, 2, 0, -50, 0, 0.3, 6)])
    secs = sections_from_swc(t)
    assert [s.name for s in secs] == ["soma[0]", "dend[0]", "dend[1]", "dend[2]", "axon[0]"]
    soma = secs[0]
    np.testing.assert_array_equal(soma.points, [[-5, 0, 0, 10], [0, 0, 0, 10], [5, 0, 0, 10]])
    assert soma.length_um == 10.0  # a cylinder of the sphere's area
    d0 = secs[1]
    assert d0.parent == 0 and d0.parent_x == 0.5 and d0.points.shape == (2, 4)
    assert secs[4].parent == 0 and secs[4].points.shape == (2, 4)
    for child in secs[2:4]:  # branches start at their parent's last point, attach at x = 1
        assert child.parent == 1 and child.parent_x == 1.0
        np.testing.assert_array_equal(child.points[0], [0, 20, 0, 1.6])


def test_swc_rule_refuses_forests_and_branching_somas():
    with pytest.raises(MorphologyError, match="2 root nodes"):
        sections_from_swc(_table([(1, 1, 0, 0, 0, 5, -1), (2, 3, 0, 9, 0, 1, -1)]))
    with pytest.raises(MorphologyError, match="branches into soma nodes"):
        sections_from_swc(_table([(1, 1, 0, 0, 0, 5, -1), (2, 1, 0, 1, 0, 5, 1),
                                  (3, 1, 1, 0, 0, 5, 1)]))


def test_allen_morphology_is_one_connected_tree():
    secs = sections_from_swc(read_swc(bmtk_allen_swc_paths()[0]))
    assert secs[0].name == "soma[0]" and all(s.parent < k for k, s in enumerate(secs))
    kinds = {s.kind for s in secs}
    assert {"soma", "dend"} <= kinds and len(secs) > 20


BALL = [Section("soma[0]", "soma", np.array([[0, -6.3, 0, 12.6], [0, 6.3, 0, 12.6]])),
        Section("dend[0]", "dend", np.array([[0, 6.3, 0, 2.0], [0, 200, 40, 1.0]]), 0, 1.0),
        Section("dend[1]", "dend", np.array([[0, -6.3, 0, 1.0], [0, -150, 0, 0.8]]), 0, 0.5)]


@pytest.mark.parametrize("secondorder,usetable", [(0, True), (2, False)])
def test_compiled_step_equals_numpy_twin(secondorder, usetable):
    cell = CableCell(BALL, Ra=100.0, mechanisms={"soma": {"hh": {}}, "dend": {
        "pas": {"g_pas": 1e-4, "e_pas": -65.0}}}, discretization=5, usetable_hh=usetable,
        secondorder=secondorder)
    kw = dict(v_init=-65.0, record=[("soma[0]", 0.5), ("dend[0]", 0.9)],
              stimuli=[dict(section="soma[0]", delay_ms=2.0, dur_ms=40.0, amp_nA=0.1)],
              spike_detector=("soma[0]", 0.5, 0.0))
    a = cell.run(60.0, 0.025, **kw)
    b = cell.run(60.0, 0.025, numpy=True, **kw)
    np.testing.assert_array_equal(a.v_mV, b.v_mV)
    np.testing.assert_array_equal(a.spike_times_ms, b.spike_times_ms)
    assert a.spike_times_ms.size >= 2


def test_sealed_cylinder_input_resistance_is_cable_theorys():
    """A passive cylinder sealed at both ends, current into one end: R_in = R_inf·coth(L/λ)."""
    d_um, L_um, Ra, g = 2.0, 500.0, 100.0, 1e-4
    cyl = [Section("dend[0]", "dend", np.array([[0, 0, 0, d_um], [L_um, 0, 0, d_um]]))]
    cell = CableCell(cyl, Ra=Ra, cm=1.0, mechanisms={"all": {"pas": {"g_pas": g,
                                                                     "e_pas": -65.0}}},
                     discretization=1001)
    res = cell.run(150.0, 0.05, v_init=-65.0, record=[("dend[0]", 0.0005)],
                   stimuli=[dict(section="dend[0]", x=0.0005, delay_ms=0.0, dur_ms=200.0,
                                 amp_nA=0.01)])
    rin_mohm = (res.v_mV[0, -1] + 65.0) / 0.01
    d_cm = d_um * 1e-4
    lam_um = math.sqrt(d_cm / (4 * Ra * g)) * 1e4
    r_inf = 2.0 * math.sqrt(Ra / g) / (math.pi * d_cm ** 1.5) / 1e6
    assert rin_mohm == pytest.approx(r_inf / math.tanh(L_um / lam_um), rel=2e-3)


def test_errors_name_the_field():
    with pytest.raises(ValueError, match=r"mechanisms\['soma'\]: unknown mechanism 'kdr'"):
        CableCell(BALL, mechanisms={"soma": {"kdr": {}}})
    with pytest.raises(ValueError, match=r"\['hh'\]: unknown parameter\(s\) \['gnabar'\]"):
        CableCell(BALL, mechanisms={"all": {"hh": {"gnabar": 0.1}}})
    with pytest.raises(ValueError, match="discretization"):
        CableCell(BALL, discretization="fine")
    with pytest.raises(ValueError, match="Ra: no value for section kind 'dend'"):
        CableCell(BALL, Ra={"soma": 100.0})
    with pytest.raises(ValueError, match="zero area"):
        CableCell(BALL).run(1.0, stimuli=[dict(section="dend[0]", x=1.0, amp_nA=1.0)])
    with pytest.raises(ValueError, match="no section 'apic\\[0\\]'"):
        CableCell(BALL).node("apic[0]")


def test_synapse_and_event_errors_name_what():
    cell = CableCell(BALL, mechanisms={"all": {"pas": {}}})
    with pytest.raises(ValueError, match=r"synapses\[0\]: kind is one of"):
        cell.run(1.0, synapses=[dict(kind="AMPA", section="soma[0]")])
    with pytest.raises(ValueError, match=r"synapses\[0\] \(ExpSyn\): unknown parameter"):
        cell.run(1.0, synapses=[dict(kind="ExpSyn", section="soma[0]", params={"tau1": 1})])
    with pytest.raises(ValueError, match="an event for synapse 1; there are 1"):
        cell.run(1.0, synapses=[dict(kind="ExpSyn", section="soma[0]")],
                 events=[(1, [0.5], 0.001)])
    with pytest.raises(ValueError, match="weights finite and >= 0"):
        cell.run(1.0, synapses=[dict(kind="ExpSyn", section="soma[0]")],
                 events=[(0, [0.5], -0.001)])


def test_exp2syn_conductance_peaks_at_the_weight():
    """NEURON's Exp2Syn normalisation: an event of w µS makes g peak at w (voltage clamped
    by a huge passive leak to e, so the synapse's conductance shows as current)."""
    cyl = [Section("soma[0]", "soma", np.array([[0, 0, 0, 10.0], [10.0, 0, 0, 10.0]]))]
    cell = CableCell(cyl, mechanisms={"all": {"pas": {"g_pas": 0.0, "e_pas": -65.0}}})
    syn = dict(kind="Exp2Syn", section="soma[0]", params={"tau1": 0.5, "tau2": 4.0,
                                                           "e": 0.0})
    res = cell.run(20.0, 0.001, v_init=-65.0, synapses=[syn], events=[(0, [1.0], 0.001)])
    v = res.v_mV[0]
    # dv/dt = -g (v - e) / C: with v ~ -65 the slope is proportional to g
    area_cm2 = math.pi * 10.0 * 10.0 * 1e-8
    g_uS = -np.diff(v) / 0.001 * (1e-6 * area_cm2) / ((v[:-1] - 0.0) * 1e-6) * 1e3
    assert g_uS.max() == pytest.approx(0.001, rel=2e-3)


def test_every_c302_worm_cell_is_a_cable_cell():
    """c302's 302 NeuroML2 cells (the worm's reconstructed neurons) become cable cells; one
    of them, passive with a tiny axial resistance (electrically compact), answers a current
    step as one RC circuit of its whole membrane."""
    from wbe.anatomy.c302 import c302_cell_dir
    from wbe.anatomy.swc import read_neuroml_cell

    files = sorted(c302_cell_dir().glob("*.cell.nml"))
    assert len(files) >= 302
    cells = {}
    for f in files:
        secs = sections_from_swc(read_neuroml_cell(f), str(f))
        cells[f.stem.split(".")[0]] = CableCell(
            secs, Ra=0.01, mechanisms={"all": {"pas": {"g_pas": 3e-5, "e_pas": -65.0}}},
            discretization={"max_length_um": 20.0})
    cell = cells["AVAL"]
    assert cell.n_compartments > 10
    res = cell.run(400.0, 0.1, v_init=-65.0, stimuli=[dict(section="soma[0]", delay_ms=0.0,
                                                           dur_ms=400.0, amp_nA=0.001)])
    area_cm2 = cell.area[cell.cm > 0].sum() * 1e-8
    r_mohm = 1.0 / (3e-5 * area_cm2) / 1e6  # 1/(g_pas·area)
    assert (res.v_mV[0, -1] + 65.0) / 0.001 == pytest.approx(r_mohm, rel=0.01)


def test_nav_kinetic_scheme_conserves_and_relaxes_to_its_steady_state():
    """NaV's implicit steps keep the 12 occupancies summing to 1 and non-negative, and at a
    fixed potential they relax to the scheme's steady state (J·y = 0 solved directly)."""
    from wbe.cable.channels import channel
    from wbe.cable.channels.allen import _NAV_EDGES, _nav_rates

    ch = channel("NaV")
    p = np.array(list(ch.params.values()))
    aux = ch.aux(34.0, {})
    e = np.array([50.0, -77.0, 132.0])
    for v in (-80.0, -40.0, 10.0):
        s = np.zeros(12)
        type(ch).init(-90.0, s, p, e, 5e-5, aux)
        for _ in range(20000):
            type(ch).state(v, s, p, e, 5e-5, 0.0, aux, 0.025)
            assert s.min() > -1e-12 and abs(s.sum() - 1.0) < 1e-12
        f, b = _nav_rates(v, p, 34.0)
        j = np.zeros((12, 12))
        for k, (a, c) in enumerate(_NAV_EDGES):
            j[c, a] += f[k]
            j[a, a] -= f[k]
            j[a, c] += b[k]
            j[c, c] -= b[k]
        j[11, :] = 1.0
        rhs = np.zeros(12)
        rhs[11] = 1.0
        np.testing.assert_allclose(s, np.linalg.solve(j, rhs), rtol=1e-6, atol=1e-12)


def test_every_swc_node_is_located_on_its_section():
    """``locations=True``: every node of an Allen reconstruction maps to (section, x) whose
    point, interpolated along the section by arc length, is the node's own."""
    t = read_swc(bmtk_allen_swc_paths()[0])
    secs, where = sections_from_swc(t, locations=True)
    assert set(where) == set(t["node_id"])
    for nid, x, y, z, typ in t[["node_id", "x", "y", "z", "type"]].itertuples(index=False):
        k, pos = where[nid]
        pts = secs[k].points
        arc = np.concatenate([[0.0], np.cumsum(np.linalg.norm(np.diff(pts[:, :3], axis=0),
                                                              axis=1))])
        at = np.array([np.interp(pos * arc[-1], arc, pts[:, c]) for c in range(3)])
        np.testing.assert_allclose(at, [x, y, z], atol=1e-3 if typ == 1 else 1e-6)
        assert 0.0 <= pos <= 1.0
    soma_id = int(t.loc[t["type"] == 1, "node_id"].iloc[0])
    assert where[soma_id] == (0, 0.5)


def test_traced_skeleton_with_an_inner_soma_is_one_cable_tree():
    """navis's example fly neurons: the root is not the soma (a traced skeleton); the tree is
    kept as it is, the soma a section like the others, types 0/5/6 named dend_<type>."""
    import glob
    from pathlib import Path

    import navis

    path = sorted(glob.glob(str(Path(navis.__file__).parent / "data" / "swc" / "*.swc")))[0]
    t = read_swc(path)
    secs = sections_from_swc(t)
    assert secs[0].parent == -1 and all(s.parent < k for k, s in enumerate(secs))
    assert sum(s.kind == "soma" for s in secs) == 1 and {"dend_0", "dend_5"} <= {
        s.kind for s in secs}
    nodes = sum(s.points.shape[0] for s in secs) - (len(secs) - 1)  # shared branch points
    assert nodes >= len(t)
