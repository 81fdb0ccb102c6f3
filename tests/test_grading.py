"""Exact tests of the one grader: extraction and equivalence."""
import pytest

from mot.grading import extract_answer, is_correct

EXTRACT = [
    (r"The answer is \boxed{42}.", "42"),
    (r"\boxed{ 7 }", "7"),
    (r"\boxed{\frac{1}{2}}", r"\frac{1}{2}"),
    (r"\boxed{\frac{\sqrt{3}}{2}}", r"\frac{\sqrt{3}}{2}"),
    (r"so \boxed{x^{2}+\{1\}} done", r"x^{2}+\{1\}"),
    (r"first \boxed{3} then wait, it is \boxed{4}", "4"),
    (r"\boxed{2}, \boxed{3}", "2, 3"),
    (r"\boxed{2} and \boxed{5}", "2, 5"),
    ("<think>maybe \\boxed{1}</think>\nFinal: \\boxed{2}", "2"),
    ("<think>try \\boxed{9}</think>\nThe answer is 10.", "10"),
    ("<think>no end \\boxed{5}", None),  # a reasoning cut at max_tokens states no answer
    (r"\fbox{12}", "12"),
    (r"\boxed 5", "5"),
    (r"$\boxed{\text{(B)}}$", "(B)"),
    (r"\boxed{\text{yes}}", "yes"),
    (r"\boxed{3.}", "3"),
    ("Final answer: 17", "17"),
    ("The final answer is $\\frac{3}{4}$.", r"\frac{3}{4}"),
    ("so the result is\n**73**", "73"),
    (r"\boxed{(1, 2)}", "(1, 2)"),
    (r"\boxed{\left(1, \frac{1}{2}\right)}", r"\left(1, \frac{1}{2}\right)"),
    (r"cut off \boxed{\frac{1}{", None),
    ("no answer here at all", None),
    ("", None),
    ("<think>\\boxed{4}</think>", None),
]


@pytest.mark.parametrize("text,expected", EXTRACT)
def test_extract_answer(text, expected):
    assert extract_answer(text) == expected


CORRECT = [
    (r"\boxed{42}", "42", True),
    (r"\boxed{025}", "25", True),
    (r"\boxed{0.5}", r"\frac{1}{2}", True),
    (r"\boxed{\dfrac{1}{2}}", "1/2", True),
    (r"\boxed{\frac{\sqrt{2}}{2}}", r"\sqrt{2}/2", True),
    (r"\boxed{3\pi}", r"3\pi", True),
    (r"\boxed{1,000}", "1000", True),
    (r"\boxed{x=5}", "5", True),
    (r"\boxed{\{1,2\}}", "1,2", True),
    (r"\boxed{2}, \boxed{1}", "1, 2", True),
    (r"\boxed{43}", "42", False),
    (r"\boxed{-3}", "3", False),
    (r"\boxed{\frac{1}{3}}", "0.33", False),
    ("no box", "5", False),
    ("<think>\\boxed{5}</think> I give up", "5", False),
    ("<think>work</think>\n\\boxed{5}", "5", True),
    ("**73**", "73", True),
    (r"\boxed{7}", r"Long worked solution ... so the answer is \boxed{7}", True),
    (r"\boxed{8}", r"Long worked solution ... so the answer is \boxed{7}", False),
    (r"\boxed{\text{(A)}}", "A", True),
]


@pytest.mark.parametrize("response,reference,expected", CORRECT)
def test_is_correct(response, reference, expected):
    assert is_correct(response, reference) is expected
