# Beyond the paper (analyses.seeds; not in the main job): the grid over several world seeds, each
# in its own directory (mot.seeds), and one table of the spread. `snakemake --cores all seeds`.

# One seed's grid: a Snakemake run of its own in results/seeds/seed-<s>/, up to the eval summaries.
rule seed_run:
    output:
        evals=[f"{L.SEED_DIR}/{e}" for e in SEED_EVALS],
    params:
        code=all_code(),
        workflow=workflow_code(),
        config=json_param(run_config(config)),  # a seed added to analyses.seeds reruns no other
        dir=L.SEED_DIR,
        targets=SEED_EVALS,
        # relative to the working directory: a moved checkout keeps its params (and plans nothing)
        snakefile=os.path.relpath(workflow.main_snakefile),
    wildcard_constraints:
        seed=r"\d+",
    threads: all_cores()
    log:
        f"{LOGS}/seeds/seed-{{seed}}.log",
    conda:
        "../envs/train.yaml"
    shell:
        "python3 -m mot --log {log} seeds run --seed {wildcards.seed} --config {params.config:q}"
        " --dir {params.dir} --snakefile {params.snakefile} --cores {threads} --targets {params.targets}"


rule seeds_table:
    input:
        evals=seeds_evals,
    output:
        csv=f"{L.TABLE.format(table='seeds')}.csv",
        md=f"{L.TABLE.format(table='seeds')}.md",
        tex=f"{L.TABLE.format(table='seeds')}.tex",
        html=f"{L.TABLE.format(table='seeds')}.html",
    params:
        code=code("seeds"),
        spec=lambda w: as_json(table_spec("seeds")),
        evals=lambda w: " ".join(f"{s}={e}" for s in SEEDS for e in seed_evals(s)),
        out=lambda w, output: os.path.splitext(output.csv)[0],
    resources:
        **cpu_resources("tables"),
    log:
        f"{LOGS}/table/seeds.log",
    conda:
        "../envs/report.yaml"
    shell:
        "python3 -m mot --log {log} seeds table --spec {params.spec:q} --evals {params.evals} --out {params.out}"


# The table and every seed's eval summaries it reads: a deleted summary is rebuilt (Snakemake rebuilds
# a missing file only when a target lists it, not when only a finished table below it does).
rule seeds:
    input:
        rules.seeds_table.output,
        seeds_evals,
