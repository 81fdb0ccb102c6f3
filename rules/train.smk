# SFT: single-teacher (STD) and multi-teacher (MTD) runs, and Merge-of-Thought rounds.
# MoT runs either one job per branch and one per merge (mot.jobs: per_branch; a cluster trains a
# round's K branches at once, and every round's merged model is a target of its own), or one job
# per teacher set (per_set; on a laptop the ~6 s of imports per job cost more than a 5-step
# branch). Both run the jobs of one plan (mot.rounds.plan: mot_plan below) and write the same files.


rule sft:
    input:
        corpus=L.CORPUS,
        model=lambda w: base_input(w.student),
        accelerate=lambda w: launch_files(w.student),  # its FSDP or DeepSpeed settings
    output:
        model=directory(L.RUN.replace("{run}", "sft-{corpus}")),
    params:
        code=code("train", "mot.multinode"),
        launch=lambda w: launch(w.student),
        model=lambda w: base_model(w.student),
        spec=json_param(sft_values(config)),  # mot.train.TrainSpec
    threads: 1
    resources:
        **train_resources(lambda w: "train_mtd" if w.corpus == L.MTD else "train_std"),
    log:
        f"{LOGS}/sft/{{student}}/{{source}}/{{corpus}}.log",
    conda:
        "../envs/train.yaml"
    shell:
        "{params.launch} --log {log} --threads {threads} train --model {params.model} --corpus {input.corpus}"
        " --spec {params.spec:q} --out {output.model}"


if PER_BRANCH:

    rule mot_first_branch:
        input:
            corpus=L.CORPUS.replace("{corpus}", "{teacher}"),
            model=lambda w: base_input(w.student),
            accelerate=lambda w: launch_files(w.student),
        output:
            model=directory(f"{L.FIRST_ROUND}/{L.BRANCH}"),
        params:
            code=code("train", "mot.multinode"),
            launch=lambda w: launch(w.student),
            model=lambda w: base_model(w.student),
            spec=lambda w: as_json(branch_arg(mot_job(w).spec)),  # mot.train.TrainSpec
        threads: 1
        resources:
            **train_resources("train_mot"),
        log:
            f"{LOGS}/mot_branch/{{student}}/{{source}}/round-1/{{teacher}}.log",
        conda:
            "../envs/train.yaml"
        shell:
            "{params.launch} --log {log} --threads {threads} train --model {params.model} --corpus {input.corpus}"
            " --spec {params.spec:q} --out {output.model}"

    rule mot_branch:
        input:
            corpus=L.CORPUS.replace("{corpus}", "{teacher}"),
            model=lambda w: mot_job(w).init,
            optimizer=lambda w: list(filter(None, [mot_job(w).spec.init_optimizer])),
            accelerate=lambda w: launch_files(w.student),
        output:
            model=directory(f"{L.RUN.replace('{run}', 'mot-{tset}')}/{L.ROUND}/{L.BRANCH}"),
        wildcard_constraints:
            round=r"[2-9]|[1-9]\d+",  # round 1's branches: rule mot_first_branch
        params:
            code=code("train", "mot.multinode"),
            launch=lambda w: launch(w.student),
            spec=lambda w: as_json(branch_arg(mot_job(w).spec)),  # mot.train.TrainSpec
        threads: 1
        resources:
            **train_resources("train_mot"),
        log:
            f"{LOGS}/mot_branch/{{student}}/{{source}}/{{tset}}/round-{{round}}/{{teacher}}.log",
        conda:
            "../envs/train.yaml"
        shell:
            "{params.launch} --log {log} --threads {threads} train --model {input.model} --corpus {input.corpus}"
            " --spec {params.spec:q} --out {output.model}"

    rule mot_merge:
        input:
            branches=lambda w: mot_job(w).branches,
            base=lambda w: base_input(w.student) if int(w.round) == 1 else [mot_job(w).init],
        output:
            model=directory(f"{L.RUN.replace('{run}', 'mot-{tset}')}/{L.ROUND}/{L.MERGED}"),
        params:
            code=lambda w: code(f"merge[{mot_job(w).method}]"),  # its merge method's code only
            method=lambda w: mot_job(w).method,
            base=lambda w: f"--base {mot_job(w).base}" if mot_job(w).base else "",
            params=lambda w: " ".join(f"--param {k}={as_json(v)}" for k, v in sorted(mot_job(w).params.items())),
        resources:
            **cpu_resources("merge"),
        log:
            f"{LOGS}/mot_merge/{{student}}/{{source}}/{{tset}}/round-{{round}}.log",
        conda:
            "../envs/train.yaml"
        shell:
            "python3 -m mot --log {log} merge --method {params.method} {params.base} {params.params}"
            " --out {output.model} {input.branches}"

else:

    rule mot_first_round:
        input:
            corpora=lambda w: [L.CORPUS.format(source=w.source, corpus=t) for t in MOT_TEACHERS],
            model=lambda w: base_input(w.student),
            accelerate=lambda w: launch_files(w.student),
        output:
            model=directory(L.FIRST_ROUND),
        params:
            code=code("branches", "mot.multinode"),
            launch=lambda w: launch(w.student),
            model=lambda w: base_model(w.student),
            corpora=lambda w, input: " ".join(f"--corpus {t}={c}" for t, c in zip(MOT_TEACHERS, input.corpora)),
            spec=json_param(rounds_values(config)),  # mot.rounds.RoundsSpec (the merge method: not in round 1)
        threads: 1
        resources:
            **train_resources("train_mot", jobs=lambda w: len(MOT_TEACHERS)),
        log:
            f"{LOGS}/mot_first_round/{{student}}/{{source}}.log",
        conda:
            "../envs/train.yaml"
        shell:
            "{params.launch} --log {log} --threads {threads} branches --model {params.model} {params.corpora}"
            " --spec {params.spec:q} --out {output.model}"

    rule mot_rounds:
        input:
            first_round=L.FIRST_ROUND,
            corpora=lambda w: [L.CORPUS.format(source=w.source, corpus=t) for t in SETS[w.tset]],
            model=lambda w: base_input(w.student),
            accelerate=lambda w: launch_files(w.student),
        output:
            model=directory(L.RUN.replace("{run}", "mot-{tset}")),
        params:
            code=lambda w: code(f"rounds[{merge_method(w.tset)[0]}]", "mot.multinode"),  # its merge method's only
            launch=lambda w: launch(w.student),
            base=lambda w: base_model(w.student),
            corpora=lambda w, input: " ".join(
                f"--corpus {t}={c}" for t, c in zip(SETS[w.tset], input.corpora)
            ),
            spec=lambda w: as_json(rounds_values(config, *merge_method(w.tset))),  # mot.rounds.RoundsSpec
        threads: 1
        resources:
            # every branch of rounds 2..T, one after another
            **train_resources("train_mot", jobs=lambda w: len(SETS[w.tset]) * (len(ROUNDS) - 1)),
        log:
            f"{LOGS}/mot_rounds/{{student}}/{{source}}/{{tset}}.log",
        conda:
            "../envs/train.yaml"
        shell:
            "{params.launch} --log {log} --threads {threads} rounds --first-round {input.first_round}"
            " --base {params.base} {params.corpora} --spec {params.spec:q} --out {output.model}"


rule models:
    input:
        sft_models(),
        mot_models(),
