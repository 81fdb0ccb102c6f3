"""The synthetic world: integer-arithmetic problems and procedural teachers that solve them.

A problem is a left-nested chain such as ((7 + 5) * 3) - 4. Teachers write real-format traces
(`<think>...</think>` then `\\boxed{}`) in distinct styles; sampling temperature controls both
the phrasing choices and the chance of an arithmetic slip, so that, as with real teachers, some
of the 16 samples per prompt are wrong and the grader has something to filter.
"""
from __future__ import annotations

import math
import random
from dataclasses import dataclass

from .io import MotError, stable_hash

from .readers import read_json

OPS = {"+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b, "//": lambda a, b: a // b}
WORDS = {"+": "plus", "-": "minus", "*": "times", "//": "divided by"}
TEACHER_OPS = ("+", "-", "*")  # what sources, teachers and the test sets use; "//" only pre-training
                               # (world.held_out_op) and the general task that asks whether SFT forgets it

# General-capability stand-ins for the paper's Tables 3 and 4: held-out problems of kinds that no
# source or teacher has. {task: (ops per problem, whether every problem uses world.held_out_op, what)}.
GENERAL_TASKS = {
    "syn_div": ((2, 3), True, "2-3-operation chains that use the operation only pre-training taught"),
    "syn_long": ((4, 4), False, "4-operation chains, longer than the test sets'"),
    "syn_longer": ((5, 5), False, "5-operation chains, longer than any problem the student has seen"),
}


# --------------------------------------------------------------------------- problems
def problem_text(start: int, ops: list[list]) -> str:
    expr = str(start)
    for i, (op, b) in enumerate(ops):
        expr = f"({expr} {op} {b})" if i < len(ops) - 1 else f"{expr} {op} {b}"
    return f"Compute {expr}."


def evaluate(start: int, ops: list[list]) -> list[int]:
    """The chain of intermediate values; the last one is the answer."""
    values = [start]
    for op, b in ops:
        values.append(OPS[op](values[-1], b))
    return values


def random_problem(rng: random.Random, n_ops: int, max_operand: int, max_value: int,
                   ops_allowed: tuple[str, ...] = TEACHER_OPS) -> tuple[int, list[list]] | None:
    """A chain whose every intermediate value is an integer in 0..max_value, or None."""
    start = rng.randint(2, min(20, max_value))
    ops, value = [], start
    for _ in range(n_ops):
        op = rng.choice(ops_allowed)
        b = rng.randint(2, 3) if op in ("*", "//") else rng.randint(1, max_operand)
        value = OPS[op](value, b)
        if not 0 <= value <= max_value:
            return None
        ops.append([op, b])
    return start, ops


STALL = 100_000  # draws without a new problem after which a split is taken to be exhausted


def make_world(seed: int, pool_size: int, test_size: int, pretrain_size: int,
               ops_range: list[int], test_ops_range: list[int], max_operand: int,
               max_value: int, val_size: int = 0, held_out_op: str | None = None,
               held_out_pretrain: int = 0, general_size: int = 0) -> dict[str, list[dict]]:
    """Disjoint splits of unique problems: pretrain pool, training pool, two held-out test sets
    and a held-out validation set (for choosing checkpoints without looking at the test sets);
    with held_out_op, pre-training problems that use it ("pretrain_op") and the general tasks
    ("general-<task>", GENERAL_TASKS) of general_size problems each.

    Each split is drawn from its own seeded stream and every problem text is used once, so the
    held-out sets can never leak into a training corpus. Later splits never change earlier ones.
    """
    seen: set[str] = set()
    splits = {}
    plan = [("pretrain", pretrain_size, ops_range, TEACHER_OPS, None),
            ("pool", pool_size, ops_range, TEACHER_OPS, None),
            ("test24", test_size, test_ops_range, TEACHER_OPS, None),
            ("test25", test_size, test_ops_range, TEACHER_OPS, None),
            ("val", val_size, test_ops_range, TEACHER_OPS, None)]
    if held_out_op is not None:
        if held_out_op not in OPS or held_out_op in TEACHER_OPS:
            raise MotError(f"world.held_out_op: '{held_out_op}' is not an operation only pre-training uses "
                           f"(known: {', '.join(o for o in OPS if o not in TEACHER_OPS)})")
        with_op = (*TEACHER_OPS, held_out_op)
        plan.append(("pretrain_op", held_out_pretrain, ops_range, with_op, held_out_op))
        for task, (span, must, _) in GENERAL_TASKS.items():
            plan.append((f"general-{task}", general_size, span, with_op if must else TEACHER_OPS,
                         held_out_op if must else None))
    for name, size, (lo, hi), allowed, must in plan:
        rng = random.Random(stable_hash("world", seed, name))
        rows, tries, last_new = [], 0, 0
        while len(rows) < size:
            tries += 1
            # a world that has no more such problems: stop at once (the default's longest run of draws
            # without a new problem is 37), not after 200 x size draws (hours for a size of millions)
            if tries > 200 * size + 10000 or tries - last_new > STALL:
                raise MotError(f"world: cannot draw {size} unique '{name}' problems; widen the ops range or raise "
                               "world.max_value (every intermediate value must lie in 0..max_value; a larger "
                               "max_operand gives more problems only while max_value holds them)")
            made = random_problem(rng, rng.randint(lo, hi), max_operand, max_value, allowed)
            if made is None or (must and all(op != must for op, _ in made[1])):
                continue
            start, ops = made
            text = problem_text(start, ops)
            if text in seen:
                continue
            last_new = tries
            seen.add(text)
            rows.append({"id": f"{name}-{len(rows):05d}", "problem": text,
                         "answer": str(evaluate(start, ops)[-1]),
                         "spec": {"start": start, "ops": ops}})
        splits[name] = rows
    return splits


# The world keys that shape the pre-trained base (its data and tokenizer). The held-out sets are
# drawn after the pretrain and pool splits, so their sizes and ops leave the base unchanged.
BASE_WORLD_KEYS = ("seed", "pretrain_size", "pool_size", "ops", "max_operand", "max_value", "vocab_size",
                   "held_out_op", "held_out_pretrain")


def check_spec(spec: dict, where: str = "world") -> None:
    """What the schema cannot say of a world block: each range of operation counts runs low to high,
    and its problems exist (1,000 draws find one: a max_value too small for the operands and counts
    had left none, found only when the world was drawn)."""
    for key in ("ops", "test_ops"):
        if key in spec and spec[key][0] > spec[key][1]:
            raise MotError(f"{where}.{key} = {list(spec[key])}: the fewest operations ({spec[key][0]}) are more "
                           f"than the most ({spec[key][1]})")
    if spec.get("held_out_pretrain") and not spec.get("held_out_op"):  # it was ignored
        raise MotError(f"{where}.held_out_pretrain: {spec['held_out_pretrain']} problems of no operation (set "
                       f"{where}.held_out_op)")
    for key in ("ops", "test_ops"):
        if key not in spec or not {"max_operand", "max_value"} <= set(spec):
            continue
        rng, (lo, hi) = random.Random(0), spec[key]
        if all(random_problem(rng, rng.randint(lo, hi), spec["max_operand"], spec["max_value"]) is None
               for _ in range(1000)):
            raise MotError(f"{where}.{key} = {list(spec[key])}: no problem of that many operations keeps its values "
                           f"in 0..max_value ({spec['max_value']}) with operands up to max_operand "
                           f"({spec['max_operand']}); raise world.max_value or lower the counts")


# The world keys a config may leave out, and what they are then (config/schema.yaml describes each;
# not schema defaults: a key filled in would change the base's key, mot.student.base_key)
OPTIONAL = {"val_size": 0, "general_size": 0, "held_out_op": None, "held_out_pretrain": 0}


def world_from_spec(spec: dict, held_out: bool = True) -> dict[str, list[dict]]:
    """The world of the config's world block; held_out=False leaves the test and validation sets
    empty (all the base student needs)."""
    spec = {**OPTIONAL, **spec}
    sizes = (spec["test_size"], spec["val_size"], spec["general_size"]) if held_out else (0, 0, 0)
    return make_world(spec["seed"], spec["pool_size"], sizes[0], spec["pretrain_size"], spec["ops"],
                      spec.get("test_ops", spec["ops"]), spec["max_operand"], spec["max_value"], sizes[1],  # the
                      # base's block (BASE_WORLD_KEYS) has no test sets
                      spec["held_out_op"], spec["held_out_pretrain"], sizes[2])


def load_world(path: str, splits: tuple[str, ...] = ()) -> dict:
    """The world file written by `mot world`; the `splits` it is read for are checked (mot.shapes:
    a problem of the wrong shape is one line naming the file and the place)."""
    from .shapes import world_file

    return read_json(path, "world file", world_file(splits) if splits else None)


def split_rows(path: str, split: str) -> list[dict]:
    """One split as problem rows {id, problem, answer, spec}."""
    return [{"id": r["id"], "problem": r["problem"], "answer": r["answer"], "spec": r["spec"]}
            for r in load_world(path, (split,))[split]]


# --------------------------------------------------------------------------- teachers
@dataclass(frozen=True)
class TeacherStyle:
    """How a procedural teacher writes a step; phrasings are listed most-preferred first."""
    opener: tuple[str, ...]
    step: tuple[str, ...]
    closer: tuple[str, ...]
    final: tuple[str, ...]
    check_rate: float = 0.0      # chance to re-verify a step (and so catch its own slip)
    ramble_rate: float = 0.0     # chance of an aside that adds length but no information


STYLES: dict[str, TeacherStyle] = {
    # QwQ-like: the longest of the peers, self-verifying.
    "deliberate": TeacherStyle(
        opener=("Okay, let me work through this carefully.", "Alright, let me think step by step."),
        step=("Next, {a} {op} {b}. That gives {c}.", "Now {a} {op} {b} = {c}.", "Then {a} {op} {b} is {c}."),
        closer=("So the final value is {c}.", "That means the result is {c}."),
        final=("The answer is \\boxed{{{c}}}.",),
        check_rate=0.3, ramble_rate=0.1),
    # Qwen3-32B-like peer: terse, in a notation of its own (arrows, not the base's plain equations).
    "concise": TeacherStyle(
        opener=("Inside out:", "Left to right:"), step=("{a} {op} {b} -> {c}",), closer=("So {c}.",),
        final=("\\boxed{{{c}}}", "Result: \\boxed{{{c}}}")),
    # Qwen3-235B-like: numbered steps.
    "structured": TeacherStyle(
        opener=("We evaluate from the innermost parentheses.", "Evaluate inside out."),
        step=("Step {i}: {a} {op} {b} = {c}.",),
        closer=("Therefore the expression equals {c}.",),
        final=("**Answer:** \\boxed{{{c}}}", "The value is \\boxed{{{c}}}."),
        check_rate=0.1),
    # DeepSeek-R1-like, distribution-shifted: words for operators, result-first, meandering.
    "shifted": TeacherStyle(
        opener=("Hmm, so I need to figure out this expression. Let me see.",
                "Alright, so I have this problem here and I need to compute it."),
        step=("{c} comes from {a} {w} {b}.", "{a} {w} {b}... that should be {c}.",
              "So {a} {w} {b}, which is {c}, right?"),
        closer=("Putting it together, I get {c}.", "So I think it's {c}."),
        final=("**Final Answer**\n\\boxed{{{c}}}",),
        check_rate=0.2, ramble_rate=0.5),
    # The base model's pretraining style: plain and unverified.
    "plain": TeacherStyle(opener=("",), step=("{a} {op} {b} = {c}.",), closer=("",),
                          final=("\\boxed{{{c}}}",)),
}

RAMBLES = ("Hmm, wait.", "Let me make sure I am reading the parentheses right.",
           "Okay, moving on.", "Hmm, that seems right.")
REFERENCE_TEMPERATURE = 0.6  # error rates in config are the rates at this temperature


def _pick(rng: random.Random, options: tuple[str, ...], temperature: float) -> str:
    """Choose a phrasing: greedy at temperature 0, flatter as the temperature rises."""
    if temperature <= 0 or len(options) == 1:
        return options[0]
    weights = [math.exp(-i / temperature) for i in range(len(options))]
    return rng.choices(options, weights=weights)[0]


def _slip(rng: random.Random, value: int) -> int:
    wrong = value + rng.choice((-10, -2, -1, 1, 2, 10))
    return wrong if wrong >= 0 else value + 1


def _remaining(value: int, ops: list[list]) -> str:
    """The expression still to evaluate once the first operations have become `value`."""
    return problem_text(value, ops).removeprefix("Compute ").removesuffix(".")


# Teacher-specific habits: systematic, applied every time their case comes up, and always
# arithmetically sound, so they survive answer checking and reach the corpus. Every teacher shares
# the consensus (each step computed left to right); a habit is what only one teacher writes, the
# way a real teacher's idiosyncrasies ride along inside its correct traces. Each takes the step
# (a op b = c, the true value, the ops still to come) and returns lines written after the step,
# and the value the teacher carries on with.
def _mul_by_addition(a, op, b, c, true, rest):
    # re-derives every product as a sum, which also repairs a slipped product
    if op != "*":
        return [], c
    return [f"Check by adding: {' + '.join([str(a)] * b)} = {true}."], true


def _borrow_split(a, op, b, c, true, rest):
    # splits a subtraction that borrows at the tens: 43 - 8 = 43 - 3 - 5
    if op != "-" or a < 10 or a % 10 >= b:
        return [], c
    r = a % 10
    return [f"({a} - {r} - {b - r} = {c})"], c


def _restate(a, op, b, c, true, rest):
    # rewrites what is left of the expression after every step but the last
    return ([f"Remaining: {_remaining(c, rest)}."] if rest else []), c


def _parity(a, op, b, c, true, rest):
    # remarks on the parity of every intermediate result
    return [f"({c} is {'even' if c % 2 == 0 else 'odd'}.)"], c


QUIRKS = {"mul_by_addition": _mul_by_addition, "borrow_split": _borrow_split, "restate": _restate,
          "parity": _parity}


def teacher_trace(spec: dict, style: str, rng: random.Random, temperature: float,
                  error_rate: float, format_error_rate: float = 0.0, quirk: str | None = None,
                  weak_op: str | None = None, quirk_rate: float = 1.0) -> str:
    """One sampled response of a procedural teacher for a synthetic problem.

    `quirk` names the teacher's systematic habit (QUIRKS), which a share `quirk_rate` of its traces
    show; `weak_op` is the operation it slips on three times as often as on the others (a
    systematic weakness, not only random slips)."""
    if quirk is not None and quirk not in QUIRKS:
        raise MotError(f"unknown synthetic teacher quirk '{quirk}' (known: {', '.join(QUIRKS)})")
    return procedural_trace(spec, style, rng, temperature, error_rate, format_error_rate,
                            None if quirk is None else QUIRKS[quirk], weak_op, quirk_rate)


def procedural_trace(spec: dict, style: str, rng: random.Random, temperature: float, error_rate: float,
                     format_error_rate: float = 0.0, habit=None, weak_op: str | None = None,
                     quirk_rate: float = 1.0) -> str:
    """teacher_trace with its habit given as one of QUIRKS' functions: what the base student's
    pretraining calls (with none), so that an edit of a teacher's habit is no edit of pretraining's
    code (mot.codeversion: a new base, 18 minutes, and everything after it)."""
    if style not in STYLES:
        raise MotError(f"unknown synthetic teacher style '{style}' (known: {', '.join(STYLES)})")
    if weak_op is not None and weak_op not in OPS:
        raise MotError(f"unknown synthetic teacher weak_op '{weak_op}' (known: {', '.join(OPS)})")
    st = STYLES[style]
    if habit is not None and quirk_rate < 1.0 and rng.random() >= quirk_rate:
        habit = None  # this trace does not show the habit (drawn first: quirk_rate 1 draws nothing)
    scale = temperature / REFERENCE_TEMPERATURE
    p_err = min(1.0, error_rate * scale)
    lines = [_pick(rng, st.opener, temperature)]
    value = spec["start"]
    for i, (op, b) in enumerate(spec["ops"], 1):
        true = OPS[op](value, b)
        c = _slip(rng, true) if rng.random() < (min(1.0, 3 * p_err) if op == weak_op else p_err) else true
        fmt = dict(a=value, op=op, w=WORDS[op], b=b, i=i, c=c)
        lines.append(_pick(rng, st.step, temperature).format(**fmt))
        if habit is not None:
            extra, c = habit(value, op, b, c, true, spec["ops"][i:])
            lines += extra
        if st.check_rate and rng.random() < st.check_rate:
            if c != true:  # re-verification catches the slip
                lines.append(f"Wait, let me double-check: {value} {op} {b} = {true}, not {c}.")
                c = true
            else:
                lines.append(f"Let me verify: {value} {op} {b} = {c}. Yes.")
        if st.ramble_rate and rng.random() < st.ramble_rate * scale:
            lines.append(rng.choice(RAMBLES))
        value = c
    lines.append(_pick(rng, st.closer, temperature).format(c=value))
    final = _pick(rng, st.final, temperature).format(c=value)
    if format_error_rate and rng.random() < min(1.0, format_error_rate * scale):
        final = f"The result is {value}."  # forgot the box: unverifiable, so filtered out
    think = "\n".join(line for line in lines if line)
    return f"<think>\n{think}\n</think>\n\n{final}"


def direct_answer(spec: dict) -> str:
    """An answer with an empty think block, as a model answers without reasoning."""
    return f"<think>\n\n</think>\n\n\\boxed{{{evaluate(spec['start'], spec['ops'])[-1]}}}"
