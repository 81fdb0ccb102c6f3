"""Jobs that span nodes: a Ray cluster over a SLURM allocation (a vLLM teacher with params.nodes > 1)
and one `accelerate launch` per node (a student with launch.nodes > 1).

The SLURM executor plugin starts a job's command once, on the first node of its allocation: as
`srun -n1 ...`, or, for a rule with the `mpi` resource (rules/common/resources.smk gives it to every job over
several nodes), as is in the batch script, leaving the other nodes to the command. This module
starts what runs there, by `srun` inside the allocation, and tears it down when the command ends:

    python3 -m mot.multinode ray -- CMD...      # a Ray head here, a worker per further node, then CMD
                                                #   with RAY_ADDRESS set (mot generate does this itself)
    python3 -m mot.multinode accelerate -- --num_processes 16 --num_machines 2 ... -m mot ... train ...
                                                # one srun step, a task per node: accelerate launch with
                                                #   that node's --machine_rank and the first node's
                                                #   --main_process_ip / --main_process_port

The first node is the batch host (where the command runs); the others follow in SLURM's order. Its
address is the one this node uses to reach the second node (MOT_HEAD_IP overrides it, e.g. to pick
the InfiniBand interface). A job that spans one node never comes here: its commands are those of a
single-node run.
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import select
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path

from .io import MotError
from .slurmjob import (Allocation, _forwarding_signals, _stopping_on_signals, allocation, free_port, head_ip,  # noqa: F401
                       srun, stop)

RAY_TIMEOUT_S = 300  # for every node to join the Ray cluster
# A raylet waits 15 s (fixed in Ray 2.x, no setting) for its dashboard and runtime-env agents to write
# their ports, and aborts its node when they miss it: on a busy node their start alone can take longer
# ("Timed out waiting for file .../metrics_agent_port_*": 20 to 43 s on CI's loaded cores, in an
# install without byte-compiled files, where each Python process of Ray compiles what it imports).
# Such a start is stopped and tried again; the failure names the raylet's own reason (raylet_fatal).
RAY_START_TRIES = 3


# Connects to the head (ray.init returns once this node's raylet has joined) and says so, then waits
# for every node's raylet and prints them as JSON: the SLURM node each was started on (the custom
# resource _node gives it), its address and whether it is the head.
_WAIT_FOR_NODES = """
import json, sys, time
import ray
address, n, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
ray.init(address=address, logging_level="ERROR", log_to_driver=False)
print("head joined", flush=True)
deadline = time.monotonic() + timeout
while True:
    alive = [x for x in ray.nodes() if x["Alive"]]
    if len(alive) >= n or time.monotonic() > deadline:
        break
    time.sleep(1)
print(json.dumps([{"node": next((k.split(":", 1)[1] for k in x["Resources"] if k.startswith("slurm-node:")), None),
                   "ip": x["NodeManagerAddress"], "head": "node:__internal_head__" in x["Resources"]} for x in alive]))
"""


class RayStartFailed(MotError):
    """A node's raylet ended before every node joined (on a busy node: its agents started too slowly)."""


def ray_auth() -> dict[str, str]:
    """Token authentication for the job's Ray cluster, the same for its head, its workers and every
    client (the waiter below, vLLM's driver): a fresh random token per job, passed by the environment
    (srun hands it to each node's step), never written to a file or printed. Ray 2.60 turns token
    authentication on by default for a head started without RAY_AUTH_MODE, while a client without it
    fails to connect ("Failed to connect to Ray cluster"). A user's own RAY_AUTH_MODE or RAY_AUTH_TOKEN
    is kept."""
    if os.environ.get("RAY_AUTH_MODE") or os.environ.get("RAY_AUTH_TOKEN"):
        return {}
    import secrets

    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}


