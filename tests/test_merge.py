"""The merge engine: exact formulas, streaming I/O, checks that fail cleanly, loadable outputs."""
import json
import re
import shutil

import pytest
import torch
from safetensors.torch import load_file, save_file

from mot.io import MotError, file_xxh3
from mot.merge import METHODS, Checkpoint, merge, outer_step

from conftest import ROOT, run_mot


def make_ckpts(template, tmp_path, n=3, dtype=torch.bfloat16, tie=True, shard=None, prefix="m"):
    """n random checkpoints sharing the template's config and tokenizer."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    cfg = AutoConfig.from_pretrained(template)
    cfg.tie_word_embeddings = tie
    tok = AutoTokenizer.from_pretrained(template)
    paths = []
    for i in range(n):
        torch.manual_seed(100 + i)
        model = AutoModelForCausalLM.from_config(cfg).to(dtype)
        with torch.no_grad():
            for p in model.parameters():
                p.normal_(0, 0.05)
        path = tmp_path / f"{prefix}{i}"
        kwargs = {"max_shard_size": shard} if shard else {}
        model.save_pretrained(path, **kwargs)
        tok.save_pretrained(path)
        paths.append(path)
    return paths


def tensors(path):
    ck = Checkpoint.open(path)
    out = {}
    for f in ck.files:
        out.update(load_file(f))
    return out


def test_uniform_is_the_float32_mean_rounded_to_the_input_dtype_exactly(tiny_model, tmp_path):
    ins = make_ckpts(tiny_model, tmp_path)
    merge([str(p) for p in ins], str(tmp_path / "out"), "uniform")
    got, srcs = tensors(tmp_path / "out"), [tensors(p) for p in ins]
    assert set(got) == set(srcs[0])
    for name, t in got.items():
        expected = ((srcs[0][name].float() + srcs[1][name].float() + srcs[2][name].float()) / 3).to(torch.bfloat16)
        assert t.dtype == torch.bfloat16
        assert torch.equal(t, expected), name


def test_a_merged_model_takes_no_training_state_or_other_weights_from_its_inputs(tiny_model, tmp_path):
    """Under optimizer_state: carry, each branch holds its optimizer.pt (tens of GB on an 8B student):
    none belongs to the merged model, nor would a pickled weights file (not the merge's weights).
    The config, generation config and tokenizer files are the first input's."""
    ins = make_ckpts(tiny_model, tmp_path, n=2)
    for p in ins:
        torch.save({"state": {}}, p / "optimizer.pt")
        (p / "pytorch_model.bin").write_bytes(b"not the merge's weights")
    merge([str(p) for p in ins], str(tmp_path / "out"), "uniform")
    got = {f.name for f in (tmp_path / "out").iterdir()}
    assert not {"optimizer.pt", "pytorch_model.bin"} & got, got
    side = {f.name for f in ins[0].iterdir() if f.suffix in (".json", ".jinja", ".txt") and not f.name.startswith("mot_")}
    assert side <= got and all((tmp_path / "out" / f).read_bytes() == (ins[0] / f).read_bytes() for f in side), side - got


def test_chunked_streaming_gives_the_same_bytes(tiny_model, tmp_path, monkeypatch):
    import mot.merge

    ins = make_ckpts(tiny_model, tmp_path, n=3)
    merge([str(p) for p in ins], str(tmp_path / "whole"), "uniform")
    monkeypatch.setattr(mot.merge, "CHUNK", 7)  # every tensor crosses many slice boundaries
    merge([str(p) for p in ins], str(tmp_path / "sliced"), "uniform")
    assert (tmp_path / "whole/model.safetensors").read_bytes() == (tmp_path / "sliced/model.safetensors").read_bytes()


X = [torch.tensor([1.0, -2.0, 3.0, 0.5]), torch.tensor([3.0, 2.0, -1.0, 0.5]), torch.tensor([2.0, 1.0, 1.0, -4.0])]
B = torch.tensor([1.0, 0.0, 1.0, 0.0])


def test_weighted_and_task_arithmetic_formulas():
    w = [0.5, 0.25, 0.25]
    assert torch.allclose(METHODS["weighted"]([x.clone() for x in X], None, w, {}, "t"),
                          (0.5 * X[0] + 0.25 * X[1] + 0.25 * X[2]) / 1.0)
    assert torch.allclose(METHODS["weighted"](X, None, [1, 1, 2], {"normalize": False}, "t"), X[0] + X[1] + 2 * X[2])
    ta = METHODS["task_arithmetic"](X, B, [1, 1, 1], {"scale": 0.5}, "t")
    assert torch.allclose(ta, B + 0.5 * sum(x - B for x in X))


def test_ties_formula():
    # density 1: no trimming. Deltas: [0,-2,2,.5], [2,2,-2,.5], [1,1,0,-4]
    got = METHODS["ties"](X, B, [1, 1, 1], {"density": 1.0}, "t")
    # elected signs: +3 -> +, +1 -> +, 0 -> 0, -3 -> -
    expected = B + torch.tensor([(2 + 1) / 2, (2 + 1) / 2, 0.0, -4.0])
    assert torch.allclose(got, expected)
    # density 0.5 keeps the 2 largest-magnitude entries of each delta
    got = METHODS["ties"](X, B, [1, 1, 1], {"density": 0.5}, "t")
    # (entries tied with the threshold are kept): [0,-2,2,0], [2,2,-2,0], [1,1,0,-4];
    # signs [+,+,0,-]; disjoint means of the agreeing entries: [1.5, 1.5, 0, -4]
    assert torch.equal(got, B + torch.tensor([1.5, 1.5, 0.0, -4.0]))


def test_dare_is_seeded_and_unbiased():
    big = [torch.randn(20000) for _ in range(2)]
    base = torch.zeros(20000)
    a = METHODS["dare"](big, base, [1, 1], {"density": 0.5, "seed": 3}, "w")
    b = METHODS["dare"](big, base, [1, 1], {"density": 0.5, "seed": 3}, "w")
    c = METHODS["dare"](big, base, [1, 1], {"density": 0.5, "seed": 4}, "w")
    assert torch.equal(a, b) and not torch.equal(a, c)
    # every entry is 0 or twice a delta; half of each delta's entries survive
    for i in range(2):
        single = METHODS["dare"]([big[i]], base, [1], {"density": 0.5, "seed": 3}, "w")
        assert torch.all((single == 0) | torch.isclose(single, 2 * big[i]))
        assert 0.48 < (single != 0).float().mean() < 0.52
    full = METHODS["dare"](big, base, [1, 1], {"density": 1.0}, "w")
    assert torch.allclose(full, big[0] + big[1])


def test_interpolate_formula():
    got = METHODS["interpolate"]([X[0]], B, [1], {"lambda": 0.25}, "t")
    assert torch.allclose(got, 0.25 * B + 0.75 * X[0])


def test_outer_reduces_to_uniform_and_carries_momentum():
    mean = sum(X) / 3
    new, m = outer_step([x.clone() for x in X], B, [1, 1, 1], {"lr": 1.0, "momentum": 0.0}, "t")
    assert m is None and torch.allclose(new, mean)
    g = B - mean
    new, m = outer_step([x.clone() for x in X], B, [1, 1, 1], {"lr": 0.7, "momentum": 0.9}, "t")
    assert torch.allclose(m, g) and torch.allclose(new, B - 0.7 * (g + 0.9 * g))
    prev = torch.ones(4)
    new, m = outer_step([x.clone() for x in X], B, [1, 1, 1], {"lr": 0.7, "momentum": 0.9}, "t", state=prev.clone())
    assert torch.allclose(m, 0.9 * prev + g) and torch.allclose(new, B - 0.7 * (g + 0.9 * (0.9 * prev + g)))


def test_outer_momentum_state_is_saved_and_used_next_round(tiny_model, tmp_path):
    ins = make_ckpts(tiny_model, tmp_path, n=2, dtype=torch.float32)
    p = {"lr": 0.5, "momentum": 0.9}
    merge([str(x) for x in ins], str(tmp_path / "r1"), "outer", base=str(ins[0]), params=p)
    state = load_file(tmp_path / "r1" / "outer_state.safetensors")
    a, b = tensors(ins[0]), tensors(ins[1])
    name = next(iter(a))
    g = a[name] - (a[name] + b[name]) / 2
    assert torch.allclose(state[name], g)
    merge([str(x) for x in ins], str(tmp_path / "r2"), "outer", base=str(ins[0]),
          params={**p, "state": str(tmp_path / "r1")})
    state2 = load_file(tmp_path / "r2" / "outer_state.safetensors")
    assert torch.allclose(state2[name], 0.9 * g + g)


def test_a_stateful_method_is_whole_in_its_registry_entry(tiny_model, tmp_path, monkeypatch):
    """A new stateful method needs only its entry: merge() saves and reads back the state the entry
    declares (its step, when it is carried, its file), with nothing spelled elsewhere."""
    from mot.methods import Method, Param, State

    def step(tensors, base, weights, params, name, state):  # running sum of the branches' means
        mean = sum(t.float() for t in tensors) / len(tensors)
        s = mean if state is None else state.add_(mean)
        return s.clone(), s

    monkeypatch.setitem(METHODS, "running", Method(lambda *a: step(*a, None)[0], needs_base=True,
                                                   params=(Param("on", "boolean", True),),
                                                   state=State(step, lambda p: p.get("on", True), "running_sum")))
    ins = make_ckpts(tiny_model, tmp_path, n=2, dtype=torch.float32)
    merge([str(x) for x in ins], str(tmp_path / "r1"), "running", base=str(ins[0]))
    merge([str(x) for x in ins], str(tmp_path / "r2"), "running", base=str(ins[0]),
          params={"state": str(tmp_path / "r1")})
    a, b = tensors(ins[0]), tensors(ins[1])
    name = next(iter(a))
    assert torch.allclose(load_file(tmp_path / "r2" / "running_sum.safetensors")[name], a[name] + b[name])
    assert torch.allclose(tensors(tmp_path / "r2")[name], a[name] + b[name])
    merge([str(x) for x in ins], str(tmp_path / "r3"), "running", base=str(ins[0]), params={"on": False})
    assert not (tmp_path / "r3" / "running_sum.safetensors").exists()


def test_merged_checkpoint_loads_and_generates(tiny_model, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    ins = make_ckpts(tiny_model, tmp_path, n=2, dtype=torch.float32, tie=True)
    out = tmp_path / "out"
    merge([str(p) for p in ins], str(out), "uniform")
    model = AutoModelForCausalLM.from_pretrained(out)
    assert model.config.tie_word_embeddings
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    tok = AutoTokenizer.from_pretrained(out)
    ids = tok("Compute 2 + 3.", return_tensors="pt")
    gen = model.generate(**ids, max_new_tokens=5, do_sample=False)
    assert gen.shape[1] == ids["input_ids"].shape[1] + 5
    meta = json.loads((out / "mot_merge.json").read_text())
    assert meta["method"] == "uniform"
    assert meta["hash"] == "xxh3_128"
    assert meta["inputs"][0]["files"]["model.safetensors"] == file_xxh3(ins[0] / "model.safetensors")
    assert (out / "config.json").is_file() and (out / "generation_config.json").is_file()


def test_untied_model_keeps_lm_head(tiny_model, tmp_path):
    ins = make_ckpts(tiny_model, tmp_path, n=2, dtype=torch.float32, tie=False)
    merge([str(p) for p in ins], str(tmp_path / "out"), "uniform")
    assert "lm_head.weight" in tensors(tmp_path / "out")


def test_sharded_and_single_file_inputs_and_sharded_output(tiny_model, tmp_path):
    from transformers import AutoModelForCausalLM

    single = make_ckpts(tiny_model, tmp_path, n=2, prefix="s")
    sharded = make_ckpts(tiny_model, tmp_path, n=2, shard="20KB", prefix="h")
    assert (sharded[0] / "model.safetensors.index.json").is_file()
    merge([str(p) for p in single], str(tmp_path / "a"), "uniform")
    merge([str(p) for p in sharded], str(tmp_path / "b"), "uniform", max_shard_bytes=20_000)
    merge([str(single[0]), str(sharded[1])], str(tmp_path / "c"), "uniform")
    a, b = tensors(tmp_path / "a"), tensors(tmp_path / "b")
    assert all(torch.equal(a[k], b[k]) for k in a)
    index = json.loads((tmp_path / "b" / "model.safetensors.index.json").read_text())
    assert len(set(index["weight_map"].values())) > 1
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "b")
    assert model.model.embed_tokens.weight.dtype == torch.bfloat16


def rewrite(path, fn):
    f = path / "model.safetensors"
    t = load_file(f)
    fn(t)
    save_file(t, f, metadata={"format": "pt"})


BAD = [
    ("missing", lambda t: t.pop("model.norm.weight"), r"m1: tensor 'model.norm.weight' of .*m0 is missing"),
    ("shape", lambda t: t.__setitem__("model.norm.weight", torch.zeros(3, dtype=torch.bfloat16)),
     r"m1/model.safetensors: tensor 'model.norm.weight' has shape \[3\]"),
    ("dtype", lambda t: t.__setitem__("model.norm.weight", t["model.norm.weight"].float()),
     r"m1/model.safetensors: tensor 'model.norm.weight' has dtype F32"),
    ("nan", lambda t: t["model.norm.weight"].__setitem__(0, float("nan")),
     r"m1/model.safetensors: tensor 'model.norm.weight' has NaN or Inf values"),
    ("inf", lambda t: t["model.norm.weight"].__setitem__(0, float("inf")),
     r"m1/model.safetensors: tensor 'model.norm.weight' has NaN or Inf values"),
]


@pytest.mark.parametrize("case,fn,pattern", BAD, ids=[b[0] for b in BAD])
def test_bad_inputs_fail_cleanly_with_no_output(tiny_model, tmp_path, case, fn, pattern):
    ins = make_ckpts(tiny_model, tmp_path)
    rewrite(ins[1], fn)
    with pytest.raises(MotError, match=pattern):
        merge([str(p) for p in ins], str(tmp_path / "out"), "uniform")
    assert not (tmp_path / "out").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m0", "m1", "m2"]


def test_nan_hidden_by_dare_is_still_caught(tiny_model, tmp_path):
    ins = make_ckpts(tiny_model, tmp_path, n=2)
    rewrite(ins[1], lambda t: t["model.norm.weight"].__setitem__(0, float("nan")))
    with pytest.raises(MotError, match="has NaN or Inf values"):
        merge([str(p) for p in ins], str(tmp_path / "out"), "dare", base=str(ins[0]), params={"density": 0.01})


def test_config_and_tokenizer_mismatch(tiny_model, tmp_path):
    ins = make_ckpts(tiny_model, tmp_path)
    cfg = json.loads((ins[2] / "config.json").read_text())
    cfg["rope_parameters"]["rope_theta"] = 1234.0
    (ins[2] / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(MotError, match=r"m2/config.json: architecture differs from .*m0: "
                                       r"rope_parameters.rope_theta is 1234.0 here, 10000.0 there"):
        merge([str(p) for p in ins], str(tmp_path / "out"), "uniform")
    shutil.copy(ins[0] / "config.json", ins[2] / "config.json")
    tc = json.loads((ins[1] / "tokenizer_config.json").read_text())
    tc["eos_token"] = "<|endoftext|>"  # a different end of turn: a different tokenizer
    tc["padding_side"] = "left"  # a runtime setting alone would not count
    (ins[1] / "tokenizer_config.json").write_text(json.dumps(tc))
    with pytest.raises(MotError, match=r"m1: tokenizer differs from .*m0: eos_token is '<\|endoftext\|>' here, "
                                       r"'<\|im_end\|>' there"):
        merge([str(p) for p in ins], str(tmp_path / "out"), "uniform")
    assert not (tmp_path / "out").exists()


# Qwen/Qwen3-8B's config and tokenizer files as the hub ships them, shrunk (tests/fixtures/hub/README.md).
HUB_QWEN3 = ROOT / "tests" / "fixtures" / "hub" / "Qwen3-8B-tiny"
# The keys of the hub's Qwen/Qwen3-8B config.json, in its order (transformers 4.51)
HUB_QWEN3_CONFIG_KEYS = [
    "architectures", "attention_bias", "attention_dropout", "bos_token_id", "eos_token_id", "head_dim", "hidden_act",
    "hidden_size", "initializer_range", "intermediate_size", "max_position_embeddings", "max_window_layers",
    "model_type", "num_attention_heads", "num_hidden_layers", "num_key_value_heads", "rms_norm_eps", "rope_scaling",
    "rope_theta", "sliding_window", "tie_word_embeddings", "torch_dtype", "transformers_version", "use_cache",
    "use_sliding_window", "vocab_size"]


@pytest.fixture
def hub_base(tmp_path):
    """(hub, saved): the fixture's files with seeded random bfloat16 weights, as a base model's hub
    snapshot holds them, and what this transformers saves from it (load, save_pretrained: what
    training writes), whose config.json and tokenizer files differ from the hub's."""
    from safetensors.torch import save_file
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    hub = tmp_path / "Qwen3-8B"
    shutil.copytree(HUB_QWEN3, hub, ignore=shutil.ignore_patterns("*.md"))  # what mot.models.local_model fetches
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(hub)).to(torch.bfloat16)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.05)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, hub / "model.safetensors",
              metadata={"format": "pt"})
    saved = tmp_path / "saved"
    AutoModelForCausalLM.from_pretrained(hub).save_pretrained(saved)
    AutoTokenizer.from_pretrained(hub).save_pretrained(saved)
    return hub, saved


