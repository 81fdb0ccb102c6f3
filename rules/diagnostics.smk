# Per MoT round: branch distances, task-vector cosines, every model's loss on every teacher's corpus.


rule diagnostics_set:
    input:
        models=lambda w: mot_outputs(w.student, w.source, w.tset)
        + (
            mot_branches(w.student, w.source, w.tset)
            if PER_BRANCH
            else [L.FIRST_ROUND.format(student=w.student, source=w.source)]
        ),
        corpora=lambda w: [L.CORPUS.format(source=w.source, corpus=t) for t in SETS[w.tset]],
    output:
        csv=f"{L.DIAGNOSTICS}.csv",
        png=report(
            f"{L.DIAGNOSTICS}.png",
            caption="../report/caption.rst",
            category=report_category("diagnostics"),
            subcategory="MoT diagnostics",
            labels=lambda w: {"output": f"diagnostics {w.student} {w.source} {w.tset}", "kind": "figure"},
        ),
        pdf=f"{L.DIAGNOSTICS}.pdf",
    params:
        code=code("diagnostics"),
        base=lambda w: base_model(w.student),
        rounds=TRAIN["rounds"],
        max_length=TRAIN["max_length"],
        corpora=lambda w: " ".join(
            f"--corpus {t}={L.CORPUS.format(source=w.source, corpus=t)}" for t in SETS[w.tset]
        ),
        out=lambda w, output: os.path.splitext(output[0])[0],
        caption=lambda w: f"MoT diagnostics of teacher set {w.tset} ({w.student} on {w.source}), per round: each "
        "branch's distance from the branch mean, the cosines of the branches' task vectors (branch minus "
        "round start), and the mean token loss on the teachers' corpora of each branch (its own teacher's "
        "and the others'), the round's start and the merged model.",
    threads: 1
    resources:  # one process: a student that trains on GPUs is run on one of them (mot.diagnostics)
        **job_resources("eval", gpu=lambda w: min(1, student_gpus(config, w.student))),
    log:
        f"{LOGS}/diagnostics/{{student}}/{{source}}/{{tset}}.log",
    conda:
        "../envs/train.yaml"
    shell:
        "python3 -m mot --log {log} --threads {threads} diagnostics --student {wildcards.student}"
        " --source {wildcards.source} --tset {wildcards.tset} --rounds {params.rounds} --base {params.base}"
        " {params.corpora} --max-length {params.max_length} --out {params.out}"


rule diagnostics:
    input:
        [
            f"{L.DIAGNOSTICS.format(student=st, source=so, tset=ts)}.csv"
            for st in STUDENTS
            for so in SOURCES
            for ts in CONFIG_SETS
        ],
