"""Corpus selection: one seeded correct sample per prompt, drops, union, zero-correct errors."""
import json
from pathlib import Path

import pytest

from mot import shapes
from mot.corpus import build_corpus, select, union
from mot.io import MotError, write_jsonl

ROOT = Path(__file__).resolve().parents[1]


def rows(teacher="t"):
    ok = lambda a: {"text": f"<think>x</think> \\boxed{{{a}}}", "finish_reason": "stop"}
    return [
        {"id": "p1", "source": "s", "teacher": teacher, "prompt": "q1", "answer": "5",
         "samples": [ok(4), ok(5), ok("5.0"), ok(6)]},
        {"id": "p2", "source": "s", "teacher": teacher, "prompt": "q2", "answer": "7",
         "samples": [ok(1), ok(2)]},  # no correct sample: dropped
        {"id": "p3", "source": "s", "teacher": teacher, "prompt": "q3", "answer": "1/2",
         "samples": [ok("\\frac{1}{2}"), ok("0.5"), ok(3)]},
    ]


def test_select_keeps_one_correct_sample_per_prompt_and_drops_the_rest():
    corpus, grades = select(rows(), seed=0)
    assert [r["id"] for r in corpus] == ["p1", "p3"]
    assert corpus[0]["response"] in {"<think>x</think> \\boxed{5}", "<think>x</think> \\boxed{5.0}"}
    assert corpus[1]["response"] in {"<think>x</think> \\boxed{\\frac{1}{2}}", "<think>x</think> \\boxed{0.5}"}
    assert grades == {"prompts": 3, "prompts_kept": 2, "samples": 9, "correct": 4, "pass_rate": 4 / 9,
                      "lost_no_correct": 1, "lost_too_long": 0, "correct_too_long": 0}


def test_a_sample_that_did_not_end_by_itself_is_never_correct():
    """A trace cut at max_tokens (or aborted) can hold a right \\boxed{} by chance: it never counts."""
    rs = rows()
    rs[0]["samples"] = [{**s, "finish_reason": "length"} for s in rs[0]["samples"]]
    rs[2]["samples"][0]["finish_reason"] = "abort"
    corpus, grades = select(rs, seed=0)
    assert [r["id"] for r in corpus] == ["p3"] and corpus[0]["response"] == "<think>x</think> \\boxed{0.5}"
    assert (grades["correct"], grades["lost_no_correct"]) == (1, 2)


def test_the_choice_is_made_among_correct_samples_that_fit():
    """Paper 4.1's random correct trace is drawn among those that fit the student's max_length: a
    prompt is lost for length only when every correct trace is too long, and the losses are counted."""
    rs = rows()
    rs[0]["samples"][2]["text"] = "<think>" + "x" * 500 + "</think> \\boxed{5.0}"  # correct, too long
    rs[2]["samples"] = [{"text": "<think>" + "y" * 500 + "</think> \\boxed{0.5}", "finish_reason": "stop"}]
    fits = lambda prompt, response: len(response) < 100
    for seed in range(10):
        corpus, grades = select(rs, seed, fits)
        assert [(r["id"], r["response"]) for r in corpus] == [("p1", "<think>x</think> \\boxed{5}")]
    assert (grades["lost_no_correct"], grades["lost_too_long"], grades["correct_too_long"]) == (1, 1, 2)


def test_length_rule_measures_the_students_sft_example(tmp_path):
    """LengthRule counts the student's whole SFT example (chat template, trace, end-of-turn token)."""
    from mot.chat import sft_example
    from mot.corpus import LengthRule
    from mot.models import load_tokenizer

    base = next((ROOT / "data" / "bases").iterdir())
    tok = load_tokenizer(str(base))
    n = len(sft_example(tok, "q1", "<think>x</think> \\boxed{5}")[0])
    assert LengthRule(str(base), n).fits()("q1", "<think>x</think> \\boxed{5}")
    assert not LengthRule(str(base), n - 1).fits()("q1", "<think>x</think> \\boxed{5}")
    assert LengthRule(str(base), n - 1, "truncate").fits() is None  # cut, not dropped: every trace is usable


