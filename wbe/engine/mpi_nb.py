"""``MPI_Allgather`` callable from numba-compiled code, so a multi-rank slice loop exchanges
spikes without returning to Python.

The call is bound by symbol name (``numba.types.ExternalFunction``), so functions using it are
cacheable (``numba.njit(cache=True)``); numba-mpi binds through ctypes function pointers, which
numba cannot cache, and recompiling the slice loop costs seconds in every run. The MPI library
is the one mpi4py loaded (found in ``/proc/self/maps`` and made visible to numba's linker with
``llvmlite.binding.load_library_permanently``); communicator and datatype handles are read from
mpi4py and passed as arguments.

Handles and buffer addresses are passed as pointer-sized integers. MPICH's handles are C
``int``: on the x86-64 and AArch64 calling conventions an ``int`` parameter reads the low 32
bits of its (64-bit) register or stack slot, so the pointer-sized value carries it exactly;
Open MPI's handles are pointers.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

from numba import types

_H = types.intp
allgather = types.ExternalFunction(
    "MPI_Allgather", types.int32(_H, types.int32, _H, _H, types.int32, _H, _H))
"""``allgather(send_addr, send_count, dtype, recv_addr, recv_count, dtype, comm)`` → MPI
error code (0 = success); addresses from ``array.ctypes.data``."""

_LOADED: list[str] = []


def _libmpi_path() -> str | None:
    try:
        lines = Path("/proc/self/maps").read_text().splitlines()
    except OSError:  # not Linux
        return None
    for line in lines:
        path = line.split()[-1] if line.split() else ""
        if "/libmpi" in path and ".so" in path and "libmpi_" not in Path(path).name:
            return path
    return None


def _handle(obj, kind) -> int:
    from mpi4py import MPI

    addr = MPI._addressof(obj)
    if MPI._sizeof(kind) == ctypes.sizeof(ctypes.c_int):
        return ctypes.c_int.from_address(addr).value
    return ctypes.c_void_p.from_address(addr).value or 0


def handles(comm) -> tuple[int, int] | None:
    """(communicator handle, MPI_INT64_T handle) for numba code calling :data:`allgather` on
    ``comm`` — or None where the MPI library cannot be located (the caller then exchanges
    from Python with mpi4py)."""
    from mpi4py import MPI

    if not _LOADED:
        path = _libmpi_path()
        if path is None:
            return None
        import llvmlite.binding as llb

        llb.load_library_permanently(path)
        _LOADED.append(path)
    return _handle(comm, MPI.Comm), _handle(MPI.INT64_T, MPI.Datatype)
