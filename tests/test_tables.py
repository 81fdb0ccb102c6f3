"""Tables from fixture eval summaries: exact cells, best-checkpoint choice, published columns."""
import csv
import json
import re
import shutil
from pathlib import Path

import pytest

from mot.io import MotError
from mot.results import Results
from mot.tables import make_table

SPEC = {
    "students": {"s": "STU"},
    "sources": {"a": "SRC-A"},
    "teachers": {"t1": {"label": "T1", "shifted": False}, "t2": {"label": "T2", "shifted": False},
                 "r1": {"label": "R1", "shifted": True}},
    "sets": {"all": ["t1", "t2", "r1"], "nor1": ["t1", "t2"], "peers": ["t1", "t2"]},
    "roles": {"mot": "all", "no_shifted": "nor1", "peers": "peers"},
    "benchmarks": ["syn-aime24", "syn-aime25"],
    "steps_per_round": 5, "rounds": 2, "published": None,
}
# (run, {step: (pass@1 bench 1, pass@1 bench 2)})
RUNS = {
    "base": {0: (0.10, 0.20)},
    "sft-t1": {5: (0.30, 0.10), 10: (0.20, 0.20)},   # AVG 20.0 then 20.0: tie -> step 5
    "sft-t2": {5: (0.40, 0.30), 10: (0.20, 0.10)},   # best step 5, AVG 35
    "sft-r1": {5: (0.05, 0.05), 10: (0.10, 0.00)},   # best step 5 (AVG 5, tie -> earlier)
    "sft-mtd": {5: (0.25, 0.25), 10: (0.50, 0.30)},  # best step 10, AVG 40
    "mot-all": {5: (0.40, 0.40), 10: (0.60, 0.40)},  # best round 2, AVG 50
    "mot-nor1": {5: (0.45, 0.35), 10: (0.30, 0.30)},  # best round 1, AVG 40
    "mot-peers": {5: (0.20, 0.20), 10: (0.35, 0.25)},  # best round 2, AVG 30
}


# validation pass@1 (syn-val) where it is not 0.1: it picks other checkpoints than the tests would
VAL = {("sft-t1", 10): 0.9, ("mot-all", 5): 0.5}


def solved(v: float, n: int = 20) -> list[float]:
    """n problems of which the first round(v n) are solved: pass@1 = v."""
    k = round(v * n)
    return [1.0] * k + [0.0] * (n - k)


@pytest.fixture
def evals(tmp_path):
    paths = []
    for run, steps in RUNS.items():
        rec = {"student": "s", "source": None if run == "base" else "a", "run": run, "checkpoints": [
            {"step": st, "model": f"m/{run}/{st}", "benchmarks": {
                b: {"pass@1": v, "se": 0.01, "se_problems": 0.02, "ci95": [v, v], "per_problem": solved(v)}
                for b, v in zip(SPEC["benchmarks"], vals)} | {"syn-val": {"pass@1": VAL.get((run, st), 0.1), "se": 0.0}}}
            for st, vals in steps.items()]}
        p = tmp_path / f"{run}.json"
        p.write_text(json.dumps(rec))
        paths.append(str(p))
    return paths


def rows(tmp_path, name, evals, spec=SPEC, se=False):
    """The CSV's rows; without the SE columns unless se=True."""
    make_table(name, spec, evals, [], str(tmp_path / name))
    with open(tmp_path / f"{name}.csv", newline="") as f:
        out = list(csv.reader(f))
    keep = [i for i, c in enumerate(out[0]) if se or not c.endswith(" SE")]
    return [[r[i] for i in keep] for r in out]


def test_best_checkpoint_is_highest_avg_and_earliest_on_ties(evals):
    res = Results(evals, SPEC["benchmarks"])
    assert res.best("s", "a", "sft-t1") == (5, pytest.approx([30.0, 10.0, 20.0]))
    assert res.best("s", "a", "sft-mtd")[0] == 10
    assert res.best("s", "a", "mot-nor1")[0] == 5


def test_table1_main_results(tmp_path, evals):
    assert rows(tmp_path, "table1", evals) == [
        ["Configuration", "SYN-AIME24", "SYN-AIME25", "AVG", "AVG Gain"],
        ["STU", "10.00", "20.00", "15.00", "-"],
        ["STU + SRC-A (MOT)", "60.00", "40.00", "50.00", "+35.00"],
    ]


def test_every_score_has_its_standard_error_over_problems(tmp_path, evals):
    assert rows(tmp_path, "table1", evals, se=True) == [
        ["Configuration", "SYN-AIME24", "SYN-AIME24 SE", "SYN-AIME25", "SYN-AIME25 SE", "AVG", "AVG SE", "AVG Gain"],
        ["STU", "10.00", "2.00", "20.00", "2.00", "15.00", "1.41", "-"],
        ["STU + SRC-A (MOT)", "60.00", "2.00", "40.00", "2.00", "50.00", "1.41", "+35.00"],
    ]
    md = (tmp_path / "table1.md").read_text()
    assert "| STU + SRC-A (MOT) | 60.00 ± 2.00 | 40.00 ± 2.00 | 50.00 ± 1.41 | +35.00 |" in md
    assert "± is the standard error over problems (bootstrap)" in md
    assert "60.00 $\\pm$ 2.00 & 40.00 $\\pm$ 2.00" in (tmp_path / "table1.tex").read_text()


