"""Whether a model thinks before it answers: the decomposition of pass@1 that explains a run.

A checkpoint's pass@1 mixes two things: how often it reasons at all, and how well it does when it
does. The paper's students are Qwen3 models that think at length; a student that often answers at
once, with an empty thinking block, can win or lose by that habit alone (issue 35: the default
world's base answered directly on 94% of its test problems, and each MoT round's merge kept the
branches' average pace out of that habit). For every evaluated checkpoint and benchmark the
evaluation records (`decomposition` in its summary):

- `samples`, `direct`: its samples, and those with no reasoning: an empty thinking block, or none;
- `reasoning_correct`: the correct ones among those that reason (accuracy when it reasons =
  reasoning_correct / (samples - direct));
- `p_direct`: the mean over problems of the probability that the model opens its answer with the
  empty thinking block `<think>\\n\\n</think>` (as the world's direct answers and Qwen3's
  non-thinking mode write it), teacher-forced after the prompt: the habit itself, not a sample of it.
  It is the probability of that text's own tokenization (another spelling of the same text in
  tokens is not counted), from the evaluation's own backend and weights: with vLLM, the engine that
  has just sampled the checkpoint (prompt log-probabilities, no reload); a hub id, whose engine is not
  kept, costs a second engine start (the base's evaluation on the paper path); with transformers, a
  second load of the model.

Table `decomposition` (mot.tables) pools them over a source's benchmarks for every run and round.
"""
from __future__ import annotations

import math

from .chat import THINK_CLOSE, THINK_OPEN, chat_prompt, prefill, prompt_ids

DIRECT_OPENING = f"{THINK_OPEN}\n\n{THINK_CLOSE}"


def reasons(text: str) -> bool:
    """A non-empty thinking block opens the response (one cut off before `</think>` counts: it was
    reasoning). No `<think>` at the start: an answer without thinking."""
    text = text.lstrip()
    if not text.startswith(THINK_OPEN):
        return False
    return bool(text[len(THINK_OPEN):].split(THINK_CLOSE, 1)[0].strip())


def direct_continuation(rendered: str) -> str:
    """What the model itself would write of the empty thinking block after this prompt: the whole
    block, or its rest when the template pre-fills `<think>\\n` (QwQ, DeepSeek-R1)."""
    opener = prefill(rendered)
    return DIRECT_OPENING[len(opener):] if opener and DIRECT_OPENING.startswith(opener) else DIRECT_OPENING


def decompose(rows: list[dict], p_direct: dict[str, float] | None) -> dict:
    """The counts of graded rows (mot.evaluate.grade_samples: id, samples of text and correct), the
    mean of p_direct over them (None without scores), and the sums of squares over problems of the
    direct share and of p_direct (their standard errors over problems, pooled over benchmarks)."""
    samples = direct = right = 0
    direct_sq = 0.0
    for row in rows:
        d = 0
        for s in row["samples"]:
            if reasons(s["text"]):
                right += bool(s["correct"])
            else:
                d += 1
        samples, direct = samples + len(row["samples"]), direct + d
        direct_sq += (d / len(row["samples"])) ** 2
    p = None if p_direct is None else [p_direct[r["id"]] for r in rows]
    return {"samples": samples, "problems": len(rows), "direct": direct, "reasoning_correct": right,
            "direct_sq": direct_sq, "p_direct": None if p is None else sum(p) / len(p),
            "p_direct_sq": None if p is None else sum(x * x for x in p)}


def direct_logprobs(backend_name: str, backend, rows: list[dict], seed: int) -> list[float]:
    """log P(the empty thinking block | prompt) for each row's prompt, from a made evaluating backend
    (mot.generate.HFTeacher, mot.engines.VLLMTeacher) and its loaded weights, by that backend's entry
    of SCORERS. Here, not in those classes: their module is the teachers' sampling code, and a change
    to it would resample every teacher's corpus; keyed by the backend's name, as a job names the
    backend it runs (`evaluate[hf]`): an edit of vLLM's scoring is no edit of an hf evaluation's code
    (mot.codeversion.SELECTABLE)."""
    if backend_name not in SCORERS:
        raise ValueError(f"backend {backend_name!r} cannot score a prompt")
    return SCORERS[backend_name](backend, rows, seed)


SCORERS: dict = {}  # backend name -> its scorer(backend, rows, seed), filed below each


