"""Sampled evaluation of a checkpoint on a benchmark: every sample graded, pass@1 with its errors.

    mot eval --model results/models/tiny/syn-boba/sft-concise --benchmark syn-aime24 \
        --data results/world/world.json --sampling '{"n": 4, "temperature": 0.6, ...}' \
        --out results/eval/tiny/syn-boba/sft-concise/syn-aime24.jsonl

Generation goes through the teacher interface (teachers.generate_samples, backend `hf`), so a
`vllm` backend serves evaluation too. Grading is mot.grading.is_correct. The summary beside the
samples (`<out>.summary.json`) holds pass@1 (the mean over problems and samples), its standard
error over the n runs (run j = the j-th sample of every problem) and a seeded bootstrap 95%
interval over problems.
"""
from __future__ import annotations

import math
import random
from pathlib import Path

from .grading import extract_answer, is_correct
from .io import MotError, read_jsonl, registry, write_json, write_jsonl
from .world import split_rows

BENCHMARKS: dict = {}
benchmark = registry(BENCHMARKS)


@benchmark("aime24")
@benchmark("aime25")
@benchmark("math500")
def shipped(path: str) -> list[dict]:
    """A shipped JSONL file (data/<name>.jsonl): id, problem, answer."""
    return [{"id": str(r["id"]), "problem": r["problem"], "answer": str(r["answer"])}
            for r in read_jsonl(path, required=("id", "problem", "answer"))]


# The synthetic world's held-out sets, read from the world file.
BENCHMARKS["syn-aime24"] = lambda path: split_rows(path, "test24")
BENCHMARKS["syn-aime25"] = lambda path: split_rows(path, "test25")


def load_benchmark(name: str, path: str) -> list[dict]:
    if name not in BENCHMARKS:
        raise MotError(f"unknown benchmark '{name}' (known: {', '.join(sorted(BENCHMARKS))})")
    return BENCHMARKS[name](path)


def summarize(correct: list[list[bool]], n_boot: int = 1000, seed: int = 0) -> dict:
    """pass@1, its standard error over runs, and a bootstrap 95% interval over problems."""
    if not correct or any(len(c) != len(correct[0]) for c in correct) or not correct[0]:
        raise MotError("summary needs the same positive number of samples for every problem")
    n_prob, n = len(correct), len(correct[0])
    per_problem = [sum(c) / n for c in correct]
    pass1 = sum(per_problem) / n_prob
    runs = [sum(c[j] for c in correct) / n_prob for j in range(n)]
    se = math.sqrt(sum((r - pass1) ** 2 for r in runs) / (n - 1) / n) if n > 1 else 0.0
    rng = random.Random(seed)
    boots = sorted(sum(per_problem[rng.randrange(n_prob)] for _ in range(n_prob)) / n_prob for _ in range(n_boot))
    lo, hi = boots[int(0.025 * n_boot)], boots[min(n_boot - 1, int(math.ceil(0.975 * n_boot)) - 1)]
    return {"pass@1": pass1, "se": se, "ci95": [lo, hi], "problems": n_prob, "samples": n, "runs": runs}


def grade_samples(samples_path: str) -> tuple[list[dict], list[list[bool]]]:
    rows, correct = [], []
    for row in read_jsonl(samples_path, required=("id", "answer", "samples")):
        graded = [{"text": s["text"], "answer": extract_answer(s["text"]), "correct": is_correct(s["text"], row["answer"]),
                   "finish_reason": s.get("finish_reason")} for s in row["samples"]]
        rows.append({"id": row["id"], "reference": row["answer"], "samples": graded})
        correct.append([g["correct"] for g in graded])
    return rows, correct


def evaluate(model: str, bench: str, data: str, sampling: dict, out: str, seed: int = 0,
             template: str = "{problem}", params: dict | None = None) -> dict:
    from .teachers import generate_samples

    problems = load_benchmark(bench, data)
    prompts = Path(str(out) + ".prompts.jsonl")
    write_jsonl(prompts, ({**p, "source": bench, "prompt": template.format(problem=p["problem"])} for p in problems))
    raw = Path(str(out) + ".raw.jsonl")
    spec = {"name": f"eval:{Path(model).name}", "backend": "hf", "params": {"model": model, **(params or {})}}
    generate_samples(str(prompts), spec, sampling, seed, str(raw))
    rows, correct = grade_samples(str(raw))
    summary = {"model": model, "benchmark": bench, "sampling": sampling, **summarize(correct, seed=seed)}
    write_jsonl(out, rows)
    write_json(str(out) + ".summary.json", summary)
    raw.unlink()
    prompts.unlink()
    return summary
