"""Where outputs go and who owns them (issue 33, items 1-5 and 17c): no command writes on, over or
into one of its inputs (its log included), none replaces a directory that mot did not write unless
told to (--force), no two outputs share a path, and best-std copies the model its summaries name.

The cases come from the parser's declared outputs (mot.cli.parser: each subcommand's `outputs`),
so a new command or output flag is covered without a new test."""
import json
import os
import re
import shutil
from pathlib import Path

import pytest
import yaml

from mot.arguments import _name, _report_spec
from mot.cli import check_outputs, main, parser
from mot.io import MARKER, MotError, atomic_path, check_out, publish

from conftest import ROOT, run_mot

SUBS = parser()._subparsers._group_actions[0].choices
CONFIG = json.dumps(yaml.safe_load((ROOT / "config/test.yaml").read_text()))  # a resolved config, as the rules pass it


def _kind(out) -> str:
    return getattr(out, "kind", out)


def _outputs(name) -> dict:
    return {k: _kind(v) for k, v in SUBS[name].get_default("outputs").items()
            if any(a.dest == k for a in SUBS[name]._actions)}


def _input_actions(name):
    """Every argument that may name a path: not an output, a flag, a number or a choice (the parser's
    own list, `reads`)."""
    return [a for a in SUBS[name]._actions if a.dest in SUBS[name].get_default("reads")]


def _number(action) -> bool:
    return getattr(action.type, "__name__", None) in ("int", "float")


def _is_json(action) -> bool:
    return action.type is not None and not _number(action)


def _value(action, path) -> list[str]:
    """argv words giving `action` the path `path` (a JSON setting holds it; KEY=PATH carries it; a
    resolved config, checked as it is parsed, holds it as general.include, a directory it reads)."""
    if getattr(action.type, "__name__", "") == "_resolved":
        config = json.loads(CONFIG)
        config["general"] = {"tasks": {"X": {"task": "x", "metric": "acc,none", "group": "pure"}}, "include": str(path)}
        text = json.dumps(config)
    elif action.type is _report_spec:  # its keys are report_spec's: the published numbers' file is a path
        text = json.dumps({"published": str(path)})
    elif _is_json(action):
        text = json.dumps({"path": str(path)})
    elif action.metavar and "=" in action.metavar:
        text = f"k={path}"
    else:
        text = str(path)
    return [text] if not action.option_strings else [action.option_strings[-1], text]


def argv_for(name, tmp, set_inputs=None, set_outputs=None, log=None) -> list[str]:
    """A parseable command line of `name`: every output (declared) at a fresh path under tmp/o,
    every required input a fresh file under tmp/i; `set_inputs` {dest: path}, `set_outputs`
    {dest: path} override them."""
    set_inputs, set_outputs = set_inputs or {}, set_outputs or {}
    (tmp / "i").mkdir(exist_ok=True)
    words = ["--log", str(log)] if log else []
    words.append(name)
    outs = _outputs(name)
    for a in SUBS[name]._actions:
        if a.dest == "help" or a.nargs == 0:
            continue
        if a.dest in outs:
            words += [a.option_strings[-1], str(set_outputs.get(a.dest, tmp / "o" / a.dest))]
        elif a.dest in set_inputs:
            words += _value(a, set_inputs[a.dest])
        elif a.choices is not None and not a.option_strings:
            words.append(a.choices[0])
        elif a.required or not a.option_strings:
            if _number(a):
                words += [a.option_strings[-1], "1"]
            elif a.choices is not None:
                words += [a.option_strings[-1], a.choices[0]]
            elif a.type is _name:  # a name of the config (checked as it is parsed), never a path
                words += [a.option_strings[-1], "a"]
            elif getattr(a.type, "__name__", "") == "_config":  # a config is checked as it is parsed: a real one
                f = tmp / "i" / f"{a.dest}.yaml"
                f.write_text((ROOT / "config/test.yaml").read_text())
                words += [a.option_strings[-1], str(f)]
            elif getattr(a.type, "__name__", "") == "_resolved":  # the same, as the JSON the rules pass
                words += [a.option_strings[-1], CONFIG]
            else:
                f = tmp / "i" / a.dest
                f.write_text("{}\n")
                words += _value(a, f)
    return words


def check(argv):
    import mot.io

    args = parser().parse_args(argv)
    mot.io.WRITER = args.writer  # as mot.cli.main sets it
    try:
        check_outputs(args)
    finally:
        mot.io.WRITER = ""


def _roots(name) -> dict:
    return SUBS[name].get_default("roots") or {}


WRITES = [(name, flag) for name in SUBS for flag in [*_outputs(name), "log"]]


# --------------------------------------------------------------------------- 1: output in an input
@pytest.mark.parametrize("name,flag", WRITES, ids=[f"{n}--{f}" for n, f in WRITES])
def test_no_output_lands_in_or_on_an_input(tmp_path, name, flag):
    """Every output flag of every command (and --log), against every argument that may name an
    input: an output inside an input directory (a checkpoint, a tokenizer), the input itself, or a
    directory holding it, is refused in one line naming the flag; nothing is written."""
    inside = 0
    stem = flag != "log" and _outputs(name)[flag] == "stem"  # <out>.csv, ...: never the input d itself
    for action in _input_actions(name):
        if action.dest in _roots(name) or getattr(action.type, "__name__", "") == "_config":  # a config file:
            continue  # test_a_config_file_is_an_input_of_the_command_that_reads_it
        d = tmp_path / action.dest
        d.mkdir()
        (d / "f").write_text("mine")
        for target, message in [(d / "f", "lies inside the input"), (d, "would replace the input"),
                                (tmp_path, "would replace the input")][:1 if stem else 3]:
            outs = {} if flag == "log" else {flag: target}
            argv = argv_for(name, tmp_path, {action.dest: d}, outs, log=target if flag == "log" else None)
            with pytest.raises(MotError) as e:
                check(argv)
            assert str(e.value).startswith(f"--{flag.replace('_', '-')}") and message in str(e.value), \
                (argv, str(e.value))
        assert (d / "f").read_text() == "mine"
        shutil.rmtree(d)
        inside += 1
    assert inside or name == "check-config"


def test_the_issues_examples_are_refused(tmp_path):
    """mot evaluate --checkpoint 4=CK --out CK/config.json (it destroyed the checkpoint), and its log there."""
    ck = tmp_path / "CK"
    ck.mkdir()
    (ck / "config.json").write_text("{}")
    ev = ["evaluate", "--checkpoint", f"4={ck}", "--benchmark", f"syn-aime24={ck}/config.json", "--spec", "{}",
          "--samples", str(tmp_path / "s.jsonl")]
    with pytest.raises(MotError, match=f"--out {ck}/config.json: lies inside the input {ck}"):
        check([*ev, "--out", f"{ck}/config.json"])
    with pytest.raises(MotError, match=f"--log {ck}/config.json: lies inside the input {ck}"):
        check(["--log", f"{ck}/config.json", *ev, "--out", str(tmp_path / "e.json")])


def test_an_input_reached_by_another_path_is_still_an_input(tmp_path):
    """Issue 33, probe 17, case 6: the checkpoint CK bind-mounted at CKB, then `evaluate --checkpoint
    4=CK --out CKB/config.json` exited 0 and replaced CK's config.json: the check compared paths. It
    compares the directories themselves now (device and inode), whichever way the output is spelt.
    A bind mount needs root (CI runs as root); a symbolic link, resolved, is the path check's."""
    import subprocess

    ck, ckb = tmp_path / "CK", tmp_path / "CKB"
    ck.mkdir()
    ckb.mkdir()
    (ck / "config.json").write_text("{}")
    if subprocess.run(["mount", "--bind", str(ck), str(ckb)], capture_output=True).returncode != 0:
        pytest.skip("mount --bind needs root")
    try:
        ev = ["evaluate", "--checkpoint", f"4={ck}", "--benchmark", f"syn-aime24={tmp_path}/w.json", "--spec", "{}",
              "--samples", str(tmp_path / "s.jsonl")]
        with pytest.raises(MotError, match=f"--out {ckb}/config.json: lies inside the input {ck}"):
            check([*ev, "--out", f"{ckb}/config.json"])
        with pytest.raises(MotError, match=f"--samples {ckb}: would replace the input {ck}"):
            check([*ev[:-2], "--samples", str(ckb), "--out", str(tmp_path / "e.json")])
    finally:
        subprocess.run(["umount", str(ckb)], check=True)
    assert (ck / "config.json").read_text() == "{}"


def test_a_model_named_by_its_hub_id_is_an_input_in_the_hub_cache(tmp_path, monkeypatch):
    """Issue 33, probe 19, case 9: `corpus --tokenizer fake/tok --grades <the cache's snapshot>/
    tokenizer_config.json` exited 0 and overwrote the cached tokenizer's blob: a hub id names no path
    here, so its copy in the Hugging Face cache, which transformers reads, was no input."""
    import huggingface_hub.constants

    repo = tmp_path / "hub" / "models--fake--tok"
    (repo / "blobs").mkdir(parents=True)
    (repo / "blobs" / "abc").write_text("{}")
    snap = repo / "snapshots" / "0123"
    snap.mkdir(parents=True)
    (snap / "tokenizer_config.json").symlink_to(repo / "blobs" / "abc")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    samples = tmp_path / "s.jsonl"
    samples.write_text("")
    args = ["corpus", "--samples", str(samples), "--tokenizer", "fake/tok", "--out", str(tmp_path / "c.jsonl")]
    with pytest.raises(MotError, match=f"--grades {snap}/tokenizer_config.json: lies inside the input {repo}"):
        check([*args, "--grades", str(snap / "tokenizer_config.json")])
    check([*args, "--grades", str(tmp_path / "g.json")])  # elsewhere: fine
    assert (repo / "blobs" / "abc").read_text() == "{}"


def test_a_file_written_beside_the_named_one_is_not_the_users(tmp_path):
    """Issue 33, probe 17, case 7: `echo notes > st.md; mot stats ... --out st.csv` exited 0 and
    replaced st.md, which mot writes beside st.csv. Such a file, there while the named one is not,
    is no earlier run's: refused, naming it (--force, where a command has it, replaces it). A rerun
    (both there) replaces both.
    Case 9: an output under a symbolic link to a missing directory failed late, as "File exists"."""
    (tmp_path / "tok").mkdir()
    for f in ("g.jsonl", "c.jsonl"):
        (tmp_path / f).write_text("{}\n")
    stats = ["stats", "--tokenizer", str(tmp_path / "tok"), "--grades", str(tmp_path / "g.jsonl"),
             "--corpora", str(tmp_path / "c.jsonl")]
    (tmp_path / "st.md").write_text("notes")
    with pytest.raises(MotError, match=rf"--out \(its \.md\) {tmp_path}/st.md: exists, and {tmp_path}/st.csv does not: .*"
                                       r"\(a file of yours\?\); move it away$"):
        check([*stats, "--out", str(tmp_path / "st.csv")])
    (tmp_path / "st.csv").write_text("x\n")  # both there: what a finished run leaves
    check([*stats, "--out", str(tmp_path / "st.csv")])
    (tmp_path / "dangling").symlink_to(tmp_path / "missing" / "dir")
    with pytest.raises(MotError, match=f"--out {tmp_path}/dangling/u.jsonl: {tmp_path}/dangling is a symbolic link "
                                       f"to {tmp_path}/missing/dir, which does not exist"):
        check(["union", "--out", str(tmp_path / "dangling" / "u.jsonl"), str(tmp_path / "st.csv")])


def test_probe_18_what_the_user_owns_beside_and_inside_mots_outputs_is_kept(tmp_path):
    """Issue 33, probe 18: (1) a directory holding a `.mot-output` without a list of files (written by
    hand, or by a mot before the lists) was replaced, the user's notes with it; (2) a file of the
    user's inside a mot output nested in another (a round's branch) was deleted by the outer's
    rerun; (3) --force replaced a directory in which a job was working (its stamped `.partial`, its
    held lock); (4) a table's .md and .tex of the user's were overwritten when both were there."""
    import fcntl

    from mot.io import MANIFEST, WORK_STAMP

    d = tmp_path / "tasks"
    d.mkdir()
    (d / MARKER).write_text("")
    (d / "notes.txt").write_text("mine")
    with pytest.raises(MotError, match=rf"--out {d}: its \.mot-output lists no files .* pass --force"):
        check_out(d)
    tmp = tmp_path / "t"
    (tmp / "branch-a").mkdir(parents=True)
    (tmp / "branch-a" / "w.bin").write_text("w")
    (tmp / "branch-a" / MARKER).write_text(f"\n{MANIFEST}\nw.bin\n")
    br = tmp_path / "br"
    publish(tmp, br)
    check_out(br)  # its own files only: replaceable
    (br / "branch-a" / "notes.txt").write_text("mine")
    with pytest.raises(MotError, match=r"holds branch-a/notes.txt, which mot did not write there"):
        check_out(br)
    mine = tmp_path / "D"
    (mine / "run.partial").mkdir(parents=True)
    (mine / "run.partial" / WORK_STAMP).write_text("{}")
    with pytest.raises(MotError, match=r"run.partial \(a resumable job's unfinished work\), which --force does not"):
        check_out(mine, force=True)
    shutil.rmtree(mine / "run.partial")
    (mine / ".run.lock").write_text("mot lock\n")
    held = os.open(mine / ".run.lock", os.O_RDONLY)
    fcntl.flock(held, fcntl.LOCK_EX)
    try:
        with pytest.raises(MotError, match=r"\.run\.lock \(the lock of a command writing there now\)"):
            check_out(mine, force=True)
    finally:
        os.close(held)
    check_out(mine, force=True)  # the lock no longer held: a leftover
    for ext in ("md", "tex"):
        (tmp_path / f"paper.{ext}").write_text("mine")
    with pytest.raises(MotError, match=rf"{tmp_path}/paper\.(md|tex): exists, and {tmp_path}/paper\.\w+ does not"):
        (tmp_path / "in").mkdir()
        check(argv_for("tables", tmp_path / "in", set_outputs={"out": tmp_path / "paper"}))


