# Shared by the stages' rules, the config's check, the grid's names and wildcards, code versions, JSON
# params and the targets. Each stage's helpers are in rules/common/<stage>.smk (included below), the
# jobs' resources in rules/common/resources.smk; the grid itself, the defaults and the costs live in
# mot (grid, config, plan).
import functools
import glob
from types import SimpleNamespace
import json
import re

from mot import layout as L
from mot.config import validate_config
from mot.configfile import check_files as check_config_files
from mot.io import MotError
from mot.models import is_hub_id
from mot.evaluate import BATCH_SIZE as EVAL_BATCH_SIZE, eval_values
from mot.general import thinking_args
from mot.backends import layout
from mot.generate import BACKENDS
from mot.grid import Grid
from mot.methods import METHODS
from mot import catalog
from mot.catalog import report_category
from mot.render import caption
from mot.plan import ASSUMPTIONS, STAGES, engine_gpus, job_runtime_minutes, pretrain_runtime_minutes, student_gpus
from mot.rounds import RoundsSpec, plan as plan_rounds, rounds_values
from mot.rehearsal import data_files as rehearsal_data, hub_id as rehearsal_hub_id
from mot.seeds import is_own as is_own_seed, run_config
from mot.student import base_key
from mot.train import hparams_values, sft_values
from mot.codeversion import version as command_version
from mot.workflow import code_version, source_version, tracking_environment
from mot.world import GENERAL_TASKS as GENERAL_TASK_NAMES

try:
    check_config_files(workflow.configfiles)
    # where the values came from: the files, then `--config KEY=VALUE` over them (a bad value there is
    # no fault of the files)
    given = dict(workflow.config_settings.config or {})
    validate_config(config, os.path.join(workflow.basedir, "config", "schema.yaml"),
                    (", ".join(map(str, workflow.configfiles)) or "config")
                    + ("".join(f" with --config {k}={v!r}" for k, v in given.items()) if given else ""))
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


merge_method = G.merge_method  # (method, params) of a teacher set's merges


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


def workflow_code():
    """The workflow's own files, the Snakefile and rules/ (a seed's whole run is a Snakemake run of
    them: an edit of a rule changes what it makes, which all_code() does not see), without their
    comments and blank lines (mot.workflow.source_version)."""
    root = workflow.basedir
    files = [workflow.main_snakefile, *sorted(glob.glob(os.path.join(root, "rules", "**", "*.smk"), recursive=True))]
    return source_version(root, files)


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


# Each stage's helpers (function-only files: snakemake --lint wants functions apart from rules), in
# the order their module-level names need (resources first: every stage's rules ask for them).
include: "common/resources.smk"
include: "common/generate.smk"
include: "common/train.smk"
include: "common/evaluate.smk"
include: "common/report.smk"
include: "common/general.smk"


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
# of its merged checkpoints, and lm-eval on its base (one student: each tiny model built costs a minute;
# the dense Qwen3 architecture is sampled as Qwen3-32B).
def rehearsal_kinds():
    source = SOURCES[0]
    moe = next((st for st in STUDENTS if "a3b" in st or "moe" in st.lower()), STUDENTS[-1])
    peers = REPORT["peers"] or CONFIG_SETS[-1]
    return ([L.SAMPLES.format(source=source, teacher=t) for t in TEACHERS]
            + [eval_summary(moe, source, L.mot_run(peers)), f"{L.GENERAL_BASE.format(student=moe)}.json"])
