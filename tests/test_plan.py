"""Compute plan: job counts as the workflow schedules them, the reference lower bound, runtimes, Markdown.

Expected counts are written out by hand from the configs (not computed by the code under test)."""
import math

import pytest
import yaml

from mot.plan import job_runtime_minutes, lower_bound, params, plan, read_corpus_stats
from mot.planview import render

from conftest import ROOT
from helpers import load_config


def load(name):
    """A shipped config as the workflow hands it to mot plan: validated, defaults filled in."""
    from mot.config import validate_config

    return validate_config(load_config(name), ROOT / "config/schema.yaml", name)


def jobs(result):
    return {stage: s["jobs"] for stage, s in result["stages"].items()}


@pytest.mark.parametrize("mode", ["per_branch", "per_set"])
def test_job_counts_default_config(mode):
    config = load("config.yaml")
    config["mot"]["jobs"] = mode
    # 1 student, 2 sources, 4 teachers (no shards), sets of 4/3/2 teachers and 3 merge-method
    # variants of the set of 4 (analyses.merge_methods), 4 rounds; 2 probed runs x 5 lambdas; Table 9's
    # 3 teachers (the student's base, best STD and MoT) on one source, and the student's STD run on each
    assert jobs(plan(config)) == {
        "generate": 2 * 4 + 3,
        "train_std": 1 * 2 * 4 + 3,
        "train_mtd": 1 * 2,
        # per branch: round 1 shared, then one per (set, round, teacher); per set: a first-round job
        # and one job per set (which also merges)
        "train_mot": 1 * 2 * (4 + (4 + 3 + 2 + 3 * 4) * (4 - 1)) if mode == "per_branch" else 1 * 2 * (1 + 6),
        "merge": 1 * 2 * 6 * 4 if mode == "per_branch" else 0,  # per (set, round), rounds 1..4
        "probe": 1 * 2 * 2 * 5,
        "eval": 1 + 1 * 2 * (4 + 1 + 6 + 2) + 3,         # base + (STD x 4, MTD, MoT x 6, 2 probes) per source
        "general": 1 + 1 * 2 * 2,                         # base + (best STD, MoT) per source
        # tables 1,2,3,4,5,6,7,8,9,10,11,12,13, differences, decomposition, merge_methods, the summary; 5 figures
        "tables": 17 + 5,
    }


def test_evaluation_tokens_count_the_validation_set_too():
    # config.yaml: (2 x 300 test + 100 validation problems) x n 1 x 256 tokens per checkpoint; 109
    # checkpoints: the base, then per source 4 STD + 1 MTD runs x 4 saved steps, 6 sets x 4 rounds
    # and 2 probes x 5 lambdas; Table 9's 3 STD runs x 4 saved steps on one source
    assert plan(load("config.yaml"))["stages"]["eval"]["tokens"] == \
        (2 * 300 + 100) * 1 * 256 * (1 + 2 * (5 * 4 + 6 * 4 + 2 * 5) + 3 * 4)


def test_general_benchmark_tokens():
    # config.yaml: 3 world tasks x 200 problems x 256 tokens per model; paper.yaml: IFEval, MMLU-Pro,
    # MMLU-Redux and GPQA-Diamond generate (C-Eval is scored by log-likelihood) at the 14k-token mean
    assert plan(load("config.yaml"))["stages"]["general"]["tokens"] == 5 * 3 * 200 * 256
    paper = plan(load("paper.yaml"))
    assert paper["stages"]["general"]["tokens"] == 15 * (541 + 12032 + 5700 + 198) * 14_000
    assert paper["students"]["qwen3-8b"]["stages"]["general"]["gpus_per_job"] == 1


def test_job_counts_paper_config():
    # 3 students, 2 sources, teachers with 2, 2, 1, 1 shards, sets of 4/3/2 teachers, 5 rounds;
    # 2 probed runs x 6 lambdas of the 8B student; Table 9's 2 pairs of 3 teachers on BOBA-200
    assert jobs(plan(load("paper.yaml"))) == {
        "generate": 2 * (2 + 2 + 1 + 1) + 2 * 3,
        "train_std": 3 * 2 * 4 + 2 * 3,
        "train_mtd": 3 * 2,
        "train_mot": 3 * 2 * (4 + (4 + 3 + 2) * (5 - 1)),
        "merge": 3 * 2 * 3 * 5,
        "probe": 1 * 2 * 2 * 6,
        "eval": 3 + 3 * 2 * (4 + 1 + 3) + 1 * 2 * 2 + 2 * 3,
        "general": 3 * (1 + 2 * 2),
        "tables": 16 + 5,
    }


