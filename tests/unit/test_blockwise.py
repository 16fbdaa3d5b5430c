"""Block-wise processing equals whole-volume processing: connected-component relabelling,
watershed with section linking, and touch detection → synapses (synthetic and real pinky40 /
Drosophila crops, several block sizes, down to blocks a few touch distances wide)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wbe.anatomy import blockwise, imaging, morphology, segmentation, watershed
from wbe.connectome import touches as connectome
from wbe.stages import connectome as connectome_stage
from wbe.stages import morphology as morphology_stage
from wbe.stages import segmentation as segmentation_stage

SHARED = Path(__file__).parents[2] / "../shared/data"
PINKY = SHARED / "em" / "pinky40" / "labels_512.npy.ckl.gz"
DROSO = SHARED / "em" / "drosophila_vnc_stack1" / "stack1"


def _need(p: Path) -> Path:
    if not p.exists():
        pytest.skip(f"{p} not present")
    return p


# --------------------------------------------------------------------------------------------
# helpers of wbe.anatomy.blockwise


def test_merge_pairs_gives_smallest_member_of_each_set():
    rng = np.random.default_rng(0)
    n = 200
    a, b = rng.integers(0, n, 150), rng.integers(0, n, 150)
    root = blockwise.merge_pairs(n, a, b)
    ref = np.arange(n)  # plain union-find, min roots

    def find(u):
        while ref[u] != u:
            u = ref[u]
        return u

    for u, w in zip(a.tolist(), b.tolist()):
        ru, rw = find(u), find(w)
        ref[max(ru, rw)] = min(ru, rw)
    np.testing.assert_array_equal(root, [find(u) for u in range(n)])
    np.testing.assert_array_equal(blockwise.merge_pairs(4, [], []), np.arange(4))


def test_block_slices_tile_the_volume_and_respect_chunks():
    shape = (10, 17, 5)
    block = blockwise.block_shape_for(shape, (3, 7, 100), chunks=(2, 4, 5))
    assert block == (4, 8, 5)  # rounded up to whole chunks, clipped to the volume
    cover = np.zeros(shape, int)
    for sl in blockwise.block_slices(shape, block):
        cover[sl] += 1
    assert (cover == 1).all()


def test_point_blocks_assign_each_point_once_and_box_distance():
    rng = np.random.default_rng(1)
    xyz = rng.uniform(-3, 7, (500, 3))
    blk, grid, origin = blockwise.point_blocks(xyz, 2.0)
    lo = origin + grid[blk] * 2.0
    assert ((xyz >= lo) & (xyz < lo + 2.0)).all()
    d = blockwise.box_distance(np.array([[0.0, 0, 0], [3.0, 0, 0], [3.0, 4.0, 0.5]]),
                               np.zeros(3), np.ones(3))
    np.testing.assert_allclose(d, [0.0, 2.0, np.hypot(2.0, 3.0)])


def _on_worker(x):
    from distributed import get_worker

    return (x * 2, get_worker().address)  # raises outside a distributed worker


def test_compute_local_and_on_scheduler_address(monkeypatch):
    import dask

    distributed = pytest.importorskip("distributed")
    tasks = [dask.delayed(lambda v: v + 1)(i) for i in range(5)]
    assert blockwise.compute(tasks, scheduler="threads", workers=2) == [1, 2, 3, 4, 5]
    with distributed.LocalCluster(processes=False, n_workers=1, threads_per_worker=1,
                                  dashboard_address=None) as cluster:
        monkeypatch.setenv(blockwise.SCHEDULER_ENV, cluster.scheduler_address)
        out = blockwise.compute([dask.delayed(_on_worker)(i) for i in range(3)])
    assert [o[0] for o in out] == [0, 2, 4] and out[0][1].startswith("inproc://")


# --------------------------------------------------------------------------------------------
# relabelling


def _snakes(shape=(12, 20, 22), seed=2, p=0.35, n_labels=3) -> np.ndarray:
    """Sparse random voxels of a few labels: components join through faces, edges and corners
    across any block boundary, so every connectivity's stitching is exercised."""
    rng = np.random.default_rng(seed)
    v = (rng.random(shape) < p) * rng.integers(1, n_labels + 1, shape)
    return v.astype(np.uint32)