@contextlib.contextmanager
def ray_cluster(nodes: int | None = None, timeout: float = RAY_TIMEOUT_S, tries: int = RAY_START_TRIES):
    """A Ray cluster over the job's `nodes` nodes: the head on this node, a worker on each other one,
    all joined before the body runs (RAY_ADDRESS and VLLM_HOST_IP set for it); all stopped after.
    A start whose raylet ends before every node joined is stopped and started again, `tries` in all."""
    alloc = allocation(nodes)
    ip = head_ip(alloc)
    auth = ray_auth()
    env = {**os.environ, **auth, "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}  # nothing to drain on the way out
    saved = {k: os.environ.get(k) for k in ("RAY_ADDRESS", "VLLM_HOST_IP", *auth)}
    procs = []
    with _stopping_on_signals():
        try:
            for attempt in range(1, tries + 1):
                try:
                    address, head = _start_ray(alloc, ip, timeout, env, procs)
                    break
                except RayStartFailed as e:
                    stop(procs)
                    procs.clear()
                    if attempt == tries:
                        raise
                    print(f"multinode: {e}; starting the Ray cluster again (try {attempt + 1} of {tries})",
                          file=sys.stderr, flush=True)
            print(f"multinode: Ray cluster at {address}: head on {alloc.head} ({head}), workers on "
                  f"{', '.join(alloc.nodes[1:])}", file=sys.stderr, flush=True)
            # vLLM finds its driver's node among Ray's nodes by this address
            os.environ.update(RAY_ADDRESS=address, VLLM_HOST_IP=head, **auth)
            yield address
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            stop(procs)
            print("multinode: Ray cluster stopped", file=sys.stderr, flush=True)


def _start_ray(alloc: Allocation, ip: str, timeout: float, env: dict, procs: list) -> tuple[str, str]:
    """Starts the head and the workers (their steps appended to procs) and waits until every node has
    joined; returns the cluster's address and the head's IP."""
    nodes = len(alloc.nodes)
    port = free_port(ip)
    began = time.time()
    address = f"{ip}:{port}"
    ray = [sys.executable, "-m", "mot.multinode", "node", "--ray", "--", "start", "--block", "--disable-usage-stats"]
    procs.append(srun([alloc.head], ray + ["--head", f"--node-ip-address={ip}", f"--port={port}",
                                           "--include-dashboard=false"], env=env))
    _wait_for_port(ip, port, procs[0], timeout)
    # ray.init gives a raylet 60 s (RAY_gcs_server_request_timeout_seconds) to register once the head's
    # port is open; on a busy node the head's can take longer, so the waiter gets the whole timeout
    waiter = subprocess.Popen([sys.executable, "-c", _WAIT_FOR_NODES, address, str(nodes), str(timeout)],
                              env={**env, "RAY_gcs_server_request_timeout_seconds": str(int(timeout))},
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    workers = False
    while waiter.poll() is None:  # a node's raylet that ends before it joined ends the wait
        if dead := [p for p in procs if p.poll() is not None]:
            waiter.kill()
            waiter.communicate()
            why = raylet_fatal(began)
            raise RayStartFailed(f"Ray cluster at {address}: a raylet step ended (srun status {dead[0].returncode})"
                                 " before every node joined; " + (f"the raylet's log: {why}" if why else "its output is above"))
        # The workers start once the head has joined, not beside it: each node starts half a dozen
        # Python helpers, and on a busy node those of two nodes at once missed the raylet's 15 s
        if not workers and select.select([waiter.stdout], [], [], 0.5)[0]:
            line = waiter.stdout.readline()
            if line.strip() == "head joined":
                procs.append(srun(alloc.nodes[1:], ray + [f"--address={address}"], env=env))
                workers = True
            elif not line:  # the waiter ended (its error follows)
                time.sleep(0.5)
        else:
            time.sleep(0.5)
    out, err = waiter.communicate()
    joined = json.loads(out.strip().splitlines()[-1]) if waiter.returncode == 0 and out.strip() else []
    heads = [x for x in joined if x["head"]]
    if sorted(x["node"] or "?" for x in joined) != sorted(alloc.nodes) or [x["node"] for x in heads] != [alloc.head]:
        got = ", ".join(f"{x['node']}{' (head)' if x['head'] else ''}" for x in joined) or "none"
        raise MotError(f"Ray cluster at {address}: want the head on {alloc.head} and a worker on each of "
                       f"{', '.join(alloc.nodes[1:])} within {timeout:.0f} s; joined: {got} {err.strip()[-300:]}")
    return address, heads[0]["ip"]


def raylet_fatal(since: float) -> str:
    """Why a raylet of this node ended, from the Ray session logs written since `since` (the step's
    output only says that the node "timed out during startup"), without Ray's boilerplate."""
    root = Path(os.environ.get("RAY_TMPDIR") or os.environ.get("TMPDIR") or "/tmp") / "ray"  # Ray's default
    found = []
    for log in root.glob("session_*/logs/raylet*.out"):
        with contextlib.suppress(OSError):
            if (mtime := log.stat().st_mtime) >= since:
                found += [(mtime, m[1]) for m in re.finditer(r"^\[[^\]]* [CF] \d+ \d+\] \(raylet\) (.*)$",
                                                             log.read_text(errors="replace"), re.M)]
    if not found:
        return ""
    where, _, what = max(found)[1].partition(": ")
    return f"{where}: {what.split('Check failed: ', 1)[-1].strip()}"[:400]


def _wait_for_port(ip: str, port: int, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RayStartFailed(f"the Ray head on {ip}:{port} exited with status {proc.returncode} before it started")
        with socket.socket() as s:
            s.settimeout(1)
            if s.connect_ex((ip, port)) == 0:
                return
        if time.monotonic() > deadline:
            raise MotError(f"the Ray head on {ip}:{port} did not start within {timeout:.0f} s")
        time.sleep(0.5)


def teacher_cluster(spec: dict):
    """The Ray cluster a teacher that spans nodes samples on (params.nodes > 1), else nothing."""
    from .backends import layout

    nodes = layout(spec["backend"], spec["params"])[2]
    return ray_cluster(nodes) if nodes > 1 else contextlib.nullcontext()


def _option(args: list[str], name: str) -> str | None:
    for i, a in enumerate(args):
        if a == name and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def accelerate(args: list[str]) -> int:
    """`accelerate launch ARGS` on every node of the job: machine rank, the first node's address and a
    free port added per node; the step (and so every node's processes) ends when one node fails."""
    nodes, processes = int(_option(args, "--num_machines") or 0), int(_option(args, "--num_processes") or 0)
    if nodes < 2:
        raise MotError("mot.multinode accelerate: the accelerate arguments need --num_machines N, N > 1")
    if processes % nodes:
        raise MotError(f"--num_processes {processes} (all nodes) does not split over --num_machines {nodes}")
    for opt in ("--machine_rank", "--main_process_ip", "--main_process_port"):
        if _option(args, opt) is not None:
            raise MotError(f"mot.multinode accelerate sets {opt} itself, per node")
    alloc = allocation(nodes)
    ip = head_ip(alloc)
    node = [sys.executable, "-m", "mot.multinode", "node", "--nodes", ",".join(alloc.nodes), "--ip", ip,
            "--port", str(free_port(ip)), "--", *args]
    proc = srun(alloc.nodes, node)
    with _forwarding_signals(proc):
        try:
            return proc.wait()
        finally:
            stop([proc])


def node_command(nodes: list[str], ip: str, port: int, args: list[str], name: str) -> list[str]:
    """This node's `accelerate launch`: its machine rank is its place in the job's node list."""
    if name not in nodes:
        raise MotError(f"node {name} is not one of this job's nodes ({', '.join(nodes)})")
    return [sys.executable, "-m", "accelerate.commands.launch", "--machine_rank", str(nodes.index(name)),
            "--main_process_ip", ip, "--main_process_port", str(port), *args]


def _node(a) -> int:
    """One node's task: its raylet (`ray start`, tagged with the node's SLURM name as a custom
    resource, so that the first node can tell who joined) or its `accelerate launch`."""
    name = os.environ.get("SLURMD_NODENAME") or socket.gethostname()
    if a.ray:
        cmd = [sys.executable, "-m", "ray.scripts.scripts", *a.args, f"--resources={json.dumps({f'slurm-node:{name}': 1})}"]
    else:
        cmd = node_command(a.nodes.split(","), a.ip, a.port, a.args, name)
    step = f"{os.environ.get('SLURM_JOB_ID', '?')}.{os.environ.get('SLURM_STEP_ID', '?')}"
    print(f"multinode: {name} (step {step}): {shlex.join(cmd)}", file=sys.stderr, flush=True)
    os.execv(cmd[0], cmd)


def _ray(a) -> int:
    if not a.args:
        raise MotError("mot.multinode ray: no command given (mot.multinode ray [--nodes N] -- CMD...)")
    with ray_cluster(a.nodes):
        proc = subprocess.Popen(a.args)
        with _forwarding_signals(proc):
            return proc.wait()


def main(argv: list[str] | None = None) -> int:
    import argparse

    argv = sys.argv[1:] if argv is None else argv
    rest = []
    if "--" in argv:
        i = argv.index("--")
        argv, rest = argv[:i], argv[i + 1:]
    p = argparse.ArgumentParser(prog="python3 -m mot.multinode", description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("ray", help="run a command on a Ray cluster over the job's nodes: ray [--nodes N] -- CMD...")
    r.add_argument("--nodes", type=int, default=None, help="the job's node count (default: the allocation's)")
    sub.add_parser("accelerate", help="accelerate launch on every node of the job: accelerate -- ACCELERATE_ARGS...")
    n = sub.add_parser("node", help=argparse.SUPPRESS)  # one node's task: node --ray -- RAY_ARGS, or the below
    n.add_argument("--ray", action="store_true")
    n.add_argument("--nodes")
    n.add_argument("--ip")
    n.add_argument("--port", type=int)
    a = p.parse_args(argv)
    a.args = rest
    try:
        if a.cmd == "ray":
            return _ray(a)
        if a.cmd == "accelerate":
            return accelerate(rest)
        return _node(a)
    except MotError as e:
        print(f"mot.multinode: error: {e}", file=sys.stderr, flush=True)
        return 1


if __name__ == "__main__":
    sys.exit(main())
