"""Boxed answers in text: where a `\\boxed{...}` is and what it holds, brace-matched.

Shared by the prompt sources (a reference answer inside a worked solution) and the grader (the final
answer of a response), and apart from the grader, so that a change to how answers are compared
reruns grading only, not the prompt sources and all that follows them.
"""
from __future__ import annotations

import re

BOX_RE = re.compile(r"\\(?:boxed|fbox)\s*")


def brace_group(text: str, start: int) -> tuple[str, int] | None:
    """The content of the {...} group opening at text[start], and the index after it."""
    if start >= len(text) or text[start] != "{":
        return None
    depth = 0
    for i in range(start, len(text)):
        c = text[i]
        if c == "\\":  # skip escaped characters such as \{ inside the group
            continue
        if c == "{" and (i == 0 or text[i - 1] != "\\"):
            depth += 1
        elif c == "}" and text[i - 1] != "\\":
            depth -= 1
            if depth == 0:
                return text[start + 1:i], i + 1
    return None  # unbalanced: the response was cut off inside the box


def boxed_spans(text: str) -> list[tuple[int, int, str]]:
    """All \\boxed{...} / \\fbox{...} (and brace-less `\\boxed 5`) as (start, end, content)."""
    spans = []
    for m in BOX_RE.finditer(text):
        group = brace_group(text, m.end())
        if group is not None:
            spans.append((m.start(), group[1], group[0]))
        else:
            bare = re.match(r"([^\s$.,]+)", text[m.end():])
            if bare and not text[m.end():].startswith("{"):
                spans.append((m.start(), m.end() + bare.end(), bare.group(1)))
    return spans


def clean(ans: str) -> str | None:
    """An answer without surrounding `$`, `\\text{}` or a closing period; None if nothing is left."""
    ans = ans.strip().strip("$").strip()
    ans = re.sub(r"^\\text\{(.*)\}$", r"\1", ans).strip()
    ans = ans.rstrip(".").strip()
    return ans or None
