"""Teacher generation: the synthetic and hf backends, incremental writing and resume."""
import json
import re
import os

import pytest

import mot.generate as gen
from mot.io import MotError, write_jsonl
from mot.prompts import sample_prompts
from helpers import json_lines

SAMPLING = {"n": 3, "temperature": 0.6, "top_p": 0.95, "max_tokens": 24}
SYN = {"name": "concise", "backend": "synthetic", "params": {"style": "concise", "error_rate": 0.2, "batch_size": 2}}


@pytest.fixture
def prompts(tmp_path, tiny_world):
    path = tmp_path / "prompts.jsonl"
    sample_prompts("syn", {"type": "synthetic", "n": 7, "seed": 0}, "{problem}", str(tiny_world), str(path))
    return path


def test_synthetic_generation_shape(tmp_path, prompts):
    out = tmp_path / "s.jsonl"
    gen.generate_samples(str(prompts), SYN, SAMPLING, 0, str(out))
    rows = [json.loads(line) for line in json_lines(out)]
    assert len(rows) == 7 and all(len(r["samples"]) == 3 for r in rows)
    assert all(r["teacher"] == "concise" and r["source"] == "syn" for r in rows)
    assert not (tmp_path / "s.jsonl.partial").exists()


def test_killed_run_resumes_without_regenerating_and_ends_identical(tmp_path, prompts, monkeypatch):
    full = tmp_path / "full.jsonl"
    gen.generate_samples(str(prompts), SYN, SAMPLING, 0, str(full))

    calls = []
    real = gen.SyntheticTeacher.generate

    def crashing(self, rows, n, seed):
        calls.append([r["id"] for r in rows])
        if len(calls) == 3:
            raise KeyboardInterrupt  # killed during the third chunk
        return real(self, rows, n, seed)

    monkeypatch.setattr(gen.SyntheticTeacher, "generate", crashing)
    out = tmp_path / "resumed.jsonl"
    with pytest.raises(KeyboardInterrupt):
        gen.generate_samples(str(prompts), SYN, SAMPLING, 0, str(out))
    assert not out.exists()
    chunks = tmp_path / "resumed.jsonl.partial" / "records.jsonl"
    assert len(chunks.read_text().splitlines()) == 2  # two finished chunks
    with open(chunks, "a") as f:
        f.write('{"chunk": 2, "rows": [{"id"')  # a torn write, as SIGKILL can leave

    calls.clear()
    monkeypatch.setattr(gen.SyntheticTeacher, "generate", lambda self, rows, n, seed:
                        (calls.append([r["id"] for r in rows]), real(self, rows, n, seed))[1])
    gen.generate_samples(str(prompts), SYN, SAMPLING, 0, str(out))
    assert len(calls) == 2  # chunks 2 and 3 only (7 prompts in chunks of 2)
    assert out.read_bytes() == full.read_bytes()


def interrupt_after_two_chunks(monkeypatch):
    """Make the synthetic backend die during its third chunk; return the list of chunks it was asked for."""
    calls, real = [], gen.SyntheticTeacher.generate

    def generate(self, rows, n, seed):
        calls.append([r["id"] for r in rows])
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, rows, n, seed)

    monkeypatch.setattr(gen.SyntheticTeacher, "generate", generate)
    return calls