def test_paired_differences_with_bootstrap_intervals(tmp_path, evals):
    out = rows(tmp_path, "differences", evals)
    assert out[0] == ["Base model", "Dataset", "Comparison", "AVG difference", "95% low", "95% high"]
    assert [r[:4] for r in out[1:]] == [
        ["STU", "SRC-A", "best STD (T2) - base", "20.00"],  # 35 - 15
        ["STU", "SRC-A", "MOT - best STD (T2)", "15.00"],  # 50 - 35
        ["STU", "SRC-A", "MOT - MTD", "10.00"],  # 50 - 40
        ["STU", "SRC-A", "MOT - MOT without the shifted teacher", "10.00"]]  # 50 - 40 (round 1)
    for r in out[1:]:
        assert float(r[4]) <= float(r[3]) <= float(r[5])
    assert out == rows(tmp_path, "differences", evals)  # seeded
    from mot.results import paired_difference

    same = {"b": [1.0, 0.0, 1.0, 0.5]}
    assert paired_difference(same, same, 0) == (0.0, 0.0, 0.0)  # paired: no spread without a difference


def test_the_best_checkpoint_is_chosen_on_validation_and_shown_on_the_tests(tmp_path, evals):
    spec = {**SPEC, "validation": ["syn-val"], "select_on": "validation"}
    got = {r[1]: r[2:] for r in rows(tmp_path, "table2", evals, spec)[1:]}
    assert got["STD (T1)"] == ["20.00", "20.00", "20.00"]  # step 10 (validation 90), not step 5
    assert got["MOT (ours)"] == ["40.00", "40.00", "40.00"]  # round 1 (validation 50), though round 2 tests higher
    assert got["STD (T2)"] == ["40.00", "30.00", "35.00"]  # a validation tie: the earlier step
    assert "chosen on the AVG over the validation benchmarks (syn-val)" in (tmp_path / "table2.md").read_text()
    assert "over the test benchmarks themselves" in (make_table("table2", SPEC, evals, [], str(tmp_path / "t")),
                                                     (tmp_path / "t.md").read_text())[1]
    with pytest.raises(MotError, match="select_on: validation needs eval.validation"):
        make_table("table2", {**spec, "validation": []}, evals, [], str(tmp_path / "x"))


def test_table2_every_method_at_its_best_checkpoint(tmp_path, evals):
    assert rows(tmp_path, "table2", evals)[1:] == [
        ["SRC-A", "Baseline", "10.00", "20.00", "15.00"],
        ["SRC-A", "MTD (ALL TEACHERS)", "50.00", "30.00", "40.00"],
        ["SRC-A", "STD (T1)", "30.00", "10.00", "20.00"],
        ["SRC-A", "STD (T2)", "40.00", "30.00", "35.00"],
        ["SRC-A", "STD (R1)", "5.00", "5.00", "5.00"],
        ["SRC-A", "MOT (ours)", "60.00", "40.00", "50.00"],
    ]


def test_tables_5_6_7(tmp_path, evals):
    assert rows(tmp_path, "table5", evals)[1] == ["STU", "T2", "35.00", "50.00"]
    assert rows(tmp_path, "table6", evals)[1] == ["STU", "R1", "-10.00"]
    assert rows(tmp_path, "table7", evals)[1] == ["STU", "-10.00"]


def test_table8_peers(tmp_path, evals):
    assert [r[2:] for r in rows(tmp_path, "table8", evals)[1:]] == [
        ["Base", "10.00", "20.00", "15.00"],
        ["STD: only T1", "30.00", "10.00", "20.00"],
        ["STD: only T2", "40.00", "30.00", "35.00"],
        ["MOT: T1 + T2", "35.00", "25.00", "30.00"],
        ["MOT: ALL TEACHERS", "60.00", "40.00", "50.00"],
    ]


def test_table11_and_12_every_checkpoint_and_round(tmp_path, evals):
    t11 = rows(tmp_path, "table11", evals)
    assert t11[0] == ["Method", "Config", "SRC-A STU SYN-AIME24", "SRC-A STU SYN-AIME25"]
    assert t11[1] == ["Base model", "-", "10.00", "20.00"]
    assert ["MTD (ALL TEACHERS)", "STEP 10", "50.00", "30.00"] in t11
    assert t11[-1] == ["MOT (T1 + T2)", "Round 2", "35.00", "25.00"]
    assert len(t11) == 1 + 1 + 4 * 2 + 3 * 2
    assert rows(tmp_path, "table12", evals)[1:] == [["STU", "SRC-A", "Round 1", "45.00", "35.00", "40.00"],
                                                    ["STU", "SRC-A", "Round 2", "30.00", "30.00", "30.00"]]


def test_markdown_and_latex_state_how_best_is_chosen(tmp_path, evals):
    make_table("table2", SPEC, evals, [], str(tmp_path / "t2"))
    md, tex = (tmp_path / "t2.md").read_text(), (tmp_path / "t2.tex").read_text()
    assert "ties go to the earlier step" in md and "| SRC-A | MOT (ours) | 60.00 ± 2.00 |" in md
    assert "\\begin{tabular}{llrrr}" in tex and "SRC-A & MOT (ours) & 60.00 $\\pm$ 2.00 & 40.00 $\\pm$ 2.00 & 50.00 $\\pm$ 1.41 \\\\" in tex


