"""Dask clients for embarrassingly parallel work (sweeps, chunked metrics).

:func:`make_client` gives a ``distributed.Client`` on

* ``kind="local"`` (default): a ``LocalCluster`` of ``n_workers`` processes with
  ``threads_per_worker`` threads each, on this machine;
* ``kind="slurm"``: a ``dask_jobqueue.SLURMCluster`` whose workers are SLURM jobs (one
  ``sbatch`` per worker, ``cores`` CPUs and ``memory`` each, in ``queue``), scaled to
  ``n_workers``. The scheduler runs in this process, so the workers must reach it over the
  network (``interface`` picks the network interface; default: the host's main address).

The settings come from the ``cluster:`` section of a sweep spec (:class:`ClusterSpec`); the
workflow's profile chooses the kind (``resources.dask_cluster``, see ``workflow/rules/studies.smk``).
Workers run single-threaded numerical code: ``OMP_NUM_THREADS=1`` etc. are set for them so two
workers never oversubscribe two cores.
"""

from __future__ import annotations

import os
import sys
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: Environment of every worker: one thread per BLAS/OpenMP/Numba pool, passive MPI/OMP waits.
WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "NUMBA_NUM_THREADS": "1", "OMP_WAIT_POLICY": "passive"}


class SlurmSpec(BaseModel):
    """dask-jobqueue ``SLURMCluster`` settings: one SLURM job per Dask worker."""

    model_config = ConfigDict(extra="forbid")
    queue: str = Field("debug", description="SLURM partition of the worker jobs (sbatch -p)")
    account: str | None = Field(None, description="SLURM account (sbatch -A); None: site default")
    cores: int = Field(1, ge=1, description="CPUs per worker job (sbatch --cpus-per-task)")
    memory: str = Field("2GB", description="memory per worker job, e.g. '2GB' (sbatch --mem)")
    walltime: str = Field("01:00:00", description="wall-clock limit per worker job (HH:MM:SS)")
    interface: str | None = Field(
        None, description="network interface of scheduler and workers (e.g. 'ib0'); None: "
                          "the host's address")
    job_extra_directives: list[str] = Field(
        default_factory=list, description="extra '#SBATCH' options, e.g. ['--qos=short']")
    job_script_prologue: list[str] = Field(
        default_factory=list, description="shell lines run before the worker starts "
                                          "(e.g. 'module load ...', 'source venv/bin/activate')")
    log_directory: str | None = Field(
        None, description="folder for the worker jobs' SLURM output files; None: the cwd")
    death_timeout_s: float = Field(
        120.0, gt=0, description="seconds a worker waits for the scheduler before exiting")


class ClusterSpec(BaseModel):
    """Where the Dask workers run."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["local", "slurm"] = Field(
        "local", description="'local': LocalCluster on this machine; 'slurm': workers as "
                             "SLURM jobs (dask-jobqueue SLURMCluster)")
    n_workers: int = Field(2, ge=1, description="number of Dask workers (processes / jobs)")
    threads_per_worker: int = Field(1, ge=1, description="threads per local worker")
    memory_per_worker: str = Field("auto", description="memory limit per local worker "
                                                       "('auto' splits the machine's memory)")
    slurm: SlurmSpec = Field(default_factory=SlurmSpec)


def _local(spec: ClusterSpec):
    from distributed import Client, LocalCluster

    os.environ.update(WORKER_ENV)  # inherited by the worker processes (nanny spawns them)
    cluster = LocalCluster(n_workers=spec.n_workers, threads_per_worker=spec.threads_per_worker,
                           processes=True, memory_limit=spec.memory_per_worker,
                           dashboard_address=None)
    return Client(cluster)


def slurm_cluster(spec: ClusterSpec):
    """A ``dask_jobqueue.SLURMCluster`` from ``spec.slurm``, not yet scaled."""
    try:
        from dask_jobqueue import SLURMCluster
    except ImportError as exc:  # pragma: no cover - dependency message
        raise RuntimeError("cluster kind 'slurm' needs dask-jobqueue "
                           "(pip install dask-jobqueue)") from exc
    s = spec.slurm
    prologue = [f"export {k}={v}" for k, v in WORKER_ENV.items()] + list(s.job_script_prologue)
    kwargs = dict(
        queue=s.queue, account=s.account, cores=s.cores, processes=1, memory=s.memory,
        walltime=s.walltime, job_extra_directives=list(s.job_extra_directives),
        job_script_prologue=prologue, python=sys.executable, death_timeout=s.death_timeout_s,
        scheduler_options={"dashboard_address": ":0"},
    )
    if s.interface:
        kwargs["interface"] = s.interface
    if s.log_directory:
        os.makedirs(s.log_directory, exist_ok=True)
        kwargs["log_directory"] = s.log_directory
    return SLURMCluster(**kwargs)


def make_client(spec: ClusterSpec | dict | None = None):
    """A ``distributed.Client`` on the cluster ``spec`` describes (default: local, 2 workers).
    Close it (``client.close(); client.cluster.close()``) or use :func:`close_client`."""
    spec = ClusterSpec.model_validate(spec or {})
    if spec.kind == "local":
        return _local(spec)
    from distributed import Client

    cluster = slurm_cluster(spec)
    cluster.scale(jobs=spec.n_workers)
    return Client(cluster)


def close_client(client) -> None:
    """Close a client made by :func:`make_client` and its cluster (cancels SLURM worker jobs).
    The work is done by then: a worker that is slow to exit (a loaded machine) is reported on
    stderr, not raised, so that it cannot fail the study whose results are already stored."""
    import sys

    cluster = getattr(client, "cluster", None)
    try:
        client.close()
        if cluster is not None:
            cluster.close()
    except TimeoutError as exc:
        print(f"wbe: warning: closing the Dask cluster timed out ({exc!r}); its workers may "
              "linger until they notice", file=sys.stderr)
