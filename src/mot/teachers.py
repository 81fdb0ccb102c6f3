"""Teacher generation behind one interface, written incrementally so that a killed run resumes.

    mot generate --prompts results/prompts/syn-boba.jsonl --teacher '{"name": "deliberate", \
        "backend": "synthetic", "params": {...}}' --sampling '{"n": 16, "temperature": 0.6, ...}' \
        --seed 0 --out results/samples/syn-boba/deliberate.jsonl

A backend turns a chunk of prompt rows into n sampled responses per row. Backends register by
name (`synthetic`, `hf`; `vllm` and OpenAI-compatible servers plug in the same way). Chunks are
appended to `<out>.partial/chunks.jsonl` as they finish; a restarted run with the same prompt
text, settings and weights (the directory's fingerprint) skips the chunks already there, and the
final file appears, atomically, only when every prompt is done. The random stream of each chunk
is derived from (seed, teacher, chunk index), so a resumed run writes the same bytes.
"""
from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path
from typing import Callable, Protocol

from .io import (MotError, check_out, dumps, iter_jsonl, load_causal_lm, load_tokenizer, model_fingerprint, read_jsonl,
                 registry,
                 stable_hash, start_work, write_jsonl)


class Backend(Protocol):
    def generate(self, rows: list[dict], n: int, seed: int) -> list[list[dict]]:
        """For each row, n samples {"text": str, "finish_reason": "stop" | "length"}."""


BACKENDS: dict[str, Callable[[dict, dict], Backend]] = {}


register = registry(BACKENDS)


@register("synthetic")
class SyntheticTeacher:
    """A procedural teacher of the synthetic world (see world.STYLES)."""

    def __init__(self, params: dict, sampling: dict):
        from .world import STYLES

        if params.get("style") not in STYLES:
            raise MotError(f"synthetic teacher: params.style must be one of {', '.join(STYLES)}")
        self.params, self.temperature = params, sampling["temperature"]

    def generate(self, rows, n, seed):
        from .world import teacher_trace

        out = []
        for row in rows:
            if "spec" not in row:
                raise MotError(f"synthetic teacher: prompt '{row['id']}' is not a synthetic problem")
            samples = []
            for k in range(n):
                rng = random.Random(stable_hash(seed, row["id"], k))
                text = teacher_trace(row["spec"], self.params["style"], rng, self.temperature,
                                     self.params.get("error_rate", 0.0), self.params.get("format_error_rate", 0.0))
                samples.append({"text": text, "finish_reason": "stop"})
            out.append(samples)
        return out


@register("hf")
class HFTeacher:
    """transformers generate, batched, with the model's own chat template (thinking on)."""

    def __init__(self, params: dict, sampling: dict):
        import torch

        path = params["model"]
        dtype = getattr(torch, params.get("dtype", "float32"))
        self.tok = load_tokenizer(path)
        self.tok.padding_side = "left"
        self.model = load_causal_lm(path, dtype=dtype).to(params.get("device", "cpu")).eval()
        self.sampling, self.batch_size = sampling, params.get("batch_size", 8)

    def generate(self, rows, n, seed):
        import torch

        torch.manual_seed(seed)
        prompts = [self.tok.apply_chat_template([{"role": "user", "content": r["prompt"]}], tokenize=False,
                                                add_generation_prompt=True, enable_thinking=True) for r in rows]
        enc = self.tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False).to(self.model.device)
        eos = self.model.generation_config.eos_token_id
        eos = set(eos if isinstance(eos, list) else [eos])
        with torch.no_grad():
            out = self.model.generate(**enc, do_sample=True, temperature=self.sampling["temperature"],
                                      top_p=self.sampling["top_p"], max_new_tokens=self.sampling["max_tokens"],
                                      num_return_sequences=n, pad_token_id=self.tok.pad_token_id)
        gen = out[:, enc["input_ids"].shape[1]:]
        results = []
        for i in range(len(rows)):
            samples = []
            for seq in gen[i * n:(i + 1) * n].tolist():
                stop = next((j for j, t in enumerate(seq) if t in eos), None)
                text = self.tok.decode(seq if stop is None else seq[:stop], skip_special_tokens=False)
                samples.append({"text": text.replace(self.tok.pad_token or "\0", ""),
                                "finish_reason": "length" if stop is None else "stop"})
            results.append(samples)
        return results


