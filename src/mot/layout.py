"""Every path under results/ (and the shipped bases under data/bases/), defined once.

The patterns use Snakemake's `{wildcard}` syntax: the rules (rules/common.smk) use them as they
are, the stages and the helpers below fill them in. Names *inside* a run directory are relative,
because the stages first write them inside `<out>.partial/` (mot.io.start_work).
"""
from __future__ import annotations

RESULTS = "results"
LOGS = f"{RESULTS}/logs"
TRACKING = f"{RESULTS}/tracking"  # local trackers' event files (train.log_with: tensorboard, aim, ...)
PROVENANCE = f"{RESULTS}/provenance.json"
PROVENANCE_RST = f"{RESULTS}/provenance.rst"  # report/workflow.rst includes it
PLAN = f"{RESULTS}/plan.md"

# the synthetic world; its pre-trained base students are shipped in the repository, named by a
# hash of what shapes their weights (mot.student.base_key: the settings and the code that builds
# them), with their tokenizer inside
WORLD = f"{RESULTS}/world/world.json"
BASES = "data/bases"
SYNTHETIC_BASE = f"{BASES}/{{student}}-{{key}}"

# data: prompts, teacher samples, verified corpora
PROMPTS = f"{RESULTS}/prompts/{{source}}.jsonl"
REHEARSAL_MODEL = f"{RESULTS}/rehearsal/models/{{name}}"  # a tiny model of a paper model (config/rehearsal.yaml)
REHEARSAL_CHECKS = f"{RESULTS}/rehearsal/checks.json"
SAMPLES = f"{RESULTS}/samples/{{source}}/{{teacher}}.jsonl"
SAMPLES_SHARD = f"{RESULTS}/samples/{{source}}/{{teacher}}/shard-{{shard}}-of-{{shards}}.jsonl"
CORPUS = f"{RESULTS}/corpora/{{source}}/{{corpus}}.jsonl"  # corpus: a teacher, or `mtd` (their union)
GRADES = f"{RESULTS}/corpora/{{source}}/{{teacher}}.grades.json"
STATS = f"{RESULTS}/corpora/{{source}}/stats"  # .csv and .md
STATS_CSV, STATS_MD = f"{STATS}.csv", f"{STATS}.md"
MTD = "mtd"

# models: a run is `sft-<corpus>` (STD, MTD) or `mot-<teacher set>`
MODELS = f"{RESULTS}/models"
RUN = f"{MODELS}/{{student}}/{{source}}/{{run}}"
FIRST_ROUND = f"{MODELS}/{{student}}/{{source}}/mot-round-1"  # round 1's branches, shared by every set
BEST_STD = f"{MODELS}/{{student}}/{{source}}/best-std"  # the best STD run's final weights (Table 9's teacher)
AS_TEACHER = "as-"  # a model of this DAG as a teacher (Table 9): as-base, as-best-std, as-mot (as_teachers)
AS_CONFIGS = ("base", "best-std", "mot")  # which of a student's models teaches: its base, best STD run, MoT
STEP = "step-{step:05d}"  # an intermediate SFT checkpoint, inside the run
BRANCH = "branch-{teacher}"  # a branch, inside its round's directory
ROUND = "round-{round}"  # rounds >= 2 of a teacher set, inside mot-<set>
MERGED = "merged"  # the round's merged model, inside round-<t>
TRAIN_LOG = "train_log.csv"

# evaluation
# <stem>.json: the summary; <stem>.samples.jsonl: every graded sample of every checkpoint (a file, not a
# directory: Snakemake rebuilds a deleted output file, it cannot see a file missing inside a directory)
EVAL_BASE = f"{RESULTS}/eval/{{student}}/base"
EVAL_RUN = f"{RESULTS}/eval/{{student}}/{{source}}/{{run}}"
EVAL_BASE_SUMMARY, EVAL_RUN_SUMMARY = f"{EVAL_BASE}.json", f"{EVAL_RUN}.json"
EVAL_SAMPLES = ".samples.jsonl"  # beside the summary

