"""Atlas: NIfTI label volumes → region of points, neurons and voxels (synthetic atlases)."""

from __future__ import annotations

import gzip
import io
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from wbe.anatomy import atlas as at
from wbe.anatomy import atlas_labelling as labelling
from wbe.anatomy.atlas import AtlasError

# A 4×5×6 atlas, voxel (i, j, k) → world mm: x = 10 - 2 i (flipped), y = -20 + 3 j, z = 5 + 1.5 k
AFFINE = np.array([[-2.0, 0, 0, 10.0], [0, 3.0, 0, -20.0], [0, 0, 1.5, 5.0], [0, 0, 0, 1]])
SHAPE = (4, 5, 6)


def synthetic_labels() -> np.ndarray:
    """Label of voxel (i, j, k) = 1 + i + 4 j for k < 3, 0 for k ≥ 3 (ids 1..20)."""
    i, j, k = np.indices(SHAPE)
    return np.where(k < 3, 1 + i + 4 * j, 0).astype(np.int16)


def save(path: Path, data: np.ndarray, affine=AFFINE, *, sform=True, qform=True,
         dtype=None, units: str | None = "mm") -> Path:
    img = nib.Nifti1Image(data, affine)
    if dtype is not None:
        img.set_data_dtype(dtype)
    if not sform:
        img.set_sform(None, code=0)
    if not qform:
        img.set_qform(None, code=0)
    if units is not None:
        img.header.set_xyzt_units(units)
    nib.save(img, str(path))
    return path


def names20() -> dict[int, str]:
    return {v: f"R{v}" for v in range(1, 21)}


@pytest.fixture
def atlas_file(tmp_path: Path) -> Path:
    return save(tmp_path / "syn.nii.gz", synthetic_labels())


def world(i, j, k) -> np.ndarray:
    return (AFFINE @ [i, j, k, 1.0])[:3]


# ---------------------------------------------------------------- loading + names


def test_load_reads_labels_affine_and_mricron_table(atlas_file: Path):
    # mricron style: "<id> <name> <code>", CRLF line ends, trailing blank line
    lines = [f"{v} R{v} {2000 + v}" for v in range(1, 21)]
    (atlas_file.parent / "syn.nii.txt").write_bytes(("\r\n".join(lines) + "\r\n\r\n").encode())
    a = at.load_atlas(atlas_file)
    assert a.shape == SHAPE and a.data.dtype == np.int32
    np.testing.assert_array_equal(a.data, synthetic_labels())
    np.testing.assert_allclose(a.affine, AFFINE)
    assert a.names == names20() and a.label_path == atlas_file.parent / "syn.nii.txt"
    assert a.voxel_volume_mm3 == pytest.approx(2 * 3 * 1.5)
    assert a.name(0) == at.UNLABELLED and a.name(7) == "R7"


def test_table_formats_tab_csv_tsv(tmp_path: Path, atlas_file: Path):
    tab = tmp_path / "t.txt"
    tab.write_text("# comment\n0\tUnclassified\n" + "".join(
        f"{v}\tregion number {v}\n" for v in range(1, 21)))
    assert at.read_label_table(tab)[3] == "region number 3"  # tab field keeps spaces, 0 dropped
    assert 0 not in at.read_label_table(tab)
    csvp = tmp_path / "t.csv"
    pd.DataFrame({"label": range(1, 21), "name": [f"c{v}" for v in range(1, 21)]}).to_csv(
        csvp, index=False)  # wbe imaging's label_names.csv layout
    tsvp = tmp_path / "t.tsv"
    pd.DataFrame({"ID": range(1, 21), "Name": [f"t{v}" for v in range(1, 21)]}).to_csv(
        tsvp, index=False, sep="\t")
    assert at.load_atlas(atlas_file, csvp).names[20] == "c20"
    assert at.load_atlas(atlas_file, tsvp).names[1] == "t1"
    assert at.load_atlas(atlas_file, {v: f"m{v}" for v in range(0, 22)}).names[21] == "m21"


def test_without_table_names_are_generated(atlas_file: Path):
    a = at.load_atlas(atlas_file)
    assert a.label_path is None
    assert a.names == {v: f"label_{v}" for v in range(1, 21)}


