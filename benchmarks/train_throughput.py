"""Training throughput: `mot train` against TRL's SFTTrainer (packing on) and a bare PyTorch loop.

    python benchmarks/train_throughput.py --workdir /tmp/trainbench --steps 30

All three train the same tiny Qwen3 (the default config's student shape, random init, float32, CPU)
on the same synthetic corpus with the same optimizer settings and about the same tokens per
optimizer step, and report non-padding tokens per second of the training loop (model loading
excluded). The bare loop runs over exactly the micro-batches `mot train` builds (pre-collated
before timing), so the ratio against it isolates the trainer's own overhead.
TRL is optional (pip install trl); without it its row is skipped.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from mot.io import write_jsonl  # noqa: E402
from mot.batches import collate, load_examples, micro_batches, step_indices  # noqa: E402
from mot.chat import IGNORE  # noqa: E402
from mot.train import HParams, TrainSpec, train  # noqa: E402

ARCH = dict(hidden_size=128, num_layers=4, num_heads=4, num_kv_heads=2, intermediate_size=384, max_position=512)
HP = {"lr": 1e-3, "betas": [0.9, 0.95], "weight_decay": 0.1, "warmup_ratio": 0.01, "grad_clip": 1.0,
      "batch_size": 32, "micro_batch_size": 16, "max_length": 512, "bf16": False, "attn_implementation": "sdpa"}


def setup(work: Path) -> tuple[Path, Path]:
    """A random-init tiny Qwen3 with the world tokenizer, and a 512-example mixed-teacher corpus."""
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    from mot.student import build_tokenizer
    from mot.world import STYLES, make_world, teacher_trace

    model_dir, corpus = work / "model", work / "corpus.jsonl"
    if (model_dir / "config.json").is_file() and corpus.is_file():
        return model_dir, corpus
    world = make_world(0, 600, 4, 2000, [1, 4], [2, 4], 9, 99)
    (work / "world.json").write_text(json.dumps(world))
    build_tokenizer(str(work / "world.json"), str(work / "tok"), 512)
    tok = AutoTokenizer.from_pretrained(work / "tok")
    torch.manual_seed(0)
    cfg = Qwen3Config(vocab_size=len(tok), hidden_size=ARCH["hidden_size"], num_hidden_layers=ARCH["num_layers"],
                      num_attention_heads=ARCH["num_heads"], num_key_value_heads=ARCH["num_kv_heads"],
                      head_dim=ARCH["hidden_size"] // ARCH["num_heads"], intermediate_size=ARCH["intermediate_size"],
                      max_position_embeddings=ARCH["max_position"], tie_word_embeddings=True,
                      eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    Qwen3ForCausalLM(cfg).save_pretrained(model_dir)
    tok.save_pretrained(model_dir)
    rng = random.Random(0)
    styles = [s for s in STYLES if s != "plain"]
    write_jsonl(corpus, [{"prompt": r["problem"], "response": teacher_trace(r["spec"], styles[i % 4], rng, 0.6, 0.0)}
                         for i, r in enumerate(world["pool"][:512])])
    return model_dir, corpus


def run_mot(model_dir: Path, corpus: Path, work: Path, steps: int) -> tuple[int, float]:
    from transformers import AutoTokenizer

    out = work / "out-mot"
    train(str(model_dir), str(corpus), TrainSpec(HParams.of(HP), steps), str(out))
    rows = (out / "train_log.csv").read_text().splitlines()[1:]
    tok = AutoTokenizer.from_pretrained(model_dir)
    examples, _ = load_examples(tok, str(corpus), HP["max_length"], "drop")  # what mot train trains on
    tokens = sum(len(examples[i][0]) for s in range(steps) for i in step_indices(len(examples), HP["batch_size"], s, 0))
    return tokens, float(rows[-1].split(",")[-1])


def run_bare(model_dir: Path, corpus: Path, steps: int) -> tuple[int, float]:
    """The same micro-batches, pre-collated; forward, masked CE, backward, clip, AdamW."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    examples, _ = load_examples(tok, str(corpus), HP["max_length"], "drop")  # what mot train trains on
    batches = []
    for s in range(steps):
        idx = step_indices(len(examples), HP["batch_size"], s, 0)
        n = sum(sum(1 for y in examples[i][1][1:] if y != IGNORE) for i in idx)
        batches.append((n, [collate(examples, mb, tok.pad_token_id) for mb in micro_batches(examples, idx, 0, 1,
                                                                                          HP["micro_batch_size"])]))
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation="sdpa")
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=HP["lr"], betas=tuple(HP["betas"]), weight_decay=0.1)
    tokens, t0 = 0, time.perf_counter()
    for n, mbs in batches:
        for input_ids, labels, mask in mbs:
            logits = model(input_ids=input_ids, attention_mask=mask, use_cache=False).logits
            loss = torch.nn.functional.cross_entropy(logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten(),
                                                     ignore_index=IGNORE, reduction="sum") / n
            loss.backward()
            tokens += int(mask.sum())
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return tokens, time.perf_counter() - t0