def test_selection_is_seeded_and_independent_of_file_order():
    a, _ = select(rows(), seed=0)
    b, _ = select(list(reversed(rows())), seed=0)
    assert {r["id"]: r["response"] for r in a} == {r["id"]: r["response"] for r in b}
    picks = {select(rows(), seed=s)[0][0]["response"] for s in range(20)}
    assert len(picks) == 2  # different seeds reach both correct samples, never a wrong one


def test_build_corpus_is_byte_identical_across_runs(tmp_path):
    write_jsonl(tmp_path / "s.jsonl", rows())
    for i in (1, 2):
        build_corpus(str(tmp_path / "s.jsonl"), 0, str(tmp_path / f"c{i}.jsonl"), str(tmp_path / f"g{i}.json"))
    assert (tmp_path / "c1.jsonl").read_bytes() == (tmp_path / "c2.jsonl").read_bytes()
    assert json.loads((tmp_path / "g1.json").read_text())["prompts_kept"] == 2
    shapes.check(json.loads((tmp_path / "g1.json").read_text()), shapes.GRADE_COUNTS, "g1.json")  # what Table 10 reads


def test_zero_correct_teacher_is_an_error_and_writes_nothing(tmp_path):
    bad = [r for r in rows("r1") if r["id"] == "p2"]
    write_jsonl(tmp_path / "s.jsonl", bad)
    with pytest.raises(MotError, match="teacher 'r1' has zero correct samples on source 's'"):
        build_corpus(str(tmp_path / "s.jsonl"), 0, str(tmp_path / "c.jsonl"), str(tmp_path / "g.json"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.jsonl"]


def test_malformed_samples_line_names_file_and_line(tmp_path):
    path = tmp_path / "s.jsonl"
    write_jsonl(path, rows())
    path.write_text(path.read_text() + "{not json\n")
    with pytest.raises(MotError, match=r"s\.jsonl:4: malformed JSON"):
        build_corpus(str(path), 0, str(tmp_path / "c.jsonl"), str(tmp_path / "g.json"))


def test_a_corpus_row_whose_text_is_not_text_names_file_and_line(tmp_path):
    """Issue 33, probe #29, for JSONL inputs: a value of the wrong type is one line, not a TypeError."""
    write_jsonl(tmp_path / "c.jsonl", [{"prompt": "p", "response": "r"}, {"prompt": ["p"], "response": "r"}])
    with pytest.raises(MotError, match=r"c\.jsonl:2: 'prompt' is list \[\"p\"\], not text$"):
        union([str(tmp_path / "c.jsonl")], str(tmp_path / "u.jsonl"))
    assert not (tmp_path / "u.jsonl").exists()


def test_union(tmp_path):
    for t in ("a", "b"):
        build_corpus_rows = select(rows(t), 0)[0]
        write_jsonl(tmp_path / f"{t}.jsonl", build_corpus_rows)
    assert union([str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")], str(tmp_path / "mtd.jsonl")) == 4


@pytest.mark.parametrize("case", ["union", "corpus_grades", "stats", "train_file", "prompts_world"])
def test_no_command_overwrites_its_own_input_or_a_file_where_a_directory_goes(tmp_path, case):
    """One check (mot.placement.check_outputs) before every command: an output that is one of its inputs,
    or a regular file where a directory is written, is one line and leaves every file as it was."""
    from conftest import run_mot

    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    write_jsonl(a, select(rows("a"), 0)[0])
    write_jsonl(b, select(rows("b"), 0)[0])
    base = next((ROOT / "data" / "bases").iterdir())
    args, message = {
        "union": (["union", "--out", a, a, b], f"--out {a}: would replace the input {a}"),
        "corpus_grades": (["corpus", "--samples", a, "--out", tmp_path / "c.jsonl", "--grades", a],
                          f"--grades {a}: would replace the input {a}"),
        "stats": (["stats", "--tokenizer", base, "--grades", a, "--corpora", b, "--out", b],
                  f"--out {b}: would replace the input {b}"),
        "train_file": (["train", "--model", base, "--corpus", a, "--spec", "{}", "--out", b],
                       f"--out {b}: is a file, expected a directory"),
        "prompts_world": (["prompts", "--source", "s", "--spec", "{}", "--template", "{problem}", "--world", a,
                           "--out", a], f"--out {a}: would replace the input {a}"),
    }[case]
    before = {p: p.read_bytes() for p in (a, b)}
    r = run_mot(*args)
    assert r.returncode == 1 and r.stderr.strip() == f"mot: error: {message}", r.stderr
    assert {p: p.read_bytes() for p in (a, b)} == before


def test_non_utf8_and_truncated_files_are_one_line_naming_them(tmp_path):
    """Bytes that are not UTF-8 in a JSONL file name its line; a truncated JSON summary names the file."""
    from mot.readers import read_json, read_jsonl

    f = tmp_path / "s.jsonl"
    f.write_bytes(b'{"id": "a", "prompt": "p"}\n{"id": "b", "prompt": "caf\xe9"}\n')
    with pytest.raises(MotError, match=r"s\.jsonl:2: not UTF-8 text \(byte 26 of the line is 0xe9\)"):
        read_jsonl(f)
    g = tmp_path / "summary.json"
    g.write_text('{"student": "s", "checkpoints": [{"step": 5, ')
    with pytest.raises(MotError, match=r"summary\.json: eval summary is malformed or truncated"):
        read_json(g, "eval summary")
    with pytest.raises(MotError, match=r"nowhere\.json: eval summary not found"):
        read_json(tmp_path / "nowhere.json", "eval summary")


def grades(teacher):
    return {"teacher": teacher, "source": "s", "prompts": 3, "prompts_kept": 2, "samples": 9, "correct": 4,
            "pass_rate": 0.4444, "lost_no_correct": 1, "lost_too_long": 0, "correct_too_long": 0}


@pytest.mark.parametrize("case", ["union twice", "union by another name", "union same trace", "stats swapped",
                                  "stats twice", "stats counts"])
def test_the_fourth_probes_corpus_inputs_are_one_line(tmp_path, case):
    """Issue 33, fourth probe, cases 8 and 9: `mot union` of one corpus twice (by any name) wrote each
    trace twice, an MTD corpus weighing it double; `mot stats` with the grades and corpora in other
    orders, or a teacher twice, wrote a wrong Table 10 without a word."""
    from mot.corpus import corpus_stats

    for t in ("a", "b"):
        write_jsonl(tmp_path / f"{t}.jsonl", select(rows(t), 0)[0])
        (tmp_path / f"{t}.grades.json").write_text(json.dumps(grades(t)))
    a, b, ga, gb = (str(tmp_path / n) for n in ("a.jsonl", "b.jsonl", "a.grades.json", "b.grades.json"))
    base = str(next((ROOT / "data" / "bases").iterdir()))
    out = str(tmp_path / "out")
    call, message = {
        "union twice": (lambda: union([a, b, a], out), "the same file as"),
        "union by another name": (lambda: union([a, str(tmp_path / "." / "b.jsonl"), b], out), "the same file as"),
        "union same trace": (lambda: (write_jsonl(tmp_path / "c.jsonl", select(rows("a"), 0)[0]),
                                      union([a, str(tmp_path / "c.jsonl")], out)), "teacher 'a' has prompt 'p1' in"),
        "stats swapped": (lambda: corpus_stats(base, [ga, gb], [b, a], out + ".csv"), "give --grades and --corpora in"),
        "stats twice": (lambda: corpus_stats(base, [ga, ga], [a, a], out + ".csv"), "the same file as"),
        "stats counts": (lambda: corpus_stats(base, [ga, gb], [a], out + ".csv"), "--grades has 2 files and --corpora 1"),
    }[case]
    with pytest.raises(MotError, match=message):
        call()
    assert not list(tmp_path.glob("out*"))