def test_per_set_mode_same_gpu_hours_fewer_jobs():
    paper = load("paper.yaml")
    assert paper["mot"]["jobs"] == "per_branch"
    per_branch = plan(paper)
    paper["mot"]["jobs"] = "per_set"
    per_set = plan(paper)
    assert (jobs(per_set)["train_mot"], jobs(per_set)["merge"]) == (3 * 2 * (1 + 3), 0)
    assert per_set["gpu_hours"] == pytest.approx(per_branch["gpu_hours"])
    assert job_runtime_minutes(paper, "train_mot", student="qwen3-8b") == \
        per_branch["students"]["qwen3-8b"]["stages"]["train_mot"]["runtime_min"]  # still per branch


def test_gpus_per_job_paper():
    r = plan(load("paper.yaml"))
    assert {t: s["gpus_per_job"] for t, s in r["generate"].items()} == \
        {"qwq": 4, "qwen3-32b": 4, "qwen3-235b": 8, "deepseek-r1": 16}
    s = r["students"]["qwen3-8b"]["stages"]
    assert (s["train_std"]["gpus_per_job"], s["train_mot"]["gpus_per_job"], s["merge"]["gpus_per_job"],
            s["eval"]["gpus_per_job"]) == (8, 8, 0, 1)


def test_paper_lower_bound_reproduces_the_reference():
    lb = lower_bound(load("paper.yaml"), "qwen3-8b")
    assert lb["total"] == pytest.approx(50, rel=0.02)
    assert lb["train"] == pytest.approx(19.5, rel=0.02)
    assert lb["generate"] == pytest.approx(19, rel=0.05)
    assert lb["eval"] == pytest.approx(11, rel=0.05)
    # training: 4 branches x 5 rounds x 50 steps x 64 sequences x 11k tokens, 6 x 8.2e9 FLOPs/token, 50% of 989 TF
    assert lb["train"] == pytest.approx(4 * 5 * 50 * 64 * 11_000 * 6 * 8.2e9 / (0.5 * 989e12) / 3600)
    # sampling: 4 teachers x 200 prompts x 16 samples x 11k tokens at 2,000 tokens/s per GPU
    assert lb["generate"] == pytest.approx(4 * 200 * 16 * 11_000 / 2_000 / 3600)
    # evaluation: (base + 5 rounds) x 60 problems x 16 samples x 14k tokens at 2,000 tokens/s per GPU
    assert lb["eval"] == pytest.approx(6 * 60 * 16 * 14_000 / 2_000 / 3600)


def test_paper_stage_gpu_hours():
    r = plan(load("paper.yaml"))
    # + Table 9's 3 Qwen3-14B and 3 Qwen3-30B-A3B teachers on BOBA-200
    gen = (2 * 4 + 2 * 3) * 200 * 16 * 11_000 / 2_000 / 3600
    assert r["stages"]["generate"]["gpu_hours"] == pytest.approx(gen)
    # + Table 9: Qwen3-8B's STD runs on the 3 corpora
    train_8b = (2 * (4 * 250 + 250 + 4 * 50 + (4 + 3 + 2) * 4 * 50) + 3 * 250) * 64 * 11_000 * 6 * 8.2e9 \
        / (0.5 * 989e12) / 3600
    own = r["students"]["qwen3-8b"]["stages"]
    assert sum(own[k]["gpu_hours"] for k in ("train_std", "train_mtd", "train_mot")) == pytest.approx(train_8b)
    ckpts = 1 + 2 * (4 * 5 + 5 + 3 * 5) + 3 * 5  # + Table 9
    probe = 2 * 2 * 6 * 30 * 64  # the probe: 2 runs x 6 lambdas per source, AIME24's 30 problems x 64 samples
    assert own["eval"]["gpu_hours"] == pytest.approx((ckpts * 60 * 16 + probe) * 14_000 / 2_000 / 3600)
    assert r["gpu_hours"] == pytest.approx(sum(s["gpu_hours"] for s in r["stages"].values()))


