"""Helpers the Snakefile imports: environment set-up for rule jobs."""
from __future__ import annotations

import os


def job_environment(src: str, python: str) -> None:
    """Make `python3 -m mot` in a rule's shell find this checkout's package and interpreter.

    The interpreter running Snakemake comes first on PATH, so `.venv/bin/snakemake` works without
    activating the environment (under --use-conda the activated env's python3 goes in front of
    it); src/ goes on PYTHONPATH, so the package runs from the checkout, installed or not.
    """
    os.environ["PATH"] = os.pathsep.join([os.path.dirname(python), os.environ.get("PATH", "")])
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [src, os.environ.get("PYTHONPATH")]))