def test_published_numbers_appear_beside_ours(tmp_path, evals):
    pub = tmp_path / "paper.yaml"
    pub.write_text("tables:\n  table1:\n    rows:\n      STU + SRC-A (MOT): {AVG: 74.48, AVG Gain: '+3.02'}\n")
    t = rows(tmp_path, "table1", evals, {**SPEC, "published": str(pub)})
    assert t[0][-2:] == ["AVG (paper)", "AVG Gain (paper)"]
    assert t[1][-2:] == ["", ""] and t[2][-2:] == ["74.48", "+3.02"]


def test_table10_from_corpus_stats(tmp_path):
    stats = tmp_path / "stats.csv"
    stats.write_text("source,teacher,prompts,kept,pass_rate,mean_tokens,lost_no_correct,lost_too_long\n"
                     "a,t1,64,60,0.9219,122.1,3,1\na,ALL TEACHERS (MTD),64,60,,122.1,,\n")
    make_table("table10", SPEC, [], [str(stats)], str(tmp_path / "t10"))
    lines = (tmp_path / "t10.csv").read_text().splitlines()
    assert lines[0].endswith("Lost: no correct sample,Lost: too long")
    assert lines[1:] == ["SRC-A,T1,SRC-A-T1,60,92.19,122.10,3,1", "SRC-A,ALL TEACHERS,SRC-A-MTD,60,,122.10,,"]


def test_missing_run_and_untagged_file_are_one_line_errors(tmp_path, evals):
    with pytest.raises(MotError, match="no eval summary for student 's', source 'a', run 'mot-all'"):
        make_table("table1", SPEC, [e for e in evals if not e.endswith("mot-all.json")], [], str(tmp_path / "x"))
    assert not list(tmp_path.glob("x.*"))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"checkpoints": []}))
    with pytest.raises(MotError, match="bad.json: not a tagged eval summary"):
        make_table("table1", SPEC, [str(bad)], [], str(tmp_path / "y"))


def paper_spec_and_evals(tmp_path):
    """The table spec of config/paper.yaml (as rules/common/report.smk's report_spec makes it) and an eval
    summary (pass@1 0.5 at every checkpoint) of every run its tables read, Table 9's included."""
    import yaml

    from conftest import ROOT
    from mot.layout import as_teachers

    cfg = yaml.safe_load((ROOT / "config/paper.yaml").read_text())
    pairs = [{k: p[k] for k in ("teacher", "student", "source")} for p in cfg["analyses"]["student_teacher"]]
    spec = {"students": {k: v["label"] for k, v in cfg["students"].items()},
            "sources": {k: v["label"] for k, v in cfg["sources"].items()},
            "teachers": {k: {"label": v["label"], "shifted": bool(v.get("distribution_shifted"))}
                         for k, v in cfg["teachers"].items()},
            "sets": cfg["teacher_sets"], "roles": {r: cfg["report"][r] for r in ("mot", "no_shifted", "peers")},
            "benchmarks": cfg["eval"]["benchmarks"], "steps_per_round": 50, "rounds": 5,
            "published": str(ROOT / cfg["report"]["published"]), "student_teacher": pairs}
    runs = ["base"] + [f"sft-{t}" for t in [*cfg["teachers"], "mtd", *as_teachers(pairs)]] \
        + [f"mot-{t}" for t in cfg["teacher_sets"]]
    evals = []
    for st in spec["students"]:
        for so in spec["sources"]:
            for run in runs:
                if run == "base" and so != next(iter(spec["sources"])):
                    continue  # the base is evaluated once, on every source's benchmarks
                p = tmp_path / f"{st}-{so}-{run}.json"
                steps = [0] if run == "base" else [50, 100, 150, 200, 250]
                p.write_text(json.dumps({"student": st, "source": None if run == "base" else so, "run": run,
                                         "checkpoints": [{"step": s, "benchmarks": {
                                             b: {"pass@1": 0.5, "se": 0.0, "se_problems": 0.0}
                                             for b in spec["benchmarks"]}}
                                             for s in steps]}))
                evals.append(str(p))
    return spec, evals


def test_paper_config_rows_all_find_their_published_numbers(tmp_path):
    """Every row of Tables 1, 2, 6, 7, 12 under config/paper.yaml's labels joins a row of
    data/paper_results.yaml, so the transcribed numbers really appear beside the reproduced ones."""
    spec, evals = paper_spec_and_evals(tmp_path)
    for name, col in (("table1", "AVG (paper)"), ("table2", "QWEN3-8B AVG (paper)"),
                      ("table6", "BOBA-200 (AVG change) (paper)"), ("table7", "BOBA-200 (AVG change) (paper)")):
        t = rows(tmp_path, name, evals, spec)
        i = t[0].index(col)
        assert all(r[i] for r in t[1:]), (name, [r for r in t[1:] if not r[i]])
    t12 = rows(tmp_path, "table12", evals, spec)
    i = t12[0].index("AVG (paper)")
    assert [r[i] for r in t12[1:] if r[1] == "BOBA-200"][:5] == ["72.19", "73.86", "73.34", "73.65", "73.13"]


