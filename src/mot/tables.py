"""The paper's tables, regenerated from eval summaries and corpus statistics.

    mot tables --name table2 --spec '{...}' --evals results/eval/tiny/base.json results/eval/tiny/syn-boba/*.json \
        --out results/tables/table2

Each table is a small function in a registry: (Results, spec) -> Table. A Table writes itself as
CSV, Markdown and LaTeX (`<out>.csv`, `.md`, `.tex`); the note under it says how each number was
chosen ("best" = the checkpoint with the highest AVG, the mean pass@1 over the benchmarks; ties go
to the earlier step). Scores are pass@1 x 100 over the eval's n samples per problem. With
spec.published (config/paper.yaml: data/paper_results.yaml), the paper's numbers for the same row
and column appear beside each reproduced one, as "<column> (paper)".

spec: students/sources {name: label}, teachers {name: {label, shifted}}, sets {name: [teachers]},
roles {mot, no_shifted, peers} (teacher-set names; null skips a table), benchmarks [names],
steps_per_round, published (path or null).
"""
from __future__ import annotations

import csv
import io
import json
import math
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from . import layout
from .io import MotError, read_json, registry, stable_hash, write_text

TABLES: dict = {}
table = registry(TABLES)

BENCH_LABELS = {"aime24": "AIME24", "aime25": "AIME25", "math500": "MATH-500", "syn-aime24": "SYN-AIME24",
                "syn-aime25": "SYN-AIME25"}
SE_NOTE = ("± is the standard error over problems (bootstrap); an AVG's combines its benchmarks' SEs as "
           "independent.")
def protocol_note(spec: dict) -> str:
    """The sampling protocol of every score, from the config's eval block (spec["protocol"])."""
    p = spec.get("protocol")
    if not p:
        return ""
    return (f"Protocol: pass@1 x 100 over {p['n']} sample(s) per problem at temperature {p['temperature']:g}, "
            f"top-p {p['top_p']:g}, at most {p['max_tokens']} tokens; graded by math-verify.")


def caption(spec: dict, what: str) -> str:
    """A report caption: what the output is, then the same sentences as the tables' notes (what
    "best" means, the protocol, the SE) and, with published numbers, where they come from."""
    parts = [what, best_note(spec), protocol_note(spec), SE_NOTE]
    if spec.get("published"):
        parts.append("Columns marked (paper) are the published numbers (data/paper_results.yaml).")
    return " ".join(x for x in parts if x)


def best_note(spec: dict) -> str:
    on = (f"the AVG over the validation benchmarks ({', '.join(spec['validation'])}), kept apart from the test sets"
          if spec.get("select_on") == "validation" else "the AVG over the test benchmarks themselves, as in the paper")
    return ("Best checkpoint: the saved checkpoint (STD/MTD: every save_every steps; MoT: every round) with the "
            f"highest AVG, chosen on {on}; ties go to the earlier step.")


