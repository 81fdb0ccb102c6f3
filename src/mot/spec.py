"""A stage's settings as one typed spec: a frozen dataclass whose fields are the settings, built from
the JSON of `mot <stage> --spec` by `from_json` below, which checks every key against the fields before the
stage starts (one line naming the key, not a traceback after the model is loaded).

    mot train --model BASE --corpus C --spec '{"hparams": {...}, "steps": 25, "save_every": 5}' --out OUT

The rules write the spec from the config; by hand, a spec names only what differs from the
fields' defaults."""
from __future__ import annotations

import functools
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Callable

from .io import MotError


def fits(declared: str, value) -> bool:
    """Whether a JSON value has a field's declared type ('float', 'bool | None', 'tuple[float, float]',
    'dict')."""
    number = lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
    if declared.startswith("tuple["):
        kinds = declared[len("tuple["):-1].split(",")
        return isinstance(value, (list, tuple)) and len(value) == len(kinds) and all(map(number, value))
    for kind in (k.strip() for k in declared.split("|")):
        if (kind == "None" and value is None or kind == "float" and number(value)
                or kind == "int" and isinstance(value, int) and not isinstance(value, bool)
                or kind == "bool" and isinstance(value, bool) or kind == "str" and isinstance(value, str)
                or kind == "dict" and isinstance(value, dict)):
            return True
    return False


def from_json(cls, d, where: str, nested: dict[str, Callable] | None = None, name: Callable[[str], str] = str):
    """`cls` from a JSON object: no unknown key, none of the required ones missing, each value of its
    field's declared type (a tuple field from a JSON list); `nested`: field -> the constructor of a
    spec inside this one. `where` names the flag in errors, `name` the config key of a field."""
    nested = nested or {}
    if not isinstance(d, dict):
        raise MotError(f"{where}: expected a JSON object, got {type(d).__name__}")
    known = [f.name for f in fields(cls)]
    if unknown := [k for k in d if k not in known]:
        raise MotError(f"{where}: unknown key(s) {', '.join(unknown)} (known: {', '.join(known)})")
    if missing := [f.name for f in fields(cls)
                   if f.default is MISSING and f.default_factory is MISSING and f.name not in d]:
        raise MotError(f"{where}: missing {', '.join(missing)}")
    values = {}
    for f in fields(cls):
        if f.name not in d:
            continue
        value = d[f.name]
        if f.name in nested:
            value = nested[f.name](value)
        elif not fits(f.type, value):
            raise MotError(f"{where}: {f.name} = {value!r} is not {f.type} ({name(f.name)})")
        elif f.type.startswith("tuple["):
            value = tuple(value)
        values[f.name] = value
    return cls(**values)


# config/schema.yaml, found from the package (a checkout or `pip install -e`), whatever the working
# directory: the ranges of the config keys that a --spec field carries, declared there once.
SCHEMA = Path(__file__).resolve().parents[2] / "config" / "schema.yaml"


