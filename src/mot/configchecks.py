"""The config checks that span keys, by topic (mot.config.cross_errors runs them): Table 9's pairs,
the merge methods' parameters, where the GPUs of every engine and training job are placed, and the
files a config names that no rule makes."""
from __future__ import annotations

from .grid import student_teacher_pairs


def _student_teacher_errors(config: dict) -> str | None:
    from .layout import as_teachers

    raw = config.get("analyses", {}).get("student_teacher")
    pairs = student_teacher_pairs(config)
    seen, how = set(), {}
    for i, st in enumerate(pairs):
        at = "analyses.student_teacher" + ("" if isinstance(raw, dict) else f".{i}")
        for key, known in (("teacher", config["students"]), ("student", config["students"]),
                           ("source", config["sources"])):
            if st[key] not in known:
                return f"{at}.{key}: unknown {'source' if key == 'source' else 'student'} " \
                       f"'{st[key]}' (known: {', '.join(known)})"
        from .backends import ignored_params

        if why := ignored_params(st["backend"], st["params"]):
            return f"{at}.params: {why}"
        pair = (st["teacher"], st["student"], st["source"])
        if pair in seen:
            return f"{at}: the pair (teacher {pair[0]}, student {pair[1]}, source {pair[2]}) is listed twice"
        seen.add(pair)
        # one teacher's models sample once per source, for every pair that it teaches in
        sampling = (st["backend"], st["params"], st["sampling"])
        if how.setdefault(st["teacher"], sampling) != sampling:
            return (f"{at}: teacher '{st['teacher']}' samples with other backend, params or sampling than in an "
                    "earlier pair (its models sample once, for every pair it teaches in)")
    for name in as_teachers(pairs):
        if name in config["teachers"]:
            return f"teachers.{name}: reserved name (a teacher of analyses.student_teacher, Table 9)"
    return None


def _merge_errors(config: dict) -> str | None:
    """Each merge method gets only the parameters it declares (mot.methods), and those it needs."""
    from .methods import params_error

    merges = [("mot.merge_params", config["mot"]["merge_method"], config["mot"]["merge_params"])]
    for name, v in (config.get("analyses", {}).get("merge_methods") or {}).items():
        merges.append((f"analyses.merge_methods.{name}.params", v["method"], v["params"]))
    for key, method, params in merges:
        if msg := params_error(method, params):
            return f"{key}: {msg}"
    return None


