# Teacher sampling: n responses per prompt, one job per (source, teacher), resumable.


rule generate:
    input:
        prompts=rules.prompts.output.prompts,
    output:
        samples="results/samples/{source}/{teacher}.jsonl",
    params:
        code=code("teachers.py", "world.py"),
        teacher=lambda w: teacher_spec(w.teacher),
        sampling=json_param(config["sampling"]),
        seed=config["seed"],
    resources:
        gpu=lambda w: teacher_gpus(w.teacher),
    log:
        f"{LOGS}/generate/{{source}}/{{teacher}}.log",
    conda:
        "../envs/mot.yaml"
    shell:
        "python3 -m mot --log {log} generate --prompts {input.prompts} --teacher {params.teacher:q}"
        " --sampling {params.sampling:q} --seed {params.seed} --out {output.samples}"
