# The synthetic world: problem splits, an offline tokenizer, a pre-trained tiny Qwen3 base.


rule world:
    input:
    output:
        world=L.WORLD,
    params:
        code=code("world.py"),
        spec=json_param(config.get("world", {})),
    resources:
        **cpu_resources("world"),
    log:
        f"{LOGS}/world.log",
    conda:
        "../envs/generate.yaml"
    shell:
        "python3 -m mot --log {log} world --spec {params.spec:q} --out {output.world}"


rule world_tokenizer:
    input:
        world=rules.world.output.world,
    output:
        tokenizer=directory(L.TOKENIZER),
    params:
        code=code("student.py"),
        vocab_size=config.get("world", {}).get("vocab_size", 512),
        seed=config.get("world", {}).get("seed", 0),
    resources:
        **cpu_resources("world_tokenizer"),
    log:
        f"{LOGS}/world_tokenizer.log",
    conda:
        "../envs/train.yaml"
    shell:
        "python3 -m mot --log {log} world-tokenizer --world {input.world} --vocab-size {params.vocab_size}"
        " --seed {params.seed} --out {output.tokenizer}"


rule world_student:
    input:
        world=rules.world.output.world,
        tokenizer=rules.world_tokenizer.output.tokenizer,
    output:
        model=directory(L.BASE),
    params:
        code=code("student.py", "grading.py"),
        arch=lambda w: as_json(config["students"][w.student]["arch"]),
        pretrain=lambda w: as_json(config["students"][w.student]["pretrain"]),
        torch_threads=2,  # fixed, not {threads}: under --cores 1 the weights stay the same bytes
    threads: 2
    resources:
        **cpu_resources("world_student"),
    log:
        f"{LOGS}/world_student/{{student}}.log",
    conda:
        "../envs/train.yaml"
    shell:
        "python3 -m mot --log {log} --threads {params.torch_threads} world-student --world {input.world}"
        " --tokenizer {input.tokenizer}"
        " --arch {params.arch:q} --pretrain {params.pretrain:q} --out {output.model}"


rule base_models:
    input:
        [L.base_dir(st) for st in synthetic_students()],