@pytest.mark.parametrize("text,match", [
    ("".join(f"{v} R{v}\n" for v in range(1, 20)),
     r"1 label\(s\) of the volume have no name.*\[20\]"),
    ("1 A\n1 B\n" + "".join(f"{v} R{v}\n" for v in range(2, 21)), "appears twice"),
    ("x A\n", "not a number"),
    ("1.5 A\n", "not a non-negative integer"),
    ("-3 A\n", "not a non-negative integer"),
    ("onlyid\n", "expected '<id> <name>"),
    ("# nothing\n\n", "no rows"),
    ("0 Background\n", "names no label > 0"),
])
def test_bad_or_mismatched_table_is_rejected_naming_the_file(tmp_path, atlas_file, text, match):
    p = tmp_path / "bad.txt"
    p.write_text(text)
    with pytest.raises(AtlasError, match=match) as e:
        at.load_atlas(atlas_file, p)
    assert "bad.txt" in str(e.value)


def test_csv_without_name_column_and_empty_name(tmp_path, atlas_file):
    p = tmp_path / "bad.csv"
    p.write_text("id,label_name\n1,a\n")
    with pytest.raises(AtlasError, match="bad.csv.*'name' column"):
        at.load_atlas(atlas_file, p)
    p.write_text("id,name\n1,\n")
    with pytest.raises(AtlasError, match=r"bad.csv:2: label 1 has an empty name"):
        at.read_label_table(p)
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        at.load_atlas(atlas_file, tmp_path / "nope.csv")


# ---------------------------------------------------------------- malformed NIfTI


def test_wrong_dimensions_rejected(tmp_path: Path):
    two_d = save(tmp_path / "flat.nii.gz", np.ones((4, 5), np.int16))
    with pytest.raises(AtlasError,
                       match=r"flat.nii.gz: expected a 3-D label volume, got shape \(4, 5\)"):
        at.load_atlas(two_d)
    four_d = save(tmp_path / "prob.nii.gz", np.ones((4, 5, 6, 3), np.int16))
    with pytest.raises(AtlasError, match=r"prob.nii.gz.*\(4, 5, 6, 3\).*3 volumes"):
        at.load_atlas(four_d)
    one_vol = save(tmp_path / "one.nii.gz", synthetic_labels()[..., None])
    np.testing.assert_array_equal(at.load_atlas(one_vol).data, synthetic_labels())


def test_float_labels_must_be_integral(tmp_path: Path):
    integral = save(tmp_path / "f.nii.gz", synthetic_labels().astype(np.float32))
    np.testing.assert_array_equal(at.load_atlas(integral).data, synthetic_labels())
    prob = synthetic_labels().astype(np.float32) * 0.3
    with pytest.raises(AtlasError, match=r"p.nii.gz: label data must be integers.*non-integer"):
        at.load_atlas(save(tmp_path / "p.nii.gz", prob))
    nan = synthetic_labels().astype(np.float32)
    nan[0, 0, 0] = np.nan
    with pytest.raises(AtlasError, match="n.nii.gz: label data contain NaN"):
        at.load_atlas(save(tmp_path / "n.nii.gz", nan))
    neg = synthetic_labels()
    neg[1, 1, 1] = -4
    with pytest.raises(AtlasError, match="neg.nii.gz: label data must be ≥ 0"):
        at.load_atlas(save(tmp_path / "neg.nii.gz", neg))


def test_missing_or_singular_affine_rejected(tmp_path: Path):
    none = save(tmp_path / "noaff.nii.gz", synthetic_labels(), sform=False, qform=False)
    with pytest.raises(AtlasError, match="noaff.nii.gz: no sform or qform"):
        at.load_atlas(none)
    sing = AFFINE.copy()
    sing[:, 1] = 0  # j axis collapses: zero determinant
    sing[3, 3] = 1
    img = nib.Nifti1Image(synthetic_labels(), None)
    img.set_sform(sing, code=2)
    img.set_qform(None, code=0)
    nib.save(img, str(tmp_path / "sing.nii.gz"))
    with pytest.raises(AtlasError, match="sing.nii.gz: sform/qform: singular"):
        at.load_atlas(tmp_path / "sing.nii.gz")


