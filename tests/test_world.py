"""The synthetic world: splits, teachers' formats, temperature and error behaviour."""
import random
import re

import pytest

from mot.grading import extract_answer, is_correct
from mot.world import QUIRKS, STYLES, evaluate, make_world, problem_text, teacher_trace

from conftest import TINY_WORLD


def test_world_is_deterministic_and_splits_disjoint():
    a, b = make_world(**TINY_WORLD), make_world(**TINY_WORLD)
    assert a == b
    texts = [r["problem"] for split in a.values() for r in split]
    assert len(texts) == len(set(texts))  # no held-out problem appears in a training split
    assert [len(a[k]) for k in ("pretrain", "pool", "test24", "test25")] == [40, 60, 4, 4]


def test_answers_are_integers_in_range():
    world = make_world(**TINY_WORLD)
    for row in world["pool"]:
        values = evaluate(row["spec"]["start"], row["spec"]["ops"])
        assert all(0 <= v <= 99 for v in values)
        assert row["answer"] == str(values[-1])
        assert row["problem"] == problem_text(row["spec"]["start"], row["spec"]["ops"])


def test_problem_text():
    assert problem_text(7, [["+", 5], ["*", 3], ["-", 4]]) == "Compute ((7 + 5) * 3) - 4."
    assert evaluate(7, [["+", 5], ["*", 3], ["-", 4]])[-1] == 32


def test_every_style_writes_the_real_format_and_is_right_at_temperature_zero():
    spec = {"start": 7, "ops": [["+", 5], ["*", 3], ["-", 4]]}
    for style in STYLES:
        text = teacher_trace(spec, style, random.Random(0), 0.0, error_rate=0.5, format_error_rate=0.5)
        assert text.startswith("<think>\n") and "\n</think>\n\n" in text
        assert extract_answer(text) == "32"


def test_styles_are_distinct():
    spec = {"start": 7, "ops": [["+", 5], ["*", 3]]}
    texts = {teacher_trace(spec, s, random.Random(0), 0.0, 0.0) for s in STYLES}
    assert len(texts) == len(STYLES)


def test_error_rate_grows_with_temperature():
    spec = {"start": 7, "ops": [["+", 5], ["*", 3], ["-", 4], ["+", 9]]}

    def pass_rate(t):
        rng = random.Random(1)
        return sum(is_correct(teacher_trace(spec, "concise", rng, t, 0.1), "41") for _ in range(400)) / 400

    assert pass_rate(0.0) == 1.0
    assert pass_rate(0.3) > pass_rate(1.2) > 0.2


def test_quirks_are_systematic_sound_and_teacher_specific():
    spec = {"start": 17, "ops": [["+", 5], ["*", 3], ["-", 8]]}
    trace = {q: teacher_trace(spec, "concise", random.Random(0), 0.0, 0.0, quirk=q) for q in QUIRKS}
    assert "22 + 22 + 22 = 66." in trace["mul_by_addition"]
    assert "(66 - 6 - 2 = 58)" in trace["borrow_split"]
    assert "Remaining: (22 * 3) - 8.\n" in trace["restate"] and "Remaining: 66 - 8.\n" in trace["restate"]
    assert trace["parity"].count("is even.)") == 3
    assert all(extract_answer(t) == "58" for t in trace.values())  # habits never change the answer
    assert len(set(trace.values())) == len(QUIRKS)
    # a product re-derived by addition repairs a slipped product (a teacher that checks its weak op)
    rng = random.Random(3)
    slipped = [teacher_trace({"start": 7, "ops": [["*", 3]]}, "concise", rng, 0.6, 0.9, quirk="mul_by_addition")
               for _ in range(50)]
    assert all(extract_answer(t) == "21" for t in slipped) and any("7 * 3 = 21" not in t for t in slipped)


def test_quirk_rate_is_the_share_of_traces_with_the_habit():
    spec = {"start": 17, "ops": [["+", 5], ["*", 3]]}

    def share(rate, n=2000):
        rng = random.Random(0)
        return sum("is even" in teacher_trace(spec, "concise", rng, 0.6, 0.0, quirk="parity", quirk_rate=rate)
                   for _ in range(n)) / n

    assert share(1.0) == 1.0 and share(0.0) == 0.0 and 0.46 < share(0.5) < 0.54
    # rate 1 draws nothing: the same traces as a teacher written before quirk_rate existed
    assert teacher_trace(spec, "deliberate", random.Random(5), 0.6, 0.1, quirk="parity") == \
        teacher_trace(spec, "deliberate", random.Random(5), 0.6, 0.1, quirk="parity", quirk_rate=1.0)


def test_held_out_op_is_only_in_pretraining_and_its_general_task():
    from mot.world import GENERAL_TASKS

    plain = make_world(**TINY_WORLD)
    world = make_world(**TINY_WORLD, held_out_op="//", held_out_pretrain=30, general_size=5)
    assert {k: world[k] for k in plain} == plain  # the new splits leave every other split unchanged
    assert len(world["pretrain_op"]) == 30 and all(len(world[f"general-{t}"]) == 5 for t in GENERAL_TASKS)

    def uses(row):
        return any(op == "//" for op, _ in row["spec"]["ops"])

    assert all(uses(r) for r in world["pretrain_op"] + world["general-syn_div"])
    assert not any(uses(r) for k in ("pretrain", "pool", "test24", "test25", "general-syn_long") for r in world[k])
    assert {len(r["spec"]["ops"]) for r in world["general-syn_longer"]} == {5}
    row = next(r for r in world["general-syn_div"] if r["spec"]["ops"][0][0] == "//")
    start, (op, b) = row["spec"]["start"], row["spec"]["ops"][0]
    assert row["problem"].startswith(f"Compute ({start} // {b})") or row["problem"].startswith(f"Compute (({start} // {b})")
    assert evaluate(start, row["spec"]["ops"])[1] == start // b
    texts = [r["problem"] for split in world.values() for r in split]
    assert len(texts) == len(set(texts))


