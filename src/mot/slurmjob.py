"""The SLURM allocation a job runs in: its nodes in order, the first node's address, a step on
some of its nodes (`srun`), and the teardown of what the job started there, on its signals too
(mot.multinode builds a Ray cluster and a multi-node `accelerate launch` on these)."""
from __future__ import annotations

import contextlib
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

from .io import MotError


STOP_TIMEOUT_S = 30  # for a node's processes to end after SIGTERM, before SIGKILL


@dataclass
class Allocation:
    job: str
    nodes: list[str]  # the first node (this one, the batch host) first

    @property
    def head(self) -> str:
        return self.nodes[0]


def _run(args: list[str]) -> str:
    try:
        return subprocess.run(args, capture_output=True, text=True, check=True).stdout
    except FileNotFoundError:
        raise MotError(f"{args[0]} not found: a job over several nodes runs inside a SLURM allocation") from None
    except subprocess.CalledProcessError as e:
        raise MotError(f"{' '.join(args)} failed: {(e.stderr or e.stdout).strip()[:300]}") from None


def _fields(text: str) -> dict[str, str]:
    """`scontrol show ... -o` output as {key: value}."""
    return dict(m.groups() for m in re.finditer(r"(\S+?)=(\S*)", text))


def allocation(nodes: int | None = None) -> Allocation:
    """The job's nodes from SLURM (the plugin leaves only SLURM_JOB_ID in the command's environment);
    `nodes`: how many the job must have."""
    job = os.environ.get("SLURM_JOB_ID") or os.environ.get("SLURM_JOBID")
    if not job:
        raise MotError(f"this job spans {nodes or 'several'} nodes: run it inside a SLURM allocation "
                       "(snakemake --profile slurm), or set the teacher's params.nodes / the student's "
                       "launch.nodes to 1")
    info = _fields(_run(["scontrol", "show", "job", "-o", job]))
    names = _run(["scontrol", "show", "hostnames", info.get("NodeList", "")]).split()
    head = info.get("BatchHost") or names[0]
    names = [head] + [n for n in names if n != head]
    if nodes is not None and len(names) != nodes:
        raise MotError(f"this job spans {nodes} nodes, but SLURM job {job} has {len(names)} ({', '.join(names)})")
    if len(names) < 2:
        raise MotError(f"SLURM job {job} has one node ({names[0]}): nothing to start on other nodes")
    return Allocation(job, names)


def node_address(node: str) -> str:
    """The IP address SLURM reaches a node at (its NodeAddr)."""
    addr = _fields(_run(["scontrol", "show", "node", "-o", node])).get("NodeAddr") or node
    try:
        return socket.gethostbyname(addr)
    except OSError as e:
        raise MotError(f"node {node}: cannot resolve its address {addr} ({e})") from None


def head_ip(alloc: Allocation) -> str:
    """The first node's address as the other nodes reach it: MOT_HEAD_IP, else the address of the
    interface this node routes to the second node through (not 127.0.1.1 from /etc/hosts)."""
    if os.environ.get("MOT_HEAD_IP"):
        return os.environ["MOT_HEAD_IP"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect((node_address(alloc.nodes[1]), 9))  # UDP: nothing is sent
        return s.getsockname()[0]


def free_port(ip: str) -> int:
    with socket.socket() as s:
        s.bind((ip, 0))
        return s.getsockname()[1]


def srun(nodes: list[str], cmd: list[str], env: dict | None = None, **popen) -> subprocess.Popen:
    """One step over `nodes`, one task per node, with all of the job's CPUs, memory and GPUs there
    (srun's default); --overlap, so that it never waits for another step of the job."""
    args = ["srun", f"--nodes={len(nodes)}", f"--ntasks={len(nodes)}", "--ntasks-per-node=1",
            f"--nodelist={','.join(nodes)}", "--overlap", "--kill-on-bad-exit=1", *cmd]
    print(f"multinode: {shlex.join(args)}", file=sys.stderr, flush=True)
    return subprocess.Popen(args, env=env, **popen)


def stop(procs: list[subprocess.Popen], timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM each step (srun forwards it to its tasks), last started first; SIGKILL what is left."""
    for p in reversed(procs):
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + timeout
    for p in reversed(procs):
        try:
            p.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


@contextlib.contextmanager
def _stopping_on_signals():
    """SIGTERM / SIGUSR1 (SLURM's scancel, time limit, preemption warning) end the command with
    SystemExit, so that the cluster is torn down on the way out."""
    def handle(signum, frame):
        raise SystemExit(128 + signum)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGTERM, signal.SIGUSR1)}
    try:
        yield
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)


@contextlib.contextmanager
def _forwarding_signals(proc: subprocess.Popen):
    """SIGTERM / SIGUSR1 / SIGINT to this process go on to `proc` (whose exit status then counts):
    srun passes them to every node's tasks, and `mot train` saves a resumable state on them."""
    def forward(signum, frame):
        if proc.poll() is None:
            proc.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGUSR1, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, h in previous.items():
            signal.signal(sig, h)
