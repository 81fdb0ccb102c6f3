"""Provenance of a run: the resolved config, package versions, seed and git revision."""
from __future__ import annotations

import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from .io import write_json, write_text

PACKAGES = ("mot", "torch", "transformers", "tokenizers", "safetensors", "accelerate", "snakemake",
            "math-verify", "vllm", "mergekit")


def git_revision(cwd: str | Path = ".", written: tuple[str, ...] = ()) -> str | None:
    """HEAD, with "-dirty" when a tracked file differs from it; `written`: files the workflow itself
    writes (report.readme's block), whose change says nothing about the code that ran."""
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, check=True)
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                                capture_output=True, text=True, check=True).stdout
        dirty = [line[3:] for line in status.splitlines() if line[3:] not in written]
        return rev.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return None


def git_inputs() -> list[Path]:
    """What git_revision reads (mot.placement.IMPLICIT: no output may be or lie in it): the git
    directory, and the tracked files, whose changes `git status` reports (an output over one would
    also make the record say "clean" of a tree that is not)."""
    def git(*args) -> str:
        return subprocess.run(["git", *args], cwd=Path(__file__).parent, capture_output=True, text=True,
                              check=True).stdout

    try:
        top, gitdir = git("rev-parse", "--show-toplevel", "--absolute-git-dir").splitlines()[:2]
        tracked = git("ls-files", "-z", "--full-name", ":/").split("\0")
    except (OSError, ValueError, subprocess.CalledProcessError):
        return []
    return [Path(gitdir), *(Path(top) / f for f in tracked if f)]


def implicit_inputs(args) -> list[Path]:
    """What `mot provenance` reads that no argument names (mot.placement.IMPLICIT)."""
    return git_inputs()


def versions() -> dict[str, str]:
    found = {}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return found


def write_provenance(config: dict, out: str, rst: str | None = None) -> None:
    """`out`: JSON. `rst`: the same as reStructuredText, for the first page of `snakemake --report`
    (report/workflow.rst includes it)."""
    written = tuple(filter(None, [(config.get("report") or {}).get("readme")]))
    record = {"seed": config.get("seed"), "git_revision": git_revision(Path(__file__).parent, written),
              "python": platform.python_version(), "packages": versions(), "config": config}
    write_json(out, record)
    if rst:
        from html import escape

        import yaml

        text = yaml.safe_dump(json.loads(json.dumps(config)), sort_keys=False, default_flow_style=None, width=110)
        lines = ["- **seed**: {}".format(record["seed"]), "- **git revision**: ``{}``".format(record["git_revision"]),
                 "- **python**: {}".format(record["python"]),
                 "- **packages**: " + ", ".join(f"{k} {v}" for k, v in record["packages"].items()), "",
                 # folded, so that the first page fits a screen; the whole config is one click away
                 ".. raw:: html", "",
                 "    <details><summary><b>Resolved config</b> (YAML, as the run used it)</summary><pre>"]
        lines += ["    " + escape(x) for x in text.splitlines()] + ["    </pre></details>"]
        write_text(rst, "\n".join(lines) + "\n")