def test_truncated_and_non_nifti_files_rejected(tmp_path: Path, atlas_file: Path):
    raw = atlas_file.read_bytes()
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(AtlasError, match="cut.nii.gz"):
        at.load_atlas(cut)
    # header intact, data short: uncompressed .nii cut after the header
    full = gzip.decompress(raw)
    short = tmp_path / "short.nii"
    short.write_bytes(full[:400])
    with pytest.raises(AtlasError, match="short.nii: cannot read the voxel data"):
        at.load_atlas(short)
    txt = tmp_path / "notes.nii"
    txt.write_text("not an image")
    with pytest.raises(AtlasError, match="notes.nii: not a readable NIfTI"):
        at.load_atlas(txt)
    with pytest.raises(FileNotFoundError, match="absent.nii.gz"):
        at.load_atlas(tmp_path / "absent.nii.gz")


def test_micron_header_unit_is_converted_to_mm(tmp_path: Path):
    p = save(tmp_path / "um.nii.gz", synthetic_labels(), units="micron")
    a = at.load_atlas(p)
    np.testing.assert_allclose(a.affine[:3], AFFINE[:3] * 1e-3)


# ---------------------------------------------------------------- points


def test_regions_of_points_exact_with_flip_spacing_origin(atlas_file: Path):
    a = at.load_atlas(atlas_file)
    lab = synthetic_labels()
    cases = [(0, 0, 0), (3, 4, 2), (2, 1, 1), (1, 3, 0), (3, 0, 2)]
    # voxel centres and points moved by < half a voxel in each axis
    pts, want = [], []
    for i, j, k in cases:
        c = world(i, j, k)
        for d in ([0, 0, 0], [0.9, -1.4, 0.7], [-0.9, 1.4, -0.7]):
            pts.append(c + d)
            want.append(lab[i, j, k])
    np.testing.assert_array_equal(at.regions_of_points(a, pts), want)
    # the flip: x decreases with i, so x = 10 - 2·3 = 4 is voxel i = 3
    assert at.regions_of_points(a, [[4.0, -20.0, 5.0]])[0] == 1 + 3
    # k ≥ 3 is unlabelled; outside the array → 0; the edge voxel reaches half a voxel out
    assert at.regions_of_points(a, [world(1, 1, 4)])[0] == 0
    edge = world(0, 0, 0)
    assert at.regions_of_points(a, [edge + [0.9, 0, 0]])[0] == 1  # i = -0.45: voxel 0
    assert at.regions_of_points(a, [edge + [1.1, 0, 0]])[0] == 0  # i = -0.55: outside
    assert at.regions_of_points(a, [[1e6, 0, 0], [10, -200, 5]]).tolist() == [0, 0]
    with pytest.raises(AtlasError, match="not finite"):
        at.regions_of_points(a, [[np.nan, 0, 0]])
    with pytest.raises(AtlasError, match=r"\(n, 3\)"):
        at.regions_of_points(a, [[1.0, 2.0]])


def test_transform_maps_data_frame_to_atlas(atlas_file: Path):
    a = at.load_atlas(atlas_file)
    # data frame: µm, axes rotated 90° about z and shifted; T maps µm → atlas mm
    rot = np.array([[0, -1, 0], [1, 0, 0], [0, 0, 1]], float)
    T = np.eye(4)
    T[:3, :3] = rot * 1e-3
    T[:3, 3] = [3.0, -7.0, 2.0]
    targets = np.array([world(2, 3, 1), world(0, 4, 2), world(3, 1, 0)])
    data_um = (targets - T[:3, 3]) @ np.linalg.inv(T[:3, :3]).T
    np.testing.assert_array_equal(at.regions_of_points(a, data_um, T), [15, 17, 8])
    with pytest.raises(AtlasError, match="4×4"):
        at.regions_of_points(a, data_um, np.eye(3))
    bad = np.eye(4)
    bad[2, 2] = 0
    with pytest.raises(AtlasError, match="singular"):
        at.regions_of_points(a, data_um, bad)
    bad = np.eye(4)
    bad[0, 1] = np.inf
    with pytest.raises(AtlasError, match="NaN or infinite"):
        at.check_affine(bad)
    bad = np.eye(4)
    bad[3, 0] = 1
    with pytest.raises(AtlasError, match="last row"):
        at.check_affine(bad)


