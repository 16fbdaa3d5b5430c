"""Studies: configs that run one study instead of the pipeline — a parameter sweep, the
resting-state FC study, the ischaemia experiment, the wake/sleep PCI experiment. Each is a top-level config section whose
presence makes ``snakemake`` (``workflow/rules/studies.smk``) and ``wbe plan`` run it; the
config schema, the Snakemake rule and the planner all read :data:`STUDIES`, so adding a study
is adding an entry here.

A study's module provides a pydantic spec (the section), ``load(data, source)`` validating it
with errors naming the key, ``key(spec)`` (the content key of its output folder
``<results>/<folder>/<key>``), and a ``wbe`` subcommand (``add_arguments(parser)`` and the
function named by ``cli``; :func:`add_study_commands` registers them all) taking ``--spec-json`` (the section),
``--results``, ``--out`` and ``--cluster`` (where its Dask workers run)."""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["Study", "STUDIES", "active_study", "study_folder", "spec_from_args",
           "add_study_arguments", "add_study_commands", "validated"]


@dataclass(frozen=True)
class Study:
    section: str  # the config section (and the Snakemake rule's name)
    module: str  # provides the spec, load and key (names below)
    spec: str
    load: str
    key: str
    folder: str  # results/<folder>/<key>
    command: str  # the wbe subcommand that runs it
    figures: tuple[str, ...]  # files of its output shown in the report
    caption: str  # workflow/report/<caption>
    category: str  # of the report
    description: str  # in the config schema and the subcommand's --help
    cli: str = "cmd"  # the module's function running the subcommand (add_arguments sets it up)

    def _attr(self, name: str):
        return getattr(importlib.import_module(self.module), name)

    @property
    def spec_model(self):
        return self._attr(self.spec)

    def validate(self, data: Any, source: str):
        return self._attr(self.load)(data, source)

    def content_key(self, spec) -> str:
        return self._attr(self.key)(spec)


STUDIES: tuple[Study, ...] = (
    Study("sweep", "wbe.pipeline.sweep", "SweepSpec", "load_spec", "sweep_key", "sweep",
          "wbe sweep", ("phase_diagram.png", "regimes.png", "population_activity.png"),
          "sweep.rst", "6. Sweeps",
          "parameter-sweep study (wbe.pipeline.sweep): a Dask sweep with a tidy table and "
          "phase diagrams", "cmd_sweep"),
    Study("resting_state", "wbe.experiments.resting_state", "RestingStateSpec",
          "load_resting_spec", "study_key", "resting_state", "wbe resting-state",
          ("fc_vs_coupling.png", "fc_matrices.png"), "resting_state.rst", "7. Resting state",
          "resting-state study (wbe.experiments.resting_state): simulated BOLD FC against "
          "real subjects over a coupling sweep, beside neurolib's own model",
          "cmd_resting_state"),
    Study("ischaemia", "wbe.experiments.ischaemia", "IschaemiaSpec", "load_ischaemia_spec",
          "study_key", "ischaemia", "wbe ischaemia", ("ischaemia.png",), "ischaemia.rst",
          "8. Ischaemia",
          "ischaemia experiment (wbe.experiments.ischaemia): a perfused cortical block with "
          "and without an arteriole occluded — flow, energy, spikes and BOLD", "cmd_ischaemia"),
    Study("wake_sleep", "wbe.experiments.wake_sleep", "WakeSleepSpec", "load_wake_sleep_spec",
          "study_key", "wake_sleep", "wbe wake-sleep", ("wake_sleep.png",), "wake_sleep.rst",
          "9. Wake and sleep",
          "wake/sleep experiment (wbe.experiments.wake_sleep): an AdEx cortex with weak and "
          "strong adaptation, measured by virtual-TMS PCI and PCIst", "cmd_wake_sleep"),
)


def active_study(config: dict[str, Any], source: str = "workflow config"):
    """``(study, validated spec)`` of the study section a config holds, or None; two studies
    in one config are an error."""
    present = [s for s in STUDIES if config.get(s.section)]
    if len(present) > 1:
        raise ValueError(f"{source}: sections {[s.section for s in present]} each run a "
                         "study; give one")
    if not present:
        return None
    s = present[0]
    return s, s.validate(config[s.section], source)


def study_folder(s: Study, spec, results: str = "results") -> str:
    return f"{results}/{s.folder}/{s.content_key(spec)}"


def add_study_commands(sub) -> None:
    """One ``wbe`` subcommand per study (``wbe sweep``, ``wbe resting-state``, ...) on the
    argparse subparsers ``sub``."""
    for s in STUDIES:
        module = importlib.import_module(s.module)
        p = sub.add_parser(s.command.split()[1], help=s.description, description=s.description)
        module.add_arguments(p)
        p.set_defaults(func=getattr(module, s.cli))


def add_study_arguments(p, section: str) -> None:
    """The options every study command takes (``wbe resting-state``, ``wbe ischaemia``)."""
    p.add_argument("config", nargs="?", help=f"YAML config with a '{section}:' section")
    p.add_argument("--spec-json", help=f"the {section} section as JSON (instead of the file)")
    p.add_argument("--results", default="results", help="store root")
    p.add_argument("--out", help=f"output folder (default RESULTS/{section}/<key>)")
    p.add_argument("--cluster", choices=["local", "slurm"], help="override cluster.kind")
    p.add_argument("--n-workers", type=int, help="override cluster.n_workers")


def spec_from_args(args, section: str, load, error: type[ValueError]):
    """A study's spec from ``CONFIG`` (its ``section``) or ``--spec-json`` (the section),
    with ``--cluster`` / ``--n-workers`` applied."""
    from wbe.io.yamlfile import read_yaml

    if (args.config is None) == (args.spec_json is None):
        raise error("give a config file or --spec-json (one of them)")
    if args.spec_json is not None:
        source = "--spec-json"
        try:
            data = json.loads(args.spec_json)
        except json.JSONDecodeError as exc:
            raise error(f"--spec-json: not valid JSON ({exc})") from None
    else:
        source = args.config
        doc = read_yaml(Path(args.config), error)
        if not isinstance(doc, dict) or not isinstance(doc.get(section), dict):
            raise error(f"{source}: needs a '{section}:' mapping")
        data = doc[section]
    spec = load(data, source)
    upd = {}
    if args.cluster:
        upd["kind"] = args.cluster
    if args.n_workers:
        upd["n_workers"] = args.n_workers
    if upd:
        spec = spec.model_copy(update={"cluster": spec.cluster.model_copy(update=upd)})
    return spec




def validated(model, data: Any, section: str, source: str, error: type[ValueError]):
    """``data`` validated as ``model`` (a study's spec); errors name ``section.key``."""
    from pydantic import ValidationError

    try:
        return model.model_validate(data or {})
    except ValidationError as exc:
        lines = [f"invalid {section} spec ({source}):"]
        for err in exc.errors():
            key = ".".join(str(p) for p in err["loc"])
            msg = str(err["msg"]).removeprefix("Value error, ")
            lines.append(f"  {section}.{key}: {msg}" if key else f"  {section}.{msg}")
        raise error("\n".join(lines)) from None
