"""Evaluation: pass@1, its standard error and bootstrap interval; grading of sample files."""
import json
import math

import pytest

from mot.evaluate import evaluate, grade_samples, load_benchmark, summarize
from mot.io import MotError, write_jsonl

from conftest import ROOT


def test_pass_at_1_and_standard_error_by_hand():
    s = summarize([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1]])
    assert s["pass@1"] == pytest.approx(1.75 / 3)
    assert s["runs"] == pytest.approx([1.0, 2 / 3, 1 / 3, 1 / 3])
    dev = [r - 1.75 / 3 for r in s["runs"]]
    assert s["se"] == pytest.approx(math.sqrt(sum(d * d for d in dev) / 3 / 4))
    assert s["se"] == pytest.approx(0.159571, abs=1e-6)
    lo, hi = s["ci95"]
    assert 0.25 <= lo <= s["pass@1"] <= hi <= 1.0


def test_bootstrap_is_seeded_and_degenerate_when_problems_agree():
    c = [[1, 0], [0, 1], [1, 1], [0, 0]]
    assert summarize(c, seed=1) == summarize(c, seed=1)
    assert summarize([[1, 0]] * 5)["ci95"] == [0.5, 0.5]
    assert summarize([[1]] * 3)["se"] == 0.0


def test_unequal_sample_counts_are_an_error():
    with pytest.raises(MotError, match="same positive number of samples"):
        summarize([[1, 0], [1]])


def test_grade_samples(tmp_path):
    write_jsonl(tmp_path / "s.jsonl", [
        {"id": "a", "answer": "12", "samples": [{"text": "<think>..</think> \\boxed{12}"}, {"text": "\\boxed{13}"}]},
        {"id": "b", "answer": "\\frac{1}{2}", "samples": [{"text": "\\boxed{0.5}"}, {"text": "no answer"}]},
    ])
    rows, correct = grade_samples(str(tmp_path / "s.jsonl"))
    assert correct == [[True, False], [True, False]]
    assert [s["answer"] for s in rows[1]["samples"]] == ["0.5", None]


def test_shipped_benchmarks_load():
    assert len(load_benchmark("aime24", ROOT / "data" / "aime24.jsonl")) == 30
    assert len(load_benchmark("aime25", ROOT / "data" / "aime25.jsonl")) == 30
    assert len(load_benchmark("math500", ROOT / "data" / "math500.jsonl")) == 500
    with pytest.raises(MotError, match="unknown benchmark 'aime26'"):
        load_benchmark("aime26", "x")


def test_evaluate_a_tiny_model_on_a_synthetic_test_set(tiny_model, tiny_world, tmp_path):
    out = tmp_path / "eval.jsonl"
    s = evaluate(str(tiny_model), "syn-aime24", str(tiny_world), {"n": 2, "temperature": 0.6, "top_p": 0.95,
                                                                    "max_tokens": 16}, str(out))
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 4 and all(len(r["samples"]) == 2 for r in rows)
    assert json.loads((tmp_path / "eval.jsonl.summary.json").read_text())["pass@1"] == s["pass@1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval.jsonl", "eval.jsonl.summary.json"]
