"""The paper's run rehearsed on CPU: tiny models of its real architectures, in the hub's layout.

    snakemake --cores 2 all_analyses --configfile config/paper.yaml config/rehearsal.yaml
    mot rehearsal model --model Qwen/Qwen3-30B-A3B --prompts results/prompts/boba.jsonl ... \
        --out results/rehearsal/models/tiny-Qwen3-30B-A3B

config/rehearsal.yaml changes only sizes, model paths, data paths, GPU and process counts and
engine memory over config/paper.yaml; everything else runs as on the cluster: vLLM sampling from
each teacher's architecture, accelerate with FSDP on two processes, per-branch MoT rounds, merges of
MoE checkpoints, lm-eval with think_end_token, the probe against a base in the hub's layout.

Each model here is the paper model's architecture shrunk (the config.json keys of its hub release,
in its order, with small sizes but the real attention and routing shapes: head_dim 128; 128 experts,
8 per token for Qwen3-MoE; DeepSeek-R1's MLA of 512 + 64 and its 256 experts in 8 groups), with its
real chat template and special tokens, saved as the hub ships it (an older transformers' config
keys, the tokenizer's files and template inline, bf16 weights). DeepSeek-R1 ships FP8 weights
(`quantization_config`), which vLLM runs on CPU only with AMX tiles: the tiny R1 is bf16 and has no
quantization_config (its one departure from the release). The vocabulary is the project's tiny BPE,
with each family's special tokens at their places.

A random model answers nothing right, and a teacher that is never right leaves an empty corpus that
stops the run. So each model is imprinted after its random initialisation: a short SFT (`imprint`) on
the rehearsal's own prompts with their reference answers, in the model's own chat template, until
it writes every answer. It knows the answers; it learns nothing else.

The imprints take about 9 minutes on 2 cores, so the repository ships the built models under
data/rehearsal/models/, each named by `shipped_key` (a hash of what shapes its weights: the model, the seed,
the contents of its template, tokenizer and prompts, and the code that builds it). A build whose
key has a shipped copy takes that copy; any other builds (and says where to put the result to ship
it). Without data/rehearsal/models/, the rule builds them all.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from .io import MotError, atomic_path, write_jsonl

from .readers import iter_jsonl, read_jsonl

TEMPLATES = Path(__file__).resolve().parents[2] / "data" / "templates"
SHIPPED = Path(__file__).resolve().parents[2] / "data" / "rehearsal" / "models"  # the built models, as shipped
QWEN3, QWQ, R1 = "Qwen-Qwen3-0.6B.jinja", "Qwen-QwQ-32B.jinja", "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja"

# The Qwen2 tokenizer family's added tokens (Qwen2.5, QwQ, Qwen3), in the hub's order and with its
# special flags: <think> and </think> are plain added tokens.
QWEN_ADDED = [(t, True) for t in (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
    "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
    "<|image_pad|>", "<|video_pad|>")] + [(t, False) for t in (
        "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
        "<|repo_name|>", "<|file_sep|>", "<tool_response>", "</tool_response>", "<think>", "</think>")]
DEEPSEEK_ADDED = [(t, False) for t in ("<think>", "</think>", "<｜User｜>", "<｜Assistant｜>")]

# Each model's hub config.json, key for key in the release's order, with tiny sizes ({v}: the vocabulary,
# {bos}/{eos}: its token ids). Attention keeps the real head_dim (vLLM's CPU kernels take 32..512) and 8
# heads, so a GPU rehearsal may keep the paper's tensor parallel 8 (one KV head, replicated); except
# QwQ's (Qwen2 has no head_dim key: it is hidden / heads), which is 32 (hidden 256): the real 128 needs a
# hidden size of 1024, whose imprint took ten times any other model's (21 of the rehearsal's 27 minutes
# on two cores). An MoE keeps the real experts and routing; 64 is the smallest hidden size the CPU MoE
# kernel takes.
_QWEN3 = dict(architectures=["Qwen3ForCausalLM"], attention_bias=False, attention_dropout=0.0, bos_token_id="{bos}",
              eos_token_id="{eos}", head_dim=128, hidden_act="silu", hidden_size=64, initializer_range=0.02,
              intermediate_size=128, max_position_embeddings=40960, max_window_layers=2, model_type="qwen3",
              num_attention_heads=8, num_hidden_layers=2, num_key_value_heads=1, rms_norm_eps=1e-06,
              rope_scaling=None, rope_theta=1000000, sliding_window=None, tie_word_embeddings=False,
              torch_dtype="bfloat16", transformers_version="4.51.0", use_cache=True, use_sliding_window=False,
              vocab_size="{v}")
_QWEN3_MOE = dict(architectures=["Qwen3MoeForCausalLM"], attention_bias=False, attention_dropout=0.0,
                  bos_token_id="{bos}", decoder_sparse_step=1, eos_token_id="{eos}", head_dim=128, hidden_act="silu",
                  hidden_size=64, initializer_range=0.02, intermediate_size=128, max_position_embeddings=40960,
                  max_window_layers=2, mlp_only_layers=[], model_type="qwen3_moe", moe_intermediate_size=32,
                  norm_topk_prob=True, num_attention_heads=8, num_experts=128, num_experts_per_tok=8,
                  num_hidden_layers=2, num_key_value_heads=1, output_router_logits=False, rms_norm_eps=1e-06,
                  rope_scaling=None, rope_theta=1000000.0, router_aux_loss_coef=0.001, sliding_window=None,
                  tie_word_embeddings=False, torch_dtype="bfloat16", transformers_version="4.51.0", use_cache=True,
                  use_sliding_window=False, vocab_size="{v}")
_QWQ = dict(architectures=["Qwen2ForCausalLM"], attention_dropout=0.0, bos_token_id="{bos}", eos_token_id="{eos}",
            hidden_act="silu", hidden_size=256, initializer_range=0.02, intermediate_size=128,
            max_position_embeddings=40960, max_window_layers=2, model_type="qwen2", num_attention_heads=8,
            num_hidden_layers=2, num_key_value_heads=1, rms_norm_eps=1e-05, rope_theta=1000000.0, sliding_window=32768,
            tie_word_embeddings=False, torch_dtype="bfloat16", transformers_version="4.43.1", use_cache=True,
            use_sliding_window=False, vocab_size="{v}")
_R1 = dict(architectures=["DeepseekV3ForCausalLM"], attention_bias=False, attention_dropout=0.0,
           auto_map={"AutoConfig": "configuration_deepseek.DeepseekV3Config",
                     "AutoModel": "modeling_deepseek.DeepseekV3Model",
                     "AutoModelForCausalLM": "modeling_deepseek.DeepseekV3ForCausalLM"},
           aux_loss_alpha=0.001, bos_token_id="{bos}", eos_token_id="{eos}", ep_size=1, first_k_dense_replace=1,
           hidden_act="silu", hidden_size=64, initializer_range=0.02, intermediate_size=128, kv_lora_rank=512,
           max_position_embeddings=163840, model_type="deepseek_v3", moe_intermediate_size=32, moe_layer_freq=1,
           n_group=8, n_routed_experts=256, n_shared_experts=1, norm_topk_prob=True, num_attention_heads=8,
           num_experts_per_tok=8, num_hidden_layers=2, num_key_value_heads=8, num_nextn_predict_layers=1,
           q_lora_rank=32, qk_nope_head_dim=32, qk_rope_head_dim=64, rms_norm_eps=1e-06,
           rope_scaling={"beta_fast": 32, "beta_slow": 1, "factor": 40, "mscale": 1.0, "mscale_all_dim": 1.0,
                         "original_max_position_embeddings": 4096, "type": "yarn"},
           rope_theta=10000, routed_scaling_factor=2.5, scoring_func="sigmoid", seq_aux=True, tie_word_embeddings=False,
           topk_group=4, topk_method="noaux_tc", torch_dtype="bfloat16", transformers_version="4.46.3", use_cache=True,
           v_head_dim=32, vocab_size="{v}")

# The paper's models (config/paper.yaml), by hub id: its config, its template, its tokenizer family.
MODELS = {
    "Qwen/Qwen3-8B": (_QWEN3, QWEN3, "qwen"),
    "Qwen/Qwen3-14B": (_QWEN3, QWEN3, "qwen"),
    "Qwen/Qwen3-32B": (_QWEN3, QWEN3, "qwen"),
    "Qwen/Qwen3-30B-A3B": (_QWEN3_MOE, QWEN3, "qwen"),
    "Qwen/Qwen3-235B-A22B": (_QWEN3_MOE, QWEN3, "qwen"),
    "Qwen/QwQ-32B": (_QWQ, QWQ, "qwen"),
    "deepseek-ai/DeepSeek-R1": (_R1, R1, "deepseek"),
}
PREFIX = "tiny-"  # results/rehearsal/models/tiny-<name>: not the real model's name (mot.memory's figures)


def hub_id(name: str) -> str:
    """The paper model a rehearsal model directory (tiny-<name>) stands for."""
    found = [m for m in MODELS if m.split("/")[1] == name.removeprefix(PREFIX)]
    if not name.startswith(PREFIX) or not found:
        raise MotError(f"{name}: not a rehearsal model (tiny-<name> of {', '.join(m.split('/')[1] for m in MODELS)})")
    return found[0]


def write_hub_files(model: str, out: Path) -> None:
    """config.json, generation_config.json and the tokenizer's files of `model`, shrunk, in the hub's layout."""
    from .hub import hub_json, write_deepseek_tokenizer, write_qwen2_tokenizer

    config, template, family = MODELS[model]
    src = json.loads(_tiny_tokenizer().read_text())
    specials = {t["content"] for t in src["added_tokens"]}
    vocab = [w for w, _ in sorted(src["model"]["vocab"].items(), key=lambda kv: kv[1]) if w not in specials]
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in src["model"]["merges"]]
    chat = (TEMPLATES / template).read_text(encoding="utf-8")
    if family == "qwen":
        write_qwen2_tokenizer(out, vocab, merges, QWEN_ADDED, chat, eos="<|im_end|>", pad="<|endoftext|>",
                              additional_special=[t for t, _ in QWEN_ADDED[1:14]], model_max_length=131072)
        bos, eos, size = len(vocab), len(vocab) + 2, len(vocab) + len(QWEN_ADDED)  # <|endoftext|>, <|im_end|>
        generation = {"bos_token_id": bos, "do_sample": True, "eos_token_id": [eos, bos], "pad_token_id": bos,
                      "temperature": 0.6, "top_k": 20, "top_p": 0.95, "transformers_version": "4.51.0"}
    else:
        write_deepseek_tokenizer(out, vocab, merges, DEEPSEEK_ADDED, chat, model_max_length=16384)
        bos, eos, size = 0, 1, 3 + len(vocab) + len(DEEPSEEK_ADDED)
        generation = {"_from_model_config": True, "bos_token_id": bos, "eos_token_id": eos, "do_sample": True,
                      "temperature": 0.6, "top_p": 0.95, "transformers_version": "4.46.3"}
    fill = {"{v}": size, "{bos}": bos, "{eos}": eos}
    (out / "config.json").write_text(json.dumps({k: fill.get(v, v) if isinstance(v, str) else v
                                                 for k, v in config.items()}, indent=2) + "\n")
    (out / "generation_config.json").write_text(hub_json(generation))


def data_files(model: str | None = None) -> list[Path]:
    """What building a rehearsal model reads besides its prompts: the chat template of `model` (None:
    the templates' directory) and the tiny tokenizer (its rule's inputs; no output may be or replace
    them, or lie in the templates' directory)."""
    templates = [TEMPLATES / MODELS[model][1]] if model else [TEMPLATES]
    try:
        return [*templates, _tiny_tokenizer()]
    except MotError:
        return templates


def implicit_inputs(args) -> list[Path]:
    """What `mot rehearsal` reads that no argument names (mot.placement.IMPLICIT): every template, the
    tiny tokenizer and the shipped models."""
    return [*data_files(), *([SHIPPED] if SHIPPED.is_dir() else [])]


def _tiny_tokenizer() -> Path:
    """The project's tiny byte-level BPE (the shipped synthetic base's tokenizer)."""
    found = sorted((Path(__file__).resolve().parents[2] / "data" / "bases").glob("*/tokenizer.json"))
    if not found:
        raise MotError("data/bases/: no shipped tokenizer to build the rehearsal's vocabulary from")
    return found[0]


def imprint_corpus(prompts: list[str], out: Path) -> list[dict]:
    """The rehearsal's prompts with their reference answers, as traces: what each model is imprinted with."""
    rows = [r for p in prompts for r in read_jsonl(p, required=("id", "prompt", "answer"))]
    if not rows:
        raise MotError(f"{', '.join(prompts)}: no prompts to imprint the rehearsal's models with")
    write_jsonl(out, ({"id": r["id"], "prompt": r["prompt"],
                       "response": f"<think>\nThe answer is {r['answer']}.\n</think>\n\n\\boxed{{{r['answer']}}}"}
                      for r in rows))
    return rows


def make(model: str, prompts: list[str], out: str, seed: int = 0, steps: int = 150) -> dict:
    """`mot rehearsal model`: the shipped copy of the model that `build` makes of these inputs, or,
    without one, `build`'s."""
    if model not in MODELS:
        raise MotError(f"--model {model}: not one of the paper's models ({', '.join(MODELS)})")
    shipped = SHIPPED / f"{model.split('/')[-1]}-{shipped_key(model, prompts, seed, steps)}"
    if not (shipped / "model.safetensors").is_file():
        print(f"{model}: no shipped copy {shipped.relative_to(SHIPPED.parents[1])}: building it (to ship it, "
              f"copy {out} there)")
        return build(model, prompts, out, seed, steps)
    with atomic_path(out, is_dir=True) as final:  # what build made of these inputs: its weights
        for f in sorted(shipped.iterdir()):
            if f.is_file() and not f.name.startswith("."):  # (a MARKER, Snakemake's timestamp)
                shutil.copy2(f, Path(final) / f.name)
    return {"model": model, "out": out, "shipped": str(shipped)}


def build(model: str, prompts: list[str], out: str, seed: int = 0, steps: int = 150) -> dict:
    """A tiny `model` (a hub id of MODELS) in the hub's layout at `out`: random weights, imprinted with
    the answers of `prompts` (imprint: at most `steps` steps of SFT in its own template), saved in bf16."""
    import torch
    from safetensors.torch import load_file, save_file
    from transformers import AutoConfig, AutoModelForCausalLM

    from .models import load_tokenizer

    if model not in MODELS:
        raise MotError(f"--model {model}: not one of the paper's models ({', '.join(MODELS)})")
    with tempfile.TemporaryDirectory(prefix="mot-rehearsal-") as tmp, atomic_path(out, is_dir=True) as final:
        tmp, final = Path(tmp), Path(final)
        write_hub_files(model, final)
        rows = imprint_corpus(prompts, tmp / "corpus.jsonl")
        torch.manual_seed(seed)
        net = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(final), dtype=torch.float32)
        took = imprint(net, load_tokenizer(str(final)), str(tmp / "corpus.jsonl"), steps)
        net.save_pretrained(tmp / "imprinted")  # the hub's tensor names (transformers fuses experts in memory)
        weights = load_file(str(tmp / "imprinted" / "model.safetensors"))
        save_file({k: v.to(torch.bfloat16).contiguous() for k, v in weights.items()}, str(final / "model.safetensors"),
                  metadata={"format": "pt"})
        right = _greedy_right(final, rows)
        if right < len(rows) / 2:
            raise MotError(f"{model}: after {took} imprinting steps its greedy answer is right on {right} of "
                           f"{len(rows)} prompts (want half): raise --steps")
    return {"model": model, "out": out, "prompts": len(rows), "greedy_right": right, "steps": took}


