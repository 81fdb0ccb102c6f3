"""SFT of a causal LM on a distillation corpus, built on accelerate (1 process on CPU, N under
`accelerate launch`), resumable after SIGTERM/SIGUSR1.

    mot train --model data/bases/tiny-<key> --corpus results/corpora/syn-boba/concise.jsonl \
        --spec '{"hparams": {"lr": 1e-3, ...}, "steps": 25, "save_every": 5}' --out results/models/tiny/syn-boba/sft-concise
    accelerate launch --num_processes 8 --config_file envs/accelerate/fsdp.yaml -m mot train ...

Loss: token-level cross-entropy on the response (the teacher's whole rationale and answer, and
the end-of-turn token), prompt tokens masked, the student's chat template (mot.chat.sft_example). Each optimizer step takes `batch_size`
sequences; the loss is the sum over the step's response tokens divided by their number, whatever
the split into processes and micro-batches. Micro-batches group sequences of similar length, so
little compute goes to padding. The data order is a pure function of (seed, global step), so a
resumed run (or a MoT branch at global steps 50..100) sees exactly the sequences it should, and
on CPU a resumed run ends bitwise equal to an uninterrupted one.

The job works in `<out>.partial/`, stamped with a fingerprint of its inputs' contents and settings;
a rerun resumes the saved state only if they are unchanged (else it starts afresh, saying so).
`<out>` appears, complete, by rename at the end.

The examples, the order they are drawn in and their batches: mot.batches. A micro-batch's loss,
from all its logits at once or (train.loss_chunk_tokens) a chunk of positions at a time: mot.loss.
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import os
import shutil
import signal
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from . import tracking
from .batches import collate, collate_packed, load_examples, micro_batches, step_indices
from .chat import IGNORE
from .io import (MotError, check_out, check_work, file_xxh3, final_path, model_fingerprint, publish, release_output,
                 stage_code, start_work, write_json)
from .models import load_causal_lm, load_tokenizer
from .layout import STEP, TRAIN_LOG
from .loss import chunked_loss, plain_loss
from .saving import _cut_log, _log, _save, _save_resume
from .spec import check_count, check_ranges, check_seed, default, from_json


def lr_at(step: int, total: int, base_lr: float, warmup_ratio: float) -> float:
    """Cosine schedule with linear warmup (as transformers' get_cosine_schedule_with_warmup)."""
    warmup = math.ceil(warmup_ratio * total)
    if step < warmup:
        return base_lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * progress))


# --------------------------------------------------------------------------- training
class Stop:
    """SLURM sends SIGTERM (or --signal=USR1@T) before preemption or time-out: finish the current
    optimizer step, save a resumable state, exit non-zero. The previous handlers come back on exit."""

    SIGNALS = (signal.SIGTERM, signal.SIGUSR1)

    def __enter__(self):
        self.requested = False
        self.previous = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}
        return self

    def __exit__(self, *exc):
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)
        return False

    def _handle(self, signum, frame):
        self.requested = True


# --------------------------------------------------------------------------- spec
@dataclass(frozen=True)
class HParams:
    """The config's `train` keys that shape one SFT run (config/schema.yaml documents each)."""
    lr: float
    betas: tuple[float, float]
    weight_decay: float
    warmup_ratio: float
    grad_clip: float
    batch_size: int
    micro_batch_size: int
    max_length: int
    bf16: bool = default("train.bf16")  # the defaults: config/schema.yaml's
    attn_implementation: str = default("train.attn_implementation")
    gradient_checkpointing: bool = default("train.gradient_checkpointing")
    truncation: str = default("train.truncation")
    packing: bool | None = default("train.packing")  # None: on with flash_attention_2
    save_state_minutes: float = default("train.save_state_minutes")
    loss_chunk_tokens: int = default("train.loss_chunk_tokens")  # > 0: the loss over this many response tokens at a time (mot.loss); 0: all at once

    @classmethod
    def of(cls, d: dict, where: str = "--spec hparams") -> "HParams":
        """From the config's train block's SFT keys (JSON on the command line), checked once."""
        hp = from_json(cls, d, where, name=lambda key: f"config key train.{key}")
        types = {f.name: f.type for f in fields(cls)}
        for key in POSITIVE:  # in range
            if not getattr(hp, key) > 0:
                raise MotError(f"{where}: {key} = {getattr(hp, key)!r} is not a positive {types[key]} "
                               f"(config key train.{key})")
        if hp.loss_chunk_tokens < 0:
            raise MotError(f"{where}: loss_chunk_tokens = {hp.loss_chunk_tokens} is negative "
                           f"(config key train.loss_chunk_tokens; 0: the plain loss)")
        check_ranges(hp, where, "train")  # every other key's range or choices, as the config check has them
        return hp