def test_a_stop_between_publishs_renames_leaves_a_result_in_place(tmp_path, monkeypatch):
    """Issue 33, probe 18, case 11: a SIGTERM after publish had moved the finished result aside and
    before the new one was in place left neither at the output's path (the old one hidden in
    `.T.mot-old-<hex>`, which the next run deleted). The renames, and the old one's removal, now take
    a stop as they end: the new result is in place, nothing is left beside it, and the stop is raised."""
    import signal

    import mot.process as process

    out, old, new = tmp_path / "T", tmp_path / "a", tmp_path / "b"
    for d, text in ((old, "old"), (new, "new")):
        d.mkdir()
        (d / "f").write_text(text)
    publish(old, out)
    real = os.replace

    def replace(a, b):  # the stop comes between the two renames
        real(a, b)
        if ".mot-old-" in str(b):
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(os, "replace", replace)
    previous = process._stop_on_signals()
    try:
        with pytest.raises(process.Stopped):
            publish(new, out)
    finally:
        process._restore_signals(previous, program=False)
    assert (out / "f").read_text() == "new" and not list(tmp_path.glob(".T.mot-*"))


def test_a_log_on_the_console_or_a_device_is_refused(tmp_path, monkeypatch):
    """Issue 33, probe 18, case 14: `--log /dev/stderr` as root replaced the system's /dev/stderr (a link
    to /proc/self/fd/2) by a file; a user's link to a descriptor likewise. Refused in one line."""
    (tmp_path / "l").symlink_to("/proc/self/fd/2")
    for log in ("/dev/stderr", str(tmp_path / "l"), "/dev/shm/x.log"):
        with pytest.raises(MotError, match=rf"--log {log}: the console or a device, not a file"):
            check(["--log", log, "check-config", str(ROOT / "config/test.yaml")])
    assert os.path.islink("/dev/stderr") and (tmp_path / "l").is_symlink()
    # probe 20, case 27: a file spelt through /proc/self/cwd is a file (refused for its spelling before)
    monkeypatch.chdir(tmp_path)
    check(["--log", "/proc/self/cwd/x.log", "check-config", str(ROOT / "config/test.yaml")])
    with pytest.raises(MotError, match=r"--log /proc/self/fd/2: the console or a device"):
        check(["--log", "/proc/self/fd/2", "check-config", str(ROOT / "config/test.yaml")])


def test_corpus_into_the_tokenizer_it_reads_is_refused(tmp_path):
    """The reproduction: mot corpus --tokenizer TOK --out TOK/tokenizer_config.json exited 0 and the
    tokenizer's config became corpus JSONL."""
    tok = tmp_path / "TOK"
    shutil.copytree(next((ROOT / "data" / "bases").iterdir()), tok)
    before = (tok / "tokenizer_config.json").read_bytes()
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps({"id": "p0", "prompt": "1+1?", "answer": "2", "teacher": "t", "source": "s",
                                   "samples": [{"text": "\\boxed{2}", "finish_reason": "stop"}]}) + "\n")
    r = run_mot("corpus", "--samples", samples, "--tokenizer", tok, "--max-length", 512,
                "--out", tok / "tokenizer_config.json", "--grades", tmp_path / "g.json")
    assert r.returncode == 1 and r.stderr.strip() == (
        f"mot: error: --out {tok}/tokenizer_config.json: lies inside the input {tok} (a command never writes "
        "into what it reads)"), r.stderr
    assert (tok / "tokenizer_config.json").read_bytes() == before and not (tmp_path / "g.json").exists()


def test_a_root_is_read_selectively_an_output_may_lie_inside_it(tmp_path):
    """The one declared exemption: mot rehearsal check --results DIR writes DIR/rehearsal/checks.json
    (and the rule's log under DIR/logs); the root itself, or a directory holding it, is still refused,
    and so is an output inside what it reads of the tree (issue 33, sixth probe, cases 9 and 10: the
    checks or the log over a corpus the check reads)."""
    assert list({n: _roots(n) for n in SUBS if _roots(n)}) == ["rehearsal"]
    assert set(_roots("rehearsal")["results"]) >= {"samples", "corpora", "eval", "models"}
    res = tmp_path / "results"
    (res / "corpora" / "s").mkdir(parents=True)
    (res / "corpora" / "s" / "t.jsonl").write_text("{}\n")
    base = ["rehearsal", "check", "--results", str(res)]
    check(["--log", str(res / "logs/checks.log"), *base, "--checks", str(res / "rehearsal/checks.json")])
    for target in (res, tmp_path):
        with pytest.raises(MotError, match="would replace the input"):
            check([*base, "--checks", str(target)])
    with pytest.raises(MotError, match="lies inside the input"):
        check([*base, "--checks", str(res / "corpora" / "s" / "t.jsonl")])
    with pytest.raises(MotError, match="lies inside the input"):
        check(["--log", str(res / "corpora" / "s" / "t.jsonl"), *base, "--checks", str(res / "c.json")])


def test_a_setting_that_names_the_root_is_no_input(tmp_path):
    """world.held_out_op "//" (integer division) names the file system's root as a path: it is a
    setting, not an input, or every output would lie inside it."""
    check(["world-student", "--world", json.dumps({"held_out_op": "//"}), "--arch", "{}", "--pretrain", "{}",
           "--out", str(tmp_path / "base")])


def test_a_seeds_working_directory_is_placed_but_not_owned(tmp_path):
    """mot seeds run --dir is a Snakemake working directory (its files are the seed's run's
    outputs, unmarked): a rerun over it is no foreign directory; inside an input it is refused."""
    d = tmp_path / "seed-1"
    (d / "results").mkdir(parents=True)
    (d / "results" / "x.json").write_text("{}")
    run = ["seeds", "run", "--seed", "1", "--config", CONFIG, "--snakefile", str(tmp_path / "Snakefile")]
    (tmp_path / "Snakefile").write_text("")
    check([*run, "--dir", str(d)])
    data = tmp_path / "data"
    data.mkdir()
    with pytest.raises(MotError, match="--dir .*: lies inside the input"):
        check([*run, "--data", str(data), "--dir", str(data / "seed-1")])


# --------------------------------------------------------------------------- 2: ownership
DIRS = [(name, flag) for name in SUBS for flag, kind in _outputs(name).items() if kind == "dir"]


@pytest.mark.parametrize("name,flag", DIRS, ids=[f"{n}--{f}" for n, f in DIRS])
def test_no_command_replaces_a_directory_mot_did_not_write(tmp_path, name, flag):
    """Every directory output: an existing directory holding a user's file is refused (unless
    --force, which every such command has); one that mot wrote, or an empty one, is not."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    argv = argv_for(name, tmp_path, set_outputs={flag: mine})
    with pytest.raises(MotError, match=f"--{flag} {mine}: an existing directory that mot did not write"):
        check(argv)
    assert "--force" in SUBS[name]._option_string_actions
    check([*argv, "--force"])
    (mine / MARKER).touch()
    check(argv)
    assert (mine / "notes.txt").read_text() == "keep me"


def test_publish_never_replaces_a_directory_mot_did_not_write(tmp_path):
    """The backstop under every directory output (mot.io.publish, through atomic_path): whatever
    checked or did not check before, a directory that mot did not write is not replaced, unless
    the caller was allowed to (force, or check_out with force=True); mot's own and empty ones are."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(MotError, match=f"{mine}: an existing directory that mot did not write"):
        with atomic_path(mine, is_dir=True) as tmp:
            (tmp / "new.txt").write_text("new")
    assert (mine / "notes.txt").read_text() == "keep me" and not (mine / "new.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["mine"]  # its temporary directory is gone too
    tmp = tmp_path / "work"
    tmp.mkdir()
    with pytest.raises(MotError, match="did not write"):
        publish(tmp, mine)
    publish(tmp, tmp_path / "empty")  # absent
    (tmp_path / "empty2").mkdir()
    tmp.mkdir()
    publish(tmp, tmp_path / "empty2")  # empty
    tmp.mkdir()
    (tmp / "a").write_text("a")
    publish(tmp, tmp_path / "empty2")  # mot's own
    assert (tmp_path / "empty2" / "a").read_text() == "a"
    with atomic_path(mine, is_dir=True, force=True) as t:
        (t / "new.txt").write_text("new")
    assert (mine / "new.txt").is_file() and not (mine / "notes.txt").exists()
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("theirs")
    check_out(other, force=True)  # the user's --force, checked once at the start
    with atomic_path(other, is_dir=True) as t:
        (t / "new.txt").write_text("new")
    assert not (other / "notes.txt").exists()


@pytest.mark.parametrize("name,flag", WRITES, ids=[f"{n}--{f}" for n, f in WRITES])
def test_no_output_lands_inside_another_commands_result(tmp_path, name, flag):
    """Probe 7's case, for every output flag of every command (and --log): an output inside a
    directory that another mot command wrote (a round's branch, a checkpoint) is refused in one line,
    --force or not (it replaces a directory, it does not write into another's result); a directory
    output of a command that nests (the model writers) inside one that the command itself, or one of
    its kind, wrote, is not (probe 8, case 19: a file, the log included, is)."""
    other = tmp_path / "theirs"
    other.mkdir()
    (other / MARKER).write_text("some-other-command")
    (other / "branch").mkdir()
    target = other / "branch" / "x"
    outs = {} if flag == "log" else {flag: target}
    argv = argv_for(name, tmp_path, set_outputs=outs, log=target if flag == "log" else None)
    forced = [*argv, "--force"] if "--force" in SUBS[name]._option_string_actions else argv
    for line in (argv, forced):
        with pytest.raises(MotError) as e:
            check(line)
        assert str(e.value).startswith(f"--{flag.replace('_', '-')} ") and f"{target}" in str(e.value) and \
            f": lies inside {other}, the output of `mot some-other-command`" in str(e.value), str(e.value)
    # a round's branch inside the round: its own kind's, for the commands that nest (the model writers;
    # a general-tasks directory inside another's was deleted by the outer one's rerun: probe 12, case 4)
    nests = flag != "log" and _outputs(name)[flag] == "dir" and SUBS[name].get_default("nests")
    for writer in (SUBS[name].get_default("writer"), ""):  # its own kind's; an earlier version's (any command's)
        (other / MARKER).write_text(writer)
        if nests:
            check(argv)
        else:  # a file (a log over a model's weights) or a working directory: inside no result of mot's
            with pytest.raises(MotError, match="lies inside"):
                check(argv)


def test_best_std_never_replaces_or_writes_into_a_runs_models(tmp_path, monkeypatch):
    """Probe 7's reproduction: `mot best-std --out` a round's branch replaced the trained branch
    with a copy of another model (exit 0). A directory that another command wrote is replaced only
    with --force; the per-set and per-branch MoT jobs (mot.jobs) write each other's paths."""
    from mot.cli import MODEL_WRITER

    monkeypatch.chdir(tmp_path)
    evals, runs = _std_tree(tmp_path / "A")
    run = tmp_path / "mot-round-1"
    branch = run / "branch-x"
    branch.mkdir(parents=True)
    (branch / "model.safetensors").write_text("trained")
    (run / MARKER).write_text(f"{MODEL_WRITER}\nfiles:\nbranch-x/\n")  # what each was published with
    (branch / MARKER).write_text(f"{MODEL_WRITER}\nfiles:\nmodel.safetensors\n")
    argv = ["best-std", "--spec", json.dumps(_SPEC), "--evals", *evals, "--runs", *runs, "--student", "s",
            "--source", "a"]
    assert main([*argv, "--out", str(branch)]) == 1
    assert main([*argv, "--out", str(run)]) == 1
    assert (branch / "model.safetensors").read_text() == "trained"
    check(["train", "--model", str(tmp_path / "A"), "--corpus", evals[0], "--spec", "{}", "--out", str(branch)])
    check(["merge", "--method", "mean", "--out", str(branch), str(tmp_path / "A")])
    with pytest.raises(MotError, match=f"--out {run}: an existing directory that `mot train/branches/rounds/merge`"
                                       " wrote, not `mot best-std`; remove it or pass --force"):
        check([*argv, "--out", str(run)])
    assert main([*argv, "--out", str(run), "--force"]) == 0
    assert (run / MARKER).read_text().splitlines()[0] == "best-std" and not branch.exists()


@pytest.mark.parametrize("command", ["general-tasks", "best-std"])
def test_a_users_directory_survives_the_commands_that_deleted_it(tmp_path, command, monkeypatch):
    """The reproductions: general-tasks and best-std --out mine (mine/notes.txt) exited 0 with the
    notes gone."""
    from mot.world import make_world

    from conftest import TINY_WORLD

    monkeypatch.chdir(tmp_path)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    if command == "general-tasks":
        world = tmp_path / "world.json"
        world.write_text(json.dumps(make_world(**TINY_WORLD, held_out_op="//", held_out_pretrain=10, general_size=4)))
        argv = ["general-tasks", "--world", str(world), "--sampling",
                json.dumps({"temperature": 0.6, "top_p": 0.95, "max_tokens": 48}), "--out", str(mine)]
    else:
        evals, runs = _std_tree(tmp_path / "A")
        argv = ["best-std", "--spec", json.dumps(_SPEC), "--evals", *evals, "--runs", *runs,
                "--student", "s", "--source", "a", "--out", str(mine)]
    assert main(argv) == 1
    assert (mine / "notes.txt").read_text() == "keep me"
    assert main([*argv, "--force"]) == 0
    assert not (mine / "notes.txt").exists() and (mine / MARKER).is_file()
    assert main(argv) == 0  # its own output now


# --------------------------------------------------------------------------- 3: the log
@pytest.mark.parametrize("case", ["log_is_the_input", "log_inside_an_input", "log_is_an_output"])
def test_the_log_never_truncates_an_input_or_an_output(tmp_path, case):
    """--log is opened (truncated) only after the check: a log on an input, inside one, or on an
    output is one line on stderr, and every file is as it was."""
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps({"id": "p0", "prompt": "1+1?", "answer": "2", "teacher": "t", "source": "s",
                                   "samples": [{"text": "\\boxed{2}", "finish_reason": "stop"}]}) + "\n")
    tok = tmp_path / "TOK"
    shutil.copytree(next((ROOT / "data" / "bases").iterdir()), tok)
    out = tmp_path / "c.jsonl"
    out.write_text("an earlier corpus\n")
    log, message = {"log_is_the_input": (samples, f"--log {samples}: would replace the input {samples}"),
                    "log_inside_an_input": (tok / "tokenizer_config.json",
                                            f"--log {tok}/tokenizer_config.json: lies inside the input {tok}"),
                    "log_is_an_output": (out, f"--log {out}: the same path as --out {out}")}[case]
    before = {p: p.read_bytes() for p in [samples, out, *tok.iterdir()]}
    r = run_mot("--log", log, "corpus", "--samples", samples, "--tokenizer", tok, "--max-length", 512,
                "--out", out, "--grades", tmp_path / "g.json")
    assert r.returncode == 1 and r.stderr.startswith(f"mot: error: {message}"), r.stderr
    assert {p: p.read_bytes() for p in before} == before and not (tmp_path / "g.json").exists()


