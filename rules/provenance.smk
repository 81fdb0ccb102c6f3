# Provenance of the run: resolved config, package versions, seed, git revision (JSON, and as
# reStructuredText for the first page of `snakemake --report`).

rule provenance:
    output:
        json=L.PROVENANCE,
        rst=L.PROVENANCE_RST,
    params:
        config=json_param(config),
    resources:
        **cpu_resources("provenance"),
    log:
        f"{LOGS}/provenance.log",
    conda:
        "../envs/generate.yaml"
    shell:
        "python3 -m mot --log {log} provenance --config {params.config:q} --out {output.json} --rst {output.rst}"
