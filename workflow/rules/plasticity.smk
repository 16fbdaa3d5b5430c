# Plasticity: continue from the simulation checkpoint with pair STDP; learned weights as SONATA.


rule plasticity:
    input:
        unpack(stage_input_dirs("plasticity")),
    output:
        report(
            directory(stage_dir("plasticity")),
            patterns=["weights.png"],
            caption="../report/plasticity.rst",
            category="2. Emulation",
        ),
    params:
        p=stage_params("plasticity"),
        inputs=stage_inputs("plasticity"),
        key=PLAN["plasticity"].key,
    log:
        stage_log("plasticity"),
    resources:
        # MPI ranks and launcher: set per machine in the profile (slurm: mpi="srun")
        tasks=1,
        mpi="mpiexec",
    conda:
        "../../envs/wbe.yaml"
    shell:
        "{resources.mpi} -n {resources.tasks} wbe plasticity --params {params.p:q} {params.inputs} --key {params.key} "
        "--out {output} 2>&1 | tee {log}"