@dataclass(frozen=True)
class Score:
    """pass@1 x 100 and its standard error over problems: 'v ± se' in Markdown and LaTeX, two
    columns ('<col>', '<col> SE') in the CSV."""
    value: float
    se: float


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list] = field(default_factory=list)
    keys: int = 1  # the first `keys` cells of a row identify it (published numbers join on them)
    published_keys: list[str] | None = None  # per row, what its published numbers join on instead
    note: str = ""
    protocol: str = ""  # how the scores were sampled (protocol_note), said under every scored table
    se_note: str = SE_NOTE  # what ± means

    def add_published(self, published: dict | None) -> None:
        """Append '<col> (paper)' columns for the numeric columns that the paper reports."""
        if not published:
            return
        cols = [c for c in self.columns[self.keys:] if any(c in r for r in published.values())]
        for i, row in enumerate(self.rows):
            key = self.published_keys[i] if self.published_keys else "|".join(str(x) for x in row[:self.keys])
            ref = published.get(key, {})
            row.extend(ref.get(c) for c in cols)
        self.columns += [f"{c} (paper)" for c in cols]
        self.note += " Columns marked (paper) are the published numbers (data/paper_results.yaml)."

    def full_note(self) -> str:
        scored = any(isinstance(c, Score) for r in self.rows for c in r)
        return " ".join(x for x in (self.note, self.protocol, self.se_note) if x) if scored else self.note

    def cells(self, tex: bool = False) -> list[list[str]]:
        return [[_fmt(c, tex) for c in r] for r in self.rows]

    def csv(self) -> str:
        scored = [any(isinstance(r[i], Score) for r in self.rows) for i in range(len(self.columns))]
        header, rows = [], [[] for _ in self.rows]
        for i, col in enumerate(self.columns):
            header += [col, f"{col} SE"] if scored[i] else [col]
            for out, r in zip(rows, self.rows):
                x = r[i]
                out += ([_fmt(x.value), _fmt(x.se)] if isinstance(x, Score) else [_fmt(x), ""]) if scored[i] \
                    else [_fmt(x)]
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
        return buf.getvalue()

    def markdown(self) -> str:
        lines = [f"**{self.title}**", "", "| " + " | ".join(self.columns) + " |",
                 "|" + "|".join("---" if i < self.keys else "---:" for i in range(len(self.columns))) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in self.cells()]
        return "\n".join(lines + ["", self.full_note(), ""])

    def latex(self) -> str:
        spec = "l" * self.keys + "r" * (len(self.columns) - self.keys)
        lines = ["% " + self.full_note(), "\\begin{table}[t]", "\\centering", f"\\caption{{{_tex(self.title)}}}",
                 f"\\begin{{tabular}}{{{spec}}}", "\\toprule", " & ".join(map(_tex, self.columns)) + " \\\\",
                 "\\midrule"]
        lines += [" & ".join(r) + " \\\\" for r in self.cells(tex=True)]
        return "\n".join(lines + ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""])

    def html(self, name: str) -> str:
        """A self-contained page for `snakemake --report`: the table, its note, and its CSV and
        LaTeX attached as downloads (data URIs, so the page needs no other file)."""
        import base64
        from html import escape

        def attach(ext, text, mime):
            data = base64.b64encode(text.encode()).decode()
            return f'<a download="{name}.{ext}" href="data:{mime};base64,{data}">{name}.{ext}</a>'

        head = "".join(f"<th>{escape(c)}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f'<td class="{"k" if i < self.keys else "n"}">{escape(c)}</td>'
                                        for i, c in enumerate(r)) + "</tr>" for r in self.cells())
        return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{escape(self.title)}</title><style>"
                "body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;font-size:14px}"
                "th,td{border-bottom:1px solid #ccc;padding:4px 10px}th{text-align:left}td.n{text-align:right}"
                "p{max-width:60em;color:#333}</style></head><body>"
                f"<h3>{escape(self.title)}</h3><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
                f"<p>{escape(self.full_note())}</p><p>Download: {attach('csv', self.csv(), 'text/csv')} · "
                f"{attach('tex', self.latex(), 'application/x-tex')} · {attach('md', self.markdown(), 'text/markdown')}"
                "</p></body></html>\n")

    def write(self, out: str) -> None:
        for ext, text in (("csv", self.csv()), ("md", self.markdown()), ("tex", self.latex()),
                          ("html", self.html(Path(out).name))):
            write_text(f"{out}.{ext}", text)


def _fmt(x, tex: bool = False) -> str:
    if isinstance(x, Score):
        return f"{x.value:.2f} $\\pm$ {x.se:.2f}" if tex else f"{x.value:.2f} ± {x.se:.2f}"
    if x is None:
        text = ""
    elif isinstance(x, float):
        text = f"{x:.2f}"
    else:
        text = str(x)
    return _tex(text) if tex else text


def _gain(x: float) -> str:
    return f"{x:+.2f}"


_TEX = {"\\": "\\textbackslash{}", "&": "\\&", "%": "\\%", "_": "\\_", "#": "\\#", "$": "\\$", "{": "\\{",
        "}": "\\}", "~": "\\textasciitilde{}", "^": "\\textasciicircum{}"}
_TEX_RE = re.compile("|".join(map(re.escape, _TEX)))


def _tex(s: str) -> str:
    """LaTeX-escape in one pass, so the braces of an inserted `\\textbackslash{}` stay braces."""
    return _TEX_RE.sub(lambda m: _TEX[m.group()], s)


