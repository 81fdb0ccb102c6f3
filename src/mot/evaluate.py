"""Sampled evaluation of a run's checkpoints on benchmarks: every sample graded, pass@1 with its errors.

    mot evaluate --checkpoint 5=results/models/tiny/syn-boba/sft-concise/step-00005 \
        --checkpoint 25=results/models/tiny/syn-boba/sft-concise \
        --benchmark syn-aime24=results/world/world.json --benchmark syn-aime25=results/world/world.json \
        --spec '{"sampling": {"n": 4, "temperature": 0.6, ...}, "backend": "hf"}' \
        --samples results/eval/tiny/syn-boba/sft-concise.samples.jsonl --out results/eval/tiny/syn-boba/sft-concise.json

Generation goes through the teacher interface (generate.generate_samples, backend `hf` or
`vllm`: the spec's `backend`); one process evaluates all checkpoints of a run (the import
of torch costs more than a tiny model's evaluation). Grading is mot.grading.is_correct. Graded
samples go to one file, `--samples` (a row per checkpoint, benchmark and problem: step, benchmark,
id, reference, and each sample's text, extracted answer, correct); the summary
(`--out`) holds, per checkpoint and benchmark, pass@1 (the mean over problems and samples), its
standard error over the n runs (run j = the j-th sample of every problem) and a seeded bootstrap
95% interval over problems. A killed evaluation resumes from the finished checkpoints and chunks,
as long as the weights, prompts and settings that produced them are unchanged.
"""
from __future__ import annotations

import math
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from .grading import extract_answer, is_correct
from .io import (MotError, check_out, model_fingerprint, registry, stable_hash, release_output, remove_work,
                 stage_code, start_work, write_json, write_jsonl)
from .readers import read_json, read_jsonl
from .thinking import decompose, direct_probabilities
from .tracking import log_scores
from .prompts import check_template, render_prompt
from .spec import check_seed, check_values, default, from_json
from .generate import WORK_FILES as SAMPLING_WORK, generate_samples, read_samples
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
BENCHMARKS["syn-val"] = lambda path: split_rows(path, "val")  # for choosing checkpoints (report.select_on)


def load_benchmark(name: str, path: str) -> list[dict]:
    if name not in BENCHMARKS:
        raise MotError(f"unknown benchmark '{name}' (known: {', '.join(sorted(BENCHMARKS))})")
    rows = BENCHMARKS[name](path)
    if not rows:  # found now, not after every checkpoint has been sampled
        raise MotError(f"{path}: benchmark '{name}' has no problems")
    return rows


def summarize(correct: list[list[bool]], n_boot: int = 1000, seed: int = 0) -> dict:
    """pass@1, its standard error over the n runs and over problems (bootstrap), a bootstrap 95%
    interval over problems, and each problem's pass rate."""
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
    mean = sum(boots) / n_boot
    se_problems = math.sqrt(sum((b - mean) ** 2 for b in boots) / (n_boot - 1))
    # per_problem: each problem's fraction of correct samples, in benchmark order (paired comparisons)
    return {"pass@1": pass1, "se": se, "se_problems": se_problems, "ci95": [lo, hi], "problems": n_prob,
            "samples": n, "runs": runs, "per_problem": per_problem}


def grade_samples(samples_path: str, source: str | None = None) -> tuple[list[dict], list[list[bool]]]:
    """Graded rows and the correctness matrix of a samples file (only `source`'s rows if given)."""
    rows, correct = [], []
    for row in read_samples(samples_path):
        if source is not None and row.get("source") != source:
            continue
        graded = [{"text": s["text"], "answer": extract_answer(s["text"]),
                   "correct": is_correct(s["text"], row["answer"], s["finish_reason"]),
                   "finish_reason": s["finish_reason"]} for s in row["samples"]]
        rows.append({"id": row["id"], "reference": row["answer"], "samples": graded})
        correct.append([g["correct"] for g in graded])
    return rows, correct


def parse_pairs(pairs: list[str], what: str) -> list[tuple[str, str]]:
    """KEY=VALUE arguments, each KEY once (a step evaluated twice, a benchmark sampled twice)."""
    out, seen = [], set()
    for p in pairs:
        key, sep, val = p.partition("=")
        if not sep or not key or not val:
            raise MotError(f"--{what} {p!r}: expected KEY=VALUE")
        if key in seen:
            raise MotError(f"--{what} {key}: given twice")
        seen.add(key)
        out.append((key, val))
    return out


@dataclass(frozen=True)
class EvalSpec:
    """How a run's checkpoints are sampled and graded (the config's eval block), checked once."""
    sampling: dict  # n, temperature, top_p, max_tokens
    backend: str = default("eval.backend")  # how the student generates: a backend that evaluates
    params: dict = field(default_factory=dict)  # backend params: batch_size, dtype, tensor_parallel_size, engine
    template: str = "{problem}"  # the user message, with {problem}
    seed: int = 0

    def __post_init__(self):
        check_template(self.template, "--spec template")
        if missing := [k for k in ("n", "temperature", "top_p", "max_tokens") if k not in self.sampling]:
            raise MotError(f"--spec sampling: missing {', '.join(missing)}")
        from .backends import evaluating, ignored_params
        from .generate import BACKENDS  # noqa: F401  (mot.generate files every backend)

        if self.backend not in evaluating():
            raise MotError(f"eval backend '{self.backend}': expected one of {', '.join(evaluating())} "
                           "(config key eval.backend)")
        if why := ignored_params(self.backend, self.params):  # an engine's settings for the hf backend
            raise MotError(f"--spec params: {why} (config key eval.params)")
        check_values(self.sampling, "--spec sampling", "eval")  # n 0, top_p 2: as the config check has them
        check_values(self.sampling, "--spec sampling", "sampling", unknown=True)  # a misspelt key, up front
        check_values({"params": self.params}, "--spec", "eval")
        check_seed(self.seed, "--spec")

    @classmethod
    def of(cls, d: dict) -> "EvalSpec":
        """From `mot evaluate --spec` (JSON): every key a field of its type."""
        return from_json(cls, d, "--spec")


