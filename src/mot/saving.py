"""What training writes as it goes: its log (one CSV row a step, cut back to the step a resumed run
starts from), each checkpoint (save_pretrained, weights only, bf16 under train.bf16), and the state
a stopped run resumes from (accelerate's save_state), each written beside and swapped in whole."""
from __future__ import annotations

import copy
import csv
import os
import shutil
from pathlib import Path

from .io import atomic_path, write_json


def _cut_log(path: Path, step: int) -> None:
    """Keep the log's rows up to `step`, where training resumes (or starts): a run killed after its
    last saved state logged steps that it will run again."""
    if not path.is_file():
        return
    lines = path.read_text().splitlines(keepends=True)
    keep = lines[:1] + [x for x in lines[1:] if x.strip() and int(x.split(",", 1)[0]) <= step]
    if len(keep) < len(lines):
        with atomic_path(path) as tmp:
            Path(tmp).write_text("".join(keep))


def _log(path: Path, row: dict) -> None:
    new = not path.exists()
    with open(path, "a", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(row))
        if new:
            w.writeheader()
        w.writerow(row)


def _save(acc, model, tok, path: Path, bf16: bool) -> None:
    """save_pretrained (safetensors, weights only), written to a temporary name, then renamed. Under
    train.bf16 the float32 master weights are saved in bf16, as the checkpoints a bf16 model ships
    in, whichever device trained them: a CPU rehearsal's checkpoints are the cluster's (and merge
    with a base as the hub ships it, in bf16)."""
    import torch

    state = acc.get_state_dict(model)
    if bf16 and state is not None:
        state = {k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in state.items()}
    if acc.is_main_process:
        tmp = path.with_name(path.name + ".tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        core = acc.unwrap_model(model)
        try:
            core.save_pretrained(tmp, state_dict=state, safe_serialization=True)
            if bf16:  # save_pretrained writes the dtype of the float32 model; a dtype="auto" load reads it
                config = copy.deepcopy(core.config)
                config.dtype = "bfloat16"
                config.save_pretrained(tmp)
            tok.save_pretrained(tmp)
        except BaseException:  # a full disk: the model-sized partial copy does not stay behind
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        shutil.rmtree(path, ignore_errors=True)
        os.replace(tmp, path)
    acc.wait_for_everyone()


def _save_resume(acc, path: Path, step: int) -> None:
    """Weights and optimizer state through accelerate's save_state, which gathers or shards them
    as the launch (FSDP, DeepSpeed) requires; written beside, then swapped in."""
    tmp = path.with_name("resume.tmp")
    if acc.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    acc.wait_for_everyone()
    try:
        acc.save_state(str(tmp / "accelerate"))
    except BaseException:  # a full disk: the partial state (weights and optimizer) does not stay behind
        if acc.is_main_process:
            shutil.rmtree(tmp, ignore_errors=True)
        raise
    if acc.is_main_process:
        write_json(tmp / "state.json", {"step": step})
        shutil.rmtree(path, ignore_errors=True)
        os.replace(tmp, path)
    acc.wait_for_everyone()
