"""Prompt sources: N problems with reference answers per source, sampled with a seed.

    mot prompts --source syn-boba --spec '{"type": "synthetic", "n": 64, ...}' \
        --world results/world/world.json --template '{problem}' --out results/prompts/syn-boba.jsonl

Source types: `synthetic` (the world's training pool), `s1k` (the shipped s1K file, keeping only
problems whose reference yields a short verifiable answer), `boba` (AReaL-boba's rows, whose
prompts are DeepSeek-R1 chat turns: unwrapped to the problem; from a local file, or the Hugging
Face dataset at a pinned revision) and `jsonl` (any local file). Problems are sampled by id (a
seeded sample of the rows in id order), so the file's row order does not decide them.
"""
from __future__ import annotations

import random
import re
from pathlib import Path

from .answers import boxed_spans, clean
from .io import MotError, stable_hash, write_jsonl
from .readers import iter_jsonl
from .world import split_rows

PROBLEM_KEYS = ("problem", "question", "prompt")
ANSWER_KEYS = ("answer", "solution", "solutions", "reference")
SHORT_ANSWER_CHARS = 40
PLACEHOLDER = "{problem}"


def render_prompt(template: str, problem: str) -> str:
    """The user message: `template` with every `{problem}` replaced by the problem text. Nothing
    else in it is interpreted, so LaTeX such as `\\boxed{}` stays as written (str.format would
    read its braces as fields)."""
    return template.replace(PLACEHOLDER, problem)


def check_template(template: str, key: str = "prompt_template") -> None:
    if PLACEHOLDER not in template:
        raise MotError(f"{key}: the template must contain {PLACEHOLDER} (got {template!r})")


def short_answer(reference) -> str | None:
    """The short verifiable answer a reference yields, or None (a proof, an essay)."""
    if isinstance(reference, list):
        reference = reference[0] if reference else None
    if reference is None:
        return None
    reference = str(reference).strip()
    boxed = boxed_spans(reference)
    answer = clean(boxed[-1][2]) if boxed else reference
    if answer and len(answer) <= SHORT_ANSWER_CHARS and "\n" not in answer:
        return answer
    return None


# How BOBA's rows arrive (inclusionAI/AReaL-boba-Data, AReaL-boba-106k.jsonl; data/rehearsal/boba.jsonl
# holds ten of AReaL's own rows): the prompt field is already a DeepSeek-R1 chat turn with the
# instruction inside,
#   "<｜User｜><problem>\nPlease reason step by step, and put your final answer within
#    \\boxed{}.<｜Assistant｜><think>",
# and the answer is solutions: ["\\boxed{<answer>}"]. The problem is unwrapped, so the config's own
# template adds the instruction once and each model's own chat template adds its own markup.
CHAT_WRAPPERS = (
    ("<｜begin▁of▁sentence｜>", "<｜User｜>", "<｜Assistant｜>"),  # DeepSeek-R1
    ("", "<|im_start|>user\n", "<|im_end|>"),  # Qwen / ChatML
)
BUILT_IN_INSTRUCTIONS = ("Please reason step by step, and put your final answer within \\boxed{}.",)
MARKUP = ("<｜", "<|im_start|>", "<|im_end|>", "<think>", "</think>")
ID_KEYS = ("id", "query_id")


def unwrap_problem(text: str) -> str:
    """The problem inside a prompt that arrives as a chat turn: chat markup and a built-in
    instruction removed. A plain problem comes back as it is."""
    for bos, user, assistant in CHAT_WRAPPERS:
        body = text.strip()
        if bos and body.startswith(bos):
            body = body[len(bos):].lstrip()
        if body.startswith(user.strip()) and assistant in body:
            text = body[len(user.strip()):].split(assistant, 1)[0]
            break
    text = text.strip()
    for instruction in BUILT_IN_INSTRUCTIONS:
        if text.endswith(instruction):
            text = text[:-len(instruction)].rstrip()
    return text


def natural_key(row_id: str) -> tuple:
    """Ids in their natural order ("2" before "10"), so a file's ids decide the sample, not its row order."""
    return tuple((0, int(x), "") if x.isdigit() else (1, 0, x) for x in re.split(r"(\d+)", row_id) if x)


