# Verified corpora: one correct sample per prompt and teacher (STD), their union (MTD), stats.


rule corpus:
    input:
        samples=rules.generate.output.samples,
        code=code("corpus.py", "grading.py"),
    output:
        corpus="results/corpora/{source}/{teacher}.jsonl",
        grades="results/corpora/{source}/{teacher}.grades.json",
    params:
        seed=config["seed"],
    log:
        f"{LOGS}/corpus/{{source}}/{{teacher}}.log",
    conda:
        "../envs/mot.yaml"
    shell:
        "{PY} -m mot corpus --samples {input.samples} --seed {params.seed}"
        " --out {output.corpus} --grades {output.grades} > {log} 2>&1"


rule mtd_corpus:
    input:
        corpora=expand("results/corpora/{{source}}/{teacher}.jsonl", teacher=config["teacher_sets"]["all"]),
        code=code("corpus.py"),
    output:
        corpus="results/corpora/{source}/mtd.jsonl",
    log:
        f"{LOGS}/mtd_corpus/{{source}}.log",
    conda:
        "../envs/mot.yaml"
    shell:
        "{PY} -m mot union --out {output.corpus} {input.corpora} > {log} 2>&1"


rule corpus_stats:
    input:
        corpora=expand("results/corpora/{{source}}/{teacher}.jsonl", teacher=TEACHERS),
        grades=expand("results/corpora/{{source}}/{teacher}.grades.json", teacher=TEACHERS),
        tokenizer=lambda w: stats_tokenizer() if stats_tokenizer().startswith("results/") else [],
        code=code("corpus.py"),
    output:
        csv="results/corpora/{source}/stats.csv",
        md="results/corpora/{source}/stats.md",
    params:
        tokenizer=stats_tokenizer(),
    log:
        f"{LOGS}/corpus_stats/{{source}}.log",
    conda:
        "../envs/mot.yaml"
    shell:
        "{PY} -m mot stats --tokenizer {params.tokenizer} --grades {input.grades}"
        " --corpora {input.corpora} --out {output.csv} > {log} 2>&1"


rule corpora:
    input:
        expand("results/corpora/{source}/{teacher}.jsonl", source=SOURCES, teacher=TEACHERS),
        expand("results/corpora/{source}/mtd.jsonl", source=SOURCES),
        expand("results/corpora/{source}/stats.csv", source=SOURCES),
