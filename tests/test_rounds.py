"""MoT rounds: argument parsing, the lr schedule of a round, and a crash-resumed run."""
import json

import pytest

from mot.io import MotError, write_jsonl
from mot.rounds import BranchJob, MergeJob, RoundsSpec, branches, parse_corpora, plan, rounds, schedule
from mot.train import lr_at
from mot.train import HParams


def test_corpus_pairs_and_schedule():
    assert parse_corpora(["a=x.jsonl", "b=y=z.jsonl"]) == {"a": "x.jsonl", "b": "y=z.jsonl"}
    for bad, msg in ((["a"], "expected TEACHER=PATH"), (["a=x", "a=y"], "given twice")):
        with pytest.raises(MotError, match=msg):
            parse_corpora(bad)
    assert schedule(3, 50, 5, "global") == (100, 250, 0)
    assert schedule(3, 50, 5, "round") == (100, 50, 100)  # its own cosine; data from global step 100
    for t in range(1, 6):  # round: every round starts at the peak after its warmup (1% of 50: one step)
        start, total, lr_start = schedule(t, 50, 5, "round")
        assert lr_at(start - lr_start, total, 1e-5, 0.01) == pytest.approx(1e-5)
        assert lr_at(start + 49 - lr_start, total, 1e-5, 0.01) < 1e-7
    # global: round 5 trains in the cosine's tail (the issue: ~3% of the peak at its first step)
    start, total, lr_start = schedule(5, 50, 5, "global")
    assert lr_at(start - lr_start, total, 1e-5, 0.01) < 0.1 * 1e-5
    with pytest.raises(MotError, match="train.schedule: unknown value 'cyclic'"):
        schedule(1, 5, 5, "cyclic")


HP = dict(lr=1e-3, betas=[0.9, 0.95], weight_decay=0.1, warmup_ratio=0.0, grad_clip=1.0, batch_size=2,
          micro_batch_size=2, max_length=128, truncation="drop")
SPEC = RoundsSpec(HParams.of(HP), rounds=3, steps_per_round=2)


def test_the_rounds_spec_is_one_json_checked_by_its_constructor():
    assert RoundsSpec.of({"hparams": HP, "rounds": 3, "steps_per_round": 2}) == SPEC
    with pytest.raises(MotError, match=r"^--spec: unknown key\(s\) params \(known: hparams, rounds,"):
        RoundsSpec.of({"hparams": HP, "rounds": 3, "steps_per_round": 2, "params": {}})
    with pytest.raises(MotError, match=r"^--spec: merge_params = \[\] is not dict \(merge_params\)$"):
        RoundsSpec.of({"hparams": HP, "rounds": 3, "steps_per_round": 2, "merge_params": []})
    with pytest.raises(MotError, match=r"^--spec hparams: missing lr$"):
        RoundsSpec.of({"hparams": {k: v for k, v in HP.items() if k != "lr"}, "rounds": 3, "steps_per_round": 2})


