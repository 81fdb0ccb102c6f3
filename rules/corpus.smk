# Verified corpora: one correct sample per prompt and teacher (STD), their union (MTD), stats.


# A prompt keeps a correct trace that fits the student's train.max_length (train.truncation: drop),
# measured in the first student's chat template and tokens, as Table 10's lengths are.
rule corpus:
    input:
        samples=rules.generate.output.samples,
        tokenizer=lambda w: base_input(STUDENTS[0]),
    output:
        corpus=L.CORPUS.replace("{corpus}", "{teacher}"),
        grades=L.GRADES,
    params:
        code=code("corpus"),
        seed=config["seed"],
        tokenizer=stats_tokenizer(),
        max_length=TRAIN["max_length"],
        truncation=TRAIN["truncation"],
    resources:
        **cpu_resources("corpus"),
    log:
        f"{LOGS}/corpus/{{source}}/{{teacher}}.log",
    conda:
        "../envs/generate.yaml"
    shell:
        "python3 -m mot --log {log} corpus --samples {input.samples} --seed {params.seed}"
        " --tokenizer {params.tokenizer} --max-length {params.max_length} --truncation {params.truncation}"
        " --out {output.corpus} --grades {output.grades}"


rule mtd_corpus:
    input:
        corpora=lambda w: [L.CORPUS.format(source=w.source, corpus=t) for t in config["teacher_sets"]["all"]],
    output:
        corpus=L.CORPUS.replace("{corpus}", L.MTD),
    params:
        code=code("union"),
    resources:
        **cpu_resources("mtd_corpus"),
    log:
        f"{LOGS}/mtd_corpus/{{source}}.log",
    conda:
        "../envs/generate.yaml"
    shell:
        "python3 -m mot --log {log} union --out {output.corpus} {input.corpora}"


rule corpus_stats:
    input:
        corpora=lambda w: [L.CORPUS.format(source=w.source, corpus=t) for t in TEACHERS],
        grades=lambda w: [L.GRADES.format(source=w.source, teacher=t) for t in TEACHERS],
        tokenizer=lambda w: base_input(STUDENTS[0]),
    output:
        csv=L.STATS_CSV,
        md=L.STATS_MD,
    params:
        code=code("stats"),
        tokenizer=stats_tokenizer(),
    resources:
        **cpu_resources("corpus_stats"),
    log:
        f"{LOGS}/corpus_stats/{{source}}.log",
    conda:
        "../envs/generate.yaml"
    shell:
        "python3 -m mot --log {log} stats --tokenizer {params.tokenizer} --grades {input.grades}"
        " --corpora {input.corpora} --out {output.csv}"


# Listing prompts and samples here (not only the corpora) makes a deleted intermediate file a
# reason to rerun: Snakemake otherwise treats a missing intermediate as fine while its
# downstream outputs exist.
rule corpora:
    input:
        [L.PROMPTS.format(source=so) for so in SOURCES],
        [L.SAMPLES.format(source=so, teacher=t) for so in SOURCES for t in TEACHERS],
        [L.CORPUS.format(source=so, corpus=c) for so in SOURCES for c in TEACHERS + [L.MTD]],
        stats_files(),
