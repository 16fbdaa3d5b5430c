"""Atlas against real atlases: Debian's mricron-data (AAL, AICHA, JHU, Harvard–Oxford, Brodmann)
and a cross-dataset check with tvb-data's region centres.

Needs ``apt-get install -y mricron-data`` (files under /usr/share/mricron/templates); skipped
with that reason otherwise. Expected names come from the atlases' own label tables.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from wbe.anatomy import atlas as at

TEMPLATES = Path("/usr/share/mricron/templates")


def template(name: str) -> Path:
    p = TEMPLATES / name
    if not p.is_file():
        pytest.skip(f"{p} not present: apt-get install -y mricron-data (Debian) provides it")
    return p


@pytest.fixture(scope="module")
def aal() -> at.Atlas:
    return at.load_atlas(template("aal.nii.gz"))


def aal_hemisphere(name: str) -> str | None:
    return "L" if name.endswith("_L") else "R" if name.endswith("_R") else None


def tvb_hemisphere(label: str) -> str | None:
    """tvb-data conventions: 'RM-V1_R' (96), 'rV1' (76), 'r_insula' (68)."""
    if re.search(r"_R$", label) or re.match(r"^r[A-Z_]", label):
        return "R"
    if re.search(r"_L$", label) or re.match(r"^l[A-Z_]", label):
        return "L"
    return None


# ---------------------------------------------------------------- the atlases themselves


def test_aal_table_geometry_and_hemispheres(aal: at.Atlas):
    assert aal.label_path == TEMPLATES / "aal.nii.txt"
    assert aal.shape == (181, 217, 181)
    np.testing.assert_allclose(aal.affine[:3], [[1, 0, 0, -90], [0, 1, 0, -125], [0, 0, 1, -71]])
    assert sorted(aal.names) == list(range(1, 117))  # 116 regions, all present in the volume
    assert set(np.unique(aal.data).tolist()) == set(range(0, 117))
    assert aal.names[1] == "Precentral_L" and aal.names[116] == "Vermis_10"
    # names (from the table) vs geometry (from the volume): every *_L region's centre of mass
    # has x < 0 (MNI left), every *_R region's x > 0
    ids = aal.region_ids
    x = centre_of_mass_x(aal, ids)
    hemi = [aal_hemisphere(aal.names[i]) for i in ids.tolist()]
    assert hemi.count("L") == hemi.count("R") == 54
    for h, xi, i in zip(hemi, x, ids.tolist()):
        if h is not None:
            assert (xi < 0) == (h == "L"), (aal.names[i], xi)


def test_aal_known_coordinates(aal: at.Atlas):
    pts = [(-40, -20, 50), (40, -20, 50), (0, -60, 30), (8, -60, 30), (-24, -22, -10),
           (-40, -8, 52), (0, 0, 200)]
    got = [aal.name(i) for i in at.regions_of_points(aal, pts)]
    # hand motor/sensory cortex: AAL puts (−40, −20, 50) in postcentral, the precentral centre
    # of mass is (−39.6, −5.7, 50.9); (0, −60, 30) is medial parietal (precuneus)
    assert got == ["Postcentral_L", "Postcentral_R", "Precuneus_L", "Precuneus_R",
                   "Hippocampus_L", "Precentral_L", "unlabelled"]


def test_aal_region_volumes_sum_to_the_labelled_volume(aal: at.Atlas):
    vols = at.region_volumes(aal, aal.data, aal.voxel_volume_mm3)
    assert len(vols) == 117 and vols.n_voxels.sum() == aal.data.size
    labelled = vols.volume_mm3[vols.region_id > 0].sum()
    assert labelled == pytest.approx(1_479_969.0)  # mm³ at 1 mm³ per voxel
    # left and right precentral gyri have similar volumes (within 15 %)
    v = dict(zip(vols.region_name, vols.volume_mm3))
    assert v["Precentral_L"] / v["Precentral_R"] == pytest.approx(1.0, abs=0.15)


@pytest.mark.parametrize("name,n_regions,table", [
    ("AICHAmc.nii.gz", 192, "AICHAmc.nii.txt"),
    ("JHU-WhiteMatter-labels-1mm.nii.gz", 48, "JHU-WhiteMatter-labels-1mm.nii.txt"),
    ("JHU-WhiteMatter-labels-2mm.nii.gz", 48, "JHU-WhiteMatter-labels-2mm.nii.txt"),
    ("HarvardOxford-cort-maxprob-thr0-1mm.nii.gz", 48, None),
    ("brodmann.nii.gz", 41, None),
])
def test_other_mricron_atlases_load(name, n_regions, table):
    a = at.load_atlas(template(name))
    assert len(a.names) == n_regions
    assert (a.label_path.name if a.label_path else None) == table
    assert a.voxel_volume_mm3 == pytest.approx(8.0 if "2mm" in name or "AICHA" in name else 1.0)


def centre_of_mass_x(a: at.Atlas, ids: np.ndarray) -> np.ndarray:
    """World x (mm) of the centre of mass of each region in ``ids``."""
    from scipy import ndimage as ndi

    com = np.asarray(ndi.center_of_mass(np.ones(a.shape), a.data, ids))
    return com @ a.affine[0, :3] + a.affine[0, 3]


@pytest.mark.parametrize("name", ["JHU-WhiteMatter-labels-1mm.nii.gz",
                                  "JHU-WhiteMatter-labels-2mm.nii.gz"])
def test_mricron_jhu_sform_is_left_right_mirrored(name):
    """A defect of mricron-data found by this check: the JHU voxel array is FSL's (FSL's
    JHU-labels.xml puts "Uncinate fasciculus R" at voxel (55, 127, 54) of the 1 mm file), but
    the sform maps x = i − 91 where FSL's maps x = 90 − i. So every *_R tract lies at MNI x < 0.
    The registration hook undoes it: transform x' = −x − 1 (MNI → this file's world)."""
    a = at.load_atlas(template(name))
    hemi = {i: aal_hemisphere(n) for i, n in a.names.items() if aal_hemisphere(n)}
    assert len(hemi) == 42
    x = centre_of_mass_x(a, np.asarray(sorted(hemi)))
    assert all((xi < 0) == (hemi[i] == "R") for i, xi in zip(sorted(hemi), x))  # mirrored
    if "1mm" in name:
        assert a.name(a.data[55, 127, 54]) == "Uncinate_fasciculus_R"
        np.testing.assert_allclose(a.affine[0], [1, 0, 0, -91])
    mirror = [[-1, 0, 0, -1], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    # FSL's world position of voxel (55, 127, 54): x = 90 − 55 = 35 (right)
    fixed = at.regions_of_points(a, [[35.0, 1.0, -18.0], [-33.0, -1.0, -14.0]], mirror)
    assert [a.name(i) for i in fixed] == ["Uncinate_fasciculus_R", "Uncinate_fasciculus_L"]


def test_jhu_1mm_resampled_onto_the_2mm_grid_matches_the_shipped_2mm_atlas():
    one = at.load_atlas(template("JHU-WhiteMatter-labels-1mm.nii.gz"))
    two = at.load_atlas(template("JHU-WhiteMatter-labels-2mm.nii.gz"))
    assert one.names == two.names
    res = at.label_volume(one, two.shape, two.affine)
    both = (res > 0) & (two.data > 0)
    assert (res[both] == two.data[both]).mean() > 0.97  # measured 0.978
    v1 = at.region_volumes(one, one.data, one.voxel_volume_mm3).volume_mm3.to_numpy()[1:]
    v2 = at.region_volumes(two, two.data, two.voxel_volume_mm3).volume_mm3.to_numpy()[1:]
    assert np.corrcoef(v1, v2)[0, 1] > 0.99  # measured 0.9994
    assert v2.sum() / v1.sum() == pytest.approx(1.0, abs=0.02)  # 168 944 vs 170 006 mm³


# ---------------------------------------------------------------- tvb-data region centres


def test_tvb96_centres_land_in_aal_regions_of_the_same_hemisphere(aal: at.Atlas):
    pytest.importorskip("tvb_data")
    from wbe.connectome.importers import load_tvb

    conn = load_tvb(96)
    ids = at.regions_of_points(aal, conn.centres_mm)
    names = [aal.name(i) for i in ids.tolist()]
    tvb_h = [tvb_hemisphere(lab) for lab in conn.labels]
    assert tvb_h.count("L") == tvb_h.count("R") == 48
    assert int((ids > 0).sum()) == 89  # 7 centres fall on unlabelled (white-matter) voxels
    pairs = [(t, aal_hemisphere(n)) for t, n in zip(tvb_h, names) if aal_hemisphere(n)]
    assert len(pairs) == 89 and all(t == a for t, a in pairs)
    near = at.regions_of_points(aal, conn.centres_mm, max_distance_mm=5.0)
    assert (near > 0).all()
    assert all(t == aal_hemisphere(aal.name(i)) for t, i in zip(tvb_h, near.tolist()))
    # anatomy, not only sides: thalamic, basal ganglia, V1, hippocampal, S1 regions
    expect = {r"^TM-": "Thalamus", r"^BG-Cd_": "Caudate", r"^BG-Pu_": "Putamen",
              r"^BG-Pa_": "Pallidum", r"^RM-V1_": "Calcarine", r"^RM-HC_": "Hippocampus",
              r"^RM-PHC_": "ParaHippocampal", r"^RM-S1_": "Postcentral"}
    checked = 0
    for lab, n in zip(conn.labels, names):
        for pat, region in expect.items():
            if re.search(pat, lab):
                assert n == f"{region}_{lab[-1]}", (lab, n)
                checked += 1
    assert checked == 20  # 6 thalamic + 2 each of the other seven


def test_tvb76_needs_the_registration_transform(aal: at.Atlas):
    """connectivity_76's centres have the left–right axis on y (r* regions at y < 0): raw,
    AAL's hemisphere agrees at chance; with the axis permutation x_mni = −y, y_mni = x as
    the ``transform`` hook every labelled centre lands on its own side."""
    pytest.importorskip("tvb_data")
    from wbe.connectome.importers import load_tvb

    conn = load_tvb(76)
    tvb_h = [tvb_hemisphere(lab) for lab in conn.labels]

    def agreement(transform):
        ids = at.regions_of_points(aal, conn.centres_mm, transform)
        pairs = [(t, aal_hemisphere(aal.name(i))) for t, i in zip(tvb_h, ids.tolist())]
        pairs = [(t, a) for t, a in pairs if a]
        return int((ids > 0).sum()), len(pairs), sum(t == a for t, a in pairs)

    raw = agreement(None)
    assert raw == (45, 43, 22)  # 22 of 43: chance
    perm = [[0, -1, 0, 0], [1, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]
    assert agreement(perm) == (52, 52, 52)
