"""The grid of a validated config, derived once: its teacher sets, runs, checkpoints and unit jobs.

    g = Grid(config)
    g.sets            {set: [teachers]}, the merge-method variants of report.mot's set included
    g.eval_runs()     the runs the main job evaluates; g.eval_runs(analyses=True), the analyses' own
    g.units()         every unit job: what it does and of what (below)

rules/common.smk takes its names and targets from here (`G = Grid(config)`), mot.plan costs
g.units(), and tests/test_grid.py holds the two to one job list: for every shipped config, the jobs
Snakemake plans for all_analyses are g.units(). Importable without Snakemake.

A unit job is a dict: `stage` (mot.plan.STAGES but tables: mot.catalog lists those) and what it is
of: `student`, `source`, `teacher`, `tset`, `round`, `run`, `shard`/`shards` (generation), `ckpts`
(evaluation: checkpoints sampled), `pct` (a probe point: lambda x 100), and `job`: with `mot.jobs: per_set` the MoT
units that one scheduled job runs share a `job` key (round 1's branches of a student and source; a
set's later branches and merges), else None.
"""
from __future__ import annotations

from .layout import GENERAL_MODELS, MTD, as_teachers, mot_run, mot_set, probe_run, probed, sft_run


def student_teacher_pairs(config: dict) -> list[dict]:
    """analyses.student_teacher as a list of pairs (paper Table 9): one mapping is one pair."""
    st = config.get("analyses", {}).get("student_teacher") or []
    return [st] if isinstance(st, dict) else list(st)


def probe_settings(config: dict) -> dict:
    """analyses.probe with its defaults ({} without a probe): eval's n and benchmarks, every student.
    Each probe point is also sampled on eval.validation, as every evaluated checkpoint is."""
    p = config.get("analyses", {}).get("probe") or {}
    if not p:
        return {}
    return {"runs": list(p["runs"]), "lambdas": list(p["lambdas"]), "n": p.get("n", config["eval"]["n"]),
            "benchmarks": list(p.get("benchmarks", config["eval"]["benchmarks"])),
            "students": list(p.get("students", config["students"]))}