@pytest.mark.parametrize("connectivity, block", [
    (6, (3, 5, 7)), (18, (3, 5, 7)), (26, (3, 5, 7)), (26, (4, 10, 14)), (26, (12, 20, 22))])
def test_relabel_blockwise_equals_whole_volume(tmp_path, connectivity, block):
    vol = _snakes()
    names = {1: "A", 2: "B", 3: "C"}
    ref, ref_rows = segmentation.relabel_components(
        vol, names, min_size_voxels=3, connectivity=connectivity, fragments="split")
    rows = segmentation.relabel_blockwise(
        vol, tmp_path / "out.zarr", names, block_voxels=block, min_size_voxels=3,
        connectivity=connectivity, fragments="split", chunks=(1, 5, 7))
    out, _ = imaging.read_volume(tmp_path / "out.zarr")
    assert rows == ref_rows and len(rows) > 20
    np.testing.assert_array_equal(out, ref)  # identical labels, not only the partition
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # temporaries gone


@pytest.mark.parametrize("fragments", ["merge", "drop"])
def test_relabel_blockwise_fragments(tmp_path, fragments):
    vol = _snakes(seed=5)
    ref, ref_rows = segmentation.relabel_components(vol, None, min_size_voxels=2,
                                                    fragments=fragments)
    src = tmp_path / "src.zarr"
    imaging.write_volume(src, vol, {"voxel_size_nm": [1, 1, 1]}, chunk_voxels=8)
    rows = segmentation.relabel_blockwise(str(src), tmp_path / "out.zarr", None,
                                          block_voxels=(8, 8, 8), min_size_voxels=2,
                                          fragments=fragments, attrs={"kind": "labels"})
    out, attrs = imaging.read_volume(tmp_path / "out.zarr")
    assert rows == ref_rows and attrs["kind"] == "labels"
    np.testing.assert_array_equal(out, ref)


def test_relabel_blockwise_pinky40_crop_real(tmp_path):
    vol = imaging.read_crackle(_need(PINKY), [(300, 332), (0, 96), (0, 96)])
    ref, ref_rows = segmentation.relabel_components(vol, None, min_size_voxels=20)
    src = tmp_path / "src.zarr"
    imaging.write_volume(src, vol, {}, chunk_voxels=16)
    rows = segmentation.relabel_blockwise(str(src), tmp_path / "out.zarr", None,
                                          block_voxels=(16, 32, 48), min_size_voxels=20,
                                          workers=2, scheduler="processes")
    out, _ = imaging.read_volume(tmp_path / "out.zarr")
    assert rows == ref_rows and len(rows) > 50
    np.testing.assert_array_equal(out, ref)


def test_segmentation_run_blockwise_equals_whole(tmp_path):
    img = tmp_path / "img"
    img.mkdir()
    imaging.write_volume(img / "volume.zarr", _snakes(seed=7),
                         {"voxel_size_nm": [40, 8, 8], "kind": "labels"}, chunk_voxels=8)
    out = {}
    for tag, bv in (("whole", None), ("blocks", (8, 8, 8))):
        d = tmp_path / tag
        d.mkdir()
        s = segmentation_stage.run(segmentation_stage.Params(min_size_voxels=3, block_voxels=bv),
                             {"imaging": img}, d, progress=False)
        out[tag] = (s, imaging.read_volume(d / "labels.zarr"), (d / "segments.csv").read_text())
    (sw, (lw, aw), cw), (sb, (lb, ab), cb) = out["whole"], out["blocks"]
    np.testing.assert_array_equal(lw, lb)
    assert cw == cb and aw == ab and sb["blockwise"] and not sw["blockwise"]
    assert {k: sw[k] for k in ("n_segments", "n_input_labels", "n_fragments")} == \
        {k: sb[k] for k in ("n_segments", "n_input_labels", "n_fragments")}


# --------------------------------------------------------------------------------------------
# watershed


