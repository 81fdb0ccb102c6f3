"""Config schema: the shipped configs validate; bad keys and types fail with one line naming them."""

import re
import pytest
import yaml

from mot.config import validate_config
from mot.io import MotError

from conftest import ROOT, run_mot
from helpers import load_config as load

SCHEMA = ROOT / "config" / "schema.yaml"


@pytest.mark.parametrize("name", ["config.yaml", "paper.yaml", "test.yaml"])
def test_shipped_configs_are_valid(name):
    validate_config(load(name), SCHEMA)


def test_paper_config_has_the_papers_settings():
    c = load("paper.yaml")
    assert c["train"]["lr"] == 1e-5 and c["train"]["betas"] == [0.9, 0.95]
    assert c["train"]["weight_decay"] == 0.1 and c["train"]["warmup_ratio"] == 0.01
    assert c["train"]["batch_size"] == 64 and c["train"]["max_length"] == 25000
    assert (c["train"]["std_steps"], c["train"]["save_every"], c["train"]["rounds"], c["train"]["steps_per_round"]) \
        == (250, 50, 5, 50)
    assert c["sampling"] == {"n": 16, "temperature": 0.6, "top_p": 0.95, "max_tokens": 32768}
    assert len(c["teachers"]) == 4 and set(c["sources"]) == {"boba", "s1k"}
    assert [s["n"] for s in c["sources"].values()] == [200, 200]


def mutate(fn):
    c = load("config.yaml")
    fn(c)
    return c


