# Sampled evaluation: the base, every saved STD/MTD checkpoint, every MoT round's merged model.
# One job per run (all its checkpoints in one process); summaries tagged with student/source/run.

rule eval_base:
    input:
        model=eval_inputs,
        data=lambda w: sorted({benchmark_data(b) for b in eval_benchmarks(w)}),
    output:
        summary=L.EVAL_BASE_SUMMARY,
        samples=L.EVAL_BASE + L.EVAL_SAMPLES,
    params:
        code=code(f"evaluate[{EVAL['backend']}]"),  # the evaluation backend's code, not every backend's
        **EVAL_PARAMS,
        tag=lambda w: as_json({"student": w.student, "source": None, "run": "base"}),
    threads: 1
    resources:
        **job_resources("eval", gpu=lambda w: engine_gpus(EVAL["backend"], EVAL["params"])),
    log:
        f"{LOGS}/eval/{{student}}/base.log",
    conda:
        "../envs/generate.yaml"
    shell:
        eval_shell()


use rule eval_base as eval_run with:
    output:
        summary=L.EVAL_RUN_SUMMARY,
        samples=L.EVAL_RUN + L.EVAL_SAMPLES,
    params:
        **EVAL_PARAMS,
        tag=lambda w: as_json({"student": w.student, "source": w.source, "run": w.run}),
    log:
        f"{LOGS}/eval/{{student}}/{{source}}/{{run}}.log",


rule evals:
    input:
        all_evals(),
        evaluated_models(),
