"""SFT: exact masking and data order, split-invariant loss, resume after SIGTERM, multi-process."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from mot.io import MotError, write_jsonl
from mot.batches import load_examples, micro_batches, step_indices
from mot.chat import IGNORE, sft_example
from mot.train import HParams, TrainSpec, lr_at, train

from conftest import ROOT
from helpers import HP, json_lines

# xdist starts the groups by this mark (tests/conftest.py): the longest chains first
pytestmark = pytest.mark.early(4)

def fit(model, corpus, hp, out, force=False, **run):
    """train() with the spec of a hyper-parameter dict and run settings (steps, start_step, ...)."""
    return train(model, corpus, TrainSpec(HParams.of(hp), **run), out, force)


def test_prompt_tokens_are_masked_and_the_response_is_learned(tiny_model):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    ids, labels = sft_example(tok, "Compute 2 + 3.", "<think>\n2 + 3 = 5\n</think>\n\n\\boxed{5}")
    prompt = tok.apply_chat_template([{"role": "user", "content": "Compute 2 + 3."}], tokenize=False,
                                     add_generation_prompt=True)
    n = len(tok(prompt, add_special_tokens=False)["input_ids"])
    assert prompt == "<|im_start|>user\nCompute 2 + 3.<|im_end|>\n<|im_start|>assistant\n"
    assert labels[:n] == [IGNORE] * n
    assert labels[n:] == ids[n:]
    assert tok.decode(ids[n:]) == "<think>\n2 + 3 = 5\n</think>\n\n\\boxed{5}<|im_end|>"
    assert ids[-1] == tok.convert_tokens_to_ids("<|im_end|>")


def test_max_length_rule_is_recorded(tiny_model, corpus):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny_model)
    lengths = sorted(len(sft_example(tok, r["prompt"], r["response"])[0])
                     for r in map(json.loads, json_lines(corpus)))
    cut = lengths[len(lengths) // 2]
    ex, rec = load_examples(tok, str(corpus), cut, "drop")
    assert rec["dropped_too_long"] == sum(1 for n in lengths if n > cut) and len(ex) == rec["kept"]
    ex, rec = load_examples(tok, str(corpus), cut, "truncate")
    assert rec["truncated"] == sum(1 for n in lengths if n > cut) and max(len(x[0]) for x in ex) == cut


def test_data_order_is_a_pure_function_of_seed_and_step():
    steps = [step_indices(5, 4, s, seed=0) for s in range(5)]
    flat = [i for s in steps for i in s]
    for e in range(4):  # every epoch of 5 examples is a permutation
        assert sorted(flat[5 * e:5 * e + 5]) == list(range(5))
    assert step_indices(5, 4, 3, seed=0) == steps[3]
    assert step_indices(5, 4, 3, seed=1) != steps[3] or step_indices(5, 4, 2, seed=1) != steps[2]


def test_micro_batches_group_by_length_and_split_across_processes():
    examples = [([0] * n, [0] * n) for n in (5, 1, 9, 3, 7, 2, 8, 4)]
    idx = list(range(8))
    assert micro_batches(examples, idx, 0, 1, 2) == [[1, 5], [3, 7], [0, 4], [6, 2]]
    assert micro_batches(examples, idx, 0, 2, 2) == [[0, 4], [6, 2]]  # rank 0 takes idx[0::2]
    assert micro_batches(examples, idx, 1, 2, 2) == [[1, 5], [3, 7]]


def test_cosine_schedule_with_warmup():
    assert lr_at(0, 100, 1.0, 0.01) == 1.0  # one warmup step
    assert lr_at(0, 100, 1.0, 0.1) == pytest.approx(0.1)
    assert lr_at(9, 100, 1.0, 0.1) == pytest.approx(1.0)
    assert lr_at(55, 100, 1.0, 0.1) == pytest.approx(0.5)
    assert lr_at(100, 100, 1.0, 0.1) == pytest.approx(0.0)


def weights(path):
    return load_file(str(path / "model.safetensors"))


def test_loss_does_not_depend_on_the_micro_batch_split(tiny_model, corpus, tmp_path):
    fit(str(tiny_model), str(corpus), {**HP, "micro_batch_size": 4}, str(tmp_path / "a"), steps=3)
    fit(str(tiny_model), str(corpus), {**HP, "micro_batch_size": 1}, str(tmp_path / "b"), steps=3)
    a, b = weights(tmp_path / "a"), weights(tmp_path / "b")
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5), k
    log = (tmp_path / "a" / "train_log.csv").read_text().splitlines()
    assert log[0] == "step,loss,lr,tokens,grad_norm,elapsed_s" and len(log) == 4


def test_checkpoints_load_and_generate(tiny_model, corpus, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    fit(str(tiny_model), str(corpus), HP, str(tmp_path / "out"), steps=4, save_every=2)
    for path in (tmp_path / "out" / "step-00002", tmp_path / "out"):
        model = AutoModelForCausalLM.from_pretrained(path)
        tok = AutoTokenizer.from_pretrained(path)
        out = model.generate(**tok("Compute 2 + 3.", return_tensors="pt"), max_new_tokens=3, do_sample=False)
        assert out.shape[1] > 3
    assert not (tmp_path / "out.partial").exists()
    rec = json.loads((tmp_path / "out" / "mot_train.json").read_text())
    assert rec["steps"] == 4 and rec["data"]["kept"] == 24


def test_mot_branch_continues_the_global_schedule(tiny_model, corpus, tmp_path):
    fit(str(tiny_model), str(corpus), HP, str(tmp_path / "r2"), steps=2, start_step=2, total_steps=6)
    lrs = [float(line.split(",")[2]) for line in (tmp_path / "r2" / "train_log.csv").read_text().splitlines()[1:]]
    assert lrs == pytest.approx([lr_at(2, 6, 1e-3, 0.1), lr_at(3, 6, 1e-3, 0.1)])


def test_mot_round_under_schedule_round_restarts_at_the_peak(tiny_model, corpus, tmp_path):
    """schedule: round (the paper's reading): round 2's branch warms up and decays over its own steps,
    while its data continue from global step 2 (the same batches as a global-schedule branch)."""
    from mot.rounds import RoundsSpec

    rs = RoundsSpec(HParams.of(HP), rounds=3, steps_per_round=2, schedule="round")
    spec = rs.branch(2)
    assert (spec.start_step, spec.schedule_steps, spec.schedule_start) == (2, 2, 2)
    train(str(tiny_model), str(corpus), spec, str(tmp_path / "r2"))
    lrs = [float(line.split(",")[2]) for line in (tmp_path / "r2" / "train_log.csv").read_text().splitlines()[1:]]
    assert lrs == pytest.approx([lr_at(0, 2, 1e-3, 0.1), lr_at(1, 2, 1e-3, 0.1)])
    assert lrs[0] == pytest.approx(1e-3)  # one warmup step of two: the first step is at the peak
    steps = [int(line.split(",")[0]) for line in (tmp_path / "r2" / "train_log.csv").read_text().splitlines()[1:]]
    assert steps == [3, 4]  # global steps: the data order of steps 2..3


def test_bf16_keeps_float32_master_weights():
    """bf16 without a sharding engine's own float32 copy: the weights AdamW updates stay float32 (bf16
    is autocast); the weights themselves in bf16 would lose the paper's lr-1e-5 updates."""
    from mot.train import precision

    assert precision(HParams.of({**HP, "bf16": True}), cuda=True) == ("bf16", torch.float32)
    assert precision(HParams.of({**HP, "bf16": True}), cuda=False) == ("no", torch.float32)
    assert precision(HParams.of(HP), cuda=True) == ("no", torch.float32)
    for dtype, moves in ((torch.bfloat16, False), (torch.float32, True)):  # why it matters
        w = torch.nn.Parameter(torch.ones(64, dtype=dtype))
        opt = torch.optim.AdamW([w], lr=1e-5, betas=(0.9, 0.95), weight_decay=0.1)
        w.grad = torch.ones_like(w)
        opt.step()
        assert bool((w.detach() != 1).any()) == moves, dtype


