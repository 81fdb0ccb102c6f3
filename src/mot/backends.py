"""The teacher backends' registry: a backend is a class filed under its name with `@register`,
built from a teacher's `params` and the sampling settings. mot.generate defines `synthetic` and
`hf`, mot.engines `vllm` and `openai`; mot.generate imports both, so every backend is known
wherever generation or evaluation runs. (Its own module so that neither of the two imports the
other's registry.)"""
from __future__ import annotations

from typing import Callable, Protocol

from .io import registry


class Backend(Protocol):
    """A backend implements `generate` (a chunk of rows in, their samples out) or `stream` (every
    row of the job submitted at once; `emit(i, samples, extra)` called as row i completes).
    `required`: the params the config check asks for; `params` (optional): JSON schemas of params
    of its own, which mot.config adds to the config schema's teacher params."""

    required: tuple[str, ...]

    def generate(self, rows: list[dict], n: int, seed: int) -> list[list[dict]]:
        """For each row, n samples {"text": str, "finish_reason": "stop" | "length"}."""


BACKENDS: dict[str, Callable[[dict, dict], Backend]] = {}


register = registry(BACKENDS)
