"""Helpers the Snakefile imports: environment set-up for rule jobs."""
from __future__ import annotations

import functools
import os


def job_environment(src: str, python: str) -> None:
    """Make `python3 -m mot` in a rule's shell find this checkout's package and interpreter.

    The interpreter running Snakemake comes first on PATH, so `.venv/bin/snakemake` works without
    activating the environment (under --use-conda the activated env's python3 goes in front of
    it); src/ goes on PYTHONPATH, so the package runs from the checkout, installed or not.
    """
    os.environ["PATH"] = os.pathsep.join([os.path.dirname(python), os.environ.get("PATH", "")])
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))


def tracking_environment(log_with: list[str]) -> None:
    """The trackers every job logs to (mot.tracking reads them), from the config's train.log_with."""
    from .layout import TRACKING

    os.environ["MOT_LOG_WITH"] = ",".join(log_with)
    os.environ.setdefault("MOT_TRACKING_DIR", TRACKING)


def code_version(src: str, *modules: str) -> str:
    """A hash of the code of a stage's module files and every package module they import (lazily or
    not), for a rule's `params`: editing the code reruns the stage, while a comment or a docstring,
    a moved checkout, or a fresh clone with results copied in, reruns nothing (a path or an mtime
    would).

    Snakemake does not track imported code by itself; `--list-changes params` shows what an edit
    affects."""
    import hashlib
    import re

    pkg = os.path.join(src, "mot")
    # layout.py only names paths, which the DAG itself follows (a moved output is a new target):
    # hashing it would rerun every stage whenever a path is added. Named itself, it counts: all_code()
    # (a seed's whole run, provenance) names every module, and names inside a run are its output
    # (an eval summary records its checkpoints' paths; issue 33, probe 20, case 16).
    skipped = set() if "layout.py" in modules else {"layout.py"}
    seen, todo = set(skipped), ["io.py", *modules]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        with open(os.path.join(pkg, name), encoding="utf-8") as f:
            text = f.read()
        # `from .x import y` and `from . import x` (tracking, engines: a stage runs them too)
        todo += [f"{a or b}.py" for a, b in re.findall(r"^\s*from \.(\w+) import|^\s*from \. import (\w+)", text, re.M)]
    # and mot/startup/*.py (its sitecustomize), which runs at the start of every process a job starts
    startup = os.path.join(pkg, "startup")
    seen |= {f"startup/{f}" for f in (os.listdir(startup) if os.path.isdir(startup) else []) if f.endswith(".py")}
    texts = {}
    for name in sorted(seen - skipped):
        with open(os.path.join(pkg, name), encoding="utf-8") as f:
            texts[name] = f.read()
    # Cached on disk by the files' text (in the package's __pycache__, as mot.codeversion's versions):
    # tokenizing the whole package for all_code() was half of every `snakemake` start (1.1 s).
    raw = hashlib.sha256(b"".join(n.encode() + b"\0" + t.encode() + b"\0" for n, t in texts.items())).hexdigest()
    cache = os.path.join(pkg, "__pycache__", f"mot-code-version-{raw[:32]}.txt")
    try:
        with open(cache, encoding="utf-8") as f:
            if len(known := f.read()) == 16:
                return known
    except OSError:
        pass
    h = hashlib.sha256()
    for name, text in texts.items():
        h.update(name.encode() + b"\0" + executed(text))
    version = h.hexdigest()[:16]
    try:  # written whole or not at all; a read-only checkout just computes it each time
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        tmp = f"{cache}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(version)
        os.replace(tmp, cache)
    except OSError:
        pass
    return version


@functools.lru_cache(maxsize=None)  # a Snakefile hashes ~30 modules for ~30 rules: parse each once
def executed(text: str) -> bytes:
    """What of a module's source runs: its tokens without comments, docstrings, blank lines and
    spacing within lines, so that a comment, a docstring or a reformatted line reruns nothing,
    while any change to code does. (Python 3.12 tokenizes f-strings into parts: moving the
    interpreter across 3.11/3.12 reruns the stages once.)"""
    import ast
    import io
    import tokenize

    docstrings = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) \
                    and isinstance(first.value.value, str):
                docstrings.add((first.lineno, first.col_offset))
    kept = [f"{t.type}:{t.string}" for t in tokenize.generate_tokens(io.StringIO(text).readline)
            if t.type not in (tokenize.COMMENT, tokenize.NL) and not (t.type == tokenize.STRING and t.start in docstrings)]
    return "\n".join(kept).encode()


def source_version(root: str, files: list[str]) -> str:
    """A hash of files of code that is not a Python module (the Snakefile, rules/*.smk: Python's
    tokens, not its grammar), without comments and blank lines: a comment reruns nothing, any other
    change does. A file Python cannot tokenize counts byte for byte."""
    import hashlib
    import io
    import tokenize

    h = hashlib.sha256()
    for f in files:
        with open(f, encoding="utf-8") as fh:
            text = fh.read()
        try:
            kept = "\n".join(f"{t.type}:{t.string}" for t in tokenize.generate_tokens(io.StringIO(text).readline)
                             if t.type not in (tokenize.COMMENT, tokenize.NL))
        except (tokenize.TokenError, SyntaxError):
            kept = text
        h.update(os.path.relpath(f, root).encode() + b"\0" + kept.encode() + b"\0")
    return h.hexdigest()[:16]