# --------------------------------------------------------------------------- 4: two outputs, one path
FLAGS = {name: ["log", *_outputs(name)] for name in SUBS}
PAIRS = [(name, a, b) for name, flags in FLAGS.items() for i, a in enumerate(flags) for b in flags[i + 1:]]


@pytest.mark.parametrize("name,a,b", PAIRS, ids=[f"{n}--{a}--{b}" for n, a, b in PAIRS])
def test_two_outputs_never_name_one_path(tmp_path, name, a, b):
    """Any two of a command's outputs (its log included) on one path, or one inside the other, are
    refused: `--out X --grades X` left the grades where the corpus should be."""
    declared = SUBS[name].get_default("outputs")
    stems = [declared[k] for k in (a, b) if k != "log" and _kind(declared[k]) == "stem"]
    ext = getattr(stems[0], "exts", (".csv",))[0] if stems else ""  # a stem X writes X.csv, ...
    paths = {k: tmp_path / ("X" if k != "log" and _kind(declared[k]) == "stem" else f"X{ext}") for k in (a, b)}
    outs = {k: v for k, v in paths.items() if k != "log"}
    argv = argv_for(name, tmp_path, set_outputs=outs, log=paths.get("log"))
    with pytest.raises(MotError, match=r"the same path as|lies inside the output"):
        check(argv)


@pytest.mark.parametrize("name,flag", DIRS, ids=[f"{n}--{f}" for n, f in DIRS])
def test_no_output_lies_inside_another(tmp_path, name, flag):
    """A log inside a directory output would be deleted when the directory is published."""
    d = tmp_path / "D"
    with pytest.raises(MotError, match=f"--log {d}/x.log: lies inside the output --{flag} {d}"):
        check(argv_for(name, tmp_path, set_outputs={flag: d}, log=d / "x.log"))


def test_corpus_out_and_grades_on_one_file_is_refused(tmp_path):
    samples = tmp_path / "samples.jsonl"
    samples.write_text(json.dumps({"id": "p0", "prompt": "1+1?", "answer": "2", "teacher": "t", "source": "s",
                                   "samples": [{"text": "\\boxed{2}", "finish_reason": "stop"}]}) + "\n")
    x = tmp_path / "X"
    r = run_mot("corpus", "--samples", samples, "--out", x, "--grades", x)
    assert r.returncode == 1 and r.stderr.strip() == f"mot: error: --grades {x}: the same path as --out {x} (two " \
                                                     "outputs, one file)", r.stderr
    assert not x.exists()


def test_stats_markdown_beside_its_csv_is_an_output(tmp_path):
    """mot stats writes <out> and <out>.md: its .md may not be an input either."""
    a, md = tmp_path / "g.json", tmp_path / "s.md"
    a.write_text("{}")
    md.write_text("mine")
    with pytest.raises(MotError, match=f"--out \\(its .md\\) {md}: would replace the input {md}"):
        check(["stats", "--tokenizer", str(a), "--grades", str(a), "--corpora", str(md),
               "--out", str(tmp_path / "s.csv")])


# --------------------------------------------------------------------------- 5: best-std reads what it is given
_SPEC = {"students": {"s": "STU"}, "sources": {"a": "SRC-A"},
         "teachers": {"t1": {"label": "T1", "shifted": False}, "t2": {"label": "T2", "shifted": False}},
         "sets": {"all": ["t1", "t2"]}, "roles": {"mot": "all", "no_shifted": "all", "peers": "all"},
         "benchmarks": ["b"], "steps_per_round": 5, "rounds": 2, "published": None}


def _std_tree(root: Path, weights: str = "A", absolute: bool = False) -> tuple[list[str], list[str]]:
    """A tree as the rules leave it: results/models/s/a/sft-<t> (final weights) and their eval
    summaries, recording the final checkpoint as the rule passed it (relative to `root`), or
    absolute (a by-hand evaluation). t2 is the best."""
    from mot import layout

    evals, runs = [], []
    for t, v in (("t1", 0.2), ("t2", 0.4)):
        run = layout.run_dir("s", "a", f"sft-{t}")
        d = root / run
        (d / "step-00005").mkdir(parents=True)
        (d / "model.safetensors").write_text(f"{weights} {t}")
        (d / MARKER).touch()
        score = {"pass@1": v, "se": 0.01, "se_problems": 0.02}
        rec = {"student": "s", "source": "a", "run": f"sft-{t}", "checkpoints": [
            {"step": 5, "model": f"{d if absolute else run}/step-00005", "benchmarks": {"b": score}},
            {"step": 10, "model": str(d) if absolute else run, "benchmarks": {"b": score}}]}
        (root / "evals").mkdir(exist_ok=True)
        (root / "evals" / f"sft-{t}.json").write_text(json.dumps(rec))
        evals.append(str(root / "evals" / f"sft-{t}.json"))
        runs.append(str(d))
    return evals, runs


@pytest.mark.parametrize("absolute", [False, True], ids=["rule_relative_records", "absolute_records"])
def test_best_std_copies_the_evaluated_model_not_one_under_the_working_directory(tmp_path, monkeypatch, absolute):
    """Run from another tree B (the same layout, other weights) with A's summaries and A's runs,
    best-std copies A's weights; given B's runs where A's summaries name A's by absolute path, it
    refuses; it never rebuilds a path from the working directory."""
    a_evals, a_runs = _std_tree(tmp_path / "A", "A", absolute)
    _, b_runs = _std_tree(tmp_path / "B", "B", absolute)
    monkeypatch.chdir(tmp_path / "B")
    argv = ["best-std", "--spec", json.dumps(_SPEC), "--evals", *a_evals, "--student", "s", "--source", "a"]
    rel = [os.path.relpath(r) for r in a_runs]  # ../A/results/models/s/a/sft-t<i>
    assert main([*argv, "--runs", *rel, "--out", "../best"]) == 0
    assert (tmp_path / "best" / "model.safetensors").read_text() == "A t2"
    assert json.loads((tmp_path / "best" / "mot_best_std.json").read_text())["run"] == rel[1]
    if absolute:
        with pytest.raises(MotError, match=r"evaluated .*/A/results/models/s/a/sft-t2 as its final checkpoint, "
                                           r"which is none of --runs"):
            from mot.results import copy_best_std

            copy_best_std(_SPEC, a_evals, "s", "a", str(tmp_path / "best2"), b_runs)
        assert not (tmp_path / "best2").exists()


# --------------------------------------------------------------------------- 17c: declared kinds
def test_evaluate_reruns_by_hand_over_its_own_outputs(tmp_path):
    """A by-hand rerun of mot evaluate over its earlier summary and samples (files) passes the
    check: --samples is a JSONL file, not a directory."""
    ck = tmp_path / "ck"
    ck.mkdir()
    (tmp_path / "prev_samples.jsonl").write_text("{}\n")
    (tmp_path / "prev.json").write_text("{}\n")
    (tmp_path / "b.jsonl").write_text("{}\n")
    check(["evaluate", "--checkpoint", f"0={ck}", "--benchmark", f"syn-aime24={tmp_path / 'b.jsonl'}", "--spec", "{}",
           "--samples", str(tmp_path / "prev_samples.jsonl"), "--out", str(tmp_path / "prev.json")])


def test_declared_output_kinds_match_the_rules(workdir):
    """For every rule whose shell runs `mot <command> --<flag> {output.<name>}`: the flag is
    declared a directory (dir, workdir) exactly when the rule's output is a directory()."""
    import re

    from snakemake.api import SnakemakeApi
    from snakemake.io import is_flagged
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings, StorageSettings

    seen = []
    with SnakemakeApi(OutputSettings()) as api:
        wf = api.workflow(resource_settings=ResourceSettings(cores=1), storage_settings=StorageSettings(),
                          config_settings=ConfigSettings(configfiles=[workdir / "config/test.yaml"]),
                          snakefile=ROOT / "Snakefile", workdir=workdir)
        workflow = wf._get_workflow()  # the rules as parsed (Snakemake has no public API for them)
        workflow.include(wf.snakefile, overwrite_default_target=True)
        for rule in workflow.rules:
            shell = rule.shellcmd or ""
            m = re.search(r"(?:-m mot|\{params\.launch\}) (?:--log \{log\} )?(?:--threads \{[\w.]+\} )?([\w-]+)", shell)
            if not m:
                continue
            name = m.group(1)
            for flag, out in re.findall(r"--([\w-]+) \{output\.(\w+)\}", shell):
                kind = _outputs(name)[flag.replace("-", "_")]
                assert (kind in ("dir", "workdir")) == is_flagged(getattr(rule.output, out), "directory"), \
                    (rule.name, name, flag, kind)
                seen.append((rule.name, flag))
    assert ("eval_run", "samples") in seen and ("sft", "out") in seen and ("general_tasks", "out") in seen


def test_a_config_file_is_an_input_of_the_command_that_reads_it(tmp_path):
    """mot plan --config X --out X replaced the user's config with the plan: --config's file, read
    while the arguments are parsed, is an input like any other; a broken one is one line."""
    from conftest import ROOT, run_mot

    mine = tmp_path / "my.yaml"
    shutil.copy(ROOT / "config/test.yaml", mine)
    for flag in ("--out", "--readme"):
        args = ["--out", tmp_path / "p.md", "--readme", mine] if flag == "--readme" else ["--out", mine]
        r = run_mot("plan", "--config", mine, *args)
        assert r.returncode == 1 and f"{flag} {mine}" in r.stderr, r.stderr
        assert mine.read_bytes() == (ROOT / "config/test.yaml").read_bytes()
    (tmp_path / "bad.yaml").write_text("a: [\n")
    r = run_mot("plan", "--config", tmp_path / "bad.yaml", "--out", tmp_path / "p.md")
    assert r.returncode == 1 and r.stderr.strip().count("\n") == 0 and "bad.yaml" in r.stderr, r.stderr


def test_an_output_that_is_another_outputs_lock_file_is_refused(tmp_path):
    """--log .OUT.lock: the lock that mot holds beside OUT while it writes, and removes at the end."""
    from conftest import run_mot

    (tmp_path / "p.jsonl").write_text("")
    out = tmp_path / "s.jsonl"
    r = run_mot("--log", tmp_path / ".s.jsonl.lock", "generate", "--prompts", tmp_path / "p.jsonl", "--teacher",
                json.dumps({"name": "t", "backend": "synthetic", "params": {}}), "--sampling",
                json.dumps({"n": 1, "temperature": 0.6, "top_p": 0.95, "max_tokens": 8}), "--out", out)
    assert r.returncode == 1 and f"--log {tmp_path / '.s.jsonl.lock'}: the lock file of --out {out}" in r.stderr, r.stderr


def test_an_output_given_as_a_link_is_replaced_and_what_it_named_kept(tmp_path):
    """Issue 33, third probe, case 27: publishing over a symbolic link to mot's own directory failed after
    publishing (rmtree refuses a link) and said that nothing was published; a stale link stayed."""
    target = tmp_path / "scratch"
    with atomic_path(target, is_dir=True) as t:
        (t / "a.txt").write_text("old")
    (tmp_path / "link").symlink_to(target)
    with atomic_path(tmp_path / "link", is_dir=True) as t:
        (t / "a.txt").write_text("new")
    assert not (tmp_path / "link").is_symlink() and (tmp_path / "link" / "a.txt").read_text() == "new"
    assert (target / "a.txt").read_text() == "old"  # the directory the link named is the user's to remove
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link", "scratch"]  # no .link.old-* left


def test_a_users_file_of_a_lock_files_name_is_kept(tmp_path):
    """Issue 33, third probe, case 28, and eighth probe, case 22: mot's lock beside OUT (.OUT.lock) holds
    mot.io.LOCK_TEXT, and mot removes it at the end; a file of that name with anything else in it, or
    empty, is the user's, and the command refuses and keeps it. One that a killed mot left is taken."""
    from mot.io import LOCK_TEXT, lock_output, release_output

    for mine in ("my notes", ""):
        (tmp_path / ".out.lock").write_text(mine)
        with pytest.raises(MotError, match=r"out: .*\.out\.lock exists and is not mot's lock file"):
            lock_output(tmp_path / "out")
        release_output(tmp_path / "out")
        assert (tmp_path / ".out.lock").read_text() == mine
    lock_output(tmp_path / "new")  # made, held and removed
    assert (tmp_path / ".new.lock").read_bytes() == LOCK_TEXT
    release_output(tmp_path / "new")
    assert not (tmp_path / ".new.lock").exists()
    (tmp_path / ".other.lock").write_bytes(LOCK_TEXT)  # as a killed writer leaves it: taken and removed
    lock_output(tmp_path / "other")
    release_output(tmp_path / "other")
    assert not (tmp_path / ".other.lock").exists()


def test_files_written_together_are_all_old_or_all_new_after_a_full_disk(tmp_path, monkeypatch):
    """Issue 33, probe 19, case 10: a full disk while `mot tables` wrote its four files left the .csv,
    .md and .tex new and the .html missing, said that nothing was published, and the rerun refused the
    new ones as the user's. A table's files (as stats' and a figure's) now move into place together."""
    import errno
    import pathlib

    from mot.render import Table

    out = tmp_path / "t10"
    Table("T", ["Run", "AVG"], [["a", 1.0]]).write(str(out))
    old = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert sorted(old) == ["t10.csv", "t10.html", "t10.md", "t10.tex"]
    write = pathlib.Path.write_text

    def full(self, *a, **k):
        if ".html." in self.name:
            raise OSError(errno.ENOSPC, "No space left on device")
        return write(self, *a, **k)

    monkeypatch.setattr(pathlib.Path, "write_text", full)
    with pytest.raises(OSError):
        Table("T", ["Run", "AVG"], [["b", 2.0]]).write(str(out))
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == old  # the old four, no temporary file
    monkeypatch.setattr(pathlib.Path, "write_text", write)
    Table("T", ["Run", "AVG"], [["b", 2.0]]).write(str(out))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(old) and "b" in (tmp_path / "t10.csv").read_text()


