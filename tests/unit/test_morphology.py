"""Morphology stage: kimimaro skeletons in µm, SWC round trip through navis, node types."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest

from wbe.anatomy import c302, imaging, morphology, swc
from wbe.stages import morphology as morphology_stage


def _rod(length_vox: int = 60, r_vox: int = 3) -> np.ndarray:
    """A square rod along x, (z, y, x) volume, label 1."""
    v = np.zeros((2 * r_vox + 5, 2 * r_vox + 5, length_vox + 4), np.uint32)
    c = r_vox + 2
    v[c - r_vox:c + r_vox + 1, c - r_vox:c + r_vox + 1, 2:2 + length_vox] = 1
    return v


def test_skeleton_of_anisotropic_rod_in_physical_units():
    vs = (50.0, 100.0, 200.0)  # (z, y, x) nm
    sk = morphology.skeletonize_labels(_rod(), vs)
    v, e, r = sk[1]
    assert len(v) > 10 and len(e) == len(v) - 1
    # runs along x (the 200 nm axis): extent ≈ 59 voxels × 200 nm
    ext = v.max(0) - v.min(0)
    assert ext[2] == pytest.approx(59 * 200, rel=0.1)
    assert ext[0] <= 7 * 50 and ext[1] <= 7 * 100  # stays inside the 7×7-voxel section
    # centred on the rod axis in z (index 5); inside the rod in y (indices 2..8)
    assert np.allclose(np.median(v[:, 0]), 5 * 50, atol=50)
    assert 200 <= np.median(v[:, 1]) <= 800  # flat distance ridge across y: anywhere inside


def test_skeleton_to_tree_breaks_cycles_and_orders_parents_first():
    edges = np.array([[0, 1], [1, 2], [2, 3], [3, 0], [4, 5]])
    radii = np.array([1.0, 2.0, 1.0, 1.0, 0.5, 0.7])
    order, parent = morphology.skeleton_to_tree(6, edges, radii)
    assert sorted(order.tolist()) == list(range(6))
    assert order[0] == 1 and parent[0] == -1  # largest radius is the root
    assert (parent == -1).sum() == 2  # two pieces
    assert all(p < k for k, p in enumerate(parent.tolist()))
    assert order[parent == -1].tolist() == [1, 5]


def test_soma_types_largest_radius_region():
    radius = np.array([0.2, 1.5, 1.2, 0.3, 0.2])
    parent = np.array([1, -1, 1, 2, 3])
    t = morphology.soma_types(radius, parent, soma_min_radius_um=1.0, fraction=0.5)
    assert t.tolist() == [0, 1, 1, 0, 0]
    assert morphology.soma_types(radius * 0.1, parent).sum() == 0


def test_compartment_types_majority_of_own_label():
    labels = np.zeros((3, 3, 4), np.uint32)
    comps = np.zeros_like(labels, np.uint8)
    labels[:, :, :2] = 1
    comps[:, :, :2] = 2
    comps[0, 0, 0] = 3
    labels[:, :, 2:] = 2
    comps[:, :, 2:] = 1  # another label's soma next door must not vote
    t = morphology.compartment_types(np.array([[1, 1, 1], [1, 1, 0]]), 1, labels, comps)
    assert t.tolist() == [2, 2]


def test_swc_round_trip_through_navis(tmp_path):
    import navis

    v, e, r = morphology.skeletonize_labels(_rod(), (100.0, 100.0, 100.0))[1]
    df = morphology.skeleton_table(7, v, e, r, (1000.0, -2000.0, 3000.0), (100.0,) * 3)
    swc.write_swc(tmp_path / "7.swc", df.node_id, df.type, df.x, df.y, df.z, df.radius,
                         df.parent, header="test")
    n = navis.read_swc(str(tmp_path / "7.swc"))
    got = n.nodes.sort_values("node_id").reset_index(drop=True)
    np.testing.assert_array_equal(got["node_id"], df["node_id"])
    np.testing.assert_array_equal(got["parent_id"], df["parent"])
    np.testing.assert_array_equal(got["label"].astype(int), df["type"])  # navis: SWC type
    for c in ("x", "y", "z", "radius"):  # navis keeps float32: equal at that precision
        np.testing.assert_array_equal(got[c].to_numpy(np.float32), df[c].to_numpy(np.float32))
    # offset (z, y, x) nm → x = 3 µm + ..., z = 1 µm + ...
    assert df["x"].min() > 3.0 and df["y"].max() < 0
    # cable via navis ≈ rod length 5.9 µm
    assert morphology.cable_length_um(tmp_path / "7.swc") == pytest.approx(5.9, rel=0.1)


def test_run_with_compartments(tmp_path):
    lab = _rod()
    lab2 = np.zeros_like(lab)
    lab2[:, :, :] = 0
    comps = np.where(lab > 0, 2, 0).astype(np.uint8)
    comps[:, :, 2:12] = np.where(lab[:, :, 2:12] > 0, 1, 0)
    img, seg, out = (tmp_path / d for d in ("img", "seg", "morph"))
    for d in (img, seg, out):
        d.mkdir()
    attrs = {"voxel_size_nm": [100.0] * 3, "offset_nm": [0.0, 0.0, 0.0], "source": "t",
             "kind": "labels"}
    imaging.write_volume(img / "compartments.zarr", comps, attrs)
    imaging.write_volume(seg / "labels.zarr", lab, attrs)
    with open(seg / "segments.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["label", "name", "voxels"], [1, "ROD", int(lab.sum())]])
    s = morphology_stage.run(morphology_stage.Params(), {"segmentation": seg, "imaging": img}, out,
                       progress=False)
    assert s["n_skeletons"] == 1 and s["n_nodes"] > 10
    nodes = pd.read_parquet(out / "nodes.parquet")
    assert list(nodes.columns) == morphology.NODE_COLUMNS
    assert set(nodes["type"]) == {1, 2}
    assert (nodes.loc[nodes.type == 1, "x"] < 1.3).all()  # the "soma" end
    neurons = list(csv.DictReader(open(out / "neurons.csv")))
    assert neurons[0]["name"] == "ROD" and int(neurons[0]["n_nodes"]) == len(nodes)
    assert float(neurons[0]["cable_um"]) == pytest.approx(5.9, rel=0.1)
    assert (out / "swc" / "1.swc").exists()
    # per-neuron morphometrics (navis, µm) beside the SWC files, and the Sholl profiles
    mt = pd.read_csv(out / "morphometrics.csv")
    assert list(mt.columns) == ["neuron_id", "name", *morphology.MORPHOMETRIC_COLUMNS]
    row = mt.iloc[0]
    assert (row["neuron_id"], row["name"], row["n_nodes"]) == (1, "ROD", len(nodes))
    assert row["cable_length_um"] == pytest.approx(float(neurons[0]["cable_um"]), abs=1e-4)
    assert row["cable_length_um"] == pytest.approx(  # = navis.read_swc's; CSV has 4 decimals
        morphology.cable_length_um(out / "swc" / "1.swc"), abs=1e-4)
    assert row["has_soma"] and row["sholl_center"] == "soma" and row["n_trees"] == 1
    assert row["n_leaves"] >= 1 and row["max_path_distance_um"] <= row["cable_length_um"]
    sholl = pd.read_csv(out / "sholl.csv")
    assert list(sholl.columns) == ["neuron_id", *morphology.SHOLL_COLUMNS]
    # default 2 µm spheres around the soma end out to the far end of the ~6 µm rod
    assert sholl["radius_um"].tolist() == [2.0, 4.0, 6.0]
    assert sholl["intersections"].tolist() == [1, 1, 0 if row["max_radial_distance_um"] <= 6
                                               else 1]
    assert sholl["cable_length_um"].sum() == pytest.approx(row["cable_length_um"], abs=1e-3)
    assert s["morphometrics_s"] >= 0
    assert not [q for q in out.rglob(".*")]  # no temporary files left


def test_c302_cell_skeleton_real(tmp_path):
    cells = c302.load_c302_cells(["AVAL"])
    vox = c302.voxelise_c302(cells, {"AVAL": 1}, 0.25, (-275.0, -255.0))
    sk = morphology.skeletonize_labels(vox.labels, (250.0,) * 3)
    v, e, r = sk[1]
    df = morphology.skeleton_table(1, v, e, r, tuple(vox.offset_um * 1000), (250.0,) * 3,
                                   vox.labels, vox.compartments)
    # worm coordinates: soma of AVAL at (-0.55, -271.5, 37.98) µm
    soma = df[df.type == 1]
    assert len(soma) > 0
    d = np.linalg.norm(soma[["x", "y", "z"]].to_numpy() - [-0.55, -271.5, 37.983], axis=1)
    assert d.min() < 1.0
    assert set(df["type"]) >= {1, 2}


# --------------------------------------------------------------------------------------------
# SWC reader: a valid file, then malformed ones (each must name the file, the line, the node)

GOOD_SWC = """# a Y rooted at a soma, µm
1 1 0 0 0 2.0 -1
2 3 10 0 0 0.5 1   # inline comment
3 3 20.0 0 0 0.5 2
4 3 30 5 0 0.5 3
5.0 3 30 -5 0 0.5 3
"""


def _swc(tmp_path, text: str, name: str = "cell.swc"):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_read_swc_valid(tmp_path):
    t = swc.read_swc(_swc(tmp_path, GOOD_SWC))
    assert list(t.columns) == swc.SWC_COLUMNS
    assert t["node_id"].tolist() == [1, 2, 3, 4, 5]  # "5.0" is an integer
    assert t["parent"].tolist() == [-1, 1, 2, 3, 3]
    assert t["type"].tolist() == [1, 3, 3, 3, 3]
    assert t["x"].dtype == np.float64 and t["node_id"].dtype == np.int64
    assert t.loc[4, "y"] == -5.0


@pytest.mark.parametrize("body, line, needles", [
    # missing parent: node 4 points at 9
    (GOOD_SWC.replace("4 3 30 5 0 0.5 3", "4 3 30 5 0 0.5 9"), 5,
     ["node 4", "parent 9 does not exist"]),
    # a cycle 3 → 5 → 4 → 3 with no root above it
    ("1 1 0 0 0 1 -1\n2 3 1 0 0 1 1\n3 3 2 0 0 1 5\n4 3 3 0 0 1 3\n5 3 4 0 0 1 4\n", 3,
     ["node 3", "cycle", "3, 5, 4"]),
    # duplicate id: the second 3 (line 5) names the first (line 4)
    (GOOD_SWC.replace("4 3 30 5 0 0.5 3", "3 3 30 5 0 0.5 2"), 5,
     ["node 3", "duplicate node id 3", "cell.swc:4"]),
    # truncated line: 6 fields
    (GOOD_SWC.replace("3 3 20.0 0 0 0.5 2", "3 3 20.0 0 0 0.5"), 4, ["expected 7 fields", "got 6"]),
    # non-numeric coordinate
    (GOOD_SWC.replace("30 -5 0", "30 abc 0"), 6, ["node 5", "y", "'abc'"]),
    # non-integer parent
    (GOOD_SWC.replace("0.5 2", "0.5 2.5"), 4, ["node 3", "parent", "not an integer"]),
    # negative radius
    (GOOD_SWC.replace("10 0 0 0.5 1", "10 0 0 -0.5 1"), 3, ["node 2", "negative radius"]),
    # own parent
    (GOOD_SWC.replace("20.0 0 0 0.5 2", "20.0 0 0 0.5 3"), 4, ["node 3", "its own parent"]),
    # non-finite position
    (GOOD_SWC.replace("30 5 0", "30 nan 0"), 5, ["node 4", "not finite"]),
])
def test_read_swc_rejects_malformed(tmp_path, body, line, needles):
    p = _swc(tmp_path, body)
    with pytest.raises(swc.MorphologyError) as ei:
        swc.read_swc(p)
    msg = str(ei.value)
    assert f"{p}:{line}:" in msg, msg
    for s in needles:
        assert s in msg, msg
    assert isinstance(ei.value, ValueError)


def test_read_swc_roots_and_empty(tmp_path):
    forest = GOOD_SWC + "6 0 0 50 0 0.3 -1\n7 0 0 51 0 0.3 6\n"
    p = _swc(tmp_path, forest)
    assert (swc.read_swc(p)["parent"] == -1).sum() == 2  # a forest is allowed
    with pytest.raises(swc.MorphologyError, match=r"cell\.swc:7: node 6: a second root"):
        swc.read_swc(p, single_root=True)
    with pytest.raises(swc.MorphologyError, match="no nodes"):
        swc.read_swc(_swc(tmp_path, "# only a comment\n\n", "empty.swc"))
    with pytest.raises(swc.MorphologyError, match=r"bin\.swc: not UTF-8"):
        (tmp_path / "bin.swc").write_bytes(b"1 1 0 0 0 1 -1\n\xff\xfe\n")
        swc.read_swc(tmp_path / "bin.swc")


def test_write_swc_refuses_invalid_and_leaves_nothing(tmp_path):
    t = swc.read_swc(_swc(tmp_path, GOOD_SWC))
    bad = t.copy()
    bad.loc[3, "parent"] = 42
    with pytest.raises(swc.MorphologyError, match=r"out\.swc \(being written\): row 3: "
                       r"node 4: parent 42 does not exist"):
        swc.write_swc_table(tmp_path / "out.swc", bad)
    assert sorted(q.name for q in tmp_path.iterdir()) == ["cell.swc"]  # no partial output
    swc.write_swc_table(tmp_path / "out.swc", t, header="h")
    back = swc.read_swc(tmp_path / "out.swc")
    pd.testing.assert_frame_equal(back, t, check_like=False)
    assert sorted(q.name for q in tmp_path.iterdir()) == ["cell.swc", "out.swc"]


# --------------------------------------------------------------------------------------------
# morphometrics (navis) on shapes with known answers


def test_morphometrics_line_and_y(tmp_path):
    line = pd.DataFrame({"node_id": np.arange(1, 12), "type": [1] + [3] * 10,
                         "x": np.arange(11.0) * 3.0, "y": 0.0, "z": 0.0, "radius": 0.5,
                         "parent": np.r_[-1, np.arange(1, 11)]})
    m = morphology.morphometrics(line, sholl_step_um=4.0)
    assert m["cable_length_um"] == pytest.approx(30.0)
    assert (m["n_nodes"], m["n_branch_points"], m["n_leaves"], m["n_segments"]) == (11, 0, 1, 1)
    assert m["max_path_distance_um"] == pytest.approx(30.0)
    assert m["sholl_center"] == "soma" and m["has_soma"]
    sh = m["sholl"]
    assert sh["radius_um"].tolist() == [4.0, 8.0, 12.0, 16.0, 20.0, 24.0, 28.0, 32.0]
    # a straight line from the centre crosses every sphere inside it once (navis 1.12: 0)
    assert sh["intersections"].tolist() == [1] * 7 + [0]
    # each edge in the shell of its child (r_{i-1} < d ≤ r_i): the nodes at 12 and 24 µm lie
    # on spheres and their edges still count (navis 1.12 drops them: 24 of 30 µm)
    assert sh["cable_length_um"].tolist() == pytest.approx([3, 3, 6, 3, 3, 6, 3, 3])

    y = swc.read_swc(_swc(tmp_path, GOOD_SWC))
    m = morphology.morphometrics(y, sholl_radii_um=[5.0, 25.0, 29.0, 40.0])
    branch = np.hypot(10.0, 5.0)
    assert m["cable_length_um"] == pytest.approx(20.0 + 2 * branch)
    assert (m["n_branch_points"], m["n_leaves"], m["n_segments"], m["n_trees"]) == (1, 2, 3, 1)
    assert m["max_path_distance_um"] == pytest.approx(20.0 + branch)
    assert m["sholl"]["intersections"].tolist() == [1, 2, 2, 0]
    assert (m["sholl_max_intersections"], m["sholl_critical_radius_um"]) == (2, 25.0)
    # the same from the file and from a navis neuron in other units (mm: × 1000 µm)
    assert morphology.morphometrics(tmp_path / "cell.swc")["cable_length_um"] == \
        pytest.approx(m["cable_length_um"])
    nv = swc.to_navis(y)
    nv.nodes[["x", "y", "z", "radius"]] /= 1000.0
    assert morphology.morphometrics(nv, units_um=1000.0)["cable_length_um"] == \
        pytest.approx(m["cable_length_um"])
    with pytest.raises(ValueError, match="increasing"):
        morphology.morphometrics(y, sholl_radii_um=[5.0, 5.0])


def test_morphometrics_without_soma_forest_centres_on_centre_of_mass():
    t = pd.DataFrame({"node_id": [1, 2, 3, 4], "type": 0, "x": [0.0, 4.0, 10.0, 13.0],
                      "y": 0.0, "z": 0.0, "radius": 0.2, "parent": [-1, 1, -1, 3]})
    m = morphology.morphometrics(t, sholl_radii_um=[3.0, 5.0, 7.0])
    assert not m["has_soma"] and m["n_trees"] == 2 and m["sholl_center"] == "centermass"
    assert m["cable_length_um"] == pytest.approx(7.0)
    assert m["max_path_distance_um"] == pytest.approx(4.0)  # each piece from its own root
    assert m["sholl_center_um"] == (6.75, 0.0, 0.0)
    # distances 6.75, 2.75 | 3.25, 6.25: edge 1-2 spans 2.75..6.75, edge 3-4 3.25..6.25
    assert m["sholl"]["intersections"].tolist() == [1, 2, 0]
    assert m["sholl"]["cable_length_um"].tolist() == pytest.approx([4.0, 0.0, 3.0])
    assert m["max_radial_distance_um"] == pytest.approx(6.75)


def test_from_navis_needs_length_units():
    import navis

    n = navis.TreeNeuron(pd.DataFrame({"node_id": [1, 2], "parent_id": [-1, 1],
                                       "x": [0.0, 1.0], "y": 0.0, "z": 0.0, "radius": 1.0}))
    with pytest.raises(swc.MorphologyError, match="not a length; pass units_um"):
        swc.from_navis(n)
    t = swc.from_navis(n, units_um=2.5)
    assert t["x"].tolist() == [0.0, 2.5] and t["radius"].tolist() == [2.5, 2.5]


# --------------------------------------------------------------------------------------------
# importers of real morphologies: bmtk's Allen cells, c302's NeuroML cells


def test_bmtk_allen_cells_import_with_plausible_morphometrics():
    paths = swc.bmtk_allen_swc_paths()
    assert len(paths) == 5
    for p in paths:
        t = swc.read_swc(p, single_root=True)
        assert t.loc[t.parent == -1, "type"].tolist() == [1]  # the root is the soma
        assert {1, 3} <= set(t["type"])  # soma and (basal) dendrite
        m = morphology.morphometrics(p)
        # mouse V1 reconstructions: mm of cable, a few hundred µm across, 4-12 µm soma
        assert 1000.0 < m["cable_length_um"] < 6000.0, (p.name, m["cable_length_um"])
        assert 100.0 < m["max_radial_distance_um"] < 600.0
        assert 4.0 < t.loc[t.type == 1, "radius"].max() < 12.0
        assert m["n_branch_points"] >= 10 and m["n_leaves"] > m["n_branch_points"]
        assert m["sholl_center"] == "soma" and m["sholl_max_intersections"] >= 10


def test_c302_neuroml_cell_import(tmp_path):
    path = c302.c302_cell_dir() / "AVAL.cell.nml"
    t = swc.read_neuroml_cell(path)
    cell = c302.read_nml_cell(path)
    # root: the point soma at its NeuroML position, diameter 1.7748239 µm
    root = t[t.parent == -1]
    assert len(root) == 1 and root["type"].item() == 1
    assert root[["x", "y", "z"]].to_numpy()[0].tolist() == [-0.55, -271.5, 37.983]
    assert root["radius"].item() == pytest.approx(1.7748239 / 2)
    assert (t["parent"] < t["node_id"]).all()  # parents first
    m = morphology.morphometrics(t)
    frustums = np.linalg.norm(cell.p1 - cell.p0, axis=1).sum()
    assert m["cable_length_um"] == pytest.approx(frustums, rel=1e-12)
    assert 500.0 < m["cable_length_um"] < 2000.0  # AVA runs the length of the worm (~1 mm)
    assert set(t["type"]) == {1, 2, 3}
    # one node per segment, plus one for each neurite leaving the soma (1 axon, 2 dendrites):
    # its proximal point is at the soma centre with its own, thinner diameter (zero length)
    first = t[t.parent == 1]
    assert len(t) == len(cell.segment_ids) + 3 and sorted(first["type"]) == [2, 3, 3]
    assert (first[["x", "y", "z"]].to_numpy() == root[["x", "y", "z"]].to_numpy()).all()
    assert (first["radius"] < root["radius"].item()).all()


def test_neuroml_import_refuses_what_it_cannot_represent(tmp_path):
    src = (c302.c302_cell_dir() / "AVAL.cell.nml").read_text()
    p = tmp_path / "X.cell.nml"
    p.write_text(src.replace('<parent segment="16"/>',
                             '<parent segment="16" fractionAlong="0.5"/>', 1))
    with pytest.raises(swc.MorphologyError, match=r"X\.cell\.nml: segment 17: "
                       r"fractionAlong=0\.5"):
        swc.read_neuroml_cell(p)
    # segment 16 has its own proximal point: the importer finds its parent missing
    p.write_text(src.replace('<parent segment="0"/>', '<parent segment="999"/>', 1))
    with pytest.raises(swc.MorphologyError,
                       match=r"X\.cell\.nml: segment 16: parent segment 999 does not exist"):
        swc.read_neuroml_cell(p)
    # segment 17 has none: wbe.anatomy.imaging's parser refuses it, reported the same way
    p.write_text(src.replace('<parent segment="16"/>', '<parent segment="999"/>', 1))
    with pytest.raises(swc.MorphologyError, match=r"X\.cell\.nml: segment 17"):
        swc.read_neuroml_cell(p)
    # the soma given a parent down the axon: no root segment, a cycle
    p.write_text(src.replace('<segment id="0" name="Seg0_soma_0">',
                             '<segment id="0" name="Seg0_soma_0"><parent segment="17"/>', 1))
    with pytest.raises(swc.MorphologyError, match=r"X\.cell\.nml: segment 0: parent "
                       r"links form a cycle"):
        swc.read_neuroml_cell(p)
    p.write_text(src[: len(src) // 2])
    with pytest.raises(swc.MorphologyError, match=r"X\.cell\.nml: not a readable"):
        swc.read_neuroml_cell(p)


def test_import_morphologies_writes_a_complete_folder(tmp_path):
    out = tmp_path / "m"
    s = morphology.import_morphologies("c302:AVAR,AVAL", out)
    assert s["n_skeletons"] == 2
    names = pd.read_csv(out / "neurons.csv")
    assert names["name"].tolist() == ["AVAL", "AVAR"] and names["neuron_id"].tolist() == [1, 2]
    mt = pd.read_csv(out / "morphometrics.csv")
    assert list(mt.columns) == ["neuron_id", "name", *morphology.MORPHOMETRIC_COLUMNS]
    nodes = pd.read_parquet(out / "nodes.parquet")
    assert list(nodes.columns) == morphology.NODE_COLUMNS
    back = swc.read_swc(out / "swc" / "1.swc")
    np.testing.assert_array_equal(back[["x", "y", "z", "radius"]].to_numpy(),
                                  nodes.loc[nodes.neuron_id == 1, ["x", "y", "z", "radius"]])
    assert not [q for q in tmp_path.iterdir() if q.name.startswith(".")]  # no temp left
    with pytest.raises(FileExistsError):
        morphology.import_morphologies("c302:AVAL", out)
    with pytest.raises(ValueError, match="unknown morphology source"):
        morphology.import_morphologies("nope", tmp_path / "n")