def eval_values(config: dict, n: int | None = None) -> dict:
    """mot evaluate's --spec (EvalSpec.of takes it), from the config; `n`: a probe's samples per problem."""
    ev = config["eval"]
    sampling = {k: ev[k] for k in ("n", "temperature", "top_p", "max_tokens", "top_k", "min_p") if k in ev}
    return dict(sampling=sampling | ({"n": n} if n else {}), backend=ev["backend"], params=ev["params"],
                template=config["prompt_template"], seed=config["seed"])


BATCH_SIZE = 64  # problems per generate call unless the backend params say (a student model sampling)


# What evaluation writes in its work directory (`<samples>.partial/`), besides the stamp: the prompts,
# each checkpoint's raw samples (and their sampling's own work while sampled) and P(direct); anything
# else there, at any depth, is the user's (mot.io.start_work's `own`).
WORK_FILES = {"prompts.jsonl": None, "step-*.raw.jsonl": None, "step-*.raw.jsonl.partial": SAMPLING_WORK,
              "step-*.direct.json": None}


def evaluate(checkpoints: list[tuple[int, str]], benchmarks: list[tuple[str, str]], spec: EvalSpec, out: str,
             samples: str, tag: dict | None = None) -> dict:
    """Evaluate every checkpoint (step, path) on every benchmark (name, data file)."""
    try:
        return _evaluate(checkpoints, benchmarks, spec, out, samples, tag)
    finally:  # however it ends: the next writer may start
        release_output(samples)


def _evaluate(checkpoints: list[tuple[int, str]], benchmarks: list[tuple[str, str]], spec: EvalSpec, out: str,
             samples: str, tag: dict | None = None) -> dict:
    from .backends import reads

    sampling, seed, template, backend = spec.sampling, spec.seed, spec.template, spec.backend
    samples = Path(samples)  # a backend that samples in batches (hf) takes evaluation's batch by default
    params = {**({"batch_size": BATCH_SIZE} if "batch_size" in reads(backend) else {}), **spec.params}
    inputs = [m for _, m in checkpoints] + [d for _, d in benchmarks]
    check_out(samples, inputs, is_dir=False, flag="--samples")
    check_out(out, inputs + [samples], is_dir=False)
    problems = []
    for bench, data in benchmarks:
        problems += [{**p, "id": f"{bench}/{p['id']}", "source": bench,
                      "prompt": render_prompt(template, p["problem"])} for p in load_benchmark(bench, data)]
    work = start_work(samples, ["eval", stage_code(f"evaluate[{backend}]"), problems,
                                sampling, seed, params], WORK_FILES)
    write_jsonl(work / "prompts.jsonl", problems)
    record = {**(tag or {}), "sampling": sampling, "seed": seed, "template": template, "samples_file": str(samples),
              "checkpoints": []}
    graded = []
    for step, model in checkpoints:
        # One name for every checkpoint: all draw the same random numbers (common random numbers
        # make differences between checkpoints less noisy).
        engine = {"name": "eval", "backend": backend, "params": {"model": model, **params}}
        # The raw samples are named by the checkpoint's contents: after a retrain, samples of the
        # old weights are never graded under the new model's name.
        key = f"{stable_hash(engine, model_fingerprint(model)):016x}"
        raw = work / f"step-{step}.{key}.raw.jsonl"
        direct = work / f"step-{step}.{key}.direct.json"
        for stale in [*work.glob(f"step-{step}.*.raw.jsonl*"), *work.glob(f"step-{step}.*.direct.json")]:
            if not stale.name.startswith((raw.name, direct.name)):
                print(f"{stale}: discarding samples of other weights for step {step}")
                shutil.rmtree(stale) if stale.is_dir() else stale.unlink()
        if not raw.is_file():
            generate_samples(str(work / "prompts.jsonl"), engine, sampling, seed, str(raw))
        if not direct.is_file():  # the probability of answering at once (mot.thinking)
            write_json(direct, direct_probabilities(str(work / "prompts.jsonl"), engine, sampling, seed))
        p_direct = read_json(direct)
        entry = {"step": int(step), "model": model, "benchmarks": {}}
        for bench, _ in benchmarks:
            rows, correct = grade_samples(str(raw), source=bench)
            graded += [{"step": int(step), "benchmark": bench, **r} for r in rows]
            entry["benchmarks"][bench] = {**summarize(correct, seed=seed), "decomposition": decompose(rows, p_direct)}
        record["checkpoints"].append(entry)
    write_jsonl(samples, graded)
    remove_work(work, WORK_FILES)
    write_json(out, record)
    log_scores(out, record)
    return record
