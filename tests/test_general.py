"""General benchmarks (paper Tables 3 and 4): the world's tasks as lm-eval task files, a real
lm-evaluation-harness run on a tiny saved model, and the tables' cells."""
import json

import pytest
import yaml

from mot.general import write_tasks
from mot.tables import general_table
from mot.world import GENERAL_TASKS, make_world

from conftest import ROOT, TINY_WORLD, run_mot
from helpers import json_lines

# xdist starts the groups by this mark (tests/conftest.py): the longest chains first
pytestmark = pytest.mark.early(8)

SAMPLING = {"temperature": 0.6, "top_p": 0.95, "max_tokens": 48}
TASKS = {"SYN-DIV": {"task": "syn_div", "metric": "exact_match,boxed", "group": "forgetting"},
         "SYN-LONG": {"task": "syn_long", "metric": "exact_match,boxed", "group": "reasoning"},
         "SYN-LONGER": {"task": "syn_longer", "metric": "exact_match,boxed", "group": "pure"}}


@pytest.fixture
def general_world(tmp_path):
    path = tmp_path / "world.json"
    path.write_text(json.dumps(make_world(**TINY_WORLD, held_out_op="//", held_out_pretrain=10, general_size=4)))
    return path


def test_world_tasks_are_lm_eval_task_files(general_world, tmp_path):
    out = tmp_path / "harness"
    assert write_tasks(str(general_world), SAMPLING, str(out)) == list(GENERAL_TASKS)
    world = json.loads(general_world.read_text())
    for task in GENERAL_TASKS:
        cfg = yaml.safe_load((out / f"{task}.yaml").read_text())
        assert cfg["task"] == task and cfg["dataset_kwargs"]["data_files"]["test"] == f"{out}/{task}.jsonl"
        assert cfg["generation_kwargs"] == {"until": ["<|im_end|>"], "do_sample": True, "temperature": 0.6,
                                            "top_p": 0.95, "max_gen_toks": 48}
        rows = [json.loads(x) for x in json_lines(out / f"{task}.jsonl")]
        assert [r["answer"] for r in rows] == [r["answer"] for r in world[f"general-{task}"]]
        # the answer filter reads the last boxed integer, as the grader does
        import re
        pattern = cfg["filter_list"][0]["filter"][0]["regex_pattern"]
        assert re.findall(pattern, "<think>\n3 + 4 = 7.\n</think>\n\n\\boxed{7}") == ["7"]


def test_world_without_general_tasks_is_a_clear_error(tiny_world, tmp_path):
    r = run_mot("general-tasks", "--world", tiny_world, "--sampling", json.dumps(SAMPLING), "--out", tmp_path / "h")
    assert r.returncode == 1 and "world.held_out_op and world.general_size" in r.stderr
    assert not (tmp_path / "h").exists()


@pytest.mark.slow
def test_lm_eval_scores_a_tiny_saved_model(general_world, tiny_model, tmp_path):
    """lm-evaluation-harness itself (hf backend) on the world's task files: the summary's score is
    the share of problems whose extracted answer is the target, as its samples show."""
    harness = tmp_path / "harness"
    write_tasks(str(general_world), SAMPLING, str(harness))
    out, samples = tmp_path / "g.json", tmp_path / "g.samples.jsonl"
    r = run_mot("general", "--model", tiny_model, "--tasks", json.dumps(TASKS), "--include", harness,
                "--batch-size", "8", "--seed", "0", "--samples", samples,
                "--tag", json.dumps({"student": "tiny", "source": None, "model": "base"}), "--out", out)
    assert r.returncode == 0, r.stderr
    summary = json.loads(out.read_text())
    assert summary["harness"].startswith("lm-eval 0.4") and summary["model"] == "base"
    from mot import shapes

    shapes.check(summary, shapes.GENERAL_SUMMARY, str(out))  # the shape the tables read it in
    rows = [json.loads(x) for x in json_lines(samples)]
    for col, spec in TASKS.items():
        got = summary["tasks"][col]
        mine = [x for x in rows if x["task"] == spec["task"]]
        assert got["n"] == len(mine) == 4
        assert got["score"] == sum(x["extracted"] == x["target"] for x in mine) / 4
        assert all(x["response"] is not None for x in mine)
    # an unknown task or metric is named in one line
    bad = {"X": {"task": "no_such_task", "metric": "acc,none", "group": "pure"}}
    r = run_mot("general", "--model", tiny_model, "--tasks", json.dumps(bad), "--include", harness,
                "--out", tmp_path / "bad.json")
    assert r.returncode == 1 and "no task no_such_task" in r.stderr and not (tmp_path / "bad.json").exists()


