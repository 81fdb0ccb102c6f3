# Verified corpora: one correct sample per prompt and teacher (STD), their union (MTD), stats.


rule corpus:
    input:
        samples=rules.generate.output.samples,
    output:
        corpus="results/corpora/{source}/{teacher}.jsonl",
        grades="results/corpora/{source}/{teacher}.grades.json",
    params:
        code=code("corpus.py", "grading.py"),
        seed=config["seed"],
    log:
        f"{LOGS}/corpus/{{source}}/{{teacher}}.log",
    conda:
        "../envs/mot.yaml"
    shell:
        "python3 -m mot --log {log} corpus --samples {input.samples} --seed {params.seed}"
        " --out {output.corpus} --grades {output.grades}"


rule mtd_corpus:
    input:
        corpora=expand("results/corpora/{{source}}/{teacher}.jsonl", teacher=config["teacher_sets"]["all"]),
    output:
        corpus="results/corpora/{source}/mtd.jsonl",
    params:
        code=code("corpus.py"),
    log:
        f"{LOGS}/mtd_corpus/{{source}}.log",
    conda:
        "../envs/mot.yaml"
    shell:
        "python3 -m mot --log {log} union --out {output.corpus} {input.corpora}"


rule corpus_stats:
    input:
        corpora=expand("results/corpora/{{source}}/{teacher}.jsonl", teacher=TEACHERS),
        grades=expand("results/corpora/{{source}}/{teacher}.grades.json", teacher=TEACHERS),
        tokenizer=lambda w: stats_tokenizer() if stats_tokenizer().startswith("results/") else [],
    output:
        csv="results/corpora/{source}/stats.csv",
        md="results/corpora/{source}/stats.md",
    params:
        code=code("corpus.py"),
        tokenizer=stats_tokenizer(),
    log:
        f"{LOGS}/corpus_stats/{{source}}.log",
    conda:
        "../envs/mot.yaml"
    shell:
        "python3 -m mot --log {log} stats --tokenizer {params.tokenizer} --grades {input.grades}"
        " --corpora {input.corpora} --out {output.csv}"


# Listing prompts and samples here (not only the corpora) makes a deleted intermediate file a
# reason to rerun: Snakemake otherwise treats a missing intermediate as fine while its
# downstream outputs exist.
rule corpora:
    input:
        expand("results/prompts/{source}.jsonl", source=SOURCES),
        expand("results/samples/{source}/{teacher}.jsonl", source=SOURCES, teacher=TEACHERS),
        expand("results/corpora/{source}/{teacher}.jsonl", source=SOURCES, teacher=TEACHERS),
        expand("results/corpora/{source}/mtd.jsonl", source=SOURCES),
        expand("results/corpora/{source}/stats.csv", source=SOURCES),
