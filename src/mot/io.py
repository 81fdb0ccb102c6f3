"""Small I/O helpers shared by every stage: one error type, atomic writes, checked JSONL.

Every stage writes through `atomic_path`/`write_jsonl`/`write_json` so that a killed job
never leaves a half-written output that Snakemake (or a user) could mistake for a result.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator


class MotError(Exception):
    """A user-facing error: the CLI prints its message as one line and exits non-zero."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; move it into place only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{path.name}.tmp-"
    tmp = Path(tempfile.mkdtemp(prefix=prefix, dir=path.parent)) if is_dir else \
        Path(tempfile.mkstemp(prefix=prefix, dir=path.parent)[1])
    try:
        yield tmp
        if is_dir and path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
        raise


def dumps(obj: Any) -> str:
    """Canonical one-line JSON (stable key order as given, no NaN) so outputs are byte-stable."""
    return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def write_jsonl(path: str | os.PathLike, rows: Iterable[dict]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(dumps(row) + "\n")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, ensure_ascii=False, allow_nan=False, indent=2)
        f.write("\n")


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line; a malformed line is an error naming it."""
    path = Path(path)
    if not path.is_file():
        raise MotError(f"{path}: file not found")
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise MotError(f"{path}:{lineno}: malformed JSON ({e.msg})") from None
            if not isinstance(row, dict):
                raise MotError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            yield lineno, row


def read_jsonl(path: str | os.PathLike, required: tuple[str, ...] = ()) -> list[dict]:
    """Read a JSONL file; a malformed line or a missing key is an error naming file and line."""
    rows = []
    for lineno, row in iter_jsonl(path):
        for key in required:
            if row.get(key) in (None, ""):
                raise MotError(f"{path}:{lineno}: missing or empty '{key}'")
        rows.append(row)
    return rows


def registry(table: dict):
    """A decorator factory that files functions or classes in `table` under a name."""
    def register(name: str):
        def wrap(obj):
            table[name] = obj
            return obj
        return wrap
    return register


def require_model(path: str) -> None:
    """A local model directory must hold a config.json; anything else must look like a hub id."""
    if os.path.isdir(path) and not (Path(path) / "config.json").is_file():
        raise MotError(f"{path}: holds no model (no config.json)")
    if not os.path.isdir(path) and (path.startswith((".", "/")) or path.count("/") != 1):
        raise MotError(f"{path}: no such model directory (nor a hub id of the form org/name)")


def stable_hash(*parts: Any) -> int:
    """A 63-bit integer from any JSON-able parts; unlike hash() it is the same in every process."""
    digest = hashlib.sha256(dumps(parts).encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def file_xxh3(path: str | os.PathLike, chunk: int = 1 << 24) -> str:
    """xxh3-128 of a file's bytes: a content hash at memory speed (sha256 runs at about 1 GB/s
    here, slower than a whole merge of the same bytes)."""
    import xxhash

    h = xxhash.xxh3_128()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 24) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()
