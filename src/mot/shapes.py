"""The shape of each JSON file that one command writes and another reads: checked where it is read.

A summary edited by hand, or written by an older or another tool, is then one line naming the file
and the place ("FILE: checkpoints[0].benchmarks.aime24.pass@1: '0.5' is not of type 'number'"), not
a TypeError deep in a table. Each shape is what its writer writes (its writer's test checks its own
file against it); keys a reader does not use are left open.
"""
from __future__ import annotations

from .io import MotError

_STR = {"type": "string"}
_COUNT = {"type": "integer", "minimum": 0}
_RATE = {"type": "number", "minimum": 0, "maximum": 1}
_SE = {"type": "number", "minimum": 0}

# a checkpoint's samples on one benchmark split by whether they reason (mot.thinking.decompose)
_DECOMPOSITION = {
    "type": "object",
    "required": ["samples", "problems", "direct", "reasoning_correct", "direct_sq", "p_direct", "p_direct_sq"],
    "properties": {"samples": _COUNT, "problems": _COUNT, "direct": _COUNT, "reasoning_correct": _COUNT,
                   "direct_sq": {"type": "number", "minimum": 0}, "p_direct": {"type": ["number", "null"]},
                   "p_direct_sq": {"type": ["number", "null"]}}}
# mot evaluate --out: a run's checkpoints, each with its benchmarks' pass@1 (results.Results reads it)
EVAL_SUMMARY = {
    "type": "object",
    "required": ["checkpoints"],
    "properties": {
        "student": _STR, "source": {"type": ["string", "null"]}, "run": _STR, "sampling": {"type": "object"},
        "checkpoints": {"type": "array", "items": {
            "type": "object",
            "required": ["step", "benchmarks"],
            "properties": {
                "step": _COUNT, "model": {"type": ["string", "null"]},
                "benchmarks": {"type": "object", "additionalProperties": {
                    "type": "object",
                    "required": ["pass@1"],
                    "properties": {"pass@1": _RATE, "se_problems": _SE,
                                   "per_problem": {"type": ["array", "null"], "items": _RATE, "minItems": 1},
                                   "decomposition": _DECOMPOSITION}}}}}}}}

# mot general --out: one model's lm-eval scores, per table column (tables.load_general reads it)
GENERAL_SUMMARY = {
    "type": "object",
    "required": ["student", "model", "tasks"],
    "properties": {
        "student": _STR, "source": {"type": ["string", "null"]}, "model": _STR,
        "tasks": {"type": "object", "additionalProperties": {
            "type": "object",
            "required": ["score", "se"],
            "properties": {"score": {"type": "number"}, "se": {"type": ["number", "null"], "minimum": 0}}}}}}

# mot world --out: each split a list of problems (mot.world.load_world checks the splits it reads)
WORLD_ROW = {
    "type": "object",
    "required": ["id", "problem", "answer", "spec"],
    "properties": {
        "id": _STR, "problem": _STR, "answer": {"type": ["string", "integer"]},
        "spec": {"type": "object", "required": ["start", "ops"], "properties": {
            "start": {"type": "integer"},
            "ops": {"type": "array", "items": {"type": "array", "minItems": 2, "maxItems": 2,
                                               "prefixItems": [_STR, {"type": "integer"}]}}}}}}


def world_file(splits) -> dict:
    """The shape of a world file's `splits` (each must be there)."""
    return {"type": "object", "required": list(splits),
            "properties": {s: {"type": "array", "items": WORLD_ROW} for s in splits}}


# mot corpus --grades: a teacher's kept prompts and pass rate (corpus.corpus_stats reads it: Table 10)
GRADE_COUNTS = {
    "type": "object",
    "required": ["teacher", "source", "prompts", "prompts_kept", "pass_rate", "lost_no_correct", "lost_too_long"],
    "properties": {"teacher": _STR, "source": _STR, "prompts": _COUNT, "prompts_kept": _COUNT, "pass_rate": _RATE,
                   "lost_no_correct": _COUNT, "lost_too_long": _COUNT}}


def not_finite(node, where: str = "") -> str | None:
    """The first value in `node` that is NaN or infinite, as "key.path: nan" (None if there is none):
    every bound of a schema lets it through, and a NaN learning rate trains nothing without a word."""
    import math

    if isinstance(node, float) and not math.isfinite(node):
        return f"{where}: {node}" if where else str(node)
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, (list, tuple)) else ()
    for k, v in items:
        if msg := not_finite(v, f"{where}.{k}" if where else str(k)):
            return msg
    return None


def validator(schema: dict):
    """A JSON Schema validator whose `integer` is an integer as written (1, not 1.0): JSON Schema counts
    1.0 an integer, and the rules would put "1.0" on a command line that takes an int (--seed)."""
    import jsonschema

    checker = jsonschema.Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _, x: isinstance(x, int) and not isinstance(x, bool))
    return jsonschema.validators.extend(jsonschema.Draft202012Validator, type_checker=checker)(schema)


# Keys whose value may be a secret given in the wrong place (a key in api_key_env, credentials in a
# URL): a schema error names the key and the rule, never the value.
SECRET_PRONE = ("api_key_env", "base_url")


def error_message(err) -> str:
    """A jsonschema error's message, without the value where it may be a secret (SECRET_PRONE)."""
    if not err.absolute_path or str(err.absolute_path[-1]) not in SECRET_PRONE:
        return err.message
    rule = {"pattern": f"does not match {err.schema.get('pattern')!r}",
            "type": f"is not of type {err.schema.get('type')!r}"}.get(err.validator, f"fails the schema's {err.validator}")
    return f"its value (not shown: it may be a secret) {rule}"


def report_spec() -> dict:
    """The shape of the --spec that `mot tables`, `mot figures`, `mot best-std` and `mot seeds table`
    read (mot.catalog.report_spec makes it from the config): its labels, sets, benchmarks, selection
    and rounds as the config schema has them (a spec written by hand is held to the same)."""
    from .spec import _schema

    schema = _schema()
    label, names = schema["$defs"]["label"], {"type": "array", "items": _STR}
    labels = {"type": "object", "additionalProperties": label}
    tr, rep = schema["properties"]["train"]["properties"], schema["properties"]["report"]["properties"]
    return {"type": "object", "properties": {
        "students": labels, "sources": labels,
        "teachers": {"type": "object", "additionalProperties": {
            "type": "object", "required": ["label"], "properties": {"label": label, "shifted": {"type": "boolean"}}}},
        "sets": {"type": "object", "additionalProperties": {**names, "minItems": 1}},
        "benchmarks": {**names, "minItems": 1}, "validation": names, "probe": names,
        "select_on": rep["select_on"], "rounds": tr["rounds"], "steps_per_round": tr["steps_per_round"],
        "order": {"type": "object", "additionalProperties": names}}, "$defs": schema["$defs"]}  # $refs resolve


def check(obj, shape: dict, where: str) -> None:
    """`obj` (a file's parsed JSON) has `shape`, or one line naming `where` and the first place that
    does not."""
    import jsonschema

    error = jsonschema.exceptions.best_match(validator(shape).iter_errors(obj))
    if error is None:
        return
    place = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path).lstrip(".")
    message = error.message
    if error.validator == "required":  # as io.Record says it
        message = f"no key {next(k for k in error.validator_value if k not in error.instance)!r}"
    raise MotError(f"{where}: {place + ': ' if place else ''}{message}")
