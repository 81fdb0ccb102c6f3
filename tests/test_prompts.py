"""Prompt sources: seeded sampling, s1K's short-answer filter, errors naming file and line."""
import json

import pytest

from mot.io import MotError, read_jsonl
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
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spec = {"type": "boba", "n": 1, "seed": 0, "hub_repo": "inclusionAI/AReaL-boba-Data",
            "hub_file": "AReaL-boba-106k.jsonl", "path": None}
    with pytest.raises(MotError, match=r"source 'boba': the Hugging Face hub is unreachable and config key "
                                       r"sources\.boba\.path"):
        load_source("boba", spec)
    local = tmp_path / "boba.jsonl"
    local.write_text(json.dumps({"prompt": "What is 2+3?", "solutions": ["\\boxed{5}"]}) + "\n")
    rows = load_source("boba", {**spec, "path": str(local)})
    assert rows == [{"id": "0", "problem": "What is 2+3?", "answer": "5"}]


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