def read_problem_file(path: str | Path, keep_long: bool = False, unwrap: bool = False) -> list[dict]:
    """Rows {id, problem, answer} from a JSONL file; errors name the file and line. `unwrap`: the
    problem field is a chat turn (BOBA's), reduced to the problem. A row without an id is named by a
    hash of its problem text, so that sampling never depends on row order."""
    rows, seen = [], {}
    for lineno, raw in iter_jsonl(path):
        problem = next((raw[k] for k in PROBLEM_KEYS if raw.get(k)), None)
        reference = next((raw[k] for k in ANSWER_KEYS if raw.get(k) not in (None, "", [])), None)
        if not problem:
            raise MotError(f"{path}:{lineno}: row has no problem text (keys {', '.join(PROBLEM_KEYS)})")
        if not isinstance(problem, str):
            raise MotError(f"{path}:{lineno}: the problem is {type(problem).__name__} {str(problem)[:40]}, not text")
        if reference is None:
            raise MotError(f"{path}:{lineno}: prompt without a reference answer (keys {', '.join(ANSWER_KEYS)})")
        # a number or text, or a list of them (BOBA's solutions): an object or a boolean was written as
        # its Python repr ("{'a': 1}", "True"), an answer no sample could match
        if not all(isinstance(r, (str, int, float)) and not isinstance(r, bool)
                   for r in (reference if isinstance(reference, list) else [reference])):
            raise MotError(f"{path}:{lineno}: the reference answer is {type(reference).__name__} "
                           f"{str(reference)[:40]}, not text, a number or a list of them")
        if unwrap:
            problem = unwrap_problem(problem)
            if left := [m for m in MARKUP if m in problem]:
                raise MotError(f"{path}:{lineno}: chat markup {left[0]!r} left in the problem after unwrapping "
                               "(an unknown prompt format)")
        row_id = next((raw[k] for k in ID_KEYS if raw.get(k) not in (None, "")), None)
        if row_id is not None and (isinstance(row_id, bool) or not isinstance(row_id, (str, int))):
            raise MotError(f"{path}:{lineno}: the id is {type(row_id).__name__} {str(row_id)[:40]}, not text or a number")
        row_id = None if row_id is None else str(row_id)
        row_id = row_id or f"h{stable_hash(problem) % 16 ** 12:012x}"
        if row_id in seen:
            raise MotError(f"{path}:{lineno}: id '{row_id}' also on line {seen[row_id]} (ids must be unique)")
        seen[row_id] = lineno
        answer = short_answer(reference)
        if answer is None and not keep_long:
            continue  # the reference is a worked proof: not verifiable by answer matching
        rows.append({"id": row_id, "problem": problem, "answer": answer})
    return rows


def boba_file(name: str, spec: dict) -> Path:
    """The BOBA file: `path` when it is set, else the hub's file at the pinned revision, through
    huggingface_hub (which serves its cache when HF_HUB_OFFLINE=1 or the hub cannot be reached)."""
    if spec.get("path"):
        if not Path(spec["path"]).is_file():
            raise MotError(f"source '{name}': config key sources.{name}.path ({spec['path']!r}) is not a file")
        return Path(spec["path"])
    from huggingface_hub import hf_hub_download

    try:
        path = Path(hf_hub_download(spec["hub_repo"], spec["hub_file"], repo_type="dataset",
                                    revision=spec.get("hub_revision")))
        # the cache keeps a file under snapshots/<commit>/: the revision it resolved to, for the log
        print(f"source '{name}': {spec['hub_repo']}/{spec['hub_file']} at commit {path.parent.name} "
              f"(revision {spec.get('hub_revision')})")
        return path
    except Exception as e:  # offline without a cached copy, a wrong revision, no access
        raise MotError(f"source '{name}': cannot get {spec['hub_repo']}/{spec['hub_file']} at revision "
                       f"{spec.get('hub_revision')} from the Hugging Face hub or its cache ({type(e).__name__}); "
                       f"download it and set config key sources.{name}.path") from None


def ops_range(spec: dict) -> tuple[int, int]:
    """A synthetic source's operation counts, (min_ops, max_ops); either left out: no bound."""
    return spec.get("min_ops", 1), spec.get("max_ops", 99)


def check_range(spec: dict, where: str) -> None:
    """A synthetic source's range of operation counts runs low to high (else it has no problem)."""
    lo, hi = ops_range(spec)
    if lo > hi:
        raise MotError(f"{where}: min_ops {lo} is more than max_ops {hi}")


def synthetic_rows(world_path: str, spec: dict) -> list[dict]:
    lo, hi = ops_range(spec)
    return [r for r in split_rows(world_path, "pool") if lo <= len(r["spec"]["ops"]) <= hi]


def load_source(name: str, spec: dict, world_path: str | None = None) -> list[dict]:
    kind = spec["type"]
    if kind == "synthetic":
        if not world_path:
            raise MotError(f"source '{name}': a synthetic source needs --world")
        return synthetic_rows(world_path, spec)
    if kind == "boba":
        return read_problem_file(boba_file(name, spec), unwrap=True)
    if kind in ("s1k", "jsonl"):
        return read_problem_file(spec["path"])
    raise MotError(f"source '{name}': unknown type '{kind}' (config key sources.{name}.type)")


def sample_prompts(name: str, spec: dict, template: str, world_path: str | None, out: str) -> list[dict]:
    from .spec import check_block

    check_template(template, "--template")
    check_block(spec, "--spec", "sources.*")
    check_range(spec, f"sources.{name}")
    rows = load_source(name, spec, world_path)
    n = spec["n"]
    if n > len(rows):
        raise MotError(f"source '{name}': config key sources.{name}.n = {n} but only {len(rows)} "
                       "usable problems exist")
    rows.sort(key=lambda r: natural_key(r["id"]))  # by id: the same problems whatever the file's row order
    picked = random.Random(spec["seed"]).sample(rows, n)
    for row in picked:
        row["source"] = name
        row["prompt"] = render_prompt(template, row["problem"])
    write_jsonl(out, picked)
    return picked