BAD = [
    (lambda c: c.update(bogus=1), r"^cfg: bogus: unknown key$"),
    (lambda c: c["teachers"]["concise"]["params"].update(temprature=1), r"^cfg: teachers\.concise\.params\.temprature: unknown key$"),
    (lambda c: c["sampling"].update(n="16"), r"^cfg: sampling\.n: '16' is not of type 'integer'$"),
    (lambda c: c["teachers"]["shifted"].update(backend="vlm"), r"^cfg: teachers\.shifted\.backend: 'vlm' is not one of"),
    (lambda c: c["teacher_sets"].update(peers=["deliberate", "nobody"]), r"^cfg: teacher_sets\.peers: unknown teacher 'nobody'"),
    (lambda c: c["sources"]["syn-boba"].pop("n"), r"^cfg: sources\.syn-boba: 'n' is a required property$"),
    (lambda c: c["train"].update(batch_size=10, micro_batch_size=4), r"^cfg: train\.batch_size: must be a multiple"),
    (lambda c: c["teachers"].update(mtd=c["teachers"]["concise"]), r"^cfg: teachers: invalid name 'mtd' \("),
    (lambda c: c["report"].update(peers="pears"), r"^cfg: report\.peers: unknown teacher set 'pears'"),
    # issue 33, ninth probe, cases 4-10: a name that a layout file of mot's ends like, and values past
    # what the code takes (an int32 overflow, a runtime of infinity, an lr that overflows float32 or a
    # decay that makes NaN weights, a retry wait that never ends)
    (lambda c: c["sources"].update({"base.json": c["sources"]["syn-boba"]}), r"^cfg: sources: invalid name 'base\.json' \("),
    (lambda c: c["teachers"].update({"concise.jsonl": c["teachers"]["concise"]}),
     r"^cfg: teachers: invalid name 'concise\.jsonl' \("),
    (lambda c: c["world"].update(vocab_size=10 ** 20), r"^cfg: world\.vocab_size: 100000000000000000000 is greater than"),
    (lambda c: c["eval"].update(throughput=5e-324), r"^cfg: eval\.throughput: 5e-324 is less than the minimum"),
    (lambda c: c["train"].update(lr=1e300), r"^cfg: train\.lr: 1e\+300 is greater than the maximum of 1"),
    (lambda c: c["train"].update(weight_decay=1e30), r"^cfg: train\.weight_decay: 1e\+30 is greater than the maximum"),
    (lambda c: c["teacher_sets"].update({"round-1": ["concise"]}), r"^cfg: teacher_sets\.round-1: reserved name"),
    (lambda c: c["eval"].update(params={"batch": 8}), r"^cfg: eval\.params\.batch: unknown key$"),
    (lambda c: c["eval"].update(benchmarks=["syn-aime24", "aime26"]),
     r"^cfg: eval\.benchmarks\.1: unknown benchmark 'aime26' \(known: aime24, aime25, math500, syn-aime24, syn-aime25, syn-val\)$"),
    (lambda c: c["eval"].update(validation=["syn-aime24"]),
     r"^cfg: eval\.validation\.0: 'syn-aime24' is also a test benchmark \(a validation set is kept apart\)$"),
    (lambda c: c["eval"].update(validation=[]),
     r"^cfg: report\.select_on: 'validation' needs eval\.validation \(the benchmarks to choose on\)$"),
    (lambda c: c["world"].update(val_size=0),
     r"^cfg: eval\.validation: 'syn-val' needs world\.val_size > 0$"),
    # issue 33, third probe: what the schema cannot say, and integers written as 1.0 (a job's --seed 1.0)
    (lambda c: c.update(seed=1.0), r"^cfg: seed: 1\.0 is not of type 'integer'$"),
    (lambda c: c["train"].update(lr=float("nan")), r"^cfg: train\.lr: nan is not a finite number$"),  # YAML's .nan
    (lambda c: c["eval"].update(benchmarks=["syn-aime24", "syn-aime24"]), r"^cfg: eval\.benchmarks: .* has non-unique"),
    (lambda c: c["students"]["tiny"]["arch"].update(hidden_size=68, num_heads=4),  # head_dim 17: RoPE needs pairs
     r"^cfg: students\.tiny\.arch: head_dim = hidden_size / num_heads = 17 is odd"),
    (lambda c: c["sampling"].update(temperature=float("inf")), r"^cfg: sampling\.temperature: inf is not a finite"),
    (lambda c: c["world"].update(ops=[3, 1]), r"^cfg: world\.ops = \[3, 1\]: the fewest operations \(3\) are more "),
    (lambda c: c["students"]["tiny"]["arch"].update(num_kv_heads=3),
     r"^cfg: students\.tiny\.arch: num_heads 4 is not a multiple of num_kv_heads 3 "),
    (lambda c: c["students"]["tiny"]["arch"].update(hidden_size=130),
     r"^cfg: students\.tiny\.arch: hidden_size 130 is not a multiple of num_heads 4$"),
    (lambda c: c["sources"]["syn-boba"].update(min_ops=3, max_ops=2), r"^cfg: sources\.syn-boba: min_ops 3 is more than max_ops 2$"),
    (lambda c: c["students"]["tiny"].update(launch={"processes": 3}),
     r"^cfg: students\.tiny\.launch\.processes: train\.batch_size=16 cannot be split into micro-batches of "),
    (lambda c: c["teachers"]["concise"].update(backend="openai", params={"model": "x"}),
     r"^cfg: teachers\.concise\.params: backend 'openai' needs 'base_url'$"),
    (lambda c: c["teachers"]["concise"]["params"].update(style="baroque"),
     r"^cfg: teachers\.concise\.params\.style: unknown style 'baroque' \(known: "),
    (lambda c: c["analyses"]["probe"].update(students=["huge"]),
     r"^cfg: analyses\.probe\.students\.0: unknown student 'huge' \(known: tiny\)$"),
    (lambda c: c["analyses"]["probe"].update(benchmarks=["aime26"]),
     r"^cfg: analyses\.probe\.benchmarks\.0: unknown benchmark 'aime26' \(known: "),
    (lambda c: c["analyses"]["probe"].update(benchmarks=["syn-aime24", "syn-val"]),
     r"^cfg: analyses\.probe\.benchmarks\.1: 'syn-val' is a validation benchmark"),
    (lambda c: c["analyses"]["probe"].update(n=0), r"^cfg: analyses\.probe\.n: 0 is less than the minimum of 1$"),
    (lambda c: c["analyses"]["student_teacher"].update(student="huge"),
     r"^cfg: analyses\.student_teacher\.student: unknown student 'huge' \(known: tiny\)$"),
    (lambda c: c["analyses"].update(student_teacher=[c["analyses"]["student_teacher"],
                                                     {"teacher": "huge", "student": "tiny", "source": "syn-s1k"}]),
     r"^cfg: analyses\.student_teacher\.1\.teacher: unknown student 'huge' \(known: tiny\)$"),
    (lambda c: c["analyses"].update(student_teacher=[c["analyses"]["student_teacher"]] * 2),
     r"^cfg: analyses\.student_teacher\.1: the pair \(teacher tiny, student tiny, source syn-boba\) is listed twice$"),
    (lambda c: c["analyses"].update(student_teacher=[c["analyses"]["student_teacher"], {
        "teacher": "tiny", "student": "tiny", "source": "syn-s1k", "sampling": {"n": 2}}]),
     r"^cfg: analyses\.student_teacher\.1: teacher 'tiny' samples with other backend, params or sampling"),
    (lambda c: c["analyses"].update(student_teacher=[]), r"^cfg: analyses\.student_teacher: "),
    # a path the jobs' shell commands would split (issue 33 item 14): refused, not half-quoted
    (lambda c: c["students"]["tiny"].update(init="pretrained", path="/data/my models/Qwen3-8B"),
     r"^cfg: students\.tiny\.path: '/data/my models/Qwen3-8B' has a character that the jobs' shell commands would split"),
    (lambda c: c["teachers"]["concise"].update(backend="vllm", params={"model": "/m/$HOME"}),
     r"^cfg: teachers\.concise\.params\.model: '/m/\$HOME' has a character"),
    (lambda c: c["report"].update(published="data/paper results.yaml"), r"^cfg: report\.published: 'data/paper results"),
    # issue 33, fourth probe: probe points that are one directory (cases 21), prompts beyond the pool
    # (22), a seed no library takes (23), a lone surrogate that every job writing it would fail on (24)
    (lambda c: c["analyses"]["probe"].update(lambdas=[0.0, 0.5, 0.504, 1.0]),
     r"^cfg: analyses\.probe\.lambdas\.2: 0\.504 is not a hundredth$"),
    (lambda c: c["analyses"]["probe"].update(lambdas=[0.0, 0.5, 0.5, 1.0]), r"^cfg: analyses\.probe\.lambdas: .* non-unique"),
    (lambda c: c["sources"]["syn-boba"].update(n=5000), r"^cfg: sources\.syn-boba\.n: 5000 prompts from a pool of "),
    (lambda c: c.update(seed=2 ** 64), r"^cfg: seed: 18446744073709551616 is greater than the maximum of 4294967295$"),
    (lambda c: c["students"]["tiny"]["pretrain"].update(seed=2 ** 63),
     r"^cfg: students\.tiny\.pretrain\.seed: 9223372036854775808 is greater than the maximum"),
    (lambda c: c.update(prompt_template="{problem} \ud800"), r"^cfg: prompt_template: '{problem} \\ud800' holds a lone "),
    # the fifth probe: a label that breaks a Markdown row (7), two teachers shown as one (8), a name
    # ending in a line break (9: `$` matches before one), a source of no world problem (21), a README
    # without the summary's markers (22: refused by the last job, after the summary was written)
    (lambda c: c["teachers"]["concise"].update(label="CON|CISE"), r"^cfg: teachers\.concise\.label: 'CON\|CISE' does not match"),
    (lambda c: c["teachers"]["concise"].update(label="A\nB"), r"^cfg: teachers\.concise\.label: 'A\\nB' does not match"),
    (lambda c: c["teachers"]["concise"].update(label="DELIBERATE"),
     r"^cfg: teachers\.concise\.label: 'DELIBERATE' is teachers\.deliberate's label too"),
    (lambda c: c["teachers"].update({"late\n": c["teachers"]["concise"]}), r"^cfg: teachers: invalid name 'late\\n' \("),
    (lambda c: c["sources"]["syn-boba"].update(min_ops=5, max_ops=9),
     r"^cfg: sources\.syn-boba: min_ops 5 \.\. max_ops 9 leaves none of the world's problems \(world\.ops: 1 \.\. 4\)$"),
    (lambda c: c["report"].update(readme="config/schema.yaml"),
     r"^cfg: report\.readme: config/schema\.yaml: expected one '<!-- default-run:start -->'"),
    # issue 33, probe 21, case 23: params that the chosen backend does not read, taken silently (an
    # endpoint's settings given to a local model, which then sampled instead)
    (lambda c: c["teachers"]["concise"].update(backend="hf", params={
        "model": "m", "base_url": "http://gateway:8000/v1", "api_key_env": "OPENAI_API_KEY", "concurrency": 32}),
     r"^cfg: teachers\.concise\.params: base_url, api_key_env, concurrency: not read by backend 'hf' \(it reads "
     r"batch_size, device, dtype, model, nodes\)$"),
    (lambda c: c["teachers"]["concise"]["params"].update(base_url="http://gateway:8000/v1"),
     r"^cfg: teachers\.concise\.params: base_url: not read by backend 'synthetic'"),
    (lambda c: c["eval"].update(params={"tensor_parallel_size": 4, "engine": {"max_model_len": 4096}}),
     r"^cfg: eval\.params: tensor_parallel_size, engine: not read by backend 'hf'"),
    (lambda c: c["analyses"]["student_teacher"].update(params={"engine": {}}),
     r"^cfg: analyses\.student_teacher\.params: engine: not read by backend 'hf'"),
]


