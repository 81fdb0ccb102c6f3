# Shared helpers: config validation, names, per-stage code inputs, JSON params.
import json
import re

from mot.config import validate_config
from mot.workflow import code_version
from mot.io import MotError

try:
    validate_config(config, os.path.join(workflow.basedir, "config", "schema.yaml"),
                    ", ".join(map(str, workflow.configfiles)) or "config")
except MotError as e:
    raise WorkflowError(str(e)) from None


SOURCES = list(config["sources"])
TEACHERS = list(config["teachers"])
STUDENTS = list(config["students"])
LOGS = "results/logs"


wildcard_constraints:
    source="|".join(map(re.escape, SOURCES)),
    teacher="|".join(map(re.escape, TEACHERS)),
    student="|".join(map(re.escape, STUDENTS)),
    tset="|".join(map(re.escape, config["teacher_sets"])),
    run="base|" + "|".join(
        [f"sft-{re.escape(c)}" for c in list(config["teachers"]) + ["mtd"]]
        + [f"mot-{re.escape(t)}" for t in config["teacher_sets"]]
    ),
    corpus="|".join(map(re.escape, list(config["teachers"]) + ["mtd"])),
    round=r"\d+",


def code(*modules):
    """A param that changes when a stage's code does (its modules and what they import)."""
    return code_version(SRC, *modules)


def as_json(obj):
    return json.dumps(obj, sort_keys=True)


def json_param(obj):
    """A JSON param, deferred so Snakemake does not read its braces as wildcards."""
    return lambda wildcards: as_json(obj)


def synthetic_students():
    return [s for s in STUDENTS if config["students"][s]["init"] == "synthetic"]


def needs_world(source):
    return config["sources"][source]["type"] == "synthetic"


def stats_tokenizer():
    """Trace lengths are counted in the first student's tokens."""
    student = config["students"][STUDENTS[0]]
    return "results/world/tokenizer" if student["init"] == "synthetic" else student["path"]


def alternatives(names):
    """A wildcard regex matching exactly these names (none: a regex that matches nothing)."""
    return "|".join(map(re.escape, names)) or "(?!)"


def teacher_spec(name):
    """What shapes a teacher's samples (not its label or shard count)."""
    t = config["teachers"][name]
    return as_json({"name": name, "backend": t["backend"], "params": t["params"]})


def teacher_shards(name):
    return config["teachers"][name].get("shards", 1)


def backend_gpus(backend, params):
    """GPUs one generation job holds: TP x PP for vllm (the whole engine), 1 for hf on CUDA."""
    if backend == "vllm":
        return params.get("tensor_parallel_size", 1) * params.get("pipeline_parallel_size", 1)
    return 1 if backend == "hf" and str(params.get("device", "cpu")).startswith("cuda") else 0


def teacher_gpus(name):
    t = config["teachers"][name]
    return backend_gpus(t["backend"], t["params"])


TEACHER_SETS = list(config["teacher_sets"])
TRAIN = config["train"]
ROUNDS = list(range(1, TRAIN["rounds"] + 1))
# Keys that shape one SFT run; MoT-only keys stay out so that changing them reruns MoT jobs only.
SFT_KEYS = ["lr", "betas", "weight_decay", "warmup_ratio", "grad_clip", "batch_size", "micro_batch_size",
            "max_length", "bf16", "attn_implementation", "gradient_checkpointing", "truncation", "packing",
            "save_state_minutes"]


def sft_hparams():
    return {k: TRAIN[k] for k in SFT_KEYS if k in TRAIN}


def base_model(student):
    """The student's initial weights: built by rule world_student, or a hub id / local path."""
    s = config["students"][student]
    return f"results/models/{student}/base" if s["init"] == "synthetic" else s["path"]


def base_input(student):
    return [base_model(student)] if config["students"][student]["init"] == "synthetic" else []


