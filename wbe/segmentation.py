"""Segmentation stage: instance labels from the imaging volume.

Methods
-------
``relabel`` (label volumes, e.g. voxelised c302 cells or a published segmentation)
    Each label is split into 3-D connected components (cc3d, ``connectivity``); components
    smaller than ``min_size_voxels`` are dropped; the largest component of a label keeps the
    label's name. What happens to the other components is ``fragments``:
    ``split`` (default) keeps each as its own segment named ``<name>~2``, ``<name>~3``, ... in
    order of decreasing size (the connectome stage merges ``~k`` fragments back by name);
    ``merge`` keeps them under the parent's label and name (one segment, several pieces);
    ``drop`` sets them to background. Labels are renumbered 1..N consecutively (fastremap) in
    order of (name, size).
``watershed`` (raw EM)
    Membrane probability per section from scikit-image filters — Gaussian smoothing, then the
    Sato ridge filter for dark ridges (membranes are dark in TEM), rescaled to [0, 1] by
    robust percentiles and blended with the inverted, normalised intensity — then a seeded
    watershed: seeds are the maxima of the in-plane distance transform of the non-membrane
    mask (threshold ``membrane_threshold``), flooding the membrane probability per section (the
    ssTEM sections are ~10× thicker than the pixels); regions of adjacent sections are then
    linked into 3-D instances where they overlap (see :func:`watershed_segment`).
    ``score_segmentation`` scores against ground truth with variation of information and the
    adapted Rand error (skimage.metrics).
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from wbe.imaging import read_label_names, read_volume, write_volume


class Params(BaseModel):
    """Parameters of the segmentation stage."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["auto", "relabel", "watershed"] = Field(
        "auto", description="relabel for label volumes, watershed for raw EM; auto picks by the "
        "volume's kind attribute"
    )
    min_size_voxels: int = Field(
        20, description="connected components smaller than this (voxels) are dropped", ge=0
    )
    connectivity: Literal[6, 18, 26] = Field(
        26, description="3-D voxel connectivity for connected components (faces/edges/corners)"
    )
    fragments: Literal["split", "merge", "drop"] = Field(
        "split", description="fate of the non-largest components of a label (see module doc)"
    )
    sigma_px: float = Field(
        3.0, description="watershed: Gaussian smoothing sigma in pixels (in-plane)", ge=0
    )
    ridge_sigmas_px: list[float] = Field(
        [3.0, 5.0], description="watershed: Sato ridge filter scales in pixels (in-plane)"
    )
    ridge_weight: float = Field(
        0.5, description="watershed: weight of the ridge filter vs inverted intensity (0..1)",
        ge=0, le=1,
    )
    membrane_threshold: float = Field(
        0.6, description="watershed: membrane probability above which a pixel is membrane (0..1)",
        ge=0, le=1,
    )
    seed_min_distance_px: int = Field(
        25, description="watershed: minimum distance in pixels between seeds in a section", ge=1
    )
    seed_min_depth_px: float = Field(
        12.0, description="watershed: distance-transform value (pixels) a seed must exceed", ge=0
    )
    compactness: float = Field(0.0, description="watershed: compactness (0 = classic)", ge=0)


# --------------------------------------------------------------------------------------------
# relabel