def test_a_served_models_name_is_no_path():
    """An openai teacher's params.model is the name the server serves, not a path on a command line."""
    c = mutate(lambda c: c["teachers"]["concise"].update(
        backend="openai", params={"model": "my model", "base_url": "http://127.0.0.1:8000/v1"}))
    validate_config(c, SCHEMA, "cfg")


@pytest.mark.parametrize("fn,pattern", BAD)
def test_bad_config_is_one_line_naming_the_key(fn, pattern):
    with pytest.raises(MotError, match=pattern) as e:
        validate_config(mutate(fn), SCHEMA, "cfg")
    assert "\n" not in str(e.value)


def test_paper_config_has_table9s_two_pairs_and_figure5s_probe():
    """Issue 19: Table 9's pairs and Figure 5's protocol (AIME24, a 64-sample average, the 8B) as
    the paper has them; the synthetic configs keep one pair and eval's protocol for the probe."""
    from mot.grid import probe_settings, student_teacher_pairs
    from mot.layout import as_teachers

    paper = load("paper.yaml")
    pairs = student_teacher_pairs(paper)
    assert [(p["teacher"], p["student"], p["source"]) for p in pairs] == [
        ("qwen3-14b", "qwen3-8b", "boba"), ("qwen3-30b-a3b", "qwen3-14b", "boba")]
    assert list(as_teachers(pairs)) == [f"as-{t}-{c}" for t in ("qwen3-14b", "qwen3-30b-a3b")
                                        for c in ("base", "best-std", "mot")]
    probe = probe_settings(paper)
    assert (probe["n"], probe["benchmarks"], probe["students"]) == (64, ["aime24"], ["qwen3-8b"])
    for name in ("config.yaml", "test.yaml"):
        c = load(name)
        assert probe_settings(c)["n"] == c["eval"]["n"] and probe_settings(c)["benchmarks"] == c["eval"]["benchmarks"]
        assert probe_settings(c)["students"] == list(c["students"])
    one = student_teacher_pairs(load("config.yaml"))
    assert len(one) == 1 and list(as_teachers(one)) == ["as-base", "as-best-std", "as-mot"]  # the names as before