def test_changed_settings_do_not_reuse_earlier_work(tmp_path, prompts, monkeypatch, capsys):
    out = tmp_path / "s.jsonl"
    interrupt_after_two_chunks(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        gen.generate_samples(str(prompts), SYN, SAMPLING, 0, str(out))
    monkeypatch.undo()
    gen.generate_samples(str(prompts), SYN, {**SAMPLING, "temperature": 0.7}, 0, str(out))
    assert "discarding the work of an earlier attempt" in capsys.readouterr().out
    fresh = tmp_path / "fresh.jsonl"
    gen.generate_samples(str(prompts), SYN, {**SAMPLING, "temperature": 0.7}, 0, str(fresh))
    assert out.read_bytes() == fresh.read_bytes()


def test_a_resumed_run_never_keeps_samples_for_old_prompt_text(tmp_path, prompts, monkeypatch):
    """Issue 9, case 4: the ids stay, the prompt text changes (a new template): every chunk is redone."""
    out = tmp_path / "s.jsonl"
    interrupt_after_two_chunks(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        gen.generate_samples(str(prompts), SYN, SAMPLING, 0, str(out))
    rows = [json.loads(x) for x in json_lines(prompts)]
    write_jsonl(prompts, [{**r, "prompt": "Solve: " + r["prompt"]} for r in rows])
    monkeypatch.undo()
    calls, real = [], gen.SyntheticTeacher.generate
    monkeypatch.setattr(gen.SyntheticTeacher, "generate", lambda self, rows, n, seed:
                        (calls.append(len(rows)), real(self, rows, n, seed))[1])
    gen.generate_samples(str(prompts), SYN, SAMPLING, 0, str(out))
    assert calls == [2, 2, 2, 1]  # all 4 chunks of 7 prompts, none reused
    assert all(r["prompt"].startswith("Solve: ") for r in map(json.loads, json_lines(out)))


def test_a_sample_without_text_is_named(tmp_path):
    write_jsonl(tmp_path / "s.jsonl", [{"id": "a", "answer": "1", "samples": [{"text": "x", "finish_reason": "stop"}]},
                                       {"id": "b", "answer": "1", "samples": [{"finish_reason": "stop"}]}])
    with pytest.raises(MotError, match=r"s.jsonl:2: sample 0 of 'b' has no 'text'"):
        gen.read_samples(str(tmp_path / "s.jsonl"))


@pytest.mark.parametrize("reason", [None, "abort", "eos_token"])
def test_a_stored_sample_that_did_not_end_by_stop_or_length_is_refused_by_corpus_and_evaluate_alike(tmp_path, reason):
    """Stored samples say stop or length (engines map their own words: mot.engines.FINISH_REASONS).
    Any other, or none, is refused naming the file and line, by the corpus and by evaluation alike (the
    corpus counted a missing reason wrong, evaluation counted it right)."""
    from mot.corpus import build_corpus
    from mot.evaluate import grade_samples

    sample = {"text": "<think>x</think> \\boxed{1}", **({"finish_reason": reason} if reason else {})}
    write_jsonl(tmp_path / "s.jsonl", [{"id": "a", "prompt": "p", "answer": "1", "teacher": "t",
                                        "samples": [{"text": "y", "finish_reason": "stop"}, sample]}])
    pattern = rf"s.jsonl:1: sample 1 of 'a' has finish_reason {reason!r}, not stop or length"
    with pytest.raises(MotError, match=re.escape(pattern)):
        grade_samples(str(tmp_path / "s.jsonl"))
    with pytest.raises(MotError, match=re.escape(pattern)):
        build_corpus(str(tmp_path / "s.jsonl"), 0, str(tmp_path / "c.jsonl"), str(tmp_path / "g.json"))
    assert not (tmp_path / "c.jsonl").exists()


@pytest.mark.parametrize("said,stored", [("stop", "stop"), ("eos_token", "stop"), ("stop_sequence", "stop"),
                                         ("end_turn", "stop"), ("length", "length"), ("max_tokens", "length")])
def test_each_engines_finish_reasons_are_stored_as_stop_or_length(said, stored):
    from mot.engines import sample

    assert sample("t", said) == {"text": "t", "finish_reason": stored}


@pytest.mark.parametrize("said", [None, "abort", "content_filter", "tool_calls", "bogus"])
def test_an_unknown_finish_reason_is_refused_in_one_line(said):
    from mot.engines import sample

    with pytest.raises(MotError, match=rf"a sample ended with finish reason {re.escape(repr(said))}, which is not one of"):
        sample("t", said)


def test_an_unknown_synthetic_style_names_the_teacher(tmp_path, prompts):
    spec = {"name": "odd", "backend": "synthetic", "params": {"style": "baroque"}}
    with pytest.raises(MotError, match="teacher 'odd': params: style: unknown style 'baroque'"):
        gen.generate_samples(str(prompts), spec, SAMPLING, 0, str(tmp_path / "s.jsonl"))
    assert not (tmp_path / "s.jsonl").exists() and not (tmp_path / "s.jsonl.partial").exists()


def test_unknown_backend(tmp_path, prompts):
    with pytest.raises(MotError, match="unknown backend 'nope'"):
        gen.generate_samples(str(prompts), {"name": "x", "backend": "nope", "params": {}}, SAMPLING, 0,
                                  str(tmp_path / "s.jsonl"))


def test_synthetic_teacher_rejects_non_synthetic_prompts(tmp_path):
    write_jsonl(tmp_path / "p.jsonl", [{"id": "1", "prompt": "What is 1+1?", "answer": "2"}])
    with pytest.raises(MotError, match="prompt '1' is not a synthetic problem"):
        gen.generate_samples(str(tmp_path / "p.jsonl"), SYN, SAMPLING, 0, str(tmp_path / "s.jsonl"))


def test_hf_backend_on_a_tiny_saved_model(tmp_path, prompts, tiny_model):
    spec = {"name": "tiny", "backend": "hf", "params": {"model": str(tiny_model), "batch_size": 4}}
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    gen.generate_samples(str(prompts), spec, SAMPLING, 0, str(a))
    gen.generate_samples(str(prompts), spec, SAMPLING, 0, str(b))
    rows = [json.loads(line) for line in json_lines(a)]
    assert len(rows) == 7 and all(len(r["samples"]) == 3 for r in rows)
    assert all(s["finish_reason"] in ("stop", "length") for r in rows for s in r["samples"])
    assert any(s["text"] for r in rows for s in r["samples"])
    assert a.read_bytes() == b.read_bytes()  # seeded per chunk: reproducible on CPU


@pytest.mark.parametrize("settings", [
    {"temperature": 0.8, "top_p": 0.9},
    {"temperature": 0.6, "top_p": 0.95, "top_k": 20, "min_p": 0.05},
    {"temperature": 1.0, "top_p": 1.0},
    {"temperature": 0},
], ids=["top_p", "cutoffs", "plain", "greedy"])
def test_the_hf_sampler_gives_generates_tokens_while_dropping_rows_that_ended(tiny_model, settings):
    """mot.sampler against transformers' own generate, on the same seed: the same tokens, row for
    row, while rows end at different steps (many end tokens, so that most rows end early and some
    run to max_tokens) and prompts of different lengths are left-padded."""
    import torch

    from mot.models import load_causal_lm, load_tokenizer
    from mot.sampler import sample_ids

    tok, model = load_tokenizer(str(tiny_model)), load_causal_lm(str(tiny_model)).eval()
    tok.padding_side = "left"
    texts = ["1 + 2", "3 * 4 - 5 + 6", "7", "8 - 9 * 2 + 1 - 4 * 3", "2 * 2", "5 + 5 + 5"]
    enc = tok.pad({"input_ids": [tok(t, add_special_tokens=False)["input_ids"] for t in texts]}, return_tensors="pt")
    ends = set(range(3, 300, 9)) | {tok.eos_token_id}  # about one token in nine ends a row
    greedy = settings["temperature"] == 0
    n, max_new = 1 if greedy else 3, 30  # generate refuses several greedy samples of a prompt
    torch.manual_seed(7)
    with torch.no_grad():
        ref = model.generate(**enc, do_sample=not greedy, **({} if greedy else {"top_k": 0, **settings}),
                             max_new_tokens=max_new, num_return_sequences=n, eos_token_id=sorted(ends),
                             pad_token_id=tok.pad_token_id)
    torch.manual_seed(7)
    ours = sample_ids(model, enc["input_ids"], enc["attention_mask"], n, max_new, ends, **settings)
    expected = []
    for seq in ref[:, enc["input_ids"].shape[1]:].tolist():
        stop = next((j for j, t in enumerate(seq) if t in ends), None)
        expected.append(seq if stop is None else seq[:stop + 1])
    assert ours == expected
    lengths = {len(s) for s in ours}
    assert len(ours) == 6 * n and (len(lengths) > 3 or greedy)  # sampled rows end at different steps


def test_hf_backend_rejects_a_directory_without_a_model(tmp_path, prompts):
    spec = {"name": "x", "backend": "hf", "params": {"model": str(tmp_path)}}
    with pytest.raises(MotError, match="holds no model"):
        gen.generate_samples(str(prompts), spec, SAMPLING, 0, str(tmp_path / "s.jsonl"))


@pytest.mark.parametrize("device, message", [
    ("cuda:7", "params.device = 'cuda:7': this job sees 0 cuda device(s)"),  # issue 33, probe #14: a traceback
    ("gpu", "--teacher: params.device: 'gpu' does not match"),  # no torch device (config/schema.yaml $defs/device)
])
def test_hf_backend_refuses_a_device_this_job_does_not_see(tmp_path, prompts, tiny_model, device, message):
    spec = {"name": "tiny", "backend": "hf", "params": {"model": str(tiny_model), "device": device}}
    with pytest.raises(MotError, match=f"^teacher 'tiny': {re.escape(message)}"):
        gen.generate_samples(str(prompts), spec, SAMPLING, 0, str(tmp_path / "s.jsonl"))
    assert not (tmp_path / "s.jsonl").exists()


@pytest.mark.parametrize("case, message", [
    ("topk", r"^teacher 'c': --sampling: unknown key 'topk' \(config key sampling: n, temperature"),
    ("error_rate", r"^teacher 'c': --teacher: params\.error_rate: 'high' is not of type 'number'"),
    ("duplicate id", r"p\.jsonl: prompt id '1' is in rows 1 and 2 \(one id, one prompt\)$"),
])
def test_generate_checks_its_sampling_teacher_and_prompt_ids(tmp_path, case, message):
    """Issue 33, second probe, cases 18-20: a misspelt sampling key was ignored, a teacher param of the
    wrong type was a TypeError mid-run, and one prompt id twice was sampled and kept twice."""
    rows = [{"id": "1", "prompt": "Compute 1 + 2.", "answer": "3"}, {"id": "2", "prompt": "Compute 2 + 2.", "answer": "4"}]
    sampling, teacher = dict(SAMPLING), {"name": "c", "backend": "synthetic", "params": {"style": "concise"}}
    if case == "topk":
        sampling["topk"] = 5
    elif case == "error_rate":
        teacher["params"]["error_rate"] = "high"
    else:
        rows[1]["id"] = "1"
    write_jsonl(tmp_path / "p.jsonl", rows)
    with pytest.raises(MotError, match=message):
        gen.generate_samples(str(tmp_path / "p.jsonl"), teacher, sampling, 0, str(tmp_path / "s.jsonl"))
    assert not (tmp_path / "s.jsonl").exists() and not (tmp_path / "s.jsonl.partial").exists()


def test_a_second_writer_of_the_same_output_is_refused(tmp_path, prompts):
    """Two `mot generate --out X` at once (an orphaned job and its rerun): the second refuses at once,
    one line naming X, and leaves the first's work alone; the lock leaves no file behind."""
    import subprocess
    import sys
    import time

    from conftest import run_mot

    out = tmp_path / "s.jsonl"
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from mot.io import start_work; "
                               f"start_work({str(out)!r}, ['other'], {{}}); print('held', flush=True); time.sleep(60)"],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        teacher = json.dumps({"name": "a", "backend": "synthetic", "params": {"style": "concise"}})
        r = run_mot("generate", "--prompts", prompts, "--teacher", teacher, "--sampling", json.dumps(SAMPLING),
                    "--out", out)
        assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
        assert f"{out}: another process is writing it" in r.stderr
        assert (tmp_path / "s.jsonl.partial" / "fingerprint.json").is_file() and not out.exists()
    finally:
        holder.kill()
        holder.wait()
    r = run_mot("generate", "--prompts", prompts, "--teacher", teacher, "--sampling", json.dumps(SAMPLING),
                "--out", out)  # the holder is gone: the kernel dropped its lock
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_a_code_change_discards_work_the_old_code_started(tmp_path, prompts, monkeypatch):
    """A job killed, its stage's code edited, the job rerun (as Snakemake does on a code change): the
    rerun starts afresh instead of publishing samples drawn partly by the old code."""
    import shutil
    import subprocess
    import sys

    from conftest import ROOT

    out = tmp_path / "s.jsonl"
    interrupt_after_two_chunks(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        gen.generate_samples(str(prompts), SYN, SAMPLING, 0, str(out))
    edited = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "mot", edited / "mot", ignore=shutil.ignore_patterns("__pycache__"))
    world = edited / "mot" / "world.py"  # an edit to code the stage runs (a comment alone is no code change)
    text = world.read_text()
    assert "quirk_rate: float = 1.0) -> str:" in text
    world.write_text(text.replace("quirk_rate: float = 1.0) -> str:", "quirk_rate: float = 1.0, _edited: int = 1) -> str:", 1))
    run = lambda src: subprocess.run(
        [sys.executable, "-m", "mot", "generate", "--prompts", str(prompts), "--teacher", json.dumps(SYN),
         "--sampling", json.dumps(SAMPLING), "--out", str(out)], capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(src)})
    r = run(edited)
    assert r.returncode == 0, r.stderr
    assert "discarding the work of an earlier attempt" in r.stdout + r.stderr


