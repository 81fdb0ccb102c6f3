"""The thinking decomposition (mot.thinking): which samples reason, the counts an evaluation records,
their pooling over benchmarks, and the probability of the empty thinking block from a real model."""
import math

import pytest

from mot.thinking import DIRECT_OPENING, decompose, direct_continuation, pooled, reasons


@pytest.mark.parametrize("text, expected", [
    ("<think>\n\n</think>\n\n\\boxed{3}", False),  # the world's direct answer (mot.world.direct_answer)
    ("<think>\n \t\n</think>\n\nThe answer is \\boxed{3}", False),  # whitespace is no reasoning
    ("\\boxed{3}", False),  # no thinking block at all
    ("<think>\n", False),  # cut off before a word of reasoning
    ("<think>\n3 + 4 = 7\n</think>\n\n\\boxed{7}", True),
    ("<think>\n3 + 4 = 7, then", True),  # cut off inside its reasoning: it was reasoning
    ("  <think>\nx\n</think>\n\n\\boxed{1}", True),
])
def test_a_sample_reasons_when_its_thinking_block_holds_anything(text, expected):
    assert reasons(text) is expected


def test_the_empty_block_after_a_template_that_prefills_the_opener():
    """Qwen3 ends the prompt with `assistant\\n` (the model writes the whole block); QwQ and
    DeepSeek-R1 pre-fill `<think>\\n` (the model writes the rest)."""
    assert direct_continuation("<|im_start|>assistant\n") == DIRECT_OPENING == "<think>\n\n</think>"
    assert direct_continuation("<|im_start|>assistant\n<think>\n") == "\n</think>"
    assert direct_continuation("<｜Assistant｜><think>\n") == "\n</think>"


def rows_of(*problems):
    """Graded rows: each problem a list of (text, correct)."""
    return [{"id": f"p{i}", "samples": [{"text": t, "correct": c} for t, c in samples]}
            for i, samples in enumerate(problems)]


DIRECT, WRONG, RIGHT = "<think>\n\n</think>\n\n\\boxed{1}", "<think>\nx\n</think>\n\n\\boxed{2}", "<think>\ny\n</think>\n\n\\boxed{1}"


def test_the_counts_of_a_benchmark_are_exact():
    rows = rows_of([(DIRECT, True), (RIGHT, True)], [(DIRECT, False), (DIRECT, False)], [(WRONG, False), (RIGHT, True)])
    d = decompose(rows, {"p0": 0.5, "p1": 0.9, "p2": 0.1})
    # a direct answer that is right is not counted among the reasoning samples' correct ones
    assert d == {"samples": 6, "problems": 3, "direct": 3, "reasoning_correct": 2,
                 "direct_sq": 0.5 ** 2 + 1.0 + 0.0, "p_direct": pytest.approx(0.5), "p_direct_sq": pytest.approx(1.07)}
    assert decompose(rows, None)["p_direct"] is None


def test_pooled_benchmarks_are_their_problems_together():
    a = decompose(rows_of([(DIRECT, True), (RIGHT, True)], [(DIRECT, False), (DIRECT, False)]), {"p0": 0.2, "p1": 0.8})
    b = decompose(rows_of([(WRONG, False), (RIGHT, True)]), {"p0": 0.5})
    p = pooled([a, b])
    assert (p["samples"], p["problems"], p["direct"], p["reasoning"], p["reasoning_correct"]) == (6, 3, 3, 3, 2)
    assert p["direct_share"] == 0.5 and p["reasoning_accuracy"] == pytest.approx(2 / 3)
    assert p["reasoning_accuracy_se"] == pytest.approx(math.sqrt(2 / 3 * 1 / 3 / 3))
    shares, probs = [0.5, 1.0, 0.0], [0.2, 0.8, 0.5]  # per problem
    for got, xs in ((p["direct_share_se"], shares), (p["p_direct_se"], probs)):
        m = sum(xs) / 3
        assert got == pytest.approx(math.sqrt(sum((x - m) ** 2 for x in xs) / 2 / 3))
    assert p["p_direct"] == pytest.approx(0.5)
    # a benchmark without scores: no pooled probability, the counts still
    assert pooled([a, decompose(rows_of([(WRONG, False)]), None)])["p_direct"] is None


def test_the_probability_of_the_empty_block_is_the_models_own(tiny_model, tmp_path):
    """Batched and left-padded as the evaluation scores it, against one unpadded forward pass per
    prompt over the whole sequence: the same log-probability of the block's tokens."""
    import json

    import torch

    from mot.chat import chat_prompt, prompt_ids
    from mot.generate import HFTeacher
    from mot.thinking import direct_logprobs, direct_probabilities

    problems = ["3 + 4", "12 * 7 - 5", "((8 + 1) * 2) - 30 + 7 * 7", "9"]  # unequal lengths: padding
    rows = [{"id": f"q{i}", "prompt": p, "answer": "0"} for i, p in enumerate(problems)]
    teacher = HFTeacher({"model": str(tiny_model), "batch_size": 3}, {})
    got = direct_logprobs("hf", teacher, rows, 0)
    tok, model = teacher.tok, teacher.model
    for r, lp in zip(rows, got):
        rendered = chat_prompt(tok, r["prompt"])
        cont = tok(direct_continuation(rendered), add_special_tokens=False)["input_ids"]
        ids = prompt_ids(tok, rendered) + cont
        with torch.no_grad():
            logp = torch.log_softmax(model(torch.tensor([ids])).logits[0].float(), -1)
        want = sum(float(logp[j - 1, ids[j]]) for j in range(len(ids) - len(cont), len(ids)))
        assert lp == pytest.approx(want, abs=1e-5)
        assert lp < 0
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    probs = direct_probabilities(str(path), {"name": "eval", "backend": "hf", "params": {"model": str(tiny_model)}},
                                 {"n": 1, "temperature": 1.0, "top_p": 1.0, "max_tokens": 8}, 0)
    assert probs == pytest.approx({r["id"]: math.exp(lp) for r, lp in zip(rows, got)}, rel=1e-6)