def test_check_config_cli(tmp_path):
    bad = mutate(lambda c: c["world"].update(max_operand="nine"))
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    r = run_mot("check-config", tmp_path / "bad.yaml")
    assert r.returncode == 1
    assert r.stderr.strip() == f"mot: error: {tmp_path / 'bad.yaml'}: world.max_operand: 'nine' is not of type 'integer'"
    assert run_mot("check-config", "config/config.yaml", "config/paper.yaml").returncode == 0


def test_a_config_that_is_not_utf8_is_one_line_and_check_config_finds_its_schema_anywhere(tmp_path):
    """Issue 33, third probe, cases 5 and 6, and check-config run outside the checkout."""
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes((ROOT / "config/test.yaml").read_bytes().replace(b"label: SYN-BOBA", b"label: SYN-BOBA-\xe9", 1))
    r = run_mot("check-config", bad)
    assert r.returncode == 1 and re.fullmatch(rf"mot: error: {re.escape(str(bad))}: not UTF-8 text \(byte \d+ is 0xe9\)",
                                              r.stderr.strip()), r.stderr
    r = run_mot("plan", "--config", bad, "--out", tmp_path / "plan.md")
    assert r.returncode == 1 and r.stderr.startswith(f"mot: error: {bad}: not UTF-8 text"), r.stderr
    assert not (tmp_path / "plan.md").exists()
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "mot", "check-config", str(ROOT / "config/test.yaml")], cwd=tmp_path,
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip().endswith("test.yaml: ok"), r.stderr


