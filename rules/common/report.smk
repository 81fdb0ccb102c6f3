# --------------------------------------------------------------------------- tables and figures
REPORT = config["report"]


REPORT_SPEC = catalog.report_spec(config)  # what the table and figure code reads of the config


def report_spec():
    return REPORT_SPEC


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
    return catalog.figure_spec(REPORT_SPEC, figure, PROBE)


def published_input():
    return [REPORT["published"]] if REPORT["published"] else []


def table_spec(table):
    return catalog.table_spec(REPORT_SPEC, table)


def corpus_spec():
    return catalog.corpus_spec(REPORT_SPEC)


def report_caption(what, spec=lambda w: report_spec()):
    """A param with the caption of a report() output (report/caption.rst renders it)."""
    return lambda w: caption(spec(w), what(w) if callable(what) else what)


def report_labels(kind):
    return lambda w: {"output": getattr(w, kind, kind), "kind": kind}