def _grid_em(n_z=5, cell=24, seed=3):
    """Bright square cells behind dark membranes that drift between sections, with noise."""
    rng = np.random.default_rng(seed)
    size = 5 * cell
    raw = np.full((n_z, size, size), 200.0)
    for z in range(n_z):
        s = z % 3
        for k in range(6):
            raw[z, k * cell + s:k * cell + s + 3, :] = 40
            raw[z, :, k * cell + s:k * cell + s + 3] = 40
    raw += rng.normal(0, 12, raw.shape)
    return np.clip(raw, 0, 255).astype(np.uint8)


def _ws_whole(raw, **kw):
    prob = watershed.membrane_probability(raw, sigma_px=kw["sigma_px"],
                                             ridge_sigmas_px=kw["ridge_sigmas_px"])
    lab = watershed.watershed_segment(prob, membrane_threshold=kw["membrane_threshold"],
                                         seed_min_distance_px=kw["seed_min_distance_px"],
                                         seed_min_depth_px=kw["seed_min_depth_px"])
    return segmentation.relabel_components(lab, None, min_size_voxels=kw["min_size_voxels"],
                                           fragments="drop")


@pytest.mark.parametrize("block_sections", [1, 2, 3, 5])
def test_watershed_blockwise_equals_whole_volume(tmp_path, block_sections):
    raw = _grid_em()
    kw = dict(sigma_px=1.0, ridge_sigmas_px=(1.0, 2.0), membrane_threshold=0.5,
              seed_min_distance_px=8, seed_min_depth_px=4.0, min_size_voxels=10)
    ref, ref_rows = _ws_whole(raw, **kw)
    rows = watershed.watershed_blockwise(raw, tmp_path / "out.zarr",
                                            block_sections=block_sections,
                                            block_voxels=(block_sections, 40, 40),
                                            chunks=(1, 40, 40), **kw)
    out, _ = imaging.read_volume(tmp_path / "out.zarr")
    assert rows == ref_rows and len(rows) >= 16
    np.testing.assert_array_equal(out, ref)


def test_watershed_blockwise_drosophila_real(tmp_path):
    d = _need(DROSO)
    raw = imaging.read_tiff(d / "raw")[:6, :256, :256]
    src = tmp_path / "raw.zarr"
    imaging.write_volume(src, raw, {"voxel_size_nm": [50, 4.6, 4.6]}, chunk_voxels=64)
    kw = dict(sigma_px=3.0, ridge_sigmas_px=(3.0, 5.0), membrane_threshold=0.6,
              seed_min_distance_px=25, seed_min_depth_px=12.0, min_size_voxels=20)
    ref, ref_rows = _ws_whole(raw, **kw)
    rows = watershed.watershed_blockwise(str(src), tmp_path / "out.zarr", block_sections=4,
                                            block_voxels=(4, 128, 128), **kw)
    out, _ = imaging.read_volume(tmp_path / "out.zarr")
    assert rows == ref_rows and len(rows) > 10
    np.testing.assert_array_equal(out, ref)
    # the partition is also identical (variation of information 0)
    sc = watershed.score_segmentation(out, ref.astype(np.uint32) + 1, per_section=False)
    assert sc["voi"] == pytest.approx(0.0, abs=1e-9)


# --------------------------------------------------------------------------------------------
# touch detection


def _random_nodes(n=1500, seed=4, extent=8.0):
    rng = np.random.default_rng(seed)
    xyz = rng.uniform(0, extent, (n, 3))
    r = rng.choice([0.05, 0.1, 0.2, 0.4, 1.5], n, p=[0.4, 0.3, 0.2, 0.09, 0.01])
    nid = rng.integers(0, 12, n)
    types = rng.choice([0, 1, 2, 3], n)
    return xyz, r, nid, types


def _assert_same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True),
                                  check_exact=True)


