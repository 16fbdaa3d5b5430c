# wbe — whole-brain emulation, from imaging to a validated simulation.
#
#   snakemake --workflow-profile profiles/workstation            # default config, real data
#   snakemake --workflow-profile profiles/workstation --configfile config/worm.yaml
#   snakemake --workflow-profile profiles/workstation --configfile config/sweeps/brunel.yaml
#   snakemake --workflow-profile profiles/workstation --configfile config/resting_state.yaml
#   snakemake --workflow-profile profiles/workstation --configfile config/ischaemia.yaml
#   snakemake --report report.html                                # the story, with plots
#
# Every stage writes results/<stage>/<key>/, key = hash of (parameters, input keys, code).
from snakemake.utils import min_version, validate

from wbe.pipeline.config import ConfigError, normalise

min_version("9.0")


configfile: f"{workflow.basedir}/config/config.yaml"


# `--config simulation='{seed: 7}'` arrives as strings ('7'): read every value as its field's
# type first (an unreadable one is an error naming the key), then check against the schema
try:
    _given = normalise(config, "workflow config")
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None
config.clear()
config.update(_given)
validate(config, f"{workflow.basedir}/workflow/schemas/config.schema.json")


include: "workflow/rules/common.smk"
include: "workflow/rules/stages.smk"
include: "workflow/rules/studies.smk"


# The report's front page: the run in a few sentences and its headline numbers, written by the
# validation stage (after a run, when `snakemake --report` reads it); the pipeline overview
# for a sweep or before the first run.
_front = Path(stage_dir("validation")).resolve() / FRONT_PAGE


report: str(_front) if STUDY is None and _front.is_file() else "workflow/report/workflow.rst"


rule all:
    input:
        # a config with a study section (sweep:, resting_state:, ischaemia:) runs that
        # study; otherwise the pipeline
        STUDY_DIR if STUDY is not None else stage_dir("validation"),
    default_target: True