def launch(student):
    """How a training job of this student starts: one process, or `accelerate launch` over the
    student's processes (GPUs) with its accelerate config (FSDP, DeepSpeed ZeRO-3)."""
    spec = config["students"][student].get("launch", {})
    n = spec.get("processes", 1)
    if n == 1:
        return "python3 -m mot"
    args = [f"--num_processes {n}", f"--num_machines {spec.get('nodes', 1)}"]
    if spec.get("nodes", 1) == 1:  # a free port: two training jobs on one node must not meet on 29500
        args.append("--main_process_port $(python3 -c 'import socket; s = socket.socket(); "
                    "s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])')")
    if spec.get("accelerate_config"):
        args.append(f"--config_file {spec['accelerate_config']}")
    else:  # plain data parallel (on CPU: gloo)
        args.append("--multi_gpu --mixed_precision no --dynamo_backend no")
    if spec.get("fsdp_wrap"):
        args.append(f"--fsdp_transformer_layer_cls_to_wrap {spec['fsdp_wrap']}")
    return f"python3 -m accelerate.commands.launch {' '.join(args)} -m mot"


def gpus(student):
    """GPUs a training job of this student holds (bf16 training is GPU training)."""
    return config["students"][student].get("launch", {}).get("processes", 1) if TRAIN.get("bf16") else 0


# Round-1 branches are shared by all teacher sets: every teacher that any set uses.
MOT_TEACHERS = [t for t in TEACHERS if any(t in ts for ts in config["teacher_sets"].values())]


def mot_schedule(round_):
    t, spr = int(round_), TRAIN["steps_per_round"]
    if TRAIN.get("schedule", "global") == "global":
        return {"start": (t - 1) * spr, "total": TRAIN["rounds"] * spr}
    return {"start": 0, "total": spr}


def sft_models():
    return expand("results/models/{student}/{source}/sft-{corpus}", student=STUDENTS, source=SOURCES,
                  corpus=TEACHERS + ["mtd"])


def mot_models():
    return expand("results/models/{student}/{source}/mot-{tset}", student=STUDENTS, source=SOURCES,
                  tset=TEACHER_SETS)


# --------------------------------------------------------------------------- evaluation
EVAL = config["eval"]


def benchmark_data(name):
    """The synthetic world's test sets live in the world file; the others are shipped in data/."""
    return "results/world/world.json" if name.startswith("syn-") else f"data/{name}.jsonl"


def run_of(w):
    return getattr(w, "run", "base")  # rule eval_base has no run wildcard


def run_dir(w):
    run = run_of(w)
    return base_model(w.student) if run == "base" else f"results/models/{w.student}/{w.source}/{run}"


def run_checkpoints(w):
    """(step, path) of every checkpoint of a run: STD/MTD every save_every steps, MoT every round."""
    d, run = run_dir(w), run_of(w)
    if run == "base":
        return [(0, d)]
    if run.startswith("sft-"):
        every, steps = TRAIN["save_every"] or TRAIN["std_steps"], TRAIN["std_steps"]
        return [(s, f"{d}/step-{s:05d}") for s in range(every, steps, every)] + [(steps, d)]
    return [(t * TRAIN["steps_per_round"], f"{d}/round-{t}/merged") for t in ROUNDS]


def eval_summary(student, source, run):
    if run == "base":
        return f"results/eval/{student}/base.json"
    return f"results/eval/{student}/{source}/{run}.json"


def eval_runs():
    """Every run the DAG trains: STD per teacher, MTD, MoT per teacher set."""
    return [f"sft-{c}" for c in TEACHERS + ["mtd"]] + [f"mot-{t}" for t in TEACHER_SETS]


def all_evals():
    """Every eval summary and its graded samples. Listed as targets (not only as the tables'
    inputs): Snakemake does not rebuild a deleted intermediate file whose consumers are up to date,
    so a deleted summary would leave tables whose source is gone."""
    summaries = [eval_summary(st, None, "base") for st in STUDENTS] + [
        eval_summary(st, so, r) for st in STUDENTS for so in SOURCES for r in eval_runs()
    ]
    return summaries + [s.removesuffix(".json") for s in summaries]


def eval_shell():
    return (
        "python3 -m mot --log {log} --threads {threads} eval {params.checkpoints} {params.benchmarks}"
        " --sampling {params.sampling:q} --backend {params.engine} --params {params.backend:q}"
        " --template {params.template:q}"
        " --tag {params.tag:q} --seed {params.seed} --samples {output.samples} --out {output.summary}"
    )


