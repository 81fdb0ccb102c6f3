# The compute plan: jobs, GPU-hours and time limits per stage, before anything runs:
#   snakemake plan --cores 1 --configfile config/paper.yaml      # then read results/plan.md
# Trace lengths are the config's limits until the corpora exist, then their measured means.


localrules:
    plan,


rule plan:
    input:
        stats=lambda w: [p for p in stats_files() if os.path.exists(p)],
    output:
        plan=L.PLAN,
    params:
        code=code("plan"),
        config=json_param(config),
    log:
        f"{LOGS}/plan.log",
    conda:
        "../envs/report.yaml"
    shell:
        "python3 -m mot --log {log} plan --config {params.config:q} --stats {input.stats} --out {output.plan}"
