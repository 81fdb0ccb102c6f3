"""Helpers the test modules share (fixtures are in conftest.py): one definition each."""
import re
import socket
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]

# train()'s hyper-parameters for the tiny models (tests/test_train.py, test_multinode.py)
HP = {"lr": 1e-3, "betas": [0.9, 0.95], "weight_decay": 0.1, "warmup_ratio": 0.1, "grad_clip": 1.0,
      "batch_size": 4, "micro_batch_size": 2, "max_length": 256, "bf16": False, "attn_implementation": "sdpa"}


def load_config(name: str) -> dict:
    """A shipped config (config/<name>) as written, without the schema's defaults."""
    return yaml.safe_load((ROOT / "config" / name).read_text())


def json_lines(path) -> list[str]:
    """The lines of a JSON Lines file, split at "\\n" alone: str.splitlines() also splits at \\x85,
    \\u2028 and \\u2029, which json.dumps(ensure_ascii=False) leaves in a string (a random model's
    sample has them: CI of ae71496 failed on one)."""
    return [x for x in Path(path).read_text(encoding="utf-8").split("\n") if x]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def planned(result) -> set[tuple[str, str]]:
    """(rule, wildcards) of every job a dry run plans."""
    jobs, rule = set(), None
    for line in (result.stdout + result.stderr).splitlines():
        if m := re.match(r"^(?:local)?rule (\w+):", line.strip()):
            rule = m.group(1)
            jobs.add((rule, ""))
        elif rule and (m := re.match(r"^wildcards: (.*)$", line.strip())):
            jobs.discard((rule, ""))
            jobs.add((rule, m.group(1)))
    return jobs


def resources(result) -> dict[tuple[str, str], dict]:
    """(rule, wildcards) -> the resources a dry run prints for that job."""
    out, rule, wc = {}, None, ""
    for line in (result.stdout + result.stderr).splitlines():
        line = line.strip()
        if m := re.match(r"^(?:local)?rule (\w+):", line):
            rule, wc = m.group(1), ""
        elif m := re.match(r"^wildcards: (.*)$", line):
            wc = m.group(1)
        elif rule and line.startswith("resources: "):
            out[(rule, wc)] = dict(kv.split("=", 1) for kv in line.removeprefix("resources: ").split(", "))
    return out
