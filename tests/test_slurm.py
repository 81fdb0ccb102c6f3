"""The workflow on a real SLURM cluster: one node, started here from Debian's packages (slurmctld,
slurmd, munge), driven by `snakemake --profile slurm` through snakemake-executor-plugin-slurm.

Needs root and the packages (.ci/run installs them); skipped without them, except in CI (CI=true).
The cluster keeps no accounting database, so the plugin asks squeue for job states
(`--slurm-status-command squeue`; real clusters keep sacct), and MinJobAge keeps finished jobs
visible to squeue for longer than a status-check interval."""
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import snakemake_in

pytestmark = pytest.mark.slow
NEEDS = ("slurmctld", "slurmd", "munged", "sbatch", "squeue")
if not (all(shutil.which(x) for x in NEEDS) and os.geteuid() == 0):
    if os.environ.get("CI"):
        raise RuntimeError("CI needs a local SLURM: .ci/run installs slurmctld, slurmd, slurm-client and munge")
    pytest.skip("no local SLURM (root and Debian's slurmctld, slurmd, munge)", allow_module_level=True)


def slurm_conf(d: Path) -> Path:
    host = socket.gethostname()
    mem = int(int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")) / 2 ** 20 * 0.8)
    conf = d / "slurm.conf"
    conf.write_text(f"""ClusterName=mot-test
SlurmctldHost={host}
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
ReturnToService=2
MinJobAge=120
KillWait=30
SchedulerType=sched/backfill
StateSaveLocation={d}/state
SlurmdSpoolDir={d}/spool
SlurmctldPidFile={d}/slurmctld.pid
SlurmdPidFile={d}/slurmd.pid
SlurmctldLogFile={d}/slurmctld.log
SlurmdLogFile={d}/slurmd.log
NodeName={host} CPUs={os.cpu_count()} RealMemory={mem} State=UNKNOWN
PartitionName=cpu Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=ALL MaxTime=INFINITE State=UP
""")
    return conf


def munge_running() -> bool:
    return subprocess.run("munge -n | unmunge", shell=True, capture_output=True).returncode == 0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    d = tmp_path_factory.mktemp("slurm")
    (d / "state").mkdir()
    (d / "spool").mkdir()
    conf = slurm_conf(d)
    if not munge_running():
        if not Path("/etc/munge/munge.key").is_file():
            subprocess.run(["mungekey", "--create"], check=True)
        Path("/run/munge").mkdir(exist_ok=True)
        shutil.chown("/run/munge", "munge", "munge")
        subprocess.run(["runuser", "-u", "munge", "--", "munged"], check=True)
    subprocess.run(["slurmctld", "-f", str(conf)], check=True)
    subprocess.run(["slurmd", "-f", str(conf)], check=True)
    env = {**os.environ, "SLURM_CONF": str(conf)}
    deadline = time.time() + 60
    while "idle" not in subprocess.run(["sinfo", "-h", "-o", "%t"], env=env, capture_output=True, text=True).stdout:
        assert time.time() < deadline, (d / "slurmctld.log").read_text()[-2000:]
        time.sleep(0.5)
    yield env, d
    subprocess.run(["scancel", "--user", "root"], env=env)
    for pid in ("slurmd.pid", "slurmctld.pid"):
        if (d / pid).is_file():
            subprocess.run(["kill", (d / pid).read_text().strip()])


# What the profile leaves to the cluster: this one has 2 CPUs and no accounting.
SLURM = ["--profile", "slurm", "--configfile", "config/test.yaml", "--jobs", "4",
         "--default-resources", "slurm_partition=cpu", "mem_mb=1000", "runtime=30", "cpus_per_task=1",
         "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "2",
         "--slurm-no-account", "--seconds-between-status-checks", "2", "--latency-wait", "5"]
TABLES = ["table1", "table2", "table5", "table6", "table7", "table8", "table10", "table11", "table12", "table13"]


def test_profiles_are_found_by_name_at_the_repository_root(checkout):
    r = snakemake_in(checkout, "--profile", "local", "all_tables", "--configfile", "config/test.yaml", "-n")
    assert r.returncode == 0, r.stderr[-2000:]
    r = snakemake_in(checkout, "--profile", "slurm", "all_tables", "--configfile", "config/test.yaml", "-n")
    assert r.returncode == 0, r.stderr[-2000:]


def test_all_tables_through_slurm_equal_a_local_run(cluster, checkout, tmp_path):
    env, d = cluster
    local = tmp_path / "local"
    shutil.copytree(checkout, local)
    r = snakemake_in(local, "all_tables", "--configfile", "config/test.yaml", "--cores", "2")
    assert r.returncode == 0, r.stderr[-3000:]

    r = subprocess.run([sys.executable, "-m", "snakemake", "all_tables", *SLURM], cwd=checkout, env=env,
                       capture_output=True, text=True)
    assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
    submitted = re.findall(r"submitted with SLURM jobid (\d+)|SLURM run ID|jobid[: ]+(\d+)", r.stdout + r.stderr)
    finished = re.findall(r"_job_complete: JobId=(\d+) done", (d / "slurmctld.log").read_text())
    assert len(finished) >= 50, (r.stdout + r.stderr)[-2000:]  # every job of the DAG ran as a SLURM job
    assert submitted
    for t in TABLES:
        assert (checkout / f"results/tables/{t}.csv").read_bytes() == (local / f"results/tables/{t}.csv").read_bytes(), t
