"""Merge-of-Thought rounds: teacher-specific SFT branches from a common init, merged each round.

    mot branches --model data/bases/tiny-<key> --corpus deliberate=results/corpora/syn-boba/deliberate.jsonl \
        --corpus concise=... --spec '{"hparams": {...}, "rounds": 5, "steps_per_round": 5}' \
        --out results/models/tiny/syn-boba/mot-round-1
    mot rounds --first-round results/models/tiny/syn-boba/mot-round-1 --corpus deliberate=... --corpus concise=... \
        --spec '{"hparams": {...}, "rounds": 5, "steps_per_round": 5, "method": "uniform"}' \
        --out results/models/tiny/syn-boba/mot-all

Round 1 trains every teacher's branch from the base. Those branches are the same for every
teacher set (same init, corpus, schedule and seed), so `mot branches` trains them once per
student and source, and every teacher set's `mot rounds` starts from them: it merges round 1, then
runs rounds 2..T (branches from the previous merged model, then a merge). Changing the merge
method therefore reruns the merges and the later rounds only.

Each command runs all its branches in one process: on a laptop the per-process import of
torch/transformers/accelerate (~6 s) costs more than a 5-step branch; on a cluster a job runs
its branches one after another on all of its GPUs, the same GPU-hours as parallel jobs.

Work happens in `<out>.partial/`, stamped with a fingerprint of the settings and input contents;
a rerun after a crash or preemption keeps the finished branches and merges and resumes the
interrupted branch (mot.train resumes after SIGTERM). `<out>` appears by rename at the end.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from .io import (MotError, check_out, file_xxh3, finish_work, model_fingerprint, release_output, stage_code, start_work,
                 write_json)
from .layout import BRANCH, MERGED, ROUND
from .spec import check_ranges, check_seed, default, from_json
from .train import WORK_FILES as TRAIN_WORK, HParams, TrainSpec


def parse_corpora(pairs: list[str]) -> dict[str, str]:
    """`teacher=path` pairs, in order."""
    out = {}
    for p in pairs:
        name, sep, path = p.partition("=")
        if not sep or not name or not path:
            raise MotError(f"--corpus {p!r}: expected TEACHER=PATH")
        if name in out:
            raise MotError(f"--corpus: teacher '{name}' given twice")
        out[name] = path
    return out


def schedule(round_: int, spr: int, rounds: int, kind: str) -> tuple[int, int, int]:
    """(first global step, schedule length, global step where that schedule starts) of a round's
    branches. `round` (the paper's reading: each round is its own 50-step SFT run under a cosine
    with warmup) restarts warmup and cosine every round; `global` gives round t the lr of global
    steps (t-1)*spr..t*spr of one rounds*spr-step cosine, as STD/MTD. Either way the data order
    follows the global step, so the rounds see the corpus in the order one long run would."""
    if kind == "global":
        return (round_ - 1) * spr, rounds * spr, 0
    if kind == "round":
        return (round_ - 1) * spr, spr, (round_ - 1) * spr
    raise MotError(f"train.schedule: unknown value '{kind}' (global | round)")


@dataclass(frozen=True)
class RoundsSpec:
    """MoT over a teacher set: how each branch trains and how each round's branches merge."""
    hparams: HParams
    rounds: int
    steps_per_round: int
    method: str = "uniform"
    merge_params: dict = field(default_factory=dict)
    seed: int = 0
    schedule: str = default("train.schedule")  # global | round (the lr schedule of a branch)
    optimizer_state: str = default("train.optimizer_state")  # reset | carry (AdamW state from a teacher's branch to the next)

    def __post_init__(self):  # the merge method: check_merge (round 1 merges nothing)
        check_ranges(self, "--spec", "train")  # rounds: 0 would publish a run of no model
        check_seed(self.seed, "--spec")
        schedule(1, self.steps_per_round, self.rounds, self.schedule)  # checks the kind

    @classmethod
    def of(cls, d: dict) -> "RoundsSpec":
        """From `mot branches/rounds --spec` (JSON): every key a field of its type, hparams those of HParams."""
        return from_json(cls, d, "--spec", nested={"hparams": HParams.of})

    def branch(self, round_: int, optimizer_from: Path | None = None) -> TrainSpec:
        """The training of one branch of round `round_` (optimizer_from: the teacher's previous branch)."""
        start, total, lr_start = schedule(round_, self.steps_per_round, self.rounds, self.schedule)
        carry = self.optimizer_state == "carry"
        return TrainSpec(self.hparams, self.steps_per_round, start, total, 0, self.seed,
                         str(optimizer_from) if carry and optimizer_from else None, carry, lr_start)


