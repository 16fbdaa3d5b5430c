# Simulation: the wbe engine on the SONATA circuit, under MPI (resources: tasks, mpi).


rule simulation:
    input:
        unpack(stage_input_dirs("simulation")),
    output:
        report(
            directory(stage_dir("simulation")),
            patterns=["raster.png"],
            caption="../report/simulation.rst",
            category="2. Emulation",
        ),
    params:
        p=stage_params("simulation"),
        inputs=stage_inputs("simulation"),
        key=PLAN["simulation"].key,
    log:
        stage_log("simulation"),
    resources:
        # MPI ranks and launcher: set per machine in the profile (slurm: mpi="srun")
        tasks=1,
        mpi="mpiexec",
    conda:
        "../../envs/wbe.yaml"
    shell:
        "{resources.mpi} -n {resources.tasks} wbe simulation --params {params.p:q} {params.inputs} --key {params.key} "
        "--out {output} 2>&1 | tee {log}"
