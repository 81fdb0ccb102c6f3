"""Config validation: the JSON schema (config/schema.yaml) plus cross-references, checked once.

    mot check-config config/config.yaml

Errors are one line naming the config file and the key, e.g.
`config/config.yaml: teachers.shifted.backend: 'vlm' is not one of ['synthetic', 'hf']`.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from .io import MotError


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "(top level)"


def schema_errors(config: dict, schema: dict) -> str | None:
    import jsonschema

    from .shapes import error_message, validator

    errors = sorted(validator(schema).iter_errors(config), key=lambda e: (list(e.absolute_path), e.message))
    if not errors:
        return None
    err = jsonschema.exceptions.best_match(errors)
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        return f"{_key(err.absolute_path + type(err.absolute_path)([extra[0]]))}: unknown key"
    if "propertyNames" in err.absolute_schema_path:  # a bad key name, reported from inside its sub-schema
        return f"{_key(err.absolute_path)}: invalid name {err.instance!r} ({NAME_RULE})"
    return f"{_key(err.absolute_path)}: {error_message(err)}"


# Config keys whose value is a path (or a hub id) that the rules put on a job's command line.
PATH_KEYS = ("path", "model", "tokenizer", "include", "published", "readme", "hub_file")


def _shell_unsafe_path(node, where: str = "", served: bool = False) -> str | None:
    """The first path-valued key whose value a shell would split or expand (a space, a quote, `$`, `*`):
    the jobs' command lines take paths as they are. A served model's name (an openai teacher's
    params.model) is no path."""
    import shlex

    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in items:
        key = f"{where}.{k}" if where else str(k)
        if isinstance(v, str) and k in PATH_KEYS and shlex.quote(v) != v and not (served and k == "model"):
            return (f"{key}: '{v}' has a character that the jobs' shell commands would split or expand "
                    "(a space, a quote, $, *, ...): use a path without it (a symlink to it, say)")
        inner = served if k != "params" else isinstance(node, dict) and node.get("backend") == "openai"
        if isinstance(v, (dict, list)) and (err := _shell_unsafe_path(v, key, inner)):
            return err
    return None


def cross_errors(config: dict) -> str | None:
    from .evaluate import BENCHMARKS
    from .configchecks import _file_errors, _general_errors, _gpu_layout_errors, _merge_errors, _student_teacher_errors
    from .prompts import check_template, ops_range

    if err := _shell_unsafe_path(config):
        return err
    try:  # rendered once here, so a template that cannot be used fails before any job runs
        check_template(config["prompt_template"])
    except MotError as e:
        return str(e)
    for key in ("benchmarks", "validation"):
        for i, name in enumerate(config["eval"][key]):
            if name not in BENCHMARKS:
                return f"eval.{key}.{i}: unknown benchmark '{name}' (known: {', '.join(sorted(BENCHMARKS))})"
            if key == "validation" and name in config["eval"]["benchmarks"]:
                return f"eval.validation.{i}: '{name}' is also a test benchmark (a validation set is kept apart)"
    if config["report"].get("select_on") == "validation" and not config["eval"].get("validation"):
        return "report.select_on: 'validation' needs eval.validation (the benchmarks to choose on)"
    if "syn-val" in config["eval"]["validation"] and not config.get("world", {}).get("val_size"):
        return "eval.validation: 'syn-val' needs world.val_size > 0"
    for kind in ("students", "sources", "teachers"):  # one row or bar each in the tables and figures
        seen = {}
        for name, v in config[kind].items():
            label = v.get("label", name)
            if label in seen:
                return f"{kind}.{name}.label: '{label}' is {kind}.{seen[label]}'s label too (one shows as the other)"
            seen[label] = name
    if config["report"]["readme"]:  # its markers, before the last job finds them missing
        from .summary import SUMMARY_END, SUMMARY_START, block_at

        try:
            block_at(config["report"]["readme"], SUMMARY_START, SUMMARY_END, "config key report.readme")
        except MotError as e:
            return f"report.readme: {e}"
    pool = (config.get("world") or {}).get("pool_size")
    for name, s in config["sources"].items():  # the exact count of usable problems is the prompts job's
        if s["type"] == "synthetic" and pool and s["n"] > pool:
            return f"sources.{name}.n: {s['n']} prompts from a pool of {pool} problems (world.pool_size)"
    teachers = config["teachers"]
    for name, members in config["teacher_sets"].items():
        for t in members:
            if t not in teachers:
                return f"teacher_sets.{name}: unknown teacher '{t}' (known: {', '.join(teachers)})"
        if name == "round-1":
            return "teacher_sets.round-1: reserved name (results/models/.../mot-round-1 holds the shared round 1)"
    for role, name in config["report"].items():
        if role in ("mot", "no_shifted", "peers") and name is not None and name not in config["teacher_sets"]:
            return f"report.{role}: unknown teacher set '{name}' (known: {', '.join(config['teacher_sets'])})"
    runs = [f"sft-{c}" for c in [*config["teachers"], "mtd"]] + [f"mot-{t}" for t in config["teacher_sets"]]
    probe = config.get("analyses", {}).get("probe", {})
    for run in probe.get("runs", []):
        if run not in runs:
            return f"analyses.probe.runs: unknown run '{run}' (known: {', '.join(runs)})"
    pcts = [round(100 * x) for x in probe.get("lambdas", [])]  # each names its point's directory
    for i, x in enumerate(probe.get("lambdas", [])):
        if abs(100 * x - pcts[i]) > 1e-6 or pcts.index(pcts[i]) < i:
            return (f"analyses.probe.lambdas.{i}: {x} is not a hundredth"
                    if abs(100 * x - pcts[i]) > 1e-6 else f"analyses.probe.lambdas.{i}: {x} twice")
    for i, name in enumerate(probe.get("students", [])):
        if name not in config["students"]:
            return f"analyses.probe.students.{i}: unknown student '{name}' (known: {', '.join(config['students'])})"
    for i, name in enumerate(probe.get("benchmarks", [])):
        if name not in BENCHMARKS:
            return f"analyses.probe.benchmarks.{i}: unknown benchmark '{name}' (known: {', '.join(sorted(BENCHMARKS))})"
        if name in config["eval"].get("validation", []):
            return (f"analyses.probe.benchmarks.{i}: '{name}' is a validation benchmark (the probe samples "
                    "eval.validation anyway)")
    if msg := _student_teacher_errors(config):
        return msg
    tr = config["train"]
    if tr["std_steps"] != tr["rounds"] * tr["steps_per_round"]:
        return (f"train.std_steps: {tr['std_steps']} differs from rounds x steps_per_round = "
                f"{tr['rounds'] * tr['steps_per_round']} (STD/MTD and MoT must train for the same steps)")
    needs_world = [f"sources.{n}" for n, s in config["sources"].items() if s["type"] == "synthetic"]
    needs_world += [f"students.{n}" for n, s in config["students"].items() if s["init"] == "synthetic"]
    if needs_world and "world" not in config:
        return f"{needs_world[0]}: needs the 'world' block"
    from .prompts import check_range
    from .student import check_arch
    from .world import check_spec

    try:  # what the schema cannot say: ranges that run low to high, heads that split evenly
        if "world" in config:
            check_spec(config["world"])
        for name, s in config["sources"].items():
            if s["type"] == "synthetic":
                check_range(s, f"sources.{name}")
        for name, s in config["students"].items():
            if s["init"] == "synthetic":
                check_arch(s["arch"], f"students.{name}.arch")
    except MotError as e:
        return str(e)
    world = config.get("world") or {}
    for name, s in config["sources"].items():  # its problems' operation counts must be the world's
        lo, hi = ops_range(s)
        if s["type"] == "synthetic" and world and (lo > world["ops"][1] or hi < world["ops"][0]):
            return (f"sources.{name}: min_ops {lo} .. max_ops {hi} leaves none of the world's problems "
                    f"(world.ops: {world['ops'][0]} .. {world['ops'][1]})")
    for name, s in config["students"].items():
        if s["init"] == "synthetic" and not ("arch" in s and "pretrain" in s):
            return f"students.{name}: init 'synthetic' needs 'arch' and 'pretrain'"
        if s["init"] == "pretrained" and "path" not in s:
            return f"students.{name}: init 'pretrained' needs 'path'"
    for name, s in config["sources"].items():
        if s["type"] in ("s1k", "jsonl") and not s.get("path"):
            return f"sources.{name}: type '{s['type']}' needs 'path'"
        if s["type"] == "boba" and not (s.get("hub_repo") and s.get("hub_file")):
            return f"sources.{name}: type 'boba' needs 'hub_repo' and 'hub_file'"
    from .generate import teacher_params_error

    for name, t in config["teachers"].items():
        if msg := teacher_params_error(t["backend"], t["params"]):
            return f"teachers.{name}.params{'.' if msg.startswith('style:') else ': '}{msg}"
    from .backends import ignored_params

    if msg := ignored_params(config["eval"]["backend"], config["eval"]["params"]):
        return f"eval.params: {msg}"
    if msg := _merge_errors(config):
        return msg
    if msg := _gpu_layout_errors(config):
        return msg
    if msg := _file_errors(config):
        return msg
    if msg := _general_errors(config):
        return msg
    from .memory import memory_error

    if msg := memory_error(config):  # the job would run out of GPU memory on the cluster: refused here
        return msg
    tr = config["train"]
    if tr["batch_size"] % tr["micro_batch_size"]:
        return "train.batch_size: must be a multiple of train.micro_batch_size"
    for name, s in config["students"].items():
        procs = s["launch"]["processes"]
        if tr["batch_size"] % (tr["micro_batch_size"] * procs):
            return (f"students.{name}.launch.processes: train.batch_size={tr['batch_size']} cannot be split into "
                    f"micro-batches of {tr['micro_batch_size']} on {procs} processes")
    return None


def fill_defaults(config: dict, schema: dict, root: dict | None = None) -> dict:
    """Fill in the schema's `default` of every key left out, in place: an object's own default
    first, then its keys' (so `resources: {}` and a missing `resources` both get every default),
    down every object present, a map's values (additionalProperties), a list's items and the
    alternative of an `anyOf` that is of the value's kind (a pair, or a list of pairs) included.
    Defaults are copied, never shared."""
    import copy

    root = schema if root is None else root
    schema = _resolved(schema, root)
    kind = {dict: "object", list: "array"}.get(type(config))
    for alt in schema.get("anyOf", []):
        if _resolved(alt, root).get("type") == kind:
            fill_defaults(config, alt, root)
            break
    if kind == "array" and isinstance(schema.get("items"), dict):
        for item in config:
            fill_defaults(item, schema["items"], root)
    if kind != "object":
        return config
    for key, sub in schema.get("properties", {}).items():
        if key not in config and ("default" in sub or "default" in _resolved(sub, root)):  # its own, or its $ref's
            config[key] = copy.deepcopy(sub["default"] if "default" in sub else _resolved(sub, root)["default"])
        if key in config:
            fill_defaults(config[key], sub, root)
    extra = schema.get("additionalProperties")
    if isinstance(extra, dict):
        for key in config:
            if key not in schema.get("properties", {}):
                fill_defaults(config[key], extra, root)
    return config


def _resolved(schema: dict, root: dict) -> dict:
    while "$ref" in schema:  # "#/$defs/x" or "#/properties/a/properties/b"
        node = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[int(part)] if isinstance(node, list) else node[part]  # .../anyOf/0
        schema = node
    return schema


def load_schema(schema_path: str | Path) -> dict:
    """config/schema.yaml, with what the code declares filled in: the teacher backends (mot.backends'
    registry), the merge methods that can merge a round (mot.merge_method) and their parameters
    (mot.merge_params), from mot.methods."""
    try:
        schema = yaml.safe_load(Path(schema_path).read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise MotError(f"{schema_path}: cannot read the config schema ({str(e).splitlines()[0]})") from None
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        raise MotError(f"{schema_path}: not a config schema (a mapping with 'properties')")
    import jsonschema

    try:  # a schema of its own (check-config --schema): itself valid, with the keys mot fills in
        jsonschema.Draft202012Validator.check_schema(schema)
        _complete(schema)
    except jsonschema.exceptions.SchemaError as e:
        where = "".join(f".{p}" for p in e.absolute_path) or "(top level)"
        raise MotError(f"{schema_path}: not a valid JSON schema at {where}: {e.message}") from None
    except (KeyError, TypeError, AttributeError) as e:
        raise MotError(f"{schema_path}: not mot's config schema (it lacks {e}, which config/schema.yaml has)") \
            from None
    return schema


def _complete(schema: dict) -> None:
    """load_schema's filling-in of what the code declares."""
    from .generate import BACKENDS  # mot.generate imports every backend's module
    from .methods import merge_params_schema, round_methods

    teacher = schema["properties"]["teachers"]["additionalProperties"]["properties"]
    teacher["backend"] = {**teacher["backend"], "enum": sorted(BACKENDS)}
    from .backends import evaluating

    for block in (schema["properties"]["eval"]["properties"],  # the backends that sample a student's checkpoints
                  schema["properties"]["analyses"]["properties"]["student_teacher"]["anyOf"][0]["properties"]):
        block["backend"] = {**block["backend"], "enum": evaluating()}
    for backend in BACKENDS.values():  # params of a backend's own, beside the shared ones listed there
        for key, spec in getattr(backend, "params", {}).items():
            teacher["params"]["properties"].setdefault(key, spec)
    mot = schema["properties"]["mot"]["properties"]
    mot["merge_method"] = {**mot["merge_method"], "enum": round_methods()}
    mot["merge_params"] = {**merge_params_schema(), **{k: v for k, v in mot["merge_params"].items() if k != "type"}}


