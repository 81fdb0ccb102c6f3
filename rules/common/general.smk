# --------------------------------------------------------------------------- general benchmarks
# Paper Tables 3 and 4 (config general): lm-evaluation-harness on the base, best STD and MoT models.
GENERAL = config.get("general") or {}  # as validated, its defaults filled in; none: its rules have no job
GENERAL_TABLES = [o.name for o in catalog.present(config, "table") if o.category == "General capability"]


def general_model(w):
    """The checkpoint a general evaluation scores: the base, the best STD run's final weights (rule
    best_std_model), or MoT's last merged round (report.mot)."""
    model = getattr(w, "model", "base")
    if model == "base":
        return base_model(w.student)
    if model == "best-std":
        return L.BEST_STD.format(student=w.student, source=w.source)
    return final_model(w.student, w.source, L.mot_run(REPORT["mot"]))


def general_model_input(w):
    model = getattr(w, "model", "base")
    if model == "mot":
        return eval_inputs(SimpleNamespace(student=w.student, source=w.source, run=L.mot_run(REPORT["mot"])))
    return base_input(w.student) if model == "base" else [general_model(w)]


def general_task_files():
    """The world's task files, when a configured task is one of the synthetic world's."""
    return [L.GENERAL_TASKS] if any(c["task"] in GENERAL_TASK_NAMES for c in GENERAL.get("tasks", {}).values()) else []


def general_include():
    dirs = general_task_files() + ([GENERAL["include"]] if GENERAL.get("include") else [])
    return " ".join(f"--include {d}" for d in dirs)


def general_options():
    opts = []
    if thinking_args(GENERAL):  # general.think_end_token / enable_thinking: lm-eval scores the answer, not the reasoning
        opts.append(f"--thinking '{as_json(thinking_args(GENERAL))}'")
    if GENERAL.get("gen_kwargs"):
        opts.append(f"--gen-kwargs '{as_json(GENERAL['gen_kwargs'])}'")
    if GENERAL.get("limit"):
        opts.append(f"--limit {GENERAL['limit']}")
    return " ".join(opts)


def general_summaries():
    return [f"{L.GENERAL_BASE.format(student=st)}.json" for st in STUDENTS] + [
        f"{L.GENERAL_RUN.format(student=st, source=so, model=m)}.json"
        for st in STUDENTS for so in SOURCES for m in L.GENERAL_MODELS]


def general_spec():
    """What Tables 3 and 4 show of the config: labels, order, the tasks and their groups."""
    spec = report_spec()
    return {"students": spec["students"], "sources": spec["sources"], "published": spec["published"],
            "order": {k: spec["order"][k] for k in ("students", "sources")}, "general": GENERAL.get("tasks", {})}
