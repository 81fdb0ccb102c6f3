"""The paper's jobs as the cluster will see them (issue 31): every job of config/paper.yaml's DAG gets
an sbatch line, built by the SLURM plugin's own code from the resources Snakemake plans, that one
node of the config's shape can hold. No cluster is needed: the lines are checked by arithmetic here;
tests/test_slurm.py runs a job of that shape (several GPUs, one task) on the test cluster."""
import json
import re
import subprocess
import sys
from types import SimpleNamespace

import pytest
import yaml

from conftest import ROOT, snakemake
from mot.config import validate_config
from helpers import resources


def sbatch_line(res: dict) -> str:
    """The plugin's sbatch line for a job with these resources (as a dry run prints them), GPUs included."""
    from snakemake_executor_plugin_slurm.submit_string import get_submit_command
    from snakemake_executor_plugin_slurm.utils import set_gres_string

    res = {k: int(v) if v.isdigit() else v for k, v in res.items()}
    job = SimpleNamespace(resources=SimpleNamespace(**res, get=res.get, keys=res.keys), threads=1,
                          is_group=lambda: False)
    params = dict(run_uuid="x", slurm_logfile="x.log", comment_str="x", account="", partition="-p gpu", workdir=None)
    return get_submit_command(job, params) + set_gres_string(job)


