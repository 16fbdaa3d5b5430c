# Studies (wbe.pipeline.studies): a config with a `sweep:`, `resting_state:`, `ischaemia:` or
# `wake_sleep:` section runs that study instead of the pipeline — its points as Dask tasks
# (LocalCluster by default; SLURM jobs when the profile sets resources dask_cluster="slurm"),
# content-addressed and reused, then its table, summary and figures in results/<study>/<key>/.
#
# Defines STUDY (the wbe.pipeline.studies.Study or None), STUDY_SPEC and STUDY_DIR, and
# SWEEP_SPEC / SWEEP_DIR for a sweep. Needs nothing from common.smk.
import json as _study_json
from pathlib import Path

from wbe.pipeline.report import report_pattern
from wbe.pipeline.studies import active_study, study_folder

STUDY_RESULTS = config.get("results", "results")
STUDY = STUDY_SPEC = STUDY_DIR = None
try:
    _active = active_study(config)
except ValueError as exc:
    raise WorkflowError(str(exc)) from None
if _active is not None:
    STUDY, STUDY_SPEC = _active
    STUDY_DIR = study_folder(STUDY, STUDY_SPEC, STUDY_RESULTS)
SWEEP_SPEC = STUDY_SPEC if STUDY is not None and STUDY.section == "sweep" else None
SWEEP_DIR = STUDY_DIR if SWEEP_SPEC is not None else None


if STUDY is not None:

    # The study job is a light driver (the Dask scheduler); its workers do the work, locally
    # or as SLURM jobs, so under a cluster executor it runs where snakemake runs.
    localrules:
        study,

    # one rule for whichever study the config holds (named `study`, so that `localrules`
    # keeps it on the submitting host under a cluster executor)
    rule study:
        output:
            report(
                directory(STUDY_DIR),
                patterns=[report_pattern(p) for p in STUDY.figures],
                caption=f"../report/{STUDY.caption}",
                category=STUDY.category,
            ),
        params:
            spec=_study_json.dumps(STUDY_SPEC.model_dump(mode="json")),
            # the store root: results/<study>/<key> -> results
            results=lambda w, output: str(Path(output[0]).parent.parent),
            command=STUDY.command,
        log:
            f"logs/{STUDY.section}/{Path(STUDY_DIR).name}.log",
        threads: STUDY_SPEC.cluster.n_workers
        resources:
            # where the Dask workers run: "local" (LocalCluster) or "slurm" (SLURMCluster);
            # profiles/slurm sets "slurm"
            dask_cluster="local",
        conda:
            "../../envs/wbe.yaml"
        shell:
            "{params.command} --spec-json {params.spec:q} --results {params.results} "
            "--out {output} --cluster {resources.dask_cluster} 2>&1 | tee {log}"
