# Validation: connectome vs the EM connectome, F-I vs patch clamp, rates vs NEST.


rule validation:
    input:
        unpack(stage_input_dirs("validation")),
    output:
        report(
            directory(stage_dir("validation")),
            patterns=["{name}.png", "scores.json"],
            caption="../report/validation.rst",
            category="4. Validation",
        ),
    params:
        p=stage_params("validation"),
        inputs=stage_inputs("validation"),
        key=PLAN["validation"].key,
    log:
        stage_log("validation"),
    conda:
        "../../envs/wbe.yaml"
    shell:
        "wbe validation --params {params.p:q} {params.inputs} --key {params.key} "
        "--out {output} 2>&1 | tee {log}"