def test_the_hub_fixture_keeps_the_hubs_layout(hub_base):
    """What the merge tests below rest on: the fixture is in the hub's layout and a save is not."""
    hub, saved = hub_base
    cfg, new = json.loads((hub / "config.json").read_text()), json.loads((saved / "config.json").read_text())
    assert list(cfg) == HUB_QWEN3_CONFIG_KEYS
    assert "layer_types" in new and "rope_parameters" in new and "rope_theta" not in new
    assert {"vocab.json", "merges.txt", "tokenizer.json"} <= {p.name for p in hub.iterdir()}
    assert not (hub / "chat_template.jinja").exists() and (saved / "chat_template.jinja").is_file()
    tc = json.loads((hub / "tokenizer_config.json").read_text())
    assert tc["chat_template"] == (ROOT / "data/templates/Qwen-Qwen3-0.6B.jinja").read_text()
    assert tc["tokenizer_class"] == "Qwen2Tokenizer" and tc["added_tokens_decoder"]
    assert "chat_template" not in json.loads((saved / "tokenizer_config.json").read_text())


def test_the_probe_merges_a_hub_layout_base_with_a_checkpoint_saved_from_it(hub_base, tmp_path):
    """Issue 31, item 4: Figure 5's probe (rules/merge.smk: interpolate, --base the hub's base) was
    refused, "architecture differs (key 'layer_types')", because the files were compared, not what
    they mean. The same weights in both layouts merge into the same weights, and the output loads."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    hub, saved = hub_base
    out = tmp_path / "probe"
    r = run_mot("merge", "--method", "interpolate", "--base", hub, "--param", "lambda=0.25", "--out", out, saved)
    assert r.returncode == 0, r.stderr
    got, want = tensors(out), tensors(hub)
    assert got.keys() == want.keys() and all(torch.equal(t, want[k]) for k, t in got.items())  # 0.25 x + 0.75 x
    model, tok = AutoModelForCausalLM.from_pretrained(out), AutoTokenizer.from_pretrained(out)
    ids = tok.apply_chat_template([{"role": "user", "content": "2 + 3?"}], add_generation_prompt=True,
                                  return_tensors="pt", return_dict=True)
    assert model.generate(**ids, max_new_tokens=3, do_sample=False).shape[1] == ids["input_ids"].shape[1] + 3
    merge([str(hub), str(saved)], str(tmp_path / "uniform"), "uniform")  # the hub's files as the reference
    AutoModelForCausalLM.from_pretrained(tmp_path / "uniform")
    AutoTokenizer.from_pretrained(tmp_path / "uniform")


def _edit_json(path, fn):
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc, indent=2, ensure_ascii=False))


def _think_special(hub):
    """<think> flagged special in both of the hub's files that list added tokens."""
    def flag(tokens):
        for t in tokens:
            t["special"] = t["special"] or t["content"] == "<think>"
    _edit_json(hub / "tokenizer.json", lambda d: flag(d["added_tokens"]))
    _edit_json(hub / "tokenizer_config.json", lambda d: flag(d["added_tokens_decoder"].values()))


