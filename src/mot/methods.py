"""Merge methods: small functions over float32 tensors, registered by name with their metadata
(mergekit's shape). The workflow reads the registry when it plans (which methods need a base,
which carry a state), so this module does not import torch at the top: the functions do.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .io import stable_hash

# Each method: (tensors: one per input, in the inputs' dtype; base: tensor or None; weights: list of
# floats; params: dict; name: the tensor's name) -> float32 tensor. Arithmetic is in float32:
# `acc.add_(t)` with a bf16 `t` promotes each element exactly as `t.float()` would, without
# materialising a float32 copy of every input. A method's registry entry carries what the engine,
# the config check and the workflow need to know of it.
@dataclass(frozen=True)
class Method:
    fn: Callable[..., torch.Tensor]
    needs_base: bool = False  # combines deltas from --base (the round's start model in MoT)
    elementwise: bool = True  # each output element depends on the same element of the inputs only
    defaults: dict = field(default_factory=dict)  # params that take these values when not given
    stateful: bool = False  # carries a state (momentum) from one round's merge to the next
    max_inputs: int | None = None  # None: any number (a method that can merge a round's branches)
    weighted: bool = False  # reads one weight per input (--weights); the others refuse weights

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)


METHODS: dict[str, Method] = {}


def method(name: str, **meta):
    def register(fn):
        METHODS[name] = Method(fn, **meta)
        return fn
    return register


def param(method_name: str, params: dict, key: str):
    return params.get(key, METHODS[method_name].defaults.get(key))


@method("uniform")
def uniform(tensors, base, weights, params, name):
    """The paper's merge (Eq. 2): the plain mean of the branches."""
    import torch

    acc = tensors[0].to(torch.float32, copy=True)
    for t in tensors[1:]:
        acc.add_(t)
    return acc.div_(len(tensors))


@method("weighted", weighted=True, defaults={"normalize": True})
def weighted(tensors, base, weights, params, name):
    """sum_k w_k x_k / sum_k w_k (normalize=false: without the division)."""
    acc = tensors[0].float() * weights[0]
    for w, t in zip(weights[1:], tensors[1:]):
        acc.add_(t, alpha=w)
    return acc.div_(sum(weights)) if param("weighted", params, "normalize") else acc


@method("task_arithmetic", needs_base=True, weighted=True, defaults={"scale": 1.0})
def task_arithmetic(tensors, base, weights, params, name):
    """base + scale * sum_k w_k (x_k - base)."""
    import torch

    base = base.float()
    acc = torch.zeros_like(base)
    for w, t in zip(weights, tensors):
        acc.add_(t.float() - base, alpha=w)
    return acc.mul_(param("task_arithmetic", params, "scale")).add_(base)


def _trim(delta: torch.Tensor, density: float) -> torch.Tensor:
    """Keep the top `density` fraction of entries by magnitude (TIES step 1)."""
    import torch

    k = int(round(density * delta.numel()))
    if k >= delta.numel():
        return delta
    if k <= 0:
        return torch.zeros_like(delta)
    threshold = delta.abs().flatten().kthvalue(delta.numel() - k + 1).values
    return delta * (delta.abs() >= threshold)


@method("ties", needs_base=True, elementwise=False, weighted=True, defaults={"density": 0.2, "scale": 1.0})
def ties(tensors, base, weights, params, name):
    """TIES-merging (Yadav et al. 2023): trim, elect sign, disjoint mean of the agreeing deltas."""
    import torch

    density = param("ties", params, "density")
    base = base.float()
    deltas = torch.stack([_trim(t.float() - base, density) * w for w, t in zip(weights, tensors)])
    sign = torch.sign(deltas.sum(0))
    agree = (torch.sign(deltas) == sign) & (deltas != 0)
    count = agree.sum(0).clamp(min=1)
    merged = (deltas * agree).sum(0) / count
    return base + param("ties", params, "scale") * merged


@method("dare", needs_base=True, elementwise=False, weighted=True,
        defaults={"density": 0.5, "scale": 1.0, "seed": 0})
def dare(tensors, base, weights, params, name):
    """DARE (Yu et al. 2024): drop each delta entry with p = 1 - density, rescale by 1/density,
    then task arithmetic. The mask is seeded by (seed, tensor name, input index)."""
    import torch

    density = param("dare", params, "density")
    seed = int(param("dare", params, "seed"))
    base = base.float()
    acc = torch.zeros_like(base)
    for i, (w, t) in enumerate(zip(weights, tensors)):
        g = torch.Generator().manual_seed(stable_hash(seed, name, i))
        keep = torch.rand(t.shape, generator=g) < density
        acc.add_((t.float() - base) * keep, alpha=w / density)
    return acc.mul_(param("dare", params, "scale")).add_(base)


@method("interpolate", needs_base=True, max_inputs=1)
def interpolate(tensors, base, weights, params, name):
    """lambda * base + (1 - lambda) * ckpt: the paper's reverse-merge probe (section 7.2)."""
    lam = params["lambda"]
    return base.float() * lam + tensors[0].float() * (1 - lam)


def outer_step(tensors, base, weights, params, name, state=None):
    """DiLoCo-style outer step: pseudo-gradient g = base - mean(branches); Nesterov momentum
    m <- mu m + g; new = base - lr (g + mu m). Returns (new, m); m is None when mu = 0.
    lr = 1 and mu = 0 give the uniform mean."""
    lr, mu = param("outer", params, "lr"), param("outer", params, "momentum")
    base = base.float()
    g = base - uniform(tensors, None, weights, params, name)
    if not mu:
        return base - lr * g, None
    m = g if state is None else state.mul_(mu).add_(g)
    return base - lr * (g + mu * m), m


@method("outer", needs_base=True, defaults={"lr": 1.0, "momentum": 0.0}, stateful=True)
def outer(tensors, base, weights, params, name):
    return outer_step(tensors, base, weights, params, name)[0]