def test_a_stop_while_leftovers_are_removed_leaves_no_lock(tmp_path, monkeypatch):
    """Issue 33, probe 18, case 12: a stop during the cleanup of an earlier attempt's leftovers (a
    merge's directory: hundreds of MB, seconds to remove) left the output's lock file behind."""
    from mot import io
    from mot.process import Stopped

    def stopped(path, is_dir):
        raise Stopped(15)

    monkeypatch.setattr(io, "_remove_stale", stopped)
    with pytest.raises(Stopped), atomic_path(tmp_path / "out", is_dir=True):
        pass
    assert list(tmp_path.iterdir()) == [] and not io._LOCKS


@pytest.mark.parametrize("args, message", [
    (["tables", "--name", "table2", "--spec", "[]"], "argument --spec: expected a JSON object {...}, got list []"),
    (["tables", "--name", "table2", "--spec", '{"benchmarks": NaN}'], "argument --spec: NaN is no number JSON has"),
    (["prompts", "--source", "syn-boba", "--spec", '{"type": "synthetic", "n": "4", "seed": 0}', "--template",
      "{problem}"], r"--spec: n: '4' is not of type 'integer' (config key sources.*.n)"),
    (["prompts", "--source", "syn-boba", "--spec", '{"type": "synthetic", "n": 4, "seed": 0, "min_ops": 3, '
      '"max_ops": 2}', "--template", "{problem}"], "sources.syn-boba: min_ops 3 is more than max_ops 2"),
    (["world", "--spec", '{"seed": 0, "pool_size": 9, "pretrain_size": 9, "test_size": 2, "ops": [3, 1], "test_ops": '
      '[1, 3], "max_operand": 9, "max_value": 99, "vocab_size": 320}'], "--spec.ops = [3, 1]: the fewest operations"),
])
def test_a_json_argument_of_the_wrong_shape_is_one_line(tmp_path, args, message):
    """Issue 33, third probe, cases 1, 24 and 30: a JSON argument that is not an object, holds NaN, or is a
    config block with a wrong type or a range that runs backwards, was a traceback."""
    r = run_mot(*args, "--out", tmp_path / "out")
    last = r.stderr.strip().splitlines()[-1]  # argparse's usage lines come before its one error line
    assert r.returncode in (1, 2) and "error: " in last and message in last, r.stderr
    assert "Traceback" not in r.stderr and not list(tmp_path.iterdir())


def test_a_summary_with_nan_or_a_missing_run_and_an_empty_union_are_one_line(tmp_path):
    """Issue 33, third probe, cases 17-19: NaN in an eval summary (JSON has none; it won best-std's max()),
    a table whose base run has no summary (a KeyError), and an MTD corpus of nothing (exit 0)."""
    from mot.corpus import union
    from mot.results import Results

    rec = {"student": "s", "source": "a", "run": "sft-t", "checkpoints": [
        {"step": 5, "model": "m", "benchmarks": {"b": {"pass@1": float("nan"), "se_problems": 0.1}}}]}
    (tmp_path / "nan.json").write_text(json.dumps(rec))  # Python writes NaN, as a careless tool would
    with pytest.raises(MotError, match=r"nan\.json: NaN is no number JSON has"):
        Results([str(tmp_path / "nan.json")], ["b"])
    rec["checkpoints"][0]["benchmarks"]["b"]["pass@1"] = 0.5
    (tmp_path / "ok.json").write_text(json.dumps(rec))
    res = Results([str(tmp_path / "ok.json")], ["b"])
    with pytest.raises(MotError, match=r"^no eval summary for student 's', source 'None', run 'base'$"):
        res.base_scored("s")
    with pytest.raises(MotError, match=r"ok\.json: no step 10 of run 'sft-t' \(evaluated: 5\)$"):
        res.scored("s", "a", "sft-t", 10)
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(MotError, match=r"empty\.jsonl: no samples to join"):
        union([str(tmp_path / "empty.jsonl")], str(tmp_path / "mtd.jsonl"))
    assert not (tmp_path / "mtd.jsonl").exists()


def test_a_log_that_is_a_hard_link_of_an_input_is_refused(tmp_path):
    """Issue 33, second probe, case 1: --log opened with O_TRUNC emptied an input it was a hard link
    of, and the command went on with what was left (exit 0, a wrong result)."""
    (tmp_path / "a.jsonl").write_text('{"prompt": "p", "response": "r"}\n')
    os.link(tmp_path / "a.jsonl", tmp_path / "log.txt")
    r = run_mot("--log", tmp_path / "log.txt", "union", "--out", tmp_path / "u.jsonl", tmp_path / "a.jsonl")
    assert r.returncode == 1 and f"--log {tmp_path / 'log.txt'}: would replace the input" in r.stderr, r.stderr
    assert (tmp_path / "a.jsonl").read_text() == '{"prompt": "p", "response": "r"}\n'


def test_the_schema_and_mots_own_code_are_inputs_of_every_command(tmp_path):
    """Issue 33, second probe, cases 2-3: what mot reads without an argument naming it."""
    from mot.spec import SCHEMA

    r = run_mot("plan", "--config", ROOT / "config/test.yaml", "--out", SCHEMA)
    assert r.returncode == 1 and "would replace the input" in r.stderr, r.stderr
    r = run_mot("--log", ROOT / "src/mot/new.log", "check-config", ROOT / "config/test.yaml")
    assert r.returncode == 1 and "lies inside the input" in r.stderr and not (ROOT / "src/mot/new.log").exists()


def test_a_readme_block_is_written_through_a_link_and_keeps_crlf(tmp_path):
    """Issue 33, second probe, cases 4 and 8: the file a link names is edited in place; CRLF stays."""
    from mot.summary import write_block

    (tmp_path / "docs").mkdir()
    real = tmp_path / "docs/real.md"
    real.write_bytes(b"# x\r\n<!-- s -->\r\nold\r\n<!-- e -->\r\ntail\r\n")
    (tmp_path / "R.md").symlink_to("docs/real.md")
    write_block(str(tmp_path / "R.md"), "<!-- s -->", "<!-- e -->", "new\nlines", "test")
    assert (tmp_path / "R.md").is_symlink()
    assert real.read_bytes() == b"# x\r\n<!-- s -->\r\nnew\r\nlines\r\n<!-- e -->\r\ntail\r\n"


def test_a_users_files_beside_a_directory_output_are_kept(tmp_path):
    """Issue 33, second probe, cases 5-7, and eighth, case 23: mot's leftovers beside an output have names
    of its own (.OUT.mot-tmp-<8 hex>, .OUT.mot-old-<8 hex>); a user's .OUT.old-mine, or .OUT.old-0badc0de
    (the names of earlier versions), is not one. A link as OUT.partial is
    the user's, and so is a config.yaml in a seed's --dir that mot did not write."""
    import yaml

    from mot.io import start_work
    from mot.seeds import run_seed

    (tmp_path / ".gt.old-mine").mkdir()
    (tmp_path / ".gt.old-mine/notes.txt").write_text("x")
    (tmp_path / ".gt.tmp-keep").write_text("y")
    (tmp_path / ".gt.old-0badc0de").write_text("precious notes")
    (tmp_path / ".gt.tmp-12345678").mkdir()
    (tmp_path / ".gt.tmp-12345678/my.txt").write_text("mine")
    (tmp_path / ".gt.mot-tmp-0123abcd").mkdir()  # a killed attempt's
    (tmp_path / ".gt.mot-old-0123abcd").mkdir()
    with atomic_path(tmp_path / "gt", is_dir=True) as t:
        (t / "a").write_text("a")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".gt.old-0badc0de", ".gt.old-mine", ".gt.tmp-12345678",
                                                          ".gt.tmp-keep", "gt"]
    (tmp_path / "mine").mkdir()
    (tmp_path / "s.jsonl.partial").symlink_to(tmp_path / "mine")
    with pytest.raises(MotError, match=r"s\.jsonl\.partial: exists and is not the work of an earlier attempt"):
        start_work(tmp_path / "s.jsonl", ["x"], {})
    (tmp_path / "proj").mkdir()
    (tmp_path / "proj/config.yaml").write_text("foo: 1\n")
    cfg = yaml.safe_load((ROOT / "config/test.yaml").read_text())
    with pytest.raises(MotError, match=r"proj/config\.yaml: a config that mot did not write"):
        run_seed(1, cfg, str(tmp_path / "proj"), str(ROOT / "Snakefile"), 1, [], str(ROOT / "data"))
    assert (tmp_path / "proj/config.yaml").read_text() == "foo: 1\n"


@pytest.mark.parametrize("case", ["stats nan", "stats word", "table2 bom", "empty corpus", "lone surrogate",
                                  "empty per_problem", "world ops"])
def test_an_input_of_the_wrong_shape_is_one_line(tmp_path, case):
    """Issue 33, second probe, cases 21-24, 27, 28, 30: tracebacks, or a NaN in a plan, from inputs that
    mot wrote and a user or another tool changed."""
    from mot.corpus import corpus_stats, union
    from mot.plan import read_corpus_stats
    from mot.results import Results
    from mot.summary import summary
    from mot.tables import corpus_table
    from mot.world import split_rows

    stats = tmp_path / "stats.csv"
    head = "source,teacher,prompts,kept,pass_rate,mean_tokens,lost_no_correct,lost_too_long\n"
    if case == "stats nan":
        stats.write_text(head + "a,t,8,8,0.5,nan,0,0\n")
        with pytest.raises(MotError, match=r"stats\.csv:2: mean_tokens = 'nan' is not a finite number"):
            read_corpus_stats([str(stats)])
    elif case == "stats word":
        stats.write_text(head + "a,t,8,eight,0.5,9.5,0,0\n")
        with pytest.raises(MotError, match=r"stats\.csv:2: kept = 'eight' is not a whole number"):
            corpus_table([str(stats)], {"sources": {"a": "A"}, "teachers": {"t": {"label": "T"}}})
    elif case == "table2 bom":
        (tmp_path / "table2.csv").write_bytes(b"\xef\xbb\xbfMethod,s AVG\r\nSTD,1\r\n")
        (tmp_path / "differences.csv").write_text("Dataset\n")
        with pytest.raises(MotError, match=r"table2\.csv: table has no column 'Dataset'"):
            summary(str(tmp_path))
    elif case == "empty corpus":
        (tmp_path / "g.json").write_text(json.dumps({"teacher": "t", "source": "a", "prompts": 1, "prompts_kept": 0,
                                                     "pass_rate": 0, "lost_no_correct": 1, "lost_too_long": 0}))
        (tmp_path / "c.jsonl").write_text("")
        with pytest.raises(MotError, match=r"c\.jsonl: an empty corpus"):
            corpus_stats(str(ROOT / "tests/fixtures/hub/Qwen3-8B-tiny"), [str(tmp_path / "g.json")],
                         [str(tmp_path / "c.jsonl")], str(stats))
    elif case == "lone surrogate":
        (tmp_path / "c.jsonl").write_text('{"prompt": "bad \\ud800 x", "response": "r"}\n')
        with pytest.raises(MotError, match=r"c\.jsonl:1: a lone surrogate"):
            union([str(tmp_path / "c.jsonl")], str(tmp_path / "u.jsonl"))
    elif case == "empty per_problem":
        rec = {"student": "s", "source": "a", "run": "r", "checkpoints": [
            {"step": 1, "benchmarks": {"b": {"pass@1": 0.5, "se_problems": 0.1, "per_problem": []}}}]}
        (tmp_path / "e.json").write_text(json.dumps(rec))
        with pytest.raises(MotError, match=r"e\.json: checkpoints\[0\]\.benchmarks\.b\.per_problem: \[\] should be non-empty"):
            Results([str(tmp_path / "e.json")], ["b"])
    else:
        w = {"pool": [{"id": "p1", "problem": "Compute 1 + 2.", "answer": "3", "spec": {"start": 1, "ops": 5}}]}
        (tmp_path / "w.json").write_text(json.dumps(w))
        with pytest.raises(MotError, match=r"w\.json: pool\[0\]\.spec\.ops: 5 is not of type 'array'"):
            split_rows(str(tmp_path / "w.json"), "pool")
    assert not (tmp_path / "u.jsonl").exists()