@pytest.mark.slow
def test_a_prompt_lm_eval_would_cut_stops_the_run_before_it_generates(general_world, tiny_model, tmp_path):
    """Issue 31, item 6: lm-eval cuts a prompt that leaves less than max_gen_toks of the model's context
    from the left (chat header first), with a mere warning. `mot general` measures the prompts as
    lm-eval renders them (here the chat template around each problem), with the max_gen_toks the
    run passes over the tasks' own, and stops with one line before anything is generated."""
    from transformers import AutoTokenizer

    harness = tmp_path / "harness"
    write_tasks(str(general_world), SAMPLING, str(harness))
    tok = AutoTokenizer.from_pretrained(tiny_model)
    world = json.loads(general_world.read_text())

    def tokens(problem, chat=True):  # as lm-eval's hf model renders a zero-shot prompt, then encodes it
        text = tok.apply_chat_template([{"role": "user", "content": problem}], tokenize=False,
                                       add_generation_prompt=True) if chat else problem
        return len(tok(text)["input_ids"])
    longest = {t: max(tokens(r["problem"]) for r in world[f"general-{t}"]) for t in GENERAL_TASKS}
    task = max(longest, key=longest.get)
    gen, context = 40, longest[task] + 39  # one token short of the longest prompt
    # ... which the problem alone would not be: the check has to measure the prompt as rendered
    assert max(tokens(r["problem"], chat=False) for t in GENERAL_TASKS for r in world[f"general-{t}"]) + gen <= context

    out, samples = tmp_path / "g.json", tmp_path / "g.samples.jsonl"
    r = run_mot("general", "--model", tiny_model, "--tasks", json.dumps(TASKS), "--include", harness,
                "--model-args", json.dumps({"max_length": context}),
                "--gen-kwargs", json.dumps({"max_gen_toks": gen}),  # as the rule passes general.gen_kwargs
                "--batch-size", "8", "--samples", samples, "--out", out)
    assert r.returncode == 1, r.stderr[-2000:]
    assert [x for x in r.stderr.splitlines() if x.startswith("mot: error:")] == [
        f"mot: error: general: task {task}'s longest prompt is {longest[task]} tokens; with max_gen_toks {gen} "
        f"that is {longest[task] + gen} > the context length {context}, and lm-eval would cut the prompt from the "
        "left: raise general.model_args.max_length or lower general.gen_kwargs.max_gen_toks"]
    assert "Running generate_until requests" not in r.stderr  # lm-eval's progress bar never started
    assert not out.exists() and not samples.exists()


