# Connectome: touches between skeletons of different neurons become synapses (or a cect/TVB
# import); SONATA circuit, graph analysis, GraphML/Zarr exports.


rule connectome:
    input:
        unpack(stage_input_dirs("connectome")),
    output:
        report(
            directory(stage_dir("connectome")),
            patterns=["graph.png"],
            caption="../report/connectome.rst",
            category="1. Connectome",
        ),
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