@functools.cache
def _schema() -> dict:
    """The schema as written (not mot.config.load_schema's, which fills in the teacher backends and
    merge methods from their registries: no train or eval key needs them, and reaching them would
    make every engine's code part of training's code version, mot.codeversion)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's: 6 ms, not 50, in every job that reads it
    for path in (SCHEMA, Path("config/schema.yaml")):
        if path.is_file():
            return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    raise MotError(f"{SCHEMA}: the config schema (the range of every config key a --spec carries) is missing")


def default(key: str):
    """The default of a config key ("train.truncation"), as config/schema.yaml declares it: the one
    place it is written, for the config and for a --spec written by hand alike."""
    node = _schema()
    for part in key.split("."):
        node = node["properties"][part]
    return node["default"]


def check_count(value, where: str, key: str) -> None:
    """A spec's count that no config key carries as it is (a job's steps, its start step) within the
    range of the config's counts (config/schema.yaml's $defs/posint maximum): a step count of 1e30
    would start a run that never ends."""
    top = _schema()["$defs"]["posint"]["maximum"]
    if isinstance(value, int) and value > top:
        raise MotError(f"{where}: {key} = {value} is greater than the maximum of {top} (config/schema.yaml $defs/posint)")


def check_seed(value, where: str) -> None:
    """A spec's seed in the config's range of seeds (config/schema.yaml's $defs/seed: what every
    library takes; torch.manual_seed overflows past 2^63, numpy's past 2^32)."""
    import jsonschema

    from .shapes import validator as strict

    schema = _schema()
    err = jsonschema.exceptions.best_match(strict(schema).evolve(schema=schema["$defs"]["seed"]).iter_errors(value))
    if err is not None:
        raise MotError(f"{where}: seed = {value!r}: {err.message} (config key seed)")


def check_ranges(spec, where: str, block: str) -> None:
    """Each field of `spec` that is a key of the config's `block` (train, eval, ...) within that key's
    range or choices in config/schema.yaml: a --spec written by hand is held to what the config check
    holds the config to (a negative grad_clip would train by gradient ascent; an unknown truncation
    would truncate). One line: the field, its value, what is wrong, the config key."""
    check_values({f.name: getattr(spec, f.name) for f in fields(spec)}, where, block)


def check_values(values: dict, where: str, block: str, unknown: bool = False) -> None:
    """check_ranges for a mapping of the config block's keys (a spec's `sampling`, say); with
    `unknown`, a key the block does not have is refused too (a misspelt `topk` would be ignored)."""
    import jsonschema

    from .shapes import not_finite, validator as strict

    schema = _schema()
    keys = schema["properties"][block]["properties"]
    validator = strict(schema)
    for name, value in values.items():
        if name not in keys and unknown:
            raise MotError(f"{where}: unknown key {name!r} (config key {block}: {', '.join(keys)})")
        if name not in keys or value is None:
            continue
        value = list(value) if isinstance(value, tuple) else value
        if not_finite(value):  # JSON's NaN and Infinity pass every bound of a schema
            raise MotError(f"{where}: {name} = {value!r}: not a finite number (config key {block}.{name})")
        err = jsonschema.exceptions.best_match(validator.evolve(schema=keys[name]).iter_errors(value))
        if err is not None:
            inner = "".join(f".{p}" for p in err.absolute_path)
            raise MotError(f"{where}: {name}{inner} = {err.instance!r}: {err.message} (config key {block}.{name}{inner})")


def check_block(values, where: str, key: str, extend=None) -> None:
    """A command's JSON argument that is a config block (`mot world --spec`: the world block) against
    that block's schema; `key`: its config key, `*` for any name ("sources.*", "students.*.arch").
    `extend(node)`: adds what the code declares to the block's schema (a backend's own params)."""
    import copy

    import jsonschema

    from .shapes import error_message, validator as strict

    schema = node = _schema()
    for part in key.split("."):
        node = node["additionalProperties"] if part == "*" else node["properties"][part]
    if extend:
        node = copy.deepcopy(node)
        extend(node)
    err = jsonschema.exceptions.best_match(strict(schema).evolve(schema=node).iter_errors(values))
    if err is not None:
        inner = ".".join(str(p) for p in err.absolute_path)
        if err.validator == "additionalProperties":
            inner, message = ".".join(filter(None, [inner, sorted(set(err.instance) - set(err.schema.get(
                "properties", {})))[0]])), "unknown key"
        else:
            message = error_message(err)
        raise MotError(f"{where}: {inner + ': ' if inner else ''}{message} (config key {key}{'.' + inner if inner else ''})")


def spec_help(module: str, cls: str, nested: dict[str, tuple[str, str]] | None = None) -> str:
    """A command's `--spec` help, made from the spec's dataclass in mot/<module>.py: each field, its
    type, its default (as JSON) and the comment beside it; `nested`: field -> (module, class) of a spec
    inside this one, shown by its keys. Read from the source (ast), not imported: building the parser
    imports no stage."""
    def item(name, kind, default, comment):
        what = _summary(*nested[name]) if nested and name in nested else kind
        return f'"{name}" ({what}{"" if default is None else ", default " + default}{": " + comment if comment else ""})'

    fields_ = _fields(module, cls)
    required = [item(*f) for f in fields_ if f[2] is None]
    optional = [item(*f) for f in fields_ if f[2] is not None]
    return (f"mot.{module}.{cls} as JSON, {_summary(module, cls, keys=False)}. Required: {'; '.join(required)}."
            + (f" Optional: {'; '.join(optional)}." if optional else ""))


@functools.cache
def _class(module: str, cls: str):
    import ast

    text = (Path(__file__).resolve().parent / f"{module}.py").read_text(encoding="utf-8")
    return next(n for n in ast.parse(text).body if isinstance(n, ast.ClassDef) and n.name == cls), text.splitlines()


def _fields(module: str, cls: str) -> list[tuple[str, str, str | None, str]]:
    """(name, type, default as JSON or None when required, the comment on its line) of each field."""
    import ast
    import json

    node, lines = _class(module, cls)
    out = []
    for st in node.body:
        if not (isinstance(st, ast.AnnAssign) and isinstance(st.target, ast.Name)):
            continue
        default = None
        if st.value is not None:
            default = ast.unparse(st.value)
            factory = {"field(default_factory=dict)": "{}", "field(default_factory=list)": "[]"}
            call = st.value if isinstance(st.value, ast.Call) and getattr(st.value.func, "id", "") == "default" else None
            try:
                default = factory.get(default) or json.dumps(globals()["default"](call.args[0].value) if call
                                                             else ast.literal_eval(st.value))
            except ValueError:
                pass
        comment = lines[st.end_lineno - 1].partition("  # ")[2].strip()
        out.append((st.target.id, ast.unparse(st.annotation), default, comment))
    return out


def _summary(module: str, cls: str, keys: bool = True) -> str:
    """A spec's docstring's first clause, lower-cased; with its keys (a spec inside another)."""
    import ast

    doc = (ast.get_docstring(_class(module, cls)[0]) or cls).split("(")[0].strip().rstrip(".:")
    doc = doc[0].lower() + doc[1:]
    return f"{doc}: {', '.join(f[0] for f in _fields(module, cls))}" if keys else doc