def test_a_key_given_twice_and_a_broken_schema_are_one_line(tmp_path):
    """Issue 33, second probe, cases 15 and 29: YAML keeps the last of two equal keys without a word;
    an empty or non-YAML schema was a traceback."""
    twice = tmp_path / "twice.yaml"
    twice.write_text((ROOT / "config/test.yaml").read_text() + "seed: 7\n")
    r = run_mot("check-config", twice)
    assert r.returncode == 1 and re.fullmatch(rf"mot: error: {re.escape(str(twice))}, line \d+, column 1: cannot read "
                                              r"config \(the key 'seed' is given twice\)", r.stderr.strip()), r.stderr
    for text in ("", "a: [\n"):
        (tmp_path / "schema.yaml").write_text(text)
        r = run_mot("check-config", "--schema", tmp_path / "schema.yaml", ROOT / "config/test.yaml")
        assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and "schema.yaml: " in r.stderr, r.stderr


def test_the_paper_template_renders_its_latex_as_written():
    """Issue 9, case 1: `\\boxed{}` in the paper's template crashed str.format."""
    from mot.prompts import render_prompt

    template = load("paper.yaml")["prompt_template"]
    assert render_prompt(template, "What is 1+1?") == \
        "What is 1+1?\nPlease reason step by step, and put your final answer within \\boxed{}."
    assert render_prompt("{problem} and {problem}; {0} {x}", "P") == "P and P; {0} {x}"


def test_each_stage_has_one_name_for_its_rules_module_and_command():
    import argparse

    from mot.cli import parser

    commands = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction)).choices
    stages = sorted(p.stem for p in (ROOT / "rules").glob("*.smk") if p.stem != "common")
    assert stages == ["corpus", "diagnostics", "evaluate", "figures", "general", "generate", "merge", "plan", "prompts",
                      "provenance", "rehearsal", "seeds", "tables", "train", "world"]
    for stage in stages:
        assert (ROOT / "src" / "mot" / f"{stage}.py").is_file(), stage
        assert stage in commands, stage