def test_a_new_teacher_backend_is_one_registered_class(tmp_path, prompts, monkeypatch):
    """docs/extending.md's worked example: a backend is a class filed with @register (mot.backends) that declares
    its own params and those it needs; the config schema then offers it, the config check asks for them,
    and generation runs it like any other (written incrementally, one row per prompt)."""
    import yaml

    from mot.backends import BACKENDS, register
    from mot.config import validate_config

    from conftest import ROOT

    monkeypatch.setitem(BACKENDS, "echo", None)  # restored after the test

    @register("echo")
    class EchoTeacher:
        """Answers every prompt with a fixed trace (a stand-in for a real engine's client)."""
        required = ("answer",)
        params = {"answer": {"type": "integer", "description": "What it answers."}}  # config schema

        def __init__(self, params, sampling):
            self.text = f"<think>\nIt is {params['answer']}.\n</think>\n\n\\boxed{{{params['answer']}}}"

        def generate(self, rows, n, seed):
            return [[{"text": self.text, "finish_reason": "stop"}] * n for _ in rows]

    config = yaml.safe_load((ROOT / "config/test.yaml").read_text())
    config["teachers"]["concise"] = {"backend": "echo", "params": {"answer": 7}}
    validate_config(config, ROOT / "config/schema.yaml")
    del config["teachers"]["concise"]["params"]["answer"]
    with pytest.raises(MotError, match=r"teachers\.concise\.params: backend 'echo' needs 'answer'$"):
        validate_config(config, ROOT / "config/schema.yaml")
    out = tmp_path / "echo.jsonl"
    gen.generate_samples(str(prompts), {"name": "echo", "backend": "echo", "params": {"answer": 7}}, SAMPLING, 0,
                         str(out))
    rows = [json.loads(line) for line in json_lines(out)]
    assert len(rows) == 7 and all(s["text"].endswith("\\boxed{7}") for r in rows for s in r["samples"])


