"""The synthetic world's student: an offline tokenizer and a tiny pre-trained Qwen3 base model.

    mot world-student --world '{"seed": 0, "pretrain_size": 20000, ...}' \
        --arch '{"hidden_size": 128, ...}' --pretrain '{"steps": 3000, ...}' --out data/bases/tiny-<key>

The base is pre-trained on the world's pretrain split: traces in its "family" of styles with
slips, and many direct answers without reasoning, so that it can compute but often does not
reason, and is sloppy when it does; distillation has room to help, and room to hurt. From here on
the code path is the one real Qwen3 checkpoints take: save_pretrained, a chat template,
AutoModelForCausalLM.

Pre-training the default base takes about 9 minutes on 2 cores, so the repository ships it under
data/bases/, named by `base_key` (a hash of what shapes its weights: the settings and the code that
builds it). `snakemake --forcerun world_student` rebuilds it, bit for bit on CPU with 2 threads on a
CPU of the same model (another model's kernels round differently, which pre-training amplifies:
docs/world.md, "The shipped base"); a
config whose world, arch or pretrain differ, or a checkout whose world-student code differs, names
another directory, which the rule builds.
"""
from __future__ import annotations

import dataclasses
import math
import random
from pathlib import Path

from .io import MotError, atomic_path, check_out, stable_hash, write_json
from .world import BASE_WORLD_KEYS, RAMBLES, STYLES, direct_answer, load_world, procedural_trace, world_from_spec

SPECIAL_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<think>", "</think>"]

# Qwen3's template reduced to what a single-turn reasoning model needs: `enable_thinking=False`
# pre-fills an empty think block, as Qwen3's own template does.
CHAT_TEMPLATE = (
    "{%- for message in messages -%}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}{{ '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and not enable_thinking -%}{{ '<think>\\n\\n</think>\\n\\n' }}{%- endif -%}"
    "{%- endif -%}"
)


def world_texts(world: dict, seed: int) -> list[str]:
    """Text the tokenizer is trained on: problems and traces in every style."""
    rng = random.Random(seed)
    texts = []
    for row in world["pretrain"][:2000] + world["pool"][:500] + world.get("pretrain_op", [])[:500]:
        texts.append(row["problem"])
        for style in STYLES:
            texts.append(procedural_trace(row["spec"], style, rng, 1.0, 0.1))
    return texts


def build_tokenizer(world_path: str, out: str, vocab_size: int = 512, seed: int = 0) -> None:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    world = load_world(world_path)
    tok = Tokenizer(models.BPE())
    # Single digits keep arithmetic learnable for a tiny model; byte-level covers any text.
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(world_texts(world, seed), trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                   bos_token=None, unk_token=None)
    fast.chat_template = CHAT_TEMPLATE
    with atomic_path(out, is_dir=True) as tmp:
        fast.save_pretrained(tmp)


def chat_prompt(tokenizer, problem: str) -> str:
    return tokenizer.apply_chat_template([{"role": "user", "content": problem}], tokenize=False,
                                         add_generation_prompt=True)


def pretrain_examples(world: dict, seed: int, noise: float, direct_fraction: float,
                      styles: tuple[str, ...] = ("plain",)) -> list[tuple[str, str]]:
    """Noisy traces in the given styles (the student's "family": it knows their language, not
    their accuracy) and some direct answers. A style left out is new to the student, as R1's
    is to a Qwen3 student. With world.held_out_op, its pre-training problems come last."""
    rng = random.Random(stable_hash("pretrain-data", seed))
    examples = []
    for row in world["pretrain"] + world.get("pretrain_op", []):
        if rng.random() < direct_fraction:
            response = direct_answer(row["spec"])
        else:
            response = procedural_trace(row["spec"], rng.choice(styles), rng, 1.0, noise)
        examples.append((row["problem"], response))
    return examples


