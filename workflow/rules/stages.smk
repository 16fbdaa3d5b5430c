# One rule per pipeline stage, written from the stage table (wbe.pipeline.stages): each runs
# `wbe <stage>` on its content-addressed input folders and publishes its own folder
# atomically. Stages with `mpi` run under an MPI launcher whose ranks and command the profile
# sets (resources tasks, mpi; slurm: mpi="srun").
from wbe.pipeline.stages import STAGES as STAGE_TABLE

for _stage in (s for s in STAGE_TABLE.values() if not s.mpi):

    rule:
        name:
            _stage.name
        input:
            unpack(stage_input_dirs(_stage.name)),
        output:
            stage_output(_stage),
        params:
            stage=_stage.name,
            p=stage_params(_stage.name),
            inputs=stage_inputs(_stage.name),
            key=PLAN[_stage.name].key,
        log:
            stage_log(_stage.name),
        conda:
            "../../envs/wbe.yaml"
        shell:
            # a constant string: Snakemake evaluates the shell expression again when the job
            # runs, after this loop has moved on, so it must not name the loop variable
            STAGE_COMMAND


for _stage in (s for s in STAGE_TABLE.values() if s.mpi):

    rule:
        name:
            _stage.name
        input:
            unpack(stage_input_dirs(_stage.name)),
        output:
            stage_output(_stage),
        params:
            stage=_stage.name,
            p=stage_params(_stage.name),
            inputs=stage_inputs(_stage.name),
            key=PLAN[_stage.name].key,
        log:
            stage_log(_stage.name),
        resources:
            # MPI ranks and launcher: set per machine in the profile (slurm: mpi="srun")
            tasks=1,
            mpi="mpiexec",
        conda:
            "../../envs/wbe.yaml"
        shell:
            MPI_STAGE_COMMAND