def test_a_backend_declares_its_gpus_its_layout_and_whether_it_evaluates(monkeypatch):
    """Issue 34, item 3: a teacher backend is whole in its registry entry: the GPUs it holds (mot plan and
    SLURM's request), whether the config check places its params over GPUs and nodes, and whether
    eval.backend may name it; no other list of backends exists."""
    import yaml

    from mot.backends import BACKENDS, register
    from mot.config import validate_config
    from mot.plan import engine_gpus

    from conftest import ROOT

    monkeypatch.setitem(BACKENDS, "sglang", None)  # restored after the test

    @register("sglang")
    class SGLangTeacher:
        required = ("model",)
        evaluates, parallel = True, True

        @staticmethod
        def gpus(params):
            return params.get("tensor_parallel_size", 1) * params.get("data_parallel_size", 1)

    assert engine_gpus("sglang", {"tensor_parallel_size": 2, "data_parallel_size": 2}) == 4
    config = yaml.safe_load((ROOT / "config/test.yaml").read_text())
    config["eval"].update(backend="sglang", params={"tensor_parallel_size": 16})
    with pytest.raises(MotError, match=r"eval\.params: tensor_parallel_size 16 x pipeline_parallel_size 1 over 1 "):
        validate_config(config, ROOT / "config/schema.yaml")
    config["eval"]["params"] = {"tensor_parallel_size": 2}
    validate_config(config, ROOT / "config/schema.yaml")
    config["eval"]["backend"] = "openai"  # an endpoint cannot load a student's checkpoint
    with pytest.raises(MotError, match=r"eval\.backend: 'openai' is not one of \['hf', 'sglang', 'vllm'\]"):
        validate_config(config, ROOT / "config/schema.yaml")