@pytest.mark.parametrize("case", ["empty", "no_model", "too_long", "batch"])
def test_bad_input_is_one_line_and_leaves_no_checkpoint(tiny_model, corpus, tmp_path, case):
    args = dict(model=str(tiny_model), corpus=str(corpus), hp=HP, out=str(tmp_path / "out"), steps=2)
    if case == "empty":
        (tmp_path / "e.jsonl").write_text("")
        args["corpus"], pattern = str(tmp_path / "e.jsonl"), "e.jsonl: empty corpus"
    elif case == "no_model":
        (tmp_path / "nomodel").mkdir()
        args["model"], pattern = str(tmp_path / "nomodel"), "nomodel: holds no model"
    elif case == "too_long":
        args["hp"], pattern = {**HP, "max_length": 8}, r"every sample is longer than max_length=8 \(config key train.max_length\)"
    else:
        args["hp"], pattern = {**HP, "batch_size": 5}, r"train.batch_size=5 cannot be made of micro-batches of 2 on 1 process"
    with pytest.raises(MotError, match=pattern):
        fit(**args)
    assert not (tmp_path / "out").exists()


def mot_train(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.Popen([sys.executable, "-m", "mot", "train", *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for_log(log, lines, proc):
    deadline = time.time() + 300
    while time.time() < deadline and not (log.exists() and len(log.read_text().splitlines()) > lines):
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.02)


def logged_steps(path):
    return [int(line.split(",")[0]) for line in path.read_text().splitlines()[1:]]


def test_sigterm_then_sigkill_resume_bitwise_equal_with_one_log_row_per_step(tiny_model, corpus, tmp_path):
    """Issue 9, case 8: SIGTERM, rerun, SIGKILL, rerun: the weights and the log are those of one run."""
    common = ["--model", tiny_model, "--corpus", corpus, "--spec", json.dumps({"hparams": HP, "steps": 150})]
    ref = mot_train(*common, "--out", tmp_path / "ref")
    assert ref.wait(timeout=600) == 0, ref.stdout.read()

    out = tmp_path / "run"
    log = tmp_path / "run.partial" / "train_log.csv"
    proc = mot_train(*common, "--out", out)
    wait_for_log(log, 5, proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=300) == 75
    state = json.loads((tmp_path / "run.partial" / "resume" / "state.json").read_text())
    assert 5 <= state["step"] < 150 and not out.exists()

    proc = mot_train(*common, "--out", out)  # killed without warning: no new state is saved
    wait_for_log(log, state["step"] + 10, proc)
    proc.kill()
    proc.wait(timeout=60)
    assert max(logged_steps(log)) > state["step"] + 5

    rerun = mot_train(*common, "--out", out)
    assert rerun.wait(timeout=600) == 0
    assert f"resuming at step {state['step']}" in rerun.stdout.read()
    assert (out / "model.safetensors").read_bytes() == (tmp_path / "ref" / "model.safetensors").read_bytes()
    assert logged_steps(out / "train_log.csv") == list(range(1, 151))


def test_a_saved_state_is_not_resumed_after_the_corpus_changed(tiny_model, corpus, tmp_path):
    """Issue 9, case 3: same corpus path, other contents: the saved state is discarded, not mixed in."""
    mine = tmp_path / "corpus.jsonl"
    shutil.copy(corpus, mine)
    common = ["--model", tiny_model, "--corpus", mine, "--spec", json.dumps({"hparams": HP, "steps": 150})]
    proc = mot_train(*common, "--out", tmp_path / "run")
    wait_for_log(tmp_path / "run.partial" / "train_log.csv", 5, proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=300) == 75
    rows = mine.read_text().splitlines()
    mine.write_text("\n".join(rows[: len(rows) // 2]) + "\n")

    rerun = mot_train(*common, "--out", tmp_path / "run")
    assert rerun.wait(timeout=600) == 0
    text = rerun.stdout.read()
    assert "resuming" not in text and "discarding the work of an earlier attempt" in text
    fresh = mot_train(*common, "--out", tmp_path / "fresh")
    assert fresh.wait(timeout=600) == 0
    assert (tmp_path / "run" / "model.safetensors").read_bytes() == \
        (tmp_path / "fresh" / "model.safetensors").read_bytes()
    assert logged_steps(tmp_path / "run" / "train_log.csv") == list(range(1, 151))


def test_a_corrupt_model_directory_is_named(tiny_model, corpus, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(tiny_model, bad)
    data = (bad / "model.safetensors").read_bytes()
    (bad / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(MotError, match=r"bad: cannot load the model \("):
        fit(str(bad), str(corpus), HP, str(tmp_path / "out"), steps=1)
    assert not (tmp_path / "out").exists()


def test_train_refuses_to_replace_what_it_did_not_write(tiny_model, corpus, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("keep me")
    with pytest.raises(MotError, match="an existing directory that mot did not write"):
        fit(str(tiny_model), str(corpus), HP, str(tmp_path / "out"), steps=1)
    with pytest.raises(MotError, match="would replace the input"):
        fit(str(tiny_model), str(corpus), HP, str(tiny_model), steps=1)
    assert (tmp_path / "out" / "notes.txt").read_text() == "keep me"
    fit(str(tiny_model), str(corpus), HP, str(tmp_path / "out"), steps=1, force=True)
    assert not (tmp_path / "out" / "notes.txt").exists() and (tmp_path / "out" / ".mot-output").is_file()
    fit(str(tiny_model), str(corpus), HP, str(tmp_path / "out"), steps=2)  # its own output: replaced
    assert json.loads((tmp_path / "out" / "mot_train.json").read_text())["steps"] == 2


@pytest.mark.parametrize("same", [True, False], ids=["resumed", "discarded"])
def test_a_users_file_in_a_stopped_trainings_work_is_refused_by_name_not_deleted(tiny_model, corpus, tmp_path,
                                                                                 monkeypatch, same):
    """Issue 33, probe 21, cases 8 and 9: train passed start_work no list of what it writes there: a
    note of the user's in a stopped run's `<out>.partial` was deleted by the rerun (with other settings
    at once; with the same ones once it finished); so was one left there while it trained."""
    import mot.train

    out, work = tmp_path / "out", tmp_path / "out.partial"

    def stopped(*_):
        raise KeyboardInterrupt
    monkeypatch.setattr(mot.train, "publish", stopped)  # stopped after its last step: the work stays
    with pytest.raises(KeyboardInterrupt):
        fit(str(tiny_model), str(corpus), HP, str(out), steps=1)
    monkeypatch.undo()
    note = work / "my-notes.txt"
    note.write_text("mine")
    with pytest.raises(MotError, match=r"out\.partial/my-notes\.txt: not mot's"):
        fit(str(tiny_model), str(corpus), HP if same else {**HP, "lr": 2e-3}, str(out), steps=1)
    assert note.read_text() == "mine" and not out.exists()
    note.unlink()

    real = mot.train._save

    def note_while_training(acc, model, tok, path, bf16):
        real(acc, model, tok, path, bf16)
        note.write_text("mine")
    monkeypatch.setattr(mot.train, "_save", note_while_training)
    with pytest.raises(MotError, match=r"out\.partial/my-notes\.txt: not mot's"):
        fit(str(tiny_model), str(corpus), HP, str(out), steps=1)
    assert note.read_text() == "mine" and not out.exists()
    note.unlink()
    monkeypatch.undo()
    fit(str(tiny_model), str(corpus), HP, str(out), steps=1)
    assert (out / ".mot-output").is_file() and not work.exists()


def test_two_processes_match_one(tiny_model, corpus, tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    common = ["-m", "mot", "train", "--model", str(tiny_model), "--corpus", str(corpus),
              "--spec", json.dumps({"hparams": HP, "steps": 3})]
    one = subprocess.run([sys.executable, *common, "--out", str(tmp_path / "one")], env=env, capture_output=True,
                         text=True)
    assert one.returncode == 0, one.stderr[-2000:]
    # accelerate's --cpu launcher starts one process; --multi_gpu starts two torch.distributed
    # workers, which accelerate runs on CPU with the gloo backend when no GPU is present.
    two = subprocess.run([sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
                          "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
                          *common, "--out", str(tmp_path / "two")], env=env, capture_output=True, text=True)
    assert two.returncode == 0, two.stderr[-3000:]
    a, b = weights(tmp_path / "one"), weights(tmp_path / "two")
    assert json.loads((tmp_path / "two" / "mot_train.json").read_text())["processes"] == 2
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5), k


def test_padding_free_packing_trains_the_same_model(tiny_model, corpus, tmp_path):
    """Sequences laid end to end with restarting position_ids (the varlen path flash-attn 2 takes;
    sdpa gets a block-diagonal mask) give the padded run's weights."""
    fit(str(tiny_model), str(corpus), {**HP, "packing": False}, str(tmp_path / "padded"), steps=3)
    fit(str(tiny_model), str(corpus), {**HP, "packing": True}, str(tmp_path / "packed"), steps=3)
    a, b = weights(tmp_path / "padded"), weights(tmp_path / "packed")
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5), k
    la = [r.split(",")[1] for r in (tmp_path / "padded" / "train_log.csv").read_text().splitlines()[1:]]
    lb = [r.split(",")[1] for r in (tmp_path / "packed" / "train_log.csv").read_text().splitlines()[1:]]
    assert [float(x) for x in la] == pytest.approx([float(x) for x in lb], abs=1e-5)


def test_a_periodic_state_survives_sigkill(tiny_model, corpus, tmp_path):
    """save_state_minutes: a job killed without warning (a lost node) resumes from its last state."""
    hp = {**HP, "save_state_minutes": 0.0005}  # every step or so
    common = ["--model", tiny_model, "--corpus", corpus, "--spec", json.dumps({"hparams": hp, "steps": 150})]
    ref = mot_train(*common, "--out", tmp_path / "ref")
    assert ref.wait(timeout=600) == 0, ref.stdout.read()
    proc = mot_train(*common, "--out", tmp_path / "run")
    state = tmp_path / "run.partial" / "resume" / "state.json"
    deadline = time.time() + 300
    while time.time() < deadline and not (state.exists() and json.loads(state.read_text())["step"] >= 10):
        assert proc.poll() is None, proc.stdout.read()
        time.sleep(0.02)
    proc.kill()
    proc.wait(timeout=60)
    rerun = mot_train(*common, "--out", tmp_path / "run")
    assert rerun.wait(timeout=600) == 0
    step = int(re.search(r"resuming at step (\d+)", rerun.stdout.read()).group(1))
    assert step >= 10
    assert (tmp_path / "run" / "model.safetensors").read_bytes() == (tmp_path / "ref" / "model.safetensors").read_bytes()
    assert logged_steps(tmp_path / "run" / "train_log.csv") == list(range(1, 151))


def test_fsdp_wrap_check_names_the_class(tiny_model):
    """accelerate enables FSDP only on GPUs, so the launch is stood in for by its state object
    (the one thing this check reads); the model is the real tiny Qwen3."""
    from types import SimpleNamespace

    from accelerate.utils import DistributedType
    from transformers import AutoModelForCausalLM

    from mot.train import check_fsdp_wrap

    model = AutoModelForCausalLM.from_pretrained(tiny_model)

    def launch(wrap):
        return SimpleNamespace(distributed_type=DistributedType.FSDP,
                               state=SimpleNamespace(fsdp_plugin=SimpleNamespace(transformer_cls_names_to_wrap=wrap)))

    check_fsdp_wrap(launch(["Qwen3DecoderLayer"]), model, "m")
    with pytest.raises(MotError, match=r"m: FSDP cannot wrap 'Qwen3MoeDecoderLayer': the model has no such layers "
                                       r"\(it has Qwen3DecoderLayer\); set the student's launch.fsdp_wrap"):
        check_fsdp_wrap(launch(["Qwen3MoeDecoderLayer"]), model, "m")


def test_hyper_parameters_are_checked_once_with_one_line():
    with pytest.raises(MotError, match=r"^--spec hparams: unknown key\(s\) lr_typo \(known: lr, betas,"):
        HParams.of({**HP, "lr_typo": 1})
    with pytest.raises(MotError, match="^--spec hparams: missing lr$"):
        HParams.of({k: v for k, v in HP.items() if k != "lr"})
    hp = HParams.of(HP)
    assert hp.betas == (0.9, 0.95) and hp.truncation == "drop" and hp.packing is None
    assert TrainSpec(hp, steps=2, start_step=4).schedule_steps == 6


@pytest.mark.parametrize("change,pattern", [
    ({"batch_size": 0}, r"--spec hparams: batch_size = 0 is not a positive int \(config key train.batch_size\)"),
    ({"lr": "1e-5"}, r"--spec hparams: lr = '1e-5' is not float \(config key train.lr\)"),
    ({"lr": -1e-5}, r"--spec hparams: lr = -1e-05 is not a positive float \(config key train.lr\)"),
    ({"betas": [0.9]}, r"--spec hparams: betas = \[0.9\] is not tuple\[float, float\]"),
    ({"bf16": "yes"}, r"--spec hparams: bf16 = 'yes' is not bool"),
    ({"micro_batch_size": 1.5}, r"--spec hparams: micro_batch_size = 1.5 is not int"),
    ({"loss_chunk_tokens": -1}, r"--spec hparams: loss_chunk_tokens = -1 is negative \(config key train.loss_chunk_tokens"),
])
def test_hand_typed_hparams_of_the_wrong_type_or_range_are_named(change, pattern):
    with pytest.raises(MotError, match=pattern):
        HParams.of({**HP, **change})
    assert HParams.of({**HP, "packing": None, "save_state_minutes": 5}).packing is None


def test_zero_steps_is_an_error_not_an_empty_run():
    with pytest.raises(MotError, match="steps 0: a training run needs at least one optimizer step"):
        TrainSpec(HParams.of(HP), steps=0)


def test_mot_train_takes_one_spec_checked_by_its_constructor():
    """`mot train --spec`: the spec's own fields, of their types, the hyper-parameters nested and checked
    the same way; one line before anything is loaded."""
    spec = TrainSpec.of({"hparams": HP, "steps": 4, "start_step": 2, "total_steps": 8, "save_optimizer": True})
    assert (spec.hparams, spec.steps, spec.schedule_steps, spec.save_optimizer) == (HParams.of(HP), 4, 8, True)
    for d, pattern in [({"hparams": HP, "step": 4}, r"^--spec: unknown key\(s\) step \(known: hparams, steps,"),
                       ({"hparams": HP}, r"^--spec: missing steps$"),
                       ({"hparams": HP, "steps": "4"}, r"^--spec: steps = '4' is not int \(steps\)$"),
                       ({"hparams": {**HP, "lr": 0}, "steps": 4}, r"^--spec hparams: lr = 0 is not a positive float"),
                       ([HP], r"^--spec: expected a JSON object, got list$")]:
        with pytest.raises(MotError, match=pattern):
            TrainSpec.of(d)


def test_results_are_readable_by_colleagues_and_merges_carry_no_training_log(tiny_model, corpus, tmp_path):
    """Trained weights get the modes the umask gives (safetensors writes them 0600 through a temporary
    file); a merged model has no training log of its own; a merge killed mid-write leaves a hidden
    temporary directory that the next merge of the same output removes."""
    import stat

    from mot.merge import merge

    old = os.umask(0o022)
    try:
        for name in ("a", "b"):
            fit(str(tiny_model), str(corpus), HP, str(tmp_path / name), steps=1)
        stale = tmp_path / ".merged.mot-tmp-deadbeef"
        stale.mkdir()
        (stale / "model.safetensors").write_bytes(b"\0" * 1024)  # what a SIGKILL mid-merge leaves
        merge([str(tmp_path / "a"), str(tmp_path / "b")], str(tmp_path / "merged"), "uniform")
    finally:
        os.umask(old)
    for path in (tmp_path / "a", tmp_path / "merged"):
        for f in path.iterdir():
            assert stat.S_IMODE(f.stat().st_mode) == 0o644, f
        assert stat.S_IMODE(path.stat().st_mode) == 0o755, path
    assert (tmp_path / "a" / "train_log.csv").is_file() and not (tmp_path / "merged" / "train_log.csv").exists()
    assert not stale.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_live_tracking_writes_tensorboard_events_per_step_and_per_checkpoint(tiny_model, corpus, tmp_path,
                                                                             monkeypatch):
    """train.log_with through accelerate's trackers, for real: TensorBoard event files, read back,
    hold each step's loss and lr as train_log.csv has them, under the run's name from the layout; an
    evaluation logs its scores per checkpoint."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from mot.tracking import log_scores

    monkeypatch.setenv("MOT_LOG_WITH", "tensorboard")
    monkeypatch.setenv("MOT_TRACKING_DIR", str(tmp_path / "tracking"))
    out = tmp_path / "results" / "models" / "tiny" / "syn-boba" / "sft-concise"
    fit(str(tiny_model), str(corpus), HP, str(out), steps=3)
    events = EventAccumulator(str(tmp_path / "tracking" / "tiny" / "syn-boba" / "sft-concise")).Reload()
    assert {"train/loss", "train/lr", "train/grad_norm", "train/tokens_per_s"} <= set(events.Tags()["scalars"])
    log = [line.split(",") for line in (out / "train_log.csv").read_text().splitlines()[1:]]
    loss = [(e.step, e.value) for e in events.Scalars("train/loss")]
    assert [s for s, _ in loss] == [1, 2, 3]
    assert [v for _, v in loss] == pytest.approx([float(row[1]) for row in log], rel=1e-6)
    assert [e.value for e in events.Scalars("train/lr")] == pytest.approx([float(row[2]) for row in log], rel=1e-6)

    summary = tmp_path / "results" / "eval" / "tiny" / "syn-boba" / "sft-concise.json"
    log_scores(str(summary), {"sampling": {"n": 4}, "checkpoints": [
        {"step": 5, "benchmarks": {"syn-aime24": {"pass@1": 0.25}}},
        {"step": 10, "benchmarks": {"syn-aime24": {"pass@1": 0.5}}}]})
    events = EventAccumulator(str(tmp_path / "tracking" / "eval" / "tiny" / "syn-boba" / "sft-concise")).Reload()
    assert [(e.step, e.value) for e in events.Scalars("eval/syn-aime24/pass@1")] == [(5, 25.0), (10, 50.0)]


def test_an_unknown_tracker_is_one_line(monkeypatch):
    from mot.tracking import trackers

    monkeypatch.setenv("MOT_LOG_WITH", "tensorbored")
    with pytest.raises(MotError, match="train.log_with: unknown tracker.s. tensorbored"):
        trackers()


def test_a_tracker_that_is_not_installed_is_refused_by_the_config_check_and_the_job(monkeypatch):
    """Issue 33, probe 21, case 21: `train.log_with: [wandb]` without wandb passed the config check;
    accelerate then dropped it with a warning in each job's log, and the whole grid ran untracked."""
    import importlib.util

    import yaml

    from mot.config import validate_config
    from mot.tracking import trackers

    schema = yaml.safe_load((ROOT / "config/schema.yaml").read_text())
    known = schema["properties"]["train"]["properties"]["log_with"]["items"]["enum"]
    absent = [t for t in known if t != "tensorboard" and not importlib.util.find_spec(t)]
    assert absent and importlib.util.find_spec("tensorboard")  # the test extra installs tensorboard alone
    config = yaml.safe_load((ROOT / "config/test.yaml").read_text())
    config["train"]["log_with"] = ["tensorboard", absent[0]]
    with pytest.raises(MotError, match=rf"config/test\.yaml: train\.log_with: {absent[0]}: not installed"):
        validate_config(config, ROOT / "config/schema.yaml", "config/test.yaml")
    monkeypatch.setenv("MOT_LOG_WITH", f"tensorboard,{absent[0]}")
    with pytest.raises(MotError, match=rf"train\.log_with: {absent[0]}: not installed in this job's environment"):
        trackers()
    monkeypatch.setenv("MOT_LOG_WITH", "tensorboard")
    assert trackers() == ["tensorboard"]


# --------------------------------------------------------------------------- DeepSpeed, FSDP, the chunked loss (issue 31)
class StandInEngine:
    """DeepSpeed's engine as accelerate's DeepSpeedEngineWrapper drives it (deepspeed is not installed
    here): backward divides the loss by the config's gradient_accumulation_steps (DeepSpeed's
    scale_wrt_gas); step() clips with the config's gradient_clipping and steps the optimizer at an
    accumulation boundary. `steps`: the micro-batch count at each of its step() calls."""

    def __init__(self, model, optimizer, config):
        self.model, self.optimizer, self.config = model, optimizer, config
        self.boundary, self.micro, self.steps, self.norm = None, 0, [], None

    def set_gradient_accumulation_boundary(self, is_boundary):
        self.boundary = is_boundary

    def backward(self, loss):
        (loss / self.config["gradient_accumulation_steps"]).backward()
        self.micro += 1

    def step(self):
        self.steps.append(self.micro)
        if self.boundary:
            self.norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config["gradient_clipping"])
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)

    def get_global_grad_norm(self):
        return self.norm

    def destroy(self):  # accelerate's free_memory calls it
        pass


def deepspeed_accelerator(engines):
    """An Accelerator (one CPU process) that takes accelerate's DeepSpeed paths: its own backward,
    clip_grad_norm_ and DeepSpeedOptimizerWrapper, with a plugin as envs/accelerate/deepspeed_zero3.yaml
    launches it (gradient_accumulation_steps 1, gradient_clipping 1.0); prepare makes a StandInEngine
    from the plugin's config as it is then."""
    from accelerate import Accelerator
    from accelerate.utils import DeepSpeedPlugin, DistributedType
    from accelerate.utils.deepspeed import DeepSpeedEngineWrapper, DeepSpeedOptimizerWrapper

    class DeepSpeedAccelerator(Accelerator):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.plugin = DeepSpeedPlugin(zero_stage=3, gradient_accumulation_steps=1, gradient_clipping=1.0,
                                          zero3_init_flag=False)

        @property
        def distributed_type(self):
            return DistributedType.DEEPSPEED if hasattr(self, "plugin") else super().distributed_type

        @property
        def deepspeed_plugin(self):
            return self.plugin

        def prepare(self, model, optimizer):
            engines.append(StandInEngine(model, optimizer, self.plugin.deepspeed_config))
            self.deepspeed_engine_wrapped = DeepSpeedEngineWrapper(engines[-1])
            return model, DeepSpeedOptimizerWrapper(optimizer)

        def get_state_dict(self, model, unwrap=True):
            return model.state_dict()

    return DeepSpeedAccelerator


def test_deepspeed_steps_its_engine_once_per_optimizer_step(tiny_model, corpus, tmp_path, monkeypatch):
    """Issue 31, item 3: accelerate steps a DeepSpeed engine inside every backward made while
    sync_gradients is true. Each optimizer step of 2 micro-batches must step the engine once, after
    its last, on the step's whole gradient, with the step's lr: the model the plain loop trains."""
    import accelerate

    fit(str(tiny_model), str(corpus), HP, str(tmp_path / "plain"), steps=3)
    engines = []
    monkeypatch.setattr(accelerate, "Accelerator", deepspeed_accelerator(engines))
    fit(str(tiny_model), str(corpus), HP, str(tmp_path / "ds"), steps=3)
    (engine,) = engines
    assert engine.steps == [2, 4, 6]
    config = engine.config
    assert (config["train_micro_batch_size_per_gpu"], config["gradient_accumulation_steps"], config["train_batch_size"],
            config["gradient_clipping"]) == (2, 2, 4, 1.0)
    a, b = weights(tmp_path / "plain"), weights(tmp_path / "ds")
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=1e-5, atol=1e-7), k
    rows = [(tmp_path / d / "train_log.csv").read_text().splitlines() for d in ("plain", "ds")]
    assert [r.split(",")[:3] for r in rows[0]] == [r.split(",")[:3] for r in rows[1]]  # step, loss, lr


def micro_batch_inputs(examples, ids, pad_id, packed):
    from mot.batches import collate, collate_packed

    if packed:
        input_ids, labels, pos = collate_packed(examples, ids)
        return {"input_ids": input_ids, "position_ids": pos}, labels
    input_ids, labels, mask = collate(examples, ids, pad_id)
    return {"input_ids": input_ids, "attention_mask": mask}, labels


@pytest.mark.parametrize("packed", [False, True], ids=["padded", "packed"])
def test_chunked_loss_gives_the_plain_loss_and_gradients(tiny_model, corpus, packed):
    """Issue 31, item 2: the loss over a few response tokens at a time (the output layer per chunk,
    its logits remade in the backward) against the loss from all logits: a micro-batch of sequences of
    unequal length, padded (attention_mask) or packed (position_ids), prompt and padding labelled
    IGNORE, divided by the step's token count as mot.train does; chunks of 1 token, of 7 (the last one
    shorter) and one chunk; the output layer's weight, or (DeepSpeed) its module."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from mot.loss import chunked_loss, plain_loss

    tok = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32)
    examples, _ = load_examples(tok, str(corpus), 256, "drop")
    idx = [0, 3, 5, 8]
    n_tokens = sum(sum(1 for y in examples[i][1][1:] if y != IGNORE) for i in idx)
    inputs, labels = micro_batch_inputs(examples, idx[:3], tok.pad_token_id, packed)
    assert (labels == IGNORE).any() and (labels[:, 1:] != IGNORE).sum() > 7

    def run(loss_fn):
        model.zero_grad(set_to_none=True)
        loss = loss_fn() / n_tokens
        loss.backward()
        return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}

    ref_loss, ref_grads = run(lambda: plain_loss(model, inputs, labels))
    for chunk in (1, 7, 10**6):
        for call_module in (False, True):
            loss, grads = run(lambda: chunked_loss(model, model, inputs, labels, chunk, call_module))
            assert loss.item() == pytest.approx(ref_loss.item(), rel=1e-6), (chunk, call_module)
            assert grads.keys() == ref_grads.keys()
            for n, g in grads.items():
                assert torch.allclose(g, ref_grads[n], rtol=1e-5, atol=1e-7), (chunk, call_module, n)


def test_chunked_loss_trains_the_model_of_the_plain_loss(tiny_model, corpus, tmp_path):
    """train.loss_chunk_tokens through the training loop (accumulation over 2 micro-batches)."""
    fit(str(tiny_model), str(corpus), HP, str(tmp_path / "plain"), steps=3)
    fit(str(tiny_model), str(corpus), {**HP, "loss_chunk_tokens": 16}, str(tmp_path / "chunked"), steps=3)
    a, b = weights(tmp_path / "plain"), weights(tmp_path / "chunked")
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-5), k
    la, lb = ([float(r.split(",")[1]) for r in (tmp_path / d / "train_log.csv").read_text().splitlines()[1:]]
              for d in ("plain", "chunked"))
    assert la == pytest.approx(lb, rel=1e-5)


def fsdp_launch_env(monkeypatch, config="fsdp.yaml"):
    """The variables `accelerate launch --config_file envs/accelerate/<config>` gives each process,
    made by accelerate's own launcher code, set for this test."""
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_multi_gpu_env

    args = launch_command_parser().parse_args(["--config_file", str(ROOT / "envs" / "accelerate" / config), "x.py"])
    args, _, _ = _validate_launch_command(args)
    env = {k: v for k, v in prepare_multi_gpu_env(args).items() if k.startswith(("ACCELERATE_", "FSDP_"))}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


def test_fsdp_reduces_gradients_in_float32(tiny_model, corpus, tmp_path, monkeypatch):
    """Issue 31, item 7: under the FSDP launch (envs/accelerate/fsdp.yaml, bf16) the plugin the training
    loop ends up with (the one it passes the Accelerator, else the one accelerate makes from the
    launch's variables, with accelerate's bf16 precision applied as AcceleratorState applies it)
    computes in bf16 and reduce-scatters gradients in float32. No GPU here: the Accelerator is stood
    in for by a recorder that stops the run."""
    import accelerate
    from accelerate.utils import FullyShardedDataParallelPlugin

    env = fsdp_launch_env(monkeypatch)
    assert env["ACCELERATE_USE_FSDP"] == "true" and env["FSDP_VERSION"] == "2"
    made = {}

    class Recorder:
        def __init__(self, **kwargs):
            made.update(kwargs)
            raise KeyboardInterrupt  # the launch's settings are all this test reads

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(accelerate, "Accelerator", Recorder)
    with pytest.raises(KeyboardInterrupt):
        fit(str(tiny_model), str(corpus), {**HP, "bf16": True}, str(tmp_path / "out"), steps=1)
    assert made["mixed_precision"] == "bf16"
    plugin = made.get("fsdp_plugin") or FullyShardedDataParallelPlugin()
    plugin.set_mixed_precision(made["mixed_precision"])
    policy = plugin.mixed_precision_policy
    assert (policy.param_dtype, policy.reduce_dtype) == (torch.bfloat16, torch.float32)


def test_a_bf16_checkpoint_says_bfloat16_in_its_config(tiny_model, corpus, tmp_path):
    """Issue 31, item 7: under train.bf16 the float32 master weights are saved in bf16, and the saved
    config says so: a dtype="auto" load gets bf16, not float32 (twice the memory). On any device: this
    CPU run (bf16 compute needs a GPU) saves what a GPU run saves, as the rehearsal's merges with a
    base in the hub's bf16 need."""
    from transformers import AutoModelForCausalLM

    from mot.train import HParams, TrainSpec, train

    train(str(tiny_model), str(corpus), TrainSpec(hparams=HParams.of({**HP, "bf16": True}), steps=1), str(tmp_path / "ck"))
    assert {v.dtype for v in weights(tmp_path / "ck").values()} == {torch.bfloat16}
    assert json.loads((tmp_path / "ck" / "config.json").read_text())["dtype"] == "bfloat16"
    assert AutoModelForCausalLM.from_pretrained(tmp_path / "ck", dtype="auto").dtype == torch.bfloat16


FSDP2_WORKER = r"""
import json, sys, types
import torch, torch.distributed as dist
import mot
from accelerate.utils import FullyShardedDataParallelPlugin
from accelerate.utils.fsdp_utils import fsdp2_prepare_model
from transformers import AutoModelForCausalLM, AutoTokenizer
from mot.batches import collate, collate_packed, load_examples, micro_batches
from mot.chat import IGNORE
from mot.loss import chunked_loss, plain_loss
from mot.train import accumulating


def micro_batch_inputs(examples, ids, pad_id, packed):
    if packed:
        input_ids, labels, pos = collate_packed(examples, ids)
        return {"input_ids": input_ids, "position_ids": pos}, labels
    input_ids, labels, mask = collate(examples, ids, pad_id)
    return {"input_ids": input_ids, "attention_mask": mask}, labels


dist.init_process_group("gloo")
rank, world = dist.get_rank(), dist.get_world_size()
tok = AutoTokenizer.from_pretrained(sys.argv[1])
examples, _ = load_examples(tok, sys.argv[2], 256, "drop")
idx = list(range(8))  # one step: 2 processes x 2 micro-batches x 2 sequences
n_tokens = sum(sum(1 for y in examples[i][1][1:] if y != IGNORE) for i in idx)
ref = AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.float32)
ref_loss = 0
for r in range(world):  # the step's gradient, all of it in one process
    for mb in micro_batches(examples, idx, r, world, 2):
        loss = plain_loss(ref, *micro_batch_inputs(examples, mb, tok.pad_token_id, False)) / n_tokens
        loss.backward()
        ref_loss += loss.item()
model = AutoModelForCausalLM.from_pretrained(sys.argv[1], dtype=torch.float32)
accelerator = types.SimpleNamespace(state=types.SimpleNamespace(fsdp_plugin=FullyShardedDataParallelPlugin()),
                                    mixed_precision="no", device=torch.device("cpu"), is_main_process=rank == 0,
                                    parallelism_config=None, sync_gradients=True)
model = fsdp2_prepare_model(accelerator, model)  # as accelerate prepares it under the launch's settings
report = {}
for chunk in (0, 5):
    mbs = micro_batches(examples, idx, rank, world, 2)
    total = torch.zeros(())
    for j, mb in enumerate(mbs):
        inputs, labels = micro_batch_inputs(examples, mb, tok.pad_token_id, packed=chunk > 0)
        with accumulating(accelerator, model, last=j == len(mbs) - 1):
            loss = (chunked_loss(model, model, inputs, labels, chunk) if chunk else plain_loss(model, inputs, labels))
            (loss / n_tokens * world).backward()
        total += loss.detach() / n_tokens
        if j == 0:  # reduce-scattered already: each process holds its shard of the summed gradient
            report.setdefault("sharded_after_first", []).append(
                all(type(p.grad).__name__ == "DTensor" for p in model.parameters()))
    dist.all_reduce(total)
    errors = [(n, (p.grad.full_tensor() - q.grad).abs().max().item())
              for (n, p), (_, q) in zip(model.named_parameters(), ref.named_parameters())]
    report[chunk] = {"loss": [total.item(), ref_loss], "max_error": max(e for _, e in errors),
                     "grad_scale": max(q.grad.abs().max().item() for q in ref.parameters())}
    model.zero_grad(set_to_none=True)
if rank == 0:
    print("REPORT" + json.dumps(report))
dist.destroy_process_group()
"""


def test_fsdp2_two_gloo_processes_chunked_loss_and_gradient_sync(tiny_model, corpus, tmp_path, monkeypatch):
    """Issue 31, item 2 under FSDP2 as accelerate shards the model for envs/accelerate/fsdp.yaml
    (accelerate's own fsdp2_prepare_model; its Accelerator enables FSDP only on GPUs), on two gloo
    processes: a step of 2 micro-batches a process gives the gradient of one process's plain loss,
    with the plain loss and with the chunked one (packed), and gradients are reduce-scattered after
    every micro-batch, none skipped (no_sync would keep whole unsharded gradients)."""
    fsdp_launch_env(monkeypatch)  # the workers' FullyShardedDataParallelPlugin() reads these
    (tmp_path / "worker.py").write_text(FSDP2_WORKER)
    run = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          str(tmp_path / "worker.py"), str(tiny_model), str(corpus)],
                         env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.split("REPORT", 1)[1])
    assert report["sharded_after_first"] == [True, True]
    for chunk in ("0", "5"):
        loss, ref_loss = report[chunk]["loss"]
        assert loss == pytest.approx(ref_loss, rel=1e-6), chunk
        assert report[chunk]["max_error"] <= 1e-5 * report[chunk]["grad_scale"], (chunk, report[chunk])


def test_a_full_disk_while_saving_is_one_line_and_leaves_no_partial_checkpoint(tiny_model, corpus, tmp_path):
    """A checkpoint save that the machine refuses (a file size limit stands in for a full disk: RLIMIT_FSIZE,
    SIGXFSZ ignored) is one line naming the output, the machine's error, not a bug's traceback; the
    model-sized temporary copy it was writing is removed (the finished steps' work stays for a rerun)."""
    import resource

    out = tmp_path / "out"

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (40_000, 40_000))  # the weights: 77 KB

    r = subprocess.run([sys.executable, "-m", "mot", "--log", str(tmp_path / "train.log"), "train", "--model",
                        str(tiny_model), "--corpus", str(corpus), "--spec", json.dumps({"hparams": HP, "steps": 2}),
                        "--out", str(out)], cwd=ROOT, capture_output=True, text=True, preexec_fn=limit)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert r.stderr.startswith("mot: error: file too large (a file size limit)") and f"writing {out}" in r.stderr
    assert not out.exists() and not [p for p in tmp_path.rglob("*.tmp")], list(tmp_path.rglob("*"))


def test_an_output_named_with_a_trailing_slash_is_that_directory(tiny_model, corpus, tmp_path):
    """Issue 33, probe 16, case F6: `train --out DIR/` (a shell's completion adds the slash) was refused:
    its work directory DIR/.partial "lies inside the output DIR/". It names DIR, as the kernel reads it."""
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "mot", "train", "--model", str(tiny_model), "--corpus", str(corpus),
                        "--spec", json.dumps({"hparams": HP, "steps": 1}), "--out", f"{out}/"],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (out / "model.safetensors").is_file() and not (out / ".partial").exists()