def relabel_components(
    labels: np.ndarray, names: dict[int, str] | None = None, *, min_size_voxels: int = 20,
    connectivity: int = 26, fragments: str = "split",
) -> tuple[np.ndarray, list[tuple[int, str, int]]]:
    """Split every label of ``labels`` (z,y,x uint) into connected components and renumber.

    Returns (new uint32 labels, rows (label, name, voxels) sorted by label). ``names`` maps old
    label → name (default ``str(label)``). See the module doc for ``fragments``.
    """
    import cc3d
    import fastremap

    if fragments not in ("split", "merge", "drop"):
        raise ValueError(f"fragments must be split, merge or drop, got {fragments!r}")
    labels = np.ascontiguousarray(labels)
    cc, n = cc3d.connected_components(labels, connectivity=connectivity, return_N=True,
                                      out_dtype=np.uint32)
    if n == 0:
        return np.zeros(labels.shape, np.uint32), []
    stats = cc3d.statistics(cc)
    sizes = np.asarray(stats["voxel_counts"], np.int64)  # index = component id (0 = bg)
    # parent label of each component: the value at any of its voxels
    flat_cc = cc.reshape(-1)
    flat_lab = labels.reshape(-1)
    first = np.zeros(n + 1, np.int64)
    nz = np.flatnonzero(flat_cc)
    comp_ids, idx = np.unique(flat_cc[nz], return_index=True)
    first[comp_ids] = nz[idx]
    parent = flat_lab[first].astype(np.int64)
    parent[0] = 0
    comps = np.arange(1, n + 1)
    keep = sizes[1:] >= max(min_size_voxels, 1)
    comps, par, sz = comps[keep], parent[1:][keep], sizes[1:][keep]
    # rank within parent by decreasing size (ties: lower component id)
    order = np.lexsort((comps, -sz, par))
    comps, par, sz = comps[order], par[order], sz[order]
    rank = np.zeros(len(comps), int)
    if len(comps):
        starts = np.r_[True, par[1:] != par[:-1]]
        grp = np.cumsum(starts) - 1
        first_of_grp = np.flatnonzero(starts)
        rank = np.arange(len(comps)) - first_of_grp[grp]
    entries: list[list] = []  # [name, size, first component id, component ids]
    merged: dict[int, list] = {}
    for c, p, s, k in zip(comps.tolist(), par.tolist(), sz.tolist(), rank.tolist()):
        base = names.get(p, str(p)) if names else str(p)
        if k == 0:
            entries.append([base, s, c, [c]])
            merged[p] = entries[-1]
        elif fragments == "split":
            entries.append([f"{base}~{k + 1}", s, c, [c]])
        elif fragments == "merge":
            merged[p][1] += s
            merged[p][3].append(c)
        # drop: nothing
    entries.sort(key=lambda e: (e[0], -e[1], e[2]))
    mapping = {0: 0}
    rows = []
    for new, (name, s, _c, cs) in enumerate(entries, start=1):
        for c in cs:
            mapping[c] = new
        rows.append((new, name, int(s)))
    # everything not mapped (small or dropped components) → 0
    full = dict.fromkeys(range(n + 1), 0)
    full.update(mapping)
    out = fastremap.remap(cc, full, preserve_missing_labels=False, in_place=True)
    out = out.astype(np.uint32, copy=False)
    return out, rows


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