HUB_DIFFERENCES = [  # a real difference, made in the hub's own files, and the one line that names it
    ("rope_theta", lambda hub: _edit_json(hub / "config.json", lambda c: c.update(rope_theta=500000)),
     r"Qwen3-8B/config.json: architecture differs from \S*saved: "
     r"rope_parameters.rope_theta is 500000 here, 1000000 there"),
    ("tie_word_embeddings", lambda hub: _edit_json(hub / "config.json", lambda c: c.update(tie_word_embeddings=True)),
     r"Qwen3-8B/config.json: architecture differs from \S*saved: tie_word_embeddings is True here, False there"),
    ("chat_template", lambda hub: _edit_json(hub / "tokenizer_config.json", lambda c: c.update(  # QwQ's pre-fill
        chat_template=c["chat_template"].replace("assistant\\n' }}", "assistant\\n<think>\\n' }}"))),
     r"Qwen3-8B: tokenizer differs from \S*saved: chat_template differs from character \d+: "),
    ("special_flag", _think_special,
     r"Qwen3-8B: tokenizer differs from \S*saved: added_tokens\['<think>'\].special is True here, False there"),
    ("merges", lambda hub: _edit_json(hub / "tokenizer.json", lambda d: d["model"]["merges"].pop()),
     r"Qwen3-8B: tokenizer differs from \S*saved: model.merges has 250 entries here, 251 there"),
]


