"""Poiseuille flow on vessel graphs against the analytic solution; occlusion; readers."""

from __future__ import annotations

import numpy as np
import pytest

from wbe.hemodynamics.vessels import (
    MMHG_PA,
    VesselGraph,
    h_tree_vessels,
    occlude,
    read_vessels,
    solve_flow,
    write_vessels_graphml,
)

MU = 3.5e-3


def _poiseuille_um3_per_s(r_um, l_um, dp_mmHg):
    """Hagen–Poiseuille in SI: Q = π r⁴ Δp / (8 μ L), converted to µm³/s."""
    r, ln, dp = r_um * 1e-6, l_um * 1e-6, dp_mmHg * MMHG_PA
    return np.pi * r ** 4 * dp / (8 * MU * ln) * 1e18


def test_single_tube_is_hagen_poiseuille():
    g = VesselGraph([[0, 0, 0], [100, 0, 0]], [0], [1], 5.0, 100.0, [0, 1], [50.0, 10.0])
    f = solve_flow(g)
    assert f.flow_um3_per_s[0] == pytest.approx(_poiseuille_um3_per_s(5.0, 100.0, 40.0),
                                                rel=1e-12)
    assert f.velocity_mm_per_s[0] == pytest.approx(
        f.flow_um3_per_s[0] / (np.pi * 25.0) / 1000.0, rel=1e-12)


def test_series_and_parallel_network_matches_resistances():
    """in ─R1─ m ─(R2 ∥ R3)─ out, and a dead-end branch that carries nothing."""
    xyz = [[0, 0, 0], [100, 0, 0], [300, 0, 0], [150, 50, 0]]
    g = VesselGraph(xyz, [0, 1, 1, 3], [1, 2, 2, 1], [8.0, 4.0, 6.0, 3.0],
                    [100.0, 200.0, 250.0, 70.0], [0, 2], [60.0, 20.0])
    res = [1 / _poiseuille_um3_per_s(r, ln, 1.0) for r, ln in ((8, 100), (4, 200), (6, 250))]
    r_total = res[0] + 1 / (1 / res[1] + 1 / res[2])
    q = 40.0 / r_total
    f = solve_flow(g)
    assert f.flow_um3_per_s[0] == pytest.approx(q, rel=1e-12)
    assert f.pressure_mmHg[1] == pytest.approx(60.0 - q * res[0], rel=1e-12)
    assert f.flow_um3_per_s[1] / f.flow_um3_per_s[2] == pytest.approx(res[2] / res[1])
    assert f.flow_um3_per_s[3] == 0.0 and f.pressure_mmHg[3] == pytest.approx(
        f.pressure_mmHg[1])


def test_h_tree_is_symmetric_conserves_mass_and_follows_murray():
    g = h_tree_vessels(6, extent_um=800.0, depth_um=200.0)
    f = solve_flow(g)
    inflow = f.inflow_um3_per_s(g)
    assert inflow[0] > 0 and inflow[1] == pytest.approx(-inflow[0], rel=1e-10)
    net = np.zeros(g.n_nodes)  # Kirchhoff at every free node
    np.add.at(net, g.source, f.flow_um3_per_s)
    np.add.at(net, g.target, -f.flow_um3_per_s)
    free = np.setdiff1d(np.arange(g.n_nodes), g.boundary_nodes)
    assert np.max(np.abs(net[free])) < 1e-9 * inflow[0]
    leaf = g.node_attributes["leaf"]
    assert np.sum(leaf >= 0) == 64
    feed = np.isin(g.target, np.flatnonzero(leaf >= 0)) & (g.kind == "capillary") & \
        (g.xyz_um[g.source, 2] == 0.0)
    q = f.flow_um3_per_s[feed]
    assert q.size == 64 and np.allclose(q, q.mean(), rtol=1e-9)  # every leaf alike
    assert q.sum() == pytest.approx(inflow[0], rel=1e-9)
    art = g.kind == "arteriole"
    r = np.unique(np.round(g.radius_um[art], 9))[::-1]
    assert np.allclose(r[1:] ** 3 * 2, r[:-1] ** 3)  # Murray: r_parent³ = Σ r_child³
    # the leaves tile the square: an 8 × 8 grid at 100 µm
    cx = np.sort(np.unique(g.xyz_um[leaf >= 0, 0]))
    assert np.allclose(np.diff(cx), 100.0) and cx.size == 8


