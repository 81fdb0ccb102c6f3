"""Live tracking through accelerate's tracker interface (TensorBoard, W&B, MLflow, ... as installed).

    train:
      log_with: [tensorboard]          # config/schema.yaml: train.log_with

A 900-GPU-hour grid is watched while it runs: every training job logs loss, learning rate,
tokens/s and gradient norm per step, and every evaluation its scores per checkpoint, under one
run name per job taken from the results layout (`tiny/syn-boba/sft-concise`, `.../mot-all/round-2/
branch-qwq`, `eval/tiny/syn-boba/sft-concise`). Which trackers, and where local ones write, come
from the environment (MOT_LOG_WITH, MOT_TRACKING_DIR), which the workflow sets from the config: a
change of trackers reruns nothing, since it changes no result.
"""
from __future__ import annotations

import os
from pathlib import Path

from .io import MotError
from .layout import TRACKING

LOG_WITH, TRACKING_DIR = "MOT_LOG_WITH", "MOT_TRACKING_DIR"
# The packages a tracker needs, any one of them (accelerate.utils.imports' is_<tracker>_available):
# without it, accelerate drops the tracker with a warning and the job runs untracked
PACKAGES = {"tensorboard": ("tensorboard", "tensorboardX")}


def not_installed(names: list[str]) -> list[str]:
    """The trackers of `names` whose package this environment lacks."""
    import importlib.util

    return [n for n in names if not any(importlib.util.find_spec(m) for m in PACKAGES.get(n, (n,)))]


def trackers() -> list[str]:
    """The trackers this job logs to (none unless MOT_LOG_WITH names some, comma-separated)."""
    names = [x.strip() for x in os.environ.get(LOG_WITH, "").split(",") if x.strip()]
    if names:
        from accelerate.utils import LoggerType

        known = [t.value for t in LoggerType]
        if unknown := [n for n in names if n not in known]:
            raise MotError(f"train.log_with: unknown tracker(s) {', '.join(unknown)} (accelerate knows "
                           f"{', '.join(known)})")
        if missing := not_installed(names):
            raise MotError(f"train.log_with: {', '.join(missing)}: not installed in this job's environment "
                           "(accelerate would run it untracked)")
    return names


def tracking_dir() -> str:
    return os.environ.get(TRACKING_DIR) or TRACKING


def run_name(out: str | os.PathLike, prefix: str = "") -> str:
    """One name per job from its output's place in the results layout (results/models/<name>,
    results/eval/<name>): the path below the stage's folder, without a suffix."""
    parts = Path(str(out).removesuffix(".partial")).with_suffix("").parts
    for i, p in enumerate(parts):
        if p in ("models", "eval"):
            parts = parts[i + 1:]
            break
    return prefix + "/".join(parts)


def tracker_kwargs() -> dict:
    """accelerate's project_dir, where local trackers (tensorboard, aim, ...) write."""
    return {"log_with": trackers() or None, "project_dir": tracking_dir()}


def log_scores(out: str, record: dict) -> None:
    """An evaluation's pass@1 per checkpoint and benchmark (x 100), at the checkpoint's step."""
    if not trackers():
        return
    from accelerate import Accelerator

    acc = Accelerator(cpu=True, **tracker_kwargs())
    acc.init_trackers(run_name(out, "eval/"), config=flat_config(
        {**{k: v for k, v in record.items() if k != "checkpoints"}, **record.get("sampling", {})}))
    for c in record["checkpoints"]:
        acc.log({f"eval/{b}/pass@1": 100 * r["pass@1"] for b, r in c["benchmarks"].items()}, step=c["step"])
    finish(acc)


def finish(acc) -> None:
    """Close the trackers (accelerate's end_training would also end the process group, which a process
    that trains several MoT branches still needs)."""
    for tracker in acc.trackers:
        tracker.finish()


def flat_config(d: dict) -> dict:
    """Hyper-parameters as trackers take them (numbers, strings, booleans)."""
    return {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in d.items()}
