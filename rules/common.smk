# Shared helpers: config validation, names, per-stage code inputs, JSON params.
# Longer than a module should be (about 650 lines): it is the one place where the rules derive their
# inputs, params and resources from the config (snakemake-workflows' convention), in sections that
# follow the stages; the grid itself, the defaults and the costs live in mot (grid, config, plan).
import functools
from types import SimpleNamespace
import json
import re

from mot import layout as L
from mot.config import validate_config
from mot.io import MotError, is_hub_id
from mot.evaluate import BATCH_SIZE as EVAL_BATCH_SIZE
from mot.general import thinking_args
from mot.generate import BACKENDS
from mot.grid import Grid
from mot.methods import METHODS
from mot import catalog
from mot.catalog import report_category
from mot.render import caption
from mot.plan import ASSUMPTIONS, STAGES, engine_gpus, job_runtime_minutes, pretrain_runtime_minutes, student_gpus
from mot.rounds import RoundsSpec, plan as plan_rounds
from mot.rehearsal import hub_id as rehearsal_hub_id
from mot.seeds import is_own as is_own_seed
from mot.student import base_key
from mot.train import SFT_KEYS
from mot.codeversion import version as command_version
from mot.workflow import code_version, tracking_environment
from mot.world import GENERAL_TASKS as GENERAL_TASK_NAMES

try:
    validate_config(config, os.path.join(workflow.basedir, "config", "schema.yaml"),
                    ", ".join(map(str, workflow.configfiles)) or "config")
except MotError as e:
    raise WorkflowError(str(e)) from None


# Live tracking (train.log_with): the jobs read their trackers from the environment, so that a change
# of trackers reruns no job (it changes no result); local trackers write under results/tracking/.
tracking_environment(config["train"]["log_with"])

# The grid (mot.grid: mot plan costs the same units): its names for the rules below.
G = Grid(config)
SOURCES, TEACHERS, STUDENTS = G.sources, G.teachers, G.students
LOGS = L.LOGS
# Merge-method variants of report.mot's teacher set (analyses.merge_methods): the teacher set
# "<set>@<variant>" trains the same round-1 branches on, and merges every round with its own method.
MERGE_VARIANTS, SETS, VARIANT_SETS = G.variants, G.sets, G.variant_sets
# Student as teacher (analyses.student_teacher, paper Table 9: one pair or a list): the base, the
# best STD run's and MoT's final checkpoints of a pair's student `teacher` on its `source` become
# teachers (as-base, as-best-std and as-mot; as-<teacher>-... once pairs have different teachers,
# L.as_teachers), whose verified corpora the pair's `student` learns from by STD.
ST_PAIRS, AS = G.pairs, G.as_teachers  # AS: Table-9 teacher -> (the student whose model teaches, base|best-std|mot)
AS_TEACHERS = list(AS)
st_pair, pair_teachers = G.st_pair, G.pair_teachers


def merge_method(tset):
    """(method, params) that merge a teacher set's rounds: mot.merge_method, or its variant's."""
    variant = tset.partition("@")[2]
    if variant:
        return MERGE_VARIANTS[variant]["method"], MERGE_VARIANTS[variant].get("params", {})
    return config["mot"]["merge_method"], config["mot"]["merge_params"]


wildcard_constraints:
    source="|".join(map(re.escape, SOURCES)),
    teacher="|".join(map(re.escape, TEACHERS + AS_TEACHERS)),
    student="|".join(map(re.escape, STUDENTS)),
    tset="|".join(map(re.escape, SETS)),
    run="base|" + "|".join(
        [re.escape(L.sft_run(c)) for c in list(config["teachers"]) + [L.MTD] + AS_TEACHERS]
        + [re.escape(L.mot_run(t)) for t in SETS]
        + [re.escape(r) for r in G.probe_runs]
    ),
    probed="|".join(map(re.escape, G.probe.get("runs", []))) or "(?!)",
    pct=r"\d{3}",
    corpus="|".join(map(re.escape, list(config["teachers"]) + [L.MTD] + AS_TEACHERS)),
    round=r"[1-9]\d*",
    key=r"[0-9a-f]{10}",


ALL_MODULES = sorted(f for f in os.listdir(os.path.join(SRC, "mot")) if f.endswith(".py"))


def recorded_versions():
    """What the provenance page records besides the config: the git revision, the code of every
    module (an uncommitted edit keeps the revision's name) and the package versions."""
    from mot.provenance import git_revision, versions

    written = tuple(filter(None, [config["report"]["readme"]]))  # README's block: the run's own output
    return {"git_revision": git_revision(workflow.basedir, written), "code": all_code(), "packages": versions()}