# Keys that must be positive (a batch of 0 sequences "trains" without changing the weights).
POSITIVE = ("lr", "batch_size", "micro_batch_size", "max_length")


SFT_KEYS = tuple(f.name for f in fields(HParams))  # what the rules pass (rules/common/train.smk)

# What training writes in its work directory (`<out>.partial/`; mot.io.start_work's `own`): its log, the
# resumable state, the intermediate checkpoints and the final one (files that save_pretrained and
# accelerate name), each first written under a `.tmp` name (mot.saving).
WORK_FILES = {TRAIN_LOG: None, "resume": None, "resume.tmp": None, STEP.split("{")[0] + "*": None, "final": None,
              "final.tmp": None}


def hparams_values(train: dict) -> dict:
    """The config's train keys that shape one SFT run (HParams.of takes them); MoT-only keys stay
    out, so that changing them reruns MoT jobs only."""
    return {k: train[k] for k in SFT_KEYS if k in train}


def sft_values(config: dict) -> dict:
    """An STD or MTD run's --spec (TrainSpec.of takes it), from the config."""
    tr = config["train"]
    return dict(hparams=hparams_values(tr), steps=tr["std_steps"], save_every=tr["save_every"], seed=config["seed"])


@dataclass(frozen=True)
class TrainSpec:
    """One SFT job: its hyper-parameters and the optimizer steps it runs."""
    hparams: HParams
    steps: int
    start_step: int = 0  # global step of the first one (a MoT branch of round t: (t-1) x steps)
    total_steps: int | None = None  # the lr schedule's length; None: start_step + steps
    save_every: int = 0  # also save out/step-N every this many steps
    seed: int = 0
    init_optimizer: str | None = None  # a directory with optimizer.pt to start from (MoT, carry)
    save_optimizer: bool = False
    schedule_start: int = 0  # global step at which the lr schedule starts (a MoT round of schedule: round)

    def __post_init__(self):
        if not isinstance(self.steps, int) or self.steps < 1:
            raise MotError(f"steps {self.steps}: a training run needs at least one optimizer step")
        for key in ("start_step", "save_every", "schedule_start"):
            if getattr(self, key) < 0:
                raise MotError(f"--spec: {key} = {getattr(self, key)} is negative")
        for key in ("steps", "start_step", "total_steps", "save_every", "schedule_start"):
            check_count(getattr(self, key), "--spec", key)
        check_seed(self.seed, "--spec")
        if self.schedule_start > self.start_step:
            raise MotError(f"--spec: schedule_start = {self.schedule_start} is after start_step = {self.start_step}")
        if self.total_steps is not None and self.total_steps < self.start_step - self.schedule_start + self.steps:
            raise MotError(f"--spec: total_steps = {self.total_steps} ends the lr schedule (from schedule_start "
                           f"{self.schedule_start}) before the run's last step (start_step {self.start_step} + steps "
                           f"{self.steps})")

    @classmethod
    def of(cls, d: dict) -> "TrainSpec":
        """From `mot train --spec` (JSON): every key a field of its type, hparams those of HParams."""
        return from_json(cls, d, "--spec", nested={"hparams": HParams.of})

    @property
    def schedule_steps(self) -> int:
        return self.total_steps or self.start_step + self.steps


def precision(hp: HParams, cuda: bool):
    """(accelerate's mixed_precision, the dtype of the weights the optimizer updates). The weights stay
    float32 under bf16: bf16 runs the forward and backward (autocast, or FSDP's mixed-precision policy)
    while AdamW updates float32 master weights. AdamW on bf16 weights loses updates smaller than
    bf16's spacing (2^-8 relative: at lr 1e-5 nearly every one). DeepSpeed keeps its own float32
    copy either way. On CPU, bf16 is off."""
    import torch

    return ("bf16" if hp.bf16 and cuda else "no"), torch.float32