@pytest.mark.parametrize("case,edit,pattern", HUB_DIFFERENCES, ids=[c[0] for c in HUB_DIFFERENCES])
def test_a_real_difference_from_a_hub_layout_base_is_still_refused_in_one_line(hub_base, tmp_path, case, edit, pattern):
    hub, saved = hub_base
    edit(hub)
    with pytest.raises(MotError, match=pattern) as e:
        merge([str(saved)], str(tmp_path / "out"), "interpolate", base=str(hub), params={"lambda": 0.5})
    assert "\n" not in str(e.value)
    assert not (tmp_path / "out").exists()


def test_cli(tiny_model, tmp_path):
    ins = make_ckpts(tiny_model, tmp_path, n=2)
    r = run_mot("merge", "--method", "weighted", "--weights", "3,1", "--out", tmp_path / "out", *ins)
    assert r.returncode == 0, r.stderr
    a, b, got = tensors(ins[0]), tensors(ins[1]), tensors(tmp_path / "out")
    k = "model.norm.weight"
    assert torch.equal(got[k], ((a[k].float() * 3 + b[k].float()) / 4).to(torch.bfloat16))
    r = run_mot("merge", "--method", "ties", "--out", tmp_path / "x", *ins)
    assert r.returncode == 1 and r.stderr.strip() == "mot: error: merge method 'ties' needs --base"
    r = run_mot("merge", "--method", "interpolate", "--base", ins[0], "--param", "lambda=0.3",
                "--out", tmp_path / "i", ins[1])
    assert r.returncode == 0, r.stderr


