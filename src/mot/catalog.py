"""Every table and figure the workflow makes, declared once, in the paper's numbering: the runs
whose eval summaries it reads (named by their role in the config), the report category it is
filed under, whether it is an analysis (target all_analyses, not the main job) and when the
config has it at all. Rules (TABLE_RUNS, FIGURE_RUNS, the targets), `mot plan`'s job count, the
report's categories and `mot tables --help` read this; nothing else lists them.

Adding a table or a figure: a function in mot.tables filed with `@table("name")` (mot.figures:
`@figure("name")`) and an entry here, with its caption (docs/extending.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import layout as L
from .grid import Grid

# The report's categories (snakemake --report), after the paper's sections, in this order.
CATEGORIES = ["Main results", "Ablations", "Teacher sets", "Corpora", "Per-round curves", "General capability",
              "Analyses"]


@dataclass(frozen=True)
class Runs:
    """The runs a report output can read, by role (from the config; mot.layout names them)."""
    mot: str  # report.mot's MoT run
    mtd: str
    std: list[str]  # every teacher's STD run
    shifted_std: list[str]  # the distribution-shifted teachers' STD runs
    config_sets: list[str]  # MoT runs of the config's teacher sets
    no_shifted: str | None  # MoT without the shifted teacher (report.no_shifted)
    peers: str | None  # MoT of the peer-level teachers (report.peers)
    variants: list[str]  # MoT runs of the merge-method variants (analyses.merge_methods)
    probe: list[str]  # the reverse-merge probe's runs (analyses.probe)
    student_teacher: list[tuple[str, str, str]]  # Table 9's (student, source, run): analyses.student_teacher
    general_groups: set[str]  # the groups of the general tasks (Tables 3 and 4)
    students: list[str]
    sources: list[str]
    probe_students: list[str]  # the students of Figure 5's probe (analyses.probe.students)

    @classmethod
    def of(cls, config: dict) -> "Runs":
        rep, g = config["report"], Grid(config)
        return cls(
            mot=L.mot_run(rep["mot"]), mtd=L.sft_run(L.MTD), std=[L.sft_run(t) for t in g.teachers],
            shifted_std=[L.sft_run(t) for t, v in config["teachers"].items() if v.get("distribution_shifted")],
            config_sets=[L.mot_run(t) for t in g.config_sets],
            no_shifted=L.mot_run(rep["no_shifted"]) if rep.get("no_shifted") else None,
            peers=L.mot_run(rep["peers"]) if rep.get("peers") else None,
            variants=[L.mot_run(t) for t in g.variant_sets], probe=g.probe_runs,
            student_teacher=g.student_teacher_runs() if g.pairs else [],
            general_groups={t["group"] for t in ((config.get("general") or {}).get("tasks") or {}).values()},
            students=g.students, sources=g.sources, probe_students=g.probe_students,
        )


TABLE_CAPTION = "the table, its note, and its CSV, LaTeX and Markdown."


@dataclass(frozen=True)
class Output:
    name: str
    kind: str  # "table" (results/tables/), "figure" (results/figures/) or "other"
    category: str  # one of CATEGORIES
    runs: Callable[[Runs], list[str]] | None = None  # the eval runs it reads; None: other inputs
    when: Callable[[Runs], bool] = lambda r: True
    analysis: bool = False  # made by all_analyses, not the main job (all_tables)
    caption: str = ""  # what it shows: its caption in the report, after its name
    students: Callable[[Runs], list[str]] | None = None  # whose evals of `runs` it reads (None: every student's)
    evals: Callable[[Runs], list[tuple[str, str, str]]] | None = None  # its (student, source, run)s, where
    # they are not `runs` for every student and source (Table 9: each pair's own student)
    needs: str | None = None  # the report role (report.<needs>, a teacher set) it shows; without one
    # the config has no such output, and `mot tables` refuses to make it
    inputs: str = "evals"  # the argument of `mot tables`/`mot figures` that gives its inputs (evals, stats,
    # general): without them, one line, not an empty table or a traceback

    def reads(self, r: Runs) -> list[tuple[str, str, str]]:
        """The (student, source, run) of every eval summary it reads."""
        if self.evals is not None:
            return self.evals(r)
        students = self.students(r) if self.students else r.students
        return [(st, so, run) for st in students for so in r.sources for run in self.runs(r)]


OUTPUTS: dict[str, Output] = {}


def declare(name, kind, category, runs=None, when=None, analysis=False, caption="", students=None, evals=None,
            needs=None, inputs="evals") -> None:
    assert category in CATEGORIES, category
    if when is None:
        when = (lambda r: bool(getattr(r, needs))) if needs else (lambda r: True)
    OUTPUTS[name] = Output(name, kind, category, runs, when, analysis,
                           caption or (TABLE_CAPTION if kind == "table" else ""), students, evals, needs, inputs)


# Tables computed from eval summaries (rule table), in the order the targets list them.
declare("table1", "table", "Main results", lambda r: ["base", r.mot])
declare("table2", "table", "Ablations", lambda r: ["base", r.mtd, *r.std, r.mot])
declare("table5", "table", "Ablations", lambda r: ["base", *r.std, r.mot])
declare("table6", "table", "Ablations", lambda r: ["base", *r.shifted_std])
declare("table11", "table", "Per-round curves", lambda r: ["base", r.mtd, *r.std, *r.config_sets])
# best STD against the base; MoT against the best STD teacher, MTD and MoT without the shifted teacher
declare("differences", "table", "Main results",
        lambda r: ["base", r.mot, r.mtd, *r.std] + ([r.no_shifted] if r.no_shifted else []))
declare("table7", "table", "Teacher sets", lambda r: [r.mot, r.no_shifted], needs="no_shifted")
declare("table12", "table", "Teacher sets", lambda r: ["base", r.no_shifted], needs="no_shifted")
declare("table9", "table", "Analyses", lambda r: [], evals=lambda r: r.student_teacher,
        when=lambda r: bool(r.student_teacher), analysis=True)
declare("merge_methods", "table", "Ablations", lambda r: [r.mot, *r.variants], when=lambda r: bool(r.variants),
        analysis=True)
declare("table8", "table", "Teacher sets", lambda r: ["base", *r.std, r.mot, r.peers], needs="peers")
declare("table13", "table", "Teacher sets", lambda r: ["base", r.peers], needs="peers")
# Every evaluated checkpoint split by whether it reasons (mot.thinking): what a pass@1 is made of.
declare("decomposition", "table", "Per-round curves", lambda r: ["base", r.mtd, *r.std, *r.config_sets],
        caption="every checkpoint and round: its share of direct answers (an empty thinking block), the "
                "probability of opening with one, and its accuracy when it reasons.")
# Tables from other inputs: the corpus statistics (rule corpus_table), lm-eval (rule general_table).
declare("table10", "table", "Corpora", inputs="stats",
        caption="the corpora (Table 10): prompts kept, teacher pass rate, mean trace tokens.")
GENERAL = "general capability of the base, best STD and MoT final models (lm-evaluation-harness)."
declare("table3", "table", "General capability", when=lambda r: bool(r.general_groups & {"forgetting", "reasoning"}),
        analysis=True, caption=GENERAL, inputs="general")
declare("table4", "table", "General capability", when=lambda r: "pure" in r.general_groups, analysis=True,
        caption=GENERAL, inputs="general")
# Figures from eval summaries and train logs (rule figure), and the corpus figure (rule corpus_figure).
declare("fig3", "figure", "Per-round curves", lambda r: ["base", *r.std, r.mot],
        caption="training loss on the best STD teacher's corpus and AVG score against step, MoT vs that STD run "
                "(Figure 3).")
declare("rounds", "figure", "Per-round curves", lambda r: ["base", r.mtd, *r.std, *r.config_sets],
        caption="every MoT teacher set's AVG per round, with MTD and the STD runs at the same steps.")
declare("fig4", "figure", "Teacher sets", lambda r: ["base", *r.std, r.mot, r.no_shifted], needs="no_shifted",
        caption="MoT with and without the distribution-shifted teacher, loss and score against step (Figure 4).")
declare("fig5", "figure", "Analyses", lambda r: ["base", *r.probe], students=lambda r: r.probe_students,
        when=lambda r: bool(r.probe), analysis=True,
        caption="the reverse-merge probe, AVG along lambda * base + (1 - lambda) * final checkpoint (Figure 5).")
declare("corpus", "figure", "Corpora", inputs="stats",
        caption="Table 10 as bars (prompts kept, teacher pass rate, mean trace tokens).")
# The README summary (rule summary) and the MoT diagnostics (rule diagnostics)
declare("summary", "other", "Main results",
        caption="What the run shows: table 2 and the paired differences, with a verdict read off each 95% interval.")
declare("diagnostics", "other", "Analyses")


def present(config_or_runs, kind: str | None = None, analysis: bool | None = None) -> list[Output]:
    """The outputs this config has, in declaration order (of one kind; the main job's or the analyses')."""
    r = config_or_runs if isinstance(config_or_runs, Runs) else Runs.of(config_or_runs)
    return [o for o in OUTPUTS.values() if o.when(r) and (kind is None or o.kind == kind)
            and (analysis is None or o.analysis == analysis)]


def eval_runs(config_or_runs, kind: str) -> dict[str, list[str]]:
    """name -> runs, for the tables or figures of this config that read eval summaries."""
    r = config_or_runs if isinstance(config_or_runs, Runs) else Runs.of(config_or_runs)
    return {o.name: o.runs(r) for o in present(r, kind) if o.runs is not None}


def check_inputs(name: str, command: str, **given) -> None:
    """The inputs a table or figure reads were given (`given`: evals, stats, general -> the files)."""
    from .io import MotError

    if name in OUTPUTS and not given.get(OUTPUTS[name].inputs):
        raise MotError(f"mot {command} --name {name} needs --{OUTPUTS[name].inputs}")


def eval_inputs(config_or_runs, kind: str) -> dict[str, list[tuple[str, str, str]]]:
    """name -> the (student, source, run) of each eval summary it reads, for the tables or figures of
    this config that read eval summaries (the rules' inputs)."""
    r = config_or_runs if isinstance(config_or_runs, Runs) else Runs.of(config_or_runs)
    return {o.name: o.reads(r) for o in present(r, kind) if o.runs is not None}


def report_category(name: str) -> str:
    """'<n>. <category>' (the report sorts categories by their number)."""
    if name not in OUTPUTS:
        raise KeyError(f"'{name}' is not a declared output (mot.catalog)")
    return f"{CATEGORIES.index(OUTPUTS[name].category) + 1}. {OUTPUTS[name].category}"


# --------------------------------------------------------------------------- what they read of the config
# The keys of report_spec, which the tables', figures', best-std's and seeds table's --spec may hold
# (an unknown one, a typo of a role say, was taken silently), and the general benchmarks' tasks that
# Tables 3 and 4's spec adds (rules/common/general.smk's general_spec)
SPEC_KEYS = ("students", "sources", "teachers", "sets", "variants", "roles", "benchmarks", "validation", "select_on",
             "steps_per_round", "rounds", "published", "probe", "protocol", "student_teacher", "order", "general")


def report_spec(config: dict) -> dict:
    """What the table and figure code needs to know of the config (each rule's --spec): labels,
    sets, roles, the protocol, and the config's order (JSON params are written with sorted keys)."""
    g, rep, ev, tr = Grid(config), config["report"], config["eval"], config["train"]
    pairs = [{k: p[k] for k in ("teacher", "student", "source")} for p in g.pairs]
    single = isinstance((config.get("analyses") or {}).get("student_teacher"), dict)
    return {
        "students": {k: v.get("label", k) for k, v in config["students"].items()},
        "sources": {k: v.get("label", k) for k, v in config["sources"].items()},
        "teachers": {k: {"label": v.get("label", k), "shifted": bool(v.get("distribution_shifted"))}
                     for k, v in config["teachers"].items()},
        "sets": config["teacher_sets"],
        "variants": {t: g.merge_method(t)[0] for t in [rep["mot"], *g.variant_sets]},
        "roles": {r: rep[r] for r in ("mot", "no_shifted", "peers")},
        "benchmarks": ev["benchmarks"],
        "validation": ev["validation"],
        "select_on": rep["select_on"],
        "steps_per_round": tr["steps_per_round"],
        "rounds": tr["rounds"],
        "published": rep["published"],
        "probe": g.probe.get("runs", []),
        "protocol": {k: ev[k] for k in ("n", "temperature", "top_p", "max_tokens")},
        "student_teacher": (pairs[0] if single else pairs) if pairs else None,
        "order": {"students": g.students, "sources": g.sources, "teachers": g.teachers, "sets": g.config_sets},
    }


def table_spec(spec: dict, name: str) -> dict:
    """report_spec, with the merge-method variants only for the table that shows them: a change of
    mot.merge_method must not rerun the tables without MoT in them."""
    return spec if name == "merge_methods" else {k: v for k, v in spec.items() if k != "variants"}


def figure_spec(spec: dict, name: str, probe: dict) -> dict:
    """report_spec; Figure 5's with the probe's (mot.grid.probe_settings) students, benchmarks and
    samples per problem."""
    if name != "fig5" or not probe:
        return spec
    return {**spec, "students": {k: v for k, v in spec["students"].items() if k in probe["students"]},
            "order": {**spec["order"], "students": [s for s in spec["order"]["students"] if s in probe["students"]]},
            "benchmarks": probe["benchmarks"], "protocol": {**spec["protocol"], "n": probe["n"]}}


def corpus_spec(spec: dict) -> dict:
    """What the corpus table and figure show of the config (labels, order, published numbers): a
    change of eval or merge settings must not rerun them."""
    return {k: v for k, v in spec.items() if k in ("students", "sources", "teachers", "sets", "order", "published")}