def test_table13_shows_the_published_round_5(tmp_path):
    """Issue 19: Table 13's Round 5 (81.04 / 77.29 / 79.17) is legible in the paper; every round of
    QWEN3-30B-A3B's peer-level MoT on BOBA-200 shows its published numbers."""
    spec, evals = paper_spec_and_evals(tmp_path)
    t = rows(tmp_path, "table13", evals, spec)
    paper = [t[0].index(c) for c in ("AIME24 (paper)", "AIME25 (paper)", "AVG (paper)")]
    shown = {r[2]: [r[i] for i in paper] for r in t[1:] if r[:2] == ["QWEN3-30B-A3B", "BOBA-200"]}
    assert list(shown) == [f"Round {k}" for k in range(1, 6)] and all(all(v) for v in shown.values())
    assert shown["Round 5"] == ["81.04", "77.29", "79.17"]
    md = (tmp_path / "table13.md").read_text()
    assert "| QWEN3-30B-A3B | BOBA-200 | Round 5 | 50.00 ± 0.00 | 50.00 ± 0.00 | 50.00 ± 0.00 | 81.04 | 77.29 | 79.17 |" in md


def test_table9_has_the_papers_two_pairs_beside_their_published_numbers(tmp_path):
    """Issue 19: Table 9 of config/paper.yaml: Qwen3-14B teaching Qwen3-8B, then Qwen3-30B-A3B
    teaching Qwen3-14B, each with its Base, Best STD and MOT teachers and the paper's AIME scores
    (joined on "Best STD", whichever teacher the reproduction finds best)."""
    spec, evals = paper_spec_and_evals(tmp_path)
    t = rows(tmp_path, "table9", evals, spec)
    assert t[0] == ["Teacher model", "Student model", "Teacher config", "AIME24", "AIME25", "AVG",
                    "AIME24 (paper)", "AIME25 (paper)"]  # the paper's AVG is over 5 benchmarks: not ours
    assert [r[:3] + r[6:] for r in t[1:]] == [
        ["QWEN3-14B", "QWEN3-8B", "Base", "74.17", "67.08"],
        ["QWEN3-14B", "QWEN3-8B", "Best STD (QWQ)", "75.21", "64.17"],  # all tie at 50: the first teacher
        ["QWEN3-14B", "QWEN3-8B", "MOT", "75.63", "68.96"],
        ["QWEN3-30B-A3B", "QWEN3-14B", "Base", "79.17", "68.96"],
        ["QWEN3-30B-A3B", "QWEN3-14B", "Best STD (QWQ)", "77.08", "71.88"],
        ["QWEN3-30B-A3B", "QWEN3-14B", "MOT", "80.00", "71.67"],
    ]
    md = (tmp_path / "table9.md").read_text()
    assert md.startswith("**Table 9: Student-as-teacher distillation on BOBA-200**")
    assert "Teachers: the final checkpoints of QWEN3-14B trained on BOBA-200 " in md
    assert "; the final checkpoints of QWEN3-30B-A3B trained on BOBA-200 " in md


def test_general_tables_show_the_published_raw_scores(tmp_path):
    """Tables 3 and 4's raw scores of config/paper.yaml's tasks appear beside ours (their averages,
    over tasks we do not run, do not)."""
    import yaml

    from conftest import ROOT

    cfg = yaml.safe_load((ROOT / "config/paper.yaml").read_text())
    tasks = cfg["general"]["tasks"]
    spec = {"students": {k: v["label"] for k, v in cfg["students"].items()},
            "sources": {k: v["label"] for k, v in cfg["sources"].items()},
            "published": str(ROOT / cfg["report"]["published"]), "general": tasks}
    files = []
    for st in spec["students"]:
        for so, model in [(None, "base")] + [(so, m) for so in spec["sources"] for m in ("best-std", "mot")]:
            p = tmp_path / f"{st}-{so}-{model}.json"
            p.write_text(json.dumps({"student": st, "source": so, "model": model,
                                     "tasks": {c: {"score": 0.5, "se": 0.01} for c in tasks}}))
            files.append(str(p))
    make_table("table3", spec, [], [], str(tmp_path / "table3"), files)
    make_table("table4", spec, [], [], str(tmp_path / "table4"), files)
    t3 = list(csv.DictReader((tmp_path / "table3.csv").open()))
    t4 = list(csv.DictReader((tmp_path / "table4.csv").open()))
    assert [k for k in t3[0] if k.endswith("(paper)")] == ["CEV (paper)", "IFE (paper)", "MP (paper)", "MR (paper)"]
    assert [k for k in t4[0] if k.endswith("(paper)")] == ["GPQA-D (paper)"]
    assert len(t3) == len(t4) == 18 and all(r["CEV (paper)"] and r["MR (paper)"] for r in t3)
    row = next(r for r in t3 if (r["Dataset"], r["Student"], r["Config"]) == ("S1K-200", "QWEN3-30B-A3B", "MOT"))
    assert [row[f"{c} (paper)"] for c in ("CEV", "IFE", "MP", "MR")] == ["86.48", "82.91", "76.49", "87.28"]
    assert [r["GPQA-D (paper)"] for r in t4 if r["Student"] == "QWEN3-8B" and r["Dataset"] == "BOBA-200"] == [
        "57.77", "59.85", "60.54"]


def test_latex_escaping_keeps_the_braces_it_inserts():
    from mot.render import latex_escape

    assert latex_escape("a\\b") == "a\\textbackslash{}b"
    assert latex_escape("{x}_1 & 50%") == "\\{x\\}\\_1 \\& 50\\%"


