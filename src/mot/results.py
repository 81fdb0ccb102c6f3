"""Eval summaries as the tables read them: Results (each run's scores per checkpoint, their SEs
and per-problem rates), the best checkpoint of a run and the best STD teacher, paired bootstrap
differences, the published numbers, and the copy of the best STD run's final weights (rule
best_std_model)."""
from __future__ import annotations

import math
import random
from pathlib import Path

from . import layout
from .io import MotError, stable_hash
from .readers import Record, read_json, records
from .render import Score
from .shapes import EVAL_SUMMARY

class Results:
    """Eval summaries indexed by (student, source, run) -> {step: {benchmark: pass@1 x 100}}."""

    def __init__(self, eval_files: list[str], benchmarks: list[str], select_on: list[str] | None = None,
                 protocol: dict | None = None):
        """select_on: the benchmarks whose AVG picks a run's best checkpoint (default: `benchmarks`).
        protocol: the config's sampling (n, temperature, top_p, max_tokens), which every summary must
        have been sampled with, since the tables' note states it (a probe run: its own n)."""
        self.benchmarks, self.runs, self.se, self.per_problem = benchmarks, {}, {}, {}
        self.select_on, self.selection = select_on or benchmarks, {}
        self.models, self.files = {}, {}  # key -> {step: the checkpoint's path as evaluated}; key -> summary
        self.thinking = {}  # key -> {step: {benchmark: its decomposition (mot.thinking), or None}}
        for path in eval_files:
            rec = read_json(path, "eval summary", EVAL_SUMMARY)
            key = (rec.get("student"), rec.get("source"), rec.get("run"))
            if None in (key[0], key[2]):
                raise MotError(f"{path}: not a tagged eval summary (student/source/run missing)")
            if key in self.files:  # the tables would show whichever came last
                raise MotError(f"{path}: a second eval summary of run '{key[2]}' (student '{key[0]}', source "
                               f"'{key[1]}'); the first is {self.files[key]}")
            if len(steps := [c["step"] for c in rec["checkpoints"]]) != len(set(steps)):
                raise MotError(f"{path}: step {next(x for x in steps if steps.count(x) > 1)} is evaluated twice")
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
                # the SE over problems (bootstrap), which every table states
                if old := [b for b in benchmarks if "se_problems" not in c["benchmarks"][b]]:
                    raise MotError(f"{path}: step {c['step']}, {old[0]}: no se_problems (written by an older mot "
                                   "evaluate): rerun its evaluation")
                self.se.setdefault(key, {})[c["step"]] = {b: 100 * c["benchmarks"][b]["se_problems"] for b in benchmarks}
                self.per_problem.setdefault(key, {})[c["step"]] = {
                    b: c["benchmarks"][b].get("per_problem") for b in benchmarks}
                self.models.setdefault(key, {})[c["step"]] = c.get("model")
                self.thinking.setdefault(key, {})[c["step"]] = {
                    b: c["benchmarks"][b].get("decomposition") for b in benchmarks}
            self.files[key] = path

    def steps(self, student, source, run) -> dict:
        key = (student, None if run == "base" else source, run)
        if key not in self.runs:
            raise MotError(f"no eval summary for student '{student}', source '{source}', run '{run}'")
        return self.runs[key]

    def at(self, table: dict, student, source, run, step):
        """`table`'s entry (self.runs, self.se, self.per_problem) for a run's step: a run without a
        summary, or a step its summary lacks, is one line naming them."""
        steps = self.steps(student, source, run)
        key = (student, None if run == "base" else source, run)
        if step not in steps:
            raise MotError(f"{self.files[key]}: no step {step} of run '{run}' (evaluated: "
                           f"{', '.join(map(str, sorted(steps)))})")
        return table[key][step]

    def scores(self, student, source, run, step) -> list[float]:
        s = self.at(self.runs, student, source, run, step)
        vals = [s[b] for b in self.benchmarks]
        return vals + [sum(vals) / len(vals)]

    def scored(self, student, source, run, step) -> list[Score]:
        """scores() with their SEs; the AVG's SE treats the benchmarks as independent samples."""
        se = self.at(self.se, student, source, run, step)
        ses = [se[b] for b in self.benchmarks]
        avg_se = math.sqrt(sum(x * x for x in ses)) / len(ses)
        return [Score(v, e) for v, e in zip(self.scores(student, source, run, step), ses + [avg_se])]

    def best_scored(self, student, source, run) -> list[Score]:
        return self.scored(student, source, run, self.best(student, source, run)[0])

    def base_scored(self, student) -> list[Score]:
        return self.scored(student, None, "base", 0)

    def problems(self, student, source, run, step) -> dict[str, list[float]]:
        """Each benchmark's per-problem pass rates (x 100) at this checkpoint."""
        rates = self.at(self.per_problem, student, source, run, step)
        if any(v is None for v in rates.values()):
            raise MotError(f"the eval summary of {student}/{source}/{run} has no per-problem results "
                           "(written by an older mot evaluate): rerun its evaluation")
        return {b: [100 * x for x in v] for b, v in rates.items()}

    def decomposed(self, student, source, run, step) -> dict:
        """The step's decomposition over the benchmarks' problems together (mot.thinking.pooled)."""
        from .thinking import pooled

        parts = self.at(self.thinking, student, source, run, step)
        if any(v is None for v in parts.values()):
            key = (student, None if run == "base" else source, run)
            raise MotError(f"{self.files[key]}: step {step} has no decomposition (written by an older mot "
                           "evaluate): rerun its evaluation")
        return pooled(list(parts.values()))

    def best(self, student, source, run) -> tuple[int, list[float]]:
        steps, sel = self.steps(student, source, run), self.selection[(student, None if run == "base" else source, run)]
        step = max(sorted(steps), key=lambda k: sel[k])  # max keeps the first
        return step, self.scores(student, source, run, step)

    def base(self, student) -> list[float]:
        return self.scores(student, None, "base", 0)

    def final_model(self, student, source, run) -> tuple[str | None, str]:
        """The path of a run's final (last step's) checkpoint as its eval summary records it, and
        that summary."""
        key = (student, None if run == "base" else source, run)
        models = self.models.get(key) or {}
        if key not in self.files or not models:
            raise MotError(f"no eval summary for student '{student}', source '{source}', run '{run}'")
        return models[max(models)], self.files[key]


