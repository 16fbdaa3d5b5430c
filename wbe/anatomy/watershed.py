"""Segmentation of raw EM: membrane probability per section from scikit-image filters —
Gaussian smoothing, then the Sato ridge filter for dark ridges (membranes are dark in TEM),
rescaled to [0, 1] by robust percentiles and blended with the inverted, normalised intensity —
then a seeded watershed: seeds are the maxima of the in-plane distance transform of the
non-membrane mask (threshold ``membrane_threshold``), flooding the membrane probability per
section (the ssTEM sections are ~10× thicker than the pixels); regions of adjacent sections are
then linked into 3-D instances where they overlap (see :func:`watershed_segment`).
:func:`score_segmentation` scores against ground truth with variation of information and the
adapted Rand error (skimage.metrics).

Block-wise (:func:`watershed_blockwise`): z-slabs (all of y and x, since seeds and flooding are
not local in the plane) with a one-section halo for the linking, then the block-wise relabelling
of :mod:`wbe.anatomy.segmentation`; the same labels as :func:`watershed_segment`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from wbe.anatomy.blockwise import (
    compute,
    create_like,
    merge_pairs,
    open_volume,
)
from wbe.anatomy.segmentation import SectionLinks, relabel_blockwise

# --------------------------------------------------------------------------------------------
# watershed on raw EM


def membrane_probability(
    raw: np.ndarray, *, sigma_px: float = 3.0, ridge_sigmas_px: tuple[float, ...] = (3.0, 5.0),
    ridge_weight: float = 0.5,
) -> np.ndarray:
    """Membrane probability in [0, 1] per section of ``raw`` (z, y, x; membranes dark).

    ``(1 - w) * inverted normalised Gaussian-smoothed intensity + w * normalised Sato ridge
    response for dark ridges``; each term is rescaled to [0, 1] by its 1st/99th percentiles
    per section.
    """
    from skimage.filters import gaussian, sato

    raw = np.asarray(raw, np.float32)
    out = np.empty(raw.shape, np.float32)

    def norm(a: np.ndarray) -> np.ndarray:
        lo, hi = np.percentile(a, [1, 99])
        return np.clip((a - lo) / max(hi - lo, 1e-6), 0, 1)

    for z in range(raw.shape[0]):
        sm = gaussian(raw[z], sigma=sigma_px, preserve_range=True) if sigma_px > 0 else raw[z]
        dark = 1.0 - norm(sm)
        if ridge_weight > 0:
            ridge = norm(sato(sm, sigmas=list(ridge_sigmas_px), black_ridges=True))
            out[z] = (1 - ridge_weight) * dark + ridge_weight * ridge
        else:
            out[z] = dark
    return out


def _watershed_section(
    prob: np.ndarray, *, membrane_threshold: float, seed_min_distance_px: int,
    seed_min_depth_px: float, compactness: float,
) -> tuple[np.ndarray, int]:
    """Seeded 2-D watershed of one section's membrane probability: (labels 1..k int64, k)."""
    from scipy import ndimage as ndi
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    fg = prob < membrane_threshold
    dt = ndi.distance_transform_edt(fg)
    pk = peak_local_max(dt, min_distance=seed_min_distance_px, threshold_abs=seed_min_depth_px,
                        exclude_border=False)
    if not len(pk):
        return np.zeros(prob.shape, np.int64), 0
    markers = np.zeros(prob.shape, np.int64)
    markers[pk[:, 0], pk[:, 1]] = np.arange(1, len(pk) + 1)
    return watershed(prob, markers=markers, compactness=compactness).astype(np.int64), len(pk)


def _link_sections(a: np.ndarray, b: np.ndarray, min_overlap: float) -> np.ndarray:
    """Links (k, 2) between the regions of two adjacent sections ``a`` and ``b`` (labels 1..,
    each section numbered on its own): pairs whose overlap covers ≥ ``min_overlap`` of the
    smaller region, visited by decreasing overlap fraction (ties: (a, b) order), each region
    linking at most one region of the other section."""
    na, nb = int(a.max(initial=0)), int(b.max(initial=0))
    sa = np.bincount(a.ravel(), minlength=na + 1)
    sb = np.bincount(b.ravel(), minlength=nb + 1)
    av, bv = a.ravel(), b.ravel()
    m = (av > 0) & (bv > 0)
    pair, cnt = np.unique(av[m].astype(np.int64) * (nb + 1) + bv[m], return_counts=True)
    pa, pb = pair // (nb + 1), pair % (nb + 1)
    frac = cnt / np.minimum(sa[pa], sb[pb])
    used_a, used_b, links = set(), set(), []
    for k in np.argsort(-frac, kind="stable").tolist():
        if frac[k] < min_overlap:
            break
        u, w = int(pa[k]), int(pb[k])
        if u in used_a or w in used_b:
            continue
        used_a.add(u)
        used_b.add(w)
        links.append((u, w))
    return np.asarray(links, np.int64).reshape(-1, 2)