def test_occlusion_lowers_downstream_flow_and_collaterals_keep_some():
    """Occluding the arteriole that feeds one quadrant (16 of 64 leaves): no flow enters its
    leaves from their arterioles, and what drains them into the venules — kept going only by
    the capillary mesh from the neighbouring quadrants — falls below half."""
    g = h_tree_vessels(6)  # 1000 µm square: the lower-left quadrant's centre is (250, 250)
    base = solve_flow(g)
    xyz = g.xyz_um
    parent = np.flatnonzero((g.kind == "arteriole")
                            & np.all(np.isclose(xyz[g.target], [250.0, 250.0, 0.0]), axis=1))
    assert parent.size == 1
    leaf = g.node_attributes["leaf"]
    quad = np.flatnonzero((leaf >= 0) & (xyz[:, 0] < 500) & (xyz[:, 1] < 500))
    assert quad.size == 16
    feed = np.flatnonzero(np.isin(g.target, quad) & (xyz[g.source, 2] == 0.0))
    drain = np.flatnonzero(np.isin(g.source, quad) & (xyz[g.target, 2] > 150.0))
    occl = solve_flow(g, occlude(g, parent))
    b_feed, o_feed = base.flow_um3_per_s[feed].sum(), occl.flow_um3_per_s[feed].sum()
    b_out, o_out = base.flow_um3_per_s[drain].sum(), occl.flow_um3_per_s[drain].sum()
    assert b_feed > 0 and abs(o_feed) < 1e-9 * b_feed  # its arterioles carry nothing
    assert 0 < o_out < 0.5 * b_out  # the mesh keeps a little flow going
    half = solve_flow(g, occlude(g, parent, fraction=0.5))
    assert o_out < half.flow_um3_per_s[drain].sum() < b_out
    assert occl.inflow_um3_per_s(g)[0] < base.inflow_um3_per_s(g)[0]
    # elsewhere flow is barely touched (the far quadrant)
    far = np.flatnonzero(np.isin(g.source, np.flatnonzero((leaf >= 0) & (xyz[:, 0] > 500)
                                                          & (xyz[:, 1] > 500)))
                         & (xyz[g.target, 2] > 150.0))
    assert occl.flow_um3_per_s[far].sum() == pytest.approx(base.flow_um3_per_s[far].sum(),
                                                           rel=0.1)


def test_isolated_piece_has_no_pressure_and_no_flow():
    xyz = [[0, 0, 0], [100, 0, 0], [200, 0, 0], [300, 0, 0]]
    g = VesselGraph(xyz, [0, 1, 2], [1, 2, 3], [5.0, 5.0, 5.0], 100.0, [0, 3], [50.0, 10.0])
    f = solve_flow(g, occlude(g, [0, 2]))
    assert np.isnan(f.pressure_mmHg[1]) and np.isnan(f.pressure_mmHg[2])
    assert np.all(f.flow_um3_per_s == 0.0)


def test_graphml_and_csv_round_trip(tmp_path):
    g = h_tree_vessels(4, extent_um=400.0)
    p = write_vessels_graphml(g, tmp_path / "v.graphml")
    back = read_vessels(p)
    assert back.n_segments == g.n_segments and back.n_nodes == g.n_nodes
    assert np.allclose(solve_flow(back).inflow_um3_per_s(back),
                       solve_flow(g).inflow_um3_per_s(g), rtol=1e-9)
    e = g.xyz_um
    import pandas as pd

    df = pd.DataFrame({"x1_um": e[g.source, 0], "y1_um": e[g.source, 1],
                       "z1_um": e[g.source, 2], "x2_um": e[g.target, 0],
                       "y2_um": e[g.target, 1], "z2_um": e[g.target, 2],
                       "radius_um": g.radius_um, "kind": g.kind})
    df["p1_mmHg"] = np.where(g.source == g.boundary_nodes[0], 60.0, np.nan)
    df["p2_mmHg"] = np.nan
    df.loc[g.source == g.boundary_nodes[1], "p1_mmHg"] = 15.0
    df.to_csv(tmp_path / "v.csv", index=False)
    back = read_vessels(tmp_path / "v.csv")
    assert np.allclose(solve_flow(back).inflow_um3_per_s(back),
                       solve_flow(g).inflow_um3_per_s(g), rtol=1e-9)


def test_bad_vessel_files_are_named(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("x1_um,y1_um,radius_um\n0,0,1\n")
    with pytest.raises(ValueError, match="bad.csv: missing column"):
        read_vessels(bad)
    nob = tmp_path / "nob.csv"
    nob.write_text("x1_um,y1_um,z1_um,x2_um,y2_um,z2_um,radius_um\n0,0,0,1,0,0,2\n")
    with pytest.raises(ValueError, match="nob.csv: flow needs at least two boundary"):
        read_vessels(nob)
    dtd = tmp_path / "evil.graphml"
    dtd.write_text('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>')
    with pytest.raises(ValueError, match="evil.graphml: refused"):
        read_vessels(dtd)
    with pytest.raises(ValueError, match="segment 0: radius_um must be >= 0"):
        VesselGraph([[0, 0, 0], [1, 0, 0]], [0], [1], -1.0, 1.0, [0, 1], [1.0, 0.0])