class Results:
    """Eval summaries indexed by (student, source, run) -> {step: {benchmark: pass@1 x 100}}."""

    def __init__(self, eval_files: list[str], benchmarks: list[str], select_on: list[str] | None = None,
                 protocol: dict | None = None):
        """select_on: the benchmarks whose AVG picks a run's best checkpoint (default: `benchmarks`).
        protocol: the config's sampling (n, temperature, top_p, max_tokens), which every summary must
        have been sampled with, since the tables' note states it (a probe run: its own n)."""
        self.benchmarks, self.runs, self.se, self.per_problem = benchmarks, {}, {}, {}
        self.select_on, self.selection = select_on or benchmarks, {}
        for path in eval_files:
            rec = read_json(path, "eval summary")
            key = (rec.get("student"), rec.get("source"), rec.get("run"))
            if None in (key[0], key[2]):
                raise MotError(f"{path}: not a tagged eval summary (student/source/run missing)")
            for k, v in (protocol or {}).items():
                got = (rec.get("sampling") or {}).get(k)
                if got != v and not (k == "n" and layout.probed(key[2])):
                    raise MotError(f"{path}: sampled with {k} = {got!r}, but the config's eval.{k} is {v!r} (the "
                                   "tables state the config's protocol): rerun its evaluation")
            for c in rec["checkpoints"]:
                missing = [b for b in [*benchmarks, *self.select_on] if b not in c["benchmarks"]]
                if missing:
                    raise MotError(f"{path}: step {c['step']} has no result for {', '.join(missing)}")
                self.runs.setdefault(key, {})[c["step"]] = {b: 100 * c["benchmarks"][b]["pass@1"]
                                                            for b in benchmarks}
                self.selection.setdefault(key, {})[c["step"]] = sum(  # as scores()[-1] when on the tests
                    [100 * c["benchmarks"][b]["pass@1"] for b in self.select_on]) / len(self.select_on)
                # the SE over problems (bootstrap) when the summary has it; older ones: over the n runs
                self.se.setdefault(key, {})[c["step"]] = {
                    b: 100 * c["benchmarks"][b].get("se_problems", c["benchmarks"][b]["se"]) for b in benchmarks}
                self.per_problem.setdefault(key, {})[c["step"]] = {
                    b: c["benchmarks"][b].get("per_problem") for b in benchmarks}

    def steps(self, student, source, run) -> dict:
        key = (student, None if run == "base" else source, run)
        if key not in self.runs:
            raise MotError(f"no eval summary for student '{student}', source '{source}', run '{run}'")
        return self.runs[key]

    def scores(self, student, source, run, step) -> list[float]:
        s = self.steps(student, source, run)[step]
        vals = [s[b] for b in self.benchmarks]
        return vals + [sum(vals) / len(vals)]

    def scored(self, student, source, run, step) -> list[Score]:
        """scores() with their SEs; the AVG's SE treats the benchmarks as independent samples."""
        se = self.se[(student, None if run == "base" else source, run)][step]
        ses = [se[b] for b in self.benchmarks]
        avg_se = math.sqrt(sum(x * x for x in ses)) / len(ses)
        return [Score(v, e) for v, e in zip(self.scores(student, source, run, step), ses + [avg_se])]

    def best_scored(self, student, source, run) -> list[Score]:
        return self.scored(student, source, run, self.best(student, source, run)[0])

    def base_scored(self, student) -> list[Score]:
        return self.scored(student, None, "base", 0)

    def problems(self, student, source, run, step) -> dict[str, list[float]]:
        """Each benchmark's per-problem pass rates (x 100) at this checkpoint."""
        rates = self.per_problem[(student, None if run == "base" else source, run)][step]
        if any(v is None for v in rates.values()):
            raise MotError(f"the eval summary of {student}/{source}/{run} has no per-problem results "
                           "(written by an older mot evaluate): rerun its evaluation")
        return {b: [100 * x for x in v] for b, v in rates.items()}

    def best(self, student, source, run) -> tuple[int, list[float]]:
        steps, sel = self.steps(student, source, run), self.selection[(student, None if run == "base" else source, run)]
        step = max(sorted(steps), key=lambda k: sel[k])  # max keeps the first
        return step, self.scores(student, source, run, step)

    def base(self, student) -> list[float]:
        return self.scores(student, None, "base", 0)


def bench_columns(spec: dict) -> list[str]:
    return [BENCH_LABELS.get(b, b.upper()) for b in spec["benchmarks"]] + ["AVG"]


def _set_label(spec, tset) -> str:
    teachers = spec["sets"][tset]
    if tset == spec["roles"]["mot"]:
        return "ALL TEACHERS"
    return " + ".join(spec["teachers"][t]["label"] for t in teachers)


@table("table1")
def main_results(res: Results, spec: dict) -> Table:
    t = Table("Table 1: Main results with MoT", ["Configuration"] + bench_columns(spec) + ["AVG Gain"],
              note="MoT: best round. " + best_note(spec) + " AVG Gain: AVG minus the base model's AVG.")
    mot = f"mot-{spec['roles']['mot']}"
    for st, st_label in spec["students"].items():
        base = res.base_scored(st)
        t.rows.append([st_label, *base, "-"])
        for so, so_label in spec["sources"].items():
            s = res.best_scored(st, so, mot)
            t.rows.append([f"{st_label} + {so_label} (MOT)", *s, _gain(s[-1].value - base[-1].value)])
    return t


def method_rows(spec) -> list[tuple[str, str]]:
    """(label, run) of Table 2's rows, in the paper's order."""
    return ([("Baseline", "base"), ("MTD (ALL TEACHERS)", "sft-mtd")]
            + [(f"STD ({v['label']})", f"sft-{k}") for k, v in spec["teachers"].items()]
            + [("MOT (ours)", f"mot-{spec['roles']['mot']}")])


