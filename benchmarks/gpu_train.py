"""`mot train` against a bare transformers training loop on one GPU, same model and data, same run:
tokens/s and MFU of each, and their ratio. Random weights built from a config (no network).

    python3 benchmarks/gpu_train.py --workdir /tmp/gpucheck                  # Qwen3-1.7B shape, 8k tokens
    python3 benchmarks/gpu_train.py --workdir /tmp/gpucheck --smoke          # tiny shapes, CPU: checks the script

MFU counts 6 x (parameters in matrix multiplies, lm_head included) + 6 x layers x hidden x
sequence (causal attention) FLOPs per trained token, over the card's dense bf16 peak (H100 and
H200 SXM: 989 TFLOP/s). `mot train` runs as the rules run it (its own process, bf16, its
attention choice, padding-free packing with flash-attn 2 when installed, one sequence per
micro-batch); the bare loop is the usual minimal one: bf16 weights, fused AdamW, the same
sequences, loss on response tokens.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

QWEN3_1_7B = dict(hidden_size=2048, num_hidden_layers=28, num_attention_heads=16, num_key_value_heads=8,
                  intermediate_size=6144, head_dim=128, vocab_size=151936, tie_word_embeddings=True,
                  rope_theta=1000000.0, max_position_embeddings=40960, rms_norm_eps=1e-6)
SMOKE = dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, intermediate_size=128,
             head_dim=16, vocab_size=512, tie_word_embeddings=True, max_position_embeddings=4096)
PEAK = {"H100": 989e12, "H200": 989e12, "A100": 312e12}


def build(workdir: Path, shape: dict, seq: int, n_seq: int) -> tuple[Path, Path]:
    """A random Qwen3 of this shape with the synthetic world's tokenizer and chat template, and a
    corpus of `n_seq` sequences of about `seq` tokens."""
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    from mot.io import write_json, write_jsonl
    from mot.student import build_tokenizer
    from mot.world import make_world

    write_json(workdir / "world.json", make_world(0, 200, 10, 200, [1, 3], [1, 3], 9, 99))
    build_tokenizer(str(workdir / "world.json"), str(workdir / "tok"), vocab_size=400, seed=0)
    tok = AutoTokenizer.from_pretrained(workdir / "tok")
    torch.manual_seed(0)
    model = Qwen3ForCausalLM(Qwen3Config(**shape, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                                         pad_token_id=tok.pad_token_id)).to(torch.bfloat16)
    model.save_pretrained(workdir / "model")
    tok.save_pretrained(workdir / "model")
    words = "12 + 7 = 19 . then 19 * 3 = 57 , so ".split()
    per = max(1, len(tok(" ".join(words), add_special_tokens=False)["input_ids"]))
    reps = max(1, (seq - 64) * len(words) // per // len(words))
    rows = [{"prompt": f"Compute {i} + 1.", "response": "<think>\n" + " ".join(words * reps) + f"\n</think>\n\n\\boxed{{{i}}}"}
            for i in range(n_seq)]
    write_jsonl(workdir / "corpus.jsonl", rows)
    return workdir / "model", workdir / "corpus.jsonl"


def flops_per_token(cfg: dict, seq: int) -> float:
    h, L, f, v = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["intermediate_size"], cfg["vocab_size"]
    q = cfg["num_attention_heads"] * cfg["head_dim"]
    kv = cfg["num_key_value_heads"] * cfg["head_dim"]
    matmul_params = L * (h * q + 2 * h * kv + q * h + 3 * h * f) + h * v
    return 6 * matmul_params + 6 * L * q * seq


def run_mot(model: Path, corpus: Path, workdir: Path, steps: int, seq: int, device_bf16: bool) -> float:
    import importlib.util

    hp = {"lr": 1e-5, "betas": [0.9, 0.95], "weight_decay": 0.1, "warmup_ratio": 0.01, "grad_clip": 1.0,
          "batch_size": 2, "micro_batch_size": 1, "max_length": seq + 256, "bf16": device_bf16,
          "attn_implementation": "flash_attention_2" if importlib.util.find_spec("flash_attn") else "sdpa"}
    out = workdir / "mot-out"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    subprocess.run([sys.executable, "-m", "mot", "--log", str(workdir / "mot-train.log"), "train", "--model", str(model),
                    "--corpus", str(corpus), "--spec", json.dumps({"hparams": hp, "steps": steps}), "--force",
                    "--out", str(out)], check=True, env=env)
    rows = list(csv.DictReader(open(out / "train_log.csv")))
    warm = rows[2:]  # the first steps compile kernels and allocate
    tokens = sum(int(r["tokens"]) for r in warm) * 1.0
    seconds = float(rows[-1]["elapsed_s"]) - float(rows[1]["elapsed_s"])
    print(f"mot train: attention {hp['attn_implementation']}, {len(warm)} timed steps", flush=True)
    return tokens / seconds


def check_fsdp(model: Path, corpus: Path, workdir: Path, seq: int) -> str:
    """Two steps under `accelerate launch` with envs/accelerate/fsdp.yaml (one process on one GPU:
    the wrapping and the gather of the full state dict are the same code as on 8), against the
    same two steps in one plain process: the saved checkpoints must load and agree."""
    import torch
    from transformers import AutoModelForCausalLM

    hp = {"lr": 1e-5, "betas": [0.9, 0.95], "weight_decay": 0.1, "warmup_ratio": 0.01, "grad_clip": 1.0,
          "batch_size": 2, "micro_batch_size": 1, "max_length": seq + 256, "bf16": True, "attn_implementation": "sdpa"}
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    common = ["-m", "mot", "train", "--model", str(model), "--corpus", str(corpus),
              "--spec", json.dumps({"hparams": hp, "steps": 2}), "--force"]
    subprocess.run([sys.executable, *common, "--out", str(workdir / "plain")], check=True, env=env)
    subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--num_processes", "1", "--config_file",
                    str(ROOT / "envs/accelerate/fsdp.yaml"), *common, "--out", str(workdir / "fsdp")], check=True, env=env)
    a = AutoModelForCausalLM.from_pretrained(workdir / "plain").state_dict()
    b = AutoModelForCausalLM.from_pretrained(workdir / "fsdp").state_dict()
    worst = max((a[k].float() - b[k].float()).abs().max().item() for k in a)
    return f"FSDP checkpoint: loads in transformers, {len(b)} tensors, max |plain - fsdp| = {worst:.2e}"


def run_bare(model_dir: Path, corpus: Path, steps: int, seq: int) -> float:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mot.readers import read_jsonl
    from mot.chat import end_of_turn, sft_example

    dev = "cuda" if torch.cuda.is_available() else "cpu"
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16 if dev == "cuda" else torch.float32,
                                                 attn_implementation="sdpa").to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5, betas=(0.9, 0.95), weight_decay=0.1, fused=dev == "cuda")
    eot = end_of_turn(tok)
    data = [sft_example(tok, r["prompt"], r["response"], eot) for r in read_jsonl(corpus)]
    times, tokens = [], 0
    for step in range(steps):
        if dev == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        n = 0
        for ids, labels in (data[(2 * step) % len(data)], data[(2 * step + 1) % len(data)]):
            x = torch.tensor([ids], device=dev)
            y = torch.tensor([labels], device=dev)
            loss = model(input_ids=x, labels=y, use_cache=False).loss / 2
            loss.backward()
            n += sum(1 for t in labels[1:] if t != -100)
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if dev == "cuda":
            torch.cuda.synchronize()
        if step >= 2:
            times.append(time.perf_counter() - t0)
            tokens += n
    return tokens / sum(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--seq", type=int, default=8192)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--smoke", action="store_true", help="tiny shapes on CPU: check that the script runs")
    a = ap.parse_args()

    import torch

    shape, seq = (SMOKE, 256) if a.smoke else (QWEN3_1_7B, a.seq)
    workdir = Path(a.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    model, corpus = build(workdir, shape, seq, 2 * a.steps + 4)
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    peak = next((v for k, v in PEAK.items() if k in gpu), None)
    ours = run_mot(model, corpus, workdir, a.steps, seq, torch.cuda.is_available())
    bare = run_bare(model, corpus, a.steps, seq)
    fpt = flops_per_token(shape, seq)
    print(f"\ndevice: {gpu}; model: Qwen3 {'smoke' if a.smoke else '1.7B'} shape, {seq}-token sequences, bf16")
    for name, tps in (("mot train", ours), ("bare loop", bare)):
        mfu = f"{100 * tps * fpt / peak:.1f}%" if peak else "n/a"
        print(f"{name:10s} {tps:12,.0f} tokens/s   MFU {mfu}")
    print(f"ratio mot / bare: {ours / bare:.3f}")
    if torch.cuda.is_available():
        print(check_fsdp(model, corpus, workdir, seq))


if __name__ == "__main__":
    main()