def test_summary_renders_table2_and_the_differences_into_readme(tmp_path, evals):
    from mot.summary import SUMMARY_END, SUMMARY_START, write_summary

    for name in ("table2", "differences"):
        make_table(name, SPEC, evals, [], str(tmp_path / name))
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{SUMMARY_START}\nstale numbers\n{SUMMARY_END}\n\nafter\n")
    text = write_summary(str(tmp_path), str(tmp_path / "summary.md"), str(readme))
    lines = text.splitlines()
    assert lines[:9] == [
        "**STU on SRC-A**: AVG pass@1 × 100 ± SE at each run's best checkpoint", "",
        "| Method | AVG |", "|---|---:|",
        "| Baseline | 15.00 ± 1.41 |", "| MTD (ALL TEACHERS) | 40.00 ± 1.41 |", "| STD (T1) | 20.00 ± 1.41 |",
        "| STD (T2) | 35.00 ± 1.41 |", "| STD (R1) | 5.00 ± 1.41 |"]
    assert lines[9] == "| MOT (ours) | 50.00 ± 1.41 |"
    diff = {r[2]: r for r in rows(tmp_path, "differences", evals)}
    lo, hi = float(diff["MOT - MTD"][4]), float(diff["MOT - MTD"][5])
    assert f"| MOT - MTD | +10.00 | [{lo:+.2f}, {hi:+.2f}] | {'higher' if lo > 0 else 'not told apart'} |" in lines
    assert "| best STD (T2) - base | +20.00 |" in text
    doc = readme.read_text()
    assert doc == f"# x\n\n{SUMMARY_START}\n{text}\n{SUMMARY_END}\n\nafter\n" and "stale" not in doc
    readme.write_text("no markers\n")
    with pytest.raises(MotError, match="README.md: expected one"):
        write_summary(str(tmp_path), str(tmp_path / "summary.md"), str(readme))


def test_merge_methods_table_shows_each_methods_best_round(tmp_path, evals):
    import json as _json

    rec = {"student": "s", "source": "a", "run": "mot-all@ties", "checkpoints": [
        {"step": st, "model": f"m/{st}", "benchmarks": {
            b: {"pass@1": v, "se": 0.0, "se_problems": 0.03, "ci95": [v, v], "per_problem": solved(v)}
            for b, v in zip(SPEC["benchmarks"], vals)} | {"syn-val": {"pass@1": 0.1, "se": 0.0}}}
        for st, vals in {5: (0.50, 0.30), 10: (0.10, 0.10)}.items()]}
    (tmp_path / "ties.json").write_text(_json.dumps(rec))
    spec = {**SPEC, "variants": {"all": "uniform", "all@ties": "ties"}}
    assert rows(tmp_path, "merge_methods", evals + [str(tmp_path / "ties.json")], spec, se=True) == [
        ["Dataset", "Merge method", "STU SYN-AIME24", "STU SYN-AIME24 SE", "STU SYN-AIME25", "STU SYN-AIME25 SE",
         "STU AVG", "STU AVG SE"],
        ["SRC-A", "uniform (mot.merge_method)", "60.00", "2.00", "40.00", "2.00", "50.00", "1.41"],  # round 2
        ["SRC-A", "ties (ties)", "50.00", "3.00", "30.00", "3.00", "40.00", "2.12"],  # round 1
    ]


def test_table9_student_as_teacher(tmp_path, evals):
    import json as _json

    extra = []
    for run, vals in {"sft-as-base": (0.10, 0.30), "sft-as-best-std": (0.20, 0.40), "sft-as-mot": (0.50, 0.40)}.items():
        rec = {"student": "s", "source": "a", "run": run, "checkpoints": [
            {"step": 5, "model": "m", "benchmarks": {
                b: {"pass@1": v, "se": 0.0, "se_problems": 0.02, "ci95": [v, v], "per_problem": solved(v)}
                for b, v in zip(SPEC["benchmarks"], vals)} | {"syn-val": {"pass@1": 0.1, "se": 0.0}}}]}
        (tmp_path / f"{run}.json").write_text(_json.dumps(rec))
        extra.append(str(tmp_path / f"{run}.json"))
    spec = {**SPEC, "student_teacher": {"teacher": "s", "student": "s", "source": "a"}}
    assert rows(tmp_path, "table9", evals + extra, spec) == [
        ["Teacher model", "Student model", "Teacher config", "SYN-AIME24", "SYN-AIME25", "AVG"],
        ["STU", "STU", "Base", "10.00", "30.00", "20.00"],
        ["STU", "STU", "Best STD (T2)", "20.00", "40.00", "30.00"],  # T2: the best STD run (AVG 35)
        ["STU", "STU", "MOT", "50.00", "40.00", "45.00"],
    ]
    assert "best STD teacher (T2" in (tmp_path / "table9.md").read_text()