def _hf_logprobs(backend, rows, seed) -> list[float]:
    import torch

    tok, model = backend.tok, backend.model
    out = []
    for i in range(0, len(rows), backend.batch_size):
        seqs, ends = [], []
        for r in rows[i:i + backend.batch_size]:
            rendered = chat_prompt(tok, r["prompt"])
            cont = tok(direct_continuation(rendered), add_special_tokens=False)["input_ids"]
            seqs.append(prompt_ids(tok, rendered) + cont)
            ends.append(len(cont))
        width = max(map(len, seqs))
        pad = tok.pad_token_id if tok.pad_token_id is not None else 0
        ids = torch.tensor([[pad] * (width - len(s)) + s for s in seqs], device=model.device)  # left-padded
        mask = torch.tensor([[0] * (width - len(s)) + [1] * len(s) for s in seqs], device=model.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)  # as generate places a left-padded prompt
        keep = max(ends) + 1  # the logits of the block's positions only (a 151k vocabulary x the prompt's would not fit)
        with torch.no_grad():
            logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=keep).logits
        logp = torch.log_softmax(logits.float(), -1)
        for b, k in enumerate(ends):
            targets = ids[b, width - k:]
            out.append(float(logp[b, keep - k - 1:keep - 1].gather(-1, targets[:, None]).sum()))
    return out


SCORERS["hf"] = _hf_logprobs


def direct_probabilities(prompts_path: str, engine: dict, sampling: dict, seed: int) -> dict[str, float]:
    """{prompt id: P(the empty thinking block)} from the evaluation's engine (mot.evaluate)."""
    from .backends import params_of
    from .generate import check_teacher
    from .readers import read_jsonl

    rows = read_jsonl(prompts_path, required=("id", "prompt"))
    backend = check_teacher(engine)(params_of(engine["backend"], engine["params"]), sampling)
    try:
        logps = direct_logprobs(engine["backend"], backend, rows, seed)
    finally:
        if hasattr(backend, "close"):
            backend.close()
    return {r["id"]: math.exp(lp) for r, lp in zip(rows, logps)}


def _vllm_logprobs(backend, rows, seed) -> list[float]:
    from vllm import SamplingParams

    from .engines import _IDLE, SEED_RANGE

    backend._seed = seed % SEED_RANGE  # the sampling engine's key: the idle engine is taken up again
    for i, (key, model, llm) in enumerate(_IDLE):  # the engine that just sampled these very weights:
        if key == backend._key(backend._seed) and model == backend.params["model"]:  # no reload
            backend.llm = _IDLE.pop(i)[2]
            break
    backend.llm = backend.llm or backend._engine(backend._seed)
    tok = backend.llm.get_tokenizer()
    prompts, ends = [], []
    for r in rows:
        rendered = chat_prompt(tok, r["prompt"])
        cont = tok(direct_continuation(rendered), add_special_tokens=False)["input_ids"]
        prompts.append({"prompt_token_ids": prompt_ids(tok, rendered) + cont})
        ends.append(cont)
    # prompt_logprobs=0: each prompt token's own log-probability (and no others)
    outs = backend.llm.generate(prompts, SamplingParams(max_tokens=1, temperature=0, prompt_logprobs=0), use_tqdm=False)
    result = []
    for out, cont in zip(outs, ends):
        tail = out.prompt_logprobs[-len(cont):]
        result.append(sum(step[t].logprob for step, t in zip(tail, cont)))
    return result


SCORERS["vllm"] = _vllm_logprobs


def _se(total: float, sq: float, n: int) -> float:
    """The standard error of a mean over n problems, from the sum and the sum of squares."""
    if n < 2:
        return 0.0
    mean = total / n
    return math.sqrt(max(0.0, sq - n * mean * mean) / (n - 1) / n)


def pooled(parts: list[dict]) -> dict:
    """A source's benchmarks as one (their problems together): the direct share and p_direct with
    their standard errors over problems, the accuracy when reasoning with its binomial standard error
    over the reasoning samples, and the counts behind them (every problem has the eval's n samples)."""
    samples, direct = sum(p["samples"] for p in parts), sum(p["direct"] for p in parts)
    right, problems = sum(p["reasoning_correct"] for p in parts), sum(p["problems"] for p in parts)
    n = samples // problems  # samples per problem
    share = direct / samples
    reasoning = samples - direct
    acc = right / reasoning if reasoning else None
    out = {"samples": samples, "problems": problems, "direct": direct, "reasoning": reasoning,
           "reasoning_correct": right, "direct_share": share,
           "direct_share_se": _se(direct / n, sum(p["direct_sq"] for p in parts), problems),
           "reasoning_accuracy": acc,
           "reasoning_accuracy_se": math.sqrt(acc * (1 - acc) / reasoning) if reasoning else None,
           "p_direct": None, "p_direct_se": None}
    if all(p["p_direct"] is not None for p in parts):
        total = sum(p["p_direct"] * p["problems"] for p in parts)
        out["p_direct"] = total / problems
        out["p_direct_se"] = _se(total, sum(p["p_direct_sq"] for p in parts), problems)
    return out
