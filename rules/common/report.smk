# --------------------------------------------------------------------------- tables and figures
REPORT = config["report"]


def student_teacher_spec():
    """Table 9's pairs for the table code, in the config's form: one mapping, or a list."""
    if not ST_PAIRS:
        return None
    pairs = [{k: p[k] for k in ("teacher", "student", "source")} for p in ST_PAIRS]
    return pairs[0] if isinstance(config["analyses"]["student_teacher"], dict) else pairs


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
        "variants": {t: merge_method(t)[0] for t in [REPORT["mot"], *VARIANT_SETS]},
        "roles": {r: REPORT[r] for r in ("mot", "no_shifted", "peers")},
        "benchmarks": EVAL["benchmarks"],
        "validation": EVAL["validation"],
        "select_on": REPORT["select_on"],
        "steps_per_round": TRAIN["steps_per_round"],
        "rounds": TRAIN["rounds"],
        "published": REPORT["published"],
        "probe": PROBE.get("runs", []),
        "protocol": {k: EVAL[k] for k in ("n", "temperature", "top_p", "max_tokens")},
        "student_teacher": student_teacher_spec(),
        # JSON params are written with sorted keys: the config's order travels separately
        "order": {"students": STUDENTS, "sources": SOURCES, "teachers": TEACHERS, "sets": CONFIG_SETS},
    }


def evals_of(*runs, students=None):
    """Eval summaries of these runs ('base', 'sft-<corpus>', 'mot-<set>') for every student (or these) and source."""
    return sorted(
        {eval_summary(st, so, r) for st in students or STUDENTS for so in SOURCES for r in runs}
    )


STD = [L.sft_run(t) for t in TEACHERS]
# table -> the runs it reads (so that a change reruns only the tables that show it): mot.catalog
TABLE_RUNS = catalog.eval_runs(config, "table")


# The grid over world seeds (analyses.seeds, rules/seeds.smk; not in the main job)
def all_cores():
    """A job that runs a Snakemake of its own (rule seed_run) takes every core of a local run; a cluster
    run (--jobs, no --cores) has no such number."""
    try:
        return workflow.cores
    except WorkflowError:
        return 1


SEEDS = config.get("analyses", {}).get("seeds") or []
SEED_EVALS = evals_of(*TABLE_RUNS["differences"])  # what the seeds table reads of each seed


def seed_evals(seed):
    """One seed's eval summaries: the main job's own when the seed is the config's."""
    if is_own_seed(config, int(seed)):
        return SEED_EVALS
    return [f"{L.SEED_DIR.format(seed=seed)}/{e}" for e in SEED_EVALS]


def seeds_evals(w):
    if not SEEDS:
        raise WorkflowError("target seeds: set analyses.seeds in the config (a list of world seeds)")
    return [e for s in SEEDS for e in seed_evals(s)]


FIGURE_RUNS = catalog.eval_runs(config, "figure")  # mot.catalog
# table or figure -> the eval summaries it reads (so that a change reruns only what shows it)
TABLE_EVALS, FIGURE_EVALS = ({name: sorted({eval_summary(*e) for e in evals}) for name, evals in
                              catalog.eval_inputs(config, kind).items()} for kind in ("table", "figure"))


def output_caption(name):
    """'<name>: <what it shows>' (mot.catalog)."""
    return f"{name}: {catalog.OUTPUTS[name].caption}"


def run_models(runs):
    """What holds the train logs that a figure plots: SFT run directories, MoT branches."""
    dirs = []
    for r in runs:
        for st in STUDENTS:
            for so in SOURCES:
                if tset := L.mot_set(r):
                    dirs += mot_branches(st, so, tset) if PER_BRANCH else [
                        L.FIRST_ROUND.format(student=st, source=so), L.run_dir(st, so, r)]
                elif r != "base" and not L.probed(r):  # a probe has no train log
                    dirs.append(L.run_dir(st, so, r))
    return sorted(set(dirs))


def figure_spec(figure):
    """report_spec; Figure 5's with the probe's students, benchmarks and samples per problem."""
    spec = report_spec()
    if figure != "fig5" or not PROBE:
        return spec
    return {**spec, "students": {k: v for k, v in spec["students"].items() if k in PROBE_STUDENTS},
            "order": {**spec["order"], "students": [s for s in STUDENTS if s in PROBE_STUDENTS]},
            "benchmarks": PROBE["benchmarks"], "protocol": {**spec["protocol"], "n": PROBE["n"]}}


def published_input():
    return [REPORT["published"]] if REPORT["published"] else []


def table_spec(table):
    """report_spec, with the merge-method variants only for the table that shows them: a change of
    mot.merge_method must not rerun the tables without MoT in them."""
    spec = report_spec()
    if table != "merge_methods":
        spec.pop("variants")
    return spec


def corpus_spec():
    """What the corpus table and figure show of the config (labels, order, published numbers): a
    change of eval or merge settings must not rerun them."""
    keep = ("students", "sources", "teachers", "sets", "order", "published")
    return {k: v for k, v in report_spec().items() if k in keep}


def report_caption(what, spec=lambda w: report_spec()):
    """A param with the caption of a report() output (report/caption.rst renders it)."""
    return lambda w: caption(spec(w), what(w) if callable(what) else what)


def report_labels(kind):
    return lambda w: {"output": getattr(w, kind, kind), "kind": kind}