@table("table2")
def ablation(res: Results, spec: dict) -> Table:
    cols = [f"{sl} {c}" for sl in spec["students"].values() for c in bench_columns(spec)]
    t = Table("Table 2: Ablation on STD, MTD and MoT", ["Dataset", "Method"] + cols, keys=2,
              note="Every method at its best checkpoint. " + best_note(spec))
    for so, so_label in spec["sources"].items():
        for label, run in method_rows(spec):
            row = [so_label, label]
            for st in spec["students"]:
                row += res.base_scored(st) if run == "base" else res.best_scored(st, so, run)
            t.rows.append(row)
    return t


@table("table5")
def best_teacher(res: Results, spec: dict) -> Table:
    cols = []
    for sl in spec["sources"].values():
        cols += [f"Best teacher on {sl} (STD)", f"{sl} best STD AVG", f"{sl} MOT AVG"]
    t = Table("Table 5: Best teacher under STD for each base model and dataset", ["Base model"] + cols,
              note="The STD teacher whose best checkpoint has the highest AVG (ties: config order); "
                   "MOT AVG at its best round. " + best_note(spec))
    for st, st_label in spec["students"].items():
        row = [st_label]
        for so in spec["sources"]:
            teacher, avg = best_std(res, spec, st, so)
            row += [spec["teachers"][teacher]["label"], res.best_scored(st, so, f"sft-{teacher}")[-1],
                    res.best_scored(st, so, f"mot-{spec['roles']['mot']}")[-1]]
        t.rows.append(row)
    return t


def best_std(res: Results, spec: dict, student: str, source: str) -> tuple[str, float]:
    avgs = {k: res.best(student, source, f"sft-{k}")[1][-1] for k in spec["teachers"]}
    teacher = max(avgs, key=avgs.get)  # max keeps the first in config order
    return teacher, avgs[teacher]


@table("table6")
def shifted_std(res: Results, spec: dict) -> Table:
    cols = [f"{sl} (AVG change)" for sl in spec["sources"].values()]
    t = Table("Table 6: STD with the distribution-shifted teacher, AVG change vs the base",
              ["Base model", "Teacher"] + cols, keys=2,
              note="STD at its best checkpoint, AVG minus the base model's AVG; negative = degradation. " + best_note(spec))
    shifted = [k for k, v in spec["teachers"].items() if v.get("shifted")]
    for st, st_label in spec["students"].items():
        for k in shifted:
            t.rows.append([st_label, spec["teachers"][k]["label"]]
                          + [res.best(st, so, f"sft-{k}")[1][-1] - res.base(st)[-1] for so in spec["sources"]])
    if not shifted:
        t.note = "No teacher is marked distribution_shifted in the config. " + t.note
    return t


def _set_change(res, spec, role, title, number) -> Table:
    cols = [f"{sl} (AVG change)" for sl in spec["sources"].values()]
    t = Table(f"Table {number}: {title}", ["Base model"] + cols,
              note=f"AVG of MoT with teacher set '{spec['roles'][role]}' minus AVG of MoT with all teachers "
                   f"('{spec['roles']['mot']}'), each at its best round; negative = the smaller pool is worse. "
                   + best_note(spec))
    for st, st_label in spec["students"].items():
        t.rows.append([st_label] + [res.best(st, so, f"mot-{spec['roles'][role]}")[1][-1]
                                    - res.best(st, so, f"mot-{spec['roles']['mot']}")[1][-1]
                                    for so in spec["sources"]])
    return t


@table("table7")
def no_shifted(res: Results, spec: dict) -> Table:
    return _set_change(res, spec, "no_shifted", "Removing the distribution-shifted teacher from the MoT pool", 7)


@table("table8")
def peers(res: Results, spec: dict) -> Table:
    tset = spec["roles"]["peers"]
    t = Table("Table 8: Peer-level teachers", ["Base model", "Dataset", "Teacher setting"] + bench_columns(spec),
              keys=3, note="STD and MoT at their best checkpoint / round. " + best_note(spec))
    for st, st_label in spec["students"].items():
        for so, so_label in spec["sources"].items():
            t.rows.append([st_label, so_label, "Base", *res.base_scored(st)])
            for k in spec["sets"][tset]:
                t.rows.append([st_label, so_label, f"STD: only {spec['teachers'][k]['label']}",
                               *res.best_scored(st, so, f"sft-{k}")])
            t.rows.append([st_label, so_label, f"MOT: {_set_label(spec, tset)}", *res.best_scored(st, so, f"mot-{tset}")])
            t.rows.append([st_label, so_label, "MOT: ALL TEACHERS",
                           *res.best_scored(st, so, f"mot-{spec['roles']['mot']}")])
    return t


