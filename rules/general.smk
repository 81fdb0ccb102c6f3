# General capability (paper Tables 3 and 4): the base, the best STD run's and MoT's final models on
# general benchmarks through lm-evaluation-harness, in an environment of its own (envs/harness.yaml).
# The synthetic world's stand-in tasks are written as lm-eval task files by rule general_tasks.

rule general_tasks:
    input:
        world=L.WORLD,
    output:
        tasks=directory(L.GENERAL_TASKS),
    params:
        code=code("general-tasks"),
        sampling=json_param({k: EVAL[k] for k in ("temperature", "top_p", "max_tokens")}),
    resources:
        **cpu_resources("general_tasks"),
    log:
        f"{LOGS}/general/tasks.log",
    conda:
        "../envs/harness.yaml"
    shell:
        "python3 -m mot --log {log} general-tasks --world {input.world} --sampling {params.sampling:q}"
        " --out {output.tasks}"


rule general_base:
    input:
        model=general_model_input,
        tasks=general_task_files(),
    output:
        summary=f"{L.GENERAL_BASE}.json",
        samples=f"{L.GENERAL_BASE}.samples.jsonl",
    params:
        code=code("general"),
        model=general_model,
        tasks=lambda w: as_json(GENERAL["tasks"]),
        include=general_include(),
        backend=lambda w: GENERAL["backend"],
        model_args=lambda w: as_json(GENERAL["model_args"]),
        batch_size=lambda w: GENERAL["batch_size"],
        options=general_options(),
        seed=config["seed"],
        tag=lambda w: as_json({"student": w.student, "source": getattr(w, "source", None),
                               "model": getattr(w, "model", "base")}),
    threads: 1
    resources:
        **job_resources("general", gpu=lambda w: engine_gpus(GENERAL["backend"], GENERAL["model_args"])),
    log:
        f"{LOGS}/general/{{student}}/base.log",
    conda:
        "../envs/harness.yaml"
    shell:
        "python3 -m mot --log {log} --threads {threads} general --model {params.model} --tasks {params.tasks:q}"
        " {params.include} --backend {params.backend} --model-args {params.model_args:q}"
        " --batch-size {params.batch_size} {params.options} --seed {params.seed} --tag {params.tag:q}"
        " --samples {output.samples} --out {output.summary}"


use rule general_base as general_run with:
    output:
        summary=f"{L.GENERAL_RUN}.json",
        samples=f"{L.GENERAL_RUN}.samples.jsonl",
    wildcard_constraints:
        model=alternatives(L.GENERAL_MODELS),
    log:
        f"{LOGS}/general/{{student}}/{{source}}/{{model}}.log",


# Tables 3 and 4 from the models' scores: raw scores and each group's mean change against the base.
rule general_table:
    input:
        general=general_summaries(),
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
        table="table3|table4",
    params:
        code=code("tables"),
        spec=json_param(general_spec()),
        caption=lambda w: output_caption(w.table),
        out=lambda w, output: os.path.splitext(output[0])[0],
    resources:
        **cpu_resources("tables"),
    log:
        f"{LOGS}/table/{{table}}.log",
    conda:
        "../envs/report.yaml"
    shell:
        "python3 -m mot --log {log} tables --name {wildcards.table} --spec {params.spec:q}"
        " --general {input.general} --out {params.out}"