def _gpu_layout_errors(config: dict) -> str | None:
    """A layout that cannot be placed fails here, not when its job starts on the cluster: an engine's
    tensor x pipeline parallel GPUs must split evenly over its nodes and fit a node's GPUs, and so
    must a student's training processes."""
    per_node = config["resources"]["gpus_per_node"]
    from .backends import layout
    from .generate import BACKENDS  # every backend filed

    laid_out = lambda backend: getattr(BACKENDS.get(backend), "parallel", False)  # noqa: E731 (mot.backends)
    engines = [(f"teachers.{n}.params", t["backend"], t["params"]) for n, t in config["teachers"].items()
               if laid_out(t["backend"])]
    if laid_out(config["eval"]["backend"]):
        engines.append(("eval.params", config["eval"]["backend"], config["eval"]["params"]))
    pairs = config.get("analyses", {}).get("student_teacher")  # Table 9's teachers: trained students on vLLM
    engines += [(f"analyses.student_teacher{'' if isinstance(pairs, dict) else f'.{i}'}.params", p["backend"],
                 p["params"]) for i, p in enumerate(student_teacher_pairs(config)) if laid_out(p["backend"])]
    if "general" in config and laid_out(config["general"]["backend"]):  # lm-eval's vLLM (its model_args)
        engines.append(("general.model_args", config["general"]["backend"], config["general"]["model_args"]))
    for key, backend, p in engines:
        tp, pp, nodes = layout(backend, p)
        for name, v in (("tensor_parallel_size", tp), ("pipeline_parallel_size", pp), ("nodes", nodes)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:  # free-form blocks: no schema type
                return f"{key}.{name}: {v!r} is not a positive integer"
        if (tp * pp) % nodes:
            return (f"{key}: tensor_parallel_size {tp} x pipeline_parallel_size {pp} = {tp * pp} GPUs do not split "
                    f"evenly over nodes = {nodes}")
        if tp * pp // nodes > per_node:
            return (f"{key}: tensor_parallel_size {tp} x pipeline_parallel_size {pp} over {nodes} node(s) needs "
                    f"{tp * pp // nodes} GPUs per node; resources.gpus_per_node is {per_node}")
        if tp > per_node:
            return (f"{key}: tensor_parallel_size {tp} spans nodes (resources.gpus_per_node is {per_node}); "
                    "use pipeline_parallel_size across nodes")
    for name, s in config["students"].items():
        procs, nodes = s["launch"]["processes"], s["launch"]["nodes"]
        if procs % nodes or procs // nodes > per_node:
            return (f"students.{name}.launch: {procs} processes over {nodes} node(s) must split evenly, at most "
                    f"resources.gpus_per_node = {per_node} per node")
    return None


def _file_errors(config: dict) -> str | None:
    """The files a config names that are the user's, not a rule's: a source's local copy, lm-eval's
    task directory, a student's accelerate config, and the layer class FSDP wraps, which the
    student's model must have (a wrong one trained unsharded, or failed inside accelerate after the
    job's queue). Relative paths are from the working directory (the workflow's)."""
    from pathlib import Path

    for name, s in config["sources"].items():
        if s.get("path") and not Path(s["path"]).is_file():
            return f"sources.{name}.path: {s['path']}: no such file"
    from .tracking import not_installed

    if missing := not_installed(config["train"].get("log_with") or []):  # accelerate drops it with a warning
        return f"train.log_with: {', '.join(missing)}: not installed (pip install it, or leave it out)"
    include = (config.get("general") or {}).get("include")
    if include and not Path(include).is_dir():  # lm-eval then knew none of the tasks, after the training
        return f"general.include: {include}: no such directory (of lm-eval task files)"
    for name, s in config["students"].items():
        launch, wrap = s.get("launch") or {}, None
        if acc := launch.get("accelerate_config"):
            key = f"students.{name}.launch.accelerate_config"
            if not Path(acc).is_file():
                return f"{key}: {acc}: no such file"
            from .configfile import read_yaml
            from .io import MotError

            try:
                settings = read_yaml(acc)
            except MotError as e:
                return f"{key}: {e}"
            if not isinstance(settings, dict):
                return f"{key}: {acc}: not a mapping of accelerate's settings"
            wrap = (settings.get("fsdp_config") or {}).get("fsdp_transformer_layer_cls_to_wrap")
            key = f"{key}: {acc}'s fsdp_transformer_layer_cls_to_wrap (set students.{name}.launch.fsdp_wrap)"
        if launch.get("fsdp_wrap"):
            key, wrap = f"students.{name}.launch.fsdp_wrap", launch["fsdp_wrap"]
        if wrap and launch.get("processes", 1) > 1 and (err := _layer_error(s, str(wrap))):
            return f"{key}: {err}"
    return None


def _layer_error(student: dict, wrap: str) -> str | None:
    """Why FSDP cannot wrap `wrap` (comma-separated classes) in this student's model: a class its
    transformers modeling file does not define. None when the model's type is not known here (a
    model a rule builds, a hub id neither listed in mot.memory nor cached) or transformers is absent."""
    import importlib.util
    import re
    from pathlib import Path

    from .memory import arch_of

    arch = arch_of(student.get("path")) if student["init"] == "pretrained" else None
    model_type = "qwen3" if student["init"] == "synthetic" else getattr(arch, "model_type", "")
    spec = importlib.util.find_spec("transformers")  # the package's place, not imported
    if not model_type or spec is None or not spec.origin:
        return None
    modeling = Path(spec.origin).parent / "models" / model_type / f"modeling_{model_type}.py"
    if not modeling.is_file():
        return None
    classes = set(re.findall(r"^class (\w+)\(", modeling.read_text(encoding="utf-8"), re.M))
    for cls in (c.strip() for c in wrap.split(",")):
        if cls not in classes:
            layers = sorted(c for c in classes if c.endswith("DecoderLayer"))
            return (f"'{cls}' is not a layer of the student's model (a {model_type} model: its decoder layer is "
                    f"{' or '.join(layers) or 'unknown'})")
    return None


def _general_errors(config: dict) -> str | None:
    """The general benchmarks' settings that their jobs refused late: thinking cut without the token
    to cut at (lm-eval started first), and the synthetic world's general tasks without the world's
    problems for them (general_size, held_out_op: the general-tasks job found none)."""
    from .world import GENERAL_TASKS

    general = config.get("general") or {}
    if general.get("enable_thinking") and general.get("think_end_token") is None:
        return "general.enable_thinking: true needs general.think_end_token (lm-eval cuts each answer there)"
    world = config.get("world") or {}
    for name, t in (general.get("tasks") or {}).items():
        if t["task"] in GENERAL_TASKS:
            if not world.get("general_size"):
                return f"general.tasks.{name}: the synthetic task '{t['task']}' needs world.general_size > 0"
            if GENERAL_TASKS[t["task"]][1] and not world.get("held_out_op"):
                return f"general.tasks.{name}: the synthetic task '{t['task']}' needs world.held_out_op"
    return None
