# The paper's run rehearsed on CPU (config/rehearsal.yaml over config/paper.yaml): the tiny models of
# the paper's architectures, in the hub's layout, that the rehearsal's model paths name (mot.rehearsal).


rule rehearsal_model:
    input:
        prompts=expand(L.PROMPTS, source=SOURCES),  # each model is imprinted with their answers
        data=lambda w: rehearsal_data(rehearsal_hub_id(w.name)),  # its chat template and the tiny tokenizer
    output:
        model=directory(L.REHEARSAL_MODEL),
    wildcard_constraints:
        name=r"tiny-[A-Za-z0-9.-]+",
    params:
        code=code("rehearsal"),
        model=lambda w: rehearsal_hub_id(w.name),
        seed=config["seed"],
        torch_threads=1,  # fixed, not {threads}: the same bytes under any --cores
    resources:
        **cpu_resources("rehearsal_model"),
    log:
        f"{LOGS}/rehearsal_model/{{name}}.log",
    conda:
        "../envs/train.yaml"
    shell:
        "python3 -m mot --log {log} --threads {params.torch_threads} rehearsal model --model {params.model}"
        " --prompts {input.prompts} --seed {params.seed} --out {output.model}"


# The rehearsal's checks on its own files (mot.rehearsal.check), after everything all_analyses makes.
rule rehearsal_checks:
    input:
        rules.all_analyses.input,
    output:
        checks=L.REHEARSAL_CHECKS,
    params:
        code=code("rehearsal"),
        students=lambda w: " ".join(f"--student {st}={base_model(st)}" for st in STUDENTS),
        boba=" ".join(f"--boba {so}" for so in SOURCES if config["sources"][so]["type"] == "boba"),
        results=lambda w, output: os.path.dirname(os.path.dirname(output.checks)),  # results/
    resources:
        **cpu_resources("rehearsal_checks"),
    log:
        f"{LOGS}/rehearsal_checks.log",
    conda:
        "../envs/train.yaml"
    shell:
        "python3 -m mot --log {log} rehearsal check --results {params.results} {params.students} {params.boba}"
        " --checks {output.checks}"


# The whole rehearsal: the paper's DAG (all_analyses) and the checks on its files.
rule rehearsal:
    input:
        rules.rehearsal_checks.output,


# One job of every kind the paper's run has (rehearsal_kinds() in rules/common.smk): a rehearsal
# through a cluster (CI runs it through SLURM on two nodes).
rule rehearsal_kinds:
    input:
        rehearsal_kinds(),