@pytest.mark.parametrize("args, message", [
    (["merge", "--method", "uniform", "--max-shard-gb", "nan", "--out", "{t}/m", "{t}/a", "{t}/b"],
     "argument --max-shard-gb: 'nan' is not a positive finite number"),
    (["--threads", "0", "check-config", str(ROOT / "config/test.yaml")], "argument --threads: '0' is not a positive"),
    (["union", "--out", "", "{t}/a.jsonl"], "--out '': names no file or directory to write"),
    (["stats", "--tokenizer", "x", "--grades", "g", "--corpora", "c", "--out", "/"], "--out '/': names no file"),
    (["corpus", "--samples", "{t}/a.jsonl", "--max-length", "5", "--out", "{t}/c.jsonl", "--grades", "{t}/g.json"],
     "--tokenizer and --max-length go together"),
    (["rehearsal", "check", "--results", "{t}", "--checks", "{t}/checks.json", "--student", "tiny"],
     "--student tiny: expected NAME=BASE"),
    (["general-tasks", "--world", "{t}/a.jsonl", "--sampling", '{"temperature": "hot", "top_p": 0.95, "max_tokens": 8}',
      "--out", "{t}/G"], "--sampling: temperature"),
    # the fourth probe, cases 11, 12 and 14: a step evaluated twice or a negative one (a summary with two
    # "step 4"), a benchmark twice (refused late, quoting an internal file), a merge param twice (the last won)
    (["evaluate", "--checkpoint", "4={t}/A", "--checkpoint", "4={t}/B", "--benchmark", "syn-aime24={t}/a.jsonl",
      "--spec", "{}", "--samples", "{t}/s.jsonl", "--out", "{t}/e.json"], "--checkpoint 4: given twice"),
    (["evaluate", "--checkpoint", "4={t}/A", "--checkpoint", "04={t}/B", "--benchmark", "syn-aime24={t}/a.jsonl",
      "--spec", "{}", "--samples", "{t}/s.jsonl", "--out", "{t}/e.json"], "each step once, none negative"),
    (["evaluate", "--checkpoint=-3={t}/A", "--benchmark", "syn-aime24={t}/a.jsonl",
      "--spec", "{}", "--samples", "{t}/s.jsonl", "--out", "{t}/e.json"], "each step once, none negative"),
    (["evaluate", "--checkpoint", "4={t}/A", "--benchmark", "syn-aime24={t}/a.jsonl", "--benchmark",
      "syn-aime24={t}/a.jsonl", "--spec", "{}", "--samples", "{t}/s.jsonl", "--out", "{t}/e.json"],
     "--benchmark syn-aime24: given twice"),
    (["merge", "--method", "interpolate", "--param", "lambda=0.5", "--param", "lambda=0.7", "--base", "{t}/A",
      "--out", "{t}/m", "{t}/B"], "--param lambda: given twice"),
    # the fifth probe, cases 1, 26, 27 and 28: a --log with the name of a directory output's leftovers
    # (deleted by the cleanup), weights whose sum overflows (a RuntimeError), diagnostics of 0 rounds (an
    # empty CSV) or 0 examples (ZeroDivisionError), a misspelt sampling key (refused late, by the teacher)
    (["--log", "{t}/.m.mot-tmp-0badf00d", "merge", "--method", "uniform", "--out", "{t}/m", "{t}/A", "{t}/B"],
     "has the name of its leftovers"),
    (["merge", "--method", "weighted", "--weights", "1e300,1e300", "--out", "{t}/m", "{t}/A", "{t}/B"],
     "every weight must be a finite number, and so must their sum in float32"),
    (["diagnostics", "--student", "s", "--source", "o", "--tset", "t", "--rounds", "0", "--base", "{t}/A",
      "--corpus", "a={t}/a.jsonl", "--out", "{t}/d"], "argument --rounds: '0' is not a positive"),
    (["diagnostics", "--student", "s", "--source", "o", "--tset", "t", "--rounds", "1", "--max-examples", "0",
      "--base", "{t}/A", "--corpus", "a={t}/a.jsonl", "--out", "{t}/d"], "argument --max-examples: '0' is not a"),
    (["evaluate", "--checkpoint", "4={t}/A", "--benchmark", "syn-aime24={t}/a.jsonl", "--spec",
      '{"sampling": {"n": 1, "temperature": 0.6, "top_p": 0.9, "max_tokens": 8, "topk": 3}}',
      "--samples", "{t}/s.jsonl", "--out", "{t}/e.json"], "--spec sampling: unknown key 'topk'"),
    (["generate", "--prompts", "{t}/a.jsonl", "--teacher", "{}", "--sampling", "{}", "--seed", "4294967296",
      "--out", "{t}/s.jsonl"], "argument --seed: '4294967296' is not a seed"),
    # the sixth probe, cases 15, 25, 26 and 27: a spec's seed past what torch takes (a late traceback), a
    # JSON --config of the wrong shape (KeyError), a figure or table without the inputs it reads (a
    # traceback, or a table of no row)
    (["train", "--model", "{t}/A", "--corpus", "{t}/a.jsonl", "--spec",
      '{"hparams": {"lr": 0.001, "betas": [0.9, 0.95], "weight_decay": 0, "warmup_ratio": 0, "grad_clip": 1, '
      '"batch_size": 1, "micro_batch_size": 1, "max_length": 8}, "steps": 1, "seed": 100000000000000000000}',
      "--out", "{t}/m"], "--spec: seed = 100000000000000000000: "),
    (["plan", "--config", "{}", "--out", "{t}/p.md"], "--config: (top level): 'eval' is a required property"),
    (["figures", "--name", "rounds", "--spec", "{}", "--out", "{t}/f"], "mot figures --name rounds needs --evals"),
    (["figures", "--name", "corpus", "--spec", "{}", "--out", "{t}/f"], "mot figures --name corpus needs --stats"),
    (["tables", "--name", "table10", "--spec", "{}", "--out", "{t}/t"], "mot tables --name table10 needs --stats"),
    # the seventh probe, cases 6, 7, 14 and 15: DARE's seed out of a seed's range, a param JSON reads as
    # inf, a report spec written by hand (no benchmark: ZeroDivisionError; a label that breaks a row),
    # a seed of other digits (a traceback)
    (["merge", "--method", "dare", "--param", "seed=-3", "--base", "{t}/A", "--out", "{t}/m", "{t}/B"],
     "--param seed must be in [0, 4294967295], got -3"),
    (["merge", "--method", "task_arithmetic", "--param", "scale=1e400", "--base", "{t}/A", "--out", "{t}/m", "{t}/B"],
     "--param scale=1e400: not a finite number"),
    (["tables", "--name", "table2", "--spec", '{"benchmarks": []}', "--evals", "{t}/a.jsonl", "--out", "{t}/t"],
     "--spec: benchmarks: [] should be non-empty"),
    (["tables", "--name", "table2", "--spec", '{"students": {"tiny": "A|B"}}', "--evals", "{t}/a.jsonl", "--out",
      "{t}/t"], "--spec: students.tiny: 'A|B' does not match"),
    (["seeds", "table", "--spec", "{}", "--evals", "\u00b2={t}/a.jsonl", "--out", "{t}/s"], "expected SEED=PATH"),
    # the eighth probe, cases 1, 4, 7, 8, 9 and 27: a key twice in a JSON object (the last won: 5 steps),
    # a step count of 1e30 (a run that never ends), a number of 5,000 digits or nesting 5,000 deep (a
    # ValueError or RecursionError naming nothing), a template that is no UTF-8 (a late traceback),
    # stats' own refusal (in the log alone)
    (["train", "--model", "{t}/A", "--corpus", "{t}/a.jsonl", "--spec", '{"steps": 4, "steps": 5}', "--out", "{t}/m"],
     "argument --spec: the key 'steps' twice in one object"),
    (["train", "--model", "{t}/A", "--corpus", "{t}/a.jsonl", "--spec",
      '{"hparams": {"lr": 0.001, "betas": [0.9, 0.95], "weight_decay": 0, "warmup_ratio": 0, "grad_clip": 1, '
      '"batch_size": 1, "micro_batch_size": 1, "max_length": 8}, "steps": 1000000000000000000000000000000, "seed": 0}',
      "--out", "{t}/m"], "--spec: steps = 1000000000000000000000000000000 is greater than the maximum"),
    (["union", "--out", "{t}/u.jsonl", "{t}/big.jsonl"], "big.jsonl:1: a number of 5000 digits"),
    (["union", "--out", "{t}/u.jsonl", "{t}/deep.jsonl"], "deep.jsonl:1: JSON nested too deeply"),
    (["world", "--spec", '{"a": ' + "[" * 5000 + "]" * 5000 + "}", "--out", "{t}/w.json"],
     "argument --spec: JSON nested too deeply"),
    (["prompts", "--source", "s", "--spec", "{}", "--template", "{problem}" + os.fsdecode(b"\xff"), "--out", "{t}/p"],
     "--template: '{problem}'... is not UTF-8 text (byte 0xff)"),
    (["--log", "{t}/l.txt", "stats", "--tokenizer", "{t}/A", "--grades", "{t}/a.jsonl", "{t}/a.jsonl", "--corpora",
      "{t}/a.jsonl", "--out", "{t}/s.csv"], "--grades and --corpora need the same number of files (got 2 and 1)"),
])
def test_the_third_probes_arguments_are_one_line(tmp_path, args, message):
    """Issue 33, third probe, cases 1, 5, 6, 10, 15, 20 and 22: tracebacks, a machine error blamed for an
    empty --out, a length limit ignored without its tokenizer, OMP_NUM_THREADS=0."""
    (tmp_path / "a.jsonl").write_text('{"prompt": "p", "response": "r"}\n')
    inputs = {"a.jsonl"}
    if "{t}/big.jsonl" in args or "{t}/deep.jsonl" in args:
        (tmp_path / "big.jsonl").write_text('{"id": ' + "9" * 5000 + "}\n")
        (tmp_path / "deep.jsonl").write_text('{"a": ' + "[" * 5000 + "]" * 5000 + "}\n")
        inputs |= {"big.jsonl", "deep.jsonl"}
    r = run_mot(*[a.replace("{t}", str(tmp_path)) for a in args])
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode in (1, 2) and "error: " in last and message in last and "Traceback" not in r.stderr, r.stderr
    assert set(p.name for p in tmp_path.iterdir()) - {"l.txt"} == inputs


def test_an_input_with_the_name_of_an_outputs_leftovers_is_refused(tmp_path):
    """Issue 33, third probe, case 4: mot removes .OUT.mot-tmp-<8 hex> beside a directory output it writes;
    an input of that name was removed with them."""
    (tmp_path / ".G.mot-tmp-0123abcd").write_text("{}")
    r = run_mot("general-tasks", "--world", tmp_path / ".G.mot-tmp-0123abcd", "--sampling",
                json.dumps({"temperature": 0.6, "top_p": 0.95, "max_tokens": 8}), "--out", tmp_path / "G")
    assert r.returncode == 1 and "has the name of its leftovers" in r.stderr, r.stderr
    assert (tmp_path / ".G.mot-tmp-0123abcd").read_text() == "{}"


def test_outputs_through_links_and_a_readme_edited_in_place(tmp_path):
    """Issue 33, third probe, cases 17, 18, 25 and 28: a link as --log is replaced and the file it named
    kept; a file output through a link writes the file it names, and one that is a pipe or a device is
    refused; a README block keeps the file's other line endings, its mode and its hard links."""
    from mot.summary import write_block

    (tmp_path / "a.jsonl").write_text('{"prompt": "p", "response": "r"}\n')
    (tmp_path / "precious.txt").write_text("mine")
    (tmp_path / "run.log").symlink_to(tmp_path / "precious.txt")
    r = run_mot("--log", tmp_path / "run.log", "union", "--out", tmp_path / "u.jsonl", tmp_path / "a.jsonl")
    assert r.returncode == 0 and (tmp_path / "precious.txt").read_text() == "mine", r.stderr
    os.mkfifo(tmp_path / "fifo")
    r = run_mot("union", "--out", tmp_path / "fifo", tmp_path / "a.jsonl")
    assert r.returncode == 1 and "exists and is not a file" in r.stderr, r.stderr
    readme = tmp_path / "README.md"
    readme.write_bytes(b"# T\nline two\r\n<!-- s -->\nold\n<!-- e -->\ntail\n")
    readme.chmod(0o600)
    os.link(readme, tmp_path / "again.md")
    write_block(str(readme), "<!-- s -->", "<!-- e -->", "new", "test")
    assert readme.read_bytes() == b"# T\nline two\r\n<!-- s -->\nnew\n<!-- e -->\ntail\n"
    assert (tmp_path / "again.md").read_bytes() == readme.read_bytes() and (readme.stat().st_mode & 0o777) == 0o600


@pytest.mark.parametrize("case", ["index", "answer", "problem", "stats", "rehearsal data"])
def test_the_third_probes_inputs_are_one_line(tmp_path, case):
    """Issue 33, third probe, cases 2, 3, 8, 9, 11 and 27: inputs of the wrong shape, and what the
    rehearsal's model reads without an argument naming it."""
    if case == "index":
        for d in ("a", "b"):
            (tmp_path / d).mkdir()
            (tmp_path / d / "model.safetensors.index.json").write_bytes(b"\xef\xbb\xbf{}" if d == "b" else b'{"metadata": {}}')
            (tmp_path / d / "config.json").write_text('{"model_type": "qwen3"}')
        r = run_mot("merge", "--method", "uniform", "--out", tmp_path / "m", tmp_path / "a", tmp_path / "b")
        want = "model.safetensors.index.json: no key 'weight_map'"
    elif case == "answer":
        (tmp_path / "s.jsonl").write_text(json.dumps({"id": "1", "prompt": "p", "source": "a", "teacher": "t", "answer": 28, "samples": [
            {"text": "\\boxed{28}", "finish_reason": "stop"}]}) + "\n")
        r = run_mot("corpus", "--samples", tmp_path / "s.jsonl", "--out", tmp_path / "c.jsonl", "--grades", tmp_path / "g.json")
        want = "s.jsonl:1: 'answer' is int 28, not text"
    elif case == "problem":
        (tmp_path / "src.jsonl").write_text(json.dumps({"id": "a", "problem": 123, "answer": "3"}) + "\n")
        r = run_mot("prompts", "--source", "mine", "--spec", json.dumps({"type": "jsonl", "path": str(tmp_path / "src.jsonl"),
                    "n": 1, "seed": 0}), "--template", "Q: {problem}", "--out", tmp_path / "p.jsonl")
        want = "src.jsonl:1: the problem is int 123, not text"
    elif case == "stats":
        (tmp_path / "st.csv").write_text("source,teacher,prompts,kept,pass_rate,mean_tokens\nsyn-s1K,deliberate,8,8,0.5,9\n")
        r = run_mot("plan", "--config", ROOT / "config/test.yaml", "--stats", tmp_path / "st.csv", "--out", tmp_path / "p.md")
        want = "--stats: source 'syn-s1K' is not one of the config's"
    else:
        from mot.rehearsal import TEMPLATES

        (tmp_path / "p.jsonl").write_text("")
        r = run_mot("rehearsal", "model", "--model", "Qwen/Qwen3-8B", "--prompts", tmp_path / "p.jsonl", "--out",
                    TEMPLATES / "x")
        want = "lies inside the input"
    assert r.returncode == 1 and want in r.stderr.strip().splitlines()[-1] and "Traceback" not in r.stderr, r.stderr


@pytest.mark.parametrize("case", ["log under a file", "log a pipe", "log a link to a pipe", "out a broken link"])
def test_the_fourth_probes_log_and_link_targets_are_one_line(tmp_path, case):
    """Issue 33, fourth probe, cases 1, 2, 3 and 6: a --log whose directory is a file (a traceback), a
    --log that is a named pipe (the command hung on opening it), a --log that is a link to a pipe or
    a device (the link, /dev/stdout as root, was deleted), an --out that is a link to nothing (the
    whole merge ran, then failed on publishing): each is refused up front in one line, the link kept."""
    (tmp_path / "f").write_text("x")
    args = ["check-config", str(ROOT / "config/test.yaml")]
    if case == "log under a file":
        args = ["--log", str(tmp_path / "f" / "x.log"), *args]
        message = "is a file, not a directory to write into"
    elif case == "log a pipe":
        os.mkfifo(tmp_path / "p")
        args, message = ["--log", str(tmp_path / "p"), *args], "is not a file or a directory"
    elif case == "log a link to a pipe":
        (tmp_path / "l").symlink_to("/proc/self/fd/1")  # the process's stdout: a pipe here
        args, message = ["--log", str(tmp_path / "l"), *args], "the console or a device, not a file"
    else:
        (tmp_path / "l").symlink_to(tmp_path / "nowhere")
        (tmp_path / "a").mkdir()
        args = ["merge", "--method", "uniform", "--out", str(tmp_path / "l"), str(tmp_path / "a"), str(tmp_path / "a")]
        message = "a symbolic link to"
    r = run_mot(*args, timeout=60)
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 1 and last.startswith("mot: error: ") and message in last, r.stderr
    assert "Traceback" not in r.stderr
    if case in ("log a link to a pipe", "out a broken link"):
        assert (tmp_path / "l").is_symlink()


