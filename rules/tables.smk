# The paper's tables (and the paired differences), each from result files by its own rule.

rule table:
    input:
        evals=lambda w: TABLE_EVALS[w.table],
        published=published_input(),
    output:
        csv=f"{L.TABLE}.csv",
        md=f"{L.TABLE}.md",
        tex=f"{L.TABLE}.tex",
        html=report(
            f"{L.TABLE}.html",
            caption="../report/caption.rst",
            category=lambda w: report_category(w.table),
            labels=report_labels("table"),
        ),
    wildcard_constraints:
        table="|".join(TABLE_EVALS),
    params:
        code=code("tables"),
        spec=lambda w: as_json(table_spec(w.table)),
        caption=report_caption(lambda w: output_caption(w.table)),
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
        csv=f"{L.TABLE.format(table='table10')}.csv",
        md=f"{L.TABLE.format(table='table10')}.md",
        tex=f"{L.TABLE.format(table='table10')}.tex",
        html=report(
            f"{L.TABLE.format(table='table10')}.html",
            caption="../report/caption.rst",
            category=report_category("table10"),
            labels={"output": "table10", "kind": "table"},
        ),
    params:
        code=code("tables"),
        spec=json_param(corpus_spec()),
        caption=lambda w: output_caption("table10"),
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


# What the run shows, from its own tables; with report.readme (the default config: README.md) also
# written into that file's "What the default run shows" section, so README cannot go stale.
rule summary:
    input:
        table2=f"{L.TABLE.format(table='table2')}.csv",
        differences=f"{L.TABLE.format(table='differences')}.csv",
    output:
        md=report(
            f"{L.SUMMARY}.md",
            caption="../report/caption.rst",
            category=report_category("summary"),
            labels={"output": "summary", "kind": "text"},
        ),
    params:
        code=code("tables"),
        caption=report_caption(catalog.OUTPUTS["summary"].caption),
        tables=lambda w, input: os.path.dirname(input.table2),
        readme=lambda w: f"--readme {config['report']['readme']}" if config["report"]["readme"] else "",
        out=lambda w, output: os.path.splitext(output.md)[0],
    resources:
        **cpu_resources("tables"),
    log:
        f"{LOGS}/table/summary.log",
    conda:
        "../envs/report.yaml"
    shell:
        "python3 -m mot --log {log} tables --name summary --tables {params.tables} {params.readme}"
        " --out {params.out}"


# Table 9's "Best STD" teacher: the final weights of the STD run with the best AVG (chosen as the
# tables choose it), copied where the generation rule of teacher as-best-std finds them: from the
# one of --runs that its eval summary records as evaluated (never a path rebuilt by mot).
rule best_std_model:
    input:
        evals=lambda w: [eval_summary(w.student, w.source, r) for r in STD],
        runs=lambda w: [L.run_dir(w.student, w.source, r) for r in STD],
    output:
        model=directory(L.BEST_STD),
    params:
        code=code("best-std"),
        spec=lambda w: as_json(table_spec("best-std")),  # not the merge-method variants
    resources:
        **cpu_resources("tables"),
    log:
        f"{LOGS}/best_std_model/{{student}}/{{source}}.log",
    conda:
        "../envs/report.yaml"
    shell:
        "python3 -m mot --log {log} best-std --spec {params.spec:q} --evals {input.evals} --runs {input.runs}"
        " --student {wildcards.student} --source {wildcards.source} --out {output.model}"