def shipped_key(model: str, prompts: list[str], seed: int, steps: int) -> str:
    """The name of a model's shipped copy (SHIPPED/<name>-<key>): a hash of what shapes its weights (the
    model and its settings, the contents of what it is built from, and the code of `build`, everything
    it reaches: mot.codeversion): a copy built from anything else is another model, which build builds."""
    import hashlib

    from .io import file_xxh3, stage_code

    parts = {"model": model, "seed": seed, "steps": steps, "code": stage_code("mot.rehearsal:build"),
             "inputs": [file_xxh3(p) for p in [*data_files(model), *prompts]]}
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:10]


# The imprint's optimizer (AdamW, constant lr: it stops as soon as it knows the answers) and how often
# it checks: a forward pass of the corpus, a third of a step's cost.
IMPRINT_LR, IMPRINT_BETAS, CHECK_EVERY = 3e-3, (0.9, 0.95), 5


def imprint(net, tok, corpus: str, steps: int) -> int:
    """SFT of `net` on `corpus` (mot.batches' examples: its own template, only the answers learned),
    the whole corpus each step, until each answer token leads by a margin after its own prefix
    (_known): then decoding writes every answer as the corpus does. Returns the steps taken (at most
    `steps`). The attention keeps the paper's head_dim and heads, so a step costs about a second on
    one core; the fixed 150 steps of earlier versions were more than the answers need (R1: 105)."""
    import torch

    from .batches import collate, load_examples, micro_batches
    from .chat import IGNORE
    from .loss import plain_loss

    examples, _ = load_examples(tok, corpus, 1024, "truncate")
    batches = [collate(examples, mb, tok.pad_token_id)  # by length, four a batch: little padding
               for mb in micro_batches(examples, list(range(len(examples))), 0, 1, 4)]
    opt = torch.optim.AdamW(net.parameters(), lr=IMPRINT_LR, betas=IMPRINT_BETAS, weight_decay=0.0)
    net.train()
    for step in range(1, steps + 1):
        for ids, labels, mask in batches:
            n = (labels[:, 1:] != IGNORE).sum()
            (plain_loss(net, {"input_ids": ids, "attention_mask": mask}, labels) / n).backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step % CHECK_EVERY == 0 and all(_known(net, *b) for b in batches):
            break
    net.eval()
    return step


