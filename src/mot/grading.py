"""The one grader: answer extraction and equivalence, used by corpora and evaluation alike.

extract_answer finds the final answer of a response (the last \\boxed{...} after any
</think>, brace-matched; none in a reasoning that never closed); is_correct compares it with the
reference using math-verify, after a fast exact-match path that keeps grading thousands of samples
cheap, and never passes a sample that did not end by itself (cut at max_tokens, aborted).
"""
from __future__ import annotations

import re
from functools import lru_cache

from .answers import boxed_spans, clean

_JOINER_RE = re.compile(r"^\s*(?:,|;|and|or|&)?\s*$")
_FALLBACK_RES = [
    # "final answer is 42", "answer: 42", "Answer = 42": common when a model forgets \boxed.
    re.compile(r"(?:final answer|answer)\s*(?:is|:|=)\s*\$?\s*([^\n$]+?)\s*\$?\s*(?:\.|$)", re.I | re.M),
    re.compile(r"\*\*\s*([^*\n]+?)\s*\*\*\s*\.?\s*$"),  # a bold answer closing the response
]


def extract_answer(text: str) -> str | None:
    """The final answer of a response, or None when it states none."""
    if not text:
        return None
    if "</think>" in text:
        region = text.rsplit("</think>", 1)[1]
    elif text.lstrip().startswith("<think>"):
        return None  # a reasoning that never closed (cut at max_tokens): a box inside it is not an answer
    else:
        region = text
    spans = boxed_spans(region)
    if spans:
        # Several boxes separated only by commas/"and" are one answer ("find all": \boxed{2}, \boxed{3}).
        parts = [spans[-1][2]]
        for prev, cur in zip(reversed(spans[:-1]), reversed(spans[1:])):
            if not _JOINER_RE.match(region[prev[1]:cur[0]]):
                break
            parts.insert(0, prev[2])
        return clean(", ".join(p.strip() for p in parts))
    for pattern in _FALLBACK_RES:
        matches = pattern.findall(region)
        if matches:
            return clean(matches[-1])
    return None


def _normalize(ans: str) -> str:
    s = re.sub(r"\s+", "", ans).replace("\\!", "").replace("\\,", "").replace("{,}", "")
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("\\left", "").replace("\\right", "")
    if re.fullmatch(r"-?\d+", s):
        s = str(int(s))  # "025" and "25" are the same AIME answer
    return s


@lru_cache(maxsize=65536)
def _parse(ans: str):
    from math_verify import parse  # imported lazily: it pulls in sympy

    return parse(f"${ans}$")


@lru_cache(maxsize=65536)
def answers_match(answer: str, reference: str) -> bool:
    """Whether two extracted answers are mathematically equivalent."""
    a, r = _normalize(answer), _normalize(reference)
    if a == r:
        return True
    if re.fullmatch(r"-?\d+", a) and re.fullmatch(r"-?\d+", r):
        return False  # two different integers: no need to ask math-verify
    try:
        from math_verify import verify

        gold, pred = _parse(reference), _parse(answer)
        return bool(gold) and bool(pred) and bool(verify(gold, pred))
    except Exception:  # math-verify raises on unparsable LaTeX and on timeouts: not equivalent
        return False


def reference_answer(reference: str) -> str:
    """A reference may be a bare answer or a worked solution ending in \\boxed{...}."""
    boxed = boxed_spans(reference)
    return clean(boxed[-1][2]) or reference.strip() if boxed else reference.strip()


def is_correct(response: str, reference: str, finish_reason: str | None = "stop") -> bool:
    """Whether the response's final answer equals the reference answer (never for a response that
    did not end by itself: finish_reason other than "stop")."""
    if finish_reason != "stop":
        return False
    answer = extract_answer(response)
    if answer is None:
        return False
    return answers_match(answer, reference_answer(reference))
