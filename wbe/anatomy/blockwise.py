"""Block-wise processing with Dask: blocks of a chunked volume, blocks of space for point sets,
and the scheduler that runs them.

The stages that can outgrow memory (segmentation of a dense volume, touch detection between the
skeletons of a dense segmentation) split their work into blocks with this module and merge the
blocks' results so that the merged result equals the whole-volume computation exactly (see
:func:`wbe.anatomy.segmentation.relabel_blockwise`, :func:`wbe.anatomy.watershed.watershed_blockwise` and
:func:`wbe.connectome.touches.contacts_blockwise` for why each is exact). Here live the pieces they
share:

* :func:`block_slices` — a regular grid of voxel blocks aligned to a Zarr array's chunks;
* :func:`open_volume` — a Zarr array (by path: a worker opens it itself) or an in-memory array;
* :func:`merge_pairs` — union of equivalent ids (scipy's connected components on the pair
  graph), each id mapped to the smallest id of its set;
* :func:`point_blocks` and :func:`box_distance` — a grid of cubes over points, and the distance
  of points to a box (for halos);
* :func:`compute` — run a list of ``dask.delayed`` tasks with a tqdm progress bar on the chosen
  scheduler.

Schedulers (:func:`compute`): a ``distributed.Client`` passed in, else the client that is
current in this process (a ``LocalCluster`` or a dask-jobqueue ``SLURMCluster`` made with
:func:`wbe.pipeline.cluster.make_client`), else a client connected to ``DASK_SCHEDULER_ADDRESS`` when that
is set, else Dask's local ``processes`` scheduler with ``workers`` processes (``synchronous``
when ``workers`` is 1). Tasks open Zarr arrays by path, so on a cluster every worker must see
the same file system (as SLURM clusters do).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

#: Environment variable naming a running Dask scheduler (``tcp://host:8786``) to compute on.
SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"


# --------------------------------------------------------------------------------------------
# volumes


def open_volume(source: Any, mode: str = "r"):
    """An array-like (z, y, x) to slice blocks from (or, with ``mode="r+"``, write blocks to):
    ``source`` itself when it is an array (NumPy or an open Zarr array), else the Zarr array at
    the path ``source``."""
    if isinstance(source, (str, os.PathLike)):
        import zarr

        return zarr.open_array(str(source), mode=mode)
    return source


def block_shape_for(shape: Sequence[int], block: Sequence[int] | None,
                    chunks: Sequence[int] | None = None) -> tuple[int, int, int]:
    """The block shape actually used: ``block`` (None: the whole volume) clipped to ``shape``
    and, when ``chunks`` is given, rounded up to a multiple of the chunk shape so that no two
    blocks ever write the same Zarr chunk."""
    shape = tuple(int(s) for s in shape)
    b = list(shape if block is None else (int(v) for v in block))
    if len(b) != len(shape) or any(v < 1 for v in b):
        raise ValueError(f"block shape {block} must have {len(shape)} positive sizes")
    if chunks is not None:
        b = [-(-v // int(c)) * int(c) for v, c in zip(b, chunks)]
    return tuple(max(1, min(v, s)) for v, s in zip(b, shape))  # type: ignore[return-value]


def block_slices(shape: Sequence[int], block: Sequence[int]) -> list[tuple[slice, ...]]:
    """Every block of a regular grid of ``block``-shaped boxes over ``shape`` (the last block of
    an axis may be smaller), in C order of the block index."""
    ranges = [[slice(s, min(s + b, n)) for s in range(0, n, b)] for n, b in zip(shape, block)]
    return [tuple(t) for t in itertools.product(*ranges)]


def create_like(path: str | Path, shape: Sequence[int], dtype, chunks: Sequence[int],
                attrs: dict | None = None):
    """Create an empty Zarr v3 array at ``path`` (overwriting) with ``chunks``; returns it."""
    import zarr

    arr = zarr.create_array(store=str(path), shape=tuple(int(s) for s in shape), dtype=dtype,
                            chunks=tuple(int(c) for c in chunks), zarr_format=3, overwrite=True,
                            fill_value=0)
    if attrs:
        arr.attrs.update(attrs)
    return arr


# --------------------------------------------------------------------------------------------
# merging ids


def merge_pairs(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Ids 0..n-1 joined where (a[k], b[k]) are equivalent; returns ``root`` (n,) with every id
    mapped to the smallest id of its set (exactly what a union-find with min-roots gives, in
    any order of the pairs)."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    if len(a) == 0:
        return np.arange(n, dtype=np.int64)
    g = coo_matrix((np.ones(len(a), np.int8), (a, b)), shape=(n, n)).tocsr()
    _, comp = connected_components(g, directed=False)
    smallest = np.full(comp.max() + 1, n, np.int64)
    np.minimum.at(smallest, comp, np.arange(n, dtype=np.int64))
    return smallest[comp]


# --------------------------------------------------------------------------------------------
# blocks of space over points


def point_blocks(xyz: np.ndarray, block_size: float, origin: np.ndarray | None = None
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cubes of edge ``block_size`` over points ``xyz`` (n, 3): every point belongs to exactly
    one cube, the one whose half-open box [lo, lo + size) holds it.

    Returns (block index of each point (n,) into the returned blocks, blocks' integer grid
    coordinates (m, 3) in C order, grid origin (3,)). Only non-empty blocks are returned."""
    xyz = np.asarray(xyz, float)
    if block_size <= 0:
        raise ValueError(f"block size must be > 0, got {block_size}")
    if origin is None:
        origin = np.floor(xyz.min(0) / block_size) * block_size if len(xyz) else np.zeros(3)
    cell = np.floor((xyz - origin) / block_size).astype(np.int64)
    grid, inverse = np.unique(cell, axis=0, return_inverse=True)
    return inverse.reshape(-1).astype(np.int64), grid, np.asarray(origin, float)