def build_student(world_path: str, tokenizer_dir: str, arch: dict, pretrain: dict, out: str,
                  record: dict | None = None, force: bool = False) -> float:
    """Create and pre-train the tiny Qwen3 base, save it (with `record` in BASE_RECORD), and return
    its greedy accuracy on held-out pool problems. A directory `out` that mot did not write is
    refused before pre-training (replaced only with `force`)."""
    check_out(out, [world_path, tokenizer_dir], force)
    import torch
    from tqdm import tqdm
    from transformers import AutoTokenizer, GenerationConfig, Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(pretrain["seed"])
    world = load_world(world_path)
    tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    eos = tok.convert_tokens_to_ids("<|im_end|>")
    config = Qwen3Config(
        vocab_size=len(tok), hidden_size=arch["hidden_size"], num_hidden_layers=arch["num_layers"],
        num_attention_heads=arch["num_heads"], num_key_value_heads=arch["num_kv_heads"],
        head_dim=arch["hidden_size"] // arch["num_heads"], intermediate_size=arch["intermediate_size"],
        max_position_embeddings=arch["max_position"], tie_word_embeddings=True,
        bos_token_id=None, eos_token_id=eos, pad_token_id=tok.pad_token_id)
    model = Qwen3ForCausalLM(config)
    examples = pretrain_examples(world, pretrain["seed"], pretrain["noise"], pretrain["direct_fraction"],
                                 tuple(pretrain.get("styles", ["plain"])))
    # Loss on the response only: the prompt's random operands are noise a tiny model cannot predict.
    seqs = []
    for p, r in examples:
        prompt_ids = tok(chat_prompt(tok, p), add_special_tokens=False)["input_ids"]
        resp_ids = tok(r + "<|im_end|>", add_special_tokens=False)["input_ids"]
        seqs.append((prompt_ids + resp_ids)[: arch["max_position"]] + [len(prompt_ids)])

    opt = torch.optim.AdamW(model.parameters(), lr=pretrain["lr"], betas=(0.9, 0.95), weight_decay=0.1)
    steps, bs = pretrain["steps"], pretrain["batch_size"]
    warmup = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min((s + 1) / warmup, 0.5 * (1 + math.cos(math.pi * s / steps))))
    rng = random.Random(pretrain["seed"])
    # Batches of similar length (traces differ 4x in length between styles): padding a batch to its
    # longest sequence would otherwise triple the cost of pre-training.
    seqs.sort(key=len)
    batches = [seqs[i:i + bs] for i in range(0, len(seqs), bs)]
    model.train()
    bar = tqdm(range(steps), desc="pretrain base", mininterval=2)
    for _ in bar:
        batch = rng.choice(batches)
        width = max(map(len, batch)) - 1
        ids = torch.full((len(batch), width), tok.pad_token_id)
        labels = torch.full((len(batch), width), -100)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, s in enumerate(batch):
            *s, n_prompt = s
            ids[i, : len(s)] = torch.tensor(s)
            labels[i, n_prompt: len(s)] = torch.tensor(s[n_prompt:])
            mask[i, : len(s)] = 1
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        bar.set_postfix(loss=f"{loss.item():.3f}")

    model.eval()
    model.generation_config = GenerationConfig(eos_token_id=[eos, tok.pad_token_id], pad_token_id=tok.pad_token_id,
                                               do_sample=True, temperature=0.6, top_p=0.95)
    # Evaluate with a separate tokenizer object: padding settings must not leak into the saved one.
    eval_tok = AutoTokenizer.from_pretrained(tokenizer_dir)
    # A sanity check on pool problems, which pre-training never saw (the test sets stay unseen).
    accuracy = greedy_accuracy(model, eval_tok, world["pool"][:200])
    if accuracy <= 0.0 and pretrain.get("require_nonzero", True):
        raise MotError("base student scores 0 on held-out pool problems; raise pretrain.steps")
    with atomic_path(out, is_dir=True, force=force) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        write_json(Path(tmp) / BASE_RECORD, {"greedy_accuracy_pool": accuracy, "pretrain": pretrain,
                                             "arch": arch, **(record or {})})
    return accuracy


BASE_RECORD = "mot_base.json"  # inside the base: what built it, and its greedy sanity check


