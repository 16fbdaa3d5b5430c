# Shared by every rule: the validated config, the content-addressed plan and helpers.
#
# The plan is computed once, when the DAG is built: for each stage its key (hash of its
# parameters, the keys of its inputs and its code version), so Snakemake knows every output
# path in advance and a changed parameter re-runs only the stages downstream of it.
import json
import os
from pathlib import Path

from wbe.pipeline.config import ConfigError, load_config, stage_plan
from wbe.pipeline.report import CAPTION, FRONT_PAGE, report_pattern

# Relative data paths in configs (../shared/data/...) are relative to the project root.
os.environ.setdefault("WBE_DATA_ROOT", workflow.basedir)

try:
    CFG = load_config(config, "workflow config")
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None

PLAN = stage_plan(CFG)
RESULTS = CFG.results


def stage_dir(stage):
    """The content-addressed output folder of a stage."""
    return str(PLAN[stage].dir(RESULTS))


def stage_input_dirs(stage):
    """Input function: upstream stage name -> folder (depends on the config, e.g. a connectome
    imported from a dataset reads no imaging)."""
    return lambda wildcards: {u: stage_dir(u) for u in PLAN[stage].inputs}


def stage_params(stage):
    """The stage's validated parameters as JSON, for `wbe <stage> --params`."""
    return json.dumps(PLAN[stage].params, sort_keys=True)


def stage_inputs(stage):
    """`--input` arguments naming every upstream stage folder."""
    return " ".join(f"--input {u}={stage_dir(u)}" for u in PLAN[stage].inputs)


def stage_log(stage):
    return f"logs/{stage}/{PLAN[stage].key}.log"


def stage_output(stage):
    """The stage's folder, shown in the report with its figures when it has a category; the
    caption is the folder's own caption.rst (its numbers: wbe.pipeline.report)."""
    out = directory(stage_dir(stage.name))
    if stage.report_category is None:
        return out
    return report(
        out,
        patterns=[report_pattern(p) for p in stage.report_patterns],
        caption=str(Path(stage_dir(stage.name)).resolve() / CAPTION),
        category=stage.report_category,
    )


# `params.stage` names the `wbe` subcommand (each stage rule carries its own name there).
STAGE_COMMAND = (
    "wbe {params.stage} --params {params.p:q} {params.inputs} --key {params.key} --out {output} "
    "2>&1 | tee {log}"
)
MPI_STAGE_COMMAND = f"{{resources.mpi}} -n {{resources.tasks}} {STAGE_COMMAND}"


onsuccess:
    # results/latest/<stage> points a person at the folders of the run that just finished.
    latest = Path(RESULTS) / "latest"
    latest.mkdir(parents=True, exist_ok=True)
    for stage in PLAN:
        link = latest / stage
        target = Path("..") / stage / PLAN[stage].key
        if (Path(RESULTS) / stage / PLAN[stage].key).exists():
            tmp = latest / f".{stage}.tmp"
            if tmp.is_symlink() or tmp.exists():
                tmp.unlink()
            tmp.symlink_to(target, target_is_directory=True)
            tmp.replace(link)