def test_read_transform_file(tmp_path: Path):
    p = tmp_path / "t.txt"
    p.write_text("# um to mm\n0.001 0 0 1\n0 0.001 0 2\n0 0 0.001 3\n0 0 0 1\n")
    np.testing.assert_allclose(at.read_transform(p)[:3, 3], [1, 2, 3])
    p.write_text("1 0 0\n0 1 0\n0 0 1\n")
    with pytest.raises(AtlasError, match=r"t.txt: expected a 4×4 affine, got shape \(3, 3\)"):
        at.read_transform(p)


def test_nearest_labelled_voxel_within_distance(atlas_file: Path):
    a = at.load_atlas(atlas_file)
    # voxel (2, 2, 3) is unlabelled; its neighbour (2, 2, 2) (label 11) is 1.5 mm away in z
    p = world(2, 2, 3)[None]
    assert at.regions_of_points(a, p)[0] == 0
    assert at.regions_of_points(a, p, max_distance_mm=1.4)[0] == 0
    assert at.regions_of_points(a, p, max_distance_mm=1.6)[0] == 11
    with pytest.raises(AtlasError, match="max_distance_mm"):
        at.regions_of_points(a, p, max_distance_mm=-1)


# ---------------------------------------------------------------- volumes


def test_resampling_onto_finer_flipped_grid_counts(atlas_file: Path):
    a = at.load_atlas(atlas_file)
    # a grid 2× finer in every axis, flipped in y, covering the atlas and 2 fine voxels beyond
    # it in i (where the atlas is labelled): fine voxel centres sit at ±1/4 of an atlas voxel,
    # never on a boundary
    fine = AFFINE.copy()
    fine[:3, :3] = AFFINE[:3, :3] / 2
    fine[:3, 3] = world(-0.25, -0.25, -0.25)
    flip = np.diag([1.0, -1.0, 1.0, 1.0])
    flip[1, 3] = 2 * SHAPE[1] - 1  # index j' = 9 - j
    target_aff = fine @ flip
    shape = (10, 10, 12)
    lab = at.label_volume(a, shape, target_aff)
    assert lab.shape == shape and lab.dtype == np.int32
    want = np.repeat(np.repeat(np.repeat(synthetic_labels(), 2, 0), 2, 1), 2, 2)[:, ::-1]
    np.testing.assert_array_equal(lab[:8], want)
    assert not lab[8:].any()  # beyond the atlas (atlas i = 4)
    vols = at.region_volumes(a, lab, abs(np.linalg.det(target_aff[:3, :3])))
    assert vols.region_id.tolist() == list(range(0, 21))
    assert (vols.n_voxels[1:] == 8 * 3).all()  # each atlas voxel → 8 fine voxels, 3 per label
    assert vols.n_voxels.sum() == lab.size
    np.testing.assert_allclose(vols.volume_mm3[1:], 3 * a.voxel_volume_mm3)
    own = at.region_volumes(a, a.data, a.voxel_volume_mm3)
    np.testing.assert_allclose(own.volume_mm3[1:], vols.volume_mm3[1:])


def test_label_volume_agrees_with_point_lookup_on_an_oblique_grid(atlas_file: Path):
    a = at.load_atlas(atlas_file)
    rng = np.random.default_rng(3)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    aff = np.eye(4)
    aff[:3, :3] = q * 0.7
    shape = (13, 11, 12)
    # centred on the atlas centre (+ a random shift), rotated: part inside, part outside
    centre = world(*((np.asarray(SHAPE) - 1) / 2))
    aff[:3, 3] = centre - aff[:3, :3] @ ((np.asarray(shape) - 1) / 2) + rng.uniform(0, 0.3, 3)
    lab = at.label_volume(a, shape, aff)
    idx = np.indices(shape).reshape(3, -1).T
    pts = idx @ aff[:3, :3].T + aff[:3, 3]
    np.testing.assert_array_equal(lab.ravel(), at.regions_of_points(a, pts))
    assert (lab > 0).sum() > 100 and (lab == 0).sum() > 100
    with pytest.raises(AtlasError, match="target shape"):
        at.label_volume(a, (3, 0, 2), aff)


