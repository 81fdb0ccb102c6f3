"""The synthetic world: splits, teachers' formats, temperature and error behaviour."""
import random

from mot.grading import extract_answer, is_correct
from mot.world import STYLES, evaluate, make_world, problem_text, teacher_trace

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