def fsdp_plugin(mixed: str):
    """accelerate's FSDP plugin as the launch configures it (its FSDP_* variables), except that under
    bf16 gradients are reduced in float32: accelerate's bf16 policy reduce-scatters them in bf16 too,
    rounding each process's gradient to 8 bits before the float32 master weights see the sum. None
    where the launch is not FSDP, or not bf16 (accelerate decides alone)."""
    import torch

    if os.environ.get("ACCELERATE_USE_FSDP", "false").lower() != "true" or mixed != "bf16":
        return None
    from accelerate.utils import FullyShardedDataParallelPlugin

    policy = {"param_dtype": torch.bfloat16, "reduce_dtype": torch.float32}
    if os.environ.get("FSDP_VERSION", "1") == "1":
        policy["buffer_dtype"] = torch.bfloat16  # FSDP1's policy names the buffers' dtype too
    return FullyShardedDataParallelPlugin(mixed_precision_policy=policy)


def check_batch(hp: HParams, world: int) -> int:
    batch, micro = hp.batch_size, hp.micro_batch_size
    if batch % (micro * world):
        raise MotError(f"train.batch_size={batch} cannot be made of micro-batches of {micro} "
                       f"on {world} process(es): it must be a multiple of {micro * world}")
    return batch // (micro * world)


def train(model_path: str, corpus: str, spec: TrainSpec, out: str, force: bool = False) -> dict:
    """Train for `spec.steps` optimizer steps numbered spec.start_step.. (the lr follows the schedule
    of spec.schedule_steps); write the final model to `out` and every save_every steps to out/step-N."""
    try:
        return _train(model_path, corpus, spec, out, force)
    finally:  # however it ends: the next writer may start
        release_output(out)