def code(*entries):
    """A param that changes when the code a rule's job runs does: the definitions that its mot
    command (or `mot.<module>` run with -m) reaches (mot.codeversion)."""
    return command_version(SRC, *entries)


def all_code():
    """Every module of the package (a seed's whole run, the provenance page)."""
    return code_version(SRC, *ALL_MODULES)


def as_json(obj):
    return json.dumps(obj, sort_keys=True)


def json_param(obj):
    """A JSON param, deferred so Snakemake does not read its braces as wildcards."""
    return lambda wildcards: as_json(obj)


def synthetic_students():
    return [s for s in STUDENTS if config["students"][s]["init"] == "synthetic"]


def needs_world(source):
    return config["sources"][source]["type"] == "synthetic"


def stats_files():
    return [L.STATS_CSV.format(source=so) for so in SOURCES]


def stats_tokenizer():
    """Trace lengths are counted in the first student's tokens (a synthetic base holds its own)."""
    return base_model(STUDENTS[0])


def alternatives(names):
    """A wildcard regex matching exactly these names (none: a regex that matches nothing)."""
    return "|".join(map(re.escape, names)) or "(?!)"


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
        params = {"batch_size": EVAL_BATCH_SIZE, **pair.get("params", {})}
        if source is not None:
            params["model"] = as_teacher_model(name, source)[0]
        return {"backend": pair.get("backend", "hf"), "params": params}
    return config["teachers"][name]


def teacher_sampling(name):
    """The config's sampling; a Table-9 teacher's with its pair's sampling over it."""
    return {**config["sampling"], **(st_pair(name).get("sampling", {}) if name in AS_TEACHERS else {})}


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
    return teacher_cfg(name)["params"].get("nodes", 1)


def teacher_gpus(name):
    t = teacher_cfg(name)
    return engine_gpus(t["backend"], t["params"])


TEACHER_SETS = list(SETS)  # with the merge-method variants
CONFIG_SETS = G.config_sets  # the paper's tables and figures show these
TRAIN = config["train"]
ROUNDS = G.rounds
def sft_hparams():
    """The train keys that shape one SFT run (mot.train.HParams); MoT-only keys stay out, so that
    changing them reruns MoT jobs only."""
    return {k: TRAIN[k] for k in SFT_KEYS if k in TRAIN}


def branch_arg(spec):
    """mot train's --spec for a MoT branch (a mot.rounds.BranchJob's TrainSpec): the run's SFT keys,
    its steps and lr schedule, and under train.optimizer_state: carry the AdamW state it saves and the
    one (the teacher's branch of the round before) it continues."""
    carry = {"save_optimizer": True} if spec.save_optimizer else {}
    if spec.init_optimizer:
        carry["init_optimizer"] = spec.init_optimizer
    return dict(hparams=sft_hparams(), steps=spec.steps, start_step=spec.start_step, total_steps=spec.total_steps,
                schedule_start=spec.schedule_start, seed=spec.seed, **carry)


def rounds_spec(method=None, params=None):
    """mot branches' and mot rounds' spec (the merge method: rounds only)."""
    merge = {"method": method, "merge_params": params} if method else {}
    return dict(hparams=sft_hparams(), rounds=TRAIN["rounds"], steps_per_round=TRAIN["steps_per_round"],
                schedule=TRAIN["schedule"], optimizer_state=TRAIN["optimizer_state"], seed=config["seed"], **merge)


def base_model(student):
    """The student's initial weights: shipped or built by rule world_student, or a hub id / local path."""
    s = config["students"][student]
    if s["init"] != "synthetic":
        return s["path"]
    return L.synthetic_base(student, base_key(config["world"], s["arch"], s["pretrain"]))


def base_input(student):
    """The base as an input: a local path (built by a rule: the synthetic world's, the rehearsal's tiny
    models; or the user's directory), not a hub id (fetched by the job)."""
    return model_input(base_model(student))


def model_input(path):
    return [] if is_hub_id(path) else [path]


