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

HP = {"lr": 1e-3, "betas": [0.9, 0.95], "weight_decay": 0.1, "warmup_ratio": 0.1, "grad_clip": 1.0,
      "batch_size": 4, "micro_batch_size": 2, "max_length": 256, "bf16": False, "attn_implementation": "sdpa"}


def fit(model, corpus, hp, out, force=False, **run):
    """train() with the spec of a hyper-parameter dict and run settings (steps, start_step, ...)."""
    return train(model, corpus, TrainSpec(HParams.of(hp), **run), out, force)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, tiny_world):
    from mot.world import teacher_trace
    import random

    world = json.loads(tiny_world.read_text())
    rng = random.Random(0)
    rows = [{"prompt": r["problem"], "response": teacher_trace(r["spec"], style, rng, 0.6, 0.0)}
            for r in world["pool"][:12] for style in ("concise", "structured")]
    path = tmp_path_factory.mktemp("corpus") / "c.jsonl"
    write_jsonl(path, rows)
    return path


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
                     for r in map(json.loads, corpus.read_text().splitlines()))
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
        stale = tmp_path / ".merged.tmp-deadbeef"
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