def _train(model_path: str, corpus: str, spec: TrainSpec, out: str, force: bool = False) -> dict:
    import torch
    from accelerate import Accelerator
    from accelerate.utils import DistributedType
    from tqdm import tqdm

    hp, steps, start_step, seed = spec.hparams, spec.steps, spec.start_step, spec.seed
    total_steps, init_optimizer = spec.schedule_steps, spec.init_optimizer
    check_out(out, [model_path, corpus, init_optimizer], force)
    # cpu=True without a GPU: under a multi-process launch accelerate then uses gloo (MULTI_CPU).
    mixed, dtype = precision(hp, torch.cuda.is_available())
    acc = Accelerator(cpu=not torch.cuda.is_available(), mixed_precision=mixed, fsdp_plugin=fsdp_plugin(mixed),
                      **tracking.tracker_kwargs())
    accum = check_batch(hp, acc.num_processes)
    deepspeed = acc.distributed_type == DistributedType.DEEPSPEED
    if deepspeed:
        # No dataloader tells accelerate the step's shape: say it. The engine clips and steps inside
        # the backward of the micro-batch that ends the step (sync_gradients below).
        acc.deepspeed_plugin.deepspeed_config.update(
            train_micro_batch_size_per_gpu=hp.micro_batch_size, gradient_accumulation_steps=accum,
            train_batch_size=hp.batch_size, gradient_clipping=hp.grad_clip)
        acc.gradient_accumulation_steps = accum  # as the engine's (else accelerate warns, and takes its)
    # The loss is the sum over the step's response tokens divided by their number over all processes:
    # the same however the step is split. DDP and FSDP average gradients over processes, so scale by
    # their number; DeepSpeed's engine also divides each micro-batch's loss by its accumulation steps.
    scale = acc.num_processes * (accum if deepspeed else 1)
    torch.manual_seed(seed)
    tok = load_tokenizer(model_path)
    examples, data_record = load_examples(tok, corpus, hp.max_length, hp.truncation)
    attn = hp.attn_implementation
    if attn == "flash_attention_2" and not (torch.cuda.is_available() and importlib.util.find_spec("flash_attn")):
        acc.print("flash_attention_2 needs a GPU and the flash-attn package: using sdpa")
        attn = "sdpa"
    model = load_causal_lm(model_path, dtype=dtype, attn_implementation=attn)
    check_fsdp_wrap(acc, model, model_path)
    packing = hp.packing if hp.packing is not None else attn == "flash_attention_2"
    if hp.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]  # norms: no weight decay
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": hp.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=hp.lr,
                            betas=hp.betas, fused=torch.cuda.is_available())
    model, opt = acc.prepare(model, opt)
    core = acc.unwrap_model(model)

    out = Path(out)
    # A saved state is reused only by the same run: the same weights, corpus contents, settings
    # and processes (the fingerprint of `<out>.partial`).
    fingerprint = ["train", stage_code("train"), model_fingerprint(model_path), file_xxh3(corpus), asdict(hp), start_step, steps, total_steps,
                   *([spec.schedule_start] if spec.schedule_start else []), seed, acc.num_processes, spec.save_every,
                   spec.save_optimizer,
                   file_xxh3(Path(init_optimizer) / "optimizer.pt") if init_optimizer else None]
    work = start_work(out, fingerprint, WORK_FILES, acc.print) if acc.is_main_process else Path(f"{out}.partial")
    acc.wait_for_everyone()
    resume = work / "resume"
    step = start_step
    if (resume / "state.json").is_file():  # continue a preempted run
        acc.load_state(str(resume / "accelerate"))
        step = json.loads((resume / "state.json").read_text())["step"]
        acc.print(f"resuming at step {step}")
    elif init_optimizer:
        opt.load_state_dict(torch.load(Path(init_optimizer) / "optimizer.pt", weights_only=True))
    if acc.is_main_process:  # rows an interrupted attempt logged after its last saved state
        _cut_log(work / TRAIN_LOG, step)
    acc.wait_for_everyone()

    log_path = work / TRAIN_LOG
    end = start_step + steps
    acc.init_trackers(tracking.run_name(out), config=tracking.flat_config(
        {**asdict(hp), "steps": steps, "start_step": start_step, "total_steps": total_steps, "seed": seed}))
    bar = tqdm(total=steps, initial=step - start_step, desc="train", disable=not acc.is_main_process,
               mininterval=2)
    every_s = 60 * hp.save_state_minutes
    with Stop() as stop:
        model.train()
        t0 = last_state = t_step = time.perf_counter()
        while step < end:
            idx = step_indices(len(examples), hp.batch_size, step, seed)
            n_tokens = sum(sum(1 for y in examples[i][1][1:] if y != IGNORE) for i in idx)
            mbs = micro_batches(examples, idx, acc.process_index, acc.num_processes, hp.micro_batch_size)
            assert len(mbs) == accum
            # Before the backward passes: DeepSpeed's engine steps inside the last one.
            lr = lr_at(step - spec.schedule_start, total_steps, hp.lr, hp.warmup_ratio)
            for g in opt.param_groups:
                g["lr"] = lr
            loss_sum = torch.zeros((), dtype=torch.float64)
            for j, mb in enumerate(mbs):
                if packing:
                    input_ids, labels, pos = (t.to(acc.device) for t in collate_packed(examples, mb))
                    inputs = {"input_ids": input_ids, "position_ids": pos}
                else:
                    input_ids, labels, mask = (t.to(acc.device) for t in collate(examples, mb, tok.pad_token_id))
                    inputs = {"input_ids": input_ids, "attention_mask": mask}
                with accumulating(acc, model, last=j == len(mbs) - 1):
                    if hp.loss_chunk_tokens:
                        with acc.autocast():  # as the forward: accelerate runs it under autocast
                            loss = chunked_loss(model, core, inputs, labels, hp.loss_chunk_tokens,
                                                call_module=deepspeed) / n_tokens
                    else:
                        loss = plain_loss(model, inputs, labels) / n_tokens
                    acc.backward(loss * scale)
                loss_sum += loss.detach().double().cpu()
            grad_norm = acc.clip_grad_norm_(model.parameters(), hp.grad_clip)
            opt.step()
            opt.zero_grad(set_to_none=True)
            step_loss = acc.reduce(loss_sum.to(acc.device), reduction="sum").item()
            step += 1
            step_s, t_step = time.perf_counter() - t_step, time.perf_counter()
            acc.log({"train/loss": step_loss, "train/lr": lr, "train/grad_norm": float(grad_norm),
                     "train/tokens_per_s": n_tokens / max(step_s, 1e-9)}, step=step)
            bar.update(1)
            bar.set_postfix(loss=f"{step_loss:.4f}", lr=f"{lr:.2e}")
            if acc.is_main_process:
                _log(log_path, {"step": step, "loss": f"{step_loss:.6f}", "lr": f"{lr:.6e}", "tokens": n_tokens,
                                "grad_norm": f"{float(grad_norm):.6f}", "elapsed_s": f"{time.perf_counter() - t0:.2f}"})
            if spec.save_every and step % spec.save_every == 0 and step < end:
                _save(acc, model, tok, work / STEP.format(step=step), hp.bf16)
            if stop.requested and step < end:
                _save_resume(acc, resume, step)
                acc.print(f"stop requested: saved a resumable state at step {step}")
                tracking.finish(acc)
                raise SystemExit(75)  # EX_TEMPFAIL: rerun to continue
            if every_s and step < end and _all_agree(acc, time.perf_counter() - last_state >= every_s):
                _save_resume(acc, resume, step)  # a job killed without warning loses at most this much
                last_state = time.perf_counter()
    bar.close()
    tracking.finish(acc)
    _save(acc, model, tok, work / "final", hp.bf16)
    record = {"model": final_path(model_path), "corpus": corpus, "hparams": asdict(hp), "start_step": start_step,
              "steps": steps, "total_steps": total_steps,
              **({"schedule_start": spec.schedule_start} if spec.schedule_start else {}),
              "seed": seed, "processes": acc.num_processes, "data": data_record}
    if acc.is_main_process:
        if spec.save_optimizer:
            torch.save(opt.state_dict(), work / "final" / "optimizer.pt")
        write_json(work / "final" / "mot_train.json", record)
        shutil.move(str(log_path), work / "final" / TRAIN_LOG)
        for ck in sorted(work.glob(STEP.split("{")[0] + "*")):
            shutil.move(str(ck), work / "final" / ck.name)
        check_work(work, WORK_FILES)  # a user's file there: refused by name, before it is published or deleted
        publish(work / "final", out)
        shutil.rmtree(work)
        release_output(out)
    acc.wait_for_everyone()
    acc.free_memory()  # MoT runs several branches in one process: drop this one's model and optimizer
    return record