def test_the_paper_configs_general_block_leaves_8192_tokens_of_prompt():
    """Issue 31, item 6: MMLU-Pro is 5-shot chain of thought, 2-4k prompt tokens. The paper's general
    block leaves 8,192 tokens of prompt beside its 32,768 of output, Qwen's own split for thinking mode,
    within Qwen3's 40,960 positions. The prompts themselves are measured when `mot general` runs
    (their length depends on the data and the model's tokenizer and chat template)."""
    general = yaml.safe_load((ROOT / "config/paper.yaml").read_text())["general"]
    context, gen = general["model_args"]["max_model_len"], general["gen_kwargs"]["max_gen_toks"]
    assert gen == 32768 and context - gen >= 8192, f"max_model_len {context} - max_gen_toks {gen} = {context - gen}"
    assert context <= 40960  # Qwen3's max_position_embeddings: vLLM refuses a longer max_model_len
    # ... and the check `mot general` runs on each task's longest prompt agrees
    from mot.general import check_prompt_room
    from mot.io import MotError

    check_prompt_room("mmlu_pro", 8192, gen, context, general["backend"])
    with pytest.raises(MotError) as e:
        check_prompt_room("mmlu_pro", context - gen + 1, gen, context, general["backend"])
    assert str(e.value).startswith(f"general: task mmlu_pro's longest prompt is {context - gen + 1} tokens; with "
                                   f"max_gen_toks {gen} that is {context + 1} > the context length {context}, ")
    assert str(e.value).endswith("raise general.model_args.max_model_len or lower general.gen_kwargs.max_gen_toks")


def _summary(tmp_path, model, source, scores):
    path = tmp_path / f"{source}-{model}.json"
    path.write_text(json.dumps({"student": "tiny", "source": source, "model": model, "tasks": {
        col: {"task": TASKS[col]["task"], "metric": "exact_match,boxed", "score": s, "se": 0.05, "n": 200}
        for col, s in scores.items()}}))
    return str(path)


def test_tables_3_and_4_cells_and_group_changes(tmp_path):
    spec = {"students": {"tiny": "TINY"}, "sources": {"boba": "SYN-BOBA"}, "general": TASKS}
    files = [_summary(tmp_path, "base", None, {"SYN-DIV": 0.40, "SYN-LONG": 0.20, "SYN-LONGER": 0.10}),
             _summary(tmp_path, "best-std", "boba", {"SYN-DIV": 0.30, "SYN-LONG": 0.25, "SYN-LONGER": 0.16}),
             _summary(tmp_path, "mot", "boba", {"SYN-DIV": 0.38, "SYN-LONG": 0.31, "SYN-LONGER": 0.07})]
    t3 = general_table("table3", files, spec)
    assert t3.columns == ["Dataset", "Student", "Config", "SYN-DIV", "Avg drop (forgetting)", "SYN-LONG",
                          "Avg gain (reasoning)"]
    assert [r for r in t3.cells()] == [
        ["SYN-BOBA", "TINY", "Base", "40.00 ± 5.00", "-", "20.00 ± 5.00", "-"],
        ["SYN-BOBA", "TINY", "Best STD", "30.00 ± 5.00", "-10.00", "25.00 ± 5.00", "+5.00"],
        ["SYN-BOBA", "TINY", "MOT", "38.00 ± 5.00", "-2.00", "31.00 ± 5.00", "+11.00"]]
    t4 = general_table("table4", files, spec)
    assert t4.columns == ["Dataset", "Student", "Config", "SYN-LONGER", "Avg gain"]
    assert [r[3:] for r in t4.cells()] == [["10.00 ± 5.00", "-"], ["16.00 ± 5.00", "+6.00"], ["7.00 ± 5.00", "-3.00"]]
    assert t3.csv().splitlines()[2] == "SYN-BOBA,TINY,Best STD,30.00,5.00,-10.00,25.00,5.00,+5.00"