def test_weak_op_slips_three_times_as_often():
    spec = {"start": 50, "ops": [["-", 3]]}

    def error_rate(weak_op):
        rng = random.Random(0)
        return sum(not is_correct(teacher_trace(spec, "concise", rng, 0.6, 0.05, weak_op=weak_op), "47")
                   for _ in range(4000)) / 4000

    assert 0.03 < error_rate(None) < 0.07 and 0.12 < error_rate("-") < 0.18 and error_rate("+") == error_rate(None)


def test_schema_lists_every_quirk():
    import yaml
    from pathlib import Path

    schema = yaml.safe_load((Path(__file__).parents[1] / "config" / "schema.yaml").read_text())
    params = schema["properties"]["teachers"]["additionalProperties"]["properties"]["params"]["properties"]
    assert params["quirk"]["enum"] == list(QUIRKS)


def test_shipped_base_was_built_from_the_default_config():
    """The repository ships the default config's pre-trained base; its record must name the
    settings the config has today (else the workflow would look for another directory)."""
    import json
    from pathlib import Path

    import yaml

    from mot import layout
    from mot.student import BASE_RECORD, base_spec, checkout_base_key

    root = Path(__file__).parents[1]
    config = yaml.safe_load((root / "config" / "config.yaml").read_text())
    student = config["students"]["tiny"]
    base = root / layout.synthetic_base("tiny", checkout_base_key(config["world"], student["arch"], student["pretrain"]))
    assert base.is_dir(), f"{base} is not shipped: snakemake --forcerun world_student, then commit it"
    record = json.loads((base / BASE_RECORD).read_text())
    spec = base_spec(config["world"], student["arch"], student["pretrain"])
    assert {k: record[k] for k in spec} == spec
    assert sum(f.stat().st_size for f in base.iterdir()) < 20e6


def test_base_is_rebuilt_bit_for_bit(tmp_path):
    import torch

    from mot.student import build_base

    world = {"seed": 0, "pool_size": 30, "pretrain_size": 40, "test_size": 4, "ops": [1, 3], "max_operand": 9,
             "max_value": 99, "vocab_size": 300}
    arch = {"hidden_size": 32, "num_layers": 1, "num_heads": 2, "num_kv_heads": 2, "intermediate_size": 64,
            "max_position": 256}
    pretrain = {"steps": 3, "batch_size": 4, "lr": 1e-3, "seed": 0, "noise": 0.1, "direct_fraction": 0.5,
                "require_nonzero": False}
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for name in ("a", "b"):
            build_base(world, arch, pretrain, str(tmp_path / name))
    finally:
        torch.set_num_threads(threads)
    files = sorted(p.name for p in (tmp_path / "a").iterdir())
    assert "model.safetensors" in files and "tokenizer.json" in files
    assert files == sorted(p.name for p in (tmp_path / "b").iterdir())
    assert all((tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes() for f in files)


def test_base_key_covers_the_teacher_styles(monkeypatch):
    """The pre-training traces and the tokenizer are written in mot.world.STYLES: a changed phrasing
    must name another base, not reuse the shipped one."""
    import dataclasses

    from mot import student, world

    w = {"seed": 0, "pool_size": 30, "pretrain_size": 40, "ops": [1, 3], "max_operand": 9, "max_value": 99}
    arch, pretrain = {"hidden_size": 32}, {"steps": 3, "styles": ["plain"]}
    before = student.base_key(w, arch, pretrain, "c0")
    assert student.base_key(w, arch, pretrain, "c1") != before  # the code that builds it (probe 10, case 17)
    changed = {**world.STYLES, "shifted": dataclasses.replace(world.STYLES["shifted"], check_rate=0.9)}
    monkeypatch.setattr(student, "STYLES", changed)  # a style the base never pre-trains on: the tokenizer's
    assert student.base_key(w, arch, pretrain, "c0") != before


def test_a_world_with_no_more_such_problems_stops_at_once():
    """Issue 33, sixth probe, case 16: a split larger than the world's problems drew 200 x its size
    times before giving up (hours for a size of millions); it stops once no new problem came in
    mot.world.STALL draws (the default world's longest such run is 37)."""
    import time

    from mot.io import MotError
    from mot.world import make_world

    start = time.monotonic()
    with pytest.raises(MotError, match="cannot draw 10000000 unique 'pretrain' problems"):
        make_world(0, 10, 10, 10_000_000, [1, 1], [1, 1], 2, 20)
    assert time.monotonic() - start < 30


def test_an_edit_of_the_code_that_builds_the_shipped_base_builds_another(checkout):
    """Tenth probe, case 17: the shipped base has no Snakemake record, so an edit of the code that
    pre-trains it planned nothing, and every stage went on from the old code's base. Its name holds
    the world-student code version (mot.student.base_key): an edit names another base, which the
    rule builds; the shipped one is this code's (else the test above fails first)."""
    from conftest import snakemake_in

    r = snakemake_in(checkout, "base_models", "--cores", "1", "-n")
    assert r.returncode == 0 and "Nothing to be done" in r.stdout + r.stderr, r.stdout + r.stderr
    f = checkout / "src/mot/student.py"
    f.write_text(f.read_text().replace('stable_hash("pretrain-data", seed)', 'stable_hash("pretrain-data-v2", seed)'))
    r = snakemake_in(checkout, "base_models", "--cores", "1", "-n")
    assert r.returncode == 0 and re.search(r"^world_student\s+1$", r.stdout, re.M), r.stdout + r.stderr
