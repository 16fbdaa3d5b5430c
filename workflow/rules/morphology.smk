# Morphology: one skeleton per label (kimimaro) as SWC in µm, plus a Parquet node table.


rule morphology:
    input:
        unpack(stage_input_dirs("morphology")),
    output:
        directory(stage_dir("morphology")),
    params:
        p=stage_params("morphology"),
        inputs=stage_inputs("morphology"),
        key=PLAN["morphology"].key,
    log:
        stage_log("morphology"),
    conda:
        "../../envs/wbe.yaml"
    shell:
        "wbe morphology --params {params.p:q} {params.inputs} --key {params.key} "
        "--out {output} 2>&1 | tee {log}"