def test_zarr_grid_and_run_on_volume(atlas_file: Path):
    a = at.load_atlas(atlas_file)
    # a wbe volume (z, y, x) with 500 nm voxels whose µm coordinates map to atlas mm by T
    T = np.diag([1e-3, 1e-3, 1e-3, 1.0])
    T[:3, 3] = world(0, 0, 0) - [1.2, 0.0, 0.0]
    params = labelling.Params(atlas=str(atlas_file), transform=T.tolist())
    shape = (6, 20, 30)
    lab, vols = labelling.run_on_volume(params, shape, (500.0, 500.0, 500.0), (0.0, 0.0, 0.0), a)
    g = at.zarr_grid_affine((500.0, 500.0, 500.0), (0.0, 0.0, 0.0), "um")
    np.testing.assert_allclose(g @ [1, 2, 3, 1], [1.5, 1.0, 0.5, 1])  # x ← axis 2, µm
    idx = np.indices(shape).reshape(3, -1).T
    pts = (idx @ g[:3, :3].T + g[:3, 3]) @ T[:3, :3].T + T[:3, 3]
    np.testing.assert_array_equal(lab.ravel(), at.regions_of_points(a, pts))
    np.testing.assert_array_equal(at.label_volume(a, shape, g, T), lab)  # T after the grid
    # all within 0.015 mm of voxel (0, 0, 0)'s centre - 1.2 mm in x: i ≈ 0.593..0.6 → i = 1
    assert set(np.unique(lab).tolist()) == {2}
    assert vols.loc[vols.region_id == 2, "volume_mm3"].item() == pytest.approx(lab.size * 0.5e-3**3)
    with pytest.raises(AtlasError, match="voxel_size_nm"):
        at.zarr_grid_affine((0.0, 1.0, 1.0))


# ---------------------------------------------------------------- neurons


def node_table() -> pd.DataFrame:
    """Three neurons in µm; atlas mm = µm / 1000. Neuron 5: soma (type 1, small) in voxel
    (1,1,1) beats a larger dendrite node; neuron 9: no type-1 node → largest radius node in
    (3,4,0); neuron 12: outside the atlas."""
    rows = []
    def add(nid, node, typ, ijk, r, shift=(0, 0, 0)):
        x, y, z = (world(*ijk) + shift) * 1000.0
        rows.append((nid, node, typ, x, y, z, r, -1 if node == 1 else 1))
    add(5, 1, 1, (1, 1, 1), 0.5)
    add(5, 2, 3, (2, 2, 2), 3.0)
    add(5, 3, 3, (2, 2, 2), 0.2, (0.5, 0, 0))
    add(9, 1, 3, (0, 0, 0), 0.4)
    add(9, 2, 3, (3, 4, 0), 1.2)
    add(12, 1, 1, (50, 50, 50), 1.0)
    return pd.DataFrame(rows, columns=["neuron_id", "node_id", "type", "x", "y", "z", "radius",
                                       "parent"])


def test_run_on_neurons_soma_centroid_table(tmp_path: Path, atlas_file: Path):
    p = labelling.Params(atlas=str(atlas_file))  # µm, no transform: scaled to mm
    a = at.load_atlas(atlas_file, names20())
    out = labelling.run_on_neurons(p, node_table(), a)
    assert out.neuron_id.tolist() == [5, 9, 12]
    assert out.region_id.tolist() == [6, 20, 0]
    assert out.region_name.tolist() == ["R6", "R20", at.UNLABELLED]
    np.testing.assert_allclose(out[["x_mm", "y_mm", "z_mm"]].to_numpy()[0], world(1, 1, 1))
    cen = labelling.run_on_neurons(p.model_copy(update={"position": "centroid"}), node_table(), a)
    # neuron 5's centroid: mean of voxels (1,1,1), 2×(2,2,2) ≈ (5/3, 5/3, 5/3) → voxel (2,2,2)
    assert cen.region_id.tolist()[0] == 11
    conn = pd.DataFrame({"node_id": [0, 1], "name": ["A", "B"],
                         "x": [world(3, 0, 2)[0], 99.0], "y": [world(3, 0, 2)[1], 0.0],
                         "z": [world(3, 0, 2)[2], 0.0]})
    tab = labelling.run_on_neurons(labelling.Params(atlas=str(atlas_file), position="table", data_unit="mm"),
                            conn, a)
    assert tab.columns.tolist()[:5] == ["node_id", "name", "x", "y", "z"]
    assert tab.region_id.tolist() == [4, 0]
    with pytest.raises(AtlasError, match="lacks column"):
        labelling.run_on_neurons(p, conn, a)