def check_arch(arch: dict, where: str = "arch") -> None:
    """What the schema cannot say of a synthetic student's arch: its heads split its width, and its
    query heads share its key-value heads evenly (grouped-query attention)."""
    if arch["hidden_size"] % arch["num_heads"]:
        raise MotError(f"{where}: hidden_size {arch['hidden_size']} is not a multiple of num_heads {arch['num_heads']}")
    if (arch["hidden_size"] // arch["num_heads"]) % 2:
        raise MotError(f"{where}: head_dim = hidden_size / num_heads = {arch['hidden_size'] // arch['num_heads']} is "
                       "odd (rotary embeddings rotate pairs of dimensions)")
    if arch["num_heads"] % arch["num_kv_heads"]:
        raise MotError(f"{where}: num_heads {arch['num_heads']} is not a multiple of num_kv_heads "
                       f"{arch['num_kv_heads']} (each key-value head serves the same number of query heads)")


def base_spec(world: dict, arch: dict, pretrain: dict) -> dict:
    """What shapes the base's weights: the world keys it is built from, its arch and pretraining."""
    # The styles' phrasings (mot.world.STYLES) shape the weights as much as the keys do: the
    # pre-training traces are written in some of them, the tokenizer is trained on all of them.
    # (as JSON has them: lists, not tuples, so that the spec equals the record read back)
    styles = {name: {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(st).items()}
              for name, st in STYLES.items()}
    styles["rambles"] = list(RAMBLES)
    return {"world": {k: world[k] for k in BASE_WORLD_KEYS if k in world}, "arch": arch, "pretrain": pretrain,
            "styles": styles}


def base_key(world: dict, arch: dict, pretrain: dict, code: str) -> str:
    """The name of a base built from these settings by this code (data/bases/<student>-<key>): `code`,
    the world-student command's code version (the rules' code("world-student"), mot.codeversion). A
    base built by other code is another base, which the rule builds: the shipped one has no
    Snakemake record whose code version would tell it stale."""
    import hashlib
    import json

    # sorted keys: the rules hand the settings over as sorted JSON, the config has them in its order
    text = json.dumps(base_spec(world, arch, pretrain), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{text}\n{code}".encode()).hexdigest()[:10]


def checkout_base_key(world: dict, arch: dict, pretrain: dict) -> str:
    """base_key with the code of the package imported (tests and benchmarks; the rules use their
    checkout's, code("world-student"))."""
    from .codeversion import version

    return base_key(world, arch, pretrain, version(str(Path(__file__).resolve().parents[1]), "world-student"))


def build_base(world: dict, arch: dict, pretrain: dict, out: str, force: bool = False) -> float:
    """The rule world_student: world, tokenizer and pre-trained base from the config's settings,
    with a record of them and of the package versions that built it (in `out`: a directory that
    mot did not write is replaced only with `force`)."""
    import tempfile

    import tokenizers
    import torch
    import transformers

    check_arch(arch, "--arch")
    check_out(out, force=force)
    spec = base_spec(world, arch, pretrain)
    with tempfile.TemporaryDirectory() as tmp:
        write_json(f"{tmp}/world.json", world_from_spec(world, held_out=False))
        build_tokenizer(f"{tmp}/world.json", f"{tmp}/tokenizer", world["vocab_size"], world["seed"])
        return build_student(f"{tmp}/world.json", f"{tmp}/tokenizer", arch, pretrain, out, record={
            "world": spec["world"], "styles": spec["styles"],
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                         "tokenizers": tokenizers.__version__},
            "rebuild": "snakemake --forcerun world_student (CPU, 2 threads: the same bytes)"}, force=force)


def greedy_accuracy(model, tok, rows: list[dict], max_new_tokens: int = 192) -> float:
    """Fraction of problems the model answers right with greedy decoding (a sanity check): its last
    box after `</think>` is the world's integer answer, as written. Not the grader (mot.grading),
    whose edits would otherwise rebuild the base and rerun every stage after it; the evaluations
    grade the base as every run is graded."""
    import torch

    from .answers import boxed_spans, clean

    def is_correct(text, answer):
        region = text.rsplit("</think>", 1)[1] if "</think>" in text else None
        spans = boxed_spans(region) if region else []
        return bool(spans) and clean(spans[-1][2]) == str(answer)

    tok.padding_side = "left"
    prompts = [chat_prompt(tok, r["problem"]) for r in rows]
    enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=False)
    with torch.no_grad():
        out = model.generate(**enc, do_sample=False, max_new_tokens=max_new_tokens)
    texts = tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=False)
    texts = [t.split("<|im_end|>")[0] for t in texts]
    return sum(is_correct(t, r["answer"]) for t, r in zip(texts, rows)) / len(rows)
