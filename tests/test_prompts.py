"""Prompt sources: seeded sampling, s1K's short-answer filter, errors naming file and line."""
import json

import pytest

from mot.io import MotError

from mot.readers import read_jsonl
from mot.prompts import load_source, read_problem_file, sample_prompts, short_answer

from conftest import ROOT


def test_short_answer():
    assert short_answer("42") == "42"
    assert short_answer("Long proof...\nso the answer is $\\boxed{17}$.") == "17"
    assert short_answer("A proof without a final answer.\n" * 3) is None
    assert short_answer(["\\boxed{3}", "other"]) == "3"


def test_s1k_keeps_only_short_verifiable_answers():
    rows = read_problem_file(ROOT / "data" / "s1k.jsonl")
    assert 300 <= len(rows) < 1000
    assert all(r["answer"] and len(r["answer"]) <= 40 for r in rows)


def test_sampling_is_seeded(tmp_path, tiny_world):
    spec = {"type": "synthetic", "n": 10, "seed": 3}
    a = sample_prompts("syn", spec, "Q: {problem}", str(tiny_world), str(tmp_path / "a.jsonl"))
    sample_prompts("syn", spec, "Q: {problem}", str(tiny_world), str(tmp_path / "b.jsonl"))
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()
    assert a[0]["prompt"] == "Q: " + a[0]["problem"] and a[0]["source"] == "syn"
    c = sample_prompts("syn", {**spec, "seed": 4}, "{problem}", str(tiny_world), str(tmp_path / "c.jsonl"))
    assert [r["id"] for r in a] != [r["id"] for r in c]


def test_synthetic_ops_filter(tiny_world):
    rows = load_source("syn", {"type": "synthetic", "n": 1, "seed": 0, "min_ops": 2, "max_ops": 2}, str(tiny_world))
    assert rows and all(len(r["spec"]["ops"]) == 2 for r in rows)


def test_too_many_prompts_names_the_key(tmp_path, tiny_world):
    with pytest.raises(MotError, match=r"config key sources\.syn\.n = 999 but only \d+ usable"):
        sample_prompts("syn", {"type": "synthetic", "n": 999, "seed": 0}, "{problem}", str(tiny_world),
                       str(tmp_path / "p.jsonl"))
    assert not (tmp_path / "p.jsonl").exists()


def test_malformed_line_and_missing_reference(tmp_path):
    f = tmp_path / "src.jsonl"
    f.write_text('{"problem": "1+1", "answer": "2"}\n{"problem": "2+2", "answer": \n')
    with pytest.raises(MotError, match=r"src\.jsonl:2: malformed JSON"):
        read_problem_file(f)
    f.write_text('{"problem": "1+1", "answer": "2"}\n\n{"problem": "2+2"}\n')
    with pytest.raises(MotError, match=r"src\.jsonl:3: prompt without a reference answer"):
        read_problem_file(f)


