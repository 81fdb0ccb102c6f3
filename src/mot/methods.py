"""Merge methods: small functions over float32 tensors, registered by name with their metadata
(mergekit's shape). The workflow reads the registry when it plans (which methods need a base,
which carry a state), so this module does not import torch at the top: the functions do.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

from .io import stable_hash

# Each method: (tensors: one per input, in the inputs' dtype; base: tensor or None; weights: list of
# floats; params: dict; name: the tensor's name) -> float32 tensor. Arithmetic is in float32:
# `acc.add_(t)` with a bf16 `t` promotes each element exactly as `t.float()` would, without
# materialising a float32 copy of every input. A method's registry entry carries what the engine,
# the config check and the workflow need to know of it.
@dataclass(frozen=True)
class Param:
    """A method's parameter, as `--param name=value` and the config's merge params take it: its
    JSON-schema type and range, and the value it takes when not given (None: required)."""
    name: str
    type: str  # "number" | "integer" | "boolean"
    default: object = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: float | None = None
    exclusive_maximum: float | None = None
    description: str = ""

    def range(self) -> str:
        lo = ("(", self.exclusive_minimum) if self.exclusive_minimum is not None else ("[", self.minimum)
        hi = (")", self.exclusive_maximum) if self.exclusive_maximum is not None else ("]", self.maximum)
        return (f"{lo[0] if lo[1] is not None else '('}{'-inf' if lo[1] is None else lo[1]}, "
                f"{'inf' if hi[1] is None else hi[1]}{hi[0] if hi[1] is not None else ')'}")

    def schema(self) -> dict:
        """The JSON schema of one value (config/schema.yaml's merge params are built from these)."""
        s = {"type": self.type}
        for key, value in (("minimum", self.minimum), ("maximum", self.maximum),
                           ("exclusiveMinimum", self.exclusive_minimum), ("exclusiveMaximum", self.exclusive_maximum)):
            if value is not None:
                s[key] = value
        if self.description:
            s["description"] = self.description
        return s


@dataclass(frozen=True)
class State:
    """What a stateful method carries from one round's merge to the next, declared by the method:
    `step(tensors, base, weights, params, name, state) -> (result, new_state)` (state None in the
    first round, new_state None when the params carry nothing), `carried(params)` whether these
    params carry a state at all, and the stem of the safetensors file it is saved in beside the
    merged model, where the next round's merge (`--param state=DIR`) reads it."""
    step: Callable
    carried: Callable[[dict], bool]
    stem: str


@dataclass(frozen=True)
class Method:
    fn: Callable[..., torch.Tensor]
    needs_base: bool = False  # combines deltas from --base (the round's start model in MoT)
    elementwise: bool = True  # each output element depends on the same element of the inputs only
    params: tuple[Param, ...] = ()  # what it reads of --param / merge params; nothing else is accepted
    state: State | None = None  # a stateful method's state, carried from one round's merge to the next
    max_inputs: int | None = None  # None: any number (a method that can merge a round's branches)
    weighted: bool = False  # reads one weight per input (--weights); the others refuse weights

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    @property
    def stateful(self) -> bool:
        return self.state is not None

    @property
    def defaults(self) -> dict:
        return {p.name: p.default for p in self.params if p.default is not None}


METHODS: dict[str, Method] = {}


def method(name: str, **meta):
    def register(fn):
        METHODS[name] = Method(fn, **meta)
        return fn
    return register


def param(method_name: str, params: dict, key: str):
    return params.get(key, METHODS[method_name].defaults.get(key))


def round_methods() -> list[str]:
    """The methods that can merge a round's K branches (mot.merge_method, analyses.merge_methods)."""
    return [n for n, m in METHODS.items() if m.max_inputs is None]


def merge_params_schema() -> dict:
    """config/schema.yaml's merge params: every parameter a round method declares (the methods that
    share a name declare it alike)."""
    props = {}
    for name in round_methods():
        for p in METHODS[name].params:
            if props.setdefault(p.name, p.schema()) != p.schema():
                raise AssertionError(f"merge param '{p.name}' is declared differently by two methods")
    return {"type": "object", "additionalProperties": False, "default": {}, "properties": props,
            "description": "Parameters of the merge method (mot.methods declares each method's)."}


def params_error(method_name: str, params: dict) -> str | None:
    """The first parameter that the method does not take, or a required one left out (one line)."""
    declared = {p.name: p for p in METHODS[method_name].params}
    for key in params:
        if key not in declared and key != "state":  # state: where a stateful merge finds the last round's
            takes = ", ".join(declared) or "none"
            return f"merge method '{method_name}' does not take '{key}' (it takes: {takes})"
    for p in declared.values():
        if p.name not in params:
            if p.default is None:
                return f"merge method '{method_name}' needs --param {p.name}=<value>"
            continue
        v = params[p.name]
        kind = {"boolean": (bool,), "integer": (int,), "number": (int, float)}[p.type]
        if not isinstance(v, kind) or (p.type != "boolean" and isinstance(v, bool)):
            return f"merge method '{method_name}': {p.name} must be a {p.type}, not {v!r}"
        if ((p.minimum is not None and v < p.minimum) or (p.maximum is not None and v > p.maximum)
                or (p.exclusive_minimum is not None and v <= p.exclusive_minimum)
                or (p.exclusive_maximum is not None and v >= p.exclusive_maximum)):
            return f"merge method '{method_name}': --param {p.name} must be in {p.range()}, got {v!r}"
    return None


def methods_help() -> str:
    """`mot merge --help`: every method with its parameters and their defaults, from the registry."""
    def one(name, m):
        ps = ", ".join(p.name if p.default is None else f"{p.name}={p.default}" for p in m.params)
        return f"{name}" + (f" ({ps})" if ps else "") + (" [needs --base]" if m.needs_base else "")
    return "; ".join(one(n, m) for n, m in METHODS.items())


# at most 10 either way: past that a merge lands far off every model it merges (1e39 overflowed float32
# in the first merge, after a round's training); a negative scale subtracts the delta (task negation)
SCALE = Param("scale", "number", 1.0, minimum=-10, maximum=10, description="Multiplies the merged delta from the base.")
DENSITY = Param("density", "number", exclusive_minimum=0, maximum=1, description="The share of each delta kept.")


@method("uniform")
def uniform(tensors, base, weights, params, name):
    """The paper's merge (Eq. 2): the plain mean of the branches."""
    import torch

    acc = tensors[0].to(torch.float32, copy=True)
    for t in tensors[1:]:
        acc.add_(t)
    return acc.div_(len(tensors))


@method("weighted", weighted=True,
        params=(Param("normalize", "boolean", True, description="Divide by the sum of the weights."),))
def weighted(tensors, base, weights, params, name):
    """sum_k w_k x_k / sum_k w_k (normalize=false: without the division)."""
    acc = tensors[0].float() * weights[0]
    for w, t in zip(weights[1:], tensors[1:]):
        acc.add_(t, alpha=w)
    return acc.div_(sum(weights)) if param("weighted", params, "normalize") else acc


@method("task_arithmetic", needs_base=True, weighted=True, params=(SCALE,))
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


@method("ties", needs_base=True, elementwise=False, weighted=True, params=(replace(DENSITY, default=0.2), SCALE))
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
        params=(replace(DENSITY, default=0.5), SCALE,
                Param("seed", "integer", 0, minimum=0, maximum=2 ** 32 - 1,  # a seed, as config/schema.yaml's
                      description="Seeds the drop masks (with the tensor and input).")))
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


@method("interpolate", needs_base=True, max_inputs=1,
        params=(Param("lambda", "number", minimum=0, maximum=1, description="The base's share."),))
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


@method("outer", needs_base=True,
        params=(Param("lr", "number", 1.0, exclusive_minimum=0, maximum=10, description="The outer learning rate."),
                Param("momentum", "number", 0.0, minimum=0, exclusive_maximum=1, description="Nesterov momentum.")),
        state=State(outer_step, lambda params: bool(param("outer", params, "momentum")), "outer_state"))
def outer(tensors, base, weights, params, name):
    return outer_step(tensors, base, weights, params, name)[0]