@table("table11")
def every_checkpoint(res: Results, spec: dict) -> Table:
    bench = [BENCH_LABELS.get(b, b.upper()) for b in spec["benchmarks"]]
    cols = [f"{so_l} {st_l} {b}" for so_l in spec["sources"].values() for st_l in spec["students"].values()
            for b in bench]
    t = Table("Table 11: Every checkpoint (STD/MTD) and every round (MoT)", ["Method", "Config"] + cols, keys=2,
              note="pass@1 x 100 of every saved checkpoint; MoT round t = step t x steps_per_round.")
    pairs = [(so, st) for so in spec["sources"] for st in spec["students"]]
    t.rows.append(["Base model", "-"] + [x for so, st in pairs for x in res.base_scored(st)[:-1]])
    runs = [(f"STD ({v['label']})", f"sft-{k}") for k, v in spec["teachers"].items()]
    runs += [("MTD (ALL TEACHERS)", "sft-mtd")]
    for label, run in runs:
        for step in sorted(res.steps(*pairs[0][::-1], run)):
            t.rows.append([label, f"STEP {step}"] + [x for so, st in pairs for x in res.scored(st, so, run, step)[:-1]])
    for tset in spec["sets"]:
        label = "MOT (ours)" if tset == spec["roles"]["mot"] else f"MOT ({_set_label(spec, tset)})"
        for step in sorted(res.steps(*pairs[0][::-1], f"mot-{tset}")):
            t.rows.append([label, f"Round {step // spec['steps_per_round']}"]
                          + [x for so, st in pairs for x in res.scored(st, so, f"mot-{tset}", step)[:-1]])
    return t


def _per_round(res, spec, role, title, number) -> Table:
    tset = spec["roles"][role]
    t = Table(f"Table {number}: {title}", ["Base model", "Dataset", "Round"] + bench_columns(spec), keys=3,
              note=f"MoT with teacher set '{tset}' ({_set_label(spec, tset)}), every round; AVG = the mean "
                   "over the benchmarks.")
    for st, st_label in spec["students"].items():
        for so, so_label in spec["sources"].items():
            for step in sorted(res.steps(st, so, f"mot-{tset}")):
                t.rows.append([st_label, so_label, f"Round {step // spec['steps_per_round']}",
                               *res.scored(st, so, f"mot-{tset}", step)])
    return t


@table("table12")
def no_shifted_rounds(res: Results, spec: dict) -> Table:
    return _per_round(res, spec, "no_shifted", "MoT without the distribution-shifted teacher, per round", 12)


@table("table13")
def peers_rounds(res: Results, spec: dict) -> Table:
    return _per_round(res, spec, "peers", "MoT with peer-level teachers, per round", 13)


@table("merge_methods")
def merge_methods(res: Results, spec: dict) -> Table:
    """Best-round AVG of report.mot's teacher set under each merge method (analyses.merge_methods)."""
    cols = [f"{sl} {c}" for sl in spec["students"].values() for c in bench_columns(spec)]
    t = Table("Merge methods: MoT with all teachers, merged each round by each method", ["Dataset", "Merge method"]
              + cols, keys=2, note="Each method's best round. The first row is the main run (mot.merge_method); "
              "the others are analyses.merge_methods, trained from the same round-1 branches. " + best_note(spec))
    for so, so_label in spec["sources"].items():
        for tset, method in spec["variants"].items():
            variant = tset.partition("@")[2]
            row = [so_label, f"{method} ({variant})" if variant else f"{method} (mot.merge_method)"]
            for st in spec["students"]:
                row += res.best_scored(st, so, f"mot-{tset}")
            t.rows.append(row)
    return t


AS_LABELS = {"base": "Base", "best-std": "Best STD", "mot": "MOT"}  # layout.AS_CONFIGS


