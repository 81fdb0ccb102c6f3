"""Provenance of a run: the resolved config, package versions, seed and git revision."""
from __future__ import annotations

import platform
import subprocess
from importlib import metadata
from pathlib import Path

from .io import write_json

PACKAGES = ("mot", "torch", "transformers", "tokenizers", "safetensors", "accelerate", "snakemake",
            "math-verify", "vllm", "mergekit")


def git_revision(cwd: str | Path = ".") -> str | None:
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, check=True).stdout.strip()
        return rev.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def write_provenance(config: dict, out: str) -> None:
    write_json(out, {"seed": config.get("seed"), "git_revision": git_revision(Path(__file__).parent),
                     "python": platform.python_version(), "packages": versions(), "config": config})
