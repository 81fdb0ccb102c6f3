"""The one trace format, and the model boundaries where it is made and used.

Every backend stores a sample as `<think>\\n{reasoning}\\n</think>\\n\\n{answer}`, whatever the model's
chat template wrote into the prompt:

- Qwen3 (the students, and the Qwen3-32B / 235B teachers) ends the prompt with
  `<|im_start|>assistant\\n`; the model opens `<think>` itself.
- QwQ-32B and the DeepSeek-R1 family end it with `<think>\\n`: the completion starts mid-thought and
  holds only `</think>`. That opener is read off the rendered prompt (`prefill`) and put back
  exactly (`trace`), never guessed from the output.

The student's SFT example (`sft_example`) is the same boundary the other way round: its own
template's prompt (masked), then the trace without whatever that template pre-fills, then the
template's end-of-turn token (learned). Pure functions of a tokenizer and strings; no model.
"""
from __future__ import annotations

from .io import MotError

THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
IGNORE = -100  # the label of a token that is not learned
_SENTINEL = "\x00mot-end-of-turn\x00"


def chat_prompt(tok, prompt: str) -> str:
    """The model's own chat template around one user turn, thinking on (Qwen3's switch; other
    templates ignore it)."""
    return tok.apply_chat_template([{"role": "user", "content": prompt}], tokenize=False,
                                   add_generation_prompt=True, enable_thinking=True)


def prompt_ids(tok, rendered: str) -> list[int]:
    """Token ids of a rendered prompt. The template writes any BOS itself (DeepSeek-R1's does), so
    the tokenizer adds none: one BOS at most."""
    return tok(rendered, add_special_tokens=False)["input_ids"]


def prefill(rendered: str) -> str:
    """The part of the response that the template already wrote: `<think>\\n` (or whatever follows
    an unclosed `<think>` at the very end of the prompt), else ''."""
    i = rendered.rfind(THINK_OPEN)
    if i < 0 or rendered[i:].strip() != THINK_OPEN:
        return ""  # no opener, or one inside the user's text followed by more of the prompt
    return rendered[i:]


def trace(prefilled: str, completion: str) -> str:
    """The stored trace of a completion whose prompt ended with `prefilled`: the opener restored,
    then `<think>\\n{reasoning}\\n</think>\\n\\n{answer}`. A completion without `</think>` (cut at
    max_tokens) keeps its text as it is, opener restored. A model that writes `<think>` again after
    the pre-filled one gets one opener, not two."""
    if prefilled and completion.lstrip().startswith(THINK_OPEN):
        completion = completion.lstrip()[len(THINK_OPEN):].lstrip("\n")
    text = prefilled + completion
    if not text.startswith(THINK_OPEN) or THINK_CLOSE not in text:
        return text
    reasoning, answer = text[len(THINK_OPEN):].split(THINK_CLOSE, 1)
    return f"{THINK_OPEN}\n{reasoning.strip()}\n{THINK_CLOSE}\n\n{answer.lstrip()}"


def split_trace(reasoning: str | None, content: str | None, finished: bool) -> str:
    """The stored trace of a server that returns the reasoning apart (a reasoning parser: vLLM,
    SGLang, DeepSeek's API). An unfinished reasoning stays open."""
    reasoning, content = (reasoning or "").strip(), content or ""
    if not finished and not content:
        return f"{THINK_OPEN}\n{reasoning}"
    return trace("", f"{THINK_OPEN}\n{reasoning}\n{THINK_CLOSE}\n\n{content}")


def end_of_turn(tok) -> str:
    """The token that closes an assistant turn in the template (`<|im_end|>` for Qwen3 and QwQ,
    `<｜end▁of▁sentence｜>` for DeepSeek-R1): what follows an assistant message's content, up to
    the first special token's end. The tokenizer's EOS when the template shows none."""
    text = tok.apply_chat_template([{"role": "user", "content": "u"}, {"role": "assistant", "content": _SENTINEL}],
                                   tokenize=False)
    after = text.split(_SENTINEL, 1)[1] if _SENTINEL in text else ""
    for special in sorted(tok.all_special_tokens + [t.content for t in tok.added_tokens_decoder.values() if t.special],
                          key=len, reverse=True):
        if special and after.lstrip(" ").startswith(special):
            return special
    if tok.eos_token is None:
        raise MotError(f"{tok.name_or_path}: the chat template closes no assistant turn with a special token and "
                       "the tokenizer has no EOS token: the student would never learn to stop")
    return tok.eos_token


def sft_example(tok, prompt: str, response: str, eot: str | None = None) -> tuple[list[int], list[int]]:
    """Token ids and labels of one example: the prompt through the student's chat template (masked),
    then the trace less what that template pre-fills, then the end-of-turn token (learned; `eot`:
    end_of_turn(tok), computed once by a caller that encodes many examples)."""
    rendered = chat_prompt(tok, prompt)
    opener = prefill(rendered)
    if not response.startswith(opener):
        raise MotError(f"the student's chat template pre-fills {opener!r} but the trace starts with "
                       f"{response[:len(opener) + 10]!r}")
    p_ids = prompt_ids(tok, rendered)
    r_ids = tok(response[len(opener):] + (eot or end_of_turn(tok)), add_special_tokens=False)["input_ids"]
    return p_ids + r_ids, [IGNORE] * len(p_ids) + r_ids