def watershed_segment(
    prob: np.ndarray, *, membrane_threshold: float = 0.6, seed_min_distance_px: int = 25,
    seed_min_depth_px: float = 12.0, compactness: float = 0.0, link_3d: bool = True,
    link_min_overlap: float = 0.5,
) -> np.ndarray:
    """Seeded watershed of a membrane probability ``prob`` (z, y, x) → uint32 instance labels.

    Per section: seeds are local maxima of the distance transform of
    ``prob < membrane_threshold`` (at least ``seed_min_distance_px`` apart, deeper than
    ``seed_min_depth_px`` pixels); the section's probability is flooded from them (2-D
    watershed; anisotropic ssTEM sections are 10× thicker than pixels). Seeds are numbered
    through the stack in section order. With ``link_3d`` regions of adjacent sections are
    joined (union-find; a set takes its smallest id) when their overlap covers at least
    ``link_min_overlap`` of the smaller of the two regions — pairs are visited in order of
    decreasing overlap and each region links at most one region per neighbouring section.
    :func:`watershed_blockwise` gives the same labels slab by slab.
    """
    prob = np.asarray(prob, np.float32)
    lab = np.zeros(prob.shape, np.int64)
    local = []
    nxt = 0
    offsets = []
    for z in range(prob.shape[0]):
        sec, k = _watershed_section(
            prob[z], membrane_threshold=membrane_threshold,
            seed_min_distance_px=seed_min_distance_px, seed_min_depth_px=seed_min_depth_px,
            compactness=compactness)
        local.append(sec)
        lab[z] = np.where(sec > 0, sec + nxt, 0)
        offsets.append(nxt)
        nxt += k
    if not link_3d or prob.shape[0] < 2 or nxt == 0:
        return lab.astype(np.uint32)
    root = np.arange(nxt + 1)

    def find(u: int) -> int:
        while root[u] != u:
            root[u] = root[root[u]]
            u = root[u]
        return u

    for z in range(prob.shape[0] - 1):
        for u, w in _link_sections(local[z], local[z + 1], link_min_overlap).tolist():
            ru, rw = find(u + offsets[z]), find(w + offsets[z + 1])
            if ru != rw:
                root[max(ru, rw)] = min(ru, rw)
    final = np.array([find(u) for u in range(nxt + 1)])
    return final[lab].astype(np.uint32)