def read_samples(path: str, required: tuple[str, ...] = ("id", "answer", "samples")) -> list[dict]:
    """Rows of a samples file (the output of generate_samples); a row without a required key, or a
    sample without its text, is an error naming the file and line."""
    rows = []
    for lineno, row in iter_jsonl(path):
        for key in required:
            if row.get(key) in (None, ""):
                raise MotError(f"{path}:{lineno}: missing or empty '{key}'")
        samples = row.get("samples")
        if not isinstance(samples, list):
            raise MotError(f"{path}:{lineno}: 'samples' must be a list")
        for k, s in enumerate(samples):
            if not isinstance(s, dict) or not isinstance(s.get("text"), str):
                raise MotError(f"{path}:{lineno}: sample {k} of '{row.get('id')}' has no 'text'")
        rows.append(row)
    return rows


def _read_chunks(path: Path) -> list[dict]:
    """Chunks an earlier attempt finished; a chunk cut off mid-write and all after it are dropped."""
    done = []
    if path.is_file():
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    done.append(json.loads(line))
                except json.JSONDecodeError:
                    break
    return done


def generate_samples(prompts_path: str, teacher: dict, sampling: dict, seed: int, out: str,
                     chunk_size: int | None = None) -> None:
    from tqdm import tqdm

    check_out(out, [prompts_path], is_dir=False)
    rows = read_jsonl(prompts_path, required=("id", "prompt", "answer"))
    if teacher["backend"] not in BACKENDS:
        raise MotError(f"teacher '{teacher['name']}': unknown backend '{teacher['backend']}' "
                       f"(known: {', '.join(BACKENDS)})")
    n = sampling["n"]
    chunk_size = chunk_size or teacher.get("params", {}).get("batch_size", 8)
    # Everything that shapes the samples: a resumed run never mixes in chunks drawn for other
    # prompt text, other settings or other weights.
    model = teacher.get("params", {}).get("model")
    fingerprint = ["generate", teacher, sampling, seed, chunk_size,
                   [(r["id"], r["prompt"]) for r in rows], model_fingerprint(model) if model else None]
    work = start_work(out, fingerprint)
    done = _read_chunks(work / "chunks.jsonl")
    chunks = [rows[i:i + chunk_size] for i in range(0, len(rows), chunk_size)]
    write_jsonl(work / "chunks.jsonl", done)  # the good prefix, without a torn line
    backend = None
    with open(work / "chunks.jsonl", "a", encoding="utf-8") as f:
        for ci in tqdm(range(len(done), len(chunks)), desc=f"{teacher['name']}", initial=len(done),
                       total=len(chunks), unit="chunk", mininterval=2):
            if backend is None:
                try:
                    backend = BACKENDS[teacher["backend"]](teacher.get("params", {}), sampling)
                except MotError as e:
                    raise MotError(f"teacher '{teacher['name']}': {e}") from None
            samples = backend.generate(chunks[ci], n, stable_hash(seed, teacher["name"], ci))
            rec = {"chunk": ci, "rows": [{"id": r["id"], "samples": s} for r, s in zip(chunks[ci], samples)]}
            f.write(dumps(rec) + "\n")
            f.flush()
            os.fsync(f.fileno())
            done.append(rec)
    by_id = {x["id"]: x["samples"] for rec in done for x in rec["rows"]}
    write_jsonl(out, ({"id": r["id"], "source": r.get("source"), "prompt": r["prompt"], "answer": r["answer"],
                       "teacher": teacher["name"], "samples": by_id[r["id"]]} for r in rows))
    shutil.rmtree(work)