def test_paper_plan_counts_table9s_second_pair_and_the_probes_64_samples():
    """Issue 19: Table 9's second pair (Qwen3-30B-A3B's base, best STD and MoT models teach Qwen3-14B
    on BOBA-200) and Figure 5's probe as the paper ran it (AIME24, 64 samples, the 8B student)."""
    paper = load("paper.yaml")
    r = plan(paper)
    s14, s8, s30 = (r["students"][s]["stages"] for s in ("qwen3-14b", "qwen3-8b", "qwen3-30b-a3b"))
    # Qwen3-14B: STD on 4 teachers x 2 sources, and on the 3 corpora of its Qwen3-30B-A3B teachers
    assert (s8["train_std"]["jobs"], s14["train_std"]["jobs"], s30["train_std"]["jobs"]) == (8 + 3, 8 + 3, 8)
    assert s14["train_std"]["tokens"] == pytest.approx((8 + 3) * 250 * 64 * 11_000)
    # each teacher samples BOBA-200's 200 prompts x 16 once, on TP 2, at one vLLM job's 2,000 tokens/s, 300 s
    # start, x2
    for t in ("as-qwen3-14b-base", "as-qwen3-14b-best-std", "as-qwen3-30b-a3b-mot"):
        assert job_runtime_minutes(paper, "generate", teacher=t, source="boba") == \
            math.ceil(2 * (200 * 16 * 11_000 / 2_000 + 300) / 60)
    # its 5 checkpoints in one engine: one start, then 4 loads of 14.8B bf16 parameters at 1 GB/s
    assert job_runtime_minutes(paper, "eval", student="qwen3-14b", source="boba", run="sft-as-qwen3-30b-a3b-mot") \
        == math.ceil(2 * (5 * 60 * 16 * 14_000 / 2_000 + 300 + 4 * 2 * 14.8e9 / 1e9) / 60)
    # the probe: the 8B only; each point 64 samples of AIME24's 30 problems, not 16 of AIME24/25's 60
    assert (s8["probe"]["jobs"], s14["probe"]["jobs"], s30["probe"]["jobs"]) == (2 * 2 * 6, 0, 0)
    assert job_runtime_minutes(paper, "eval", student="qwen3-8b", source="boba", run="probe-mot-all") == \
        math.ceil(2 * (6 * 30 * 64 * 14_000 / 2_000 + 300 + 5 * 2 * 8.2e9 / 1e9) / 60)
    assert s8["eval"]["tokens"] - s14["eval"]["tokens"] == pytest.approx(2 * 2 * 6 * 30 * 64 * 14_000)
    assert r["students"]["qwen3-8b"]["ckpts"] == 1 + 2 * (4 * 5 + 5 + 3 * 5 + 2 * 6) + 3 * 5


def test_plan_probe_and_student_teacher_defaults_keep_the_single_forms():
    """Without probe n/benchmarks/students, the probe is eval's protocol on every student; one
    student_teacher mapping is the same plan as a list of that one pair."""
    config = load("config.yaml")
    one = plan(config)
    config["analyses"]["probe"].update(n=config["eval"]["n"], benchmarks=config["eval"]["benchmarks"],
                                       students=list(config["students"]))
    config["analyses"]["student_teacher"] = [config["analyses"]["student_teacher"]]
    assert plan(config) == one


