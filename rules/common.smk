# Shared helpers: config validation, names, per-stage code inputs, JSON params.
import json
import re

from mot.config import validate_config
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
    corpus="|".join(map(re.escape, list(config["teachers"]) + ["mtd"])),
    round=r"\d+",


def code(*modules):
    """Module files of a stage as inputs: editing them reruns that stage (Snakemake does not
    track imported code by itself)."""
    return [os.path.join(SRC, "mot", m) for m in ("io.py", "cli.py") + modules]


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


def teacher_spec(name):
    return as_json({"name": name, **config["teachers"][name]})


def teacher_gpus(name):
    params = config["teachers"][name]["params"]
    return 1 if str(params.get("device", "cpu")).startswith("cuda") else 0


TEACHER_SETS = list(config["teacher_sets"])
TRAIN = config["train"]
ROUNDS = list(range(1, TRAIN["rounds"] + 1))
# Keys that shape one SFT run; MoT-only keys stay out so that changing them reruns MoT jobs only.
SFT_KEYS = ["lr", "betas", "weight_decay", "warmup_ratio", "grad_clip", "batch_size", "micro_batch_size",
            "max_length", "bf16", "attn_implementation", "gradient_checkpointing", "truncation"]


def sft_hparams():
    return {k: TRAIN[k] for k in SFT_KEYS if k in TRAIN}


def base_model(student):
    """The student's initial weights: built by rule world_student, or a hub id / local path."""
    s = config["students"][student]
    return f"results/models/{student}/base" if s["init"] == "synthetic" else s["path"]


def base_input(student):
    return [base_model(student)] if config["students"][student]["init"] == "synthetic" else []


def gpus():
    return 1 if TRAIN.get("bf16") else 0


def mot_dir(w, round_=None):
    return f"results/models/{w.student}/{w.source}/mot-{w.tset}/round-{round_ or w.round}"


def mot_init(w):
    """Round 1 starts from the base; round t from round t-1's merged model."""
    t = int(w.round)
    return base_model(w.student) if t == 1 else f"{mot_dir(w, t - 1)}/merged"


def mot_schedule(w):
    t, spr = int(w.round), TRAIN["steps_per_round"]
    if TRAIN.get("schedule", "global") == "global":
        return {"start": (t - 1) * spr, "total": TRAIN["rounds"] * spr}
    return {"start": 0, "total": spr}


def sft_models():
    return expand("results/models/{student}/{source}/sft-{corpus}", student=STUDENTS, source=SOURCES,
                  corpus=TEACHERS + ["mtd"])


def mot_models():
    return [f"results/models/{st}/{so}/mot-{ts}/round-{t}/merged"
            for st in STUDENTS for so in SOURCES for ts in TEACHER_SETS for t in ROUNDS]
