# Sampling (rules/generate.smk): each teacher's config, model, spec, shards and GPUs; a Table-9
# teacher (analyses.student_teacher) is made from its pair.
def as_teacher_model(name, source):
    """The checkpoint a Table-9 teacher samples `source`'s prompts with, and the rule outputs that make it."""
    student, config_ = AS[name]
    if config_ == "base":
        return base_model(student), base_input(student)
    if config_ == "best-std":
        path = L.BEST_STD.format(student=student, source=source)
        return path, [path]
    run = L.mot_run(config["report"]["mot"])
    return final_model(student, source, run), eval_inputs(SimpleNamespace(student=student, source=source, run=run))


def teacher_cfg(name, source=None):
    """A teacher's config block; a Table-9 teacher's is made from its pair in analyses.student_teacher
    (with the model it samples `source` with)."""
    if name in AS_TEACHERS:
        pair = st_pair(name)
        params = {"batch_size": EVAL_BATCH_SIZE, **pair["params"]}
        if source is not None:
            params["model"] = as_teacher_model(name, source)[0]
        return {"backend": pair["backend"], "params": params}
    return config["teachers"][name]


def teacher_sampling(name):
    """The config's sampling; a Table-9 teacher's with its pair's sampling over it."""
    return {**config["sampling"], **(st_pair(name)["sampling"] if name in AS_TEACHERS else {})}


def teacher_model_input(name):
    """A teacher's weights as an input, when its backend loads them here (mot.backends' local_weights)
    from a local path."""
    t = config["teachers"][name]
    local = getattr(BACKENDS[t["backend"]], "local_weights", False)
    return model_input(t["params"]["model"]) if local else []


def teacher_spec(name, source):
    """What shapes a teacher's samples of `source` (not its label or shard count)."""
    t = teacher_cfg(name, source)
    return as_json({"name": name, "backend": t["backend"], "params": t["params"]})


def teacher_shards(name):
    return teacher_cfg(name).get("shards", 1)


def teacher_nodes(name):
    t = teacher_cfg(name)
    return layout(t["backend"], t["params"])[2]


def teacher_gpus(name):
    t = teacher_cfg(name)
    return engine_gpus(t["backend"], t["params"])