@table("table9")
def student_as_teacher(res: Results, spec: dict) -> Table:
    """Paper Table 9: for each pair of analyses.student_teacher (one, or a list), the base, best STD
    and MoT final checkpoints of one student as teachers of another, on one source; the new
    student's STD run at its best checkpoint. Rows pair after pair, as the paper's two."""
    pairs = spec["student_teacher"] if isinstance(spec["student_teacher"], list) else [spec["student_teacher"]]
    names = {v: k for k, v in layout.as_teachers(pairs).items()}  # (teacher, config) -> Table-9 teacher
    sources = list(dict.fromkeys(spec["sources"][p["source"]] for p in pairs))
    dataset = len(sources) > 1  # pairs on several sources (the paper's two are on BOBA-200): a column says which
    rows, keys, teachers = [], [], []
    for p in pairs:
        teacher, student, source = p["teacher"], p["student"], p["source"]
        best = spec["teachers"][best_std(res, spec, teacher, source)[0]]["label"]
        teachers.append(f"the final checkpoints of {spec['students'][teacher]} trained on {spec['sources'][source]} "
                        f"with no training (Base), the best STD teacher ({best}, by best-checkpoint AVG) and MoT "
                        "(last round)")
        for config_ in layout.AS_CONFIGS:
            label = AS_LABELS[config_]
            shown = f"{label} ({best})" if config_ == "best-std" else label
            rows.append([spec["sources"][source]] * dataset + [spec["students"][teacher], spec["students"][student], shown,
                         *res.best_scored(student, source, layout.sft_run(names[(teacher, config_)]))])
            keys.append(f"{spec['students'][teacher]}|{spec['students'][student]}|{label}")  # the paper's cells
    head = ["Dataset"] * dataset + ["Teacher model", "Student model", "Teacher config"]
    return Table(f"Table 9: Student-as-teacher distillation on {' and '.join(sources)}", head + bench_columns(spec),
                 rows, keys=len(head), published_keys=keys,
                 note=f"Teachers: {'; '.join(teachers)}; each samples the source's prompts, its verified corpus "
                      "trains the student by STD. The student at its best checkpoint. " + best_note(spec))


def copy_best_std(spec: dict, evals: list[str], student: str, source: str, out: str) -> str:
    """Copy the final weights of `student`'s best STD run on `source` to `out` (its step-N
    checkpoints and logs stay behind); returns the teacher."""
    import os
    import shutil

    from . import layout
    from .io import atomic_path, write_json

    spec = in_order(spec)
    teacher, avg = best_std(results(evals, spec), spec, student, source)
    src = Path(layout.run_dir(student, source, layout.sft_run(teacher)))
    with atomic_path(out, is_dir=True) as tmp:
        for f in sorted(src.iterdir()):
            if f.is_file() and not f.name.startswith("."):
                try:
                    os.link(f, Path(tmp) / f.name)  # same filesystem: no copy of an 8B model's weights
                except OSError:
                    shutil.copy2(f, Path(tmp) / f.name)
        write_json(Path(tmp) / "mot_best_std.json", {"teacher": teacher, "run": str(src), "best_avg": avg})
    return teacher


N_BOOT = 2000


def paired_difference(a: dict[str, list[float]], b: dict[str, list[float]], seed) -> tuple[float, float, float]:
    """AVG(a) - AVG(b) over the benchmarks, and its 95% interval from a paired bootstrap: each
    resample draws a benchmark's problems with replacement, the same ones for both checkpoints."""
    def avg(x, idx):
        return sum(sum(x[k][i] for i in idx[k]) / len(idx[k]) for k in x) / len(x)

    if {k: len(v) for k, v in a.items()} != {k: len(v) for k, v in b.items()}:
        raise MotError("a paired difference needs both checkpoints evaluated on the same problems")
    full = {k: range(len(v)) for k, v in a.items()}
    rng = random.Random(stable_hash("paired", seed))
    diffs = sorted(avg(a, idx) - avg(b, idx) for idx in (
        {k: [rng.randrange(len(v)) for _ in v] for k, v in a.items()} for _ in range(N_BOOT)))
    return avg(a, full) - avg(b, full), diffs[int(0.025 * N_BOOT)], diffs[int(math.ceil(0.975 * N_BOOT)) - 1]


@table("differences")
def differences(res: Results, spec: dict) -> Table:
    t = Table("Paired differences: best STD against the base; MoT against best STD, MTD and MoT without the "
              "shifted teacher",
              ["Base model", "Dataset", "Comparison", "AVG difference", "95% low", "95% high"], keys=3,
              note="AVG(first) minus AVG(second), each run at its best checkpoint / round, with a 95% interval "
                   f"from a paired bootstrap over problems ({N_BOOT} resamples; the same problems for both). "
                   "An interval that contains 0 does not tell the two apart. " + best_note(spec))
    mot = f"mot-{spec['roles']['mot']}"
    for st, st_label in spec["students"].items():
        for so, so_label in spec["sources"].items():
            teacher, _ = best_std(res, spec, st, so)
            others = [(f"MOT - best STD ({spec['teachers'][teacher]['label']})", f"sft-{teacher}"),
                      ("MOT - MTD", "sft-mtd")]
            if spec["roles"].get("no_shifted"):
                others.append(("MOT - MOT without the shifted teacher", f"mot-{spec['roles']['no_shifted']}"))
            std = f"sft-{teacher}"
            t.rows.append([st_label, so_label, f"best STD ({spec['teachers'][teacher]['label']}) - base",
                           *paired_difference(res.problems(st, so, std, res.best(st, so, std)[0]),
                                              res.problems(st, None, "base", 0), (st, so, "base"))])
            a = res.problems(st, so, mot, res.best(st, so, mot)[0])
            for label, run in others:
                b = res.problems(st, so, run, res.best(st, so, run)[0])
                t.rows.append([st_label, so_label, label, *paired_difference(a, b, (st, so, run))])
    return t


