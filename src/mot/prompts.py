"""Prompt sources: N problems with reference answers per source, sampled with a seed.

    mot prompts --source syn-boba --spec '{"type": "synthetic", "n": 64, ...}' \
        --world results/world/world.json --template '{problem}' --out results/prompts/syn-boba.jsonl

Source types: `synthetic` (the world's training pool), `s1k` (the shipped s1K file, keeping only
problems whose reference yields a short verifiable answer), `boba` (the Hugging Face dataset
when the hub is reachable, else a local file) and `jsonl` (any local file).
"""
from __future__ import annotations

import os
import random
import socket
from pathlib import Path

from .grading import _boxed_spans, _clean
from .io import MotError, iter_jsonl, write_jsonl
from .world import split_rows

PROBLEM_KEYS = ("problem", "question", "prompt")
ANSWER_KEYS = ("answer", "solution", "solutions", "reference")
SHORT_ANSWER_CHARS = 40
PLACEHOLDER = "{problem}"


def render_prompt(template: str, problem: str) -> str:
    """The user message: `template` with every `{problem}` replaced by the problem text. Nothing
    else in it is interpreted, so LaTeX such as `\\boxed{}` stays as written (str.format would
    read its braces as fields)."""
    return template.replace(PLACEHOLDER, problem)


def check_template(template: str, key: str = "prompt_template") -> None:
    if PLACEHOLDER not in template:
        raise MotError(f"{key}: the template must contain {PLACEHOLDER} (got {template!r})")


def short_answer(reference) -> str | None:
    """The short verifiable answer a reference yields, or None (a proof, an essay)."""
    if isinstance(reference, list):
        reference = reference[0] if reference else None
    if reference is None:
        return None
    reference = str(reference).strip()
    boxed = _boxed_spans(reference)
    answer = _clean(boxed[-1][2]) if boxed else reference
    if answer and len(answer) <= SHORT_ANSWER_CHARS and "\n" not in answer:
        return answer
    return None


def read_problem_file(path: str | Path, keep_long: bool = False) -> list[dict]:
    """Rows {id, problem, answer} from a JSONL file; errors name the file and line."""
    rows = []
    for lineno, raw in iter_jsonl(path):
        problem = next((raw[k] for k in PROBLEM_KEYS if raw.get(k)), None)
        reference = next((raw[k] for k in ANSWER_KEYS if raw.get(k) not in (None, "", [])), None)
        if not problem:
            raise MotError(f"{path}:{lineno}: row has no problem text (keys {', '.join(PROBLEM_KEYS)})")
        if reference is None:
            raise MotError(f"{path}:{lineno}: prompt without a reference answer (keys {', '.join(ANSWER_KEYS)})")
        answer = short_answer(reference)
        if answer is None and not keep_long:
            continue  # the reference is a worked proof: not verifiable by answer matching
        rows.append({"id": str(raw.get("id", lineno - 1)), "problem": problem, "answer": answer})
    return rows


def hub_reachable(timeout: float = 3.0) -> bool:
    if os.environ.get("HF_HUB_OFFLINE") in ("1", "true", "True"):
        return False
    try:
        socket.create_connection(("huggingface.co", 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def boba_file(name: str, spec: dict) -> Path:
    """The BOBA file: downloaded from the hub when it answers, else the configured local path."""
    if hub_reachable():
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(spec["hub_repo"], spec["hub_file"], repo_type="dataset"))
    if spec.get("path") and Path(spec["path"]).is_file():
        return Path(spec["path"])
    raise MotError(f"source '{name}': the Hugging Face hub is unreachable and config key "
                   f"sources.{name}.path ({spec.get('path')!r}) is not a file; download "
                   f"{spec['hub_repo']}/{spec['hub_file']} and set that path")


def synthetic_rows(world_path: str, spec: dict) -> list[dict]:
    lo, hi = spec.get("min_ops", 1), spec.get("max_ops", 99)
    return [r for r in split_rows(world_path, "pool") if lo <= len(r["spec"]["ops"]) <= hi]


def load_source(name: str, spec: dict, world_path: str | None = None) -> list[dict]:
    kind = spec["type"]
    if kind == "synthetic":
        if not world_path:
            raise MotError(f"source '{name}': a synthetic source needs --world")
        return synthetic_rows(world_path, spec)
    if kind == "boba":
        return read_problem_file(boba_file(name, spec))
    if kind in ("s1k", "jsonl"):
        return read_problem_file(spec["path"])
    raise MotError(f"source '{name}': unknown type '{kind}' (config key sources.{name}.type)")


def sample_prompts(name: str, spec: dict, template: str, world_path: str | None, out: str) -> list[dict]:
    check_template(template, "--template")
    rows = load_source(name, spec, world_path)
    n = spec["n"]
    if n > len(rows):
        raise MotError(f"source '{name}': config key sources.{name}.n = {n} but only {len(rows)} "
                       "usable problems exist")
    picked = random.Random(spec["seed"]).sample(rows, n)
    for row in picked:
        row["source"] = name
        row["prompt"] = render_prompt(template, row["problem"])
    write_jsonl(out, picked)
    return picked
