"""Morphology stage: kimimaro skeletons in µm, SWC round trip through navis, node types."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest

from wbe import imaging, morphology


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
    morphology.write_swc(tmp_path / "7.swc", df.node_id, df.type, df.x, df.y, df.z, df.radius,
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
    s = morphology.run(morphology.Params(), {"segmentation": seg, "imaging": img}, out,
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


def test_c302_cell_skeleton_real(tmp_path):
    cells = imaging.load_c302_cells(["AVAL"])
    vox = imaging.voxelise_c302(cells, {"AVAL": 1}, 0.25, (-275.0, -255.0))
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
