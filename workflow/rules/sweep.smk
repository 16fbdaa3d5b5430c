# Parameter sweep (issue 7): every point an independent simulation + metrics, run as Dask tasks
# (LocalCluster by default; SLURM jobs when the profile sets resources dask_cluster="slurm").
# Points are content-addressed in results/sweep_points/<key>/ and reused, so an interrupted
# sweep resumes where it stopped. Active only when the config has a `sweep:` section.
#
# Defines SWEEP_SPEC (validated wbe.pipeline.sweep.SweepSpec or None) and SWEEP_DIR (the sweep's
# content-addressed output folder, results/sweep/<key>, or None). Needs nothing from common.smk.
import json as _sweep_json
from pathlib import Path

from wbe.pipeline.report import report_pattern
from wbe.pipeline.sweep import SweepError, load_spec, sweep_key

SWEEP_RESULTS = config.get("results", "results")
SWEEP_SPEC = None
SWEEP_DIR = None
if config.get("sweep"):
    try:
        SWEEP_SPEC = load_spec(config["sweep"], "workflow config")
    except SweepError as exc:
        raise WorkflowError(str(exc)) from None
    SWEEP_DIR = f"{SWEEP_RESULTS}/sweep/{sweep_key(SWEEP_SPEC)}"


if SWEEP_SPEC is not None:

    # The sweep job is a light driver (the Dask scheduler); its workers do the work, locally or
    # as SLURM jobs, so under a cluster executor it runs where snakemake runs.
    localrules:
        sweep,

    rule sweep:
        output:
            report(
                directory(SWEEP_DIR),
                patterns=[
                    report_pattern(p)
                    for p in ("phase_diagram.png", "regimes.png", "population_activity.png")
                ],
                caption="../report/sweep.rst",
                category="6. Sweeps",
            ),
        params:
            spec=_sweep_json.dumps(SWEEP_SPEC.model_dump(mode="json")),
            # the store root: results/sweep/<key> -> results (points go to results/sweep_points)
            results=lambda w, output: str(Path(output[0]).parent.parent),
        log:
            f"logs/sweep/{Path(SWEEP_DIR).name}.log",
        threads: SWEEP_SPEC.cluster.n_workers
        resources:
            # where the Dask workers run: "local" (LocalCluster) or "slurm" (SLURMCluster);
            # profiles/slurm sets "slurm"
            dask_cluster="local",
        conda:
            "../../envs/wbe.yaml"
        shell:
            "wbe sweep --spec-json {params.spec:q} --results {params.results} --out {output} "
            "--cluster {resources.dask_cluster} 2>&1 | tee {log}"
