"""The types of mot's arguments: JSON objects, config files, _positive numbers, and what an output
argument names (Out: the files and directories a command writes for it, mot.placement checks)."""
from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .io import MotError


def _json(text: str):
    """A JSON object (every JSON argument of mot is one), with no NaN or Infinity (JSON has none)."""
    from .readers import strict_json

    try:
        value = strict_json(text)
    except json.JSONDecodeError as e:
        raise argparse.ArgumentTypeError(f"not valid JSON: {e.msg}") from None
    except MotError as e:
        raise argparse.ArgumentTypeError(str(e)) from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object {{...}}, got {type(value).__name__} {text[:40]}")
    return value


def _name(text: str) -> str:
    """A name of the config (a student, a source, a teacher set, a table), as config/schema.yaml's
    $defs/name takes it: never a path, even where a file of that name lies (a student named `results`
    would make every output under results/ one inside an input; `../x` wrote outside results/)."""
    from .spec import _schema

    if (problem := _bad_name(text, _schema()["$defs"]["name"])) is not None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a name ({problem}; config/schema.yaml $defs/name)")
    return text


def _bad_name(text, rule: dict) -> str | None:
    """Why `text` is not a name by the schema's rule (its pattern, and the file endings its `not` holds)."""
    import re

    if not isinstance(text, str) or not re.search(rule["pattern"], text):
        return "letters, digits, '.', '_' and '-', starting with a letter or digit"
    if re.search(rule["not"]["pattern"], text):
        return "it ends like a file that mot writes"
    return None


def _names(text: str) -> dict:
    """A JSON object of names (--tag: student, source, run; a source may be null, a model is a path). A
    run's name is made of names: `mot-<set>@<merge variant>` (mot.grid)."""
    from .spec import _schema

    value = _json(text)
    rule = _schema()["$defs"]["name"]
    for key in ("student", "source", "run"):
        if value.get(key) is None:
            continue
        for part in value[key].split("@") if key == "run" and isinstance(value[key], str) else [value[key]]:
            if (problem := _bad_name(part, rule)) is not None:
                raise argparse.ArgumentTypeError(f"{key} {value[key]!r} is not a name ({problem}; config/schema.yaml "
                                                 "$defs/name)")
    return value


_name.__name__ = _names.__name__ = "name"  # what-may-name-an-input check (parser)


def _report_spec(text: str) -> dict:
    """A report spec as JSON (mot.catalog.report_spec's, what the rules pass): no key it does not have."""
    from .catalog import SPEC_KEYS

    value = _json(text)
    if unknown := [k for k in value if k not in SPEC_KEYS]:
        raise argparse.ArgumentTypeError(f"unknown key {unknown[0]!r} (a report spec has {', '.join(SPEC_KEYS)})")
    return value


def _config(text: str):
    """A resolved config as JSON (what the rules pass), or a config file's path, checked and completed
    against config/schema.yaml (from the repository root, as mot check-config)."""
    if not text.lstrip().startswith("{") and os.path.isfile(text):
        from .configfile import load_config
        from .spec import SCHEMA

        # a MotError (never a ValueError, which argparse would turn into "invalid _config value") goes
        # through to main's one line
        config = ConfigFile(load_config(text, SCHEMA if SCHEMA.is_file() else "config/schema.yaml"))
        config.source = text  # an input: no output may replace it (mot plan --config X --out X)
        return config
    from .config import validate_config
    from .spec import SCHEMA

    # checked as a file is (a config of the wrong shape was a KeyError deep in the plan)
    return validate_config(_json(text), SCHEMA if SCHEMA.is_file() else "config/schema.yaml", "--config")


def _resolved(text: str) -> dict:
    """A resolved config as JSON (what the rules pass to `seeds run` and `provenance`), checked against
    config/schema.yaml as _config checks one, and passed on as given: a seed's config and the
    provenance record keep the rules' bytes (an invalid one had run a seed's whole Snakemake, or been
    recorded with exit 0)."""
    import copy

    from .config import validate_config
    from .spec import SCHEMA

    value = _json(text)
    validate_config(copy.deepcopy(value), SCHEMA if SCHEMA.is_file() else "config/schema.yaml", "--config")
    return value


def _positive(kind):
    """An argument that is a positive, finite number of `kind` (int or float), at most the config's
    counts (config/schema.yaml's $defs/posint: a flag takes what its config key takes)."""
    import math

    def parse(text: str):
        from .spec import _schema

        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a{'n integer' if kind is int else ' number'}") from None
        if not (value > 0 and math.isfinite(value)):
            raise argparse.ArgumentTypeError(f"{text!r} is not a positive{' finite' if kind is float else ''} number")
        if value > (top := _schema()["$defs"]["posint"]["maximum"]):  # a float too: --max-shard-gb 1e308 overflowed
            raise argparse.ArgumentTypeError(f"{text} is greater than the maximum of {top} (config/schema.yaml "
                                             "$defs/posint)")
        return value

    parse.__name__ = kind.__name__  # what-may-name-an-input check (parser): a number is no path
    return parse


def _seed(text: str) -> int:
    """A seed, as the config's seeds are (config/schema.yaml's $defs/seed: what every library takes)."""
    from .spec import _schema

    seed = _schema()["$defs"]["seed"]
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if not seed["minimum"] <= value <= seed["maximum"]:
        raise argparse.ArgumentTypeError(f"{text!r} is not a seed ({seed['minimum']} to {seed['maximum']})")
    return value


_seed.__name__ = "int"  # what-may-name-an-input check (parser): a number is no path


class ConfigFile(dict):
    """A config read from a file given on the command line; `source`: that file."""

    source = None


@dataclass(frozen=True)
class Out:
    """An output argument: what it names and everything a command writes for it.

    kind: file; dir (a directory written whole and marked as mot's, mot.io.MARKER: one that mot did
    not write is replaced only with --force); workdir (a directory the command works in without
    owning it: `mot seeds run --dir`, a Snakemake working directory whose files are the seed's run's
    outputs, never marked, so the ownership rule would refuse every rerun); stem (the files
    <out><ext> for each of `exts`). md: also <out> with the suffix .md (mot stats). work: also
    <out>.partial/, where a resumable job works (mot.io.start_work)."""
    kind: str
    exts: tuple[str, ...] = ()
    md: bool = False
    work: bool = False

    def targets(self, value: str, flag: str) -> list[tuple[str, str, str]]:
        """(path, kind, what names it) for everything written for `value`; kind: file, dir, workdir,
        or work (a resumable job's work directory: placement only)."""
        if self.kind == "stem":
            paths = [(f"{value}{ext}", "file", f"{flag} (its {ext})") for ext in self.exts]
        else:
            paths = [(value, self.kind, flag)]
        if self.md:
            paths.append((str(Path(value).with_suffix(".md")), "file", f"{flag} (its .md)"))
        if self.work:
            paths.append((f"{value}.partial", "work", f"{flag} (its .partial work directory)"))
        return paths


TABLE_FILES = (".csv", ".md", ".tex", ".html")  # mot.render.Table.write
FIGURE_FILES = (".png", ".pdf")