def test_runtime_minutes():
    paper = load("paper.yaml")
    # STD of the 8B on 8 GPUs: compute / 8 + 600 s start, x2, in minutes
    std_s = 250 * 64 * 11_000 * 6 * 8.2e9 / (0.5 * 989e12)
    assert job_runtime_minutes(paper, "train_std", student="qwen3-8b") == math.ceil(2 * (std_s / 8 + 600) / 60)
    # sampling: the job's engine as a whole at 2,000 tokens/s, whatever its GPUs (not 2,000 per GPU)
    shard_s = 100 * 16 * 11_000 / 2_000  # a QwQ shard (TP 4): 100 prompts x 16 x 11k tokens + 300 s start
    assert job_runtime_minutes(paper, "generate", teacher="qwq") == math.ceil(2 * (shard_s + 300) / 60)
    # DeepSeek-R1 (TP 8 x PP 2) and Qwen3-235B (TP 8): ~35M tokens of a source in ~4.9 h, x2: ~10 h
    r1_s = 200 * 16 * 11_000 / 2_000
    for t in ("deepseek-r1", "qwen3-235b"):
        assert job_runtime_minutes(paper, "generate", teacher=t) == math.ceil(2 * (r1_s + 300) / 60) == 597
    # a teacher states its own throughput (tokens/s of its job): the limit follows
    faster = {**paper, "teachers": {**paper["teachers"], "deepseek-r1": {**paper["teachers"]["deepseek-r1"],
                                                                        "throughput": 5_000}}}
    assert job_runtime_minutes(faster, "generate", teacher="deepseek-r1") == \
        math.ceil(2 * (200 * 16 * 11_000 / 5_000 + 300) / 60)
    hosted = {**paper, "teachers": {**paper["teachers"], "deepseek-r1": {
        "backend": "openai", "params": {"model": "deepseek-reasoner", "base_url": "https://api.deepseek.com/v1"}}}}
    assert job_runtime_minutes(hosted, "generate", teacher="deepseek-r1") == math.ceil(2 * 200 * 16 * 11_000 / 1_000 / 60)
    # eval: 60 problems x 16 samples x 14k tokens per checkpoint at 2,000 tokens/s on 1 GPU, one 300 s engine start
    # per job, x2
    assert job_runtime_minutes(paper, "eval", student="qwen3-8b", run="base") == \
        math.ceil(2 * (60 * 16 * 14_000 / 2_000 + 300) / 60)
    assert job_runtime_minutes(paper, "eval", student="qwen3-8b", source="boba", run="sft-qwq") == \
        math.ceil(2 * (5 * 60 * 16 * 14_000 / 2_000 + 300 + 4 * 2 * 8.2e9 / 1e9) / 60)  # one engine, 4 reloads
    assert job_runtime_minutes(paper, "tables") == 10
    assert job_runtime_minutes(paper, "merge", student="qwen3-8b") == 10  # 5 x 16.4 GB at 0.64 GB/s, x2: 7 min
    assert job_runtime_minutes(paper, "eval", student="qwen3-14b") > job_runtime_minutes(paper, "train_std")
    default = load("config.yaml")  # CPU jobs: the floor
    assert {job_runtime_minutes(default, s) for s in ("generate", "train_std", "train_mot", "eval")} == {10}
    with pytest.raises(ValueError):
        job_runtime_minutes(paper, "sft")


def test_synthetic_student_params():
    # vocab x hidden (tied) + layers x (q, o: h x h; k, v: h x kv x head_dim; MLP: 3 x h x intermediate)
    n = 512 * 128 + 4 * (2 * 128 * 128 + 2 * 128 * 4 * 32 + 3 * 128 * 384)
    assert params(load("config.yaml"), "tiny") == (n, n)


def test_corpus_stats_drive_the_token_counts(tmp_path):
    csv = tmp_path / "stats.csv"
    csv.write_text("source,teacher,prompts,kept,pass_rate,mean_tokens\n"
                   "boba,qwq,200,195,0.7,8000.0\nboba,qwen3-32b,200,191,0.6,6000.0\n"
                   "boba,qwen3-235b,200,197,0.8,5000.0\nboba,deepseek-r1,200,198,0.8,4000.0\n"
                   "boba,ALL TEACHERS (MTD),200,781,,5743.5\n")
    stats = read_corpus_stats([str(csv)])
    assert stats["boba"]["qwq"] == {"n": 195, "mean_tokens": 8000.0} and len(stats["boba"]) == 4
    r = plan(load("paper.yaml"), corpus_stats=stats)
    assert r["generate"]["qwq"]["tokens"] == pytest.approx(200 * 16 * 8000 + 200 * 16 * 11_000)  # s1k: default
    mtd = (195 * 8000 + 191 * 6000 + 197 * 5000 + 198 * 4000) / 781
    assert r["students"]["qwen3-8b"]["stages"]["train_mtd"]["tokens"] == pytest.approx(250 * 64 * (mtd + 11_000))
    lb = lower_bound(load("paper.yaml"), "qwen3-8b", corpus_stats=stats)
    assert lb["train"] == pytest.approx(5 * 50 * 64 * (8000 + 6000 + 5000 + 4000) * 6 * 8.2e9 / (0.5 * 989e12) / 3600)


def test_render_has_the_totals_and_the_reference():
    r = plan(load("paper.yaml"))
    md = render(r)
    assert f"| **total** | {sum(jobs(r).values())} | **{r['gpu_hours']:,.1f}** |" in md
    for s in r["students"].values():
        assert f"**{s['gpu_hours']:,.1f}**" in md and f"## {s['label']}" in md
    assert "989 TFLOP/s" in md and "50% MFU" in md and "2,000 generated tokens/s per GPU" in md
    assert "2,000 generated tokens/s per vLLM job" in md
    assert "~50 H100-hours" in md and "= 50.2)" in md
    assert "~50 H100-hours" not in render(plan(load("config.yaml")))  # no Qwen3-8B student there