def launch(student):
    """How a training job of this student starts: one process, or `accelerate launch` over the
    student's processes (GPUs) with its accelerate config (FSDP, DeepSpeed ZeRO-3); over launch.nodes
    > 1 nodes, one per node (mot.multinode adds each node's --machine_rank and the first node's address)."""
    spec = config["students"][student].get("launch", {})
    n = spec.get("processes", 1)
    if n == 1:
        return "python3 -m mot"
    args = [f"--num_processes {n}", f"--num_machines {spec.get('nodes', 1)}"]
    if spec.get("nodes", 1) == 1:  # a free port: two training jobs on one node must not meet on 29500
        args.append("--main_process_port $(python3 -c 'import socket; s = socket.socket(); "
                    "s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])')")
    if spec.get("accelerate_config"):
        args.append(f"--config_file {spec['accelerate_config']}")
    else:  # plain data parallel (on CPU: gloo)
        args.append("--multi_gpu --mixed_precision no --dynamo_backend no")
    if spec.get("fsdp_wrap"):
        args.append(f"--fsdp_transformer_layer_cls_to_wrap {spec['fsdp_wrap']}")
    if spec.get("nodes", 1) > 1:  # one accelerate launch per node, with its machine rank and the first node's address
        return f"python3 -m mot.multinode accelerate -- {' '.join(args)} -m mot"
    return f"python3 -m accelerate.commands.launch {' '.join(args)} -m mot"



# --------------------------------------------------------------------------- cluster resources
# Each job's resources, in the SLURM plugin's names. GPUs and nodes follow from the engines' config
# (a teacher's TP x PP, a student's launch, eval's TP); partitions, CPUs and memory from config
# `resources`; the time limit from `mot plan`'s estimate of the job. Local runs ignore all but gpu.
RESOURCES = config["resources"]


def student_nodes(student):
    return config["students"][student].get("launch", {}).get("nodes", 1)


