# Provenance of the run: resolved config, package versions, seed, git revision.

rule provenance:
    output:
        L.PROVENANCE,
    params:
        config=json_param(config),
    resources:
        **cpu_resources("provenance"),
    log:
        f"{LOGS}/provenance.log",
    conda:
        "../envs/generate.yaml"
    shell:
        "python3 -m mot --log {log} provenance --config {params.config:q} --out {output}"
