"""Evaluation: pass@1, its standard error and bootstrap interval; grading of sample files."""
import json
import math

import pytest

from mot.evaluate import EvalSpec, evaluate, grade_samples, load_benchmark, summarize
from mot.io import MotError, write_jsonl

from conftest import ROOT
from helpers import json_lines


def test_pass_at_1_and_standard_error_by_hand():
    s = summarize([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1]])
    assert s["pass@1"] == pytest.approx(1.75 / 3)
    assert s["runs"] == pytest.approx([1.0, 2 / 3, 1 / 3, 1 / 3])
    dev = [r - 1.75 / 3 for r in s["runs"]]
    assert s["se"] == pytest.approx(math.sqrt(sum(d * d for d in dev) / 3 / 4))
    assert s["se"] == pytest.approx(0.159571, abs=1e-6)
    lo, hi = s["ci95"]
    assert 0.25 <= lo <= s["pass@1"] <= hi <= 1.0


def test_per_problem_rates_and_their_bootstrap_standard_error():
    s = summarize([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1]], n_boot=4000)
    assert s["per_problem"] == [0.5, 0.25, 1.0]
    mean = 1.75 / 3
    analytic = math.sqrt(sum((p - mean) ** 2 for p in s["per_problem"]) / 3 / 3)  # SD of a mean of 3 draws
    assert s["se_problems"] == pytest.approx(analytic, rel=0.05)
    assert summarize([[1, 0]] * 5)["se_problems"] == 0.0


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
        {"id": "a", "answer": "12", "samples": [{"text": "<think>..</think> \\boxed{12}", "finish_reason": "stop"},
                                                {"text": "\\boxed{13}", "finish_reason": "stop"}]},
        {"id": "b", "answer": "\\frac{1}{2}", "samples": [{"text": "\\boxed{0.5}", "finish_reason": "stop"},
                                                        {"text": "no answer", "finish_reason": "stop"}]},
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


def test_evaluate_every_checkpoint_of_a_run_on_two_benchmarks(tiny_model, tiny_world, tmp_path):
    sampling = {"n": 2, "temperature": 0.6, "top_p": 0.95, "max_tokens": 16}
    out, samples = tmp_path / "run.json", tmp_path / "run.samples.jsonl"
    rec = evaluate([(0, str(tiny_model)), (5, str(tiny_model))], [("syn-aime24", str(tiny_world)),
                                                                 ("syn-aime25", str(tiny_world))],
                   EvalSpec(sampling), str(out), str(samples), tag={"student": "s", "source": "a", "run": "sft-x"})
    assert json.loads(out.read_text()) == rec
    from mot import shapes

    shapes.check(rec, shapes.EVAL_SUMMARY, str(out))  # the shape the tables read it in
    assert (rec["student"], rec["run"], [c["step"] for c in rec["checkpoints"]]) == ("s", "sft-x", [0, 5])
    graded = [json.loads(x) for x in open(rec["samples_file"])]
    assert rec["samples_file"] == str(samples) and len(graded) == 2 * 2 * 4  # checkpoints x benchmarks x problems
    for c in rec["checkpoints"]:
        for bench in ("syn-aime24", "syn-aime25"):
            s = c["benchmarks"][bench]
            rows = [r for r in graded if (r["step"], r["benchmark"]) == (c["step"], bench)]
            assert len(rows) == 4 and all(len(r["samples"]) == 2 for r in rows)
            assert all(r["id"].startswith(bench + "/") for r in rows)
            correct = [[x["correct"] for x in r["samples"]] for r in rows]
            assert s["pass@1"] == summarize(correct)["pass@1"]
    # the same model and seed give the same samples at both steps; nothing is left behind
    at = lambda step: [{**r, "step": None} for r in graded if r["step"] == step]
    assert at(0) == at(5)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json", "run.samples.jsonl"]