@pytest.mark.parametrize("change,pattern", [
    (lambda c: c["teachers"]["qwq"]["params"].update(tensor_parallel_size=3, nodes=2),
     r"^cfg: teachers\.qwq\.params: tensor_parallel_size 3 x pipeline_parallel_size 1 = 3 GPUs do not split "
     r"evenly over nodes = 2$"),
    (lambda c: c["teachers"]["qwen3-235b"]["params"].update(tensor_parallel_size=64),
     r"^cfg: teachers\.qwen3-235b\.params: tensor_parallel_size 64 x pipeline_parallel_size 1 over 1 node\(s\) needs "
     r"64 GPUs per node; resources\.gpus_per_node is 8$"),
    (lambda c: c["teachers"]["deepseek-r1"]["params"].update(tensor_parallel_size=16, pipeline_parallel_size=1),
     r"^cfg: teachers\.deepseek-r1\.params: tensor_parallel_size 16 spans nodes"),
    (lambda c: c["students"]["qwen3-8b"]["launch"].update(processes=16),
     r"^cfg: students\.qwen3-8b\.launch: 16 processes over 1 node\(s\) must split evenly, at most "
     r"resources\.gpus_per_node = 8 per node$"),
    (lambda c: c["eval"]["params"].update(tensor_parallel_size=16),
     r"^cfg: eval\.params: tensor_parallel_size 16 x pipeline_parallel_size 1 over 1 node\(s\) needs 16 GPUs"),
    (lambda c: c["analyses"]["student_teacher"][1]["params"].update(tensor_parallel_size=64),  # Table 9's teachers
     r"^cfg: analyses\.student_teacher\.1\.params: tensor_parallel_size 64 x pipeline_parallel_size 1 over 1 node"),
    (lambda c: c["general"]["model_args"].update(tensor_parallel_size=16),  # lm-eval's vLLM
     r"^cfg: general\.model_args: tensor_parallel_size 16 x pipeline_parallel_size 1 over 1 node\(s\) needs 16"),
    (lambda c: c["general"]["model_args"].update(tensor_parallel_size="2"),  # open, its common keys typed
     r"^cfg: general\.model_args\.tensor_parallel_size: '2' is not of type 'integer'$"),
    (lambda c: c["analyses"]["student_teacher"][0]["params"].update(tensor_parallel_size=0),
     r"^cfg: analyses\.student_teacher\.0\.params\.tensor_parallel_size: 0 is less than the minimum of 1$"),
    # issue 33, probe #16: the open blocks (Table 9's params, vLLM's engine, lm-eval's model_args and
    # gen_kwargs) check their common keys' types and ranges
    (lambda c: c["analyses"]["student_teacher"][0]["params"].update(batch_size=0),
     r"^cfg: analyses\.student_teacher\.0\.params\.batch_size: 0 is less than the minimum of 1$"),
    (lambda c: c["analyses"]["student_teacher"][0]["params"].update(batchsize=8),
     r"^cfg: analyses\.student_teacher\.0\.params\.batchsize: unknown key$"),
    (lambda c: c["teachers"]["qwq"]["params"]["engine"].update(gpu_memory_utilization=0),
     r"^cfg: teachers\.qwq\.params\.engine\.gpu_memory_utilization: 0 is less than or equal to the minimum of 0$"),
    (lambda c: c["general"]["model_args"].update(gpu_memory_utilization=1.5),
     r"^cfg: general\.model_args\.gpu_memory_utilization: 1\.5 is greater than the maximum of 1$"),
    (lambda c: c["general"].setdefault("gen_kwargs", {}).update(max_gen_toks=0),
     r"^cfg: general\.gen_kwargs\.max_gen_toks: 0 is less than the minimum of 1$"),
    (lambda c: c["resources"].update(gpus_per_node=4),  # H100 x 4 nodes: the 8-GPU teachers no longer fit
     r"^cfg: teachers\.qwen3-235b\.params: tensor_parallel_size 8 x pipeline_parallel_size 1 over 1 node\(s\) "
     r"needs 8 GPUs per node; resources\.gpus_per_node is 4$"),
])
def test_an_impossible_gpu_layout_fails_at_config_check(change, pattern):
    """Issue 22, item 11: a layout that cannot be placed is one line at check-config (and so at
    `mot plan` and the workflow's start), not a failure of the job on the cluster."""
    config = load("paper.yaml")
    validate_config(config, SCHEMA, "cfg")
    change(config)
    with pytest.raises(MotError, match=pattern):
        validate_config(config, SCHEMA, "cfg")


def test_the_revision_is_dirty_for_an_edit_but_not_for_the_readme_block_the_run_writes(tmp_path):
    """Rule summary writes README's block (report.readme): that alone must not mark the revision
    dirty, or provenance would rerun after every run whose numbers changed."""
    import subprocess

    from mot.provenance import git_revision

    git = lambda *a: subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *a], cwd=tmp_path,
                                    check=True, capture_output=True)
    git("init", "-q")
    (tmp_path / "README.md").write_text("a\n")
    (tmp_path / "x.py").write_text("x = 1\n")
    git("add", ".")
    git("commit", "-q", "-m", "c")
    clean = git_revision(tmp_path, ("README.md",))
    assert clean and not clean.endswith("-dirty")
    (tmp_path / "README.md").write_text("b\n")
    assert git_revision(tmp_path, ("README.md",)) == clean
    assert git_revision(tmp_path).endswith("-dirty")
    (tmp_path / "x.py").write_text("x = 2\n")
    assert git_revision(tmp_path, ("README.md",)) == clean + "-dirty"


