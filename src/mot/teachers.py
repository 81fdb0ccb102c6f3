"""Teacher generation behind one interface, written incrementally so that a killed run resumes.

    mot generate --prompts results/prompts/syn-boba.jsonl --teacher '{"name": "deliberate", \
        "backend": "synthetic", "params": {...}}' --sampling '{"n": 16, "temperature": 0.6, ...}' \
        --seed 0 --out results/samples/syn-boba/deliberate.jsonl

A backend turns a chunk of prompt rows into n sampled responses per row. Backends register by
name (`synthetic`, `hf`; `vllm` and OpenAI-compatible servers plug in the same way). Chunks are
appended to `<out>.partial` as they finish; a restarted run skips the chunks already there and
the final file appears, atomically, only when every prompt is done. The random stream of each
chunk is derived from (seed, teacher, chunk index), so a resumed run writes the same bytes.
"""
from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Callable, Protocol

from .io import MotError, dumps, read_jsonl, registry, require_model, stable_hash, write_jsonl


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
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = params["model"]
        require_model(path)
        dtype = getattr(torch, params.get("dtype", "float32"))
        self.tok = AutoTokenizer.from_pretrained(path)
        self.tok.padding_side = "left"
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(params.get("device", "cpu")).eval()
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


def _resume(partial: Path, header: dict) -> list[dict]:
    """Chunks already written by an earlier run with the same settings (else start afresh)."""
    if not partial.is_file():
        return []
    done = []
    with open(partial, encoding="utf-8") as f:
        try:
            if json.loads(f.readline() or "null") != header:
                return []
            for line in f:
                done.append(json.loads(line))
        except json.JSONDecodeError:  # a chunk cut off mid-write: keep what precedes it
            pass
    return done


def generate_samples(prompts_path: str, teacher: dict, sampling: dict, seed: int, out: str,
                     chunk_size: int | None = None) -> None:
    from tqdm import tqdm

    rows = read_jsonl(prompts_path, required=("id", "prompt", "answer"))
    if teacher["backend"] not in BACKENDS:
        raise MotError(f"teacher '{teacher['name']}': unknown backend '{teacher['backend']}' "
                       f"(known: {', '.join(BACKENDS)})")
    n = sampling["n"]
    chunk_size = chunk_size or teacher.get("params", {}).get("batch_size", 8)
    header = {"teacher": teacher, "sampling": sampling, "seed": seed, "chunk": chunk_size,
              "prompts": [r["id"] for r in rows]}
    partial = Path(str(out) + ".partial")
    done = _resume(partial, header)
    chunks = [rows[i:i + chunk_size] for i in range(0, len(rows), chunk_size)]
    partial.parent.mkdir(parents=True, exist_ok=True)
    with open(partial, "w", encoding="utf-8") as f:  # rewrite the good prefix, drop any torn line
        f.write(dumps(header) + "\n")
        for rec in done:
            f.write(dumps(rec) + "\n")
    backend = None
    with open(partial, "a", encoding="utf-8") as f:
        for ci in tqdm(range(len(done), len(chunks)), desc=f"{teacher['name']}", initial=len(done),
                       total=len(chunks), unit="chunk", mininterval=2):
            backend = backend or BACKENDS[teacher["backend"]](teacher.get("params", {}), sampling)
            samples = backend.generate(chunks[ci], n, stable_hash(seed, teacher["name"], ci))
            rec = {"chunk": ci, "rows": [{"id": r["id"], "samples": s} for r, s in zip(chunks[ci], samples)]}
            f.write(dumps(rec) + "\n")
            f.flush()
            os.fsync(f.fileno())
            done.append(rec)
    by_id = {x["id"]: x["samples"] for rec in done for x in rec["rows"]}
    write_jsonl(out, ({"id": r["id"], "source": r.get("source"), "prompt": r["prompt"], "answer": r["answer"],
                       "teacher": teacher["name"], "samples": by_id[r["id"]]} for r in rows))
    partial.unlink()