def test_boba_offline_without_path_is_a_clear_error(monkeypatch, tmp_path):
    """huggingface_hub's own offline mode (HF_HUB_OFFLINE=1, read at its import) with no cached copy:
    one line naming the repository, the pinned revision and the config key."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    spec = {"type": "boba", "n": 1, "seed": 0, "hub_repo": "inclusionAI/AReaL-boba-Data",
            "hub_file": "AReaL-boba-106k.jsonl", "hub_revision": "0123456789abcdef0123456789abcdef01234567",
            "path": None}
    with pytest.raises(MotError, match=r"source 'boba': cannot get inclusionAI/AReaL-boba-Data/AReaL-boba-106k.jsonl "
                                       r"at revision 0123456789abcdef.*set config key sources\.boba\.path"):
        load_source("boba", spec)
    with pytest.raises(MotError, match=r"config key sources\.boba\.path \('nowhere.jsonl'\) is not a file"):
        load_source("boba", {**spec, "path": "nowhere.jsonl"})


BOBA_ROWS = ROOT / "tests" / "fixtures" / "boba_rows.jsonl"  # AReaL-boba-106k's row format, five problems


def paper_source(name):
    import yaml

    return yaml.safe_load((ROOT / "config" / "paper.yaml").read_text()), name


def test_boba_rows_in_their_real_format_become_plain_problems(tmp_path):
    """BOBA's prompt field is a DeepSeek-R1 chat turn with the instruction inside; with config/paper.yaml's
    own source spec and template, the prompt has no chat markup, the instruction once, and the
    reference is the boxed value."""
    paper, _ = paper_source("boba")
    spec = {**paper["sources"]["boba"], "path": str(BOBA_ROWS), "n": 5}
    rows = sample_prompts("boba", spec, paper["prompt_template"], None, str(tmp_path / "p.jsonl"))
    by_id = {r["id"]: r for r in rows}
    assert sorted(by_id) == ["0a93f5b2", "5b2aa9e0", "7d4e0c1a", "c15e8d77", "e8f03c41"]  # query_id
    assert by_id["7d4e0c1a"]["problem"] == "Find the remainder when $2^{100}$ is divided by $7$."
    assert by_id["7d4e0c1a"]["prompt"] == ("Find the remainder when $2^{100}$ is divided by $7$.\nPlease reason "
                                           "step by step, and put your final answer within \\boxed{}.")
    assert by_id["c15e8d77"]["answer"] == "\\frac{5}{6}"
    for r in rows:
        assert not any(m in r["prompt"] for m in ("<｜", "<|im_", "<think>", "</think>")), r["prompt"]
        assert r["prompt"].count("Please reason step by step") == 1


def test_boba_unknown_markup_names_file_and_line(tmp_path):
    f = tmp_path / "b.jsonl"
    f.write_text(BOBA_ROWS.read_text() + json.dumps({"prompt": "<|user|>2+2<think>", "query_id": "z",
                                                     "solutions": ["\\boxed{4}"]}) + "\n")
    with pytest.raises(MotError, match=r"b\.jsonl:6: chat markup '<think>' left in the problem"):
        read_problem_file(f, unwrap=True)


@pytest.mark.parametrize("source", ["boba", "s1k"])
def test_the_same_problems_whatever_the_row_order(tmp_path, source):
    """Sampling is by id: a file shuffled (as a re-export or another mirror may be) gives the same prompts."""
    import random

    paper, _ = paper_source(source)
    path = BOBA_ROWS if source == "boba" else ROOT / "data" / "s1k.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    random.Random(1).shuffle(lines)
    (tmp_path / "shuffled.jsonl").write_text("".join(lines))
    n = 3 if source == "boba" else 200
    spec = {**paper["sources"][source], "n": n}
    a = sample_prompts(source, {**spec, "path": str(path)}, paper["prompt_template"], None, str(tmp_path / "a.jsonl"))
    b = sample_prompts(source, {**spec, "path": str(tmp_path / "shuffled.jsonl")}, paper["prompt_template"], None,
                       str(tmp_path / "b.jsonl"))
    assert sorted(r["id"] for r in a) == sorted(r["id"] for r in b) and len(a) == n


def test_rows_without_an_id_are_named_by_their_problem(tmp_path):
    """s1K as the hub ships it (question, solution; no id column)."""
    f = tmp_path / "s1k.jsonl"
    f.write_text(json.dumps({"question": "What is 2+3?", "solution": "5"}) + "\n"
                 + json.dumps({"question": "What is 2+4?", "solution": "6"}) + "\n")
    a = read_problem_file(f)
    f.write_text("".join(reversed(f.read_text().splitlines(keepends=True))))
    assert {r["id"]: r["problem"] for r in a} == {r["id"]: r["problem"] for r in read_problem_file(f)}
    f.write_text(f.read_text() * 2)
    with pytest.raises(MotError, match=r"s1k\.jsonl:3: id 'h[0-9a-f]{12}' also on line 1"):
        read_problem_file(f)


def test_read_jsonl_required_keys(tmp_path):
    f = tmp_path / "x.jsonl"
    f.write_text('{"id": "a", "prompt": "p"}\n')
    with pytest.raises(MotError, match=r"x\.jsonl:1: missing or empty 'answer'"):
        read_jsonl(f, required=("id", "prompt", "answer"))


def test_the_paper_template_builds_s1k_prompts_offline(tmp_path):
    import yaml

    paper = yaml.safe_load((ROOT / "config" / "paper.yaml").read_text())
    spec = {**paper["sources"]["s1k"], "path": str(ROOT / "data" / "s1k.jsonl")}
    rows = sample_prompts("s1k", spec, paper["prompt_template"], None, str(tmp_path / "s1k.jsonl"))
    assert len(rows) == spec["n"]
    assert all(r["prompt"] == r["problem"] + "\nPlease reason step by step, and put your final answer within "
               "\\boxed{}." for r in rows)


def test_a_template_without_the_placeholder_is_refused(tmp_path, tiny_world):
    with pytest.raises(MotError, match=r"--template: the template must contain \{problem\}"):
        sample_prompts("syn", {"type": "synthetic", "n": 2, "seed": 0}, "Q:", str(tiny_world), str(tmp_path / "a.jsonl"))


def test_a_sources_label_is_no_setting_of_its_prompts(checkout):
    """Issue 33, probe 18, case 30: editing `sources.<s>.label` (what the tables print) reran the
    source's prompts, and through them every sample, corpus and run after them: the prompt rule's
    spec param held the label. A label edit plans nothing; a setting of the source does."""
    from conftest import snakemake_in

    target = ["--cores", "1", "results/prompts/syn-boba.jsonl", "--configfile", "config/test.yaml"]
    r = snakemake_in(checkout, *target)
    assert r.returncode == 0, r.stderr[-2000:]
    (checkout / "label.yaml").write_text("sources: {syn-boba: {label: SYN-BOBA-2}}\n")
    r = snakemake_in(checkout, *target, "label.yaml", "-n")
    assert r.returncode == 0 and "Nothing to be done" in r.stdout + r.stderr, r.stdout[-2000:]
    (checkout / "n.yaml").write_text("sources: {syn-boba: {n: 5}}\n")
    r = snakemake_in(checkout, *target, "n.yaml", "-n")
    assert r.returncode == 0 and "prompts" in r.stdout and "Nothing to be done" not in r.stdout, r.stdout[-2000:]
