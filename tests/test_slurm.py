"""The workflow on a real SLURM cluster: one node, started here from Debian's packages (slurmctld,
slurmd, munge), driven by `snakemake --profile slurm` through snakemake-executor-plugin-slurm.

Needs root and the packages (.ci/run installs them); skipped without them, except in CI (CI=true).
The cluster keeps no accounting database, so the plugin asks squeue for job states
(`--slurm-status-command squeue`; real clusters keep sacct), and MinJobAge keeps finished jobs
visible to squeue for longer than a status-check interval."""
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import slurm_cluster
from conftest import snakemake_in
from slurm_cluster import job_info

# xdist starts the groups by this mark (tests/conftest.py): the longest chains first
pytestmark = [pytest.mark.slow, pytest.mark.early(0)]
if not slurm_cluster.HAVE_SLURM:
    if os.environ.get("CI"):
        raise RuntimeError("CI needs a local SLURM: .ci/run installs slurmctld, slurmd, slurm-client and munge")
    pytest.skip("no local SLURM (root and Debian's slurmctld, slurmd, munge)", allow_module_level=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """One node with this machine's CPUs and two GPUs declared as a generic resource (SLURM places and
    refuses --gpus=N as on a GPU cluster; no process sees a GPU)."""
    d = tmp_path_factory.mktemp("slurm")
    with slurm_cluster.cluster(d, gpus=2) as env:
        yield env, d


# What the profile leaves to the cluster: this one has 2 CPUs and no accounting.
SLURM = ["--profile", "slurm", "--configfile", "config/test.yaml", "--jobs", "4",
         "--default-resources", "slurm_partition=cpu", "mem_mb=1000", "runtime=30", "cpus_per_task=1",
         "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "2",
         "--slurm-no-account", "--seconds-between-status-checks", "2", "--latency-wait", "5"]
# Through SLURM: the evaluations of two runs of one source whose DAG holds every kind of job that asks
# the cluster for something of its own (the world and its student, prompts, teacher generation,
# corpora, STD training, MoT's first branches, later branches and merges, evaluation): 18 jobs (MoT
# of the two peer teachers, report.peers, and the shifted teacher's STD run, on SYN-BOBA). The
# resources every job of the full grid asks for are checked without a cluster (tests/test_plan.py,
# test_workflow.py).
RUNS = ["mot-peers", "sft-shifted"]
TARGETS = [f"results/eval/tiny/syn-boba/{r}{ext}" for r in RUNS for ext in (".json", ".samples.jsonl")]


def test_profiles_are_found_by_name_at_the_repository_root(checkout):
    r = snakemake_in(checkout, "--profile", "local", "all_tables", "--configfile", "config/test.yaml", "-n")
    assert r.returncode == 0, r.stderr[-2000:]
    r = snakemake_in(checkout, "--profile", "slurm", "all_tables", "--configfile", "config/test.yaml", "-n")
    assert r.returncode == 0, r.stderr[-2000:]


def long_sft_config(checkout: Path, steps: int) -> str:
    """The test config with one long STD run (so that SLURM can stop it midway)."""
    import yaml

    cfg = yaml.safe_load((checkout / "config/test.yaml").read_text())
    cfg["train"].update(std_steps=steps, save_every=steps, rounds=2, steps_per_round=steps // 2)
    (checkout / "config/long.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return "config/long.yaml"


SFT = "results/models/tiny/syn-boba/sft-concise"
# The test freezes each attempt's `mot train` (SIGSTOP) once it has trained a hundred steps or so, and
# lets it go on (SIGCONT) only once SLURM has ended the job (time limit, scancel): its SIGTERM is then
# handled as it would be mid-step. So the run need not be long enough to outlast a time limit that
# slurmctld enforces 60 to 90 s after the start (it checks every 30 s) on a machine of any speed:
# step counts fitted to the machine's speed failed both ways (at 7,000 steps, CI's second attempt
# finished before the test cancelled it; a count measured under the suite's load was a third of what
# the job then trained). Each step is trained twice (the reference): few steps.
STEPS = 3000


def training_process(checkout: Path) -> int | None:
    """The pid of the SLURM job's `mot train` (its working directory is the checkout; the reference's
    is a copy of it)."""
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
            if b"mot" in cmd and b"train" in cmd and os.readlink(proc / "cwd") == str(checkout):
                return int(proc.name)
        except (OSError, ValueError):
            continue
    return None


def frozen_until_ended(env, checkout: Path, job: str, end=None) -> None:
    """Stops the job's training process, runs `end` (if any), and lets the process go on once SLURM no
    longer has the job RUNNING (it has sent SIGTERM, which the process takes on SIGCONT)."""
    pid = training_process(checkout)
    assert pid, "no training process of the SLURM job"
    os.kill(pid, signal.SIGSTOP)
    try:
        if end:
            end()
        deadline = time.time() + 300
        while job_info(env, job).get("JobState") == "RUNNING" and time.time() < deadline:
            time.sleep(0.2)
    finally:
        # SLURM itself sends SIGCONT before SIGTERM (time limit and scancel alike): the process may have
        # saved its state and exited already
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)


def run_async(checkout, env, *args):
    return subprocess.Popen([sys.executable, "-m", "snakemake", *args], cwd=checkout, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def squeue(env, name_part):
    out = subprocess.run(["squeue", "-h", "-o", "%i %j %T"], env=env, capture_output=True, text=True).stdout
    return [line.split() for line in out.splitlines() if name_part in line]


def job_process(checkout: Path, *words: bytes) -> int | None:
    """The pid of a SLURM job's `mot` process whose command line has these words, run in the checkout."""
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().split(b"\0")
            if b"mot" in cmd and all(w in cmd for w in words) and os.readlink(proc / "cwd") == str(checkout):
                return int(proc.name)
        except (OSError, ValueError):
            continue
    return None


def test_a_sampling_job_ended_by_its_time_limit_resumes_its_finished_chunks(cluster, checkout, tmp_path):
    """A teacher's sampling job (an hf teacher here: a model that takes its time) is ended by SLURM's
    time limit midway; Snakemake's retry samples only the prompts that were not done. The result equals an uninterrupted run's, byte for byte. The job
    is frozen (SIGSTOP) once its first chunks are on disk and let go once SLURM has ended it, as in the
    training test below, so the limit falls midway on a machine of any speed."""
    import yaml

    env, d = cluster
    cfg = yaml.safe_load((checkout / "config/test.yaml").read_text())
    base = next(p.parent for p in (checkout / "data/bases").glob("*/model.safetensors"))  # the shipped base
    cfg["sources"]["syn-boba"]["n"] = 16
    cfg["teachers"]["concise"] = {"backend": "hf", "params": {"model": str(base.relative_to(checkout)),
                                                              "batch_size": 1}}
    (checkout / "config/hf.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    target = "results/samples/syn-boba/concise.jsonl"
    r = snakemake_in(checkout, "results/prompts/syn-boba.jsonl", "--configfile", "config/hf.yaml", "--cores", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    local = tmp_path / "local"  # the reference: the same job uninterrupted, in a copy of the checkout
    shutil.copytree(checkout, local, symlinks=True)
    reference = subprocess.Popen([sys.executable, "-m", "snakemake", target, "--configfile", "config/hf.yaml",
                                  "--cores", "1"], cwd=local, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    proc = run_async(checkout, env, target, *SLURM, "--configfile", "config/hf.yaml", "--retries", "1",
                     "--set-resources", "generate:runtime=1 if attempt == 1 else 30")
    try:
        sampling_job_resumes(env, checkout, local, target, proc, reference)
    finally:  # a failure leaves no Snakemake behind to hold the cluster up
        for p in (proc, reference):
            p.kill()


def sampling_job_resumes(env, checkout, local, target, proc, reference):
    records = checkout / f"{target}.partial/records.jsonl"
    log = checkout / "results/logs/generate/syn-boba/concise.log"
    text = lambda: log.read_text() if log.exists() else ""  # noqa: E731
    deadline = time.time() + 600
    while not (records.exists() and records.read_text().count("\n") >= 1):
        assert proc.poll() is None and time.time() < deadline, proc.stdout.read()[-3000:]
        time.sleep(0.02)
    pid = job_process(checkout, b"generate")
    assert pid, "no sampling process of the SLURM job"
    os.kill(pid, signal.SIGSTOP)
    job = [j[0] for j in squeue(env, "") if j[2] == "RUNNING"][0]
    ended = time.time() + 600  # its own wait: under load, the first one had run out while the job ran (CI of
    try:  # 3de9912: let go, it sampled every prompt). At the limit SLURM sends SIGCONT, then SIGTERM
        while job_info(env, job).get("JobState") == "RUNNING":  # (the job turns COMPLETING)
            assert time.time() < ended, "SLURM did not end the job at its time limit"
            time.sleep(0.2)
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have ended already
            os.kill(pid, signal.SIGCONT)
    deadline = time.time() + 300  # from the job's end (KillWait is 30 s): a loaded machine reached the
    while Path(f"/proc/{pid}").exists() and "Z" not in slurm_cluster.status(pid):  # first deadline before
        assert time.time() < deadline, "the sampling process outlived its job"
        time.sleep(0.05)
    # What it kept: its finished chunks (whether it took the SIGTERM, with its one line, or SLURM's
    # SIGKILL came first: tests/test_generate.py checks the line)
    kept = records.read_text().count("\n")
    assert 1 <= kept < 16
    while job_info(env, job).get("JobState") in ("RUNNING", "COMPLETING") and time.time() < deadline:
        time.sleep(0.2)
    assert job_info(env, job).get("JobState") == "TIMEOUT", job_info(env, job)
    while "resuming:" not in text():  # attempt 2 writes the log anew
        assert proc.poll() is None and time.time() < deadline, proc.stdout.read()[-3000:]
        time.sleep(0.1)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-4000:]
    done = int(re.search(r"resuming: (\d+) of 16 prompts", text()).group(1))
    assert done == kept, text()[-2000:]  # what attempt 1 saved is not sampled again
    _, err = reference.communicate(timeout=600)
    assert reference.returncode == 0, err[-3000:]
    assert (checkout / target).read_bytes() == (local / target).read_bytes()


def test_a_two_gpu_job_asks_for_one_task_and_runs(cluster, checkout):
    """A training job of two processes, which the rules run on two GPUs (train.bf16: true), is one task
    with two GPUs and two CPUs: the node (2 CPUs, 2 GPUs) takes it. With one task per GPU, the
    plugin's default, the job would ask for 2 x 2 CPUs and sbatch would refuse it ("Requested node
    configuration is not available"). On this machine's CPUs the processes train with gloo."""
    import yaml

    env, _ = cluster
    cfg = yaml.safe_load((checkout / "config/test.yaml").read_text())
    cfg["train"]["bf16"] = True  # GPU training: the job holds a GPU per process (mot.plan.student_gpus)
    cfg["train"]["micro_batch_size"] = 2  # 4 sequences a step: 2 per process
    cfg["students"]["tiny"]["launch"] = {"processes": 2}
    (checkout / "config/gpus.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    r = snakemake_in(checkout, "results/corpora/syn-boba/concise.jsonl", "--configfile", "config/gpus.yaml",
                     "--cores", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    r = subprocess.run([sys.executable, "-m", "snakemake", SFT, *SLURM, "--configfile", "config/gpus.yaml"],
                       cwd=checkout, env=env, capture_output=True, text=True)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    assert (checkout / SFT / "model.safetensors").is_file()
    assert '"processes": 2' in (checkout / SFT / "mot_train.json").read_text()
    # What SLURM allocated: one task, both CPUs and both GPUs of the node. Asked of the controller (it
    # keeps a finished job for MinJobAge), not read from its log: a job the backfill scheduler starts
    # is logged without its CPUs ("backfill: Started JobId=N in gpu on node").
    jobs = re.findall(r"SLURM jobid (\d+)", r.stdout + r.stderr)
    assert len(jobs) == 1, (r.stdout + r.stderr)[-4000:]
    info = job_info(env, jobs[0])
    assert (info.get("NumTasks"), info.get("NumCPUs")) == ("1", "2"), info
    assert info.get("TresPerJob") == "gres:gpu:2", info


def test_a_timed_out_and_a_cancelled_training_job_resume_when_retried(cluster, checkout, tmp_path):
    """SLURM's time limit (SIGTERM at the limit, SIGKILL after KillWait) and scancel (the same signals)
    both end `mot train` with a saved state (exit 75); Snakemake's retries resume it; the weights are
    those of an uninterrupted run. One run: attempt 1 under a limit of 1 minute, the retries under
    30 minutes; attempt 2 is cancelled once it trains again; attempt 3 finishes."""
    env, d = cluster
    config = long_sft_config(checkout, STEPS)
    # What the training job reads (the world, the base, prompts, samples, the corpus) is built here
    # first: only the training job goes through SLURM (the plugin's status checks back off by 10 s
    # each, which would add about half a minute to each of five short jobs).
    r = snakemake_in(checkout, "results/corpora/syn-boba/concise.jsonl", "--configfile", config, "--cores", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    args = [SFT, *SLURM, "--configfile", config, "--retries", "4",
            "--set-resources", "sft:runtime=1 if attempt == 1 else 30"]
    # The reference, the same run uninterrupted in a plain local process, runs meanwhile (in a copy
    # of the checkout with those inputs and Snakemake's records of them, times kept).
    local = tmp_path / "local"
    shutil.copytree(checkout, local, symlinks=True)
    reference = subprocess.Popen([sys.executable, "-m", "snakemake", SFT, "--configfile", config, "--cores", "1"],
                                 cwd=local, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    proc = run_async(checkout, env, *args)
    log = checkout / "results/logs/sft/tiny/syn-boba/concise.log"
    text = lambda: log.read_text() if log.exists() else ""
    training = lambda now: re.search(r"\b(\d{3,})/%d" % STEPS, now) is not None  # a hundred steps or more

    def wait_for(what):  # the log is written anew by each attempt: watch it change
        deadline = time.time() + 900
        while not what(text()):
            assert proc.poll() is None and time.time() < deadline, proc.stdout.read()[-3000:]
            time.sleep(0.2)

    running = lambda: [j[0] for j in squeue(env, "") if j[2] == "RUNNING"][0]
    # attempt 1: frozen until its time limit has ended it
    wait_for(training)
    frozen_until_ended(env, checkout, running())
    wait_for(lambda now: "stop requested: saved a resumable state" in now)
    # attempt 2: frozen once it trains again, cancelled, let go
    wait_for(lambda now: "resuming at step" in now and training(now))
    job = running()
    frozen_until_ended(env, checkout, job, lambda: subprocess.run(["scancel", job], env=env, check=True))
    out, _ = proc.communicate(timeout=1200)
    assert proc.returncode == 0, out[-4000:]
    assert "resuming at step" in text(), text()[-2000:]  # attempt 3, after the cancel
    _, err = reference.communicate(timeout=1200)
    assert reference.returncode == 0, err[-3000:]
    assert (checkout / SFT / "model.safetensors").read_bytes() == (local / SFT / "model.safetensors").read_bytes()


# Last of the module: it compares with the session's shared tiny run, which another test process
# builds meanwhile (tests/conftest.py); the tests above need none of it.
def test_jobs_through_slurm_equal_a_local_run(cluster, checkout, request):
    """One job per MoT branch and merge, as the paper's config runs them on a cluster; the shared local
    run has one job per teacher set (config/test.yaml), which writes the same bytes."""
    import yaml

    env, d = cluster
    cfg = yaml.safe_load((checkout / "config/test.yaml").read_text())
    cfg["mot"]["jobs"] = "per_branch"
    (checkout / "config/branches.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    r = subprocess.run([sys.executable, "-m", "snakemake", *TARGETS, *SLURM, "--configfile", "config/branches.yaml"],
                       cwd=checkout, env=env, capture_output=True, text=True)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    out = r.stdout + r.stderr
    planned = int(re.search(r"^total\s+(\d+)", out, re.M).group(1))
    finished = re.findall(r"_job_complete: JobId=(\d+) done", (d / "slurmctld.log").read_text())
    assert planned == 18 and len(finished) >= planned, out[-2000:]  # every job ran on SLURM
    kinds = {"world", "world_student", "prompts", "generate", "corpus", "sft", "mot_first_branch", "mot_branch",
             "mot_merge", "eval_run"}
    assert kinds <= set(re.findall(r"^Finished jobid: \d+ \(Rule: (\w+)\)", out, re.M)), out[-2000:]
    # the local run: the session's shared one (asked for only now, so that the SLURM run went first)
    local = request.getfixturevalue("tiny_run")
    for t in TARGETS:
        assert (checkout / t).read_bytes() == (local / t).read_bytes(), t
