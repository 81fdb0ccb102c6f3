"""The Snakemake DAG end to end on the tiny config: outputs, no-op reruns, partial reruns, errors."""
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, copy_run, make_checkout, snakemake, snakemake_in
from helpers import json_lines, planned, resources
from mot import catalog
from mot.student import checkout_base_key

pytestmark = pytest.mark.slow
TEST = ["--configfile", "config/test.yaml", "--cores", "2"]
TEST_CONFIG = yaml.safe_load((ROOT / "config/test.yaml").read_text())
TEST_STUDENT = {k: TEST_CONFIG["students"]["tiny"][k] for k in ("arch", "pretrain")}


@pytest.mark.early(5)
def test_tiny_dag_builds_corpora_then_reruns_only_what_changed(tiny_run, tmp_path):
    workdir = copy_run(tiny_run, tmp_path / "checkout")  # the session's finished run (its corpora)
    for source in ("syn-boba",):
        for teacher in ("deliberate", "concise", "structured", "shifted"):
            rows = [json.loads(x) for x in json_lines(workdir / f"results/corpora/{source}/{teacher}.jsonl")]
            assert rows and all("\\boxed" in x["response"] and x["response"].startswith("<think>") for x in rows)
        stats = (workdir / f"results/corpora/{source}/stats.csv").read_text().splitlines()
        assert stats[0] == ("source,teacher,prompts,kept,pass_rate,mean_tokens,lost_no_correct,lost_too_long"
                            ) and len(stats) == 6
    # the test config's base is built here (the repository ships only the default config's)
    base = workdir / "data/bases" / f"tiny-{checkout_base_key(TEST_CONFIG['world'], **TEST_STUDENT)}"
    assert (base / "model.safetensors").is_file() and (base / "tokenizer.json").is_file()
    assert (base / "chat_template.jinja").is_file() or "chat_template" in (base / "tokenizer_config.json").read_text()
    assert json.loads((workdir / "results/provenance.json").read_text())["config"]["seed"] == 0

    r = snakemake_in(workdir, "corpora", "base_models", "provenance", *TEST, "-n")
    assert "Nothing to be done" in r.stdout + r.stderr

    # A minimal local config: the test config without what only a cluster or an optional analysis
    # needs, nor the keys the schema has defaults for. It plans the whole DAG, plans no corpus job
    # (its filled-in defaults are the test config's values), and ...
    minimal = {k: v for k, v in TEST_CONFIG.items() if k not in ("resources", "analyses", "general")}
    minimal["mot"] = {"merge_method": "uniform"}
    minimal["train"] = {k: v for k, v in TEST_CONFIG["train"].items()
                        if k not in ("schedule", "optimizer_state", "truncation")}
    (workdir / "config/minimal.yaml").write_text(yaml.safe_dump(minimal))
    MINIMAL = ["--configfile", "config/minimal.yaml", "--cores", "2"]
    r = snakemake_in(workdir, "all_tables", *MINIMAL, "-n")
    assert r.returncode == 0, r.stderr[-3000:]
    assert not {rule for rule, _ in planned(r)} & {"world", "world_student", "prompts", "generate", "corpus"}
    corpus_before = (workdir / "results/corpora/syn-boba/deliberate.jsonl").read_bytes()
    (workdir / "results/samples/syn-boba/concise.jsonl").unlink()
    r = snakemake_in(workdir, "corpora", *TEST, "-n")
    assert planned(r) == {
        ("generate", "source=syn-boba, teacher=concise"), ("corpus", "source=syn-boba, teacher=concise"),
        ("mtd_corpus", "source=syn-boba"), ("corpus_stats", "source=syn-boba"), ("corpora", "")}

    # ... determinism: a rebuild from scratch under it (world, prompts, samples) gives a byte-identical corpus.
    target = "results/corpora/syn-boba/deliberate.jsonl"
    r = snakemake_in(workdir, target, *MINIMAL, "--forceall")
    assert r.returncode == 0, r.stderr[-3000:]
    assert {"world", "prompts", "generate", "corpus"} <= {rule for rule, _ in planned(r)}
    assert (workdir / target).read_bytes() == corpus_before


MOT = "results/models/tiny/syn-boba/mot-peers/round-2/merged"
SFT = "results/models/tiny/syn-boba/sft-concise"
GRADED = "results/eval/tiny/syn-boba/sft-deliberate.samples.jsonl"  # every graded sample of the run
# Every table and figure of the test config (mot.catalog declares them; nothing else lists them)
TABLES = [o.name for o in catalog.present(TEST_CONFIG, "table")]
FIGURES = [o.name for o in catalog.present(TEST_CONFIG, "figure")]