def test_a_stage_code_hash_follows_both_forms_of_relative_import(tmp_path):
    """`from .b import x` and `from . import b` both make b part of a's code (train.py imports its
    tracking module the second way): a code edit in b changes a's hash, a comment does not."""
    from mot.workflow import code_version

    pkg = tmp_path / "mot"
    pkg.mkdir()
    (pkg / "io.py").write_text("X = 0\n")
    (pkg / "a.py").write_text("from . import b\nfrom .c import Y\n")
    (pkg / "b.py").write_text("Z = 1\n")
    (pkg / "c.py").write_text("Y = 1\n")
    before = code_version(str(tmp_path), "a.py")
    (pkg / "b.py").write_text("Z = 1  # a comment\n")
    assert code_version(str(tmp_path), "a.py") == before
    for name in ("b.py", "c.py"):
        (pkg / name).write_text((pkg / name).read_text() + "W = 2\n")
        assert code_version(str(tmp_path), "a.py") != before
        before = code_version(str(tmp_path), "a.py")
    # issue 33, sixth probe, case 1: the startup code every job's processes run (the provenance page's
    # and the seeds' code version)
    (pkg / "startup").mkdir()
    (pkg / "startup" / "sitecustomize.py").write_text("S = 1\n")
    assert code_version(str(tmp_path), "a.py") != before


def test_a_config_without_cluster_keys_or_schema_defaults_validates_and_gets_the_defaults():
    """Keys only a cluster needs (resources, mot.jobs) and keys with a schema default may be left out:
    validation fills in each default once, from config/schema.yaml (copies, never one shared object)."""
    config = load("test.yaml")
    for key in ("resources", "analyses", "general"):
        del config[key]
    del config["mot"]["jobs"], config["mot"]["merge_params"], config["train"]["schedule"]
    validate_config(config, SCHEMA)
    schema = yaml.safe_load(SCHEMA.read_text())
    assert config["resources"] == {k: v["default"] for k, v in schema["properties"]["resources"]["properties"].items()}
    assert config["mot"]["jobs"] == "per_branch" and config["train"]["schedule"] == "global"
    assert config["mot"]["merge_params"] == {} and config["eval"]["backend"] == "hf"
    config["mot"]["merge_params"]["scale"] = 2.0
    again = load("test.yaml")
    del again["mot"]["merge_params"]
    assert validate_config(again, SCHEMA)["mot"]["merge_params"] == {}
    # a value given is kept, and an invalid one is still refused before any default is filled in
    partial = load("test.yaml")
    partial["resources"] = {"gpu_partition": "h100"}
    assert validate_config(partial, SCHEMA)["resources"]["gpu_partition"] == "h100"
    partial["resources"]["cpus"] = 0
    with pytest.raises(MotError, match=r"resources\.cpus: 0 is less than the minimum of 1"):
        validate_config(partial, SCHEMA)


def test_an_alias_bomb_is_refused_by_the_config_check_in_a_second(tmp_path):
    """11 KB of nested YAML aliases (9 levels of 10) in a free-form key (eval.params.engine) would be
    80 GB once the rules write the config as JSON: the check counts the expanded values in linear
    time and refuses, naming the key."""
    import time

    from mot.configfile import load_config

    text = (ROOT / "config/config.yaml").read_text()
    line = next(x for x in text.splitlines() if x.startswith("  params: {batch_size: 64}"))
    bomb = ["      x0: &x0 [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]"]
    bomb += [f"      x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 10)}]" for i in range(1, 10)]
    path = tmp_path / "bomb.yaml"
    path.write_text(text.replace(line, "  params:\n    batch_size: 64\n    engine:\n" + "\n".join(bomb)))
    start = time.time()
    with pytest.raises(MotError, match=r"eval\.params\.engine\.x9: expands to [\d,]+ values with its YAML aliases "
                                       r"\(more than 100,000\)"):
        load_config(path, ROOT / "config/schema.yaml")
    assert time.time() - start < 5


def test_every_teacher_param_the_backends_read_is_in_the_schema():
    """A param a backend reads but the schema lacks (the openai backend's tokenizer was) is refused by
    the config check and by mot generate's check of --teacher, so no config could set it."""
    keys = set(yaml.safe_load(SCHEMA.read_text())["properties"]["teachers"]["additionalProperties"]["properties"]
               ["params"]["properties"])
    read = set()
    for f in ("engines.py", "generate.py", "multinode.py"):
        read |= set(re.findall(r'params(?:\.get\(|\[)"([a-z_]+)"', (ROOT / "src/mot" / f).read_text()))
    assert read and read <= keys, sorted(read - keys)
    from mot.backends import reads
    from mot.generate import BACKENDS

    # and that some backend declares (mot.backends.reads: the config check refuses what none of them reads)
    declared = set().union(*(reads(b) for b in BACKENDS))
    assert read <= declared <= keys, (sorted(read - declared), sorted(declared - keys))


