"""Imaging stage: c302 voxelisation (real cells), file readers, malformed inputs."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from wbe.anatomy import c302, imaging
from wbe.stages import imaging as imaging_stage

SHARED = Path(__file__).parents[2] / "../shared/data"


def shared(*parts: str) -> Path:
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip("../shared/data not present")
    return p


# ---------------------------------------------------------------- c302 cells


def test_read_nml_cell_aval_has_all_compartments():
    cell = c302.read_nml_cell(c302.c302_cell_dir() / "AVAL.cell.nml")
    assert cell.name == "AVAL"
    assert cell.p0.shape == cell.p1.shape == (len(cell.r0), 3)
    assert set(np.unique(cell.compartment)) == {1, 2, 3}
    # segment 17 has no <proximal>: it starts at the distal point of its parent 16
    i16, i17 = cell.segment_ids.index("16"), cell.segment_ids.index("17")
    np.testing.assert_allclose(cell.p0[i17], cell.p1[i16])
    np.testing.assert_allclose(cell.p1[i16], [-2.55, -270.05, 32.75])
    assert np.all(cell.r0 > 0)


def test_c302_has_302_neurons_after_excluding_the_muscle():
    names = c302.c302_cell_names()
    assert "MDL08" in names
    assert len([n for n in names if n != "MDL08"]) == 302


def test_voxelise_cylinder_volume_and_radius():
    vs = 0.1
    r, length = 0.5, 4.0
    vox = c302.voxelise_frustums(
        p0=[[1.0, 1.0, 1.0]], p1=[[1.0 + length, 1.0, 1.0]], r0=[r], r1=[r], label=[7],
        compartment=[2], voxel_size_um=vs, origin_um=np.array([0.0, 0.0, 0.0]),
        shape_zyx=(20, 20, 60), min_radius_voxels=0.0,
    )
    n = int((vox.labels == 7).sum())
    expected = (np.pi * r**2 * length + 4 / 3 * np.pi * r**3) / vs**3  # capsule
    assert abs(n - expected) / expected < 0.05
    assert set(np.unique(vox.compartments)) == {0, 2}
    assert vox.overlap_voxels == 0


def test_voxelise_overlap_resolved_deterministically_and_counted():
    # two crossing cylinders of different cells; the crossing is claimed by one, counted
    kw = dict(voxel_size_um=0.1, origin_um=np.zeros(3), shape_zyx=(20, 40, 40),
              min_radius_voxels=0.0)
    a = dict(p0=[[0.2, 2.0, 1.0], [2.0, 0.2, 1.0]], p1=[[3.8, 2.0, 1.0], [2.0, 3.8, 1.0]],
             r0=[0.4, 0.4], r1=[0.4, 0.4], compartment=None)
    v1 = c302.voxelise_frustums(**a, label=[1, 2], **kw)
    v2 = c302.voxelise_frustums(**a, label=[1, 2], **kw)
    assert v1.overlap_voxels > 0
    np.testing.assert_array_equal(v1.labels, v2.labels)
    # at the crossing centre the two axes tie (d - r equal) → the lower label wins
    assert v1.labels[10, 20, 20] == 1
    # each cell keeps its own axis away from the crossing
    assert v1.labels[10, 20, 5] == 1 and v1.labels[10, 5, 20] == 2


def test_min_radius_keeps_thin_oblique_neurite_connected():
    import cc3d

    vox = c302.voxelise_frustums(
        p0=[[0.3, 0.3, 0.3]], p1=[[3.7, 2.9, 1.7]], r0=[0.01], r1=[0.01], label=[1],
        compartment=None, voxel_size_um=0.2, origin_um=np.zeros(3), shape_zyx=(12, 18, 22),
    )
    _, n = cc3d.connected_components(vox.labels, connectivity=6, return_N=True)
    assert n == 1


def test_voxelise_c302_handful_of_real_cells():
    cells = c302.load_c302_cells(["AVAL", "AVAR", "RIAL", "AIYL"])
    labels_of = {c.name: i + 1 for i, c in enumerate(cells)}
    vox = c302.voxelise_c302(cells, labels_of, 0.25, (-270.0, -240.0))
    present = set(np.unique(vox.labels)) - {0}
    assert present == {1, 2, 3, 4}
    assert vox.labels.size < 5_000_000
    fg = vox.labels > 0
    assert np.all(vox.compartments[fg] > 0)  # every drawn voxel has a compartment
    assert (vox.compartments == 1).any() and (vox.compartments == 2).any()


def test_run_c302_writes_volume_names_and_compartments(tmp_path):
    p = imaging_stage.Params(c302_cells=["AVAL", "AVAR"], c302_voxel_size_um=0.3,
                       c302_y_range_um=(-265.0, -245.0))
    s = imaging_stage.run(p, {}, tmp_path, progress=False)
    vol, attrs = imaging.read_volume(tmp_path / "volume.zarr")
    comp, _ = imaging.read_volume(tmp_path / "compartments.zarr")
    assert vol.dtype == np.uint32 and comp.dtype == np.uint8 and comp.shape == vol.shape
    assert attrs["voxel_size_nm"] == [300.0, 300.0, 300.0]
    assert attrs["kind"] == "labels" and attrs["source"] == "c302"
    assert imaging.read_label_names(tmp_path / "label_names.csv") == {1: "AVAL", 2: "AVAR"}
    assert s["n_labels_present"] == 2
    # offset: voxel centre (0,0,0) is inside the slab, y starts at the slab
    assert -265000 < attrs["offset_nm"][1] < -264000


def test_params_forbid_extra():
    with pytest.raises(ValueError):
        imaging_stage.Params(voxel_size=1)


# ---------------------------------------------------------------- file sources


def _labels() -> np.ndarray:
    a = np.zeros((4, 10, 12), np.uint32)
    a[1:3, 2:5, 3:7] = 5
    a[:, 6:9, 8:11] = 9
    return a


def test_numpy_source_roundtrip_with_crop(tmp_path):
    src = tmp_path / "v.npy"
    np.save(src, _labels())
    out = tmp_path / "out"
    out.mkdir()
    p = imaging_stage.Params(source="numpy", path=str(src), voxel_size_nm=(40, 8, 8),
                       crop=[(1, 3), (0, 10), (0, 12)])
    s = imaging_stage.run(p, {}, out)
    vol, attrs = imaging.read_volume(out / "volume.zarr")
    np.testing.assert_array_equal(vol, _labels()[1:3])
    assert attrs["kind"] == "labels" and attrs["voxel_size_nm"] == [40.0, 8.0, 8.0]
    assert attrs["offset_nm"] == [40.0, 0.0, 0.0]
    assert s["n_labels_present"] == 2


def test_numpy_object_array_rejected_naming_file(tmp_path):
    src = tmp_path / "obj.npy"
    np.save(src, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match="obj.npy"):
        imaging.read_numpy(src)


def test_bad_crop_rejected():
    with pytest.raises(ValueError, match="crop"):
        imaging.apply_crop(np.zeros((2, 3, 4)), [(0, 3), (0, 3), (0, 4)])


def test_tiff_multipage_and_folder(tmp_path):
    import tifffile

    raw = (np.arange(3 * 8 * 9) % 251).astype(np.uint8).reshape(3, 8, 9)
    tifffile.imwrite(tmp_path / "stack.tif", raw)
    np.testing.assert_array_equal(imaging.read_tiff(tmp_path / "stack.tif"), raw)
    d = tmp_path / "secs"
    d.mkdir()
    for z in range(3):
        tifffile.imwrite(d / f"{z:02d}.tif", raw[z])
    np.testing.assert_array_equal(imaging.read_tiff(d), raw)


def test_truncated_tiff_rejected_naming_file(tmp_path):
    import tifffile

    tifffile.imwrite(tmp_path / "full.tif", np.ones((4, 64, 64), np.uint16))
    data = (tmp_path / "full.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match="cut.tif"):
        imaging.read_tiff(tmp_path / "cut.tif")


def test_png_folder(tmp_path):
    import imageio.v3 as iio

    raw = np.random.default_rng(0).integers(0, 255, (2, 16, 20), dtype=np.uint8)
    for z in range(2):
        iio.imwrite(tmp_path / f"s{z}.png", raw[z])
    np.testing.assert_array_equal(imaging.read_png(tmp_path), raw)


def test_png_sections_of_different_shape_rejected(tmp_path):
    import imageio.v3 as iio

    iio.imwrite(tmp_path / "a.png", np.zeros((8, 8), np.uint8))
    iio.imwrite(tmp_path / "b.png", np.zeros((8, 9), np.uint8))
    with pytest.raises(ValueError, match=r"b\.png"):
        imaging.read_png(tmp_path)


def test_crackle_roundtrip_and_crop(tmp_path):
    import crackle

    lab = _labels()  # (z, y, x)
    f = tmp_path / "v.ckl.gz"
    f.write_bytes(gzip.compress(crackle.compress(np.asfortranarray(lab.transpose(2, 1, 0)))))
    np.testing.assert_array_equal(imaging.read_crackle(f), lab)
    np.testing.assert_array_equal(imaging.read_crackle(f, [(1, 3), (2, 9), (0, 12)]),
                                  lab[1:3, 2:9])


def test_crackle_garbage_rejected(tmp_path):
    f = tmp_path / "bad.ckl"
    f.write_bytes(b"not crackle at all" * 10)
    with pytest.raises(ValueError, match="bad.ckl"):
        imaging.read_crackle(f)


def test_nifti_axes_and_voxel_size(tmp_path):
    import nibabel as nib

    lab = _labels().astype(np.int32)  # (z, y, x)
    img = nib.Nifti1Image(lab.transpose(2, 1, 0), np.diag([0.008, 0.008, 0.04, 1.0]))
    img.header.set_xyzt_units("mm")
    nib.save(img, tmp_path / "v.nii.gz")
    vol, vs = imaging.read_nifti(tmp_path / "v.nii.gz")
    np.testing.assert_array_equal(vol, lab)
    np.testing.assert_allclose(vs, (40000.0, 8000.0, 8000.0))


def test_nifti_wrong_dims_rejected_naming_file(tmp_path):
    import nibabel as nib

    nib.save(nib.Nifti1Image(np.zeros((4, 5, 6, 3), np.float32), np.eye(4)),
             tmp_path / "four_d.nii")
    with pytest.raises(ValueError, match="four_d.nii"):
        imaging.read_nifti(tmp_path / "four_d.nii")


def test_missing_file_rejected(tmp_path):
    with pytest.raises(ValueError, match="nope.npy"):
        imaging_stage.load_source(imaging_stage.Params(source="numpy", path=str(tmp_path / "nope.npy")))


# ---------------------------------------------------------------- real shared data


def test_drosophila_raw_tiff_folder_real(tmp_path):
    raw_dir = shared("em", "drosophila_vnc_stack1", "stack1", "raw")
    p = imaging_stage.Params(source="tiff", path=str(raw_dir), voxel_size_nm=(50, 4.6, 4.6),
                       crop=[(0, 4), (0, 128), (0, 128)])
    s = imaging_stage.run(p, {}, tmp_path)
    vol, attrs = imaging.read_volume(tmp_path / "volume.zarr")
    assert vol.shape == (4, 128, 128) and vol.dtype == np.uint8
    assert attrs["kind"] == "raw" and s["kind"] == "raw"


def test_pinky40_crackle_crop_real():
    f = shared("em", "pinky40", "labels_512.npy.ckl.gz")
    vol = imaging.read_crackle(f, [(200, 208), (256, 320), (0, 64)])  # (z, y, x)
    assert vol.shape == (8, 64, 64) and vol.dtype == np.uint32
    assert len(np.unique(vol)) > 10


# ---------------------------------------------------------------- NWB imaging series
def _nwb_file(path: Path, series: list) -> Path:
    from datetime import UTC, datetime

    from pynwb import NWBHDF5IO, NWBFile

    nwb = NWBFile(session_description="wbe imaging reader test", identifier="wbe-test",
                  session_start_time=datetime(2026, 1, 1, tzinfo=UTC))
    for make in series:
        nwb.add_acquisition(make(nwb))
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def _two_photon(name, data, spacing, unit="micrometers"):
    def make(nwb):
        from pynwb.ophys import OpticalChannel, TwoPhotonSeries

        dev = nwb.create_device(name=f"scope_{name}")
        plane = nwb.create_imaging_plane(
            name=f"plane_{name}", optical_channel=OpticalChannel(name="green", description="GFP", emission_lambda=510.0),
            description="test plane", device=dev, excitation_lambda=920.0, indicator="GCaMP6",
            location="V1", imaging_rate=30.0, grid_spacing=spacing, grid_spacing_unit=unit)
        return TwoPhotonSeries(name=name, data=data, imaging_plane=plane, rate=30.0,
                               unit="a.u.")
    return make


def test_nwb_volumetric_two_photon_series_axes_and_voxel_size(tmp_path):
    r = np.random.default_rng(0)
    data = r.integers(0, 255, (2, 6, 5, 4), dtype=np.uint8)  # (t, x, y, z)
    f = _nwb_file(tmp_path / "v.nwb", [_two_photon("vol", data, [0.5, 0.25, 2.0])])
    vol, vs = imaging.read_nwb_series(f, None, frame=1)
    assert vol.shape == (4, 5, 6)  # (z, y, x)
    assert np.array_equal(vol, data[1].transpose(2, 1, 0))
    assert vs == pytest.approx((2000.0, 250.0, 500.0))  # nm, (z, y, x)
    with pytest.raises(ValueError, match="2 frames"):
        imaging.read_nwb_series(f, None, frame=2)


def test_nwb_stack_of_frames_is_z_and_needs_z_spacing(tmp_path):
    data = np.arange(3 * 4 * 5, dtype=np.uint16).reshape(3, 4, 5)  # (t = z, x, y)
    f = _nwb_file(tmp_path / "s.nwb", [_two_photon("stack", data, [0.1, 0.1])])
    vol, vs = imaging.read_nwb_series(f)
    assert np.array_equal(vol, data.transpose(0, 2, 1)) and np.isnan(vs[0])
    with pytest.raises(ValueError, match="no z spacing"):
        imaging_stage.load_source(imaging_stage.Params(source="nwb", path=str(f)))
    vol2, attrs = imaging_stage.load_source(imaging_stage.Params(source="nwb", path=str(f), kind="raw",
                                                     voxel_size_nm=(40.0, 100.0, 100.0)))
    assert attrs["voxel_size_nm"] == [40.0, 100.0, 100.0] and np.array_equal(vol2, vol)


def test_nwb_errors_name_file_and_series(tmp_path):
    from pynwb.image import ImageSeries

    d = np.zeros((2, 3, 3), np.uint8)
    f = _nwb_file(tmp_path / "two.nwb", [
        lambda nwb: ImageSeries(name="a", data=d, unit="a.u.", rate=1.0),
        lambda nwb: ImageSeries(name="b", data=d, unit="a.u.", rate=1.0),
        lambda nwb: ImageSeries(name="ext", external_file=["frames.tif"], format="external",
                                starting_frame=[0], num_samples=4, unit="a.u.", rate=1.0)])
    with pytest.raises(ValueError, match=r"two.nwb: 3 imaging series .*nwb_series"):
        imaging.read_nwb_series(f)
    with pytest.raises(ValueError, match=r"no imaging series 'c'.*\['a', 'b', 'ext'\]"):
        imaging.read_nwb_series(f, "c")
    with pytest.raises(ValueError, match="external files"):
        imaging.read_nwb_series(f, "ext")
    bad = tmp_path / "bad.nwb"
    bad.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 100)  # truncated HDF5
    with pytest.raises(ValueError, match="bad.nwb: not a readable NWB file"):
        imaging.read_nwb_series(bad)


def test_nwb_real_em_sections_through_the_stage(tmp_path):
    """Real ssTEM sections (drosophila VNC) stored as an NWB ImageSeries (t = section) come
    back through the imaging stage identical to the TIFF reader's volume."""
    from pynwb.image import ImageSeries

    raw_dir = shared("em", "drosophila_vnc_stack1", "stack1", "raw")
    tif = imaging.read_tiff(raw_dir)[:4, :96, :80]  # (z, y, x)
    f = _nwb_file(tmp_path / "em.nwb", [lambda nwb: ImageSeries(
        name="sstem", data=tif.transpose(0, 2, 1), unit="a.u.", rate=1.0)])
    p = imaging_stage.Params(source="nwb", path=str(f), voxel_size_nm=(50, 4.6, 4.6))
    imaging_stage.run(p, {}, tmp_path / "out")
    vol, attrs = imaging.read_volume(tmp_path / "out" / "volume.zarr")
    assert np.array_equal(vol, tif) and attrs["voxel_size_nm"] == [50.0, 4.6, 4.6]