def test_the_base_pretraining_job_asks_for_its_steps_at_the_measured_rate():
    from mot.plan import pretrain_runtime_minutes

    assert pretrain_runtime_minutes({"steps": 3000}) == 19  # 2 x 3000 / 5.5 steps/s = 18.2 min
    assert pretrain_runtime_minutes({"steps": 4}) == 10  # the floor


def test_a_student_of_unknown_size_is_planned_at_the_floor_and_a_local_one_is_read(tiny_model):
    """A pretrained student that mot.memory does not list (Qwen3-4B) no longer stops the plan (and with
    it every `snakemake -n`): its training and merges are costed at the floor and have no memory
    figures. A local checkpoint's figures are read off its files."""
    import math

    from safetensors import safe_open

    from mot.memory import arch_of

    paper = load("paper.yaml")
    paper["students"]["qwen3-8b"]["path"] = "Qwen/Qwen3-4B"
    r = plan(paper)
    assert r["students"]["qwen3-8b"]["stages"]["train_std"]["gpu_hours"] == 0
    assert job_runtime_minutes(paper, "train_std", student="qwen3-8b") == math.ceil(2 * 600 / 60)  # start-up only
    assert next(j for j in r["memory"] if j["job"] == "training of qwen3-8b")["parts"] is None
    a = arch_of(str(tiny_model))
    with safe_open(str(tiny_model / "model.safetensors"), "pt") as f:
        assert a.params == sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())
    assert (a.layers, a.hidden) == (1, 32) and arch_of("Qwen/Qwen3-4B") is None


QWEN3_4B = {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "hidden_size": 2560,
            "num_hidden_layers": 36, "num_attention_heads": 32, "num_key_value_heads": 8, "head_dim": 128,
            "intermediate_size": 9728, "vocab_size": 151936, "tie_word_embeddings": True,
            "torch_dtype": "bfloat16"}  # Qwen/Qwen3-4B's config.json, the keys that size it


def test_an_unlisted_pretrained_student_is_sized_from_its_cached_config_or_refused(tmp_path, monkeypatch):
    """A student that mot.memory does not list (Qwen/Qwen3-4B): with its config.json in the Hugging Face
    cache (as `huggingface-cli download Qwen/Qwen3-4B config.json` leaves it) its parameters are counted
    from it (4.02B, the release's count), and its jobs get time limits above the floor and a memory
    check; without it the config check refuses it in one line that says how to fetch the config."""
    import json

    from mot.config import validate_config
    from mot.io import MotError
    from mot.memory import arch_of

    config = yaml.safe_load((ROOT / "config/paper.yaml").read_text())
    config["students"]["qwen3-8b"]["path"] = "Qwen/Qwen3-4B"
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(MotError, match=r"^cfg: students\.qwen3-8b\.path: the training of qwen3-8b runs Qwen/Qwen3-4B, "
                                       r"whose size mot does not know .*huggingface-cli download Qwen/Qwen3-4B config\.json"):
        validate_config(config, ROOT / "config/schema.yaml", "cfg")
    repo = tmp_path / "hub" / "models--Qwen--Qwen3-4B"
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123" / "config.json").write_text(json.dumps(QWEN3_4B))
    a = arch_of("Qwen/Qwen3-4B")
    assert a is not None and round(a.params / 1e6) == 4022 and a.layers == 36
    validate_config(config, ROOT / "config/schema.yaml", "cfg")
    assert params(config, "qwen3-8b") == (a.active, a.params)
    from mot.plan import ASSUMPTIONS

    assert job_runtime_minutes(config, "train_std", student="qwen3-8b", source="boba") > ASSUMPTIONS["floor_min"]


def test_the_workflow_plans_without_importing_torch():
    """Every module the Snakefile and rules import is importable without torch (mot.loss imported it
    through mot.rounds -> mot.train: 2 s of every `snakemake` start, and of every job's under SLURM)."""
    import re
    import subprocess
    import sys

    text = "\n".join(p.read_text() for p in [ROOT / "Snakefile", *sorted((ROOT / "rules").rglob("*.smk"))])
    modules = sorted(set(re.findall(r"^\s*from (mot(?:\.\w+)?) import", text, re.M)))
    assert "mot.rounds" in modules and "mot.train" in modules, modules
    code = f"import sys\nfor m in {modules!r}: __import__(m)\nprint('torch' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT / "src")
    assert r.returncode == 0 and r.stdout.strip() == "False", r.stdout + r.stderr