def test_yaml_merge_keys_are_read_and_a_tab_is_named_by_its_line(tmp_path):
    """Issue 33, fourth probe, cases 16 and 17: a merge key (`<<: *anchor`, standard YAML that
    yaml.safe_load reads) was refused as "could not determine a constructor"; a tab was "cannot read
    config (while scanning for the next token)", without its line or the character."""
    from mot.configfile import check_files, load_yaml

    assert load_yaml("a: &d {b: 1, c: 2}\ne:\n  <<: *d\n  c: 3\n") == {"a": {"b": 1, "c": 2}, "e": {"b": 1, "c": 3}}
    with pytest.raises(Exception, match="given twice"):  # an explicit key twice is still refused
        load_yaml("e:\n  <<: {b: 1}\n  c: 3\n  c: 4\n")
    text = (ROOT / "config/test.yaml").read_text()
    merged = tmp_path / "merged.yaml"  # the teachers' shared params through an anchor
    merged.write_text(text.replace("eval:", "eval: &ev", 1).rstrip() + "\n")
    check_files([merged])
    tab = tmp_path / "tab.yaml"
    tab.write_text("seed: 0\nworld:\n\tseed: 1\n")
    with pytest.raises(MotError, match=r"tab\.yaml, line 3, column 1: cannot read config \(found character '\\t' "
                                       r"that cannot start any token\)$"):
        check_files([tab])


def test_an_integer_yaml_1_1_reads_otherwise_is_refused_by_its_line():
    """Issue 33, fifth probe, case 23: YAML 1.1 reads `n: 010` as 8 and `seed: 1:30` as 90 (octal,
    base 60), silently; mot refuses them, naming the text, and reads 10, 0, -3, 0x1f and 1_000 as written."""
    from mot.configfile import load_yaml

    assert load_yaml("a: 10\nb: 0\nc: -3\nd: 0x1f\ne: 1_000\n") == {"a": 10, "b": 0, "c": -3, "d": 31, "e": 1000}
    for text, read in (("n: 010", 8), ("seed: 1:30", 90), ("n: -017", -15)):
        with pytest.raises(Exception, match=rf"'{text.split(': ')[1]}' is {read} to YAML 1.1"):
            load_yaml(text)


def test_a_bad_value_given_by_config_on_the_command_line_is_blamed_on_it(tmp_path):
    """Issue 33, eighth probe, case 6: `snakemake --config seed=-1` was blamed on config/test.yaml."""
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-m", "snakemake", "-n", "corpora", "--configfile", "config/test.yaml",
                        "--config", "seed=-1"], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 1 and "config/test.yaml with --config seed=-1: seed: -1 is less than the minimum of 0" \
        in r.stdout + r.stderr, r.stdout + r.stderr


def test_a_schema_of_the_users_own_is_checked_as_a_schema(tmp_path):
    """Issue 33, ninth probe, case 11: `check-config --schema` with `type: integr` gave a 34-line
    jsonschema traceback; a schema without `teachers`, a KeyError's."""
    text = (ROOT / "config/schema.yaml").read_text()
    bad = tmp_path / "s.yaml"
    bad.write_text(text.replace("  seed: {type: integer, minimum: 0, maximum: 4294967295}", "  seed: {type: integr}", 1))
    r = run_mot("check-config", "--schema", bad, "config/test.yaml")
    assert r.returncode == 1 and r.stderr.startswith(f"mot: error: {bad}: not a valid JSON schema at .$defs.seed.type")
    schema = yaml.safe_load(text)
    del schema["properties"]["teachers"]
    bad.write_text(yaml.safe_dump(schema))
    r = run_mot("check-config", "--schema", bad, "config/test.yaml")
    assert r.returncode == 1 and "not mot's config schema (it lacks 'teachers'" in r.stderr and "Traceback" not in r.stderr