def best_std(res: Results, spec: dict, student: str, source: str) -> tuple[str, float]:
    avgs = {k: res.best(student, source, f"sft-{k}")[1][-1] for k in spec["teachers"]}
    teacher = max(avgs, key=avgs.get)  # max keeps the first in config order
    return teacher, avgs[teacher]


def load_published(path: str | None, name: str) -> dict | None:
    if not path:
        return None
    import yaml

    from .configfile import _yaml_error, load_yaml

    try:  # as a config file is read: UTF-8, no key given twice, one line naming the file
        data = load_yaml(Path(path).read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise MotError(f"{path}: not UTF-8 text (byte {e.start}; report.published)") from None
    except OSError as e:
        raise MotError(f"{path}: cannot read it ({e.strerror}; report.published)") from None
    except yaml.YAMLError as e:
        raise _yaml_error(path, e) from None
    if not isinstance(data, dict) or not isinstance(data.get("tables"), dict):
        raise MotError(f"{path}: expected a 'tables' mapping (report.published)")
    table = data["tables"].get(name) or {}
    if not isinstance(table, dict) or not isinstance(table.get("rows") or {}, dict):
        raise MotError(f"{path}: tables.{name} is not a mapping with 'rows' (report.published)")
    return table.get("rows")


def results(evals: list[str], spec: dict) -> Results:
    select = spec.get("validation") if spec.get("select_on") == "validation" else None
    if spec.get("select_on") == "validation" and not select:
        raise MotError("report.select_on: validation needs eval.validation benchmarks")
    return Results(evals, spec["benchmarks"], select, spec.get("protocol"))


def in_order(spec: dict) -> dict:
    """The spec with students/sources/teachers/sets in the config's order (spec["order"]), which
    the sorted-key JSON of a Snakemake param loses."""
    from .shapes import check, report_spec

    check(spec, report_spec(), "--spec")  # a spec written by hand: a label that breaks a row, no benchmark
    order = spec.get("order", {})
    out = {**spec, **{k: {name: spec[k][name] for name in order[k]} for k in order}}
    return records(out, spec.where) if isinstance(spec, Record) else out  # a missing key still names --spec


def same_checkpoint(given: str, recorded: str) -> bool:
    """Whether a directory named by an argument is the checkpoint an eval summary records: the same
    path, the same directory, or (a relative record: the evaluation ran elsewhere, the rules' case)
    a path that ends with the recorded one."""
    import os

    if os.path.normpath(given) == os.path.normpath(recorded):
        return True
    if os.path.exists(given) and os.path.exists(recorded) and os.path.samefile(given, recorded):
        return True
    parts = Path(os.path.normpath(recorded)).parts
    return (not os.path.isabs(recorded) and ".." not in parts
            and Path(os.path.abspath(given)).parts[-len(parts):] == parts)


def copy_best_std(spec: dict, evals: list[str], student: str, source: str, out: str, runs: list[str],
                  force: bool = False) -> str:
    """Copy the final weights of `student`'s best STD run on `source` to `out` (its step-N
    checkpoints and logs stay behind); returns the teacher. The weights are read from the one of
    `runs` (the STD runs' directories) that is the final checkpoint the best run's eval summary
    records, never from a path rebuilt from the working directory. A directory `out` that mot did
    not write is replaced only with `force`."""
    import os
    import shutil

    from .io import atomic_path, check_out, write_json

    check_out(out, [*evals, *runs], force)
    spec = in_order(spec)
    res = results(evals, spec)
    teacher, avg = best_std(res, spec, student, source)
    run = layout.sft_run(teacher)
    model, summary = res.final_model(student, source, run)
    found = [d for d in runs if model and same_checkpoint(d, model)]
    if len(found) != 1:
        raise MotError(f"the best STD run {run} of {student} on {source}: its eval summary {summary} evaluated {model} "
                       f"as its final checkpoint, which is {'more than one' if found else 'none'} of --runs "
                       f"({' '.join(found or runs)})")
    src = Path(found[0])
    if not src.is_dir():
        raise MotError(f"--runs {found[0]}: no such run directory (the final checkpoint of {run})")
    with atomic_path(out, is_dir=True, force=force) as tmp:
        for f in sorted(src.iterdir()):
            if f.is_file() and not f.name.startswith("."):
                try:
                    os.link(f, Path(tmp) / f.name)  # same filesystem: no copy of an 8B model's weights
                except OSError:
                    shutil.copy2(f, Path(tmp) / f.name)
        write_json(Path(tmp) / "mot_best_std.json", {"teacher": teacher, "run": str(src), "best_avg": avg})
    return teacher


N_BOOT = 2000


def paired_difference(a: dict[str, list[float]], b: dict[str, list[float]], seed,
                      names: tuple[str, str] = ("the first", "the second")) -> tuple[float, float, float]:
    """AVG(a) - AVG(b) over the benchmarks, and its 95% interval from a paired bootstrap: each
    resample draws a benchmark's problems with replacement, the same ones for both checkpoints.
    `names`: what a and b are (student/source/run), which an error names."""
    def avg(x, idx):
        return sum(sum(x[k][i] for i in idx[k]) / len(idx[k]) for k in x) / len(x)

    sizes = [{k: len(v) for k, v in x.items()} for x in (a, b)]
    if sizes[0] != sizes[1]:
        raise MotError(f"a paired difference needs both checkpoints evaluated on the same problems: {names[0]} has "
                       f"{sizes[0]} per benchmark, {names[1]} {sizes[1]} (their eval summaries' per_problem)")
    full = {k: range(len(v)) for k, v in a.items()}
    rng = random.Random(stable_hash("paired", seed))
    diffs = sorted(avg(a, idx) - avg(b, idx) for idx in (
        {k: [rng.randrange(len(v)) for _ in v] for k, v in a.items()} for _ in range(N_BOOT)))
    return avg(a, full) - avg(b, full), diffs[int(0.025 * N_BOOT)], diffs[int(math.ceil(0.975 * N_BOOT)) - 1]