def test_params_validate_transform_and_keys(atlas_file: Path):
    with pytest.raises(ValidationError, match="singular"):
        labelling.Params(atlas=str(atlas_file), transform=[[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0],
                                                    [0, 0, 0, 1]])
    with pytest.raises(ValidationError, match="4×4"):
        labelling.Params(atlas=str(atlas_file), transform=[[1, 0], [0, 1]])
    with pytest.raises(ValidationError, match="extra"):
        labelling.Params(atlas=str(atlas_file), atlass="x")
    with pytest.raises(ValidationError):
        labelling.Params(atlas=str(atlas_file), max_distance_mm=-1)
    p = labelling.Params(atlas=str(atlas_file), data_unit="mm")
    np.testing.assert_allclose(p.matrix(), np.eye(4))


def test_write_regions_csv_is_atomic(tmp_path: Path, atlas_file: Path, monkeypatch):
    a = at.load_atlas(atlas_file, names20())
    out = labelling.run_on_neurons(labelling.Params(atlas=str(atlas_file)), node_table(), a)
    (tmp_path / "o").mkdir()
    path = tmp_path / "o" / "regions.csv"
    labelling.write_regions_csv(out, path)
    back = pd.read_csv(path, keep_default_na=False)
    assert back.region_id.tolist() == [6, 20, 0] and back.region_name.tolist()[2] == "unlabelled"
    before = path.read_bytes()

    def boom(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        labelling.write_regions_csv(out.iloc[:1], path)
    assert path.read_bytes() == before  # old file untouched
    assert sorted(q.name for q in path.parent.iterdir()) == ["regions.csv"]  # no temp left
    with pytest.raises(AtlasError, match="lacks"):
        labelling.write_regions_csv(out.drop(columns="region_name"), tmp_path / "x.csv")


def test_stage_run_on_morphology_folder(tmp_path: Path, atlas_file: Path):
    morph = tmp_path / "morph"
    morph.mkdir()
    node_table().to_parquet(morph / "nodes.parquet", index=False)
    pd.DataFrame({"neuron_id": [5, 9, 12], "name": ["AVAL", "AVAR", "far"], "n_nodes": [3, 2, 1],
                  "cable_um": [1.0, 1.0, 0.0]}).to_csv(morph / "neurons.csv", index=False)
    (atlas_file.parent / "syn.nii.txt").write_text(
        "".join(f"{v} R{v}\n" for v in range(1, 21)))
    out = tmp_path / "out"
    out.mkdir()
    s = labelling.run(labelling.Params(atlas=str(atlas_file)), {"morphology": morph}, out)
    assert s["n_neurons"] == 3 and s["n_labelled"] == 2 and s["n_regions_atlas"] == 20
    reg = pd.read_csv(out / "regions.csv")
    assert reg[["neuron_id", "name", "region_name"]].values.tolist() == [
        [5, "AVAL", "R6"], [9, "AVAR", "R20"], [12, "far", "unlabelled"]]
    counts = pd.read_csv(out / "region_counts.csv")
    assert counts.n_neurons.sum() == 3
    assert labelling.external_paths(labelling.Params(atlas=str(atlas_file)))["labels"].name == "syn.nii.txt"
    with pytest.raises(AtlasError, match="'morphology' or 'connectome'"):
        labelling.run(labelling.Params(atlas=str(atlas_file)), {}, out)


def test_stage_run_on_connectome_neurons_csv(tmp_path: Path, atlas_file: Path):
    conn = tmp_path / "conn"
    conn.mkdir()
    c = world(2, 4, 1)
    pd.DataFrame({"population": ["E", "E"], "node_id": [0, 1], "region": ["a", "b"],
                  "x": [c[0], -500.0], "y": [c[1], 0.0], "z": [c[2], 0.0]}).to_csv(
        conn / "neurons.csv", index=False)
    out = tmp_path / "out"
    out.mkdir()
    p = labelling.Params(atlas=str(atlas_file), position="table", data_unit="mm")
    s = labelling.run(p, {"connectome": conn}, out)
    reg = pd.read_csv(out / "regions.csv")
    assert reg.region_id.tolist() == [19, 0] and reg.population.tolist() == ["E", "E"]
    assert s["n_labelled"] == 1 and s["n_regions_hit"] == 1
    with pytest.raises(AtlasError, match="use position 'table'"):
        labelling.run(labelling.Params(atlas=str(atlas_file)), {"connectome": conn}, out)
    assert labelling.Params.model_json_schema()["properties"]["transform"]["anyOf"][0]["type"] == "array"


# ---------------------------------------------------------------- command line


def wbe_atlas(*argv: str) -> int:
    import argparse

    p = labelling.add_arguments(argparse.ArgumentParser(prog="wbe atlas"))
    return labelling.cmd_atlas(p.parse_args(list(argv)))


def test_cli_points_summary_and_errors(tmp_path: Path, atlas_file: Path, capsys):
    (atlas_file.parent / "syn.nii.txt").write_text("".join(f"{v} R{v}\n" for v in range(1, 21)))
    c = world(3, 4, 2)
    assert wbe_atlas(str(atlas_file), "--points", f"{c[0]},{c[1]},{c[2]}", "0,0,0") == 0
    out = pd.read_csv(io.StringIO(capsys.readouterr().out))
    assert out.region_id.tolist() == [20, 0] and out.region_name.tolist()[0] == "R20"
    assert wbe_atlas(str(atlas_file)) == 0
    text = capsys.readouterr().out.splitlines()
    assert '"n_regions": 20' in text[0] and text[1] == "1\tR1" and len(text) == 21
    tfile = tmp_path / "t.txt"
    tfile.write_text("2 0 0 0\n0 2 0 0\n0 0 0 0\n0 0 0 1\n")
    with pytest.raises(AtlasError, match="t.txt: singular"):
        wbe_atlas(str(atlas_file), "--transform", str(tfile), "--points", "1,2,3")
    with pytest.raises(AtlasError, match="--points"):
        wbe_atlas(str(atlas_file), "--points", "1,2")


def test_cli_neurons_and_volume(tmp_path: Path, atlas_file: Path, capsys):
    from wbe.anatomy.imaging import read_volume, write_volume

    nodes = tmp_path / "nodes.parquet"
    node_table().to_parquet(nodes, index=False)
    out = tmp_path / "regions.csv"
    assert wbe_atlas(str(atlas_file), "--neurons", str(nodes), "--out", str(out)) == 0
    assert pd.read_csv(out).region_id.tolist() == [6, 20, 0]
    # a wbe volume whose µm coordinates are atlas mm × 1000: voxel (z, y, x) of 1500 nm in z,
    # 3000 nm in y, 2000 nm in x, offset at atlas voxel (3, 0, 0)'s centre → atlas grid itself,
    # but with x increasing where the atlas's i decreases
    vol = tmp_path / "volume.zarr"
    off = world(3, 0, 0) * 1000.0 * 1000.0  # nm
    write_volume(vol, np.zeros((6, 5, 4), np.uint32), {
        "voxel_size_nm": [1.5e6, 3e6, 2e6], "offset_nm": off[::-1].tolist()})
    dest = tmp_path / "labelled"
    assert wbe_atlas(str(atlas_file), "--volume", str(vol), "--out", str(dest)) == 0
    lab, attrs = read_volume(dest / "regions.zarr")
    # wbe (z, y, x=i') with i = 3 - i'  ↔  atlas (i, j, k)
    np.testing.assert_array_equal(lab, synthetic_labels()[::-1].transpose(2, 1, 0))
    assert attrs["voxel_size_nm"] == [1.5e6, 3e6, 2e6]
    vols = pd.read_csv(dest / "region_volumes.csv")
    assert vols.loc[vols.region_id > 0, "n_voxels"].tolist() == [3] * 20
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    with pytest.raises(AtlasError, match="already exists"):
        wbe_atlas(str(atlas_file), "--volume", str(vol), "--out", str(dest))
