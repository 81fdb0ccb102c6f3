# The paper's figures, each from result files by its own rule.


rule figure:
    input:
        evals=lambda w: FIGURE_EVALS[w.figure],
        models=lambda w: run_models(FIGURE_RUNS[w.figure]),
    output:
        png=report(
            f"{L.FIGURE}.png",
            caption="../report/caption.rst",
            category=lambda w: report_category(w.figure),
            labels=report_labels("figure"),
        ),
        pdf=f"{L.FIGURE}.pdf",
    wildcard_constraints:
        figure="|".join(FIGURE_EVALS),
    params:
        code=code("figures"),
        spec=lambda w: as_json(figure_spec(w.figure)),  # Figure 5: the probe's students, benchmarks and n
        caption=report_caption(
            lambda w: f"{output_caption(w.figure)} Error bars: standard errors over problems.",
            lambda w: figure_spec(w.figure),
        ),
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
        png=report(
            f"{L.FIGURE.format(figure='corpus')}.png",
            caption="../report/caption.rst",
            category=report_category("corpus"),
            labels={"output": "corpus", "kind": "figure"},
        ),
        pdf=f"{L.FIGURE.format(figure='corpus')}.pdf",
    params:
        code=code("figures"),
        caption=lambda w: output_caption("corpus"),
        spec=json_param(corpus_spec()),
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