def watershed_segment(
    prob: np.ndarray, *, membrane_threshold: float = 0.6, seed_min_distance_px: int = 25,
    seed_min_depth_px: float = 12.0, compactness: float = 0.0, link_3d: bool = True,
    link_min_overlap: float = 0.5,
) -> np.ndarray:
    """Seeded watershed of a membrane probability ``prob`` (z, y, x) → uint32 instance labels.

    Per section: seeds are local maxima of the distance transform of
    ``prob < membrane_threshold`` (at least ``seed_min_distance_px`` apart, deeper than
    ``seed_min_depth_px`` pixels); the section's probability is flooded from them (2-D
    watershed; anisotropic ssTEM sections are 10× thicker than pixels). With ``link_3d``
    regions of adjacent sections are joined (union-find) when their overlap covers at least
    ``link_min_overlap`` of the smaller of the two regions — pairs are visited in order of
    decreasing overlap and each region links at most one region per neighbouring section.
    """
    from scipy import ndimage as ndi
    from skimage.feature import peak_local_max
    from skimage.segmentation import watershed

    prob = np.asarray(prob, np.float32)
    fg = prob < membrane_threshold
    lab = np.zeros(prob.shape, np.int64)
    nxt = 0
    for z in range(prob.shape[0]):
        dt = ndi.distance_transform_edt(fg[z])
        pk = peak_local_max(dt, min_distance=seed_min_distance_px,
                            threshold_abs=seed_min_depth_px, exclude_border=False)
        markers = np.zeros(prob.shape[1:], np.int64)
        markers[pk[:, 0], pk[:, 1]] = np.arange(1, len(pk) + 1) + nxt
        if len(pk):
            lab[z] = watershed(prob[z], markers=markers, compactness=compactness)
        nxt += len(pk)
    if not link_3d or prob.shape[0] < 2 or nxt == 0:
        return lab.astype(np.uint32)
    size = np.bincount(lab.ravel(), minlength=nxt + 1)
    root = np.arange(nxt + 1)

    def find(u: int) -> int:
        while root[u] != u:
            root[u] = root[root[u]]
            u = root[u]
        return u

    for z in range(prob.shape[0] - 1):
        a, b = lab[z].ravel(), lab[z + 1].ravel()
        m = (a > 0) & (b > 0)
        pair, cnt = np.unique(a[m] * (nxt + 1) + b[m], return_counts=True)
        pa, pb = pair // (nxt + 1), pair % (nxt + 1)
        frac = cnt / np.minimum(size[pa], size[pb])
        used_a, used_b = set(), set()
        for k in np.argsort(-frac, kind="stable").tolist():
            if frac[k] < link_min_overlap:
                break
            u, w = int(pa[k]), int(pb[k])
            if u in used_a or w in used_b:
                continue
            used_a.add(u)
            used_b.add(w)
            ru, rw = find(u), find(w)
            if ru != rw:
                root[max(ru, rw)] = min(ru, rw)
    final = np.array([find(u) for u in range(nxt + 1)])
    return final[lab].astype(np.uint32)


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


# --------------------------------------------------------------------------------------------


def _write_segments(path: Path, rows: list[tuple[int, str, int]]) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["label", "name", "voxels"])
        w.writerows(rows)


def run(params: Params, inputs: dict[str, Path], out_dir: Path, *, progress: bool = True) -> dict:
    """Write ``labels.zarr`` and ``segments.csv`` from the imaging output ``inputs['imaging']``."""
    out_dir = Path(out_dir)
    t0 = time.perf_counter()
    img = Path(inputs["imaging"])
    vol, attrs = read_volume(img / "volume.zarr")
    method = params.method
    if method == "auto":
        method = "relabel" if attrs.get("kind") == "labels" else "watershed"
    if method == "relabel":
        if not np.issubdtype(vol.dtype, np.integer):
            raise ValueError(f"{img / 'volume.zarr'}: relabel needs integer labels, got {vol.dtype}")
        names_file = img / "label_names.csv"
        names = read_label_names(names_file) if names_file.exists() else None
        labels, rows = relabel_components(
            vol, names, min_size_voxels=params.min_size_voxels,
            connectivity=params.connectivity, fragments=params.fragments,
        )
        n_in = int((np.unique(vol) > 0).sum())
        summary = {"method": method, "n_input_labels": n_in,
                   "n_fragments": sum("~" in r[1] for r in rows)}
    else:
        prob = membrane_probability(vol, sigma_px=params.sigma_px,
                                    ridge_sigmas_px=tuple(params.ridge_sigmas_px),
                                    ridge_weight=params.ridge_weight)
        labels = watershed_segment(
            prob, membrane_threshold=params.membrane_threshold,
            seed_min_distance_px=params.seed_min_distance_px,
            seed_min_depth_px=params.seed_min_depth_px, compactness=params.compactness,
        )
        labels, rows = relabel_components(labels, None, min_size_voxels=params.min_size_voxels,
                                          connectivity=params.connectivity, fragments="drop")
        summary = {"method": method}
    out_attrs = {**attrs, "kind": "labels"}
    write_volume(out_dir / "labels.zarr", labels, out_attrs)
    _write_segments(out_dir / "segments.csv", rows)
    summary.update(n_segments=len(rows), labelled_voxels=int(sum(r[2] for r in rows)),
                   wall_s=round(time.perf_counter() - t0, 3))
    return summary


__all__ = ["Params", "run", "relabel_components", "membrane_probability", "watershed_segment",
           "gt_instances_drosophila", "score_segmentation"]