def test_a_group_score_is_its_aggregate_over_its_subtasks():
    """A paper benchmark such as mmlu_pro is an lm-eval group: its score is the group's aggregate,
    its problem count the sum over its subtasks (lm-eval's results layout, as 0.4.13 writes it)."""
    from mot.general import _score

    results = {"results": {"mmlu_pro": {"exact_match,custom-extract": 0.5, "exact_match_stderr,custom-extract": 0.01},
                           "mmlu_pro_law": {"exact_match,custom-extract": 0.25}},
               "group_subtasks": {"mmlu_pro": ["mmlu_pro_law", "mmlu_pro_math"]},
               "n-samples": {"mmlu_pro_law": {"original": 3, "effective": 3},
                             "mmlu_pro_math": {"original": 5, "effective": 5}}}
    spec = {"task": "mmlu_pro", "metric": "exact_match,custom-extract", "group": "reasoning"}
    assert _score(results, "MP", spec) == {"task": "mmlu_pro", "metric": "exact_match,custom-extract",
                                           "score": 0.5, "se": 0.01, "n": 8}
    with pytest.raises(Exception, match="general.tasks.MP: lm-eval reported no 'acc,none' for task 'mmlu_pro'"):
        _score(results, "MP", {**spec, "metric": "acc,none"})
    # mmlu_redux_generative's members are groups (stem, humanities, ...): the count is over their subtasks
    results = {"results": {"mmlu_redux_generative": {"exact_match,default": 0.5}},
               "group_subtasks": {"mmlu_redux_generative": ["stem", "humanities"],
                                  "stem": ["mmlu_redux_abstract_algebra_generative"],
                                  "humanities": ["mmlu_redux_philosophy_generative", "mmlu_redux_law_generative"]},
               "n-samples": {"mmlu_redux_abstract_algebra_generative": {"effective": 3},
                             "mmlu_redux_philosophy_generative": {"effective": 2},
                             "mmlu_redux_law_generative": {"effective": 4}}}
    assert _score(results, "MR", {"task": "mmlu_redux_generative", "metric": "exact_match,default"})["n"] == 9


def test_tables_3_and_4_through_make_table(tmp_path):
    """As rule general_table calls it: a spec with the config's order, files written."""
    from mot.tables import make_table

    spec = {"students": {"tiny": "TINY"}, "sources": {"boba": "SYN-BOBA"}, "general": TASKS, "published": None,
            "order": {"students": ["tiny"], "sources": ["boba"]}}
    files = [_summary(tmp_path, m, so, {"SYN-DIV": 0.4, "SYN-LONG": 0.2, "SYN-LONGER": 0.1})
             for m, so in (("base", None), ("best-std", "boba"), ("mot", "boba"))]
    for name in ("table3", "table4"):
        t = make_table(name, spec, [], [], str(tmp_path / name), files)
        assert (tmp_path / f"{name}.md").read_text().startswith(f"**{t.title}**")
        assert [r[-1] for r in t.cells()] == ["-", "+0.00", "+0.00"]


def test_local_task_files_name_lm_evals_own_tasks_and_data_beside_them(tmp_path):
    """config general.include: a task file may include one of the installed lm-eval's by `lm_eval/...`
    and name its data beside it; both are resolved, and the task is lm-eval's own over that data (the
    rehearsal's data/rehearsal/harness); other task files are passed as they are."""
    from pathlib import Path

    import lm_eval.tasks
    from lm_eval.tasks import TaskManager

    from mot.general import resolve_includes

    out = resolve_includes([str(ROOT / "data/rehearsal/harness")], tmp_path)
    resolved = yaml.safe_load((Path(out[0]) / "ifeval.yaml").read_text())
    assert resolved["include"] == str(Path(lm_eval.tasks.__file__).parent / "ifeval/ifeval.yaml")
    assert resolved["dataset_kwargs"]["data_files"]["train"] == str(ROOT / "data/rehearsal/harness/ifeval.jsonl")
    manager = TaskManager(include_path=out)
    for name in ("ifeval", "gpqa_diamond_cot_zeroshot", "ceval-valid", "mmlu_pro", "mmlu_redux_generative"):
        assert Path(manager.task_index[name].yaml_path).is_relative_to(out[0]), name  # ours, not the built-in
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "t.yaml").write_text("task: t\ndataset_path: json\ndataset_kwargs: {data_files: {test: results/x.jsonl}}\n")
    assert resolve_includes([str(plain)], tmp_path / "other") == [str(plain)]
