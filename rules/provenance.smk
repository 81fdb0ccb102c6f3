# Provenance of the run: resolved config, package versions, seed, git revision.

rule provenance:
    output:
        "results/provenance.json",
    params:
        config=json_param(config),
    log:
        f"{LOGS}/provenance.log",
    conda:
        "../envs/mot.yaml"
    shell:
        "python3 -m mot --log {log} provenance --config {params.config:q} --out {output}"