EVAL_PARAMS = dict(
    checkpoints=lambda w: " ".join(f"--checkpoint {s}={p}" for s, p in run_checkpoints(w)),
    benchmarks=" ".join(f"--benchmark {b}={benchmark_data(b)}" for b in EVAL["benchmarks"]),
    sampling=json_param({k: EVAL[k] for k in ("n", "temperature", "top_p", "max_tokens")}),
    engine=EVAL.get("backend", "hf"),
    backend=json_param(EVAL.get("params", {})),
    template=lambda w: config["prompt_template"],
    seed=config["seed"],
)


def eval_inputs(w):
    d = run_dir(w)
    return [d] if d.startswith("results/") else []  # a hub id is fetched by the job


# --------------------------------------------------------------------------- tables and figures
REPORT = config["report"]


def report_spec():
    """What the table and figure code needs to know of the config: labels, sets, roles."""
    return {
        "students": {k: v.get("label", k) for k, v in config["students"].items()},
        "sources": {k: v.get("label", k) for k, v in config["sources"].items()},
        "teachers": {
            k: {"label": v.get("label", k), "shifted": bool(v.get("distribution_shifted"))}
            for k, v in config["teachers"].items()
        },
        "sets": config["teacher_sets"],
        "roles": {r: REPORT.get(r) for r in ("mot", "no_shifted", "peers")},
        "benchmarks": EVAL["benchmarks"],
        "steps_per_round": TRAIN["steps_per_round"],
        "rounds": TRAIN["rounds"],
        "published": REPORT.get("published"),
        # JSON params are written with sorted keys: the config's order travels separately
        "order": {"students": STUDENTS, "sources": SOURCES, "teachers": TEACHERS, "sets": TEACHER_SETS},
    }


def evals_of(*runs):
    """Eval summaries of these runs ('base', 'sft-<corpus>', 'mot-<set>') for every student and source."""
    return sorted(
        {eval_summary(st, so, r) for st in STUDENTS for so in SOURCES for r in runs}
    )


SHIFTED = [t for t in TEACHERS if config["teachers"][t].get("distribution_shifted")]
MOT = f"mot-{REPORT['mot']}"
STD = [f"sft-{t}" for t in TEACHERS]
# table -> the runs it reads (so that a change reruns only the tables that show it)
TABLE_RUNS = {
    "table1": ["base", MOT],
    "table2": ["base", "sft-mtd", *STD, MOT],
    "table5": ["base", *STD, MOT],
    "table6": ["base", *[f"sft-{t}" for t in SHIFTED]],
    "table11": ["base", "sft-mtd", *STD, *[f"mot-{t}" for t in TEACHER_SETS]],
}
if REPORT.get("no_shifted"):
    TABLE_RUNS["table7"] = [MOT, f"mot-{REPORT['no_shifted']}"]
    TABLE_RUNS["table12"] = ["base", f"mot-{REPORT['no_shifted']}"]
if REPORT.get("peers"):
    TABLE_RUNS["table8"] = ["base", *STD, MOT, f"mot-{REPORT['peers']}"]
    TABLE_RUNS["table13"] = ["base", f"mot-{REPORT['peers']}"]
FIGURE_RUNS = {
    "fig3": ["base", *STD, MOT],
    "rounds": ["base", "sft-mtd", *STD, *[f"mot-{t}" for t in TEACHER_SETS]],
}
if REPORT.get("no_shifted"):
    FIGURE_RUNS["fig4"] = ["base", *STD, MOT, f"mot-{REPORT['no_shifted']}"]


def run_models(runs):
    """Model directories whose train logs a figure plots."""
    dirs = []
    for r in runs:
        if r.startswith("mot-"):
            dirs += expand("results/models/{student}/{source}/{d}", student=STUDENTS, source=SOURCES,
                           d=["mot-round-1", r])
        elif r.startswith("sft-"):
            dirs += expand("results/models/{student}/{source}/{r}", student=STUDENTS, source=SOURCES, r=r)
    return sorted(set(dirs))


def published_input():
    return [REPORT["published"]] if REPORT.get("published") else []

def report_targets():
    return (
        expand("results/tables/{t}.csv", t=[*TABLE_RUNS, "table10"])
        + expand("results/figures/{f}.png", f=[*FIGURE_RUNS, "corpus"])
    )