# --------------------------------------------------------------------------- top_k and min_p
CUTOFFS = {"top_k": 20, "min_p": 0.05}


def test_top_k_and_min_p_reach_every_backend_and_stay_off_unset(tiny_model, monkeypatch):
    """Sampling's top_k and min_p (unset: off, the paper's protocol) reach vLLM's SamplingParams,
    transformers' generate and an OpenAI-style request body. vLLM and the server are stood in for
    here (what each receives is the point); tests/test_engines.py runs the real ones."""
    import sys
    import types

    import httpx

    from mot.engines import OpenAITeacher, VLLMTeacher

    # vLLM: a stand-in module and engine record the SamplingParams
    class LLM:
        def __init__(self):
            self.params = []
            self.llm_engine = types.SimpleNamespace(has_unfinished_requests=lambda: False)

        def get_tokenizer(self):
            from mot.models import load_tokenizer
            return load_tokenizer(str(tiny_model))

        def enqueue(self, prompts, params, use_tqdm=False):
            self.params += params
            return [str(i) for i in range(len(prompts))]

    vllm = types.ModuleType("vllm")
    vllm.SamplingParams = lambda **kw: kw
    platforms = types.ModuleType("vllm.platforms")
    platforms.current_platform = types.SimpleNamespace(is_cpu=lambda: True)
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.platforms", platforms)
    rows = [{"id": "a", "prompt": "1 + 2"}]
    for extra in ({}, CUTOFFS):
        llm = LLM()
        monkeypatch.setattr(VLLMTeacher, "_engine", lambda self, seed: llm)
        VLLMTeacher({"model": str(tiny_model)}, {**SAMPLING, **extra}).stream(rows, 2, 0, lambda *a: None)
        assert {k: llm.params[0].get(k) for k in CUTOFFS} == {k: extra.get(k) for k in CUTOFFS}

    # transformers: the logits warpers of the hf backend's sampler (mot.sampler: generate's own classes)
    import mot.sampler as sampler

    seen, real = [], sampler.warpers
    monkeypatch.setattr(sampler, "warpers", lambda *a, **kw: seen.append(real(*a, **kw)) or seen[-1])
    for extra in ({}, CUTOFFS):
        gen.HFTeacher({"model": str(tiny_model)}, {**SAMPLING, **extra}).generate(rows, 1, 0)
    assert [[type(w).__name__ for w in s] for s in seen] == [  # no top-k cut unset (generate's default is 50)
        ["TemperatureLogitsWarper", "TopPLogitsWarper"],
        ["TemperatureLogitsWarper", "TopKLogitsWarper", "TopPLogitsWarper", "MinPLogitsWarper"]]
    assert (seen[1][1].top_k, seen[1][3].min_p) == (20, 0.05)

    # an OpenAI-style server: the request body
    bodies = []

    def answer(request):
        bodies.append(json.loads(request.content))
        return httpx.Response(200, json={"choices": [{"index": 0, "finish_reason": "stop",
                                                      "message": {"content": "<think>\nx\n</think>\n\n\\boxed{3}"}}]})

    real_client = httpx.AsyncClient
    monkeypatch.setattr(httpx, "AsyncClient", lambda **kw: real_client(transport=httpx.MockTransport(answer), **kw))
    for extra in ({}, CUTOFFS):
        OpenAITeacher({"model": "m", "base_url": "http://127.0.0.1:1/v1"}, {**SAMPLING, **extra}).stream(
            rows, 1, 0, lambda *a: None)
    assert [{k: b.get(k) for k in CUTOFFS} for b in bodies] == [{"top_k": None, "min_p": None}, CUTOFFS]


