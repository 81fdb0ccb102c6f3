# The paper's figures, each from result files by its own rule.


rule figure:
    input:
        evals=lambda w: evals_of(*FIGURE_RUNS[w.figure]),
        models=lambda w: run_models(FIGURE_RUNS[w.figure]),
    output:
        multiext(L.FIGURE, ".png", ".pdf"),
    wildcard_constraints:
        figure="|".join(FIGURE_RUNS),
    params:
        code=code("figures.py", "tables.py"),
        spec=json_param(report_spec()),
        models=L.MODELS,
        out=lambda w, output: os.path.splitext(output[0])[0],
    resources:
        **cpu_resources("tables"),
    log:
        f"{LOGS}/figure/{{figure}}.log",
    conda:
        "../envs/report.yaml"
    shell:
        "python3 -m mot --log {log} figures --name {wildcards.figure} --spec {params.spec:q}"
        " --evals {input.evals} --models {params.models} --out {params.out}"


rule corpus_figure:
    input:
        stats=stats_files(),
    output:
        multiext(L.FIGURE.format(figure="corpus"), ".png", ".pdf"),
    params:
        code=code("figures.py"),
        spec=json_param(report_spec()),
        out=lambda w, output: os.path.splitext(output[0])[0],
    resources:
        **cpu_resources("tables"),
    log:
        f"{LOGS}/figure/corpus.log",
    conda:
        "../envs/report.yaml"
    shell:
        "python3 -m mot --log {log} figures --name corpus --spec {params.spec:q}"
        " --stats {input.stats} --out {params.out}"