# general benchmarks through lm-evaluation-harness (paper Tables 3 and 4): the synthetic world's
# task files, and each model's scores (.json) and responses (.samples.jsonl); model: best-std | mot
GENERAL_TASKS = f"{RESULTS}/world/harness"
GENERAL_BASE = f"{RESULTS}/general/{{student}}/base"
GENERAL_RUN = f"{RESULTS}/general/{{student}}/{{source}}/{{model}}"
GENERAL_MODELS = ("best-std", "mot")  # besides the base: the paper's Best STD and MoT final checkpoints

# the paper's tables and figures
TABLE = f"{RESULTS}/tables/{{table}}"  # .csv .md .tex
FIGURE = f"{RESULTS}/figures/{{figure}}"  # .png .pdf
DIAGNOSTICS = f"{RESULTS}/diagnostics/{{student}}/{{source}}/mot-{{tset}}"  # .csv .png .pdf
SUMMARY = f"{RESULTS}/summary"  # .md: what the run shows (table 2 and the paired differences)
SEED_DIR = f"{RESULTS}/seeds/seed-{{seed}}"  # one world seed's own run (analyses.seeds, mot.seeds)


SFT_RUN, MOT_RUN, PROBE_RUN = "sft-", "mot-", "probe-"
# the reverse-merge probe of a run: its final checkpoint interpolated towards the base,
# lambda x 100 in the point's name (0: the checkpoint itself, 100: the base)
PROBE_POINT = f"{MODELS}/{{student}}/{{source}}/{PROBE_RUN}{{probed}}/lambda-{{pct}}"


def sft_run(corpus: str) -> str:
    return SFT_RUN + corpus


def mot_run(tset: str) -> str:
    return MOT_RUN + tset


def mot_set(run: str) -> str | None:
    """The teacher set of a MoT run's name; None for any other run."""
    return run.removeprefix(MOT_RUN) if run.startswith(MOT_RUN) else None


def synthetic_base(student: str, key: str) -> str:
    return SYNTHETIC_BASE.format(student=student, key=key)


def run_dir(student: str, source: str, run: str) -> str:
    return RUN.format(student=student, source=source, run=run)


def round_dir(student: str, source: str, tset: str, round_: int) -> str:
    return f"{run_dir(student, source, mot_run(tset))}/{ROUND.format(round=round_)}"


def branch_dir(student: str, source: str, tset: str, round_: int, teacher: str) -> str:
    """Round 1's branches live once per student and source, shared by every teacher set."""
    parent = FIRST_ROUND.format(student=student, source=source) if int(round_) == 1 else \
        round_dir(student, source, tset, round_)
    return f"{parent}/{BRANCH.format(teacher=teacher)}"


def merged_dir(student: str, source: str, tset: str, round_: int) -> str:
    return f"{round_dir(student, source, tset, round_)}/{MERGED}"


def eval_dir(student: str, source: str | None, run: str) -> str:
    """An eval's stem: with .json, its summary; with EVAL_SAMPLES, its graded samples."""
    return EVAL_BASE.format(student=student) if run == "base" else \
        EVAL_RUN.format(student=student, source=source, run=run)


def as_teachers(pairs: list[dict]) -> dict[str, tuple[str, str]]:
    """Table 9's teachers of analyses.student_teacher's pairs (mot.grid.student_teacher_pairs):
    name -> (the student whose model teaches, one of AS_CONFIGS). 'as-<config>' while every pair has
    the same teacher (as-base, as-best-std, as-mot), 'as-<teacher>-<config>' once they differ. A
    teacher's models sample each source of its pairs once, whichever students learn from them."""
    teachers = list(dict.fromkeys(p["teacher"] for p in pairs))
    prefix = (lambda t: AS_TEACHER) if len(teachers) == 1 else (lambda t: f"{AS_TEACHER}{t}-")
    return {f"{prefix(t)}{c}": (t, c) for t in teachers for c in AS_CONFIGS}


def probe_run(run: str) -> str:
    return PROBE_RUN + run


def probed(run: str) -> str | None:
    """The run a probe run interpolates ('probe-mot-all' -> 'mot-all'); None for any other run."""
    return run.removeprefix(PROBE_RUN) if run.startswith(PROBE_RUN) else None


def probe_point(student: str, source: str, run: str, pct: int) -> str:
    return PROBE_POINT.format(student=student, source=source, probed=run, pct=f"{int(pct):03d}")
