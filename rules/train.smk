# SFT: single-teacher (STD) and multi-teacher (MTD) runs, and Merge-of-Thought rounds.


rule sft:
    input:
        corpus="results/corpora/{source}/{corpus}.jsonl",
        model=lambda w: base_input(w.student),
    output:
        model=directory("results/models/{student}/{source}/sft-{corpus}"),
    params:
        code=code("train.py"),
        launch=lambda w: launch(w.student),
        model=lambda w: base_model(w.student),
        hparams=json_param(sft_hparams()),
        steps=TRAIN["std_steps"],
        save_every=TRAIN["save_every"],
        seed=config["seed"],
    threads: 1
    resources:
        gpu=lambda w: gpus(w.student),
    log:
        f"{LOGS}/sft/{{student}}/{{source}}/{{corpus}}.log",
    conda:
        "../envs/mot.yaml"
    shell:
        "{params.launch} --log {log} --threads {threads} train --model {params.model} --corpus {input.corpus}"
        " --hparams {params.hparams:q} --steps {params.steps} --save-every {params.save_every}"
        " --seed {params.seed} --out {output.model}"


rule mot_first_round:
    input:
        corpora=lambda w: expand("results/corpora/{source}/{teacher}.jsonl", source=w.source,
                                 teacher=MOT_TEACHERS),
        model=lambda w: base_input(w.student),
    output:
        model=directory("results/models/{student}/{source}/mot-round-1"),
    params:
        code=code("train.py", "rounds.py"),
        launch=lambda w: launch(w.student),
        model=lambda w: base_model(w.student),
        corpora=lambda w, input: " ".join(f"--corpus {t}={c}" for t, c in zip(MOT_TEACHERS, input.corpora)),
        hparams=json_param(sft_hparams()),
        steps=TRAIN["steps_per_round"],
        total=lambda w: mot_schedule(1)["total"],
        optimizer="--save-optimizer" if TRAIN.get("optimizer_state") == "carry" else "",
        seed=config["seed"],
    threads: 1
    resources:
        gpu=lambda w: gpus(w.student),
    log:
        f"{LOGS}/mot_first_round/{{student}}/{{source}}.log",
    conda:
        "../envs/mot.yaml"
    shell:
        "{params.launch} --log {log} --threads {threads} branches --model {params.model} {params.corpora}"
        " --hparams {params.hparams:q} --steps {params.steps} --total-steps {params.total}"
        " {params.optimizer} --seed {params.seed} --out {output.model}"


rule mot_rounds:
    input:
        first_round="results/models/{student}/{source}/mot-round-1",
        corpora=lambda w: expand("results/corpora/{source}/{teacher}.jsonl", source=w.source,
                                 teacher=config["teacher_sets"][w.tset]),
        model=lambda w: base_input(w.student),
    output:
        model=directory("results/models/{student}/{source}/mot-{tset}"),
    params:
        code=code("train.py", "merge.py", "rounds.py"),
        launch=lambda w: launch(w.student),
        base=lambda w: base_model(w.student),
        corpora=lambda w, input: " ".join(
            f"--corpus {t}={c}" for t, c in zip(config["teacher_sets"][w.tset], input.corpora)
        ),
        hparams=json_param(sft_hparams()),
        rounds=TRAIN["rounds"],
        spr=TRAIN["steps_per_round"],
        method=config["mot"]["merge_method"],
        merge_params=json_param(config["mot"].get("merge_params", {})),
        schedule=TRAIN.get("schedule", "global"),
        optimizer_state=TRAIN.get("optimizer_state", "reset"),
        seed=config["seed"],
    threads: 1
    resources:
        gpu=lambda w: gpus(w.student),
    log:
        f"{LOGS}/mot_rounds/{{student}}/{{source}}/{{tset}}.log",
    conda:
        "../envs/mot.yaml"
    shell:
        "{params.launch} --log {log} --threads {threads} rounds --first-round {input.first_round} --base {params.base}"
        " {params.corpora} --hparams {params.hparams:q} --rounds {params.rounds}"
        " --steps-per-round {params.spr} --method {params.method} --params {params.merge_params:q}"
        " --schedule {params.schedule} --optimizer-state {params.optimizer_state} --seed {params.seed}"
        " --out {output.model}"


rule models:
    input:
        sft_models(),
        mot_models(),