def job_resources(stage, gpu=lambda w: 0, nodes=lambda w: 1, jobs=lambda w: 1):
    """`jobs`: how many of the plan's unit jobs this one does (one-job-per-set MoT)."""

    def per_node(w):
        return max(1, gpu(w) // nodes(w))

    res = dict(
        gpu=gpu,
        nodes=nodes,
        slurm_partition=lambda w: RESOURCES["gpu_partition" if gpu(w) else "cpu_partition"],
        cpus_per_task=lambda w: RESOURCES["cpus_per_gpu"] * per_node(w) if gpu(w) else RESOURCES["cpus"],
        mem_mb=lambda w: RESOURCES["mem_mb_per_gpu"] * per_node(w) if gpu(w) else RESOURCES["mem_mb"],
        runtime=lambda w: jobs(w) * runtime(stage(w) if callable(stage) else stage, w),
    )
    if RESOURCES["gpu_model"]:
        res["gpu_model"] = lambda w: RESOURCES["gpu_model"] if gpu(w) else ""
    # One task per node, holding all of that node's GPUs and CPUs: the job's command starts its own
    # processes (accelerate launch, vLLM's workers). The plugin's default for a GPU job is one task per
    # GPU (--ntasks-per-gpu=1), and --cpus-per-task is per task: 8 GPUs x 96 CPUs would ask one node
    # for 768 CPUs, which sbatch refuses. tasks_per_gpu=0 leaves --ntasks-per-gpu out (one task).
    # A job over several nodes: with the `mpi` resource the plugin runs its command as is on the first
    # node (not `srun -n1`), in an allocation of one task per node (`tasks`), and the command starts
    # the other nodes' processes by srun (mot.multinode). None drops the key (CPU jobs: --ntasks=1).
    res["mpi"] = lambda w: "srun" if nodes(w) > 1 else None
    res["tasks"] = lambda w: nodes(w) if nodes(w) > 1 else None
    res["tasks_per_gpu"] = lambda w: 0 if gpu(w) else None
    return res


def runtime(stage, w):
    """Minutes: mot plan's estimate for the GPU stages; its floor for the short CPU ones."""
    if stage == "world_student":
        return pretrain_runtime_minutes(config["students"][w.student]["pretrain"])
    if stage not in STAGES:
        return ASSUMPTIONS["floor_min"]
    return _runtime(stage, getattr(w, "student", None), getattr(w, "teacher", None), getattr(w, "source", None),
                    run_of(w) if stage == "eval" else None)


@functools.cache  # the plan is computed per distinct job kind, not per job (hundreds on the paper's grid)
def _runtime(stage, student, teacher, source, run):
    return job_runtime_minutes(config, stage, student=student, teacher=teacher, source=source, run=run)


def train_resources(stage, jobs=lambda w: 1):
    return job_resources(stage, gpu=lambda w: student_gpus(config, w.student), nodes=lambda w: student_nodes(w.student), jobs=jobs)


def cpu_resources(stage):
    return job_resources(stage)


MOT_TEACHERS = G.mot_teachers  # round-1 branches are shared by all teacher sets: every teacher any set uses
MOT_CFG = config["mot"]
PER_BRANCH = MOT_CFG["jobs"] == "per_branch"


@functools.cache
def mot_plan(student, source, tset):
    """mot.rounds.plan of a teacher set's MoT with the paths of mot.layout: the jobs that rules
    mot_first_branch, mot_branch and mot_merge run, the one plan that `mot branches` and `mot rounds`
    run in one process each (mot.jobs: per_set)."""
    return plan_rounds(RoundsSpec.of(rounds_spec(*merge_method(tset))), SETS[tset], base_model(student),
                       lambda t, k: L.branch_dir(student, source, tset, t, k),
                       lambda t: L.merged_dir(student, source, tset, t))


def mot_job(w):
    """The planned job that a MoT rule's wildcards name: a teacher's branch of a round, or its merge.
    Round 1's branches are the same in every teacher set (mot_first_branch has no tset): any set's."""
    teacher, round_ = getattr(w, "teacher", None), int(getattr(w, "round", 1))
    tset = getattr(w, "tset", None) or next(s for s in SETS if teacher in SETS[s])
    return next(j for j in mot_plan(w.student, w.source, tset)
                if j.round == round_ and getattr(j, "teacher", None) == teacher)


def sft_models():
    return [L.run_dir(st, so, L.sft_run(c)) for st in STUDENTS for so in SOURCES for c in TEACHERS + [L.MTD]]


def mot_outputs(student, source, tset):
    """What the MoT jobs of a teacher set write: the run directory (one job per set), or every
    round's merged model (one job per branch and merge)."""
    if PER_BRANCH:
        return [L.merged_dir(student, source, tset, t) for t in ROUNDS]
    return [L.run_dir(student, source, L.mot_run(tset))]


def mot_branches(student, source, tset):
    """Every branch of a teacher set's MoT, round 1's shared ones included."""
    return [L.branch_dir(student, source, tset, t, k) for t in ROUNDS for k in SETS[tset]]


def mot_models():
    return [p for st in STUDENTS for so in SOURCES for ts in TEACHER_SETS for p in mot_outputs(st, so, ts)]


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


def eval_sampling(w):
    """eval's sampling; a probe run's with the probe's n."""
    return {k: EVAL[k] for k in ("n", "temperature", "top_p", "max_tokens", "top_k", "min_p") if k in EVAL} | (
        {"n": PROBE["n"]} if L.probed(run_of(w)) else {})


EVAL_PARAMS = dict(
    checkpoints=lambda w: " ".join(f"--checkpoint {s}={p}" for s, p in run_checkpoints(w)),
    benchmarks=lambda w: " ".join(f"--benchmark {b}={benchmark_data(b)}" for b in eval_benchmarks(w)),
    spec=lambda w: as_json(dict(sampling=eval_sampling(w), backend=EVAL["backend"], params=EVAL["params"],
                                template=config["prompt_template"], seed=config["seed"])),  # mot.evaluate.EvalSpec
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


def figure_evals(figure):
    """The eval summaries a figure reads (Figure 5: of the probe's students only)."""
    return evals_of(*FIGURE_RUNS[figure], students=PROBE_STUDENTS if figure == "fig5" else None)


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


# --------------------------------------------------------------------------- general benchmarks
# Paper Tables 3 and 4 (config general): lm-evaluation-harness on the base, best STD and MoT models.
GENERAL = config.get("general") or {}
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


def report_targets(analyses=False):
    """The tables and figures of all_tables; with analyses=True, those of all_analyses (the analyses
    beyond the paper's main tables, too long for the main job on a laptop: mot.catalog marks them)."""
    outputs = catalog.present(config, analysis=analyses)
    # every file a table or figure rule writes, so that deleting any one of them rebuilds it
    return (
        [L.TABLE.format(table=o.name) + ext for o in outputs if o.kind == "table" for ext in (".csv", ".md", ".tex", ".html")]
        + [L.FIGURE.format(figure=o.name) + ext for o in outputs if o.kind == "figure" for ext in (".png", ".pdf")]
        + ([] if analyses else [f"{L.SUMMARY}.md"])
    )


# One job of every kind the paper's run has, for a rehearsal through a cluster in minutes (CI runs it
# through SLURM on two nodes): sampling from each teacher architecture (vLLM; the data-parallel shards
# and their join), the per-branch MoT rounds of the MoE student with their merges, the vLLM evaluation
# of its merged checkpoints, and lm-eval on a dense student.
def rehearsal_kinds():
    source = SOURCES[0]
    moe = next((st for st in STUDENTS if "a3b" in st or "moe" in st.lower()), STUDENTS[-1])
    dense = STUDENTS[0]
    peers = REPORT["peers"] or CONFIG_SETS[-1]
    return ([L.SAMPLES.format(source=source, teacher=t) for t in TEACHERS]
            + [eval_summary(moe, source, L.mot_run(peers)), f"{L.GENERAL_BASE.format(student=dense)}.json"])