def test_the_fifth_probes_paths_and_readme_are_one_line(tmp_path):
    """Issue 33, fifth probe, cases 22 and 25: a summary with a README without its markers wrote the
    summary, then failed; a path with a byte that is not UTF-8 made the log's stream fail on the
    command's own message (a traceback in the log, nothing on the console, after the output was written),
    and a merge's record fail after the merge (probe 8): such an argument is refused before anything."""
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "table2.csv").write_text("x\n")
    (tmp_path / "r.md").write_text("no markers\n")
    r = run_mot("tables", "--name", "summary", "--tables", tmp_path / "t", "--readme", tmp_path / "r.md",
                "--out", tmp_path / "sm")
    assert r.returncode == 1 and "expected one '<!-- default-run:start -->'" in r.stderr, r.stderr
    assert not (tmp_path / "sm.md").exists()
    (tmp_path / "c.jsonl").write_text('{"prompt": "p", "response": "r"}\n')
    out = tmp_path / os.fsdecode(b"u\xfe.jsonl")  # probe 8, cases 9 and 10: refused up front, every argument
    r = run_mot("--log", tmp_path / "lg.txt", "union", "--out", out, tmp_path / "c.jsonl")
    assert r.returncode == 1 and r.stderr.startswith(f"mot: error: --out: {str(tmp_path / 'u')!r}... is not UTF-8 "
                                                     "text (byte 0xfe)"), r.stderr
    assert not out.exists() and not (tmp_path / "lg.txt").exists()


@pytest.mark.parametrize("case", ["stem with a slash", "file with a slash", "second output under a file",
                                  "newline in a path", "log under /proc"])
def test_the_sixth_probes_outputs_are_one_line_and_up_front(tmp_path, case):
    """Issue 33, sixth probe, cases 8, 29 and 30: a stem output `x/` wrote the hidden files x/.csv,
    x/.md, ...; a file output `u/` a file u; a second output under a file failed after the first was
    published, saying nothing was; a line break in a path split the one-line error (or forged a second
    `mot: error:` line). The --log under /proc: the machine's refusal, one line."""
    (tmp_path / "c.jsonl").write_text('{"prompt": "p", "response": "r"}\n')
    (tmp_path / "afile").write_text("x")
    args, message = {
        "stem with a slash": (["tables", "--name", "table10", "--spec", "{}", "--stats", tmp_path / "c.jsonl",
                               "--out", f"{tmp_path}/x/"], "ends in '/', a directory"),
        "file with a slash": (["union", "--out", f"{tmp_path}/u/", tmp_path / "c.jsonl"], "ends in '/', a directory"),
        "second output under a file": (["corpus", "--samples", tmp_path / "c.jsonl", "--out", tmp_path / "o.jsonl",
                                        "--grades", tmp_path / "afile" / "g.json"], "is a file, not a directory"),
        "newline in a path": (["union", "--out", tmp_path / "afile" / "x\nmot: error: fake", tmp_path / "c.jsonl"],
                              "\\nmot: error: fake"),
        "log under /proc": (["--log", "/proc/mot-test/x.log", "union", "--out", tmp_path / "u.jsonl",
                             tmp_path / "c.jsonl"], "mot: error: "),
    }[case]
    r = run_mot(*args)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1 and message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "c.jsonl"]