@pytest.mark.parametrize("block_um", [0.35, 1.0, 2.5, 100.0])
@pytest.mark.parametrize("direction", ["symmetric", "typed"])
def test_contacts_blockwise_equal_whole(block_um, direction):
    xyz, r, nid, types = _random_nodes()
    pre_ok, post_ok = connectome.direction_masks(types, direction, (2,), (1, 3))
    td, spacing = 0.15, 0.8
    ref, rc = connectome.contacts_whole(xyz, r, nid, td, spacing, pre_ok=pre_ok,
                                        post_ok=post_ok, chunk_nodes=1000)
    syn, c = connectome.contacts_blockwise(xyz, r, nid, td, spacing, block_um=block_um,
                                           pre_ok=pre_ok, post_ok=post_ok, chunk_nodes=1000,
                                           n_shards=3)
    _assert_same(syn, ref)
    assert {k: c[k] for k in ("n_touches", "n_contacts", "n_synapses")} == \
        {k: rc[k] for k in ("n_touches", "n_contacts", "n_synapses")}
    assert rc["n_synapses"] > 50
    if block_um < 1:
        assert c["n_blocks"] > 100  # blocks only a few touch distances wide


def test_node_contacts_match_brute_force():
    xyz, r, nid, types = _random_nodes(n=400, seed=9, extent=5.0)
    td = 0.1
    i, j, g, n_touch = connectome.node_contacts(xyz, r, nid, td, chunk_nodes=1000)
    gap = np.linalg.norm(xyz[:, None] - xyz[None], axis=-1) - r[:, None] - r[None]
    touch = (gap <= td) & (nid[:, None] != nid[None])
    assert n_touch == int(np.triu(touch, 1).sum())
    want = set()
    for a in range(len(xyz)):
        for b_neuron in np.unique(nid[touch[a]]):
            cand = np.flatnonzero(touch[a] & (nid == b_neuron))
            want.add((a, int(cand[np.lexsort((cand, gap[a, cand]))[0]])))
    assert set(zip(i.tolist(), j.tolist())) == want
    np.testing.assert_allclose(g, gap[i, j])


def test_contacts_blockwise_on_processes_and_distributed():
    distributed = pytest.importorskip("distributed")
    xyz, r, nid, _ = _random_nodes(n=600, seed=11)
    ref, _ = connectome.contacts_whole(xyz, r, nid, 0.15, 0.8)
    syn, _ = connectome.contacts_blockwise(xyz, r, nid, 0.15, 0.8, block_um=2.0, workers=2,
                                           scheduler="processes")
    _assert_same(syn, ref)
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2,
                            dashboard_address=None) as client:
        syn, _ = connectome.contacts_blockwise(xyz, r, nid, 0.15, 0.8, block_um=2.0,
                                               scheduler=client)
    _assert_same(syn, ref)


def _pinky_nodes() -> pd.DataFrame:
    """Skeleton nodes of a 32×160×160-voxel pinky40 crop (dense segmentation, 16×16×40 nm)."""
    vol = imaging.read_crackle(_need(PINKY), [(300, 332), (0, 160), (0, 160)])
    lab, _ = segmentation.relabel_components(vol, None, min_size_voxels=20)
    vs = (40.0, 16.0, 16.0)
    skels = morphology.skeletonize_labels(lab, vs, morphology_stage.Params(dust_threshold_voxels=20))
    tables = [morphology.skeleton_table(k, *skels[k], (0, 0, 0), vs) for k in sorted(skels)]
    return pd.concat(tables, ignore_index=True)


def test_find_synapses_blockwise_equals_whole_on_pinky40_crop():
    nodes = _pinky_nodes()
    assert nodes["neuron_id"].nunique() > 30 and len(nodes) > 5000
    names = {int(k): f"seg{k}" for k in nodes["neuron_id"].unique()}
    ref = connectome.find_synapses(nodes, names, connectome_stage.Params(
        touch_distance_um=0.05, min_synapse_spacing_um=0.5))
    assert ref[3]["n_synapses"] > 100
    # dense: node pairs outnumber contacts (one per node and neighbouring neuron) many times
    assert ref[3]["n_touches"] > 3 * ref[3]["n_contacts"]
    for block_um in (0.2, 0.7, 1.5):
        got = connectome.find_synapses(nodes, names, connectome_stage.Params(
            touch_distance_um=0.05, min_synapse_spacing_um=0.5, block_um=block_um))
        _assert_same(got[0], ref[0])
        assert got[1] == ref[1]
        np.testing.assert_array_equal(got[2], ref[2])
        for k in ("n_touches", "n_contacts", "n_synapses"):
            assert got[3][k] == ref[3][k]