def corpus_table(stats_files: list[str], spec: dict) -> Table:
    """Table 10 from the corpus_stats CSVs (sizes = prompts with a kept correct sample)."""
    t = Table("Table 10: STD and MTD distillation datasets",
              ["Source", "Teacher", "Distillation dataset name", "Size", "Teacher pass rate (%)", "Mean tokens",
               "Lost: no correct sample", "Lost: too long"], keys=2,
              note="Size: prompts with at least one correct teacher sample that fits train.max_length (one kept "
                   "per prompt); the MTD dataset is their union. Pass rate over all samples (a sample cut at "
                   "max_tokens is never correct); tokens of the kept traces, counted with the student's "
                   "tokenizer. Lost: prompts without a correct sample, and prompts whose correct samples are "
                   "all longer than train.max_length (truncation: drop).")
    for path in stats_files:
        with open(path, newline="") as f:
            for r in csv.DictReader(f):
                so_label = spec["sources"][r["source"]]
                mtd = r["teacher"] not in spec["teachers"]
                label = "ALL TEACHERS" if mtd else spec["teachers"][r["teacher"]]["label"]
                short = "MTD" if mtd else label
                t.rows.append([so_label, label, f"{so_label}-{short}", int(r["kept"]),
                               100 * float(r["pass_rate"]) if r["pass_rate"] else None, float(r["mean_tokens"]),
                               *(int(r[k]) if r[k] else None for k in ("lost_no_correct", "lost_too_long"))])
    return t


GENERAL_CONFIGS = (("base", "Base"), ("best-std", "Best STD"), ("mot", "MOT"))
GENERAL_NOTE = ("Scores x 100 ± lm-evaluation-harness's standard error over problems, of the final models: the base, "
                "the STD run with the best AVG (Best STD, chosen as Table 5 chooses it) and MoT's last round. ")


def load_general(files: list[str]) -> dict:
    """{(student, source, model): {column: Score}} from `mot general` summaries (the base's under
    source None)."""
    out = {}
    for path in files:
        try:
            d = json.loads(Path(path).read_text())
        except (OSError, json.JSONDecodeError) as e:
            raise MotError(f"{path}: cannot read the general-benchmark summary ({e})") from None
        out[(d["student"], d.get("source"), d["model"])] = {
            col: Score(100 * r["score"], 100 * (r["se"] or 0.0)) for col, r in d["tasks"].items()}
    return out


def _general_table(files: list[str], spec: dict, groups: tuple[str, ...], title: str) -> Table:
    """Raw scores per group and each group's mean change against the base ("Avg drop" for the
    forgetting-sensitive tasks, "Avg gain" for the others), as the paper defines them."""
    scores = load_general(files)
    cols = {g: [c for c, t in spec["general"].items() if t["group"] == g] for g in groups}
    avg_name = {"forgetting": "Avg drop", "reasoning": "Avg gain", "pure": "Avg gain"}
    header = ["Dataset", "Student", "Config"]
    for g in groups:
        if cols[g]:
            header += cols[g] + [avg_name[g] + (f" ({g})" if len(groups) > 1 else "")]
    t = Table(title, header, keys=3, note=GENERAL_NOTE + "Avg drop / Avg gain: the mean over the group's "
              "tasks of (score - the base's score), negative for a drop; '-' for the base itself.", se_note="")
    for so, so_label in spec["sources"].items():
        for st, st_label in spec["students"].items():
            base = scores.get((st, None, "base"))
            for model, label in GENERAL_CONFIGS:
                got = scores.get((st, None if model == "base" else so, model))
                if got is None or base is None:
                    raise MotError(f"general: no summary for {st} {'' if model == 'base' else so + ' '}{model}")
                row = [so_label, st_label, label]
                for g in groups:
                    if not cols[g]:
                        continue
                    row += [got[c] for c in cols[g]]
                    row.append("-" if model == "base" else
                               _gain(sum(got[c].value - base[c].value for c in cols[g]) / len(cols[g])))
                t.rows.append(row)
    return t


def general_table(name: str, files: list[str], spec: dict) -> Table:
    if name == "table3":
        return _general_table(files, spec, ("forgetting", "reasoning"),
                              "Table 3: General benchmarks: catastrophic-forgetting-sensitive and reasoning-related tasks")
    return _general_table(files, spec, ("pure",), "Table 4: General benchmarks: pure reasoning tasks")