def box_distance(xyz: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Euclidean distance of points ``xyz`` (n, 3) to the axis-aligned box [lo, hi] (0 inside)."""
    d = np.maximum(np.maximum(lo - xyz, xyz - hi), 0.0)
    return np.sqrt((d * d).sum(1))


# --------------------------------------------------------------------------------------------
# scheduling


def _active_client(scheduler: Any = None) -> tuple[Any, bool]:
    """(distributed client to use or None for a local Dask scheduler, whether we opened it)."""
    if scheduler is not None and not isinstance(scheduler, str):
        return scheduler, False  # a distributed.Client
    if isinstance(scheduler, str):
        return None, False
    try:
        from distributed import default_client

        return default_client(), False
    except (ImportError, ValueError):
        pass
    address = os.environ.get(SCHEDULER_ENV)
    if address:
        from distributed import Client

        return Client(address), True
    return None, False


def compute(tasks: list, *, scheduler: Any = None, workers: int = 1, progress: bool = False,
            desc: str = "blocks") -> list:
    """Compute ``tasks`` (``dask.delayed`` objects) and return their results in order.

    ``scheduler``: a ``distributed.Client``, or one of Dask's local scheduler names
    (``"synchronous"``, ``"threads"``, ``"processes"``), or None (see the module doc). A tqdm
    bar counts finished tasks when ``progress``."""
    import dask
    from tqdm import tqdm

    if not tasks:
        return []
    client, owned = _active_client(scheduler)
    if client is not None:
        from distributed import as_completed

        try:
            futures = client.compute(list(tasks))
            with tqdm(total=len(futures), desc=desc, unit="task", disable=not progress) as bar:
                for _ in as_completed(futures):
                    bar.update(1)
            return client.gather(futures)
        finally:
            if owned:
                client.close()
    name = scheduler or ("processes" if workers > 1 else "synchronous")
    from dask.callbacks import Callback

    class _Bar(Callback):
        def _start_state(self, dsk, state):
            self.bar = tqdm(total=len(dsk), desc=desc, unit="task", disable=not progress)

        def _posttask(self, key, result, dsk, state, worker_id):
            self.bar.update(1)

        def _finish(self, dsk, state, errored):
            self.bar.close()

    kwargs = {"num_workers": workers} if name in ("processes", "threads") else {}
    with _Bar():
        return list(dask.compute(*tasks, scheduler=name, **kwargs))


__all__ = ["open_volume", "block_shape_for", "block_slices", "create_like", "merge_pairs",
           "point_blocks", "box_distance", "compute", "SCHEDULER_ENV"]