@pytest.mark.early(1)
def test_all_tables_end_to_end_then_rerun_only_what_changed(tiny_run, tmp_path):
    """all_analyses: the main job's tables and figures and the analyses (the merge methods, Figure
    5's probe, the MoT diagnostics). The run is the session's shared one (conftest.tiny_run); this
    test changes a copy of it."""
    from transformers import AutoModelForCausalLM

    workdir = copy_run(tiny_run, tmp_path / "checkout")
    for path in (MOT, SFT, SFT + "/step-00002", "results/models/tiny/syn-boba/mot-peers/round-1/merged"):
        model = AutoModelForCausalLM.from_pretrained(workdir / path)
        # loads and generates: 1 or 2 new tokens (2 input ids; it may stop at its end-of-text after 1)
        assert 3 <= model.generate(torch_ids(), max_new_tokens=2, do_sample=False).shape[1] <= 4
    meta = json.loads((workdir / MOT / "mot_merge.json").read_text())
    assert [Path(i["path"]).name for i in meta["inputs"]] == ["branch-deliberate", "branch-concise"]
    branch = json.loads((workdir / MOT.replace("merged", "branch-concise") / "mot_train.json").read_text())
    assert (branch["start_step"], branch["steps"], branch["total_steps"]) == (2, 2, 4)

    # Every table and figure exists; each number of Table 2 is a pass@1 of an eval summary.
    for t in TABLES:
        for ext in ("csv", "md", "tex"):
            assert (workdir / f"results/tables/{t}.{ext}").stat().st_size > 0
    assert {"fig3", "fig4", "fig5", "rounds", "corpus"} <= set(FIGURES) and {"table2", "table13"} <= set(TABLES)
    for f in FIGURES:
        assert (workdir / f"results/figures/{f}.png").read_bytes()[:4] == b"\x89PNG"
        assert (workdir / f"results/figures/{f}.pdf").read_bytes()[:4] == b"%PDF"
    # the analyses: the probe's lambdas, the diagnostics of every set (Table 9: its own test below)
    probe = json.loads((workdir / "results/eval/tiny/syn-boba/probe-sft-mtd.json").read_text())
    assert [c["step"] for c in probe["checkpoints"]] == [0, 50, 100]
    # Tables 3 and 4: lm-eval's scores of the base, best STD and MoT models on the world's tasks
    general = json.loads((workdir / "results/general/tiny/syn-boba/mot.json").read_text())
    assert general["path"] == "results/models/tiny/syn-boba/mot-all/round-2/merged"
    assert {c: r["n"] for c, r in general["tasks"].items()} == {"SYN-DIV": 4, "SYN-LONG": 4, "SYN-LONGER": 4}
    row = next(x for x in (workdir / "results/tables/table3.csv").read_text().splitlines() if ",MOT," in x)
    assert row.startswith("SYN-BOBA,TINY-QWEN3,MOT,") and \
        row.split(",")[3] == f"{100 * general['tasks']['SYN-DIV']['score']:.2f}"
    diag = (workdir / "results/diagnostics/tiny/syn-boba/mot-peers.csv").read_text().splitlines()
    assert diag[0] == "round,quantity,a,b,value" and len(diag) == 1 + 2 * (2 + 1 + 4 * 2)  # rounds x rows
    summary = json.loads((workdir / "results/eval/tiny/syn-boba/sft-mtd.json").read_text())
    assert [c["step"] for c in summary["checkpoints"]] == [2, 4]
    best = max(summary["checkpoints"], key=lambda c: sum(b["pass@1"] for b in c["benchmarks"].values()))
    row = next(x for x in (workdir / "results/tables/table2.csv").read_text().splitlines()
               if x.startswith("SYN-BOBA,MTD (ALL TEACHERS),"))
    assert row.split(",")[2] == f"{100 * best['benchmarks']['syn-aime24']['pass@1']:.2f}"
    graded = (workdir / GRADED).read_text().splitlines()
    assert {"text", "answer", "correct"} <= set(json.loads(graded[0])["samples"][0])
    assert {(json.loads(g)["step"], json.loads(g)["benchmark"]) for g in graded} == {
        (s, b) for s in (2, 4) for b in ("syn-aime24", "syn-aime25", "syn-val")}
    tables = {t: (workdir / f"results/tables/{t}.csv").read_bytes() for t in TABLES}
    assert "Nothing to be done" in (lambda r: r.stdout + r.stderr)(snakemake_in(workdir, "all_analyses", *TEST, "-n"))

    # Issue 9, case 5: a moved checkout plans nothing (no absolute path is recorded).
    moved = tmp_path / "moved"
    workdir.rename(moved)
    workdir = moved
    r = snakemake_in(workdir, "all_analyses", *TEST, "-n")
    assert "Nothing to be done" in r.stdout + r.stderr, r.stdout[-3000:]

    # Deleted outputs are rebuilt, with what shows them, and nothing else; the same inputs give the
    # same bytes (determinism). Issue 9, case 7: an eval summary. Issue 22, item 8: a table's Markdown,
    # a file of graded samples (it lay inside an eval's directory output) and a run directory of
    # checkpoints (evaluated models are targets); each was taken as done.
    samples = (workdir / GRADED).read_bytes()
    (workdir / "results/eval/tiny/syn-boba/sft-mtd.json").unlink()
    (workdir / "results/tables/table1.md").unlink()
    (workdir / GRADED).unlink()
    shutil.rmtree(workdir / SFT)
    jobs = planned(snakemake_in(workdir, "all_analyses", *TEST, "-n"))
    assert {(rule, w) for rule, w in jobs if rule in ("eval_run", "sft")} == {
        ("eval_run", "student=tiny, source=syn-boba, run=sft-mtd"),
        ("eval_run", "student=tiny, source=syn-boba, run=sft-deliberate"),
        ("sft", "student=tiny, source=syn-boba, corpus=concise"),
        ("eval_run", "student=tiny, source=syn-boba, run=sft-concise")}
    # table1's Markdown, and the tables that show an STD or the MTD run (not Table 6: the shifted
    # teacher's STD run only; not the MoT tables), the decomposition of every run among them
    assert {w for rule, w in jobs if rule == "table"} == {
        f"table={t}" for t in ("table1", "table2", "table5", "table8", "table11", "differences", "decomposition")}
    r = snakemake_in(workdir, "all_analyses", *TEST)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (workdir / GRADED).read_bytes() == samples
    assert all((workdir / f"results/tables/{t}.csv").read_bytes() == b for t, b in tables.items())

    # An edit to a stage's code reruns that stage and what depends on it, nothing else (a comment
    # reruns nothing: code hashes count what runs).
    with open(workdir / "src/mot/summary.py", "a") as f:
        f.write("\n# a comment\n")
    r = snakemake_in(workdir, "all_analyses", *TEST, "-n")
    assert "Nothing to be done" in r.stdout + r.stderr, r.stdout[-3000:]
    with open(workdir / "src/mot/summary.py", "a") as f:  # a definition nothing runs: no stage's code
        f.write("\nEDITED = True\n")
    assert {rule for rule, _ in planned(snakemake_in(workdir, "all_analyses", *TEST, "-n"))} == {
        "all_analyses", "provenance"}  # provenance: any code edit
    summary = workdir / "src/mot/summary.py"  # code the summary runs
    summary.write_text(summary.read_text().replace("readme: str | None = None) -> str:",
                                                   "readme: str | None = None, _edited=None) -> str:", 1))
    # every rule whose job runs `mot tables` (its command writes the summary too), and nothing else
    assert {rule for rule, _ in planned(snakemake_in(workdir, "all_analyses", *TEST, "-n"))} == {
        "summary", "table", "table10", "general_table", "all_analyses", "provenance"}
    r = snakemake_in(workdir, "all_analyses", *TEST)
    assert r.returncode == 0, r.stderr[-3000:]

    # Issue 14: the browsable report, from the results as they are (nothing reruns)
    check_report(workdir, tmp_path)

    cfg = yaml.safe_load((workdir / "config/test.yaml").read_text())
    cfg["eval"]["n"] = 3  # evals and what is made from them, nothing upstream
    (workdir / "config/test.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    rules = {rule for rule, _ in planned(snakemake_in(workdir, "all_analyses", *TEST, "-n"))}
    # (and, through the choice of the best STD run, that run's general benchmarks, Tables 3 and 4)
    assert rules == {"eval_base", "eval_run", "table", "figure", "summary", "provenance", "all_analyses",
                     "best_std_model", "general_run", "general_table"}

    cfg["eval"]["n"] = 2
    cfg["mot"]["merge_method"] = "task_arithmetic"  # MoT's rounds, their evals and tables
    (workdir / "config/test.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    jobs = planned(snakemake_in(workdir, "all_analyses", *TEST, "-n"))
    # (each set's rounds, not round 1's branches, which no merge precedes (one job per branch and merge:
    # test_a_rounds_merged_model_...); the probe of MoT's final checkpoint; not the merge-method variant,
    # which has a method of its own)
    assert {rule for rule, _ in jobs} == {"mot_rounds", "eval_run", "table", "figure", "summary",
                                          "probe_point", "provenance", "all_analyses", "diagnostics_set",
                                          "general_run", "general_table"}  # MoT's general benchmarks
    assert {w for rule, w in jobs if rule == "mot_rounds"} == {
        f"student=tiny, source=syn-boba, tset={t}" for t in ("all", "no_shifted", "peers")}
    assert {w for rule, w in jobs if rule == "eval_run"} == {
        f"student=tiny, source=syn-boba, run={r}" for r in ("mot-all", "mot-no_shifted", "mot-peers", "probe-mot-all")}
    assert len([1 for rule, _ in jobs if rule == "probe_point"]) == 3  # its lambdas, of mot-all only
    assert {w for rule, w in jobs if rule == "table"} == {f"table={t}" for t in TABLES
                                                          if t not in ("table3", "table4", "table6", "table10")}
    assert {w for rule, w in jobs if rule == "general_run"} == {"student=tiny, source=syn-boba, model=mot"}


def chromium():
    """Headless Chromium (Debian package `chromium`): required in CI, else the check is left out."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None and os.environ.get("CI"):
        pytest.fail("CI needs chromium (apt-get install chromium) for the report test")
    return exe


def check_report(workdir, tmp_path):
    """`snakemake --report` after the run: a self-contained page that lists every table and figure,
    with the provenance on its first page; opened in headless Chromium, which renders it and takes
    a screenshot."""
    r = snakemake_in(workdir, "all_analyses", *TEST, "--report", "report.html")
    assert r.returncode == 0, r.stderr[-3000:]
    page = (workdir / "report.html").read_text()
    for name in TABLES:
        assert f"{name}.html" in page, name
    for name in ("fig3", "fig4", "fig5", "rounds", "corpus"):
        assert f"{name}.png" in page, name
    assert "mot-all.png" in page and "summary.md" in page  # the diagnostics, what the run shows
    exe = chromium()
    if exe is None:
        return
    args = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=15000",
            f"file://{workdir / 'report.html'}"]
    dom = subprocess.run(args[:-1] + ["--dump-dom", args[-1]], capture_output=True, text=True, timeout=180).stdout
    # the first page: the workflow description with the run's provenance (seed, git revision, config)
    assert "Merge-of-Thought distillation" in dom and "Resolved config" in dom and "git revision" in dom
    shot = tmp_path / "report.png"
    subprocess.run(args[:-1] + [f"--screenshot={shot}", "--window-size=1400,900", args[-1]],
                   capture_output=True, timeout=180)
    assert shot.read_bytes()[:4] == b"\x89PNG" and shot.stat().st_size > 20_000


def torch_ids():
    import torch

    return torch.tensor([[1, 2]])


@pytest.mark.early(7)
def test_rules_launch_two_training_processes_and_shard_generation(workdir):
    """The training rules start `accelerate launch` themselves when the student asks for several
    processes (gloo on CPU), MoT's branches too; a teacher with `shards: 2` runs two generation jobs
    whose joined output equals one job's."""
    from safetensors.torch import load_file

    cfg = yaml.safe_load((workdir / "config/test.yaml").read_text())
    cfg["students"]["tiny"]["launch"] = {"processes": 2}
    cfg["mot"]["jobs"] = "per_branch"  # round 1's branch of one teacher as a target
    cfg["train"]["micro_batch_size"] = 2  # 4 sequences a step: 2 per process
    cfg["teachers"]["concise"]["shards"] = 2
    (workdir / "config/test.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    sft, first = "results/models/tiny/syn-boba/sft-concise", "results/models/tiny/syn-boba/mot-round-1/branch-concise"
    r = snakemake(workdir, sft, first, *TEST)
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads((workdir / sft / "mot_train.json").read_text())["processes"] == 2
    assert json.loads((workdir / first / "mot_train.json").read_text())["processes"] == 2
    assert (workdir / "results/logs/sft/tiny/syn-boba/concise.log.rank1").is_file()
    assert sorted(p.name for p in (workdir / "results/samples/syn-boba/concise").iterdir()) == [
        "shard-0-of-2.jsonl", "shard-1-of-2.jsonl"]
    joined = (workdir / "results/samples/syn-boba/concise.jsonl").read_bytes()
    two = load_file(workdir / sft / "model.safetensors")

    cfg["students"]["tiny"].pop("launch")
    cfg["teachers"]["concise"].pop("shards")
    (workdir / "config/test.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    r = snakemake(workdir, sft, *TEST, "--forcerun", "generate")
    assert r.returncode == 0, r.stderr[-3000:]
    assert (workdir / "results/samples/syn-boba/concise.jsonl").read_bytes() == joined
    one = load_file(workdir / sft / "model.safetensors")
    assert all(torch_allclose(one[k], two[k]) for k in one)


def torch_allclose(a, b):
    import torch

    return torch.allclose(a, b, atol=1e-5)


@pytest.mark.early(6)
def test_a_rounds_merged_model_is_a_target_and_one_job_per_set_writes_the_same_models(workdir):
    """Issue 11: `snakemake <round t's merged model>` builds exactly that round and what it needs;
    mot.jobs: per_set (one process per teacher set, the CPU default) writes the same bytes: models
    and the merge state that a stateful method (outer, with momentum) carries from round to round."""
    cfg = yaml.safe_load((workdir / "config/test.yaml").read_text())
    cfg["mot"].update(merge_method="outer", merge_params={"lr": 1.0, "momentum": 0.5}, jobs="per_branch")
    (workdir / "config/test.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    target = "results/models/tiny/syn-boba/mot-peers/round-2/merged"
    jobs = planned(snakemake(workdir, target, *TEST, "-n"))
    mot = {(rule, w) for rule, w in jobs if rule.startswith("mot_")}
    first = {("mot_first_branch", f"student=tiny, source=syn-boba, teacher={t}") for t in ("deliberate", "concise")}
    later = {*{("mot_branch", f"student=tiny, source=syn-boba, tset=peers, round=2, teacher={t}")
               for t in ("deliberate", "concise")},
             *{("mot_merge", f"student=tiny, source=syn-boba, tset=peers, round={t}") for t in (1, 2)}}
    assert mot == first | later
    r = snakemake(workdir, target, *TEST)
    assert r.returncode == 0, r.stderr[-3000:]
    # another merge parameter: the merges and the branches of round 2, which start from round 1's merge;
    # not round 1's branches
    cfg["mot"]["merge_params"]["momentum"] = 0.9
    (workdir / "config/test.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    assert {(rule, w) for rule, w in planned(snakemake(workdir, target, *TEST, "-n")) if rule.startswith("mot_")} \
        == later
    cfg["mot"]["merge_params"]["momentum"] = 0.5
    (workdir / "config/test.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    models = workdir / "results/models/tiny/syn-boba"
    # every file of every round (weights, tokenizer, train logs, mot_train.json, mot_merge.json)
    per_branch = {p.relative_to(models): p.read_bytes() for p in models.glob("mot-*/**/*")
                  if p.is_file() and p.name != ".snakemake_timestamp"}  # Snakemake's mark on a directory output
    assert len([p for p in per_branch if p.name == "model.safetensors"]) == 2 + 2 + 2  # round 1's two
    # branches, round 2's two, two merges; and each merge's momentum
    assert len([p for p in per_branch if p.name.startswith("outer_state")]) == 2
    assert len([p for p in per_branch if p.name == "mot_merge.json"]) == 2

    shutil.rmtree(models / "mot-peers")
    shutil.rmtree(models / "mot-round-1")
    cfg = yaml.safe_load((workdir / "config/test.yaml").read_text())
    cfg["mot"]["jobs"] = "per_set"
    (workdir / "config/test.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    r = snakemake(workdir, "results/models/tiny/syn-boba/mot-peers", *TEST)
    assert r.returncode == 0, r.stderr[-3000:]
    # one plan (mot.rounds.plan), two ways of running it: the same files, byte for byte; per_set adds
    # only its run's own record and mot's mark on the directory it wrote
    def kept(p, b):  # a train log's wall-clock column (elapsed_s) is the one thing that may differ
        if p.name != "train_log.csv":
            return b
        return [line.rsplit(b",", 1)[0] for line in b.splitlines()]

    differ = [str(p) for p, b in per_branch.items() if kept(p, (models / p).read_bytes()) != kept(p, b)]
    assert not differ, differ
    assert (sorted(p.relative_to(models) for p in models.glob("mot-peers/**/*")
                   if p.is_file() and p.name != ".snakemake_timestamp")
            == sorted([*(p for p in per_branch if p.parts[0] == "mot-peers"), Path("mot-peers/mot_rounds.json"),
                       Path("mot-peers/.mot-output")]))
    meta = json.loads((models / "mot-peers/round-2/merged/mot_merge.json").read_text())
    assert [i["path"] for i in meta["inputs"]] == [  # final paths, not those of the job's .partial work
        f"results/models/tiny/syn-boba/mot-peers/round-2/branch-{t}" for t in ("deliberate", "concise")]


def test_teacher_with_zero_correct_samples_fails_cleanly(workdir):
    cfg = yaml.safe_load((workdir / "config/test.yaml").read_text())
    cfg["teachers"]["shifted"]["params"].update(error_rate=1.0, format_error_rate=1.0)
    (workdir / "config/test.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    r = snakemake(workdir, "results/corpora/syn-boba/shifted.jsonl", *TEST)
    assert r.returncode != 0
    assert "mot: error: teacher 'shifted' has zero correct samples on source 'syn-boba' " \
           "(results/samples/syn-boba/shifted.jsonl)" in r.stdout + r.stderr
    assert not list((workdir / "results").glob("corpora/syn-boba/shifted*"))


def test_bad_config_key_stops_the_workflow_with_one_line(workdir):
    cfg = yaml.safe_load((workdir / "config/test.yaml").read_text())
    cfg["sampling"]["temprature"] = 0.6
    (workdir / "config/test.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    r = snakemake(workdir, "all", *TEST, "-n")
    assert r.returncode != 0
    assert "config/test.yaml: sampling.temprature: unknown key" in r.stdout + r.stderr


def test_paper_config_builds_its_s1k_prompts_offline(workdir):
    """Issue 9, case 1: the paper's template (with \\boxed{}) used to crash prompt building."""
    r = snakemake(workdir, "results/prompts/s1k.jsonl", "--configfile", "config/paper.yaml", "--cores", "1")
    assert r.returncode == 0, r.stderr[-3000:]
    rows = [json.loads(x) for x in json_lines(workdir / "results/prompts/s1k.jsonl")]
    assert len(rows) == 200 and all(r["prompt"].endswith("within \\boxed{}.") for r in rows)


def test_paper_config_plans_generation_without_loading_models(workdir):
    r = snakemake(workdir, "corpora", "--configfile", "config/paper.yaml", "-n")
    assert r.returncode == 0, r.stderr[-3000:]
    jobs = planned(r)
    gen = {w for rule, w in jobs if rule == "generate"}
    shards = {w for rule, w in jobs if rule == "generate_shard"}
    assert len(gen) == 4 and "source=boba, teacher=deepseek-r1" in gen  # one job for 235B and R1 per source
    assert len(shards) == 8 and "source=s1k, teacher=qwq, shard=1, shards=2" in shards  # 2 shards for QwQ, 32B
    assert {w for rule, w in jobs if rule == "join_samples"} == {
        f"source={s}, teacher={t}" for s in ("boba", "s1k") for t in ("qwq", "qwen3-32b")}
    r = snakemake(workdir, "all_tables", "--configfile", "config/paper.yaml", "-n")
    assert r.returncode == 0, r.stderr[-3000:]
    rules = [rule for rule, _ in planned(r)]
    # 3 students x 2 sources: 5 SFT runs; MoT one job per branch (round 1's 4 shared by the sets; rounds 2-5
    # of sets of 4, 3 and 2 teachers) and per merge (3 sets x 5 rounds); evals of all runs and the bases
    assert (rules.count("sft"), rules.count("mot_first_branch"), rules.count("mot_branch"),
            rules.count("mot_merge")) == (30, 6 * 4, 6 * (4 + 3 + 2) * 4, 6 * 3 * 5)
    assert (rules.count("eval_base"), rules.count("eval_run"), rules.count("table"), rules.count("probe_point")) \
        == (3, 48, 11, 0)
    # all_analyses adds the reverse-merge probe of MoT and MTD of the 8B student per source (24 merges,
    # 4 evaluations), Table 9's two pairs (3 trained Qwen3-14B teachers on BOBA, their corpora, 3
    # Qwen3-8B STD runs and their evaluations, after the choice of the best STD run; the same for
    # Qwen3-30B-A3B teaching Qwen3-14B), the diagnostics of every set, and Tables 3 and 4: lm-eval on
    # each base and on each student's best STD and MoT models per source
    ra = snakemake(workdir, "all_analyses", "--configfile", "config/paper.yaml", "-n", "-p")
    assert ra.returncode == 0, ra.stderr[-3000:]
    extra = [rule for rule, _ in planned(ra)]
    assert (extra.count("probe_point"), extra.count("eval_run"), extra.count("generate"), extra.count("sft"),
            extra.count("best_std_model"), extra.count("diagnostics_set"), extra.count("table")) == (
        24, 48 + 4 + 2 * 3, 4 + 2 * 3, 30 + 2 * 3, 3 * 2, 3 * 2 * 3, 11 + 1)
    assert (extra.count("general_tasks"), extra.count("general_base"), extra.count("general_run"),
            extra.count("general_table")) == (0, 3, 3 * 2 * 2, 2)  # the paper's tasks are lm-eval's own
    assert len(extra) == 555
    jobs = planned(ra)
    assert {w for rule, w in jobs if rule == "sft" and "as-" in w} == {
        f"student={st}, source=boba, corpus=as-{t}-{c}"
        for st, t in (("qwen3-8b", "qwen3-14b"), ("qwen3-14b", "qwen3-30b-a3b")) for c in ("base", "best-std", "mot")}
    assert {w for rule, w in jobs if rule == "eval_run" and "probe-" in w} == {
        f"student=qwen3-8b, source={so}, run=probe-{r}" for so in ("boba", "s1k") for r in ("mot-all", "sft-mtd")}
    text = ra.stdout + ra.stderr
    job = r"\n(?:    [^\n]*\n)*?Shell command: ([^\n]*)"  # a job's lines after its output, then its command
    gen = re.search(r"output: results/samples/boba/as-qwen3-30b-a3b-mot.jsonl" + job, text)
    assert gen and '"model": "results/models/qwen3-30b-a3b/boba/mot-all/round-5/merged"' in gen.group(1)
    # Issue 33, fourth probe, case 27: the accelerate config (FSDP's settings) is an input of every
    # training job launched with it, so that an edit of it reruns the training
    trains = re.findall(r"\nrule (sft|mot_first_branch|mot_branch):\n    input: ([^\n]*)", text)
    assert trains and all("envs/accelerate/fsdp.yaml" in inputs.split(", ") for _, inputs in trains)
    probe = re.search(r"output: results/eval/qwen3-8b/boba/probe-mot-all.json, [^\n]*" + job, text)
    assert probe and "--benchmark aime24=data/aime24.jsonl --spec" in probe.group(1) and '"n": 64' in probe.group(1)
    assert "aime25" not in probe.group(1)

    # Each job's cluster resources come from the config: GPUs and nodes from the engines, partitions,
    # CPUs and memory from `resources`, the time limit from mot plan.
    from mot.config import validate_config
    from mot.plan import job_runtime_minutes

    # as the rules have it: checked, with the schema's defaults
    cfg = validate_config(yaml.safe_load((workdir / "config/paper.yaml").read_text()), ROOT / "config/schema.yaml")
    res = resources(r)
    r1 = res[("generate", "source=boba, teacher=deepseek-r1")]  # TP 8 x PP 2 over two nodes
    assert (r1["gpu"], r1["nodes"], r1["slurm_partition"], r1["cpus_per_task"], r1["mem_mb"]) == (
        "16", "2", "gpu", "96", "960000")
    assert r1["runtime"] == str(job_runtime_minutes(cfg, "generate", teacher="deepseek-r1", source="boba"))
    qwq = res[("generate_shard", "source=s1k, teacher=qwq, shard=0, shards=2")]
    assert (qwq["gpu"], qwq["nodes"], qwq["cpus_per_task"]) == ("4", "1", "48")
    sft = res[("sft", "student=qwen3-14b, source=s1k, corpus=mtd")]
    assert (sft["gpu"], sft["slurm_partition"]) == ("8", "gpu")
    assert sft["runtime"] == str(job_runtime_minutes(cfg, "train_mtd", student="qwen3-14b", source="s1k"))
    branch = res[("mot_branch", "student=qwen3-8b, source=boba, tset=peers, round=3, teacher=qwq")]
    assert (branch["gpu"], branch["runtime"]) == ("8", str(job_runtime_minutes(cfg, "train_mot", student="qwen3-8b")))
    ev = res[("eval_run", "student=qwen3-8b, source=boba, run=mot-all")]
    assert (ev["gpu"], ev["slurm_partition"]) == ("1", "gpu")
    for job in (("mot_merge", "student=qwen3-8b, source=boba, tset=all, round=2"), ("table", "table=table2")):
        assert (res[job]["gpu"], res[job]["slurm_partition"], res[job]["cpus_per_task"], res[job]["mem_mb"]) == (
            "0", "cpu", "8", "64000")
    res = resources(ra)  # the analyses: Table 9's second pair's teachers on TP 2; the probe's 64 samples
    t9 = res[("generate", "source=boba, teacher=as-qwen3-30b-a3b-best-std")]
    assert (t9["gpu"], t9["runtime"]) == (
        "2", str(job_runtime_minutes(cfg, "generate", teacher="as-qwen3-30b-a3b-best-std", source="boba")))
    pr = res[("eval_run", "student=qwen3-8b, source=s1k, run=probe-sft-mtd")]
    assert pr["runtime"] == str(job_runtime_minutes(cfg, "eval", student="qwen3-8b", source="s1k", run="probe-sft-mtd"))


def test_lint_is_clean():
    r = snakemake(ROOT, "--lint")
    assert r.returncode == 0, r.stdout[-3000:]


def test_student_as_teacher_links_trained_models_to_generation(workdir):
    """Table 9's chain, planned: the base, the best STD run (chosen from the STD evals) and MoT's
    last merged round become teachers whose generation jobs read those checkpoints, then corpora,
    a new student's STD runs, their evaluations and the table. (Run for real by the default
    config's all_analyses: the tiny config's 4-step base solves nothing, so its corpora would be
    empty, which the corpus rule refuses.)"""
    cfg = yaml.safe_load((workdir / "config/test.yaml").read_text())
    cfg["analyses"]["student_teacher"] = {"teacher": "tiny", "student": "tiny", "source": "syn-boba"}
    (workdir / "config/st.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    r = snakemake(workdir, "results/tables/table9.csv", "--configfile", "config/st.yaml", "--cores", "1", "-n")
    assert r.returncode == 0, r.stderr[-3000:]
    jobs = planned(r)
    teachers = ("as-base", "as-best-std", "as-mot")
    assert {w for rule, w in jobs if rule == "generate" and "as-" in w} == {
        f"source=syn-boba, teacher={t}" for t in teachers}
    assert {w for rule, w in jobs if rule == "sft" and "as-" in w} == {
        f"student=tiny, source=syn-boba, corpus={t}" for t in teachers}
    assert ("best_std_model", "student=tiny, source=syn-boba") in jobs
    text = r.stdout + r.stderr
    gen = re.search(r"rule generate:\n    input: ([^\n]*)\n    output: results/samples/syn-boba/as-best-std.jsonl", text)
    assert gen and "results/models/tiny/syn-boba/best-std" in gen.group(1)
    gen = re.search(r"rule generate:\n    input: ([^\n]*)\n    output: results/samples/syn-boba/as-mot.jsonl", text)
    assert gen and "results/models/tiny/syn-boba/mot-all" in gen.group(1)


def test_provenance_reruns_when_the_code_changes(checkout):
    """The provenance page names the git revision and package versions of the run: a commit, or an
    edit to any module, reruns it (it went stale before)."""
    git = lambda *a: subprocess.run(["git", *a], cwd=checkout, capture_output=True, text=True, check=True)
    git("init", "-q")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "a", "--allow-empty")
    target = ["results/provenance.json", *TEST[:2], "--cores", "1"]
    r = snakemake_in(checkout, *target)
    assert r.returncode == 0, r.stderr
    r = snakemake_in(checkout, "-n", *target)
    assert "Nothing to be done" in r.stdout + r.stderr
    with open(checkout / "src" / "mot" / "grading.py", "a") as f:
        f.write("\nEDITED = True\n")
    assert ("provenance", "") in planned(snakemake_in(checkout, "-n", *target))
    assert snakemake_in(checkout, *target).returncode == 0
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "b", "--allow-empty")
    assert ("provenance", "") in planned(snakemake_in(checkout, "-n", *target))


def test_a_comment_or_docstring_reruns_nothing_and_code_reruns_its_stages(checkout):
    """Code hashes follow what runs: a comment or a docstring in the grader plans nothing, nor does a
    change to how it compares answers (the prompt sources do not compare answers: at paper scale a
    rerun of the prompts would re-sample every teacher), nor a new definition that nothing calls; a
    change to the boxed-answer reader they share reruns the prompts, not the world before them."""
    target = ["results/prompts/syn-boba.jsonl", *TEST[:2], "--cores", "1"]
    r = snakemake_in(checkout, *target)
    assert r.returncode == 0, r.stderr
    grading = checkout / "src" / "mot" / "grading.py"
    text = grading.read_text()
    grading.write_text(text.replace('"""The one grader:', '"""The one grader (reworded):', 1)
                       + "\n# a comment\n")
    r = snakemake_in(checkout, "-n", *target)
    assert "Nothing to be done" in r.stdout + r.stderr, r.stdout + r.stderr
    grading.write_text(text + "\nEDITED = True\n")
    r = snakemake_in(checkout, "-n", *target)
    assert "Nothing to be done" in r.stdout + r.stderr, r.stdout + r.stderr
    # a new definition that nothing runs: no stage's code (mot.codeversion: the definitions a command reaches)
    with open(checkout / "src" / "mot" / "answers.py", "a") as f:
        f.write("\nEDITED = True\n")
    r = snakemake_in(checkout, "-n", *target)
    assert "Nothing to be done" in r.stdout + r.stderr, r.stdout + r.stderr
    answers = checkout / "src" / "mot" / "answers.py"
    answers.write_text(answers.read_text().replace("def clean(ans: str)", "def clean(ans: str, _edited=True)", 1))
    jobs = {rule for rule, _ in planned(snakemake_in(checkout, "-n", *target))}
    assert "prompts" in jobs and "world" not in jobs


@pytest.mark.early(3)
def test_seeds_runs_the_grid_per_world_seed_and_tabulates_them(request, tmp_path):
    """Target seeds (analyses.seeds: [0, 1] in the test config): seed 0 is the config's own run, read from
    results/; seed 1 gets its own config, world and pre-trained base in results/seeds/seed-1/ (the
    checkout's data/bases untouched); the table names both seeds, its seed-0 numbers are Table 2's, and
    a rerun plans nothing.

    Seed 1's run needs nothing of seed 0's: it runs first, in a checkout of its own, while another test
    process builds the session's shared run (seed 0); then the two runs are joined (results and
    Snakemake's records of them) and `seeds` has only its table left to make."""
    import csv

    alone = make_checkout(tmp_path / "seed-1")
    shipped = sorted(p.name for p in (alone / "data/bases").iterdir())
    r = snakemake_in(alone, "seeds", "--until", "seed_run", "--configfile", "config/test.yaml", "--cores", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    assert {rule for rule, _ in planned(r)} == {"seed_run"}
    assert sorted(p.name for p in (alone / "data/bases").iterdir()) == shipped
    workdir = copy_run(request.getfixturevalue("tiny_run"), tmp_path / "checkout")
    bases = sorted(p.name for p in (workdir / "data/bases").iterdir())
    shutil.copytree(alone / "results/seeds", workdir / "results/seeds", symlinks=True)
    for record in (alone / ".snakemake/metadata").iterdir():  # seed 1's outputs' records (code, params)
        if not (workdir / ".snakemake/metadata" / record.name).exists():
            shutil.copy2(record, workdir / ".snakemake/metadata")
    r = snakemake_in(workdir, "seeds", "--configfile", "config/test.yaml", "--cores", "2")
    assert r.returncode == 0, r.stderr[-3000:]
    assert {rule for rule, _ in planned(r)} == {"seeds_table", "seeds"}
    seed1 = workdir / "results/seeds/seed-1"
    cfg = yaml.safe_load((seed1 / "config.yaml").read_text())
    assert cfg["seed"] == cfg["world"]["seed"] == cfg["students"]["tiny"]["pretrain"]["seed"] == 1
    assert "analyses" not in cfg and cfg["report"]["readme"] is None
    assert (seed1 / "results/world/world.json").read_bytes() != (workdir / "results/world/world.json").read_bytes()
    own = [p.name for p in (seed1 / "data/bases").iterdir() if not p.is_symlink()]
    assert own and own[0] not in bases and sorted(p.name for p in (workdir / "data/bases").iterdir()) == bases
    assert not (workdir / "results/seeds/seed-0").exists()  # the main run is seed 0
    rows = list(csv.DictReader((workdir / "results/tables/seeds.csv").open()))
    assert {"seed 0", "seed 1", "mean", "SD", "verdicts"} <= set(rows[0])
    table2 = {(r["Dataset"], r["Method"]): r["TINY-QWEN3 AVG"]
              for r in csv.DictReader((workdir / "results/tables/table2.csv").open())}
    methods = [r for r in rows if (r["Dataset"], r["Row"]) in table2]
    assert len(methods) == 7  # the base, MTD, four STD runs and MoT (Table 2's rows)
    assert all(r["seed 0"] == table2[(r["Dataset"], r["Row"])] for r in methods)
    diffs = [r for r in rows if r["Row"].startswith("MOT - ")]  # MoT against the best STD run and MTD
    assert len(diffs) == 2 and all(re.fullmatch(r"[+-]\d+\.\d\d \[[+-]\d+\.\d\d, [+-]\d+\.\d\d\].*", r["seed 1"])
                                   for r in diffs)
    r = snakemake_in(workdir, "seeds", "--configfile", "config/test.yaml", "--cores", "2", "-n")
    assert r.returncode == 0 and "Nothing to be done" in r.stdout + r.stderr, r.stdout[-2000:]
    # an edit of a rule's code reruns a seed's run, which runs the rules (the twelfth probe: its code
    # version covered mot's modules only); a comment does not, nor does a seed added to analyses.seeds
    # (the thirteenth); the main job's jobs rerun only if their rule's code changed
    rules = workdir / "rules/evaluate.smk"
    text = rules.read_text()
    for edit, reruns in (("# a comment\n", False), ("\ndef _edited():\n    return 1\n", True)):
        rules.write_text(text + edit)
        r = snakemake_in(workdir, "seeds", "--configfile", "config/test.yaml", "--cores", "2", "-n")
        assert r.returncode == 0 and {rule for rule, _ in planned(r)} == \
            ({"seed_run", "seeds_table", "seeds"} if reruns else set()), (edit, r.stdout[-2000:])
    rules.write_text(text)
    more = yaml.safe_load((workdir / "config/test.yaml").read_text())
    more["analyses"]["seeds"].append(7)
    (workdir / "config/more.yaml").write_text(yaml.safe_dump(more))
    r = snakemake_in(workdir, "seeds", "--configfile", "config/more.yaml", "--cores", "2", "-n")
    assert r.returncode == 0 and {(rule, w) for rule, w in planned(r) if rule == "seed_run"} == \
        {("seed_run", "seed=7")}, r.stdout[-2000:]
    # a deleted eval summary of another seed is rebuilt by the target (as the main job's are by all)
    next((seed1 / "results/eval").rglob("*.json")).unlink()
    r = snakemake_in(workdir, "seeds", "--configfile", "config/test.yaml", "--cores", "2", "-n")
    assert r.returncode == 0 and "seed_run" in {rule for rule, _ in planned(r)}, r.stdout[-2000:]
