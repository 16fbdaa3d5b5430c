# Segmentation: 3-D instance labels (relabel/clean a label volume, or watershed raw EM).


rule segmentation:
    input:
        unpack(stage_input_dirs("segmentation")),
    output:
        directory(stage_dir("segmentation")),
    params:
        p=stage_params("segmentation"),
        inputs=stage_inputs("segmentation"),
        key=PLAN["segmentation"].key,
    log:
        stage_log("segmentation"),
    conda:
        "../../envs/wbe.yaml"
    shell:
        "wbe segmentation --params {params.p:q} {params.inputs} --key {params.key} "
        "--out {output} 2>&1 | tee {log}"