def rounds_values(config: dict, method: str | None = None, params: dict | None = None) -> dict:
    """mot branches' and mot rounds' --spec (RoundsSpec.of takes it), from the config; the merge
    method (and its params) only for rounds, as round 1 merges nothing."""
    from .train import hparams_values

    tr, merge = config["train"], {"method": method, "merge_params": params} if method else {}
    return dict(hparams=hparams_values(tr), rounds=tr["rounds"], steps_per_round=tr["steps_per_round"],
                schedule=tr["schedule"], optimizer_state=tr["optimizer_state"], seed=config["seed"], **merge)


@dataclass(frozen=True)
class BranchJob:
    """Train teacher `teacher`'s branch of round `round` from `init` into `out`."""
    round: int
    teacher: str
    init: str
    out: str
    spec: TrainSpec


@dataclass(frozen=True)
class MergeJob:
    """Merge round `round`'s branches into `out` (`init`: the round's init, which the branches started
    from; `params`: the method's, with the `state` that a stateful method carries from the last merge)."""
    round: int
    branches: tuple[str, ...]
    out: str
    method: str
    init: str
    params: dict

    @property
    def base(self) -> str | None:
        """What `mot merge --base` gets: the round's init, for a method that needs one."""
        from .methods import METHODS

        return self.init if METHODS[self.method].needs_base else None


def check_merge(spec: RoundsSpec) -> None:
    """The spec's merge method is one, with the parameters it declares (mot.methods). Apart from
    RoundsSpec, so that round 1's branches (`mot branches`), which merge nothing, run no merge
    method's code (mot.codeversion: an edit of one reruns no round 1)."""
    from .methods import METHODS, params_error

    if spec.method not in METHODS:
        raise MotError(f"--spec: method '{spec.method}' is not a merge method (known: {', '.join(METHODS)})")
    if msg := params_error(spec.method, spec.merge_params):
        raise MotError(f"--spec merge_params: {msg}")


# What `mot branches` and `mot rounds` write in their work directories (`<out>.partial/`; mot.io.start_work's
# `own`): each branch, a training's output or, while it trains, its work, and each round's merged model
# (outputs of mot's, whose MARKER lists their files); rounds >= 2 in a directory each; the record.
_BRANCHES = {BRANCH.format(teacher="*") + ".partial": TRAIN_WORK, BRANCH.format(teacher="*"): {}}
BRANCHES_WORK = {**_BRANCHES, "mot_rounds.json": None}
ROUNDS_WORK = {ROUND.format(round="*"): {**_BRANCHES, MERGED: {}}, "mot_rounds.json": None}


def first_branches(spec: RoundsSpec, teachers: list[str], base: str, branch_dir) -> list[BranchJob]:
    """Round 1: each teacher's branch from the base (shared by every teacher set that has the teacher)."""
    return [BranchJob(1, k, base, str(branch_dir(1, k)), spec.branch(1, None)) for k in teachers]


def plan(spec: RoundsSpec, teachers: list[str], base: str, branch_dir, merged_dir) -> list[BranchJob | MergeJob]:
    """The MoT rounds as jobs, in an order that runs them: round t's branches, then its merge. Both job
    modes execute this one plan: the rules (mot.jobs: per_branch) run each job as a job of its own, with
    the paths of mot.layout; `mot branches` and `mot rounds` (per_set) run them in one process each,
    in their work directories. branch_dir(t, teacher) and merged_dir(t) place each model.

    Round 1's branches start from the base; round t's from round t-1's merged model, continuing the
    teacher's AdamW state of round t-1 under optimizer_state: carry. A merge gets the round's init as
    its base when its method needs one, and a stateful method the previous merge as its `state`."""
    from .methods import METHODS

    check_merge(spec)
    stateful = METHODS[spec.method].stateful
    jobs: list[BranchJob | MergeJob] = []
    for t in range(1, spec.rounds + 1):
        init = base if t == 1 else str(merged_dir(t - 1))
        jobs += first_branches(spec, teachers, base, branch_dir) if t == 1 else [
            BranchJob(t, k, init, str(branch_dir(t, k)), spec.branch(t, Path(branch_dir(t - 1, k)))) for k in teachers]
        params = dict(spec.merge_params)
        if stateful and t > 1:
            params["state"] = str(merged_dir(t - 1))
        jobs.append(MergeJob(t, tuple(str(branch_dir(t, k)) for k in teachers), str(merged_dir(t)), spec.method,
                             init, params))
    return jobs


