# Connectome: touches between skeletons of different neurons become synapses; SONATA circuit.


rule connectome:
    input:
        unpack(stage_input_dirs("connectome")),
    output:
        directory(stage_dir("connectome")),
    params:
        p=stage_params("connectome"),
        inputs=stage_inputs("connectome"),
        key=PLAN["connectome"].key,
    log:
        stage_log("connectome"),
    conda:
        "../../envs/wbe.yaml"
    shell:
        "wbe connectome --params {params.p:q} {params.inputs} --key {params.key} "
        "--out {output} 2>&1 | tee {log}"