def test_a_stopped_seed_run_leaves_its_directory_unlocked(tmp_path):
    """Issue 33, sixth probe, case 24: SIGTERM to `mot seeds run` killed the seed's Snakemake
    (subprocess.run sends SIGKILL), which left its directory locked, so every rerun failed; the seed's
    Snakemake now gets the SIGTERM and unlocks. The seed's workflow here is a one-rule stand-in that
    waits (the real grid takes minutes before it could be stopped mid-job)."""
    import signal
    import subprocess
    import sys
    import time

    import yaml

    from mot.config import validate_config

    cfg = validate_config(yaml.safe_load((ROOT / "config/test.yaml").read_text()), ROOT / "config/schema.yaml")
    (tmp_path / "Snakefile").write_text('rule wait:\n    output: "done"\n    shell: "sleep 120; touch {output}"\n')
    d = tmp_path / "seed-1"
    proc = subprocess.Popen([sys.executable, "-m", "mot", "seeds", "run", "--seed", "1", "--config", json.dumps(cfg),
                             "--dir", str(d), "--snakefile", str(tmp_path / "Snakefile"), "--data", str(ROOT / "data"),
                             "--targets", "done"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list((d / ".snakemake" / "locks").glob("*.lock")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=150)
    assert proc.returncode == 128 + signal.SIGTERM and "stopped by SIGTERM" in err, err
    assert not list((d / ".snakemake" / "locks").glob("*.lock")), "the seed's directory is still locked"


def test_diagnostics_never_writes_into_the_rounds_it_reads(tmp_path, monkeypatch):
    """Issue 33, seventh probe, case 13: `mot diagnostics` reads the MoT run's round directories that
    the results layout names from --student, --source and --tset (no argument names them), and its
    --out inside one replaced a branch's train log; they are its inputs now."""
    monkeypatch.chdir(tmp_path)
    from mot import layout

    branch = tmp_path / layout.branch_dir("tiny", "syn-boba", "peers", 2, "concise")
    branch.mkdir(parents=True)
    (branch / "train_log.csv").write_text("step,loss\n")
    first = tmp_path / layout.branch_dir("tiny", "syn-boba", "peers", 1, "concise")
    first.mkdir(parents=True)
    base = ["diagnostics", "--student", "tiny", "--source", "syn-boba", "--tset", "peers", "--rounds", "2",
            "--base", str(tmp_path / "base"), "--corpus", f"concise={tmp_path}/c.jsonl"]
    for out in (branch / "train_log", first / "x"):
        with pytest.raises(MotError, match="lies inside the input"):
            check([*base, "--out", str(out)])
    check([*base, "--out", str(tmp_path / "results" / "diagnostics" / "peers")])


# --------------------------------------------------------------------------- the eighth probe
def test_out_of_memory_is_one_line(tmp_path, monkeypatch, capsys):
    """Case 2: eval.n of 1e12 passed the config check, then a MemoryError's traceback. The count is
    refused now (config/schema.yaml $defs/posint), and a command that runs out of memory anyway says so
    in one line: the machine's limit, not a bug."""
    import mot.commands

    def out_of_memory(a):
        raise MemoryError()

    monkeypatch.setattr(mot.commands, "cmd_union", out_of_memory)
    (tmp_path / "a.jsonl").write_text('{"prompt": "p", "response": "r"}\n')
    assert main(["union", "--out", str(tmp_path / "u.jsonl"), str(tmp_path / "a.jsonl")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("mot: error: out of memory: ") and "Traceback" not in err and err.count("\n") == 1, err


def test_a_seeds_working_directory_is_no_result_of_mot(tmp_path):
    """Case 20: `mot seeds run --dir` a merged model wrote config.yaml, data/ and .snakemake/ inside it."""
    model = tmp_path / "M"
    model.mkdir()
    (model / MARKER).write_text("train/branches/rounds/merge")
    argv = ["seeds", "run", "--seed", "1", "--config", CONFIG, "--dir", str(model), "--snakefile",
            str(ROOT / "Snakefile")]
    with pytest.raises(MotError, match=f"--dir {model}: the output of `mot train/branches/rounds/merge`, not a "
                                       "directory to work in"):
        check(argv)


def test_no_output_lies_in_the_git_directory_provenance_reads():
    """Case 21: `mot provenance --out .git/HEAD` broke the repository whose revision it records;
    ninth probe, case 12: `--out docs/testing.md` overwrote a tracked file (and the record said the
    tree was clean)."""
    from mot.provenance import git_inputs

    found = git_inputs()
    if not found:
        pytest.skip("not a git checkout (CI and a clone are)")
    with pytest.raises(MotError, match="lies inside the input"):
        check(["provenance", "--config", CONFIG, "--out", str(found[0] / "HEAD")])
    with pytest.raises(MotError, match="would replace the input"):
        check(["provenance", "--config", CONFIG, "--out", str(ROOT / "docs" / "testing.md")])
    check(["provenance", "--config", CONFIG, "--out", str(ROOT / "results" / "provenance.json")])


def test_a_killed_writers_temporary_file_is_removed_and_a_live_ones_kept(tmp_path):
    """Case 24: a SIGKILL while `mot world` wrote left .world.json.tmp-<hex> (MBs) for good. A file's
    temporary file is held (flock) while it is written: the next writer of that output removes one
    that no process holds, and leaves one that a process is writing."""
    import fcntl

    from mot.io import write_json

    dead = tmp_path / ".w.json.mot-tmp-0123abcd"
    dead.write_text("half")
    live = tmp_path / ".w.json.mot-tmp-89abcdef"
    live.write_text("being written")
    fd = os.open(live, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        write_json(tmp_path / "w.json", {"a": 1})
    finally:
        os.close(fd)
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, "w.json"]


def test_a_name_is_no_path_even_where_a_file_of_that_name_lies(tmp_path, monkeypatch):
    """Case 26: a student named `results` (a valid config) made every output under results/ one inside
    the input `results` (its name in --tag, --student). Names are never inputs."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "results").mkdir()
    check(["evaluate", "--checkpoint", f"0={tmp_path / 'B'}", "--benchmark", f"syn-aime24={tmp_path / 'w.json'}",
           "--spec", "{}", "--tag", '{"student": "results", "source": null, "run": "base"}',
           "--samples", "results/eval/results/base.samples.jsonl", "--out", "results/eval/results/base.json"])
    check(["best-std", "--spec", "{}", "--evals", str(tmp_path / "e.json"), "--student", "results", "--source",
           "results", "--runs", str(tmp_path / "r"), "--out", "results/models/results/results/best-std"])


def test_the_ninth_probes_outputs(tmp_path):
    """Ninth probe, cases 13, 14, 15 and 21: an output inside a killed job's `.partial` work (deleted by
    the job's next attempt, or read by it as its own: a KeyError); a lock file that cannot be made (no
    inode left, a name too long) reported as a user's lock file; a name too long for the temporary file
    beside it; two outputs that are one file under two names (a hard link)."""
    from mot.io import lock_output

    (tmp_path / "a.jsonl").write_text('{"prompt": "p", "response": "r"}\n')
    work = tmp_path / "m.partial"
    work.mkdir()
    (work / "fingerprint.json").write_text("{}")
    for argv in (["union", "--out", str(work / "x.jsonl"), str(tmp_path / "a.jsonl")],
                 ["--log", str(work / "l.txt"), "union", "--out", str(tmp_path / "u.jsonl"), str(tmp_path / "a.jsonl")]):
        with pytest.raises(MotError, match=f"lies inside {work}, a resumable job's unfinished work"):
            check(argv)
    long = tmp_path / ("a" * 245 + ".jsonl")
    with pytest.raises(MotError, match="a name of 251 bytes; mot writes beside it a temporary file of 18 more"):
        check(["union", "--out", str(long), str(tmp_path / "a.jsonl")])
    with pytest.raises(MotError, match="cannot make its lock file .*File name too long"):
        lock_output(tmp_path / ("b" * 250))
    (tmp_path / "x.jsonl").write_text("")
    os.link(tmp_path / "x.jsonl", tmp_path / "l.txt")
    with pytest.raises(MotError, match="the same path as"):
        check(["--log", str(tmp_path / "l.txt"), "union", "--out", str(tmp_path / "x.jsonl"), str(tmp_path / "a.jsonl")])


def test_a_directory_given_as_a_jsonl_input_is_named_so(tmp_path):
    """Ninth probe, minor: `corpus --samples <a directory>` said "file not found"."""
    from mot.readers import iter_jsonl

    with pytest.raises(MotError, match=f"^{tmp_path}: a directory, not a file$"):
        list(iter_jsonl(tmp_path))


def test_the_tenth_probes_side_file_that_is_a_link_is_refused(tmp_path):
    """Tenth probe, case 2: a file mot writes beside the one named (stats' .md) that is a link was
    written through, over the file it names."""
    (tmp_path / "notes.md").write_text("my notes")
    (tmp_path / "s.md").symlink_to(tmp_path / "notes.md")
    (tmp_path / "g.json").write_text("{}")
    with pytest.raises(MotError, match=r"--out \(its \.md\) .*s\.md: a symbolic link \(to .*notes\.md\), which mot "
                                       "would write through"):
        check(["stats", "--tokenizer", str(ROOT / "data"), "--grades", str(tmp_path / "g.json"), "--corpora",
               str(tmp_path / "g.json"), "--out", str(tmp_path / "s.csv")])


def test_the_tenth_probes_seed_directory_of_the_users_is_refused(tmp_path):
    """Tenth probe, case 8: `seeds run --dir` a user's directory wrote Snakemake's logs over the
    user's files in it."""
    from mot.seeds import run_seed

    mine = tmp_path / "mine"
    (mine / "results" / "logs").mkdir(parents=True)
    (mine / "results" / "logs" / "world.log").write_text("my own notes")
    with pytest.raises(MotError, match=f"--dir {mine}: holds files and no seed's config.yaml"):
        run_seed(1, yaml.safe_load((ROOT / "config/test.yaml").read_text()), str(mine), str(ROOT / "Snakefile"), 1, [])
    assert sorted(p.name for p in mine.rglob("*")) == ["logs", "results", "world.log"]
    (mine / "results" / "logs" / "world.log").unlink()  # directories alone: what Snakemake makes for the
    # seed's outputs before its job (the seeds target)
    with pytest.raises(MotError, match="--snakefile .*none: no such file"):
        run_seed(1, yaml.safe_load((ROOT / "config/test.yaml").read_text()), str(mine), str(tmp_path / "none"), 1, [])


def test_the_tenth_probes_plan_readme_is_checked_before_the_plan_is_written(tmp_path):
    """Tenth probe, case 30: `plan --readme` without its markers failed after publishing the plan."""
    (tmp_path / "readme.md").write_text("# mine\n")
    r = run_mot("plan", "--config", ROOT / "config/test.yaml", "--out", tmp_path / "plan.md", "--readme",
                tmp_path / "readme.md")
    assert r.returncode == 1 and "expected one '<!-- paper-plan:start -->'" in r.stderr
    assert not (tmp_path / "plan.md").exists()


@pytest.mark.parametrize("flags, message", [
    (["--batch-size=abc"], "--batch-size: 'abc' is neither a positive integer nor 'auto' (config key general.batch_size)"),
    (["--batch-size=-5"], "--batch-size: -5 is neither a positive integer nor 'auto'"),
    (["--backend", "sglang"], "--backend: 'sglang' is not one of ['hf', 'vllm'] (config key general.backend)"),
    (["--model-args", '{"gpu_memory_utilization": 5}'], "--model-args['gpu_memory_utilization']: 5 is greater than"),
    (["--model-args", '{"max_length": 0}'], "--model-args['max_length']: 0 is less than the minimum of 1"),
    (["--gen-kwargs", '{"top_p": 7}'], "--gen-kwargs['top_p']: 7 is greater than the maximum of 1"),
    (["--thinking", '{"enable_thinking": 3}'], "--thinking['enable_thinking']: 3 is not of type 'boolean'"),
])
def test_the_tenth_probes_general_flags_are_checked_before_the_model_loads(tmp_path, flags, message):
    """Tenth probe, cases 22 and 23: `mot general`'s flags had no range (their config keys do): a batch
    size of -5 ran, 'abc' failed after the model loaded, an out-of-range model or generation argument
    failed in lm-eval with a traceback, or ran. The model named does not exist: nothing loads."""
    r = run_mot("general", "--model", tmp_path / "none", "--tasks",
                '{"SYN-DIV": {"task": "syn_div", "metric": "exact_match,boxed", "group": "forgetting"}}',
                *flags, "--out", tmp_path / "g.json")
    assert r.returncode == 1 and message in r.stderr.strip().splitlines()[-1] and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "g.json").exists()


def test_the_tenth_probes_counts_on_the_command_line_have_their_config_keys_range(tmp_path):
    """Tenth probe, case 21: `corpus --max-length 99999999999` ran; its config key train.max_length
    refuses it (config/schema.yaml's $defs/posint, read by every count flag)."""
    with pytest.raises(SystemExit):
        parser().parse_args(["corpus", "--samples", "s.jsonl", "--out", "c.jsonl", "--grades", "g.json",
                             "--max-length", "99999999999"])
    r = run_mot("corpus", "--samples", tmp_path / "s.jsonl", "--out", tmp_path / "c.jsonl", "--grades",
                tmp_path / "g.json", "--max-length", "99999999999")
    assert "99999999999 is greater than the maximum of 2147483647 (config/schema.yaml $defs/posint)" in r.stderr


@pytest.mark.parametrize("key, value, message", [
    ("eval.temperature", 1e-300, "eval.temperature"),  # a tiny positive one overflowed the logits after loading
    ("train.loss_chunk_tokens", 10 ** 31, "train.loss_chunk_tokens"),  # an overflow once training started
    ("eval.params.device", "bogus", "eval.params.device"),  # failed when the eval job ran, after training
    ("general.model_args.dtype", "float99", "general.model_args.dtype"),  # an AttributeError in lm-eval
])
def test_the_eleventh_probes_config_values_are_refused_by_the_config_check(key, value, message):
    """Eleventh probe, cases 4, 5, 10 and 11: values the config check took, which failed late."""
    from mot.config import validate_config
    from mot.spec import SCHEMA

    config = yaml.safe_load((ROOT / "config/test.yaml").read_text())
    config.setdefault("general", {"tasks": {"X": {"task": "x", "metric": "acc,none", "group": "pure"}}})
    node = config
    *parents, last = key.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    with pytest.raises(MotError, match=message.replace(".", r"\.")):
        validate_config(config, SCHEMA, "t.yaml")


def test_the_eleventh_probes_flags_and_files_are_one_line_before_any_work(tmp_path):
    """Eleventh probe, cases 6, 8, 9, 17, 18, 19 and 30: subnormal merge weights (a NaN after the
    merge started), a shard count or checkpoint step past the config's counts, `seeds run --config`
    never checked (a whole Snakemake run, then its log), report.published's file read leniently (a
    list, a Latin-1 byte, a key twice), a pretrained student's config.json read leniently (by mot
    plan), and --force over a user's directory that holds another command's result (deleted)."""
    from mot.generate import parse_shard
    from mot.memory import arch_from_checkpoint
    from mot.merge import _check_call
    from mot.results import load_published

    with pytest.raises(MotError, match="too small for float32"):
        _check_call(["a", "b"], "weighted", [1e-320, 1e-320], None, {})
    with pytest.raises(MotError, match=r"--shard 0/99999999999999999999: K = .* is greater than the maximum"):
        parse_shard("0/99999999999999999999")
    (tmp_path / "ck").mkdir()
    r = run_mot("evaluate", "--checkpoint", f"{10 ** 23}={tmp_path / 'ck'}", "--benchmark", f"a={tmp_path / 'b.jsonl'}",
                "--spec", '{"sampling": {"n": 1, "temperature": 0.6, "top_p": 0.95, "max_tokens": 4}}',
                "--samples", tmp_path / "e.samples.jsonl", "--out", tmp_path / "e.json")
    assert r.returncode == 1 and "--checkpoint: step = 100000000000000000000000 is greater than" in r.stderr, r.stderr
    config = yaml.safe_load((ROOT / "config/test.yaml").read_text())
    config["train"]["lr"] = 5
    r = run_mot("seeds", "run", "--seed", "1", "--config", json.dumps(config), "--dir", tmp_path / "sd",
                "--snakefile", ROOT / "Snakefile", "--targets", "x")
    assert r.returncode == 1 and "train.lr" in r.stderr.strip().splitlines()[-1] and not (tmp_path / "sd").exists()
    for name, raw, message in (("p1", b"tables: [1, 2]\n", "expected a 'tables' mapping"),
                               ("p2", b"tables: {table10: {rows: {\"\xd6\": {}}}}\n", "not UTF-8 text"),
                               ("p3", b"tables: {}\ntables: {}\n", "the key 'tables' is given twice")):
        (tmp_path / f"{name}.yaml").write_bytes(raw)
        with pytest.raises(MotError, match=f"{name}.yaml.*{message}"):
            load_published(str(tmp_path / f"{name}.yaml"), "table10")
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text('{"hidden_size": 32,,}')
    with pytest.raises(MotError, match=r"m/config\.json: model config is malformed"):
        arch_from_checkpoint(tmp_path / "m")
    res = tmp_path / "res"
    (res / "base").mkdir(parents=True)
    (res / "base" / MARKER).write_text("world-student")
    (res / "notes.txt").write_text("mine")
    with pytest.raises(MotError, match=r"--out .*res: holds .*base, `mot world-student`, which --force does not"):
        check_out(res, force=True)


def test_the_twelfth_probes_output_inside_the_same_commands_output_is_refused(tmp_path):
    """Twelfth probe, case 4: `general-tasks --out A/B` inside an earlier `general-tasks --out A` was
    accepted (a command's outputs might nest in its own kind's), and the rerun of the outer one deleted
    it. Only the model writers nest (a round's branches in the round's directory)."""
    outer = tmp_path / "A"
    outer.mkdir()
    (outer / MARKER).write_text("general-tasks\nfiles:\n")
    (tmp_path / "w.json").write_text("{}")
    argv = ["general-tasks", "--world", str(tmp_path / "w.json"), "--sampling", "{}"]
    with pytest.raises(MotError, match=rf"--out {outer}/B: lies inside {outer}, the output of `mot general-tasks`"):
        check([*argv, "--out", str(outer / "B")])
    check([*argv, "--out", str(outer)])  # its own output, replaced whole: as before
    (outer / MARKER).write_text("train/branches/rounds/merge")  # a round's directory: its branches nest
    check(["merge", "--method", "mean", "--out", str(outer / "merged"), str(tmp_path / "w.json")])


def test_the_twelfth_probes_rehearsal_check_finds_something_to_check(tmp_path, capsys):
    """Twelfth probe, cases 18, 19 and 22: `rehearsal check --results /nonexistent` exited 0 with every
    count 0, a flag of the other mode (`check --model`) was taken and did nothing, and a student's name
    was never checked (`--student ../x`)."""
    base = ["rehearsal", "check", "--checks", str(tmp_path / "c.json")]
    for argv, message in (
            ([*base, "--results", str(tmp_path / "none")], f"--results {tmp_path}/none: not a directory"),
            ([*base, "--results", str(tmp_path)], f"{tmp_path}: no stored traces"),
            ([*base, "--results", str(tmp_path), "--steps", "3"], "--steps is a flag of `mot rehearsal model`"),
            ([*base, "--results", str(tmp_path), "--student", f"../x={tmp_path}/base"], "--student ../x: '../x' is not a name"),
            (["rehearsal", "model", "--model", "Qwen/Qwen3-8B", "--prompts", "p.jsonl", "--out", str(tmp_path / "m"),
              "--results", str(tmp_path)], "--results is a flag of `mot rehearsal check`")):
        assert main(argv) == 1
        assert message in capsys.readouterr().err
    assert not (tmp_path / "c.json").exists() and not (tmp_path / "m").exists()


@pytest.mark.parametrize("flag, value", [("--student", "../x"), ("--source", "a/b"), ("--student", "base.json")])
def test_the_twelfth_probes_names_are_the_configs_names(flag, value):
    """Twelfth probe, case 22: a name flag took any text (`best-std --student ../x` wrote outside
    results/); it takes what config/schema.yaml's $defs/name takes."""
    argv = ["best-std", "--spec", "{}", "--evals", "e.json", "--runs", "r", "--student", "s", "--source", "a",
            "--out", "o"]
    argv[argv.index(flag) + 1] = value
    with pytest.raises(SystemExit):
        parser().parse_args(argv)


@pytest.mark.parametrize("change, message", [
    (lambda c: c["world"].__setitem__("ops", [1, 10 ** 8]), "world.ops"),  # drew one problem for minutes
    (lambda c: c.setdefault("general", {}).__setitem__("think_end_token", -5), "general.think_end_token"),
    (lambda c: c["sources"]["s1k"].__setitem__("path", "data/none.jsonl"), "sources.s1k.path: data/none.jsonl: "
                                                                           "no such file"),
    (lambda c: c["students"]["qwen3-8b"]["launch"].__setitem__("accelerate_config", "envs/none.yaml"),
     "students.qwen3-8b.launch.accelerate_config: envs/none.yaml: no such file"),
    (lambda c: c["students"]["qwen3-30b-a3b"]["launch"].__setitem__("fsdp_wrap", "Qwen3DecoderLayer"),
     "students.qwen3-30b-a3b.launch.fsdp_wrap: 'Qwen3DecoderLayer' is not a layer of the student's model (a "
     "qwen3_moe model: its decoder layer is Qwen3MoeDecoderLayer)"),
    (lambda c: c["students"]["qwen3-30b-a3b"]["launch"].pop("fsdp_wrap"),  # fsdp.yaml's Qwen3DecoderLayer
     "students.qwen3-30b-a3b.launch.accelerate_config: envs/accelerate/fsdp.yaml's fsdp_transformer_layer_cls_to_wrap"),
])
def test_the_twelfth_probes_config_values_and_files_are_checked(change, message, monkeypatch):
    """Twelfth probe, cases 23, 25, 26 and 27: values and files the config check took, which failed
    late: a range of operation counts without a maximum, a negative token id, a source's local copy or
    an accelerate config that does not exist, a layer class FSDP cannot wrap in the student's model."""
    from mot.config import validate_config
    from mot.spec import SCHEMA

    monkeypatch.chdir(ROOT)  # the config's relative paths are the workflow's
    config = yaml.safe_load((ROOT / "config/paper.yaml").read_text())
    validate_config(yaml.safe_load((ROOT / "config/paper.yaml").read_text()), SCHEMA, "paper.yaml")
    if message == "world.ops":
        config = yaml.safe_load((ROOT / "config/test.yaml").read_text())
    change(config)
    with pytest.raises(MotError, match=f"^x.yaml: {re.escape(message)}" if "." in message else message):
        validate_config(config, SCHEMA, "x.yaml")


def test_the_twelfth_probes_report_inputs_are_whole(tmp_path):
    """Twelfth probe, cases 9, 13 and 14: `union` joined corpora of two sources into one MTD corpus, a
    report --spec's unknown key was taken (a misspelt role, ignored), and the corpus figure was drawn
    without a teacher that its stats left out."""
    from mot.corpus import STATS_COLUMNS, union
    from mot.figures import corpus_stats

    for name, source in (("a", "s"), ("b", "other")):
        (tmp_path / f"{name}.jsonl").write_text(json.dumps({"id": "p0", "source": source, "teacher": name,
                                                            "prompt": "1+1?", "response": "2"}) + "\n")
    with pytest.raises(MotError, match=f"{tmp_path}/b.jsonl: a trace of source 'other', but .*a.jsonl's are of 's'"):
        union([str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl")], str(tmp_path / "mtd.jsonl"))
    assert not (tmp_path / "mtd.jsonl").exists()
    with pytest.raises(SystemExit):
        parser().parse_args(["figures", "--name", "fig3", "--spec", '{"rols": {}}', "--out", "f"])
    (tmp_path / "stats.csv").write_text(",".join(STATS_COLUMNS) + "\ns,a,8,6,0.7,120.0,2,0\n")
    spec = {"sources": {"s": "S"}, "teachers": {"a": {"label": "A"}, "b": {"label": "B"}}}
    with pytest.raises(MotError, match="no row of teacher 'b' for source 's'"):
        corpus_stats(None, spec, tmp_path, [str(tmp_path / "stats.csv")])


def test_the_thirteenth_probes_working_directory_and_link_loops_are_refused(tmp_path, monkeypatch, capsys):
    """Thirteenth probe, cases 1, 2 and 12: an output or log through a symbolic link that leads back to
    itself was a traceback; `general-tasks --out "$PWD" --force` replaced the working directory, the
    user's files in it with it (`--out .` was refused, `sub/..` failed late)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "thesis.txt").write_text("mine")
    (tmp_path / "sub").mkdir()
    (tmp_path / "w.json").write_text("{}")
    (tmp_path / "loop").symlink_to("loop")
    tasks = ["general-tasks", "--world", "w.json", "--sampling", '{"temperature": 0.6, "top_p": 0.95, "max_tokens": 8}']
    for argv, message in (([*tasks, "--out", str(tmp_path), "--force"], f"--out {tmp_path}: is the working directory"),
                          ([*tasks, "--out", "sub/..", "--force"], "--out sub/..: is the working directory"),
                          ([*tasks, "--out", str(tmp_path.parent), "--force"], "holds the working directory"),
                          (["world", "--spec", "{}", "--out", "loop"], "loop': a symbolic link that leads back to itself"),
                          (["--log", "loop", "world", "--spec", "{}", "--out", "w2.json"], "leads back to itself")):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert (tmp_path / "thesis.txt").read_text() == "mine" and (tmp_path / "sub").is_dir()


def test_the_thirteenth_probes_seed_directories_and_inputs_are_checked_first(tmp_path):
    """Thirteenth probe, cases 13 and 14: `seeds run --seed 1 --dir` seed 2's directory replaced seed 2's
    config (its run would follow); a missing --data or --snakefile was found after the seed's config
    and data links were written."""
    from mot.seeds import SEED_CONFIG_HEAD, run_seed

    cfg = yaml.safe_load((ROOT / "config/test.yaml").read_text())
    theirs = tmp_path / "seed-2"
    theirs.mkdir()
    (theirs / "config.yaml").write_text(SEED_CONFIG_HEAD + yaml.safe_dump({**cfg, "seed": 2}))
    before = (theirs / "config.yaml").read_bytes()
    with pytest.raises(MotError, match=f"--dir {theirs}: the directory of seed 2's run"):
        run_seed(1, cfg, str(theirs), str(ROOT / "Snakefile"), 1, [])
    assert (theirs / "config.yaml").read_bytes() == before
    fresh = tmp_path / "fresh"
    for data, snakefile, message in ((tmp_path / "none", ROOT / "Snakefile", "--data .*none: not a directory"),
                                     (ROOT / "data", tmp_path / "none", "--snakefile .*none: no such file")):
        with pytest.raises(MotError, match=message):
            run_seed(1, cfg, str(fresh), str(snakefile), 1, [], data=str(data))
        assert not fresh.exists()


@pytest.mark.parametrize("change, message", [
    (lambda c: c.setdefault("general", {"tasks": {"X": {"task": "x", "metric": "acc,none", "group": "pure"}}})
     .__setitem__("include", "/nonexistent/dir"), "general.include: /nonexistent/dir: no such directory"),
    (lambda c: c["world"].update(max_operand=10 ** 9, max_value=20, ops=[3, 3], test_ops=[3, 3]),
     "world.ops = [3, 3]: no problem of that many operations keeps its values in 0..max_value (20)"),
])
def test_the_thirteenth_probes_config_files_and_worlds_are_checked(change, message, monkeypatch):
    """Thirteenth probe, cases 24 and 25: general.include that does not exist passed the config check
    (lm-eval knew none of its tasks, after the training); a world with no problem of its operation
    counts passed it (the world's draw then advised raising max_operand, the wrong way)."""
    from mot.config import validate_config
    from mot.spec import SCHEMA

    monkeypatch.chdir(ROOT)
    config = yaml.safe_load((ROOT / "config/test.yaml").read_text())
    change(config)
    with pytest.raises(MotError, match=re.escape(message)):
        validate_config(config, SCHEMA, "x.yaml")


def test_the_thirteenth_probes_float_flags_have_the_counts_maximum():
    """Thirteenth probe, case 20: `merge --max-shard-gb 1e308` overflowed (a traceback)."""
    with pytest.raises(SystemExit):
        parser().parse_args(["merge", "--method", "mean", "--out", "m", "--max-shard-gb", "1e308", "a", "b"])


def test_the_fourteenth_probes_seed_runs_depend_on_what_they_use():
    """Fourteenth probe, case 14: a tracker (train.log_with), a cluster's resources, the general
    benchmarks or a published number changed the seed_run rule's --config, so every seed's run reran
    (and Snakemake removed its eval summaries first), though none of them reaches a seed's run."""
    import copy

    from mot.config import validate_config
    from mot.seeds import run_config
    from mot.spec import SCHEMA

    base = validate_config(yaml.safe_load((ROOT / "config/test.yaml").read_text()), SCHEMA, "test.yaml")
    for change in (lambda c: c["train"].__setitem__("log_with", ["tensorboard"]),
                   lambda c: c["resources"].__setitem__("gpus_per_node", 4),
                   lambda c: c.__setitem__("general", {"tasks": {"X": {"task": "x", "metric": "acc,none",
                                                                         "group": "pure"}}}),
                   lambda c: c["report"].__setitem__("published", "data/published.yaml"),
                   lambda c: c["teachers"]["concise"].__setitem__("label", "TERSE")):
        other = copy.deepcopy(base)
        change(other)
        assert run_config(other) == run_config(base)
    other = copy.deepcopy(base)
    other["train"]["lr"] = 0.002  # what a seed's run trains with does rerun it
    assert run_config(other) != run_config(base)


@pytest.mark.parametrize("change, message", [
    (lambda c: c.__setitem__("general", {"tasks": {"D": {"task": "syn_div", "metric": "exact_match,boxed",
                                                         "group": "forgetting"}}}) or c["world"].pop("general_size"),
     "general.tasks.D: the synthetic task 'syn_div' needs world.general_size > 0"),
    (lambda c: c["world"].pop("held_out_op"), "world.held_out_pretrain: 20 problems of no operation"),
    (lambda c: c.__setitem__("general", {"tasks": {"X": {"task": "x", "metric": "acc,none", "group": "pure"}},
                                         "enable_thinking": True}),
     "general.enable_thinking: true needs general.think_end_token"),
])
def test_the_fourteenth_probes_general_settings_are_checked_with_the_config(change, message):
    """Fourteenth probe, cases 16 and 17: a synthetic general task without the world's problems for it,
    held_out_pretrain without held_out_op (ignored), and enable_thinking without think_end_token passed
    the config check; their jobs refused them (lm-eval's start-up first)."""
    from mot.config import validate_config
    from mot.spec import SCHEMA

    config = yaml.safe_load((ROOT / "config/test.yaml").read_text())
    change(config)
    with pytest.raises(MotError, match=re.escape(message)):
        validate_config(config, SCHEMA, "x.yaml")


def test_the_fourteenth_probes_hand_made_inputs_are_one_line(tmp_path):
    """Fourteenth probe, cases 22 to 26: a task file in Latin-1 under general.include, a truncated eval
    summary or a sample without its text under the rehearsal's results, and a corpus or samples row whose
    id is an object were tracebacks; a reference answer that is an object or a boolean was written as
    its Python repr (no sample could match it)."""
    from mot.corpus import union
    from mot.general import resolve_includes
    from mot.generate import read_samples
    from mot.prompts import read_problem_file
    from mot.rehearsal import check as rehearsal_check

    inc = tmp_path / "inc"
    inc.mkdir()
    (inc / "bad.yaml").write_bytes("task: caf\xe9\n".encode("latin-1"))
    with pytest.raises(MotError, match=r"bad\.yaml: not UTF-8 text"):
        resolve_includes([str(inc)], tmp_path / "t")
    res = tmp_path / "res"
    (res / "samples" / "s").mkdir(parents=True)
    (res / "samples" / "s" / "t.jsonl").write_text(json.dumps({"id": "p", "samples": [{"answer": "1"}]}) + "\n")
    with pytest.raises(MotError, match=r"t\.jsonl:1: a sample without its text"):
        rehearsal_check(str(res), {}, [], str(tmp_path / "c.json"))
    (res / "samples" / "s" / "t.jsonl").write_text(json.dumps({"id": "p", "samples": [{"text": "<think>a</think>"}]}) + "\n")
    (res / "eval").mkdir()
    (res / "eval" / "x.json").write_text('{"checkpoints": [')
    with pytest.raises(MotError, match=r"x\.json: eval summary is malformed or truncated"):
        rehearsal_check(str(res), {}, [], str(tmp_path / "c.json"))
    row = {"id": {"a": 1}, "teacher": "t", "source": "s", "prompt": "1+1?", "response": "2", "answer": "2",
           "samples": [{"text": "2", "finish_reason": "stop"}]}
    (tmp_path / "c.jsonl").write_text(json.dumps(row) + "\n")
    with pytest.raises(MotError, match="a trace whose id is dict"):
        union([str(tmp_path / "c.jsonl")], str(tmp_path / "u.jsonl"))
    with pytest.raises(MotError, match=r"c\.jsonl:1: 'id' is dict \{'a': 1\}, not text"):
        read_samples(str(tmp_path / "c.jsonl"))
    for answer in ({"a": 1}, True, [False]):
        (tmp_path / "p.jsonl").write_text(json.dumps({"id": "q", "problem": "1+1?", "answer": answer}) + "\n")
        with pytest.raises(MotError, match=r"p\.jsonl:1: the reference answer is"):
            read_problem_file(tmp_path / "p.jsonl")


def test_the_fifteenth_probes_teacher_style_is_checked_before_any_work(tmp_path):
    """Fifteenth probe, case 27: `generate --teacher` with a synthetic style the world lacks passed the
    flag's check (the schema types a style as text) and was refused once the work had started, leaving
    <out>.partial/ behind; the config check refused it. One rule now serves both."""
    (tmp_path / "p.jsonl").write_text(json.dumps({"id": "a", "prompt": "1+1?", "answer": "2"}) + "\n")
    r = run_mot("generate", "--prompts", tmp_path / "p.jsonl", "--teacher",
                json.dumps({"name": "t", "backend": "synthetic", "params": {"style": "nope"}}),
                "--sampling", json.dumps({"n": 1, "temperature": 0.6, "top_p": 0.95, "max_tokens": 8}),
                "--out", tmp_path / "s.jsonl")
    assert r.returncode == 1 and "--teacher: teacher 't': params: style: unknown style 'nope'" in r.stderr, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.jsonl"]


def test_a_publish_refused_at_the_end_keeps_the_finished_work_for_the_rerun(tmp_path, monkeypatch):
    """Review of probe 16's fixes: finish_work unstamped the work directory before publish, which may
    now refuse (a file of the user's that appeared in the old output while the job ran): hours of
    finished MoT rounds were then stranded in an unstamped `<out>.partial`, refused by the rerun. The
    refusal comes first; the stamp stays, and the rerun takes the work up."""
    from mot import io

    monkeypatch.setattr(io, "WRITER", "rounds")
    out = tmp_path / "run"
    with atomic_path(out, is_dir=True) as tmp:
        (tmp / "model.safetensors").write_bytes(b"old")
    fingerprint = ["rounds", 1]
    work = io.start_work(out, fingerprint, {"model.safetensors": None})
    (work / "model.safetensors").write_bytes(b"new")
    (out / "NOTES.md").write_text("mine")  # while it ran
    with pytest.raises(MotError, match=r"holds NOTES\.md, which mot did not write there.*the finished work is kept"):
        io.finish_work(work, out, {"model.safetensors": None})
    io.release_output(out)
    (out / "NOTES.md").unlink()
    assert io.start_work(out, fingerprint, {"model.safetensors": None}, log=lambda *_: None) == work and (work / "model.safetensors").read_bytes() == b"new"
    io.finish_work(work, out, {"model.safetensors": None})
    assert (out / "model.safetensors").read_bytes() == b"new" and not work.exists()


def test_a_sample_with_unicode_line_separators_is_one_line_of_its_jsonl(tmp_path):
    """A random model's sample may hold \\x85, \\u2028 or \\u2029, which json.dumps(ensure_ascii=False)
    leaves as they are: mot's JSONL readers split at "\\n" alone (CI of ae71496: a test that split
    with str.splitlines() cut such a row in two)."""
    from mot.io import write_jsonl
    from mot.readers import read_jsonl

    rows = [{"id": "p0", "text": "a\x85b\u2028c\u2029d\x1ce"}, {"id": "p1", "text": "f"}]
    write_jsonl(tmp_path / "s.jsonl", rows)
    assert read_jsonl(tmp_path / "s.jsonl") == rows


@pytest.mark.parametrize("command", ["merge", "union"])
def test_an_output_spelt_through_a_missing_directory_and_dotdot_is_refused_first(tmp_path, monkeypatch, capsys,
                                                                              command):
    """Issue 33, probe 21, case 7: `--out ud/missing/..` was checked as ud/missing/.. (which does not
    exist: no ownership check), then written as ud once mot had made `missing`: the whole merge ran
    before publish refused ud, and `missing` was left in the user's directory."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ud").mkdir()
    (tmp_path / "ud/mine.txt").write_text("my results")
    (tmp_path / "c.jsonl").write_text('{"prompt": "a", "response": "b"}\n')
    argv = ["merge", "--method", "uniform", "--out", "ud/missing/..", "m1", "m2"] if command == "merge" else \
        ["union", "--out", "ud/missing/..", "c.jsonl"]
    assert main(argv) == 1
    assert "--out ud/missing/..: '..' after ud/missing, which does not exist" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "ud").iterdir()) == ["mine.txt"]


@pytest.mark.parametrize("rank, log", [("abc", None), ("", "r.log"), ("1", "r.log.rank1")])
def test_the_rank_that_names_a_processs_log_is_a_whole_number(tmp_path, monkeypatch, capsys, rank, log):
    """Issue 33, probe 21, case 22: a RANK that is not a whole number ended `mot --log` in a traceback;
    an empty one (unset in a shell's way) is rank 0."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RANK", rank)
    (tmp_path / "c.jsonl").write_text('{"prompt": "a", "response": "b"}\n')
    rc = main(["--log", "r.log", "union", "--out", "u.jsonl", "c.jsonl"])
    if log is None:
        assert rc == 1 and "RANK='abc': not a process's rank" in capsys.readouterr().err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["c.jsonl"]
    else:
        assert rc == 0 and (tmp_path / log).is_file()