def test_a_bad_checkpoint_argument_is_one_line(tmp_path):
    from conftest import run_mot

    r = run_mot("evaluate", "--checkpoint", "five=x", "--benchmark", "syn-aime24=w", "--spec", "{}",
                "--samples", tmp_path / "s.jsonl", "--out", tmp_path / "o.json")
    assert r.returncode != 0 and "expected STEP=PATH with an integer step" in r.stderr
    assert not list(tmp_path.iterdir())


SAMPLING = {"n": 2, "temperature": 0.6, "top_p": 0.95, "max_tokens": 16}


def test_an_interrupted_eval_never_grades_samples_of_other_weights(tiny_model, tiny_world, tmp_path, monkeypatch,
                                                                   capsys):
    """Issue 9, case 2: the eval dies between generation and grading; the model is retrained; the
    rerun must sample the new weights, not report the old model's samples under the new name."""
    import shutil

    import torch
    from safetensors.torch import load_file, save_file

    from mot import evaluate as ev

    model = tmp_path / "model"
    shutil.copytree(tiny_model, model)
    bench = [("syn-aime24", str(tiny_world))]
    args = dict(checkpoints=[(5, str(model))], benchmarks=bench, spec=EvalSpec(SAMPLING), out=str(tmp_path / "run.json"),
                samples=str(tmp_path / "run.samples.jsonl"))

    def die(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(ev, "grade_samples", die)
    with pytest.raises(KeyboardInterrupt):
        evaluate(**args)
    assert list((tmp_path / "run.samples.jsonl.partial").glob("step-5.*.raw.jsonl"))  # generated, not graded
    monkeypatch.undo()

    weights = load_file(model / "model.safetensors")  # "retrain": other weights, same path
    save_file({k: v + 0.5 * torch.randn_like(v) if v.is_floating_point() else v for k, v in weights.items()},
              str(model / "model.safetensors"), metadata={"format": "pt"})
    calls = []
    real = ev.generate_samples
    monkeypatch.setattr(ev, "generate_samples", lambda *a, **k: (calls.append(a[1]["params"]["model"]), real(*a, **k)))
    evaluate(**args)
    assert calls == [str(model)]
    assert "discarding samples of other weights for step 5" in capsys.readouterr().out
    fresh = tmp_path / "fresh.samples.jsonl"
    evaluate(**{**args, "samples": str(fresh), "out": str(tmp_path / "fresh.json")})
    assert (tmp_path / "run.samples.jsonl").read_bytes() == fresh.read_bytes()


def test_an_empty_benchmark_file_is_named_before_any_sampling(tiny_model, tmp_path):
    (tmp_path / "aime24.jsonl").write_text("")
    with pytest.raises(MotError, match=r"aime24.jsonl: benchmark 'aime24' has no problems"):
        evaluate([(0, str(tiny_model))], [("aime24", str(tmp_path / "aime24.jsonl"))], EvalSpec(SAMPLING),
                 str(tmp_path / "o.json"), str(tmp_path / "s.jsonl"))
    assert [p.name for p in tmp_path.iterdir()] == ["aime24.jsonl"]


def test_eval_refuses_to_replace_what_it_did_not_write(tiny_model, tiny_world, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    bench = [("syn-aime24", str(tiny_world))]
    with pytest.raises(MotError, match=r"--samples .*mine: is a directory, expected a file"):
        evaluate([(0, str(tiny_model))], bench, EvalSpec(SAMPLING), str(tmp_path / "o.json"), str(tmp_path / "mine"))
    with pytest.raises(MotError, match="would replace the input"):
        evaluate([(0, str(tiny_model))], bench, EvalSpec(SAMPLING), str(tmp_path / "o.json"), str(tiny_model))
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_a_users_file_deep_in_evaluations_work_is_refused_by_name_not_deleted(tiny_world, tmp_path):
    """Issue 33, probe 21, case 10: the check of a user's file in evaluation's stopped work looked at its
    top level only: a note inside a checkpoint's sampling work (`step-*.raw.jsonl.partial/`) was deleted."""
    from mot.io import release_output, start_work

    samples = tmp_path / "e.samples.jsonl"
    start_work(samples, ["an earlier attempt"], {})
    release_output(samples)
    nested = tmp_path / "e.samples.jsonl.partial" / "step-0.1234567890abcdef.raw.jsonl.partial"
    start_work(nested.with_suffix(""), ["its sampling"], {})
    release_output(nested.with_suffix(""))
    (nested / "my-notes.txt").write_text("hand-checked grades")
    with pytest.raises(MotError, match=r"raw\.jsonl\.partial/my-notes\.txt: not mot's"):
        evaluate([(0, str(tmp_path / "nonexistent"))], [("syn-aime24", str(tiny_world))], EvalSpec(SAMPLING),
                 str(tmp_path / "e.json"), str(samples))
    assert (nested / "my-notes.txt").read_text() == "hand-checked grades"


def test_a_template_with_latex_braces_is_used_as_written(tiny_model, tiny_world, tmp_path):
    template = "{problem}\nPlease reason step by step, and put your final answer within \\boxed{}."
    evaluate([(0, str(tiny_model))], [("syn-aime24", str(tiny_world))], EvalSpec(SAMPLING, template=template),
             str(tmp_path / "o.json"), str(tmp_path / "s.jsonl"))
    assert json.loads((tmp_path / "o.json").read_text())["template"] == template


def test_the_eval_spec_is_checked_once_with_one_line():
    with pytest.raises(MotError, match=r"^--spec sampling: missing top_p, max_tokens$"):
        EvalSpec.of({"sampling": {"n": 2, "temperature": 0.6}})
    with pytest.raises(MotError, match=r"^--spec: unknown key\(s\) engine \(known: sampling, backend, params, template, seed\)$"):
        EvalSpec.of({"sampling": SAMPLING, "engine": "vllm"})
    with pytest.raises(MotError, match=r"^--spec: seed = '0' is not int \(seed\)$"):
        EvalSpec.of({"sampling": SAMPLING, "seed": "0"})
    assert EvalSpec.of({"sampling": SAMPLING, "backend": "vllm"}) == EvalSpec(SAMPLING, backend="vllm")
    with pytest.raises(MotError, match=r"^eval backend 'tgi': expected one of hf, vllm \(config key eval.backend\)$"):
        EvalSpec(SAMPLING, backend="tgi")
    with pytest.raises(MotError, match="--spec template"):
        EvalSpec(SAMPLING, template="no placeholder")


def test_a_sample_cut_at_the_length_limit_is_graded_wrong_even_with_the_right_answer(tiny_model, tiny_world,
                                                                                     tmp_path, monkeypatch):
    """A sample that hit max_tokens did not end by itself: its text may already hold a closed thought
    and a boxed answer (cut before its end-of-turn, or in the middle of a longer answer), which is not
    its answer. The hf backend is stood in for by one that writes each problem's reference answer and
    ends every other sample at the limit."""
    import mot.generate as gen

    def generate(self, rows, n, seed):
        return [[{"text": f"<think>\nso\n</think>\n\n\\boxed{{{r['answer']}}}", "finish_reason": "length" if k % 2 else "stop"}
                 for k in range(n)] for r in rows]

    monkeypatch.setattr(gen.HFTeacher, "generate", generate)
    spec = EvalSpec(sampling={"n": 4, "temperature": 0.6, "top_p": 0.95, "max_tokens": 8})
    record = evaluate([(0, str(tiny_model))], [("syn-aime24", str(tiny_world))], spec, str(tmp_path / "e.json"),
                      str(tmp_path / "e.samples.jsonl"))
    assert record["checkpoints"][0]["benchmarks"]["syn-aime24"]["pass@1"] == 0.5
    rows = [json.loads(x) for x in json_lines(tmp_path / "e.samples.jsonl")]
    assert {(s["finish_reason"], s["correct"]) for r in rows for s in r["samples"]} == {("stop", True),
                                                                                      ("length", False)}