def run_trl(model_dir: Path, corpus: Path, work: Path, steps: int, tokens_per_step: float) -> tuple[int, float] | None:
    try:
        from datasets import Dataset
        from trl import SFTConfig, SFTTrainer
    except ImportError:
        return None
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    rows = [json.loads(x) for x in corpus.read_text().splitlines()]
    ds = Dataset.from_list([{"prompt": [{"role": "user", "content": r["prompt"]}],
                             "completion": [{"role": "assistant", "content": r["response"]}]} for r in rows])
    rows_per_step = max(1, round(tokens_per_step / HP["max_length"]))  # packed rows of max_length tokens
    args = SFTConfig(output_dir=str(work / "out-trl"), max_steps=steps, per_device_train_batch_size=rows_per_step,
                     gradient_accumulation_steps=1, learning_rate=HP["lr"], lr_scheduler_type="cosine",
                     warmup_steps=math.ceil(0.01 * steps), weight_decay=0.1, adam_beta2=0.95, max_grad_norm=1.0,
                     max_length=HP["max_length"], packing=True, completion_only_loss=True, use_cpu=True,
                     bf16=False, report_to="none", save_strategy="no", logging_steps=1, seed=0,
                     dataloader_num_workers=0)
    model = AutoModelForCausalLM.from_pretrained(model_dir, attn_implementation="sdpa")
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tok)
    result = trainer.train()
    tokens = max(h.get("num_tokens", 0) for h in trainer.state.log_history)
    return int(tokens), result.metrics["train_runtime"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default="/tmp/mot-train-bench")
    ap.add_argument("--steps", type=int, default=30)
    a = ap.parse_args()
    work = Path(a.workdir)
    work.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(torch.get_num_threads())
    model_dir, corpus = setup(work)
    results = {"mot train": run_mot(model_dir, corpus, work, a.steps), "bare loop": run_bare(model_dir, corpus, a.steps)}
    per_step = results["mot train"][0] / a.steps
    trl = run_trl(model_dir, corpus, work, a.steps, per_step)
    if trl:
        results["TRL SFTTrainer (packing)"] = trl
    print(f"{a.steps} steps, ~{per_step:.0f} tokens/step, {torch.get_num_threads()} threads")
    print(f"{'trainer':26} {'tokens':>8} {'seconds':>8} {'tokens/s':>9}")
    rate = {}
    for name, (tokens, secs) in results.items():
        rate[name] = tokens / secs
        print(f"{name:26} {tokens:8d} {secs:8.2f} {rate[name]:9.0f}")
    print(f"mot / bare loop: {rate['mot train'] / rate['bare loop']:.2f}x")
    if trl:
        print(f"mot / TRL: {rate['mot train'] / rate['TRL SFTTrainer (packing)']:.2f}x")
    else:
        print("TRL not installed: its comparison was skipped")


if __name__ == "__main__":
    main()
