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