@pytest.mark.slow
def test_one_plan_of_rounds_branches_from_the_last_merge_and_carries_the_merge_state():
    """mot.rounds.plan, which both job modes run (the rules per job, mot branches/rounds per set): round
    t's branches start from round t-1's merge and continue the teacher's AdamW state (carry); a
    method with a base gets the round's init; a stateful one the last merge as its state."""
    hp = HParams.of(HP)
    spec = RoundsSpec(hparams=hp, rounds=3, steps_per_round=5, method="outer", merge_params={"lr": 0.7, "momentum": 0.5},
                      optimizer_state="carry")
    jobs = plan(spec, ["a", "b"], "BASE", lambda t, k: f"r{t}/{k}", lambda t: f"r{t}/merged")
    assert [(type(j).__name__, j.round, getattr(j, "teacher", None)) for j in jobs] == [
        (kind, t, k) for t in (1, 2, 3) for kind, k in (("BranchJob", "a"), ("BranchJob", "b"), ("MergeJob", None))]
    branch = {(j.round, j.teacher): j for j in jobs if isinstance(j, BranchJob)}
    merge = {j.round: j for j in jobs if isinstance(j, MergeJob)}
    assert [branch[t, "a"].init for t in (1, 2, 3)] == ["BASE", "r1/merged", "r2/merged"]
    assert [branch[t, "b"].spec.init_optimizer for t in (1, 2, 3)] == [None, "r1/b", "r2/b"]
    assert [branch[t, "a"].spec.start_step for t in (1, 2, 3)] == [0, 5, 10]
    assert all(b.spec.save_optimizer and b.spec.steps == 5 for b in branch.values())
    assert [(m.branches, m.out, m.base) for m in merge.values()] == [
        ((f"r{t}/a", f"r{t}/b"), f"r{t}/merged", "BASE" if t == 1 else f"r{t - 1}/merged") for t in (1, 2, 3)]
    assert [m.params.get("state") for m in merge.values()] == [None, "r1/merged", "r2/merged"]
    uniform = plan(RoundsSpec(hparams=hp, rounds=2, steps_per_round=5), ["a"], "BASE", lambda t, k: f"r{t}/{k}",
                   lambda t: f"r{t}/merged")
    assert [(j.base, j.params) for j in uniform if isinstance(j, MergeJob)] == [(None, {}), (None, {})]
    assert [j.spec.init_optimizer for j in uniform if isinstance(j, BranchJob)] == [None, None]  # reset


def test_rounds_resume_after_a_crash_and_match_an_uninterrupted_run(tiny_model, tmp_path):
    corpora = {}
    for t, word in (("a", "Now"), ("b", "Then")):
        corpora[t] = str(tmp_path / f"{t}.jsonl")
        write_jsonl(corpora[t], [{"prompt": f"Compute {i} + 1.", "response": f"<think>\n{word} {i} + 1 = {i + 1}.\n"
                                  f"</think>\n\n\\boxed{{{i + 1}}}"} for i in range(6)])
    first = tmp_path / "r1"
    branches(str(tiny_model), corpora, SPEC, str(first))
    assert sorted(p.name for p in first.iterdir()) == [".mot-output", "branch-a", "branch-b", "mot_rounds.json"]
    full = tmp_path / "full"
    rounds(str(first), str(tiny_model), corpora, SPEC, str(full))
    rec = json.loads((full / "mot_rounds.json").read_text())
    assert rec["steps"] == {"round-1": 2, "round-2": 4, "round-3": 6}
    assert json.loads((full / "round-3/branch-b/mot_train.json").read_text())["start_step"] == 4

    # A crash in round 3's merge: the rerun keeps the finished work and ends with the same weights.
    import mot.rounds

    out, real_merge = tmp_path / "again", mot.rounds._merge

    def crash(ps, job):
        if job.round == 3:
            raise RuntimeError("killed")
        real_merge(ps, job)

    mot.rounds._merge = crash
    try:
        with pytest.raises(RuntimeError, match="killed"):
            rounds(str(first), str(tiny_model), corpora, SPEC, str(out))
    finally:
        mot.rounds._merge = real_merge
    part = tmp_path / "again.partial"
    kept = (part / "round-2/merged/model.safetensors").stat().st_mtime_ns
    assert (part / "round-3/branch-b").is_dir() and not out.exists()
    # Issue 33, probe 21, cases 8 and 9: a note of the user's in the stopped work, at any depth, is
    # refused by name; it was deleted (or published as one of mot's files) by the rerun
    for note in (part / "my-notes.txt", part / "round-3/NOTES.md", part / "round-2/merged/NOTES.md"):
        note.write_text("lr sweep results")
        with pytest.raises(MotError, match=rf"{note.relative_to(tmp_path)}: not mot's"):
            rounds(str(first), str(tiny_model), corpora, SPEC, str(out))
        assert note.read_text() == "lr sweep results" and not out.exists()
        note.unlink()
    rounds(str(first), str(tiny_model), corpora, SPEC, str(out))
    assert (out / "round-2/merged/model.safetensors").stat().st_mtime_ns == kept
    assert (out / "round-3/merged/model.safetensors").read_bytes() == (full / "round-3/merged/model.safetensors").read_bytes()
    assert not part.exists()



