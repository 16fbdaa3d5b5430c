"""MPI context: the communicator when launched by an MPI launcher, else serial.

mpi4py is imported only when a launcher's environment variables say we are under MPI, so serial
use never pays for (or depends on) an MPI library.
"""

from __future__ import annotations

import os

_LAUNCHER_VARS = ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK",
                  "SLURM_STEP_NUM_TASKS", "MPI_LOCALNRANKS", "HYDI_CONTROL_FD")


def world():
    """``MPI.COMM_WORLD`` when running on more than one rank, else ``None``."""
    if not any(k in os.environ for k in _LAUNCHER_VARS):
        return None
    from mpi4py import MPI

    return MPI.COMM_WORLD if MPI.COMM_WORLD.Get_size() > 1 else None


def rank() -> int:
    comm = world()
    return 0 if comm is None else comm.Get_rank()
