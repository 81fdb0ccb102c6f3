# Provenance of the run: resolved config, package versions, seed, git revision (JSON, and as
# reStructuredText for the first page of `snakemake --report`). Reruns whenever the code (every
# module's contents, the git revision) or a package version changes.

rule provenance:
    output:
        json=L.PROVENANCE,
        rst=L.PROVENANCE_RST,
    params:
        config=json_param(config),
        # what the page records, so that it reruns when any of it changes (a commit, an edit, an upgrade)
        recorded=json_param(recorded_versions()),
    resources:
        **cpu_resources("provenance"),
    log:
        f"{LOGS}/provenance.log",
    conda:
        "../envs/generate.yaml"
    shell:
        "python3 -m mot --log {log} provenance --config {params.config:q} --out {output.json} --rst {output.rst}"
