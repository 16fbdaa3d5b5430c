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
    Membrane probability and a seeded watershed per section, linked across sections:
    :mod:`wbe.anatomy.watershed`.

Block-wise (``block_voxels``): both methods run block by block with Dask over the chunked Zarr
volume and give the same labels as the whole-volume functions, which stay as the reference.
``relabel`` (:func:`relabel_blockwise`) labels each block with cc3d and joins components across
block faces by union-find on face-neighbour voxels of equal input label; ``watershed``
(:func:`wbe.anatomy.watershed.watershed_blockwise`) runs z-slabs (all of y and x, since seeds
and flooding are not local in the plane) with a one-section halo for the linking, then the
block-wise relabelling.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np

from wbe.anatomy.blockwise import (
    block_shape_for,
    block_slices,
    compute,
    create_like,
    merge_pairs,
    open_volume,
)

# --------------------------------------------------------------------------------------------
# relabel


def _name_components(
    ids: np.ndarray, parent: np.ndarray, sizes: np.ndarray, first: np.ndarray,
    names: dict[int, str] | None, min_size_voxels: int, fragments: str,
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, str, int]]]:
    """The naming and numbering rule of :func:`relabel_components`, on a table of components
    (``ids``, their ``parent`` label, voxel count ``sizes`` and ``first`` = flat C-order index
    of their first voxel, which orders ties as cc3d's raster-order numbering does).

    Returns (component ids that keep a label, their new labels, rows (label, name, voxels))."""
    if fragments not in ("split", "merge", "drop"):
        raise ValueError(f"fragments must be split, merge or drop, got {fragments!r}")
    ids, parent = np.asarray(ids, np.int64), np.asarray(parent, np.int64)
    sizes, first = np.asarray(sizes, np.int64), np.asarray(first, np.int64)
    keep = sizes >= max(min_size_voxels, 1)
    comps, par, sz, fst = ids[keep], parent[keep], sizes[keep], first[keep]
    # rank within parent by decreasing size (ties: first voxel)
    order = np.lexsort((fst, -sz, par))
    comps, par, sz, fst = comps[order], par[order], sz[order], fst[order]
    rank = np.zeros(len(comps), int)
    if len(comps):
        starts = np.r_[True, par[1:] != par[:-1]]
        grp = np.cumsum(starts) - 1
        first_of_grp = np.flatnonzero(starts)
        rank = np.arange(len(comps)) - first_of_grp[grp]
    entries: list[list] = []  # [name, size, first voxel, component ids]
    merged: dict[int, list] = {}
    for c, p, s, f, k in zip(comps.tolist(), par.tolist(), sz.tolist(), fst.tolist(),
                             rank.tolist()):
        base = names.get(p, str(p)) if names else str(p)
        if k == 0:
            entries.append([base, s, f, [c]])
            merged[p] = entries[-1]
        elif fragments == "split":
            entries.append([f"{base}~{k + 1}", s, f, [c]])
        elif fragments == "merge":
            merged[p][1] += s
            merged[p][3].append(c)
        # drop: nothing
    entries.sort(key=lambda e: (e[0], -e[1], e[2]))
    old, new, rows = [], [], []
    for lab, (name, s, _f, cs) in enumerate(entries, start=1):
        old.extend(cs)
        new.extend([lab] * len(cs))
        rows.append((lab, name, int(s)))
    return np.asarray(old, np.int64), np.asarray(new, np.int64), rows


