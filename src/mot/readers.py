"""Reading what mot and the user wrote: JSON, JSONL and CSV files checked as they are read (no NaN, no
lone surrogate, the keys a reader needs), each error one line naming the file, line and key."""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Iterator

from .io import MotError


def iter_jsonl(path: str | os.PathLike) -> Iterator[tuple[int, dict]]:
    """(line number, object) for each non-blank line; a malformed line is an error naming it."""
    path = Path(path)
    if not path.is_file():
        raise MotError(f"{path}: {'a directory, not a file' if path.is_dir() else 'file not found'}")
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise MotError(f"{path}:{lineno}: not UTF-8 text (byte {e.start} of the line is {raw[e.start]:#04x})") \
                    from None
            if not line.strip():
                continue
            try:
                row = strict_json(line)
            except json.JSONDecodeError as e:
                raise MotError(f"{path}:{lineno}: malformed JSON ({e.msg})") from None
            except MotError as e:
                raise MotError(f"{path}:{lineno}: {e}") from None
            if not isinstance(row, dict):
                raise MotError(f"{path}:{lineno}: expected a JSON object, got {type(row).__name__}")
            yield lineno, row


class Record(dict):
    """A JSON object read from an input (a file, or a JSON argument): a key it lacks is one line
    naming the input and the place in it, not a KeyError's traceback ("a bug")."""

    where = "input"

    def __missing__(self, key):
        raise MotError(f"{self.where}: no key {key!r}")


def records(node, where: str):
    """`node` (parsed JSON) with every object a Record that knows where it is ("FILE: a.b[0]")."""
    if isinstance(node, dict):
        out = Record()
        out.where = where
        sep = ": " if ": " not in where else "."
        for k, v in node.items():
            out[k] = records(v, f"{where}{sep}{k}")
        return out
    if isinstance(node, list):
        return [records(v, f"{where}[{i}]" if ": " in where else f"{where}: [{i}]") for i, v in enumerate(node)]
    return node


def _no_constant(name: str):
    raise MotError(f"{name} is no number JSON has (a value that was not computed: rerun what wrote it)")


def _unique(pairs: list) -> dict:
    keys = set()
    for k, _ in pairs:
        if k in keys:  # json.loads would keep the last: {"steps": 4, "steps": 5} trains 5
            raise MotError(f"the key {k!r} twice in one object (which one was meant?)")
        keys.add(k)
    return dict(pairs)


def _number(text: str):
    if len(text) > 300:  # Python refuses str -> int over 4,300 digits (a ValueError); no setting is this long
        raise MotError(f"a number of {len(text)} digits ({text[:12]}...)")
    return int(text)


def _float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):  # 1e400: JSON has no infinity, by any spelling
        raise MotError(f"{text[:20]} is beyond a float's range (inf)")
    return value


def strict_json(text: str) -> Any:
    """json.loads without Python's extensions NaN, Infinity and -Infinity, which JSON does not have (a
    NaN score would win every max() it is in), without lone surrogates (an escaped half of a
    character, "\\ud800", which no output could then be written with), without a key twice in one
    object (json.loads keeps the last), and without numbers or nesting beyond reason (Python's
    limits would raise a ValueError or RecursionError without naming the input)."""
    try:
        value = json.loads(text, parse_constant=_no_constant, object_pairs_hook=_unique, parse_int=_number,
                           parse_float=_float)
    except RecursionError:
        raise MotError("JSON nested too deeply") from None
    if "\\u" in text and re.search(r"\\u[dD][89a-fA-F]", text):  # an escaped surrogate: a pair, or alone?
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as e:
            raise MotError(f"a lone surrogate {e.object[e.start:e.end]!r} (half of a character, escaped), which no "
                           "UTF-8 output can hold") from None
    return value


def read_json(path: str | os.PathLike, what: str = "JSON file", shape: dict | None = None) -> Any:
    """A whole JSON file (its objects Records: a missing key names the file and the place); a missing,
    truncated or non-UTF-8 one is one line naming it, and so is one without its `shape` (mot.shapes)."""
    try:
        obj = strict_json(Path(path).read_bytes().decode("utf-8"))
    except MotError as e:
        raise MotError(f"{path}: {e}") from None
    except FileNotFoundError:
        raise MotError(f"{path}: {what} not found") from None
    except UnicodeDecodeError as e:
        raise MotError(f"{path}: {what} is not UTF-8 text (byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise MotError(f"{path}: {what} is malformed or truncated ({e.msg} at line {e.lineno}, column {e.colno})") \
            from None
    if shape is not None:
        from .shapes import check

        check(obj, shape, str(path))
    return records(obj, str(path))


class CsvRow(dict):
    """A row of a CSV that mot wrote and reads back (a table, corpus statistics): its values typed on
    request, a bad one one line naming the file, the line and the column."""

    where = "csv"

    def num(self, column: str, kind=float, empty: bool = False):
        """The column's value as `kind` (float or int), finite; None for an empty one if `empty`."""
        import math

        value = self[column]
        if value == "" and empty:
            return None
        try:
            number = kind(value)
        except ValueError:
            number = None
        if number is None or (kind is float and not math.isfinite(number)):
            raise MotError(f"{self.where}: {column} = {value!r} is not a{' whole' if kind is int else ' finite'} number")
        return number


def read_csv(path: str | os.PathLike, columns: tuple[str, ...], what: str = "CSV file") -> list[CsvRow]:
    """The rows of a CSV that a mot command wrote (a BOM and CRLF line ends, as a spreadsheet saves
    it, are read too); a missing, empty or non-UTF-8 file, or one without one of `columns`, is one
    line naming it."""
    import csv
    import io as _io

    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise MotError(f"{path}: {what} not found") from None
    except UnicodeDecodeError as e:
        raise MotError(f"{path}: {what} is not UTF-8 text (byte {e.start})") from None
    reader = csv.DictReader(_io.StringIO(text, newline=""))
    if missing := [c for c in columns if c not in (reader.fieldnames or [])]:
        raise MotError(f"{path}: {what} has no column {missing[0]!r}")
    rows = []
    for row in reader:
        r = CsvRow(row)
        r.where = f"{path}:{reader.line_num}"
        if missing := [c for c in columns if row.get(c) is None]:
            raise MotError(f"{r.where}: no value in column {missing[0]!r}")
        rows.append(r)
    if not rows:
        raise MotError(f"{path}: {what} has no rows")
    return rows


def read_jsonl(path: str | os.PathLike, required: tuple[str, ...] = ()) -> list[dict]:
    """Read a JSONL file; a malformed line, or a required key missing, empty or not text (a string or
    a number: an id, a prompt, an answer, a response), is an error naming file and line."""
    rows = []
    for lineno, row in iter_jsonl(path):
        for key in required:
            if row.get(key) in (None, ""):
                raise MotError(f"{path}:{lineno}: missing or empty '{key}'")
            if isinstance(row[key], (bool, list, dict)):
                raise MotError(f"{path}:{lineno}: '{key}' is {type(row[key]).__name__} {json.dumps(row[key])[:40]}, "
                               "not text")
        rows.append(row)
    return rows