def test_table9_pairs_on_two_sources_say_which(tmp_path, evals):
    """A list of pairs whose teacher is the same student on two sources: one Table-9 teacher per
    config (as-base, ...) sampling each source, and a Dataset column that tells the pairs apart."""
    extra = []
    for path in evals:  # the same summaries on a second source "b"
        rec = json.loads(open(path).read())
        if rec["source"]:
            rec["source"] = "b"
            (tmp_path / f"b-{rec['run']}.json").write_text(json.dumps(rec))
            extra.append(str(tmp_path / f"b-{rec['run']}.json"))
    for so in ("a", "b"):
        for run in ("sft-as-base", "sft-as-best-std", "sft-as-mot"):
            rec = json.loads(open(evals[1]).read()) | {"source": so, "run": run}
            (tmp_path / f"{so}-{run}.json").write_text(json.dumps(rec))
            extra.append(str(tmp_path / f"{so}-{run}.json"))
    spec = {**SPEC, "sources": {"a": "SRC-A", "b": "SRC-B"},
            "student_teacher": [{"teacher": "s", "student": "s", "source": so} for so in ("a", "b")]}
    t = rows(tmp_path, "table9", evals + extra, spec)
    assert t[0][:4] == ["Dataset", "Teacher model", "Student model", "Teacher config"]
    assert [r[:4] for r in t[1:]] == [[so, "STU", "STU", c] for so in ("SRC-A", "SRC-B")
                                      for c in ("Base", "Best STD (T2)", "MOT")]
    assert (tmp_path / "table9.md").read_text().startswith("**Table 9: Student-as-teacher distillation on SRC-A and SRC-B**")


def test_best_std_copies_the_best_runs_final_weights(tmp_path, evals, monkeypatch, capsys):
    """`mot best-std` (rule best_std_model): the STD run with the best AVG, chosen as the tables choose it."""
    import json as _json

    from mot.cli import main

    monkeypatch.chdir(tmp_path)
    runs = []
    for t in ("t1", "t2", "r1"):
        d = tmp_path / f"m/sft-{t}/10"  # the final checkpoint its eval summary records
        (d / "step-00005").mkdir(parents=True)
        (d / "model.safetensors").write_text(t)
        (d / ".mot-output").write_text("")
        runs.append(f"m/sft-{t}/10")
    assert main(["best-std", "--spec", _json.dumps(SPEC), "--evals", *map(str, evals), "--student", "s",
                 "--source", "a", "--runs", *runs, "--out", "best"]) == 0
    assert capsys.readouterr().out == "best STD run of s on a: sft-t2 -> best\n"
    assert sorted(p.name for p in (tmp_path / "best").iterdir() if not p.name.startswith(".")) == [
        "model.safetensors", "mot_best_std.json"]  # not its step checkpoints
    assert (tmp_path / "best/model.safetensors").read_text() == "t2"
    assert _json.loads((tmp_path / "best/mot_best_std.json").read_text())["teacher"] == "t2"


def test_a_summary_sampled_under_another_protocol_is_refused(tmp_path, evals):
    """The tables' note states the config's sampling protocol: a summary sampled otherwise (an old
    temperature, fewer samples) is one line naming it, not a number under the wrong note; a probe
    run keeps its own sample count."""
    protocol = {"n": 4, "temperature": 0.6, "top_p": 0.95, "max_tokens": 128}
    for p in evals:
        rec = json.loads(open(p).read())
        open(p, "w").write(json.dumps({**rec, "sampling": protocol}))
    make_table("table1", {**SPEC, "protocol": protocol}, evals, [], str(tmp_path / "ok"))
    bad = next(p for p in evals if p.endswith("sft-t2.json"))
    rec = json.loads(open(bad).read())
    open(bad, "w").write(json.dumps({**rec, "sampling": {**protocol, "temperature": 0.7}}))
    with pytest.raises(MotError, match=r"sft-t2\.json: sampled with temperature = 0\.7, but the config's "
                                       r"eval\.temperature is 0\.6"):
        make_table("table1", {**SPEC, "protocol": protocol}, evals, [], str(tmp_path / "bad"))
    assert not list(tmp_path.glob("bad.*"))
    probe = tmp_path / "probe-mot-all.json"
    probe.write_text(json.dumps({**rec, "run": "probe-mot-all", "sampling": {**protocol, "n": 64}}))
    Results([str(probe)], SPEC["benchmarks"], protocol=protocol)  # the probe's own n


def test_every_table_is_declared_once_in_the_catalog_with_its_runs_and_category(monkeypatch):
    """mot.catalog is the one list of tables and figures: each table made from eval summaries has a
    function in mot.tables and the reverse; each output has a report category; a new table (docs/extending.md's
    worked example) is one function and one catalog entry, and the grid, the targets' count in
    `mot plan` and `mot tables --help` then know it."""
    import yaml

    from mot import catalog
    from mot.cli import parser
    from mot.config import validate_config
    from mot.plan import plan
    from mot.tables import TABLES, Table, table

    from conftest import ROOT

    assert set(TABLES) == {o.name for o in catalog.OUTPUTS.values() if o.kind == "table" and o.runs is not None}
    categories = {o.name: catalog.report_category(o.name) for o in catalog.OUTPUTS.values()}
    assert categories["table1"] == "1. Main results" and categories["fig5"] == "7. Analyses"
    config = validate_config(yaml.safe_load((ROOT / "config/test.yaml").read_text()), ROOT / "config/schema.yaml")
    jobs = plan(config)["stages"]["tables"]["jobs"]

    monkeypatch.setitem(TABLES, "mtd_vs_mot", None)
    monkeypatch.setitem(catalog.OUTPUTS, "mtd_vs_mot", None)

    @table("mtd_vs_mot")
    def mtd_vs_mot(res, spec):
        return Table("MTD against MoT", ["Method"], [])

    catalog.declare("mtd_vs_mot", "table", "Ablations", lambda r: [r.mtd, r.mot])
    assert catalog.eval_runs(config, "table")["mtd_vs_mot"] == ["sft-mtd", "mot-all"]
    assert plan(config)["stages"]["tables"]["jobs"] == jobs + 1
    assert "mtd_vs_mot" in parser()._subparsers._group_actions[0].choices["tables"].format_help()


