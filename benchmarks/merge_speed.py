"""Merge speed: `mot merge --method uniform` against mergekit's `linear` merge, same inputs, same run.

    python benchmarks/merge_speed.py --workdir /tmp/mergebench --mergekit-yaml .venv-mergekit/bin/mergekit-yaml

Four random checkpoints shaped like Qwen3-0.6B (bf16, tied embeddings, sharded) are written once
to --workdir. Each tool merges them --repeat times (warm page cache; the best run counts); wall
time and peak resident memory come from /usr/bin/time. The outputs are compared tensor by tensor,
and the achieved bytes per second is set against the I/O floor: (K+1) x checkpoint size moved by a
plain read-and-write loop measured in the same run.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from mot.checkpoints import Checkpoint, Reader  # noqa: E402
from mot.merge import ShardWriter  # noqa: E402

QWEN3_06B = dict(vocab_size=151936, hidden_size=1024, num_hidden_layers=28, num_attention_heads=16,
                 num_key_value_heads=8, head_dim=128, intermediate_size=3072, max_position_embeddings=40960,
                 rope_theta=1000000.0, tie_word_embeddings=True, rms_norm_eps=1e-6)


def make_inputs(workdir: Path, k: int, shard_bytes: int) -> list[Path]:
    from transformers import Qwen3Config, Qwen3ForCausalLM

    cfg = Qwen3Config(**QWEN3_06B)
    cfg.architectures = ["Qwen3ForCausalLM"]  # mergekit picks its architecture table by this name
    cfg.dtype = "bfloat16"
    with torch.device("meta"):
        shapes = [(n, list(p.shape)) for n, p in Qwen3ForCausalLM(cfg).state_dict().items()
                  if n != "lm_head.weight"]  # tied: saved once, as save_pretrained does
    paths = []
    for i in range(k):
        path = workdir / f"in{i}"
        paths.append(path)
        path.mkdir(parents=True, exist_ok=True)
        cfg.save_pretrained(path)
        if (path / "model.safetensors.index.json").is_file():
            continue
        gen = torch.Generator().manual_seed(i)
        writer = ShardWriter(path, [(n, "BF16", s) for n, s in shapes], shard_bytes)
        for n, s in shapes:
            writer.write(n, (torch.randn(s, generator=gen) * 0.02).to(torch.bfloat16))
        writer.close()
    return paths


def timed(cmd: list[str], env=None) -> tuple[float, int]:
    """Wall seconds and peak RSS (MiB) of a command, via /usr/bin/time."""
    out = subprocess.run(["/usr/bin/time", "-f", "%e %M", *cmd], capture_output=True, text=True, env=env)
    if out.returncode != 0:
        sys.exit(f"command failed: {' '.join(cmd)}\n{out.stderr[-3000:]}")
    wall, rss_kb = out.stderr.strip().splitlines()[-1].split()
    return float(wall), int(rss_kb) // 1024


def io_floor(inputs: list[Path], out: Path, size: int) -> float:
    """Seconds to read every input byte and write one checkpoint's worth: the floor for any merge."""
    t0 = time.perf_counter()
    buf = bytearray(64 << 20)
    for ck in inputs:
        for f in Checkpoint.open(ck).files:
            with open(f, "rb", buffering=0) as fh:
                while fh.readinto(buf):
                    pass
    with open(out, "wb") as fh:
        left = size
        while left > 0:
            n = min(left, len(buf))
            fh.write(memoryview(buf)[:n])
            left -= n
    elapsed = time.perf_counter() - t0
    out.unlink()
    return elapsed


def same_tensors(a: Path, b: Path) -> tuple[bool, str]:
    ca, cb = Checkpoint.open(a), Checkpoint.open(b)
    if set(ca.tensors) != set(cb.tensors):
        return False, f"names differ: {sorted(set(ca.tensors) ^ set(cb.tensors))[:3]}"
    ra, rb = Reader(ca), Reader(cb)
    for n in ca.tensors:
        x, y = ra.get(n), rb.get(n)
        if x.dtype != y.dtype or not torch.equal(x, y):
            return False, f"tensor {n} differs ({x.dtype} vs {y.dtype})"
    return True, f"{len(ca.tensors)} tensors identical"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default="/tmp/mot-merge-bench")
    ap.add_argument("--mergekit-yaml", default=shutil.which("mergekit-yaml") or "mergekit-yaml")
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--shard-mb", type=int, default=500)
    a = ap.parse_args()
    work = Path(a.workdir)
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    inputs = make_inputs(work, a.k, a.shard_mb << 20)
    size = sum(f.stat().st_size for f in Checkpoint.open(inputs[0]).files)
    print(f"inputs: {a.k} x {size / 2**30:.2f} GiB (Qwen3-0.6B shape, bf16, "
          f"{len(Checkpoint.open(inputs[0]).files)} shards) ready in {time.perf_counter() - t0:.0f} s")

    mk_cfg = work / "mergekit.yml"
    mk_cfg.write_text(json.dumps({"merge_method": "linear", "dtype": "float32", "out_dtype": "bfloat16",
                                  "models": [{"model": str(p), "parameters": {"weight": 1.0}} for p in inputs]}))
    ours_out, mk_out = work / "out-mot", work / "out-mergekit"
    runs = {"mot": [], "mergekit": []}
    for _ in range(a.repeat):
        shutil.rmtree(ours_out, ignore_errors=True)
        runs["mot"].append(timed([sys.executable, "-m", "mot", "merge", "--method", "uniform",
                                  "--out", str(ours_out), *map(str, inputs)],
                                 env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}))
        shutil.rmtree(mk_out, ignore_errors=True)
        runs["mergekit"].append(timed([a.mergekit_yaml, str(mk_cfg), str(mk_out)]))
    floor = min(io_floor(inputs, work / "floor.bin", size) for _ in range(a.repeat))
    identical, detail = same_tensors(ours_out, mk_out)

    moved = (a.k + 1) * size
    ours_wall, ours_rss = min(runs["mot"])
    mk_wall, mk_rss = min(runs["mergekit"])
    print(f"{'tool':10} {'wall s':>8} {'peak RSS MiB':>13} {'GB/s moved':>11}")
    for name, (wall, rss) in (("mot", (ours_wall, ours_rss)), ("mergekit", (mk_wall, mk_rss))):
        print(f"{name:10} {wall:8.2f} {rss:13d} {moved / wall / 1e9:11.2f}")
    print(f"I/O floor  {floor:8.2f} {'':13} {moved / floor / 1e9:11.2f}   (read K inputs + write 1, plain loop)")
    print(f"identical tensors: {identical} ({detail})")
    print(f"wall-time ratio mergekit / mot: {mk_wall / ours_wall:.2f}x")
    print(f"peak RSS ratio mot / mergekit: {ours_rss / mk_rss:.2f}")
    print(f"mot at {floor / ours_wall:.0%} of the I/O floor's speed")


if __name__ == "__main__":
    main()