class Grid:
    def __init__(self, config: dict):
        self.config = config
        self.sources, self.teachers, self.students = list(config["sources"]), list(config["teachers"]), \
            list(config["students"])
        analyses = config.get("analyses") or {}
        # Merge-method variants of report.mot's set (analyses.merge_methods): the set "<set>@<variant>"
        # trains the same round-1 branches and merges every round with its own method.
        self.variants = analyses.get("merge_methods") or {}
        mot = config["report"]["mot"]
        self.config_sets = list(config["teacher_sets"])  # the paper's tables and figures show these
        self.sets = {**config["teacher_sets"], **{f"{mot}@{v}": config["teacher_sets"][mot] for v in self.variants}}
        self.variant_sets = [t for t in self.sets if "@" in t]
        # Round-1 branches are shared by all teacher sets: every teacher that any set uses.
        self.mot_teachers = [t for t in self.teachers if any(t in ts for ts in config["teacher_sets"].values())]
        self.rounds = list(range(1, config["train"]["rounds"] + 1))
        # Table 9 (analyses.student_teacher): a pair's teacher student's base, best STD and MoT models
        # sample the pair's source as teachers (as_teachers: name -> (student, base|best-std|mot)).
        self.pairs = student_teacher_pairs(config)
        self.as_teachers = as_teachers(self.pairs)
        # Figure 5's reverse-merge probe (analyses.probe)
        self.probe = probe_settings(config)
        self.probe_runs = [probe_run(r) for r in self.probe.get("runs", [])]
        self.probe_pcts = [round(100 * x) for x in self.probe.get("lambdas", [])]
        self.probe_students = self.probe.get("students", [])
        self.per_set = config["mot"]["jobs"] == "per_set"

    # ---------------------------------------------------------------------------------- runs
    def std_steps(self) -> list[int]:
        """The steps at which an STD/MTD run is evaluated: every train.save_every, and the last."""
        tr = self.config["train"]
        every, steps = tr["save_every"] or tr["std_steps"], tr["std_steps"]
        return list(range(every, steps, every)) + [steps]

    def mot_steps(self) -> list[int]:
        """The steps of MoT's merged rounds (its checkpoints)."""
        return [t * self.config["train"]["steps_per_round"] for t in self.rounds]

    def pair_teachers(self, pair: dict) -> list[str]:
        """The Table-9 teachers of a pair: its teacher's base, best STD and MoT models."""
        return [name for name, (teacher, _) in self.as_teachers.items() if teacher == pair["teacher"]]

    def st_pair(self, name: str) -> dict:
        """The first pair whose teacher lends Table-9 teacher `name` (pairs that share a teacher sample alike)."""
        return next(p for p in self.pairs if p["teacher"] == self.as_teachers[name][0])

    def eval_runs(self, analyses: bool = False) -> list[str]:
        """The runs the main job evaluates (STD per teacher, MTD, MoT per teacher set); with
        analyses=True, those only the analyses evaluate (merge-method variants, the probes)."""
        if analyses:
            return [mot_run(t) for t in self.variant_sets] + self.probe_runs
        return [sft_run(c) for c in self.teachers + [MTD]] + [mot_run(t) for t in self.config_sets]

    def evaluated_runs(self, analyses: bool = False) -> list[tuple[str, str, str]]:
        """(student, source, run) of every eval of eval_runs (a probe run: of the probe's students only)."""
        return [(st, so, r) for st in self.students for so in self.sources for r in self.eval_runs(analyses)
                if not probed(r) or st in self.probe_students]

    def merge_method(self, tset: str) -> tuple[str, dict]:
        """(method, params) that merge a teacher set's rounds: mot.merge_method, or its variant's."""
        variant = tset.partition("@")[2]
        if variant:
            return self.variants[variant]["method"], self.variants[variant]["params"]
        return self.config["mot"]["merge_method"], self.config["mot"]["merge_params"]

    def student_teacher_runs(self) -> list[tuple[str, str, str]]:
        """Table 9's evaluated runs: each pair's student's STD run on each of its teachers' corpora,
        and the teacher student's STD runs that choose its best STD run (the main job's own)."""
        runs = [(p["student"], p["source"], sft_run(t)) for p in self.pairs for t in self.pair_teachers(p)]
        runs += [(p["teacher"], p["source"], sft_run(t)) for p in self.pairs for t in self.teachers]
        return list(dict.fromkeys(runs))

    def ckpts(self, run: str) -> int:
        """How many checkpoints an evaluation of this run samples."""
        if run == "base":
            return 1
        if probed(run):
            return len(self.probe_pcts)
        if mot_set(run):
            return len(self.rounds)
        return len(self.std_steps())

    # ---------------------------------------------------------------------------------- unit jobs
    def units(self) -> list[dict]:
        """Every unit job of all_analyses but the tables and figures (see the module's docstring)."""
        out = []

        def add(stage, job=None, **key):
            out.append({"stage": stage, **key, "job": job if self.per_set else None})

        cfg = self.config
        for so in self.sources:  # rules generate / generate_shard
            for t in self.teachers:
                k = cfg["teachers"][t].get("shards", 1)
                for i in range(k):
                    add("generate", source=so, teacher=t, shard=i, shards=k)
        for t, (teacher, _) in self.as_teachers.items():  # Table 9's teachers: each source of their pairs once
            for so in dict.fromkeys(p["source"] for p in self.pairs if p["teacher"] == teacher):
                add("generate", source=so, teacher=t, shard=0, shards=1)
        st_runs = set(self.student_teacher_runs())
        for st in self.students:
            add("eval", student=st, source=None, run="base", ckpts=1)
            for so in self.sources:
                for t in self.teachers:
                    add("train_std", student=st, source=so, teacher=t)
                add("train_mtd", student=st, source=so)
                for t in self.mot_teachers:  # round 1, shared by the sets
                    add("train_mot", ("first", st, so), student=st, source=so, teacher=t, round=1, tset=None)
                for name, ts in self.sets.items():
                    for r in self.rounds:
                        for t in ts if r > 1 else []:
                            add("train_mot", ("rounds", st, so, name), student=st, source=so, teacher=t, tset=name,
                                round=r)
                        add("merge", ("rounds", st, so, name), student=st, source=so, tset=name, round=r)
                for p in self.pairs:  # Table 9: the pair's student learns from its teacher's models' corpora
                    if (p["student"], p["source"]) == (st, so):
                        for t in self.pair_teachers(p):
                            add("train_std", student=st, source=so, teacher=t)
                runs = [r for s, o, r in self.evaluated_runs() + self.evaluated_runs(True) if (s, o) == (st, so)]
                runs += [r for s, o, r in st_runs if (s, o) == (st, so) and r not in runs]
                for run in runs:
                    add("eval", student=st, source=so, run=run, ckpts=self.ckpts(run))
                if st in self.probe_students:
                    for run in self.probe.get("runs", []):
                        for pct in self.probe_pcts:  # rule probe_point: one CPU merge per lambda
                            add("probe", student=st, source=so, run=probe_run(run), pct=pct)
        if (cfg.get("general") or {}).get("tasks"):  # rules general_base / general_run
            for st in self.students:
                add("general", student=st, source=None, run="base")
                for so in self.sources:
                    for model in GENERAL_MODELS:
                        add("general", student=st, source=so, run=model)
        return out
