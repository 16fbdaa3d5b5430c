# Imaging: read a volume into chunked Zarr with its voxel size (or voxelise real C. elegans cells).


rule imaging:
    input:
        unpack(stage_input_dirs("imaging")),
    output:
        directory(stage_dir("imaging")),
    params:
        p=stage_params("imaging"),
        inputs=stage_inputs("imaging"),
        key=PLAN["imaging"].key,
    log:
        stage_log("imaging"),
    conda:
        "../../envs/wbe.yaml"
    shell:
        "wbe imaging --params {params.p:q} {params.inputs} --key {params.key} "
        "--out {output} 2>&1 | tee {log}"
