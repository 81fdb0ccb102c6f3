# The synthetic world: problem splits, and a pre-trained tiny Qwen3 base with its offline tokenizer.


rule world:
    input:
    output:
        world=L.WORLD,
    params:
        code=code("world"),
        spec=json_param(config.get("world", {})),
    resources:
        **cpu_resources("world"),
    log:
        f"{LOGS}/world.log",
    conda:
        "../envs/generate.yaml"
    shell:
        "python3 -m mot --log {log} world --spec {params.spec:q} --out {output.world}"


# Shipped in the repository for the default config (pre-training takes minutes); built here for
# any other settings, or rebuilt bit for bit with --forcerun world_student. No file inputs: it
# draws its pretrain split itself, so a fresh clone's checkout times cannot make it look stale.
rule world_student:
    output:
        model=directory(L.SYNTHETIC_BASE),
    params:
        code=code("world-student"),
        world=json_param(config.get("world", {})),
        arch=lambda w: as_json(config["students"][w.student]["arch"]),
        pretrain=lambda w: as_json(config["students"][w.student]["pretrain"]),
        torch_threads=2,  # fixed, not {threads}: under --cores 1 the weights stay the same bytes
    threads: 2
    resources:
        **cpu_resources("world_student"),
    log:
        f"{LOGS}/world_student/{{student}}-{{key}}.log",
    conda:
        "../envs/train.yaml"
    shell:
        "python3 -m mot --log {log} --threads {params.torch_threads} world-student --world {params.world:q}"
        " --arch {params.arch:q} --pretrain {params.pretrain:q} --out {output.model}"


rule base_models:
    input:
        [base_model(st) for st in synthetic_students()],
