# Merges outside the MoT rounds: the reverse-merge probe (paper Figure 5). The rounds' own merges
# are rule mot_merge (rules/train.smk), next to the branches they merge.


rule probe_point:
    input:
        base=lambda w: base_input(w.student),
        model=lambda w: eval_inputs(SimpleNamespace(student=w.student, source=w.source, run=w.probed)),
    output:
        model=directory(L.PROBE_POINT),
    params:
        code=code("merge[interpolate]"),
        base=lambda w: base_model(w.student),
        model=lambda w: final_model(w.student, w.source, w.probed),
        lam=lambda w: int(w.pct) / 100,
    resources:
        **cpu_resources("merge"),
    log:
        f"{LOGS}/probe_point/{{student}}/{{source}}/{{probed}}/lambda-{{pct}}.log",
    conda:
        "../envs/train.yaml"
    shell:
        "python3 -m mot --log {log} merge --method interpolate --base {params.base} --param lambda={params.lam}"
        " --out {output.model} {params.model}"