@pytest.mark.parametrize("command", ["branches", "rounds"])
def test_a_users_file_in_the_work_of_other_settings_is_refused_by_name_not_deleted(tiny_model, tmp_path, command):
    """Issue 33, probe 21, case 8: `mot rounds` and `mot branches` discarded a stopped attempt's work
    with other settings whole, a user's notes in it too; generate and evaluate refused them."""
    from mot.io import release_output, start_work

    corpora = {"a": str(tmp_path / "a.jsonl")}
    write_jsonl(corpora["a"], [{"prompt": "Compute 1 + 1.", "response": "<think>\n1 + 1 = 2.\n</think>\n\n\\boxed{2}"}])
    first = tmp_path / "r1"
    (first / "branch-a").mkdir(parents=True)
    out = tmp_path / "run"
    start_work(out, ["an earlier attempt"], {})
    release_output(out)
    notes = [tmp_path / "run.partial/my-notes.txt", tmp_path / "run.partial/round-2/keep.txt"]
    for note in notes:
        note.parent.mkdir(exist_ok=True)
        note.write_text("mine")
    run = (lambda: branches(str(tiny_model), corpora, SPEC, str(out))) if command == "branches" else \
        (lambda: rounds(str(first), str(tiny_model), corpora, SPEC, str(out)))
    with pytest.raises(MotError, match=r"run\.partial/my-notes\.txt: not mot's"):
        run()
    assert all(note.read_text() == "mine" for note in notes) and not out.exists()


@pytest.mark.parametrize("command", ["branches", "rounds"])
def test_a_stopped_jobs_work_is_stamped_with_its_own_commands_code(tiny_model, tmp_path, monkeypatch, command):
    """Issue 33, probe 21, case 15: the work of `mot branches` and `mot rounds` was stamped with the code
    of both commands and every merge method: a TIES edit discarded a preempted round 1's (or a uniform
    run's) saved training, although the code it runs was the same. Its stamp is its rule's version."""
    import mot.rounds

    stamped = []
    monkeypatch.setattr(mot.rounds, "stage_code", lambda *entries: stamped.append(entries) or "v")
    monkeypatch.setattr(mot.rounds, "start_work", lambda *a, **k: (_ for _ in ()).throw(KeyboardInterrupt))
    corpora = {"a": str(tmp_path / "a.jsonl")}
    write_jsonl(corpora["a"], [{"prompt": "Compute 1 + 1.", "response": "<think>\n1 + 1 = 2.\n</think>\n\n\\boxed{2}"}])
    (tmp_path / "r1" / "branch-a").mkdir(parents=True)
    with pytest.raises(KeyboardInterrupt):
        if command == "branches":
            branches(str(tiny_model), corpora, SPEC, str(tmp_path / "run"))
        else:
            rounds(str(tmp_path / "r1"), str(tiny_model), corpora, SPEC, str(tmp_path / "run"))
    assert stamped == [("branches",) if command == "branches" else (f"rounds[{SPEC.method}]",)]


def test_the_papers_rounds_each_restart_the_lr_schedule(workdir):
    """config/paper.yaml reads appendix C.1 literally: a round is its own 50-step SFT run under a fresh
    cosine with 1% warmup (train.schedule: round). The round-3 branch the paper DAG plans starts at
    global step 100 (its data), with its own 50-step schedule from there: its first step at the peak lr.
    With schedule: global it would train in the tail of one 250-step cosine (this test fails)."""
    from conftest import snakemake

    target = "results/models/qwen3-8b/boba/mot-all/round-3/branch-qwq"
    r = snakemake(workdir, target, "--configfile", "config/paper.yaml", "-n", "-p")
    assert r.returncode == 0, r.stderr[-2000:]
    line = next(x for x in r.stdout.splitlines() if "mot" in x and " train " in x and "round-3/branch-qwq" in x)
    spec = json.loads(line.split("--spec ", 1)[1].split(" --out", 1)[0].strip("'"))
    assert (spec["start_step"], spec["total_steps"], spec["schedule_start"]) == (100, 50, 100), spec
    hp = spec["hparams"]
    assert lr_at(spec["start_step"] - spec["schedule_start"], spec["total_steps"], hp["lr"], hp["warmup_ratio"]) \
        == pytest.approx(1.0e-5)
