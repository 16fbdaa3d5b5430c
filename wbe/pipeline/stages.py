"""The pipeline's stages: the one table the store (keys, code versions), the config and its
schema, the command line, the Snakemake rules (``workflow/rules/stages.smk``), the report and
the docs read. Adding a stage is adding a row here and its module ``wbe/stages/<name>.py``
(``Params`` + ``run``; optionally ``external_paths`` and ``upstream``), plus what its figures
show in :data:`wbe.pipeline.report.FIGURES` (every stage folder gets a ``caption.rst`` with its
numbers, which the Snakemake report shows beside its figures)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

__all__ = ["Stage", "STAGES", "stage_module"]


@dataclass(frozen=True)
class Stage:
    """One stage: ``upstream`` stages it reads (a module's ``upstream(params)`` may narrow them),
    a one-line ``help``, where its figures go in the Snakemake report (``report_category``;
    ``report_patterns``: file names in its folder, or Snakemake patterns with wildcards such as
    ``{name}.png``; ``None``: not in the report) and whether it runs under MPI."""

    name: str
    upstream: tuple[str, ...]
    help: str
    report_category: str | None = None
    report_patterns: tuple[str, ...] = ()
    mpi: bool = False

    @property
    def module(self) -> str:
        """The glue module (``Params`` + ``run``) of the stage."""
        return f"wbe.stages.{self.name}"


STAGES: dict[str, Stage] = {s.name: s for s in (
    Stage("imaging", (), "read a volume (or voxelise c302 C. elegans cells) into Zarr with "
          "voxel size", "1. Anatomy", ("volume.png",)),
    Stage("segmentation", ("imaging",), "instance labels: relabel/clean a label volume, or "
          "watershed raw EM", "1. Anatomy", ("labels.png",)),
    Stage("morphology", ("segmentation", "imaging"), "skeletonise every label (kimimaro) into "
          "SWC files and a node table", "1. Anatomy", ("skeletons.png",)),
    Stage("connectome", ("morphology",), "touch detection between skeletons (or a real "
          "connectome imported) into a SONATA circuit, with graph analysis",
          "2. Connectome", ("{name}.png",)),
    Stage("simulation", ("connectome",), "simulate the circuit with the wbe engine (MPI-aware)",
          "3. Emulation", ("{name}.png",), mpi=True),
    Stage("plasticity", ("simulation",), "continue from the simulation's checkpoint with pair "
          "STDP; new SONATA edges", "3. Emulation", ("weights.png",), mpi=True),
    Stage("metrics", ("simulation", "plasticity"), "rates, ISI CV, Fano factor, "
          "perturbational complexity (PCI, PCIst) and integrated information Φ (Dask)",
          "4. Metrics", ("{name}.png",)),
    Stage("validation", ("connectome", "simulation", "metrics"), "score connectome, F-I curve "
          "and rates against independent references", "5. Validation",
          ("{name}.png", "scores.json")),
)}


def stage_module(name: str) -> ModuleType:
    """The glue module of stage ``name``; ``ValueError`` listing the stages otherwise."""
    if name not in STAGES:
        raise ValueError(f"unknown stage {name!r}; stages are {list(STAGES)}")
    return importlib.import_module(STAGES[name].module)