def test_top_k_and_min_p_are_config_keys_of_teachers_evaluation_and_table_9(workdir):
    """The config takes them where sampling is set (teachers' sampling, eval, a Table-9 pair's sampling),
    and the evaluation rule hands eval's to mot evaluate."""
    import yaml

    from conftest import ROOT, snakemake
    from mot.config import validate_config

    cfg = yaml.safe_load((ROOT / "config/config.yaml").read_text())
    cfg["sampling"].update(CUTOFFS)
    cfg["eval"].update(CUTOFFS)
    cfg["analyses"]["student_teacher"]["sampling"] = dict(CUTOFFS)
    validate_config(cfg, ROOT / "config/schema.yaml", "config.yaml")
    cfg["eval"]["top_k"] = -1
    with pytest.raises(MotError, match="eval.top_k"):
        validate_config(cfg, ROOT / "config/schema.yaml", "config.yaml")
    cfg = yaml.safe_load((ROOT / "config/test.yaml").read_text())
    cfg["eval"].update(CUTOFFS)
    (workdir / "config/cut.yaml").write_text(yaml.safe_dump(cfg))
    r = snakemake(workdir, "results/eval/tiny/syn-boba/sft-concise.json", "--configfile", "config/cut.yaml", "-n",
                  "-p", "--forceall")
    assert r.returncode == 0, r.stderr[-2000:]
    spec = next(x for x in r.stdout.splitlines() if "mot" in x and " evaluate " in x)
    assert '"min_p": 0.05' in spec and '"top_k": 20' in spec, spec