def truncate(n):
    def fn(f):
        data = f.read_bytes()
        f.write_bytes(data[:-n])
    return fn


CORRUPT = [  # issue 9: each used to surface as an exception that named no file
    ("truncated_half", lambda f: f.write_bytes(f.read_bytes()[: f.stat().st_size // 2]), r"m1/model.safetensors: truncated"),
    ("truncated_16", truncate(16), r"m1/model.safetensors: truncated \(\d+ bytes, its header needs \d+\)"),
    ("random_bytes", lambda f: f.write_bytes(bytes(range(256)) * 64), r"m1/model.safetensors: not a safetensors file"),
    ("tiny", lambda f: f.write_bytes(b"abc"), r"m1/model.safetensors: not a safetensors file \(only 3 bytes"),
]


@pytest.mark.parametrize("case,fn,pattern", CORRUPT, ids=[c[0] for c in CORRUPT])
def test_corrupt_inputs_are_named_in_one_line(tiny_model, tmp_path, case, fn, pattern):
    ins = make_ckpts(tiny_model, tmp_path, n=2)
    fn(ins[1] / "model.safetensors")
    r = run_mot("merge", "--method", "uniform", "--out", tmp_path / "out", *ins)
    assert r.returncode == 1 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert re.search(pattern, r.stderr), r.stderr
    assert not (tmp_path / "out").exists()


def test_a_failed_write_is_reported_not_masked(tiny_model, tmp_path, monkeypatch):
    """A failure inside the merge loop used to be hidden by ShardWriter.close() in a `finally`."""
    import mot.merge as m

    ins = make_ckpts(tiny_model, tmp_path, n=2)

    def boom(*a, **k):
        raise MotError("the real error")

    monkeypatch.setattr(m, "outer_step", boom)
    monkeypatch.setitem(m.METHODS, "uniform", m.Method(boom))
    with pytest.raises(MotError, match="the real error"):
        merge([str(p) for p in ins], str(tmp_path / "out"), "uniform")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("method,weights,params,pattern", [
    ("weighted", [1.0, -1.0], {}, "--weights sum to 0"),
    ("dare", None, {"density": 0}, r"merge method 'dare': --param density must be in \(0, 1\], got 0"),
    ("ties", None, {"density": 1.5}, r"merge method 'ties': --param density must be in \(0, 1\], got 1.5"),
    # weights that the method would record and ignore (the paper's uniform mean reads none)
    ("uniform", [2.0, 1.0], {}, r"merge method 'uniform' does not use --weights \(methods that do: weighted, "
                                r"task_arithmetic, ties, dare\)"),
    ("outer", [2.0, 1.0], {}, "merge method 'outer' does not use --weights"),
    # tenth probe, case 19: a scale of 1e39 overflowed float32 in the first merge, after a round's training
    ("ties", None, {"scale": 1e39}, r"merge method 'ties': --param scale must be in \[-10, 10\], got 1e\+39"),
    ("task_arithmetic", None, {"scale": -11}, r"--param scale must be in \[-10, 10\], got -11"),
    ("outer", None, {"lr": 1e30}, r"merge method 'outer': --param lr must be in \(0, 10\], got 1e\+30"),
])
def test_degenerate_method_parameters_fail_before_merging(tiny_model, tmp_path, method, weights, params, pattern):
    ins = make_ckpts(tiny_model, tmp_path, n=2)
    with pytest.raises(MotError, match=pattern):
        merge([str(p) for p in ins], str(tmp_path / "out"), method, weights, base=str(ins[0]), params=params)
    assert not (tmp_path / "out").exists()


def test_out_never_replaces_an_input_or_a_foreign_directory(tiny_model, tmp_path):
    ins = make_ckpts(tiny_model, tmp_path, n=2)
    before = (ins[0] / "model.safetensors").read_bytes()
    r = run_mot("merge", "--method", "uniform", "--out", ins[0], *ins)
    assert r.returncode == 1 and "would replace the input" in r.stderr
    assert (ins[0] / "model.safetensors").read_bytes() == before
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    r = run_mot("merge", "--method", "uniform", "--out", tmp_path / "mine", *ins)
    assert r.returncode == 1 and "an existing directory that mot did not write" in r.stderr
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    r = run_mot("merge", "--method", "uniform", "--force", "--out", tmp_path / "mine", *ins)
    assert r.returncode == 0 and not (tmp_path / "mine" / "notes.txt").exists()
    r = run_mot("merge", "--method", "uniform", "--out", tmp_path / "mine", *ins)  # its own output
    assert r.returncode == 0, r.stderr


def test_outputs_follow_the_users_umask(tiny_model, tmp_path):
    import os
    import stat

    ins = make_ckpts(tiny_model, tmp_path, n=2)
    old = os.umask(0o022)
    try:
        merge([str(p) for p in ins], str(tmp_path / "out"), "uniform")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "out" / "mot_merge.json").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "out" / "model.safetensors").stat().st_mode) == 0o644


