import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TINY_WORLD = dict(seed=0, pool_size=60, test_size=4, pretrain_size=40, ops_range=[1, 3], test_ops_range=[1, 3],
                  max_operand=9, max_value=99)
TINY_ARCH = dict(hidden_size=32, num_layers=1, num_heads=2, num_kv_heads=1, intermediate_size=64, max_position=256)


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory):
    from mot.world import make_world

    path = tmp_path_factory.mktemp("world") / "world.json"
    path.write_text(json.dumps(make_world(**TINY_WORLD)))
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, tiny_world):
    """A tiny saved Qwen3 with the world's tokenizer and chat template (2 pre-training steps)."""
    from mot.student import build_student, build_tokenizer

    d = tmp_path_factory.mktemp("model")
    build_tokenizer(str(tiny_world), str(d / "tok"), vocab_size=300)
    build_student(str(tiny_world), str(d / "tok"), TINY_ARCH,
                  dict(steps=2, batch_size=4, lr=1e-3, seed=0, noise=0.1, direct_fraction=0.2,
                       require_nonzero=False), str(d / "base"))
    return d / "base"


def run_mot(*args, check=False):
    return subprocess.run([sys.executable, "-m", "mot", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, check=check)


def snakemake(workdir, *args):
    """Run the workflow in a copy of the repository's workflow files (results land in workdir)."""
    return subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
                           "--directory", str(workdir), *args], capture_output=True, text=True,
                          cwd=workdir)


@pytest.fixture
def workdir(tmp_path):
    """A working directory with the workflow's config and data, as a user's checkout has."""
    for name in ("config", "data"):
        shutil.copytree(ROOT / name, tmp_path / name)
    return tmp_path


@pytest.fixture
def checkout(tmp_path):
    """A copy of the repository's workflow (Snakefile, rules, src, envs, config, data, profiles and
    the profile links at the root), as a clone has."""
    root = tmp_path / "checkout"
    root.mkdir()
    shutil.copy(ROOT / "Snakefile", root)
    for name in ("rules", "src", "envs", "config", "data", "profiles", "report"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("slurm", "local"):
        (root / name).symlink_to(f"profiles/{name}")
    return root


def snakemake_in(root, *args):
    """Run the workflow of a checkout from its root, as a user does."""
    return subprocess.run([sys.executable, "-m", "snakemake", *args], capture_output=True, text=True, cwd=root)
