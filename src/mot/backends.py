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
    of its own, which mot.config adds to the config schema's teacher params.

    `defaults` (optional): the value of each param the teacher leaves out, the one place it is
    written (params_of fills them in; the config keeps what the user wrote). `optional` (optional):
    the params it reads that have no default. What none of the three names, it does not read: the
    config check refuses it (ignored_params).

    What the cluster and the config check need to know, declared here too: `gpus(params)` (optional,
    default none), the GPUs one engine of these params holds (the rules ask SLURM for them);
    `parallel` (optional), whether its params lay the engine out over GPUs and nodes
    (tensor_parallel_size x pipeline_parallel_size over `nodes`: the config check places it);
    `evaluates` (optional), whether it can sample a student's checkpoints (eval.backend and Table 9's
    teachers: the config schema offers those that can)."""

    required: tuple[str, ...]

    def generate(self, rows: list[dict], n: int, seed: int) -> list[list[dict]]:
        """For each row, n samples {"text": str, "finish_reason": "stop" | "length"}."""


BACKENDS: dict[str, Callable[[dict, dict], Backend]] = {}


register = registry(BACKENDS)


BATCH = 8  # prompts per call of a backend with `generate` whose params (and defaults) give no batch_size

# One engine on one device: the layout a backend's params give when they leave it out (a `parallel`
# backend's defaults include it).
SINGLE = {"tensor_parallel_size": 1, "pipeline_parallel_size": 1, "nodes": 1}


def params_of(backend: str, params: dict) -> dict:
    """A teacher's params over its backend's declared `defaults`."""
    import copy

    return {**copy.deepcopy(getattr(BACKENDS[backend], "defaults", {})), **params}


def reads(backend: str) -> set[str]:
    """The params a backend reads: those it needs, those it has a default for, its optional ones, the
    chunk's size (batch_size, mot.generate) for one that takes the rows in chunks (`generate`), the
    engine's layout (SINGLE's keys) for a `parallel` one, and for any the nodes its job spans (a Ray
    cluster over them: mot.multinode)."""
    make = BACKENDS[backend]
    return {*make.required, *getattr(make, "defaults", {}), *getattr(make, "optional", ()),
            *(("batch_size",) if hasattr(make, "generate") else ()), *(SINGLE if getattr(make, "parallel", False) else ()),
            "nodes"}


def ignored_params(backend: str, params: dict) -> str | None:
    """The params a backend does not read (an endpoint's base_url given to a local model), if any: taken
    silently, they would do nothing."""
    if ignored := [k for k in params if k not in reads(backend)]:
        return f"{', '.join(ignored)}: not read by backend '{backend}' (it reads {', '.join(sorted(reads(backend)))})"
    return None


def layout(backend: str, params: dict) -> tuple[int, int, int]:
    """(tensor parallel, pipeline parallel, nodes) of one engine of this backend and these params."""
    p = {**SINGLE, **params_of(backend, params)}
    return p["tensor_parallel_size"], p["pipeline_parallel_size"], p["nodes"]


def gpus(backend: str, params: dict) -> int:
    """GPUs one engine of this backend and these params holds (0: a CPU backend, or an endpoint)."""
    make = BACKENDS[backend]
    return make.gpus(params) if hasattr(make, "gpus") else 0


def evaluating() -> list[str]:
    """The backends that can sample a student's checkpoints."""
    return sorted(name for name, make in BACKENDS.items() if getattr(make, "evaluates", False))