def _known(net, ids, labels, mask, margin: float = 6.0) -> bool:
    """Whether each answer token leads the other tokens' logits by `margin` after its own prefix: the
    teachers sample at the paper's temperature 0.6, where a lead of one logit let one sample in a
    few dozen stray (a second `<think>`, which the rehearsal's checks refuse); six held 64 samples of
    the tiny Qwen3-235B exact. It also outlasts the rounding of the bf16 weights saved."""
    import torch

    from .chat import IGNORE

    with torch.no_grad():
        logits = net(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
    target, where = labels[:, 1:], labels[:, 1:] != IGNORE
    right = logits.gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    other = logits.scatter(-1, target.clamp(min=0).unsqueeze(-1), float("-inf")).amax(-1)
    return bool((right - other)[where].min() >= margin)


def _greedy_right(path: Path, rows: list[dict]) -> int:
    """How many prompts the saved model answers right, greedily, in its own chat template."""
    import torch

    from .chat import chat_prompt, prefill, prompt_ids, trace
    from .grading import is_correct
    from .models import load_causal_lm, load_tokenizer

    tok, model = load_tokenizer(str(path)), load_causal_lm(str(path), dtype=torch.float32).eval()
    right = 0
    for r in rows:
        rendered = chat_prompt(tok, r["prompt"])
        ids = torch.tensor([prompt_ids(tok, rendered)])
        with torch.no_grad():
            out = model.generate(ids, max_new_tokens=64, do_sample=False, pad_token_id=tok.pad_token_id)
        text = tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
        right += is_correct(trace(prefill(rendered), text), r["answer"])
    return right


# --------------------------------------------------------------------------- checks on the run's files
def check(results: str, students: dict[str, str], boba_sources: list[str], out: str) -> dict:
    """What the rehearsal's files must show, in one line per failure (MotError) or counts (`out`):
    - every stored trace (teachers' samples, corpora) opens `<think>` exactly once;
    - a student's SFT labels are exactly its chat template's assistant turn (what it renders for the
      answer after the prompt with its generation prompt, and the end-of-turn token);
    - BOBA's prompts carry no chat markup and the instruction once;
    - every merged checkpoint of an MoE student has every tensor of its base, every expert included,
      and was sampled by vLLM (its evaluation lists it);
    - the general benchmarks ran with think_end_token and scored no reasoning.
    `students`: name -> base model directory."""
    from .chat import IGNORE, THINK_CLOSE, THINK_OPEN, sft_example
    from .io import write_json
    from .models import load_tokenizer
    from .checkpoints import Checkpoint
    from .prompts import BUILT_IN_INSTRUCTIONS, MARKUP

    root, counts = Path(results), {}
    if not root.is_dir():
        raise MotError(f"--results {results}: not a directory (the rehearsal's results/)")
    traces = opened = 0
    for path in sorted([*root.glob("samples/**/*.jsonl"), *root.glob("corpora/*/*.jsonl")]):
        for lineno, row in iter_jsonl(path):
            texts = [x.get("text") if isinstance(x, dict) else None for x in row.get("samples") or []]
            texts += [row["response"]] if "response" in row else []
            if not isinstance(row.get("samples", []), list) or not all(isinstance(t, str) for t in texts):
                raise MotError(f"{path}:{lineno}: a sample without its text (each sample is {{\"text\": ...}})")
            for text in texts:
                # once, at the start; none only in a text that never thought (a tiny model's noise)
                ok = text.startswith(THINK_OPEN) and text.count(THINK_OPEN) == 1 or \
                    THINK_OPEN not in text and THINK_CLOSE not in text
                if not ok:
                    raise MotError(f"{path}:{lineno}: a trace opens '<think>' {text.count(THINK_OPEN)} times "
                                   f"(want once, at its start): {text[:80]!r}")
                traces, opened = traces + 1, opened + text.startswith(THINK_OPEN)
    if not traces:  # every count 0 would read as a rehearsal that passed
        raise MotError(f"{root}: no stored traces (samples/**/*.jsonl, corpora/*/*.jsonl): nothing to check; is it "
                       "the rehearsal's results directory, after its run?")
    counts["stored traces"], counts["traces opening <think> once, at the start"] = traces, opened
    labelled = 0
    for name, base in students.items():
        tok = load_tokenizer(base)
        for corpus in sorted(root.glob("corpora/*/*.jsonl"))[:2]:
            row = next(r for _, r in iter_jsonl(corpus))
            ids, labels = sft_example(tok, row["prompt"], row["response"])
            messages = [{"role": "user", "content": row["prompt"]}]
            prompt = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True, enable_thinking=True)
            full = tok.apply_chat_template(messages + [{"role": "assistant", "content": row["response"]}],
                                           tokenize=False, enable_thinking=True)
            turn = full[len(prompt):] if full.startswith(prompt) else None
            learned = tok.decode([t for t, y in zip(ids, labels) if y != IGNORE])
            if turn is None or not turn.startswith(learned.rstrip()) or learned.strip() != turn.strip():
                raise MotError(f"{corpus}: {name}'s SFT labels {learned[:60]!r}... are not its template's assistant "
                               f"turn {str(turn)[:60]!r}...")
            labelled += 1
    counts["SFT examples whose labels are the template's assistant turn"] = labelled
    prompts = 0
    for source in boba_sources:
        for lineno, row in iter_jsonl(root / "prompts" / f"{source}.jsonl"):
            n = sum(row["prompt"].count(i) for i in BUILT_IN_INSTRUCTIONS)
            if n != 1 or any(m in row["prompt"] for m in MARKUP):
                raise MotError(f"{root}/prompts/{source}.jsonl:{lineno}: the prompt has the instruction {n} times "
                               f"or chat markup: {row['prompt'][-80:]!r}")
            prompts += 1
    counts["BOBA prompts without markup, with one instruction"] = prompts
    from .readers import read_json

    summary_shape = {"type": "object", "properties": {"checkpoints": {"type": "array", "items": {
        "type": "object", "required": ["model"], "properties": {"model": {"type": "string"}}}}}}
    sampled = {ck["model"] for f in sorted(root.glob("eval/**/*.json"))
               for ck in read_json(f, "eval summary", summary_shape).get("checkpoints", [])}
    merged = 0
    for name, base in students.items():
        cfg = read_json(Path(base) / "config.json", "model config", {"type": "object"})
        if not (cfg.get("num_experts") or cfg.get("n_routed_experts")):
            continue
        want = set(Checkpoint.open(base).tensors)
        for d in sorted(root.glob(f"models/{name}/*/mot-*/round-*/merged")):
            have = set(Checkpoint.open(d).tensors)
            if have != want:
                raise MotError(f"{d}: {len(want - have)} tensors of the base missing (first: "
                               f"{sorted(want - have)[:1]}), {len(have - want)} extra")
            if str(d) not in sampled and not any(str(d).endswith(m) for m in sampled):
                raise MotError(f"{d}: a merged MoE checkpoint that no evaluation sampled (vLLM)")
            merged += 1
    counts["merged MoE checkpoints, every expert, sampled by vLLM"] = merged
    scored = 0
    for f in sorted(root.glob("general/**/*.json")):
        summary = read_json(f, "general summary", {"type": "object"})
        if (summary.get("thinking") or {}).get("think_end_token") != "</think>":
            raise MotError(f"{f}: the general benchmarks ran without think_end_token '</think>'")
        for lineno, row in iter_jsonl(f.with_suffix(".samples.jsonl")):
            if "</think>" in str(row.get("response")):
                raise MotError(f"{f.with_suffix('.samples.jsonl')}:{lineno}: the scored text holds '</think>'")
            scored += 1
    counts["general answers scored after </think>"] = scored
    write_json(out, counts)
    return counts