def test_a_sigterm_stops_sampling_with_one_line_and_a_rerun_samples_only_the_rest(tmp_path, tiny_model, prompts):
    """SLURM ends a job at its time limit with SIGTERM: `mot generate` stops at once with one line that
    says what it keeps (every finished chunk is on disk), and the rerun samples only the rest, to the
    bytes of an uninterrupted run (tests/test_slurm.py does this through SLURM)."""
    import signal
    import subprocess
    import sys
    import time

    from conftest import ROOT, run_mot

    teacher = json.dumps({"name": "hf", "backend": "hf", "params": {"model": str(tiny_model), "batch_size": 1}})
    sampling = json.dumps({**SAMPLING, "max_tokens": 128})
    args = ["generate", "--prompts", str(prompts), "--teacher", teacher, "--sampling", sampling, "--out"]
    assert run_mot(*args, tmp_path / "full.jsonl").returncode == 0
    out = tmp_path / "s.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "mot", *args, str(out)], cwd=ROOT, stderr=subprocess.PIPE,
                            text=True)
    records = tmp_path / "s.jsonl.partial/records.jsonl"
    while not (records.exists() and records.read_text().count("\n") >= 1):
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    err = proc.communicate(timeout=60)[1]
    kept = records.read_text().count("\n")
    assert proc.returncode == 1 and 1 <= kept < 7, err
    assert err.splitlines()[-1] == (f"mot: error: teacher 'hf': stopped by SIGTERM (a time limit, a preemption or "
                                    f"scancel): {kept} of 7 prompts are saved in {out}.partial; a rerun resumes them")
    r = run_mot(*args, out)
    assert r.returncode == 0 and f"resuming: {kept} of 7 prompts were sampled by an earlier attempt" in r.stdout + r.stderr
    assert out.read_bytes() == (tmp_path / "full.jsonl").read_bytes()


