# Metrics: rates, ISI CV, Fano factor (elephant) and a perturbational complexity index (Dask).


rule metrics:
    input:
        unpack(stage_input_dirs("metrics")),
    output:
        report(
            directory(stage_dir("metrics")),
            patterns=["{name}.png"],
            caption="../report/metrics.rst",
            category="3. Metrics",
        ),
    params:
        p=stage_params("metrics"),
        inputs=stage_inputs("metrics"),
        key=PLAN["metrics"].key,
    log:
        stage_log("metrics"),
    conda:
        "../../envs/wbe.yaml"
    shell:
        "wbe metrics --params {params.p:q} {params.inputs} --key {params.key} "
        "--out {output} 2>&1 | tee {log}"
