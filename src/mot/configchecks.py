"""The config checks that span keys, by topic (mot.config.cross_errors runs them): Table 9's pairs,
the merge methods' parameters, and where the GPUs of every engine and training job are placed."""
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