def test_a_users_own_partial_directory_is_never_deleted(tmp_path, prompts):
    """`<out>.partial` is where mot works; one that mot did not start (no fingerprint in it) is a
    user's, and is refused, not discarded as an earlier attempt's work."""
    out = tmp_path / "s.jsonl"
    mine = tmp_path / "s.jsonl.partial"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    # issue 33, probe 19, case 13: nor is one with a fingerprint.json of the user's (mot's stamp is
    # {"fingerprint": 16 hex digits}, written atomically)
    for stamp in (None, '{"fingerprint": "mine"}', "{}", '{"fingerprint": "0123456789abcdef", "mine": 1}', "[1]"):
        if stamp is not None:
            (mine / "fingerprint.json").write_text(stamp)
        with pytest.raises(MotError, match=r"s\.jsonl\.partial: exists and is not the work of an earlier attempt"):
            gen.generate_samples(str(prompts), SYN, SAMPLING, 0, str(out))
        assert (mine / "notes.txt").read_text() == "mine" and not out.exists()


@pytest.mark.parametrize("same", [True, False], ids=["resumed", "discarded"])
def test_a_users_file_in_a_stopped_jobs_work_is_refused_by_name_not_deleted(tmp_path, prompts, monkeypatch, same):
    """Issue 33, probe 20, case 30: a stopped job's message names `<out>.partial`; a note the user left
    there was deleted by the rerun that resumed the work (or discarded it, with other settings)."""
    out = tmp_path / "s.jsonl"
    interrupt_after_two_chunks(monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        gen.generate_samples(str(prompts), SYN, SAMPLING, 0, str(out))
    note = tmp_path / "s.jsonl.partial" / "NOTE.txt"
    note.write_text("resume tomorrow")
    monkeypatch.undo()
    sampling = SAMPLING if same else {**SAMPLING, "temperature": 0.7}
    with pytest.raises(MotError, match=r"s\.jsonl\.partial/NOTE\.txt: not mot's"):
        gen.generate_samples(str(prompts), SYN, sampling, 0, str(out))
    assert note.read_text() == "resume tomorrow" and not out.exists()
    note.unlink()  # moved away: the rerun resumes (or starts afresh) and removes its work
    gen.generate_samples(str(prompts), SYN, sampling, 0, str(out))
    assert out.is_file() and not (tmp_path / "s.jsonl.partial").exists()


@pytest.mark.parametrize("sampling,pattern", [({"n": 0}, r"--sampling: n = 0"), ({"top_p": 2}, r"--sampling: top_p = 2")])
def test_sampling_out_of_range_is_refused_before_any_sample(tmp_path, prompts, sampling, pattern):
    with pytest.raises(MotError, match=pattern):
        gen.generate_samples(str(prompts), SYN, {**SAMPLING, **sampling}, 0, str(tmp_path / "s.jsonl"))
    assert not (tmp_path / "s.jsonl").exists()


def test_join_samples_names_a_shard_given_twice(tmp_path, prompts):
    """Issue 33, probe 20, case 24: a shard given twice was refused as "out of order or incomplete",
    with the prompts file said to hold 'None'; now said as it is, however the shard is spelt."""
    shard = tmp_path / "s0.jsonl"
    gen.generate_samples(str(prompts), SYN, SAMPLING, 0, str(shard), shard=(0, 2))
    (tmp_path / "d").mkdir()
    for again in (str(shard), str(tmp_path / "d" / ".." / "s0.jsonl")):
        with pytest.raises(MotError, match=r"s0\.jsonl given twice"):
            gen.join_samples(str(prompts), [str(shard), again], str(tmp_path / "j.jsonl"))
        assert not (tmp_path / "j.jsonl").exists()
