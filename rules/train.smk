# SFT: single-teacher (STD) and multi-teacher (MTD) runs, and Merge-of-Thought rounds.


rule sft:
    input:
        corpus="results/corpora/{source}/{corpus}.jsonl",
        model=lambda w: base_input(w.student),
        code=code("train.py"),
    output:
        model=directory("results/models/{student}/{source}/sft-{corpus}"),
    params:
        model=lambda w: base_model(w.student),
        hparams=json_param(sft_hparams()),
        steps=TRAIN["std_steps"],
        save_every=TRAIN["save_every"],
        seed=config["seed"],
    threads: 2
    resources:
        gpu=gpus(),
    log:
        f"{LOGS}/sft/{{student}}/{{source}}/{{corpus}}.log",
    conda:
        "../envs/mot.yaml"
    shell:
        "python3 -m mot --log {log} train --model {params.model} --corpus {input.corpus}"
        " --hparams {params.hparams:q} --steps {params.steps} --save-every {params.save_every}"
        " --seed {params.seed} --out {output.model}"


rule mot_branch:
    input:
        corpus="results/corpora/{source}/{teacher}.jsonl",
        model=lambda w: mot_init(w) if int(w.round) > 1 else base_input(w.student),
        optimizer=lambda w: (
            f"{mot_dir(w, int(w.round) - 1)}/branch-{w.teacher}"
            if TRAIN.get("optimizer_state") == "carry" and int(w.round) > 1
            else []
        ),
        code=code("train.py"),
    output:
        model=directory(
            "results/models/{student}/{source}/mot-{tset}/round-{round}/branch-{teacher}"
        ),
    params:
        model=mot_init,
        hparams=json_param(sft_hparams()),
        steps=TRAIN["steps_per_round"],
        start=lambda w: mot_schedule(w)["start"],
        total=lambda w: mot_schedule(w)["total"],
        optimizer=lambda w, input: (
            f"--init-optimizer {input.optimizer} --save-optimizer"
            if input.optimizer
            else ("--save-optimizer" if TRAIN.get("optimizer_state") == "carry" else "")
        ),
        seed=config["seed"],
    threads: 2
    resources:
        gpu=gpus(),
    log:
        f"{LOGS}/mot_branch/{{student}}/{{source}}/{{tset}}/{{round}}/{{teacher}}.log",
    conda:
        "../envs/mot.yaml"
    shell:
        "python3 -m mot --log {log} train --model {params.model} --corpus {input.corpus}"
        " --hparams {params.hparams:q} --steps {params.steps} --start-step {params.start}"
        " --total-steps {params.total} {params.optimizer} --seed {params.seed} --out {output.model}"


rule mot_merge:
    input:
        branches=lambda w: [
            f"{mot_dir(w)}/branch-{t}" for t in config["teacher_sets"][w.tset]
        ],
        base=lambda w: mot_init(w) if int(w.round) > 1 else base_input(w.student),
        code=code("merge.py"),
    output:
        model=directory("results/models/{student}/{source}/mot-{tset}/round-{round}/merged"),
    params:
        method=config["mot"]["merge_method"],
        base=lambda w: f"--base {mot_init(w)}",
        state=lambda w: (
            f"--param state={mot_dir(w, int(w.round) - 1)}/merged"
            if config["mot"]["merge_method"] == "outer"
            and config["mot"].get("merge_params", {}).get("momentum")
            and int(w.round) > 1
            else ""
        ),
        extra=lambda w: " ".join(
            f"--param {k}={json.dumps(v)}"
            for k, v in config["mot"].get("merge_params", {}).items()
        ),
    log:
        f"{LOGS}/mot_merge/{{student}}/{{source}}/{{tset}}/{{round}}.log",
    conda:
        "../envs/mot.yaml"
    shell:
        "python3 -m mot --log {log} merge --method {params.method} {params.base} {params.state}"
        " {params.extra} --out {output.model} {input.branches}"


rule models:
    input:
        sft_models(),
        mot_models(),