def accumulating(acc, model, last: bool):
    """The context of one micro-batch's forward and backward. accelerate steps a DeepSpeed engine
    inside every backward made while sync_gradients is true: let that be the step's last only. DDP
    skips its all-reduce until then; FSDP must not skip it (no_sync keeps a whole unsharded gradient
    on each process: 2 more bytes a parameter)."""
    import torch

    acc.sync_gradients = last
    if last or not isinstance(model, torch.nn.parallel.DistributedDataParallel):
        return contextlib.nullcontext()
    return acc.no_sync(model)


def _all_agree(acc, flag: bool) -> bool:
    """Every process takes the same decision (each reads its own clock): any one is enough."""
    import torch

    if acc.num_processes == 1:
        return flag
    return bool(acc.reduce(torch.tensor([float(flag)], device=acc.device), reduction="sum").item())


def check_fsdp_wrap(acc, model, model_path: str) -> None:
    """FSDP wraps the layer class that the launch names; a model without it would train unsharded
    (or fail deep inside accelerate). Name the class and the ones the model has."""
    from accelerate.utils import DistributedType

    if acc.distributed_type != DistributedType.FSDP:
        return
    wrap = acc.state.fsdp_plugin.transformer_cls_names_to_wrap or []
    present = {type(m).__name__ for m in model.modules()}
    for cls in wrap:
        if cls not in present:
            layers = sorted(c for c in present if c.endswith(("Layer", "Block")))
            raise MotError(f"{model_path}: FSDP cannot wrap '{cls}': the model has no such layers (it has "
                           f"{', '.join(layers) or 'none'}); set the student's launch.fsdp_wrap")
