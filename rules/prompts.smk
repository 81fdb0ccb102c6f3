# N prompts with reference answers per source.


rule prompts:
    input:
        world=lambda w: rules.world.output.world if needs_world(w.source) else [],
    output:
        prompts=L.PROMPTS,
    params:
        code=code("prompts"),
        spec=lambda w: as_json({k: v for k, v in config["sources"][w.source].items() if k != "label"}),  # not its name
        template=lambda w: config["prompt_template"],
        world=lambda w, input: f"--world {input.world}" if input.world else "",
    resources:
        **cpu_resources("prompts"),
    log:
        f"{LOGS}/prompts/{{source}}.log",
    conda:
        "../envs/generate.yaml"
    shell:
        "python3 -m mot --log {log} prompts --source {wildcards.source} --spec {params.spec:q}"
        " --template {params.template:q} {params.world} --out {output.prompts}"