def test_a_run_summarised_twice_is_refused_naming_both_files(evals, tmp_path):
    """Two eval summaries of one run (or one step twice in a summary): the tables would have shown
    whichever came last."""
    copy = tmp_path / "again.json"
    shutil.copy(evals[0], copy)
    with pytest.raises(MotError, match=rf"{re.escape(str(copy))}: a second eval summary of run .*the first is "
                                       rf"{re.escape(evals[0])}"):
        Results([*evals, str(copy)], SPEC["benchmarks"])
    rec = json.loads(Path(evals[0]).read_text())
    rec["checkpoints"].append(rec["checkpoints"][0])
    copy.write_text(json.dumps(rec))
    with pytest.raises(MotError, match=rf"{re.escape(str(copy))}: step \d+ is evaluated twice"):
        Results([str(copy)], SPEC["benchmarks"])


@pytest.mark.parametrize("change, place", [
    (lambda r: r["checkpoints"][0]["benchmarks"]["syn-aime24"].update({"pass@1": "0.5"}),
     r"checkpoints\[0\]\.benchmarks\.syn-aime24\.pass@1: '0\.5' is not of type 'number'"),
    (lambda r: r["checkpoints"][1].update(step="10"), r"checkpoints\[1\]\.step: '10' is not of type 'integer'"),
    (lambda r: r["checkpoints"][0]["benchmarks"]["syn-aime25"].update(se_problems=None),
     r"checkpoints\[0\]\.benchmarks\.syn-aime25\.se_problems: None is not of type 'number'"),
    (lambda r: r.update(checkpoints={}), r"checkpoints: \{\} is not of type 'array'"),
])
def test_an_eval_summary_with_a_value_of_the_wrong_type_is_one_line(evals, tmp_path, change, place):
    """Issue 33, probe #29: a summary edited by hand or written by another tool ("pass@1": "0.5") was a
    TypeError's traceback in the tables; it is one line naming the file and the place (mot.shapes)."""
    rec = json.loads(Path(evals[1]).read_text())
    change(rec)
    bad = tmp_path / "edited.json"
    bad.write_text(json.dumps(rec))
    with pytest.raises(MotError, match=rf"^{re.escape(str(bad))}: {place}$"):
        Results([str(bad)], SPEC["benchmarks"])
    from conftest import run_mot

    r = run_mot("tables", "--name", "table2", "--spec", json.dumps(SPEC), "--evals", bad, "--out", tmp_path / "t2")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert re.fullmatch(rf"mot: error: {re.escape(str(bad))}: {place}", r.stderr.strip()), r.stderr
    assert not list(tmp_path.glob("t2*"))


def test_a_general_summary_with_a_score_of_the_wrong_type_is_one_line(tmp_path):
    from mot.tables import load_general

    d = {"student": "s", "source": "a", "model": "sft-t1", "tasks": {"IFEval": {"score": "0.5", "se": 0.01}}}
    (tmp_path / "g.json").write_text(json.dumps(d))
    with pytest.raises(MotError, match=r"g\.json: tasks\.IFEval\.score: '0\.5' is not of type"):
        load_general([str(tmp_path / "g.json")])


def test_a_model_with_two_general_summaries_is_refused(tmp_path):
    from mot.tables import load_general

    d = {"student": "s", "source": "a", "model": "sft-t1", "tasks": {"IFEval": {"score": 0.5, "se": 0.01}}}
    files = [tmp_path / "one.json", tmp_path / "two.json"]
    for f in files:
        f.write_text(json.dumps(d))
    with pytest.raises(MotError, match=rf"two.json: a second general-benchmark summary .*the first is .*one.json"):
        load_general([str(f) for f in files])


def test_a_seeds_table_without_evals_is_one_line(tmp_path):
    """`mot seeds table` with no --evals divided by the number of seeds (ZeroDivisionError)."""
    from conftest import run_mot

    r = run_mot("seeds", "table", "--spec", json.dumps(SPEC), "--out", tmp_path / "seeds")
    assert r.returncode == 1 and r.stderr.strip() == (
        "mot: error: mot seeds table needs --evals SEED=PATH for each seed's eval summaries"), r.stderr
    assert not list(tmp_path.iterdir())


def _drop(path, *keys):
    """Rewrite a JSON file without the key at `keys` (a path of keys and indices)."""
    d = json.loads(Path(path).read_text())
    node = d
    for k in keys[:-1]:
        node = node[k]
    del node[keys[-1]]
    Path(path).write_text(json.dumps(d))


@pytest.mark.parametrize("case", ["no checkpoints", "no pass@1", "general without tasks", "spec without benchmarks",
                                  "best-std spec without teachers"])
