"""Segmentation stage: connected-component relabelling (exact), watershed on EM (synthetic and
real Drosophila VNC sections)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from wbe.anatomy import imaging, segmentation, watershed
from wbe.stages import segmentation as segmentation_stage

SHARED = Path(__file__).parents[2] / "../shared/data"


def shared(*parts: str) -> Path:
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip("../shared/data not present")
    return p


def _split_volume() -> np.ndarray:
    """Label 3 in two pieces (60 and 24 voxels), label 8 whole (40), label 5 tiny (2)."""
    v = np.zeros((6, 10, 20), np.uint32)
    v[0:3, 0:4, 0:5] = 3  # 60 voxels
    v[0:2, 0:3, 12:16] = 3  # 24 voxels, separate piece
    v[4:6, 5:9, 5:10] = 8  # 40 voxels
    v[5, 0, 19] = 5
    v[5, 1, 19] = 5  # 2 voxels
    return v


def test_label_split_in_two_gives_two_components_named_by_size():
    out, rows = segmentation.relabel_components(
        _split_volume(), {3: "AVAL", 8: "RIAL", 5: "X"}, min_size_voxels=10)
    assert rows == [(1, "AVAL", 60), (2, "AVAL~2", 24), (3, "RIAL", 40)]
    assert out.dtype == np.uint32
    assert set(np.unique(out)) == {0, 1, 2, 3}
    assert out[0, 0, 0] == 1 and out[0, 0, 12] == 2 and out[4, 5, 5] == 3
    assert out[5, 0, 19] == 0  # below min size → background


def test_fragments_merge_and_drop():
    v = _split_volume()
    out, rows = segmentation.relabel_components(v, {3: "A", 8: "B"}, min_size_voxels=10,
                                                fragments="merge")
    assert rows == [(1, "A", 84), (2, "B", 40)]
    assert out[0, 0, 12] == 1
    out, rows = segmentation.relabel_components(v, {3: "A", 8: "B"}, min_size_voxels=10,
                                                fragments="drop")
    assert rows == [(1, "A", 60), (2, "B", 40)]
    assert out[0, 0, 12] == 0


def test_connectivity_6_vs_26():
    v = np.zeros((3, 3, 3), np.uint32)
    v[0, 0, 0] = v[1, 1, 1] = 4  # corner-touching voxels
    _, rows26 = segmentation.relabel_components(v, None, min_size_voxels=1, connectivity=26)
    _, rows6 = segmentation.relabel_components(v, None, min_size_voxels=1, connectivity=6)
    assert len(rows26) == 1 and len(rows6) == 2


def test_run_relabel(tmp_path):
    img = tmp_path / "img"
    img.mkdir()
    imaging.write_volume(img / "volume.zarr", _split_volume(),
                         {"voxel_size_nm": [40, 8, 8], "source": "t", "kind": "labels"})
    with open(img / "label_names.csv", "w", newline="") as fh:
        csv.writer(fh).writerows([["label", "name"], [3, "AVAL"], [5, "X"], [8, "RIAL"]])
    out = tmp_path / "seg"
    out.mkdir()
    s = segmentation_stage.run(segmentation_stage.Params(min_size_voxels=10), {"imaging": img}, out)
    lab, attrs = imaging.read_volume(out / "labels.zarr")
    assert attrs["voxel_size_nm"] == [40, 8, 8] and attrs["kind"] == "labels"
    assert s["n_segments"] == 3 and s["n_fragments"] == 1 and s["method"] == "relabel"
    rows = list(csv.DictReader(open(out / "segments.csv")))
    assert [r["name"] for r in rows] == ["AVAL", "AVAL~2", "RIAL"]
    assert int(rows[0]["voxels"]) == int((lab == 1).sum()) == 60


def _synthetic_em(n_z: int = 3, cell_px: int = 40) -> tuple[np.ndarray, np.ndarray]:
    """Grid of square 'cells' (bright) separated by dark 3-px membranes; GT instances."""
    rng = np.random.default_rng(1)
    size = 4 * cell_px
    raw = np.full((n_z, size, size), 200.0)
    gt = np.zeros((n_z, size, size), np.uint32)
    k = 0
    for i in range(4):
        for j in range(4):
            k += 1
            gt[:, i * cell_px + 2:(i + 1) * cell_px - 2, j * cell_px + 2:(j + 1) * cell_px - 2] = k
    raw[gt == 0] = 40.0
    raw += rng.normal(0, 10, raw.shape)
    return np.clip(raw, 0, 255).astype(np.uint8), gt


def test_watershed_recovers_synthetic_cells():
    raw, gt = _synthetic_em()
    prob = watershed.membrane_probability(raw, sigma_px=1.0, ridge_sigmas_px=(1.0, 2.0))
    assert prob.min() >= 0 and prob.max() <= 1
    assert prob[gt == 0].mean() > prob[gt > 0].mean() + 0.3
    seg = watershed.watershed_segment(prob, membrane_threshold=0.5, seed_min_distance_px=10,
                                         seed_min_depth_px=5)
    sc = watershed.score_segmentation(seg, gt)
    assert sc["adapted_rand_error"] < 0.05 and sc["voi"] < 0.2
    # linked in 3-D: each cell is one instance through all sections
    assert len(np.unique(seg[gt > 0])) == 16


def test_score_perfect_and_merged():
    gt = np.zeros((1, 10, 10), np.uint32)
    gt[0, :, :5], gt[0, :, 5:] = 1, 2
    assert watershed.score_segmentation(gt, gt)["voi"] == pytest.approx(0.0)
    merged = watershed.score_segmentation(np.ones_like(gt), gt)
    assert merged["voi_merge"] == pytest.approx(1.0) and merged["voi_split"] == pytest.approx(0)


def test_gt_instances_drosophila():
    lab = np.full((1, 6, 6), 0, np.uint8)
    lab[0, :2, :2] = 255
    lab[0, 4:, 4:] = 255
    lab[0, 3, 3] = 191  # mitochondrion: not an instance
    gt = watershed.gt_instances_drosophila(lab)
    assert set(np.unique(gt)) == {0, 1, 2}


def test_watershed_drosophila_real_crop():
    d = shared("em", "drosophila_vnc_stack1", "stack1")
    raw = imaging.read_tiff(d / "raw")[16:18, :384, :384]  # held-out sections
    gt = watershed.gt_instances_drosophila(imaging.read_png(d / "labels")[16:18, :384, :384])
    prob = watershed.membrane_probability(raw)
    seg = watershed.watershed_segment(prob)
    sc = watershed.score_segmentation(seg, gt)
    trivial = watershed.score_segmentation(np.ones_like(seg), gt)
    assert sc["adapted_rand_error"] < 0.6
    assert sc["voi"] < trivial["voi"]