def test_the_config_schema_offers_exactly_the_registered_round_merges():
    """The config schema's mot.merge_method lists every method that can merge a round's K branches."""
    from mot.config import load_schema

    schema = load_schema(ROOT / "config" / "schema.yaml")
    enum = schema["properties"]["mot"]["properties"]["merge_method"]["enum"]
    assert sorted(enum) == sorted(n for n, m in METHODS.items() if m.max_inputs is None)
    assert all(METHODS[n].needs_base for n in ("task_arithmetic", "ties", "dare", "outer", "interpolate"))
    assert not METHODS["uniform"].needs_base and METHODS["outer"].stateful


def test_a_new_merge_method_is_one_registry_entry_and_its_parameters_are_checked(monkeypatch, tiny_model, tmp_path):
    """A method declared in mot.methods (docs/extending.md's worked example) is offered by the config schema and
    `mot merge --help`, validated with its own parameters (type, range, required), and merges;
    a parameter that a method does not declare is refused by the config check and by `mot merge`."""
    import yaml

    from mot.config import validate_config
    from mot.methods import Param, method, methods_help

    monkeypatch.setitem(METHODS, "_probe", METHODS["uniform"])  # a place the registry restores
    @method("_probe", params=(Param("power", "number", 1.0, exclusive_minimum=0, description="p of the p-mean."),))
    def power_mean(tensors, base, weights, params, name):
        p = params.get("power", 1.0)
        return sum(t.float().abs() ** p for t in tensors).div(len(tensors)) ** (1 / p)

    assert "_probe (power=1.0)" in methods_help()
    config = yaml.safe_load((ROOT / "config" / "test.yaml").read_text())
    config["mot"].update(merge_method="_probe", merge_params={"power": 2.0})
    validate_config(config, ROOT / "config" / "schema.yaml")
    for params, error in (({"power": 0}, r"mot\.merge_params\.power: 0 is less than or equal to the minimum of 0"),
                          ({"density": 0.5}, r"mot\.merge_params: merge method '_probe' does not take 'density' \(it takes: power\)")):
        config["mot"]["merge_params"] = params
        with pytest.raises(MotError, match=error):
            validate_config(config, ROOT / "config" / "schema.yaml")
    ins = [str(p) for p in make_ckpts(tiny_model, tmp_path, n=2)]
    merge(ins, str(tmp_path / "m"), "_probe", None, None, {"power": 2.0})
    got, srcs = tensors(tmp_path / "m"), [tensors(p) for p in ins]
    for name, t in got.items():
        if t.is_floating_point():
            expected = ((srcs[0][name].float() ** 2 + srcs[1][name].float() ** 2) / 2) ** 0.5
            assert torch.equal(t, expected.to(t.dtype)), name
    with pytest.raises(MotError, match=r"merge method 'uniform' does not take 'density' \(it takes: none\)"):
        merge(ins, str(tmp_path / "u"), "uniform", None, None, {"density": 0.5})