def relabel_components(
    labels: np.ndarray, names: dict[int, str] | None = None, *, min_size_voxels: int = 20,
    connectivity: int = 26, fragments: str = "split",
) -> tuple[np.ndarray, list[tuple[int, str, int]]]:
    """Split every label of ``labels`` (z,y,x uint) into connected components and renumber.

    Returns (new uint32 labels, rows (label, name, voxels) sorted by label). ``names`` maps old
    label → name (default ``str(label)``). See the module doc for ``fragments``. The whole
    volume is held in memory; :func:`relabel_blockwise` gives the same labels block by block.
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
    ids, first, sizes = fastremap.unique(cc, return_index=True, return_counts=True)
    fg = ids > 0
    ids, first, sizes = ids[fg], first[fg], sizes[fg]
    parent = labels.reshape(-1)[first]
    old, new, rows = _name_components(ids, parent, sizes, first, names, min_size_voxels,
                                      fragments)
    # everything not mapped (small or dropped components) → 0
    full = dict.fromkeys(range(n + 1), 0)
    full.update(zip(old.tolist(), new.tolist()))
    out = fastremap.remap(cc, full, preserve_missing_labels=False, in_place=True)
    out = out.astype(np.uint32, copy=False)
    return out, rows


# --------------------------------------------------------------------------------------------
# block-wise relabelling
#
# Exactness: each block is labelled by cc3d on its own; two block components are the same
# global component exactly when some pair of voxels, one in each, are neighbours under the
# chosen connectivity and carry the same input label. Every such pair straddles a block face;
# it lies in the two-voxel slab across the face of the block holding its upper voxel, widened
# by one voxel along the face (that catches edge and corner neighbours in the next blocks), so
# scanning every block's lower faces finds all of them. The union of the equivalent block
# components (merge_pairs) is then the whole-volume component partition; sizes add up, the
# first voxel is the smallest first voxel, and the naming rule (_name_components) sees the same
# table as relabel_components does — so the labels are identical, not only the partition.

_NEIGHBOURS = {  # in-plane offsets of the next plane's neighbours, by 3-D connectivity
    6: [(0, 0)],
    18: [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)],
    26: [(du, dv) for du in (-1, 0, 1) for dv in (-1, 0, 1)],
}
_BLOCK_BITS = 32  # provisional id = block number << 32 | component id within the block


class SectionLinks:
    """Maps per-section watershed ids (``watershed_blockwise``'s temporary volume) to the
    linked 3-D ids: ``root[offset[z] + id]`` for id > 0 (picklable for Dask workers)."""

    def __init__(self, offset: np.ndarray, root: np.ndarray) -> None:
        self.offset = np.asarray(offset, np.int64)
        self.root = np.asarray(root, np.int64)

    def __call__(self, block: np.ndarray, sl: tuple[slice, ...]) -> np.ndarray:
        z = np.arange(sl[0].start, sl[0].stop)
        glob = block.astype(np.int64) + self.offset[z][:, None, None]
        return np.where(block > 0, self.root[glob], 0).astype(np.uint64)


def _read_block(source, sl: tuple[slice, ...], transform=None) -> np.ndarray:
    block = np.ascontiguousarray(open_volume(source)[sl])
    return transform(block, sl) if transform is not None else block


def _face_paths(work: str) -> dict[tuple[int, str], str]:
    return {(ax, kind): f"{work}/face{ax}_{kind}.zarr" for ax in range(3)
            for kind in ("prov", "lab")}


def _relabel_pass1(source, work: str, sl: tuple[slice, ...], block: tuple[int, ...],
                   block_id: int, shape: tuple[int, ...], connectivity: int,
                   transform=None) -> dict:
    """cc3d on one block; writes provisional ids (block << 32 | id) to ``work/prov.zarr``, the
    block's first and last plane along each axis (ids and input labels) to the face arrays,
    and returns the block's component table."""
    import cc3d
    import fastremap

    lab = _read_block(source, sl, transform)
    cc, n = cc3d.connected_components(lab, connectivity=connectivity, return_N=True,
                                      out_dtype=np.uint32)
    ids, first, sizes = fastremap.unique(cc, return_index=True, return_counts=True)
    fg = ids > 0
    ids, first, sizes = ids[fg], first[fg], sizes[fg]
    parent = lab.reshape(-1)[first].astype(np.int64)
    local = np.unravel_index(first, lab.shape)
    glob = np.ravel_multi_index(tuple(lo + s.start for lo, s in zip(local, sl)), shape)
    prov = cc.astype(np.uint64)
    prov[cc > 0] |= np.uint64(block_id) << np.uint64(_BLOCK_BITS)
    open_volume(f"{work}/prov.zarr", mode="r+")[sl] = prov
    faces = _face_paths(work)
    for ax in range(3):
        k = sl[ax].start // block[ax]
        region = tuple(slice(2 * k, 2 * k + 2) if a == ax else sl[a] for a in range(3))
        for kind, vol in (("prov", prov), ("lab", lab)):
            planes = np.take(vol, [0, vol.shape[ax] - 1], axis=ax).astype(np.uint64)
            open_volume(faces[(ax, kind)], mode="r+")[region] = planes
    return {"n": int(n), "ids": ids.astype(np.int64), "sizes": sizes.astype(np.int64),
            "parent": parent, "first": glob.astype(np.int64)}


def _relabel_stitch(work: str, sl: tuple[slice, ...], block: tuple[int, ...],
                    shape: tuple[int, ...], connectivity: int) -> np.ndarray:
    """Equivalent provisional id pairs across the lower faces of one block (k, 2) uint64: the
    last plane of the block below and this block's first plane, one voxel wider on each side
    along the face, read from the face arrays that pass 1 wrote."""
    faces = _face_paths(work)
    out = [np.zeros((0, 2), np.uint64)]
    for ax in range(3):
        k = sl[ax].start // block[ax]
        if k == 0:
            continue
        region = tuple(slice(2 * k - 1, 2 * k + 1) if a == ax else
                       slice(max(sl[a].start - 1, 0), min(sl[a].stop + 1, shape[a]))
                       for a in range(3))
        lab = np.moveaxis(np.asarray(open_volume(faces[(ax, "lab")])[region]), ax, 0)
        prov = np.moveaxis(np.asarray(open_volume(faces[(ax, "prov")])[region]), ax, 0)
        (lp, lq), (pp, pq) = lab, prov
        # the two planes' ids, numbered densely so that a pair is one int64 code
        uniq, inv = np.unique(prov, return_inverse=True)
        inv = inv.reshape(prov.shape).astype(np.int64)
        ip, iq = inv
        nu, nv = lp.shape
        codes = []
        for du, dv in _NEIGHBOURS[connectivity]:
            a_u = slice(max(0, -du), nu - max(0, du))
            a_v = slice(max(0, -dv), nv - max(0, dv))
            b_u = slice(max(0, du), nu - max(0, -du))
            b_v = slice(max(0, dv), nv - max(0, -dv))
            m = (pp[a_u, a_v] > 0) & (pq[b_u, b_v] > 0) & (lp[a_u, a_v] == lq[b_u, b_v])
            codes.append(ip[a_u, a_v][m] * len(uniq) + iq[b_u, b_v][m])
        codes = np.unique(np.concatenate(codes))
        out.append(np.stack([uniq[codes // len(uniq)], uniq[codes % len(uniq)]], 1))
    return np.concatenate(out)


def _relabel_write(prov_path: str, out_path: str, sl: tuple[slice, ...], offset: np.ndarray,
                   lut: np.ndarray) -> None:
    """Final labels of one block: provisional id → dense id → label through ``lut``."""
    prov = np.asarray(open_volume(prov_path)[sl])
    blk = (prov >> np.uint64(_BLOCK_BITS)).astype(np.int64)
    local = (prov & np.uint64(0xFFFFFFFF)).astype(np.int64)
    fg = local > 0
    out = np.zeros(prov.shape, np.uint32)
    out[fg] = lut[offset[blk[fg]] + local[fg] - 1]
    open_volume(out_path, mode="r+")[sl] = out


def relabel_blockwise(
    source, out_path: str | Path, names: dict[int, str] | None = None, *,
    block_voxels: tuple[int, int, int] | list[int] | None = None, min_size_voxels: int = 20,
    connectivity: int = 26, fragments: str = "split", chunks: tuple[int, ...] | None = None,
    attrs: dict | None = None, transform=None, scheduler=None, workers: int = 1,
    progress: bool = False,
) -> list[tuple[int, str, int]]:
    """:func:`relabel_components` block by block with Dask, writing a uint32 Zarr array at
    ``out_path`` (chunks ``chunks``, default the source's; attrs ``attrs``).

    ``source``: a Zarr path (what workers of a cluster need) or an array. Blocks are
    ``block_voxels`` (z, y, x) rounded up to whole chunks; peak memory is a few copies of one
    block plus one integer per component. The labels equal :func:`relabel_components`' exactly
    (see the comment above for why). ``transform(block, slices)`` maps each block read from
    ``source`` first (used by :func:`wbe.anatomy.watershed.watershed_blockwise`). Returns rows as
    :func:`relabel_components`."""
    import dask

    if fragments not in ("split", "merge", "drop"):
        raise ValueError(f"fragments must be split, merge or drop, got {fragments!r}")
    if connectivity not in _NEIGHBOURS:
        raise ValueError(f"connectivity must be 6, 18 or 26, got {connectivity}")
    src = open_volume(source)
    shape = tuple(int(s) for s in src.shape)
    if chunks is None:
        chunks = tuple(int(c) for c in getattr(src, "chunks", None) or
                       block_shape_for(shape, block_voxels))
    block = block_shape_for(shape, block_voxels, chunks)
    if np.prod([-(-s // b) for s, b in zip(shape, block)]) >= 2 ** (64 - _BLOCK_BITS):
        raise ValueError(f"too many blocks of {block} in {shape}")
    if np.prod(block) >= 2 ** _BLOCK_BITS:
        raise ValueError(f"blocks of {block} voxels exceed 2**32 voxels")
    out_path = Path(out_path)
    work = out_path.with_name(f".{out_path.name}.blockwise")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    prov_path = work / "prov.zarr"
    blocks = block_slices(shape, block)
    try:
        create_like(prov_path, shape, np.uint64, chunks)
        n_blocks = [-(-s // b) for s, b in zip(shape, block)]
        for (ax, _kind), path in _face_paths(str(work)).items():
            fshape = [2 * n_blocks[a] if a == ax else shape[a] for a in range(3)]
            create_like(path, fshape, np.uint64, [1 if a == ax else block[a] for a in range(3)])
        src_d = source if isinstance(source, (str, os.PathLike)) else dask.delayed(source)
        tf_d = dask.delayed(transform) if transform is not None else None
        d = [dask.delayed(_relabel_pass1, pure=True)(src_d, str(work), sl, block, b, shape,
                                                     connectivity, tf_d)
             for b, sl in enumerate(blocks)]
        tables = compute(d, scheduler=scheduler, workers=workers, progress=progress,
                         desc="relabel blocks")
        d = [dask.delayed(_relabel_stitch, pure=True)(str(work), sl, block, shape,
                                                      connectivity) for sl in blocks]
        pairs = compute(d, scheduler=scheduler, workers=workers, progress=progress,
                        desc="stitch faces")
        counts = np.asarray([t["n"] for t in tables], np.int64)
        offset = np.r_[0, np.cumsum(counts)[:-1]].astype(np.int64)
        n = int(counts.sum())
        pairs = np.concatenate(pairs) if pairs else np.zeros((0, 2), np.uint64)

        def dense(p: np.ndarray) -> np.ndarray:
            return offset[(p >> np.uint64(_BLOCK_BITS)).astype(np.int64)] + \
                (p & np.uint64(0xFFFFFFFF)).astype(np.int64) - 1

        root = merge_pairs(n, dense(pairs[:, 0]), dense(pairs[:, 1]))
        ids = np.concatenate([t["ids"] for t in tables]) if tables else np.zeros(0, np.int64)
        blk = np.repeat(np.arange(len(tables)), [len(t["ids"]) for t in tables])
        dense_ids = offset[blk] + ids - 1 if len(ids) else ids
        sizes = np.zeros(n, np.int64)
        first = np.full(n, np.iinfo(np.int64).max, np.int64)
        parent = np.zeros(n, np.int64)
        if len(ids):
            r = root[dense_ids]
            np.add.at(sizes, r, np.concatenate([t["sizes"] for t in tables]))
            np.minimum.at(first, r, np.concatenate([t["first"] for t in tables]))
            parent[r] = np.concatenate([t["parent"] for t in tables])
        roots = np.flatnonzero(root == np.arange(n))
        old, new, rows = _name_components(roots, parent[roots], sizes[roots], first[roots],
                                          names, min_size_voxels, fragments)
        lut_root = np.zeros(n, np.int64)
        lut_root[old] = new
        lut = lut_root[root]
        create_like(out_path, shape, np.uint32, chunks, attrs)
        lut_d, off_d = dask.delayed(lut), dask.delayed(offset)
        d = [dask.delayed(_relabel_write, pure=True)(str(prov_path), str(out_path), sl, off_d,
                                                     lut_d) for sl in blocks]
        compute(d, scheduler=scheduler, workers=workers, progress=progress,
                desc="write labels")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows


__all__ = ["relabel_components", "relabel_blockwise", "SectionLinks"]
