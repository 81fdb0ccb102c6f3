"""Merge-of-Thought rounds: teacher-specific SFT branches from a common init, merged each round.

    mot branches --model results/models/tiny/base --corpus deliberate=results/corpora/syn-boba/deliberate.jsonl \
        --corpus concise=... --hparams '{...}' --steps 5 --total-steps 25 --out results/models/tiny/syn-boba/mot-round-1
    mot rounds --first-round results/models/tiny/syn-boba/mot-round-1 --corpus deliberate=... --corpus concise=... \
        --hparams '{...}' --rounds 5 --steps-per-round 5 --method uniform --out results/models/tiny/syn-boba/mot-all

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

from pathlib import Path

from .io import MotError, check_out, file_xxh3, finish_work, model_fingerprint, start_work, write_json
from .layout import BRANCH, MERGED, ROUND


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


def schedule(round_: int, spr: int, rounds: int, kind: str) -> tuple[int, int]:
    """(first global step, schedule length) of a round's branches: `global` follows the lr of
    global steps (t-1)*spr..t*spr of a rounds*spr-step run; `round` restarts warmup+cosine."""
    if kind == "global":
        return (round_ - 1) * spr, rounds * spr
    if kind == "round":
        return 0, spr
    raise MotError(f"train.schedule: unknown value '{kind}' (global | round)")


def _processes():
    """The processes of an `accelerate launch` (a single one otherwise): all of them train each
    branch together; the main one alone does the file work and the merges."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available())


def _start(ps, out: Path, fingerprint: list) -> Path:
    work = start_work(out, fingerprint) if ps.is_main_process else Path(f"{out}.partial")
    ps.wait_for_everyone()
    return work


def _finish(ps, work: Path, out: Path, record: dict) -> None:
    if ps.is_main_process:
        write_json(work / "mot_rounds.json", record)
        finish_work(work, out)
    ps.wait_for_everyone()


def _train_branch(init: str, corpus: str, hp: dict, out: Path, spr: int, start: int, total: int, seed: int,
                  optimizer_from: Path | None, save_optimizer: bool) -> None:
    from .train import train

    if out.is_dir():  # finished by an earlier attempt
        return
    train(init, corpus, hp, str(out), spr, start, total, 0, seed,
          str(optimizer_from) if optimizer_from else None, save_optimizer)


def branches(model: str, corpora: dict[str, str], hp: dict, steps: int, total_steps: int, out: str, seed: int = 0,
             save_optimizer: bool = False, force: bool = False) -> dict:
    """Round 1: one branch per teacher from `model`, written to out/branch-<teacher>."""
    out = Path(out)
    check_out(out, [model, *corpora.values()], force)
    ps = _processes()
    work = _start(ps, out, ["branches", model_fingerprint(model), {t: file_xxh3(c) for t, c in corpora.items()}, hp,
                            steps, total_steps, seed, save_optimizer])
    for teacher, corpus in corpora.items():
        _train_branch(model, corpus, hp, work / BRANCH.format(teacher=teacher), steps, 0, total_steps, seed, None,
                      save_optimizer)
    record = {"model": model, "corpora": corpora, "hparams": hp, "steps": steps, "total_steps": total_steps,
              "seed": seed}
    _finish(ps, work, out, record)
    return record


def _merge(ps, branch_dirs: list[Path], base: str, out: Path, method: str, params: dict, prev_merged: Path | None):
    from .merge import merge
    from .methods import METHODS, param

    if ps.is_main_process and not out.is_dir():
        params = dict(params)
        if METHODS[method].stateful and param(method, params, "momentum") and prev_merged is not None:
            params["state"] = str(prev_merged)  # the momentum saved beside the previous merge
        merge([str(b) for b in branch_dirs], str(out), method, None, base if METHODS[method].needs_base else None, params)
    ps.wait_for_everyone()


def rounds(first_round: str, base: str, corpora: dict[str, str], hp: dict, n_rounds: int, spr: int, out: str,
           method: str = "uniform", params: dict | None = None, seed: int = 0, schedule_kind: str = "global",
           optimizer_state: str = "reset", force: bool = False) -> dict:
    """Merge round 1's branches of these teachers, then rounds 2..n: branches from the previous
    merged model, merged. Writes out/round-<t>/merged (and out/round-<t>/branch-<teacher>, t >= 2)."""
    from tqdm import tqdm

    params = params or {}
    first, out = Path(first_round), Path(out)
    check_out(out, [first_round, base, *corpora.values()], force)
    missing = [t for t in corpora if not (first / BRANCH.format(teacher=t)).is_dir()]
    if missing:
        raise MotError(f"{first}: no round-1 branch for teacher(s) {', '.join(missing)}")
    if optimizer_state not in ("reset", "carry"):
        raise MotError(f"train.optimizer_state: unknown value '{optimizer_state}' (reset | carry)")
    carry = optimizer_state == "carry"
    ps = _processes()
    work = _start(ps, out, ["rounds", {t: model_fingerprint(first / BRANCH.format(teacher=t)) for t in corpora},
                            model_fingerprint(base), {t: file_xxh3(c) for t, c in corpora.items()}, hp, n_rounds, spr,
                            method, params, seed, schedule_kind, optimizer_state])
    prev_merged = None
    bar = tqdm(total=n_rounds * (len(corpora) + 1), desc=f"MoT rounds ({out.name})", mininterval=2)
    for t in range(1, n_rounds + 1):
        rdir = work / ROUND.format(round=t)
        if t == 1:
            dirs = [first / BRANCH.format(teacher=k) for k in corpora]
        else:
            start, total = schedule(t, spr, n_rounds, schedule_kind)
            dirs = []
            for k, corpus in corpora.items():
                prev_branch = (first if t == 2 else work / ROUND.format(round=t - 1)) / BRANCH.format(teacher=k)
                _train_branch(str(prev_merged), corpus, hp, rdir / BRANCH.format(teacher=k), spr, start, total, seed,
                              prev_branch if carry else None, carry)
                dirs.append(rdir / BRANCH.format(teacher=k))
                bar.update(1)
        init = base if t == 1 else str(prev_merged)
        _merge(ps, dirs, init, rdir / MERGED, method, params, prev_merged)
        bar.update(1 if t > 1 else len(corpora) + 1)
        prev_merged = rdir / MERGED
    bar.close()
    record = {"first_round": str(first), "base": base, "teachers": list(corpora), "corpora": corpora, "hparams": hp,
              "rounds": n_rounds, "steps_per_round": spr, "merge_method": method, "merge_params": params,
              "seed": seed, "schedule": schedule_kind, "optimizer_state": optimizer_state,
              "steps": {ROUND.format(round=t): t * spr for t in range(1, n_rounds + 1)}}
    _finish(ps, work, out, record)
    return record
