"""Config files as YAML gives them: read as UTF-8 text, each key once in a mapping (merge keys `<<`
allowed, as YAML has them), an unreadable file one line with its line and column; then checked
against the schema (mot.config.validate_config)."""
from __future__ import annotations

from pathlib import Path

import yaml

from .config import validate_config
from .io import MotError


class _UniqueKeys(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (yaml keeps the last silently),
    and an integer that YAML 1.1 reads otherwise than it looks (`010` is 8, `1:30` is 90)."""

    def construct_yaml_int(self, node):
        value, text = super().construct_yaml_int(node), node.value.replace("_", "").lstrip("+-")
        if (len(text) > 1 and text[0] == "0" and text[1].isdigit()) or ":" in text:
            raise yaml.constructor.ConstructorError(
                None, None, f"{node.value!r} is {value} to YAML 1.1 (octal or base 60): write the number you mean",
                node.start_mark)
        return value

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *defaults`: keys given beside it override its
                continue
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is given twice",
                    key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep)


_UniqueKeys.add_constructor("tag:yaml.org,2002:int", _UniqueKeys.construct_yaml_int)


def load_yaml(text: str):
    return yaml.load(text, Loader=_UniqueKeys)


def _yaml_error(path, e: Exception) -> MotError:
    """One line for a file YAML cannot read: the file, its line and column, and YAML's reason."""
    mark, problem = getattr(e, "problem_mark", None), getattr(e, "problem", None)
    if mark is not None and problem:
        return MotError(f"{path}, line {mark.line + 1}, column {mark.column + 1}: cannot read config ({problem})")
    return MotError(f"{path}: cannot read config ({' '.join(str(e).split())})")


def read_yaml(path: str | Path):
    """A YAML file of the user's (a config, an accelerate config), strictly: not UTF-8, a key given
    twice or YAML's own errors are one line naming the file."""
    try:
        return load_yaml(Path(path).read_bytes().decode("utf-8"))
    except UnicodeDecodeError as e:
        raise MotError(f"{path}: not UTF-8 text (byte {e.start} is {e.object[e.start]:#04x})") from None
    except (OSError, yaml.YAMLError) as e:
        raise _yaml_error(path, e) from None


def check_files(paths) -> None:
    """What Snakemake's own reading of the config files lets through: a key given twice (the last
    wins), text that is not UTF-8."""
    for path in paths:
        read_yaml(path)


def load_config(path: str | Path, schema_path: str | Path) -> dict:
    config = read_yaml(path)
    if not isinstance(config, dict):
        raise MotError(f"{path}: config must be a mapping")
    return validate_config(config, schema_path, str(path))