def _processes():
    """The processes of an `accelerate launch` (a single one otherwise): all of them train each
    branch together; the main one alone does the file work and the merges."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def _start(ps, out: Path, stage: str, fingerprint: list, own: dict) -> Path:
    fingerprint = [stage_code(stage), *fingerprint]  # this command's code only: a TIES edit is no round 1's
    work = start_work(out, fingerprint, own) if ps.is_main_process else Path(f"{out}.partial")
    ps.wait_for_everyone()
    return work


def _finish(ps, work: Path, out: Path, record: dict, own: dict) -> None:
    if ps.is_main_process:
        write_json(work / "mot_rounds.json", record)
        finish_work(work, out, own)
    ps.wait_for_everyone()


def _train_branch(init: str, corpus: str, spec: TrainSpec, out: Path) -> None:
    from .train import train

    if not out.is_dir():  # else finished by an earlier attempt
        train(init, corpus, spec, str(out))


def branches(model: str, corpora: dict[str, str], spec: RoundsSpec, out: str, force: bool = False) -> dict:
    """Round 1: one branch per teacher from `model`, written to out/branch-<teacher>."""
    try:
        return _branches(model, corpora, spec, out, force)
    finally:  # however it ends: the next writer may start
        release_output(out)


def _branches(model: str, corpora: dict[str, str], spec: RoundsSpec, out: str, force: bool = False) -> dict:
    out = Path(out)
    check_out(out, [model, *corpora.values()], force)
    ps = _processes()
    branch = spec.branch(1)
    work = _start(ps, out, "branches", [model_fingerprint(model), {t: file_xxh3(c) for t, c in corpora.items()},
                                        asdict(branch)], BRANCHES_WORK)
    for job in first_branches(spec, list(corpora), model, lambda t, k: work / BRANCH.format(teacher=k)):
        _train_branch(job.init, corpora[job.teacher], job.spec, Path(job.out))
    record = {"model": model, "corpora": corpora, "train": asdict(branch)}
    _finish(ps, work, out, record, BRANCHES_WORK)
    return record


def _merge(ps, job: MergeJob):
    from .merge import merge

    if ps.is_main_process and not Path(job.out).is_dir():
        merge(list(job.branches), job.out, job.method, None, job.base, job.params)
    ps.wait_for_everyone()


def rounds(first_round: str, base: str, corpora: dict[str, str], spec: RoundsSpec, out: str,
           force: bool = False) -> dict:
    """Merge round 1's branches of these teachers, then rounds 2..n: branches from the previous
    merged model, merged. Writes out/round-<t>/merged (and out/round-<t>/branch-<teacher>, t >= 2)."""
    try:
        return _rounds(first_round, base, corpora, spec, out, force)
    finally:  # however it ends: the next writer may start
        release_output(out)


def _rounds(first_round: str, base: str, corpora: dict[str, str], spec: RoundsSpec, out: str,
           force: bool = False) -> dict:
    from tqdm import tqdm

    first, out = Path(first_round), Path(out)
    check_out(out, [first_round, base, *corpora.values()], force)
    missing = [t for t in corpora if not (first / BRANCH.format(teacher=t)).is_dir()]
    if missing:
        raise MotError(f"{first}: no round-1 branch for teacher(s) {', '.join(missing)}")
    ps = _processes()
    work = _start(ps, out, f"rounds[{spec.method}]",
                  [{t: model_fingerprint(first / BRANCH.format(teacher=t)) for t in corpora}, model_fingerprint(base),
                   {t: file_xxh3(c) for t, c in corpora.items()}, asdict(spec)], ROUNDS_WORK)
    where = lambda t, k: (first if t == 1 else work / ROUND.format(round=t)) / BRANCH.format(teacher=k)  # noqa: E731
    bar = tqdm(total=spec.rounds * (len(corpora) + 1), desc=f"MoT rounds ({out.name})", mininterval=2)
    for job in plan(spec, list(corpora), base, where, lambda t: work / ROUND.format(round=t) / MERGED):
        if isinstance(job, MergeJob):
            _merge(ps, job)
        elif job.round > 1:  # round 1's branches: mot branches trained them
            _train_branch(job.init, corpora[job.teacher], job.spec, Path(job.out))
        bar.update(1)
    bar.close()
    record = {"first_round": str(first), "base": base, "teachers": list(corpora), "corpora": corpora, **asdict(spec),
              "steps": {ROUND.format(round=t): t * spec.steps_per_round for t in range(1, spec.rounds + 1)}}
    _finish(ps, work, out, record, ROUNDS_WORK)
    return record