NAME_RULE = "letters, digits and . _ -, without the ending of a file that mot writes: config/schema.yaml $defs/name"
MAX_NODES = 100_000  # a config's values, its YAML aliases expanded (the paper's: about 1,000)


def _expanded_size_error(config) -> str | None:
    """A config whose YAML aliases expand to more than MAX_NODES values (an "alias bomb": 11 KB of
    nested aliases is 80 GB once the rules write the config out as JSON) is refused, naming the key
    that holds most of it. Counted in linear time: each shared node once, at its expanded size."""
    sizes: dict[int, int] = {}

    def size(node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        sizes[id(node)] = n = 1 + sum(size(c) for c in children)  # children are finished before node
        return n

    if size(config) <= MAX_NODES:
        return None
    where, node = [], config
    while isinstance(node, dict) and node:  # down the mapping keys that hold most of it
        k, child = max(node.items(), key=lambda kv: size(kv[1]))
        if size(child) <= MAX_NODES // 10:
            break
        where.append(str(k))
        node = child
    return (f"{'.'.join(where) or 'the config'}: expands to {size(config):,} values with its YAML aliases "
            f"(more than {MAX_NODES:,}); write it out without nested aliases")


def _not_finite(config: dict) -> str | None:
    from .shapes import not_finite

    where = not_finite(config)
    return f"{where} is not a finite number" if where else None


def _not_text(node, where: str = "") -> str | None:
    """The first key or string that UTF-8 cannot write (a lone surrogate: "\\ud800" in double-quoted
    YAML), as "key.path: what": every job that writes it (a prompt, a JSON param) would fail late."""
    def bad(s):
        try:
            s.encode("utf-8")
        except UnicodeEncodeError as e:
            return f"{where or 'a value'}: {s[max(0, e.start - 10):e.start + 10]!r} holds a lone surrogate, not text"
        return None

    if isinstance(node, str):
        return bad(node)
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, (list, tuple)) else ()
    for k, v in items:
        if msg := (bad(k) if isinstance(k, str) else None) or _not_text(v, f"{where}.{k}" if where else str(k)):
            return msg
    return None


def validate_config(config: dict, schema_path: str | Path, origin: str = "config") -> dict:
    """Raise MotError with a one-line message if the config is invalid; otherwise fill in the
    schema's defaults (in place) and return it."""
    schema = load_schema(schema_path)
    msg = _expanded_size_error(config) or _not_finite(config) or _not_text(config) or schema_errors(config, schema)
    if not msg:
        fill_defaults(config, schema)
        msg = cross_errors(config)
    if msg:
        raise MotError(f"{origin}: {msg}")
    return config


