# wbe — whole-brain emulation, from imaging to a validated simulation.
#
#   snakemake --workflow-profile profiles/workstation            # default config, real data
#   snakemake --workflow-profile profiles/workstation --configfile config/worm.yaml
#   snakemake --workflow-profile profiles/workstation --configfile config/sweeps/brunel.yaml
#   snakemake --report report.html                                # the story, with plots
#
# Every stage writes results/<stage>/<key>/, key = hash of (parameters, input keys, code).
from snakemake.utils import min_version, validate

min_version("9.0")


configfile: f"{workflow.basedir}/config/config.yaml"


validate(config, f"{workflow.basedir}/workflow/schemas/config.schema.json")


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/stages.smk"
include: "workflow/rules/sweep.smk"


rule all:
    input:
        # a config with a `sweep:` section runs the sweep study; otherwise the pipeline
        SWEEP_DIR if SWEEP_SPEC is not None else stage_dir("validation"),
    default_target: True
