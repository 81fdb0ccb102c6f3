# Teacher sampling: n responses per prompt, one job per (source, teacher), resumable. A teacher
# with `shards: K` runs K data-parallel jobs over runs of its prompts, joined in prompt order.

GENERATE_PARAMS = dict(
    code=lambda w: code(f"generate[{teacher_cfg(w.teacher)['backend']}]", "mot.multinode"),  # its backend's code only
    teacher=lambda w: teacher_spec(w.teacher, w.source),
    sampling=lambda w: as_json(teacher_sampling(w.teacher)),
    seed=config["seed"],
)


rule generate:
    input:
        prompts=rules.prompts.output.prompts,
        # Table 9's teachers are trained students; a teacher's local model may be a rule's (the rehearsal)
        model=lambda w: as_teacher_model(w.teacher, w.source)[1] if w.teacher in AS_TEACHERS
        else teacher_model_input(w.teacher),
    output:
        samples=L.SAMPLES,
    wildcard_constraints:
        teacher=alternatives([t for t in TEACHERS if teacher_shards(t) == 1] + AS_TEACHERS),
    params:
        **GENERATE_PARAMS,
        shard="",
    resources:
        **job_resources("generate", gpu=lambda w: teacher_gpus(w.teacher), nodes=lambda w: teacher_nodes(w.teacher)),
    log:
        f"{LOGS}/generate/{{source}}/{{teacher}}.log",
    conda:
        "../envs/generate.yaml"
    shell:
        "python3 -m mot --log {log} generate --prompts {input.prompts} --teacher {params.teacher:q}"
        " --sampling {params.sampling:q} --seed {params.seed} {params.shard} --out {output.samples}"


use rule generate as generate_shard with:
    output:
        samples=L.SAMPLES_SHARD,
    wildcard_constraints:
        teacher=alternatives(t for t in TEACHERS if teacher_shards(t) > 1),
        shard=r"\d+",
        shards=r"\d+",
    params:
        **GENERATE_PARAMS,
        shard=lambda w: f"--shard {w.shard}/{w.shards}",
    log:
        f"{LOGS}/generate/{{source}}/{{teacher}}/shard-{{shard}}-of-{{shards}}.log",


rule join_samples:
    input:
        prompts=rules.prompts.output.prompts,
        shards=lambda w: [L.SAMPLES_SHARD.format(source=w.source, teacher=w.teacher, shard=i, shards=teacher_shards(w.teacher))
                          for i in range(teacher_shards(w.teacher))],
    output:
        samples=L.SAMPLES,
    wildcard_constraints:
        teacher=alternatives(t for t in TEACHERS if teacher_shards(t) > 1),
    params:
        code=code("join-samples"),
    resources:
        **cpu_resources("join_samples"),
    log:
        f"{LOGS}/join_samples/{{source}}/{{teacher}}.log",
    conda:
        "../envs/generate.yaml"
    shell:
        "python3 -m mot --log {log} join-samples --prompts {input.prompts} --out {output.samples} {input.shards}"
