"""A real SLURM cluster on this host for the tests (tests/test_slurm.py: one node; tests/test_multinode.py:
two), from Debian's packages: slurmctld, one slurmd per node, munge. Needs root. Each cluster has its
own slurm.conf in its state directory and its own ports, so the two modules run at once in two test
processes (tests/conftest.py); nothing is written under /etc/slurm.

A SLURM command finds a config in SLURM_CONF, else at /etc/slurm/slurm.conf, where a real cluster keeps
it. SLURM_CONF reaches a job's batch script (the plugin's sbatch --export=ALL), but not the srun that
the plugin's jobstep executor starts inside the job (it drops every SLURM_ variable but the job's
identity), nor a command run under `env -i`. So each cluster's environment puts a directory first on
PATH whose SLURM commands (srun, sbatch, scontrol, ...) are the real ones with SLURM_CONF set: a shim
for where the config lives, nothing else."""
import contextlib
import os
import re
import shutil
import socket
import stat
import subprocess
import time
from pathlib import Path

from helpers import free_port

NEEDS = ("slurmctld", "slurmd", "munged", "sbatch", "squeue", "srun")
CLIENTS = ("sbatch", "srun", "squeue", "scontrol", "scancel", "sinfo", "sacct", "salloc", "sstat")
HAVE_SLURM = all(shutil.which(x) for x in NEEDS) and os.geteuid() == 0


def job_info(env, job: str) -> dict:
    """`scontrol show job -o` as {key: value} (empty once SLURM has forgotten the job)."""
    out = subprocess.run(["scontrol", "show", "job", "-o", job], env=env, capture_output=True, text=True).stdout
    return dict(m.groups() for m in re.finditer(r"(\S+?)=(\S*)", out))


def status(pid) -> str:
    try:
        return next(x for x in Path(f"/proc/{pid}/status").read_text().splitlines() if x.startswith("State:"))
    except (OSError, StopIteration):
        return "Z"


def wait_gone(pids, timeout=60):
    deadline = time.time() + timeout
    while any(Path(f"/proc/{p}").exists() and "Z" not in status(p) for p in pids):
        assert time.time() < deadline, f"processes {pids} still running"
        time.sleep(0.5)


def start_munge():
    if subprocess.run("munge -n | unmunge", shell=True, capture_output=True).returncode == 0:
        return  # already running
    if not Path("/etc/munge/munge.key").is_file():
        subprocess.run(["mungekey", "--create"], check=True)
    Path("/run/munge").mkdir(exist_ok=True)
    shutil.chown("/run/munge", "munge", "munge")
    subprocess.run(["runuser", "-u", "munge", "--", "munged"], check=True)


@contextlib.contextmanager
def cluster(d: Path, nodes: tuple[str, ...] = (), min_job_age: int = 120, mem_share: float = 0.8, gpus: int = 0):
    """A running cluster with its state in `d`; yields the environment to run SLURM's commands in.
    No `nodes`: one node named after this host. Named nodes: one slurmd each on this host (`slurmd -N`),
    each on its own port, sharing `mem_share` of the memory each. MinJobAge keeps finished jobs visible
    to squeue (the tests' status command: the cluster keeps no accounting) for that many seconds.
    `gpus`: each node declares that many GPUs as a generic resource (a count, no devices), so that
    SLURM places and refuses GPU jobs (--gpus=N) as a GPU cluster does; no process sees a GPU."""
    conf, gres_conf = d / "slurm.conf", d / "gres.conf"  # slurmd reads gres.conf beside slurm.conf
    host = socket.gethostname()
    mem = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2 ** 20 * mem_share)
    gres = f" Gres=gpu:{gpus}" if gpus else ""
    if nodes:
        lines = "\n".join(f"NodeName={n} NodeHostname={host} NodeAddr=127.0.0.1 Port={free_port()} "
                          f"CPUs={os.cpu_count()} RealMemory={mem}{gres} State=UNKNOWN" for n in nodes)
        spool, pid = f"{d}/spool/%n", f"{d}/slurmd-%n.pid"
        pid_files = [d / f"slurmd-{n}.pid" for n in nodes]
    else:
        lines = f"NodeName={host} Port={free_port()} CPUs={os.cpu_count()} RealMemory={mem}{gres} State=UNKNOWN"
        spool, pid, pid_files = f"{d}/spool", f"{d}/slurmd.pid", [d / "slurmd.pid"]
    for sub in ("state", "spool", *(f"spool/{n}" for n in nodes)):
        (d / sub).mkdir(parents=True, exist_ok=True)
    conf.write_text(f"""ClusterName=mot-test
SlurmctldHost={host}
SlurmctldPort={free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MpiDefault=none
GresTypes=gpu
ReturnToService=2
MinJobAge={min_job_age}
KillWait=30
SchedulerType=sched/backfill
StateSaveLocation={d}/state
SlurmdSpoolDir={spool}
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={pid}
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd-%n.log
{lines}
PartitionName=cpu Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=ALL MaxTime=INFINITE State=UP
""")
    # slurmd drops a GPU without a device file: each is a character device of /dev/null's numbers
    for i in range(gpus):
        if not (d / f"gpu{i}").exists():
            os.mknod(d / f"gpu{i}", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    gres_conf.write_text((f"Name=gpu File={d}/gpu[0-{gpus - 1}]\n" if gpus else ""))
    bin_dir = d / "bin"  # the cluster's SLURM commands (the module's docstring)
    bin_dir.mkdir(exist_ok=True)
    for cmd, real in ((c, shutil.which(c)) for c in CLIENTS):
        if not real:
            continue
        (bin_dir / cmd).write_text(f'#!/bin/sh\nSLURM_CONF={conf} exec {real} "$@"\n')
        (bin_dir / cmd).chmod(0o755)
    env = {**os.environ, "SLURM_CONF": str(conf), "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    try:
        start_munge()
        subprocess.run(["slurmctld", "-f", str(conf)], check=True)
        for n in nodes or [None]:
            subprocess.run(["slurmd", "-f", str(conf), *(["-N", n] if n else [])], check=True)
        want = ["idle", str(max(len(nodes), 1))]
        deadline = time.time() + 60
        while subprocess.run(["sinfo", "-h", "-o", "%t %D"], env=env, capture_output=True,
                             text=True).stdout.split() != want:
            assert time.time() < deadline, (d / "slurmctld.log").read_text()[-2000:]
            time.sleep(0.5)
        yield env
    finally:
        subprocess.run(["scancel", "--user", "root"], env=env, capture_output=True)
        pids = [int(p.read_text()) for p in (*pid_files, d / "slurmctld.pid") if p.is_file()]
        for p in pids:
            subprocess.run(["kill", str(p)])
        wait_gone(pids)