def load_published(path: str | None, name: str) -> dict | None:
    if not path:
        return None
    import yaml

    data = yaml.safe_load(Path(path).read_text())
    if not isinstance(data, dict) or "tables" not in data:
        raise MotError(f"{path}: expected a 'tables' mapping")
    return (data["tables"].get(name) or {}).get("rows")


def results(evals: list[str], spec: dict) -> Results:
    select = spec.get("validation") if spec.get("select_on") == "validation" else None
    if spec.get("select_on") == "validation" and not select:
        raise MotError("report.select_on: validation needs eval.validation benchmarks")
    return Results(evals, spec["benchmarks"], select, spec.get("protocol"))


def in_order(spec: dict) -> dict:
    """The spec with students/sources/teachers/sets in the config's order (spec["order"]), which
    the sorted-key JSON of a Snakemake param loses."""
    order = spec.get("order", {})
    return {**spec, **{k: {name: spec[k][name] for name in order[k]} for k in order}}


def make_table(name: str, spec: dict, evals: list[str], stats: list[str], out: str,
               general: list[str] | None = None) -> Table:
    spec = in_order(spec)
    if name == "table10":
        t = corpus_table(stats, spec)
    elif name in ("table3", "table4"):
        t = general_table(name, general or [], spec)
    elif name in TABLES:
        roles = {"table7": "no_shifted", "table8": "peers", "table12": "no_shifted",
                 "table13": "peers"}
        role = roles.get(name)
        if role and not spec["roles"].get(role):
            raise MotError(f"{name} needs report.{role} (a teacher set name) in the config")
        t = TABLES[name](results(evals, spec), spec)
    else:
        raise MotError(f"unknown table '{name}' (known: {', '.join(sorted([*TABLES, 'table3', 'table4', 'table10']))})")
    t.add_published(load_published(spec.get("published"), name))
    t.protocol = protocol_note(spec)
    t.write(out)
    return t


# ----------------------------------------------------------------------------- what the run shows
SUMMARY_START, SUMMARY_END = "<!-- default-run:start -->", "<!-- default-run:end -->"


def verdict(lo: float, hi: float) -> str:
    return "higher" if lo > 0 else "lower" if hi < 0 else "not told apart"


def summary(tables: str) -> str:
    """What a run shows, in Markdown, from its own tables: table 2 (every method at its best
    checkpoint, ± SE) and the paired differences with their 95% intervals and a verdict read off
    the interval (above 0: higher; below 0: lower; containing 0: not told apart)."""
    def read(name):
        with open(Path(tables) / f"{name}.csv", newline="") as f:
            return list(csv.DictReader(f))

    ablation, diffs = read("table2"), read("differences")
    students = [c.removesuffix(" AVG") for c in ablation[0] if c.endswith(" AVG")]
    out = []
    for st in students:
        for dataset in dict.fromkeys(r["Dataset"] for r in ablation):
            rows = [r for r in ablation if r["Dataset"] == dataset]
            out += [f"**{st} on {dataset}**: AVG pass@1 × 100 ± SE at each run's best checkpoint", "",
                    "| Method | AVG |", "|---|---:|"]
            out += [f"| {r['Method']} | {r[st + ' AVG']} ± {r[st + ' AVG SE']} |" for r in rows]
            out += ["", "| Paired difference | AVG | 95% interval | |", "|---|---:|---:|---|"]
            for d in (d for d in diffs if d["Base model"] == st and d["Dataset"] == dataset):
                lo, hi = float(d["95% low"]), float(d["95% high"])
                out.append(f"| {d['Comparison']} | {float(d['AVG difference']):+.2f} | [{lo:+.2f}, {hi:+.2f}] "
                           f"| {verdict(lo, hi)} |")
            out.append("")
    return "\n".join(out)


def write_summary(tables: str, out: str, readme: str | None = None) -> str:
    """Write the summary to `out` and, with `readme`, between its SUMMARY_START/END markers."""
    text = summary(tables)
    write_text(out, text)
    if readme:
        doc = Path(readme).read_text()
        if doc.count(SUMMARY_START) != 1 or doc.count(SUMMARY_END) != 1:
            raise MotError(f"{readme}: expected one '{SUMMARY_START}' and one '{SUMMARY_END}' line "
                           "(config key report.readme)")
        head, rest = doc.split(SUMMARY_START + "\n", 1) if SUMMARY_START + "\n" in doc else (None, None)
        if head is None or SUMMARY_END not in rest:
            raise MotError(f"{readme}: '{SUMMARY_START}' must be on its own line, before '{SUMMARY_END}'")
        new = head + SUMMARY_START + "\n" + text + "\n" + SUMMARY_END + rest.split(SUMMARY_END, 1)[1]
        if new != doc:
            write_text(readme, new)
    return text
