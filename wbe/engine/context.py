"""The context: where a simulation runs — the MPI communicator (or none) and how spikes travel
between ranks. Nothing here knows about models or networks.

:func:`context` picks a :class:`Serial` context, or an :class:`Mpi` one over the given
communicator (``MPI.COMM_WORLD`` when launched under MPI with more than one rank).
"""

from __future__ import annotations

import os
import sys

import numpy as np

from . import mpi_nb

#: (stamp, gid) pairs per rank sent in the fixed-size exchange of a slice
SPIKE_BLOCK = 256
#: multi-rank fused loops exchange spikes inside numba (:mod:`mpi_nb`); False forces mpi4py
NUMBA_EXCHANGE = True


class Serial:
    """One process: no communication."""

    rank, size = 0, 1
    comm = None
    nb_handles = None
    in_numba_exchange = False

    def allgatherv(self, a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a)

    def bcast(self, a: np.ndarray) -> np.ndarray:
        return a

    def barrier(self) -> None:
        pass

    def abort(self) -> None:  # pragma: no cover - serial errors just propagate
        pass


class Mpi:
    """Several ranks over an mpi4py communicator."""

    def __init__(self, comm) -> None:
        from mpi4py import MPI

        self.MPI, self.comm = MPI, comm
        self.rank, self.size = comm.Get_rank(), comm.Get_size()
        # handles for the exchange inside numba (None: MPI library not found → mpi4py path)
        self.nb_handles = mpi_nb.handles(comm) if NUMBA_EXCHANGE else None
        self.in_numba_exchange = self.nb_handles is not None

    def bcast(self, a: np.ndarray) -> np.ndarray:
        """Rank 0's int64 array ``a`` (same shape on every rank)."""
        a = np.ascontiguousarray(a, dtype=np.int64)
        self.comm.Bcast(a, root=0)
        return a

    def allgatherv(self, a: np.ndarray) -> np.ndarray:
        """Concatenation over ranks (rank order) of 1-D int64/float64 arrays."""
        a = np.ascontiguousarray(a)
        counts = np.empty(self.size, dtype=np.int64)
        self.comm.Allgather(np.array([a.size], dtype=np.int64), counts)
        out = np.empty(int(counts.sum()), dtype=a.dtype)
        displs = np.concatenate(([0], np.cumsum(counts)[:-1]))
        mpitype = self.MPI.INT64_T if a.dtype == np.int64 else self.MPI.DOUBLE
        self.comm.Allgatherv(a, [out, counts.tolist(), displs.tolist(), mpitype])
        return out

    def exchange_spikes(self, stamp: np.ndarray, gid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """All ranks' (stamp, gid) pairs, concatenated in rank order. One Allgather of a
        fixed-size block (count + up to ``SPIKE_BLOCK`` pairs) per slice; only when some rank
        has more spikes does a second collective (Allgatherv) follow."""
        k = SPIKE_BLOCK
        n = stamp.size
        buf = np.empty(1 + 2 * k, dtype=np.int64)
        buf[0] = n
        m = min(n, k)
        buf[1:1 + m] = stamp[:m]
        buf[1 + k:1 + k + m] = gid[:m]
        out = np.empty((self.size, 1 + 2 * k), dtype=np.int64)
        self.comm.Allgather(buf, out)
        counts = out[:, 0]
        if counts.max() <= k:
            gs = np.concatenate([out[r, 1:1 + counts[r]] for r in range(self.size)])
            gg = np.concatenate([out[r, 1 + k:1 + k + counts[r]] for r in range(self.size)])
            return gs, gg
        pairs = self.allgatherv(np.column_stack((stamp, gid)).ravel()).reshape(-1, 2)
        return pairs[:, 0].copy(), pairs[:, 1].copy()

    def barrier(self) -> None:
        self.comm.Barrier()

    def abort(self) -> None:
        self.comm.Abort(1)


def launched_by_mpi() -> bool:
    """Whether an MPI launcher started this process (its environment variables are set)."""
    return any(k in os.environ for k in ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK",
                                         "MPI_LOCALNRANKS", "HYDRA_CONTROL_FD"))


def context(comm=None) -> Serial | Mpi:
    """The context for ``comm`` (an mpi4py communicator), or for ``MPI.COMM_WORLD`` when this
    process runs under MPI with more than one rank; else serial."""
    if comm is not None:
        return Mpi(comm) if comm.Get_size() > 1 else Serial()
    if "mpi4py" in sys.modules or launched_by_mpi():
        try:
            from mpi4py import MPI
        except ImportError:
            return Serial()
        if MPI.COMM_WORLD.Get_size() > 1:
            return Mpi(MPI.COMM_WORLD)
    return Serial()
