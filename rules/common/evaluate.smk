# --------------------------------------------------------------------------- evaluation
EVAL = config["eval"]
EVAL_BENCHMARKS = EVAL["benchmarks"] + EVAL["validation"]  # validation: only to choose checkpoints


def benchmark_data(name):
    """The synthetic world's test sets live in the world file; the others are shipped in data/."""
    return L.WORLD if name.startswith("syn-") else f"data/{name}.jsonl"


def run_of(w):
    return getattr(w, "run", "base")  # rule eval_base has no run wildcard


# Figure 5's reverse-merge probe (analyses.probe): its runs' points are sampled n times on its
# benchmarks (default: eval's), for its students (default: all), and on eval.validation as any checkpoint
PROBE, PROBE_RUNS, PROBE_PCTS, PROBE_STUDENTS = G.probe, G.probe_runs, G.probe_pcts, G.probe_students


def run_checkpoints(w):
    """(step, path) of every checkpoint of a run: STD/MTD every save_every steps, MoT every round;
    a probe run's points with lambda x 100 as their step."""
    run = run_of(w)
    if run == "base":
        return [(0, base_model(w.student))]
    if probed := L.probed(run):
        return [(pct, L.probe_point(w.student, w.source, probed, pct)) for pct in PROBE_PCTS]
    if tset := L.mot_set(run):
        return [(s, L.merged_dir(w.student, w.source, tset, t)) for t, s in zip(ROUNDS, G.mot_steps())]
    d = L.run_dir(w.student, w.source, run)
    *steps, last = G.std_steps()
    return [(s, f"{d}/{L.STEP.format(step=s)}") for s in steps] + [(last, d)]


def eval_summary(student, source, run):
    return L.eval_dir(student, source, run) + ".json"


def final_model(student, source, run):
    """A run's last checkpoint: STD/MTD's final weights, MoT's last merged round."""
    return run_checkpoints(SimpleNamespace(student=student, source=source, run=run))[-1][1]


def student_teacher_evals():
    """Table 9's eval summaries: each pair's new student's STD run on each of its teachers' corpora,
    and the STD runs that choose each teacher's best STD run."""
    return [eval_summary(*r) for r in G.student_teacher_runs()]


evaluated_runs = G.evaluated_runs  # (student, source, run) of the main job's evals; analyses=True: the analyses'


def all_evals(analyses=False):
    """Every eval summary and its graded samples. Listed as targets (not only as the tables'
    inputs): Snakemake does not rebuild a deleted intermediate file whose consumers are up to date,
    so a deleted summary would leave tables whose source is gone."""
    summaries = [eval_summary(st, so, r) for st, so, r in evaluated_runs(analyses)]
    if analyses:
        summaries += [e for e in student_teacher_evals() if os.path.basename(e).startswith(L.sft_run(L.AS_TEACHER))]
    else:
        summaries = [eval_summary(st, None, "base") for st in STUDENTS] + summaries
    return summaries + [s.removesuffix(".json") + L.EVAL_SAMPLES for s in summaries]


def evaluated_models(analyses=False):
    """What the evals of evaluated_runs read (run directories of checkpoints, each round's merged
    model, the probe's points): targets too, for the same reason (a deleted run directory was taken
    as done). The base is left out: the repository ships it."""
    from types import SimpleNamespace

    return sorted({p for st, so, r in evaluated_runs(analyses)
                   for p in eval_inputs(SimpleNamespace(student=st, source=so, run=r))})


def eval_shell():
    return (
        "python3 -m mot --log {log} --threads {threads} evaluate {params.checkpoints} {params.benchmarks}"
        " --spec {params.spec:q} --tag {params.tag:q} --samples {output.samples} --out {output.summary}"
    )


def eval_benchmarks(w):
    """What a run's checkpoints are sampled on: eval's benchmarks and validation; a probe run's, the
    probe's benchmarks and eval's validation."""
    if L.probed(run_of(w)):
        return PROBE["benchmarks"] + EVAL["validation"]
    return EVAL_BENCHMARKS


EVAL_PARAMS = dict(
    checkpoints=lambda w: " ".join(f"--checkpoint {s}={p}" for s, p in run_checkpoints(w)),
    benchmarks=lambda w: " ".join(f"--benchmark {b}={benchmark_data(b)}" for b in eval_benchmarks(w)),
    # mot.evaluate.EvalSpec; a probe run's with the probe's samples per problem
    spec=lambda w: as_json(eval_values(config, PROBE["n"] if L.probed(run_of(w)) else None)),
)


def eval_inputs(w):
    """The checkpoints' producers: a run's directory or, one job per merge, each merged model."""
    run = run_of(w)
    if run == "base":
        return base_input(w.student)
    if probed := L.probed(run):
        return [L.probe_point(w.student, w.source, probed, pct) for pct in PROBE_PCTS]
    if tset := L.mot_set(run):
        return mot_outputs(w.student, w.source, tset)
    return [L.run_dir(w.student, w.source, run)]