def _watershed_slab(
    source, ws_path: str, z0: int, z1: int, membrane: dict, seeds: dict, link_3d: bool,
    link_min_overlap: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Sections [z0, z1) plus the next one (the halo): membrane probability and 2-D watershed
    of each; writes sections [z0, z1) (ids numbered per section) to ``ws_path``. Returns (seed
    count per own section, links (k, 3) = (z, id in z, id in z + 1) for z in [z0, z1) with a
    next section)."""
    src = open_volume(source)
    nz = int(src.shape[0])
    z_end = min(z1 + 1, nz)
    prob = membrane_probability(np.asarray(src[z0:z_end]), **membrane)
    secs, counts = [], []
    for s in range(z_end - z0):
        sec, k = _watershed_section(prob[s], **seeds)
        secs.append(sec)
        counts.append(k)
    open_volume(ws_path, mode="r+")[z0:z1] = np.stack(secs[:z1 - z0]).astype(np.uint32)
    links = [np.zeros((0, 3), np.int64)]
    if link_3d:
        for s in range(z_end - z0 - 1):
            ln = _link_sections(secs[s], secs[s + 1], link_min_overlap)
            links.append(np.c_[np.full(len(ln), z0 + s, np.int64), ln])
    return np.asarray(counts[:z1 - z0], np.int64), np.concatenate(links)


def watershed_blockwise(
    source, out_path: str | Path, *, block_sections: int = 8,
    block_voxels: tuple[int, int, int] | list[int] | None = None, sigma_px: float = 3.0,
    ridge_sigmas_px: tuple[float, ...] = (3.0, 5.0), ridge_weight: float = 0.5,
    membrane_threshold: float = 0.6, seed_min_distance_px: int = 25,
    seed_min_depth_px: float = 12.0, compactness: float = 0.0, link_3d: bool = True,
    link_min_overlap: float = 0.5, min_size_voxels: int = 20, connectivity: int = 26,
    chunks: tuple[int, ...] | None = None, attrs: dict | None = None, scheduler=None,
    workers: int = 1, progress: bool = False,
) -> list[tuple[int, str, int]]:
    """The watershed method of :func:`wbe.stages.segmentation.run` (membrane probability →
    :func:`watershed_segment` → :func:`wbe.anatomy.segmentation.relabel_components` with
    ``fragments="drop"``) slab by slab with Dask, writing uint32 labels to the Zarr array
    ``out_path``; returns the segment rows.

    Exactness: the membrane probability and the seeded watershed work on one section at a
    time, and the linking of regions looks at two adjacent sections only, so z-slabs of
    ``block_sections`` sections with a halo of one section (the next slab's first, whose
    watershed is recomputed identically) see everything they need: each slab returns its
    sections' seed counts and the links from each of its sections to the next. Seed ids are
    then numbered through the stack in section order and the links merged (smallest id per set)
    exactly as the whole-volume function does, and :func:`relabel_blockwise` (blocks of
    ``block_voxels``, default one slab) runs the final cleaning on the linked ids. A slab never
    splits a section in y or x: seeds (``peak_local_max``) and flooding are not local in the
    plane, so in-plane tiles would change the result; memory per task is one slab of sections.
    """
    import dask

    src = open_volume(source)
    shape = tuple(int(s) for s in src.shape)
    nz = shape[0]
    block_sections = max(1, int(block_sections))
    out_path = Path(out_path)
    ws_path = out_path.with_name(f".{out_path.name}.sections.zarr")
    create_like(ws_path, shape, np.uint32, (1, *shape[1:]))
    membrane = {"sigma_px": sigma_px, "ridge_sigmas_px": tuple(ridge_sigmas_px),
                "ridge_weight": ridge_weight}
    seeds = {"membrane_threshold": membrane_threshold,
             "seed_min_distance_px": seed_min_distance_px,
             "seed_min_depth_px": seed_min_depth_px, "compactness": compactness}
    try:
        d = [dask.delayed(_watershed_slab, pure=True)(
            source, str(ws_path), z0, min(z0 + block_sections, nz), membrane, seeds,
            link_3d and nz > 1, link_min_overlap) for z0 in range(0, nz, block_sections)]
        res = compute(d, scheduler=scheduler, workers=workers, progress=progress,
                      desc="watershed slabs")
        counts = np.concatenate([r[0] for r in res]) if res else np.zeros(0, np.int64)
        links = np.concatenate([r[1] for r in res]) if res else np.zeros((0, 3), np.int64)
        offset = np.r_[0, np.cumsum(counts)].astype(np.int64)  # ids of section z: offset[z]+k
        n = int(offset[-1])
        root = merge_pairs(n + 1, links[:, 1] + offset[links[:, 0]],
                           links[:, 2] + offset[links[:, 0] + 1])
        block = block_voxels or (block_sections, *shape[1:])
        if chunks is None:
            chunks = tuple(int(c) for c in getattr(src, "chunks", None) or
                           (min(block_sections, nz), *shape[1:]))
        rows = relabel_blockwise(
            str(ws_path), out_path, None, block_voxels=block, min_size_voxels=min_size_voxels,
            connectivity=connectivity, fragments="drop", chunks=chunks, attrs=attrs,
            transform=SectionLinks(offset[:-1], root), scheduler=scheduler, workers=workers,
            progress=progress)
    finally:
        shutil.rmtree(ws_path, ignore_errors=True)
    return rows


def gt_instances_drosophila(gt_labels: np.ndarray) -> np.ndarray:
    """Ground-truth neuron instances from the Drosophila VNC ``labels/`` sections (z, y, x):
    connected components (4-connected, per section) of intracellular pixels (== 255); every
    other class is 0 (ignored in scoring)."""
    from scipy import ndimage as ndi

    out = np.zeros(gt_labels.shape, np.uint32)
    nxt = 0
    for z in range(gt_labels.shape[0]):
        lab, n = ndi.label(gt_labels[z] == 255)
        out[z] = np.where(lab > 0, lab + nxt, 0)
        nxt += n
    return out


def score_segmentation(seg: np.ndarray, gt: np.ndarray, *, per_section: bool = True) -> dict:
    """Variation of information (split, merge, total; bits) and adapted Rand error of ``seg``
    against ``gt`` on the pixels where ``gt > 0``.

    ``per_section`` scores each z section as a 2-D segmentation and averages (the GT instances
    are 2-D); else the whole stack at once.
    """
    from skimage.metrics import adapted_rand_error, variation_of_information

    def one(s: np.ndarray, g: np.ndarray) -> tuple[float, float, float]:
        m = g > 0
        s_, g_ = s[m].astype(np.int64), g[m].astype(np.int64)
        # relabel seg so that 0 is not treated as background by the metrics
        s_ = np.unique(s_, return_inverse=True)[1] + 1
        h_split, h_merge = variation_of_information(g_, s_)
        are = adapted_rand_error(g_, s_)[0]
        return float(h_split), float(h_merge), float(are)

    if per_section:
        vals = np.array([one(seg[z], gt[z]) for z in range(gt.shape[0])])
        split, merge, are = vals.mean(0)
    else:
        split, merge, are = one(seg, gt)
    return {"voi_split": split, "voi_merge": merge, "voi": split + merge,
            "adapted_rand_error": are}


__all__ = ["membrane_probability", "watershed_segment", "watershed_blockwise",
           "gt_instances_drosophila", "score_segmentation"]