def per_node(line: str) -> dict:
    """What one node of the allocation must hold: tasks x CPUs per task (or CPUs per GPU x GPUs), the
    memory (sbatch's --mem is per node) and the GPUs, spread evenly over --nodes."""
    flag = lambda name: int(m.group(1)) if (m := re.search(rf"--{name}[= ](\d+)", line)) else None  # noqa: E731
    nodes = flag("nodes") or 1
    gpus = int(m.group(1)) if (m := re.search(r"--gpus=(?:[\w.]+:)?(\d+)", line)) else 0
    tasks = flag("ntasks") or (flag("ntasks-per-gpu") or 0) * gpus or 1
    cpus = tasks * flag("cpus-per-task") if flag("cpus-per-task") else (flag("cpus-per-gpu") or 1) * max(gpus, 1)
    return {"cpus": -(-cpus // nodes), "mem_mb": flag("mem") or 0, "gpus": -(-gpus // nodes), "nodes": nodes}


def test_the_fit_check_refuses_the_old_line():
    """The check can fail: the plugin's default of one task per GPU with all the job's CPUs per task
    (what every 8-GPU job asked for before) needs 768 CPUs on one node."""
    old = per_node(sbatch_line({"gpu": "8", "nodes": "1", "cpus_per_task": "96", "mem_mb": "960000"}))
    assert old == {"cpus": 768, "mem_mb": 960000, "gpus": 8, "nodes": 1}
    new = per_node(sbatch_line({"gpu": "8", "nodes": "1", "cpus_per_task": "96", "mem_mb": "960000",
                                "tasks_per_gpu": "0"}))
    assert new == {"cpus": 96, "mem_mb": 960000, "gpus": 8, "nodes": 1}


@pytest.mark.parametrize("model", ["h100", "a100_80g", "nvidia.h200", "a100-80gb", "h100 nvl", "h100:4"])
def test_a_gpu_model_that_the_slurm_plugin_refuses_is_refused_by_the_config_check(model):
    """Issue 33, probe 21, case 20: `resources.gpu_model: a100-80gb` passed the config check; the plugin
    refused it at the first GPU job's submission, after the CPU jobs had run. The check now takes
    exactly what the plugin's own code takes."""
    from snakemake_executor_plugin_slurm.utils import set_gres_string
    from snakemake_interface_common.exceptions import WorkflowError

    from mot.io import MotError

    try:
        res = {"gpu_model": model, "gpu": 4}
        plugin = set_gres_string(SimpleNamespace(resources=SimpleNamespace(**res, get=res.get)))
    except WorkflowError:
        plugin = None
    config = paper()
    config["resources"]["gpu_model"] = model
    try:
        validate_config(config, ROOT / "config/schema.yaml", "config/paper.yaml")
        ours = True
    except MotError as e:
        assert "resources.gpu_model" in str(e) and "\n" not in str(e)
        ours = False
    assert ours == (plugin is not None), (model, plugin)


@pytest.mark.slow
def test_every_sbatch_line_of_the_paper_dag_fits_one_node(workdir):
    """All 500-odd jobs of all_analyses on config/paper.yaml: each line fits a node of
    resources.gpus_per_node GPUs, cpus_per_gpu CPUs and mem_mb_per_gpu MB per GPU; GPU jobs run one
    task per node (their command starts the processes), CPU jobs one task."""
    config = validate_config(yaml.safe_load((ROOT / "config/paper.yaml").read_text()),
                             ROOT / "config/schema.yaml", "paper.yaml")
    R = config["resources"]
    node = {"cpus": R["cpus_per_gpu"] * R["gpus_per_node"], "mem_mb": R["mem_mb_per_gpu"] * R["gpus_per_node"],
            "gpus": R["gpus_per_node"]}
    r = snakemake(workdir, "all_analyses", "--configfile", "config/paper.yaml", "-n")
    assert r.returncode == 0, r.stderr[-3000:]
    jobs = resources(r)
    assert len(jobs) > 500
    shapes = set()
    for (rule, wc), res in jobs.items():
        if rule in ("all_tables", "all_analyses"):
            continue
        line = sbatch_line(res)
        need = per_node(line)
        over = {k: (need[k], node[k]) for k in node if need[k] > node[k]}
        assert not over, f"{rule} ({wc}): needs {over} (job, node) on one node: {line}"
        if need["gpus"]:
            assert "--ntasks-per-gpu" not in line and need["cpus"] == R["cpus_per_gpu"] * need["gpus"], line
        shapes.add((rule, need["nodes"], need["gpus"]))
    # the shapes the paper needs: 8-GPU training and sampling, two 4-GPU shards, a two-node teacher
    assert {("sft", 1, 8), ("mot_branch", 1, 8), ("generate", 1, 8), ("generate_shard", 1, 4),
            ("generate", 2, 8), ("eval_run", 1, 1)} <= shapes, sorted(shapes)


# --------------------------------------------------------------------------- GPU memory
def paper():
    return yaml.safe_load((ROOT / "config/paper.yaml").read_text())


def test_the_memory_model_by_hand():
    """Qwen3-8B on 8 GPUs at 25,000 tokens, figures written out from the model's config.json."""
    from mot.memory import ARCHS, GIB, engine_memory, train_memory

    a = ARCHS["qwen3-8b"]
    root = 2 * 151936 * 4096  # embeddings and head (not tied)
    layer = (8.2e9 - root) / 36
    m = train_memory(a, gpus=8, tokens=25_000, chunk=2048)
    assert m["weights+optimizer"] == pytest.approx(16 * 8.2e9 / 8 / GIB)
    assert m["unsharded"] == pytest.approx(8 * (root + 2 * layer) / GIB)
    assert m["activations"] == pytest.approx((2 * 25_000 * 4096 * 36
                                              + 4 * 25_000 * ((32 + 2 * 8) * 128 + 5 * 4096 + 3 * 12288)) / GIB)
    assert m["loss"] == pytest.approx(14 * 2048 * 151936 / GIB)
    plain = train_memory(a, gpus=8, tokens=25_000)
    assert plain["loss"] == pytest.approx(49.5, abs=0.05)  # the 49 GiB of full-vocabulary logits
    assert plain["total"] > 80 > m["total"]
    # vLLM: QwQ-32B at TP 4: a quarter of the bf16 weights, and one 34,816-token sequence of KV cache
    e = engine_memory(ARCHS["qwq-32b"], tp=4, pp=1, max_model_len=34_816, utilization=0.9, gpu_gib=80)
    assert e["weights"] == pytest.approx(32.5e9 * 2 / 4 / GIB)
    assert e["kv_cache"] == pytest.approx(2 * 64 * 2 * 128 * 2 * 34_816 / GIB)  # 8 KV heads over TP 4: 2 each
    assert e["limit"] == pytest.approx(72.0)


def test_mot_plan_shows_every_gpu_jobs_memory_and_the_paper_plan_fits(tmp_path):
    from conftest import run_mot

    config = validate_config(paper(), ROOT / "config/schema.yaml", "paper.yaml")  # as rule plan hands it over
    r = run_mot("plan", "--config", json.dumps(config), "--out", tmp_path / "plan.md")
    assert r.returncode == 0, r.stderr
    md = (tmp_path / "plan.md").read_text()
    rows = [x for x in md.split("## GPU memory per GPU", 1)[1].split("\n## ", 1)[0].splitlines() if x.startswith("| ")]
    rows = rows[1:]  # the header's separator line does not start with "| "
    jobs = [x.split(" | ")[0].removeprefix("| ") for x in rows]
    students, teachers = ("qwen3-8b", "qwen3-14b", "qwen3-30b-a3b"), ("qwq", "qwen3-32b", "qwen3-235b", "deepseek-r1")
    assert set(jobs) == {*(f"{k} of {s}" for s in students for k in ("training", "evaluation", "general benchmarks")),
                         *(f"sampling of teacher {t}" for t in teachers),
                         *(f"sampling of Table 9's teacher {s}" for s in ("qwen3-14b", "qwen3-30b-a3b"))}
    assert all(x.endswith("| yes |") for x in rows), rows
    assert "weights+optimizer 28.4" in md  # Qwen3-30B-A3B over two nodes of 8


@pytest.mark.parametrize("change, message", [
    (lambda c: c["train"].update(loss_chunk_tokens=0),
     r"students\.qwen3-8b\.launch: the training of qwen3-8b \(Qwen/Qwen3-8B; 8 GPUs, 25,000 tokens per "
     r"micro-batch, plain loss\) needs 93\.\d GiB per GPU \(weights\+optimizer 15\.3, .*loss 49\.5, .*\), more than "
     r"80\.0 GiB .*: chunk the loss"),
    (lambda c: c["students"]["qwen3-30b-a3b"]["launch"].update(processes=8, nodes=1),
     r"students\.qwen3-30b-a3b\.launch: the training of qwen3-30b-a3b .* needs 86\.\d GiB per GPU"),
    (lambda c: c["eval"]["params"].update(engine={"max_model_len": 131072, "gpu_memory_utilization": 0.9}),
     r"eval\.params: the evaluation of qwen3-30b-a3b .* needs \d+\.\d GiB per GPU .*lower max_model_len"),
    (lambda c: c["resources"].update(gpu_mem_gib=40),  # a 40 GB A100
     r"students\.qwen3-8b\.launch: the training of qwen3-8b .* needs 48\.\d GiB per GPU .* more than 40\.0 GiB"),
])
def test_a_config_whose_job_cannot_fit_is_refused_in_one_line(change, message):
    from mot.io import MotError

    config = paper()
    change(config)
    with pytest.raises(MotError, match=message) as e:
        validate_config(config, ROOT / "config/schema.yaml", "config/paper.yaml")
    assert "\n" not in str(e.value) and str(e.value).startswith("config/paper.yaml: ")


def test_paper_figures_that_plan_readme_writes_into_docs_paper_are_the_current_codes(tmp_path):
    """docs/paper.md's memory and time-limit figures (mot plan --readme) are mot plan's of
    config/paper.yaml, as the code computes them now (rewrite them with the command this failure names)."""
    import shutil

    shutil.copy(ROOT / "docs/paper.md", tmp_path / "paper.md")
    r = subprocess.run([sys.executable, "-m", "mot", "plan", "--config", "config/paper.yaml", "--out",
                        str(tmp_path / "plan.md"), "--readme", str(tmp_path / "paper.md")], cwd=ROOT,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "paper.md").read_text() == (ROOT / "docs/paper.md").read_text(), (
        "docs/paper.md's paper-plan figures are stale: python3 -m mot plan --config config/paper.yaml "
        "--out results/plan.md --readme docs/paper.md")
