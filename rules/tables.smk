# The paper's tables (and the paired differences), each from result files by its own rule.

rule table:
    input:
        evals=lambda w: evals_of(*TABLE_RUNS[w.table]),
        published=published_input(),
    output:
        multiext(L.TABLE, ".csv", ".md", ".tex"),
    wildcard_constraints:
        table="|".join(TABLE_RUNS),
    params:
        code=code("tables.py"),
        spec=json_param(report_spec()),
        out=lambda w, output: os.path.splitext(output[0])[0],
    resources:
        **cpu_resources("tables"),
    log:
        f"{LOGS}/table/{{table}}.log",
    conda:
        "../envs/report.yaml"
    shell:
        "python3 -m mot --log {log} tables --name {wildcards.table} --spec {params.spec:q}"
        " --evals {input.evals} --out {params.out}"


rule table10:
    input:
        stats=stats_files(),
        published=published_input(),
    output:
        multiext(L.TABLE.format(table="table10"), ".csv", ".md", ".tex"),
    params:
        code=code("tables.py"),
        spec=json_param(report_spec()),
        out=lambda w, output: os.path.splitext(output[0])[0],
    resources:
        **cpu_resources("tables"),
    log:
        f"{LOGS}/table/table10.log",
    conda:
        "../envs/report.yaml"
    shell:
        "python3 -m mot --log {log} tables --name table10 --spec {params.spec:q}"
        " --stats {input.stats} --out {params.out}"