def test_a_full_disk_is_one_line_and_publishes_nothing(tiny_model, tmp_path):
    """A merge onto a full file system (a real 32 KiB tmpfs, as root) stops with one line that says
    so and names the output; no output directory and no temporary sibling is left behind."""
    import os
    import subprocess

    if os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("CI runs as root: a tmpfs can be mounted")
        pytest.skip("mounting a tmpfs needs root")
    ins = make_ckpts(tiny_model, tmp_path, n=2)
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32k", "tmpfs", str(disk)], check=True)
    try:
        log = tmp_path / "merge.log"
        r = run_mot("--log", log, "merge", "--method", "uniform", *ins, "--out", disk / "merged")
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 1 and len(lines) == 1, r.stderr[-3000:]
        assert lines[0].startswith("mot: error: no space left on the device") and f"writing {disk / 'merged'}" in lines[0]
        assert "Traceback" in log.read_text() and os.listdir(disk) == []
    finally:
        subprocess.run(["umount", str(disk)], check=True)


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
def test_a_stopped_merge_leaves_no_temporary_directory_or_lock(tiny_model, tmp_path, signame):
    """SIGTERM (Snakemake cancelling the job, SLURM's time limit) or SIGINT (Ctrl-C: a traceback, issue
    33's fourth probe, case 4) while a merge writes: one line, exit 128 + the signal, and nothing of it
    beside the output: no `.out.mot-tmp-*` (model-sized) and no `.out.lock`."""
    import signal
    import subprocess
    import sys
    import time

    ins = make_ckpts(tiny_model, tmp_path, n=2)
    for p in ins:  # a merge long enough to be stopped while it writes (2 x 120 MB)
        tensors_ = load_file(p / "model.safetensors")
        tensors_["extra.weight"] = torch.randn(30_000_000, dtype=torch.float32)
        save_file(tensors_, p / "model.safetensors", metadata={"format": "pt"})
    out = tmp_path / "out"
    # SIGINT as a terminal's Ctrl-C has it (a process started in the background inherits it ignored,
    # and mot keeps it so: pytest-xdist's workers, nohup)
    # -X faulthandler: should it hang (CI on e086c32), SIGABRT prints where each thread waits
    proc = subprocess.Popen([sys.executable, "-X", "faulthandler", "-m", "mot", "merge", "--method", "uniform",
                             "--out", str(out), *map(str, ins)], cwd=ROOT, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    while not list(tmp_path.glob(".out.mot-tmp-*")):
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.005)
    sig = getattr(signal, signame)
    # frozen first, so that the signal comes before the end of a merge this fast (0.5 s of 2 x 120 MB)
    proc.send_signal(signal.SIGSTOP)
    proc.send_signal(sig)
    proc.send_signal(signal.SIGCONT)
    try:
        err = proc.communicate(timeout=60)[1]
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        pytest.fail(f"not ended 60 s after {signame}; its threads:\n{proc.communicate()[1][-8000:]}")
    assert proc.returncode == 128 + sig, err
    assert err.splitlines()[-1].startswith(f"mot: error: stopped by {signame}") and "Traceback" not in err, err
    assert not out.exists() and not [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def test_a_command_leaves_no_stop_handler_and_no_tqdm_monitor_behind(tiny_model, tmp_path):
    """CI on e086c32: a merge stopped by SIGINT as it began had not ended 60 s later. Two ways a stop
    could hang or misreport, both closed: (1) tqdm's monitor thread: a Stopped raised while a bar
    draws leaves the bar's lock taken, and the bar's close (or the exit) joins a monitor that waits on
    it for ever (tqdm/tqdm#1751); mot's processes run without the monitor. (2) mot's stop handler was
    still set after the command ended, so a signal in the interpreter's exit raised into an atexit
    callback (a traceback and exit 0). main() in a process of its own: the handlers it found are back
    once it returns (as the program, SIGINT's is the system's)."""
    import subprocess
    import sys

    ins = make_ckpts(tiny_model, tmp_path, n=2)
    code = ("import signal, sys, threading, tqdm\n"
            "from mot.cli import main\n"
            "sigs = (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)\n"
            "found = [signal.getsignal(s) for s in sigs]  # SIGINT ignored in a background job (CI)\n"
            "rc = main(sys.argv[1:])\n"
            "print(rc, [signal.getsignal(s) for s in sigs] == found,\n"
            "      tqdm.tqdm.monitor_interval, [t.name for t in threading.enumerate()])")
    r = subprocess.run([sys.executable, "-c", code, "merge", "--method", "uniform", "--out", str(tmp_path / "out"),
                        *map(str, ins)], cwd=ROOT, capture_output=True, text=True)
    assert r.stdout.splitlines()[-1] == "0 True 0 ['MainThread']", (r.stdout, r.stderr)


SWALLOWED_STOP = """
import os, signal, sys
import mot.merge as m
reader = m.Reader
def reader_after_a_stop(*a, **k):  # as an import inside a library that takes every exception
    try:
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(10000):
            pass
    except BaseException:
        pass
    return reader(*a, **k)
m.Reader = reader_after_a_stop
from mot.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_stop_that_a_library_swallows_still_stops_the_command(tiny_model, tmp_path):
    """Issue 33, probe 16, case F1: SIGTERM or Ctrl-C while torch or numpy was being imported was taken
    by the import (it catches everything): the merge went on, exit 0, its output published; or it
    failed as a "bug" of a half-imported module. What publishes an output asks whether a stop came
    (mot.process.stopped_by), and the command's end reports it: exit 143, one line, nothing published."""
    import subprocess
    import sys

    ins = make_ckpts(tiny_model, tmp_path, n=2)
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-c", SWALLOWED_STOP, "merge", "--method", "uniform", "--out", str(out),
                        *map(str, ins)], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 143, r.stderr
    assert r.stderr.splitlines()[-1].startswith("mot: error: stopped by SIGTERM") and "Traceback" not in r.stderr
    assert not out.exists() and not [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def test_a_ctrl_c_while_the_arguments_are_read_is_one_line(tmp_path):
    """Issue 33, probe 16, case F5: a Ctrl-C before the command began (its arguments parsed, its spec's
    help built) was a KeyboardInterrupt traceback; the stop handlers are set first."""
    import signal
    import subprocess
    import sys

    code = ("import os, signal, sys\n"
            "import mot.cli as c\n"
            "parser = c.parser\n"
            "def interrupted():\n"
            "    os.kill(os.getpid(), signal.SIGINT)\n"
            "    return parser()\n"
            "c.parser = interrupted\n"
            "sys.exit(c.main(sys.argv[1:]))\n")
    r = subprocess.run([sys.executable, "-c", code, "merge", "--method", "uniform", "--out", str(tmp_path / "o"),
                        str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                       preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert r.returncode == 130, r.stderr
    assert r.stderr == "mot: error: stopped by SIGINT before the command began; nothing was written\n"


def test_a_file_of_the_users_in_an_output_is_not_replaced_unasked(tiny_model, tmp_path):
    """Issue 33, probe 16, case F7: `echo notes > m1/NOTES.md`, then the merge rerun into m1: exit 0 and
    NOTES.md gone. An output's MARKER lists the files it was published with; one that appeared since is
    the user's: the rerun is refused, naming it, and --force replaces it. So is an output that another
    command wrote inside it since (case F2: a merge into a train's output, which the train's rerun
    deleted), which --force does not replace either."""
    from conftest import run_mot

    ins = make_ckpts(tiny_model, tmp_path, n=2)
    out = tmp_path / "merged"
    merge = ["merge", "--method", "uniform", "--out", out, *ins]
    assert run_mot(*merge).returncode == 0
    assert run_mot(*merge).returncode == 0  # its own files: replaced
    (out / "sub").mkdir()
    (out / "sub" / "NOTES.md").write_text("notes")
    r = run_mot(*merge)
    assert r.returncode == 1 and "holds sub/NOTES.md, which mot did not write there" in r.stderr, r.stderr
    assert (out / "sub" / "NOTES.md").read_text() == "notes"
    assert run_mot(*merge, "--force").returncode == 0 and not (out / "sub").exists()
    inner = ["merge", "--method", "uniform", "--out", out / "inner", *ins]
    assert run_mot(*inner).returncode == 0
    r = run_mot(*merge)
    assert r.returncode == 1 and "holds inner/, written there since by `mot " in r.stderr, r.stderr
    r = run_mot(*merge, "--force")
    assert r.returncode == 1 and "which --force does not replace" in r.stderr, r.stderr
    assert (out / "inner" / "model.safetensors").is_file()


def test_a_link_or_an_empty_directory_of_the_users_in_an_output_is_not_replaced_unasked(tiny_model, tmp_path):
    """Issue 33, probe 17, case 15: a symbolic link to a directory of the user's (`ln -s ../mydata
    merged/mydata`), or an empty directory, put into a merge's output: the rerun exited 0 and both
    were gone (the MARKER's list held files only). Each is refused, named; --force replaces them (the
    link, never what it leads to)."""
    from conftest import run_mot

    ins = make_ckpts(tiny_model, tmp_path, n=2)
    out, mine = tmp_path / "merged", tmp_path / "mydata"
    merge = ["merge", "--method", "uniform", "--out", out, *ins]
    assert run_mot(*merge).returncode == 0
    mine.mkdir()
    (mine / "keep.txt").write_text("mine")
    (out / "mydata").symlink_to(mine)
    r = run_mot(*merge)
    assert r.returncode == 1 and "holds mydata, which mot did not write there" in r.stderr, r.stderr
    (out / "mydata").unlink()
    (out / "empty").mkdir()
    r = run_mot(*merge)
    assert r.returncode == 1 and "holds empty/, which mot did not write there" in r.stderr, r.stderr
    (out / "mydata").symlink_to(mine)
    assert run_mot(*merge, "--force").returncode == 0
    assert not (out / "mydata").exists() and not (out / "empty").exists() and (mine / "keep.txt").read_text() == "mine"
    assert run_mot(*merge).returncode == 0  # its own output again


def test_a_full_disk_is_named_as_the_machines_not_as_a_bug(tiny_model, tmp_path):
    """A write that the machine refuses inside a library's own writer (safetensors raises
    "I/O error: File too large (os error 27)", no OSError and no path) is one line that names the
    output being written and that nothing was published there, not a "bug"; no temporary output is
    left. A file size limit (RLIMIT_FSIZE, SIGXFSZ ignored) makes the library's write fail (the tmpfs
    test above fills the disk in a write of mot's own)."""
    import resource
    import signal
    import subprocess
    import sys

    ins = make_ckpts(tiny_model, tmp_path, n=2, dtype=torch.float32)
    out = tmp_path / "out"

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    log = tmp_path / "merge.log"  # as the rules run it: the traceback goes to the log
    r = subprocess.run([sys.executable, "-m", "mot", "--log", str(log), "merge", "--method", "uniform", "--out", str(out),
                        *map(str, ins)], cwd=ROOT, capture_output=True, text=True, preexec_fn=limit)
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("mot: error: file too large (a file size limit)") and f"(writing {out})" in r.stderr, r.stderr
    assert "nothing was published there" in r.stderr
    assert not out.exists() and not [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.")]


def test_the_finiteness_check_is_exact():
    """all_finite takes the float32 sum first (no mask): a sum that overflows on finite values falls
    back to the element check, so the answer is exactly torch.isfinite(x).all()'s."""
    from mot.merge import all_finite

    big = torch.full((8,), 3e38)  # finite, its sum is not
    assert all_finite(big) and all_finite(torch.randn(1000).to(torch.bfloat16))
    for bad in (float("nan"), float("inf"), -float("inf")):
        x = torch.randn(1000)
        x[17] = bad
        assert not all_finite(x) and not all_finite(x.to(torch.bfloat16))
    x = torch.zeros(4)
    x[0], x[1] = float("inf"), -float("inf")  # their sum is NaN, not a finite 0
    assert not all_finite(x)