def test_an_input_missing_a_key_is_one_line_naming_the_input_and_the_key(evals, tmp_path, case):
    """Untyped stage inputs (issue 33 item 17e): an eval summary, a general summary or a --spec without
    a key the command reads ended in a KeyError's traceback, reported as a bug. Every JSON input's
    objects now name their file (or flag) and place when a key is missing."""
    from conftest import run_mot

    spec, files, args = dict(SPEC), list(evals), []
    if case == "no checkpoints":
        _drop(files[0], "checkpoints")
        want = rf"{re.escape(files[0])}: no key 'checkpoints'"
    elif case == "no pass@1":
        _drop(files[1], "checkpoints", 0, "benchmarks", "syn-aime24", "pass@1")
        want = rf"{re.escape(files[1])}: checkpoints\[0\]\.benchmarks\.syn-aime24: no key 'pass@1'"
    elif case == "general without tasks":
        g = tmp_path / "general.json"
        g.write_text(json.dumps({"student": "s", "source": None, "model": "base"}))
        args = ["--general", str(g)]
        want = rf"{re.escape(str(g))}: no key 'tasks'"
    elif case == "spec without benchmarks":
        del spec["benchmarks"]
        want = r"--spec: no key 'benchmarks'"
    if case.startswith("best-std"):
        del spec["teachers"]
        r = run_mot("best-std", "--spec", json.dumps(spec), "--evals", *files, "--student", "s", "--source", "a",
                    "--runs", tmp_path / "runs", "--out", tmp_path / "best")
        want = r"--spec: no key 'teachers'"
    else:
        name = "table3" if case.startswith("general") else "table1"
        r = run_mot("tables", "--name", name, "--spec", json.dumps(spec), "--evals", *files, *args,
                    "--out", tmp_path / "t")
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert re.fullmatch(rf"mot: error: {want}", r.stderr.strip()), r.stderr


def test_unpaired_problems_name_both_runs():
    """Issue 33, ninth probe, case 20: a run evaluated on fewer problems than another failed the
    differences table with a message naming neither run."""
    from mot.io import MotError
    from mot.results import paired_difference

    with pytest.raises(MotError, match=r"s/a/mot-all has \{'syn-aime24': 3\} per benchmark, s/a/sft-x "
                                       r"\{'syn-aime24': 4\}"):
        paired_difference({"syn-aime24": [1, 0, 1]}, {"syn-aime24": [1, 0, 1, 1]}, 0, ("s/a/mot-all", "s/a/sft-x"))


def test_the_decomposition_table_pools_each_checkpoints_benchmarks(tmp_path, evals):
    """Every checkpoint and round of every run, its benchmarks' problems together (mot.thinking.pooled):
    direct share and P(direct) with their SEs over problems, accuracy when reasoning with its binomial
    SE, the count of reasoning samples. Bench 1: 10 problems x 2 samples, 5 direct, 9 of 15 reasoning
    right; bench 2: 10 x 2, 15 direct, 1 of 5 right."""
    parts = {"syn-aime24": {"samples": 20, "problems": 10, "direct": 5, "reasoning_correct": 9,
                            "direct_sq": 1.25, "p_direct": 0.2, "p_direct_sq": 0.5},
             "syn-aime25": {"samples": 20, "problems": 10, "direct": 15, "reasoning_correct": 1,
                            "direct_sq": 6.25, "p_direct": 0.6, "p_direct_sq": 4.0}}
    for path in evals:
        rec = json.loads(Path(path).read_text())
        for c in rec["checkpoints"]:
            for b in SPEC["benchmarks"]:
                c["benchmarks"][b]["decomposition"] = parts[b]
        Path(path).write_text(json.dumps(rec))
    out = rows(tmp_path, "decomposition", evals, se=True)
    assert out[0] == ["Base model", "Dataset", "Method", "Checkpoint", "AVG", "AVG SE", "Direct answers %",
                      "Direct answers % SE", "P(direct) %", "P(direct) % SE", "Accuracy when reasoning",
                      "Accuracy when reasoning SE", "Reasoning samples"]
    # 20 problems: direct share 20/40; per-problem shares sum 10, squares 7.5 -> SE sqrt((7.5 - 5) / 19 / 20)
    # P(direct) mean 0.4, squares 4.5 -> SE sqrt((4.5 - 3.2) / 19 / 20); reasoning 10 of 20 right
    se_d, se_p, se_a = (100 * (2.5 / 19 / 20) ** 0.5, 100 * (1.3 / 19 / 20) ** 0.5, 100 * (0.25 / 20) ** 0.5)
    cells = ["50.00", f"{se_d:.2f}", "40.00", f"{se_p:.2f}", "50.00", f"{se_a:.2f}", "20"]
    assert out[1] == ["STU", "-", "Base model", "-", "15.00", "1.41", *cells]
    assert [r[:4] for r in out[2:]] == (
        [["STU", "SRC-A", f"STD ({t})", f"STEP {s}"] for t in ("T1", "T2", "R1") for s in (5, 10)]
        + [["STU", "SRC-A", "MTD (ALL TEACHERS)", f"STEP {s}"] for s in (5, 10)]
        + [["STU", "SRC-A", m, f"Round {r}"] for m in ("MOT (ours)", "MOT (T1 + T2)", "MOT (T1 + T2)") for r in (1, 2)])
    assert all(r[6:] == cells for r in out[2:])


def test_the_decomposition_table_names_a_summary_written_without_it(tmp_path, evals):
    with pytest.raises(MotError, match=r"base\.json: step 0 has no decomposition \(written by an older mot evaluate\)"):
        make_table("decomposition", SPEC, evals, [], str(tmp_path / "decomposition"))
