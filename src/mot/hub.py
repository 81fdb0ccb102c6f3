"""What a checkpoint's config and tokenizer mean, as transformers reads them; and the hub's layout.

One model reaches us in two on-disk layouts. The hub's files were written by an older transformers:
config.json has `rope_theta` (and `rope_scaling`) at the top level and `torch_dtype`, but no
`layer_types` or `rope_parameters`; the tokenizer is vocab.json + merges.txt + tokenizer.json, with
the chat template inline in tokenizer_config.json. What this transformers' save_pretrained writes
from the same model (every checkpoint training saves) has `rope_parameters`, `dtype` and
`layer_types`, and tokenizer.json + tokenizer_config.json + chat_template.jinja. Compared key by key
or byte by byte the two differ; loaded, they are the same model. So `architecture` and `tokenizer`
return what transformers loads, and `difference` names the first field in which two of them differ.

`write_qwen2_tokenizer` and `hub_json` write files in the hub's layout (tests/fixtures/hub/).
"""
from __future__ import annotations

import json
from pathlib import Path

from .models import _loaded, load_tokenizer

# Fields of a loaded config that name or run a checkpoint rather than define what it computes.
NOT_ARCHITECTURE = {"_name_or_path", "transformers_version", "torch_dtype", "dtype", "architectures", "use_cache"}
SPECIAL_TOKENS = ("bos_token", "eos_token", "pad_token", "unk_token")
# The files that hold a config and a tokenizer in either layout (equal bytes: nothing to compare).
CONFIG_FILES = ("config.json",)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt",
                   "tokenizer.model", "chat_template.jinja", "added_tokens.json")
# Text whose encoding and decoding stand for the tokenizer's pipeline around its vocabulary
# (normalizer, pre-tokenizer, post-processor, decoder): files can spell one pipeline in different
# ways (the hub's Qwen tokenizer.json has a ByteLevel post-processor, its vocab.json and merges.txt
# alone load with an empty TemplateProcessing: the same ids), so it is compared by what it does.
SAMPLE = "Compute (12 + 345) * 6.7, then\n\n\tsay ¿qué? 你好 🙂  <think>x</think><|im_end|>"


def architecture(path: str | Path) -> dict:
    """The config transformers loads from `path` (older layouts normalised on the way in: top-level
    `rope_theta` becomes `rope_parameters`, `layer_types` is filled in), less NOT_ARCHITECTURE."""
    from transformers import AutoConfig

    cfg = _loaded(str(path), "config", lambda: AutoConfig.from_pretrained(path))
    return {k: v for k, v in cfg.to_dict().items() if k not in NOT_ARCHITECTURE}


def tokenizer(path: str | Path) -> dict:
    """What the tokenizer transformers loads from `path` does, wherever its files keep it: its
    vocabulary and merges, added tokens with their flags, bos/eos/pad/unk, chat template, and how
    it encodes and decodes SAMPLE. Not runtime settings (padding, truncation, maximum length)."""
    tok = load_tokenizer(str(path))
    backend = getattr(tok, "backend_tokenizer", None)
    # the tokenizers model (vocabulary, merges and their options), serialised by this tokenizers
    # library, so the old "a b" and the new ["a", "b"] spellings of a merge read alike
    model = json.loads(backend.to_str())["model"] if backend is not None else {"vocab": tok.get_vocab()}
    ids = tok(SAMPLE)["input_ids"]
    return {**{k: getattr(tok, k) for k in SPECIAL_TOKENS}, "chat_template": tok.chat_template,
            "added_tokens": {t.content: {"id": i, "special": t.special, "lstrip": t.lstrip, "rstrip": t.rstrip,
                                         "single_word": t.single_word, "normalized": t.normalized}
                             for i, t in tok.added_tokens_decoder.items()},
            "model": model, "sample_ids": ids, "sample_decoded": tok.decode(ids)}


_ABSENT = object()


def difference(a, b, where: str = "") -> str | None:
    """None if a == b; else the first field where they differ and both values, in one line:
    "rope_parameters.rope_theta is 500000 here, 1000000 there"."""
    if a == b:
        return None
    if isinstance(a, dict) and isinstance(b, dict):
        for k in [*a, *(k for k in b if k not in a)]:
            key = f"{where}.{k}" if where and isinstance(k, str) and k.isidentifier() else \
                f"{where}[{k!r}]" if where else str(k)
            if found := difference(a.get(k, _ABSENT), b.get(k, _ABSENT), key):
                return found
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return f"{where} has {len(a)} entries here, {len(b)} there"
        for i, (x, y) in enumerate(zip(a, b)):
            if found := difference(x, y, f"{where}[{i}]"):
                return found
    if isinstance(a, str) and isinstance(b, str):  # long text (a chat template): where it starts to differ
        i = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        if i > 20 or max(len(a), len(b)) > 60:
            return f"{where} differs from character {i}: {_short(a[i:])} here, {_short(b[i:])} there"
    return f"{where} is {_short(a)} here, {_short(b)} there"


def _short(v) -> str:
    text = "absent" if v is _ABSENT else repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


# --------------------------------------------------------------------------- the hub's layout
def hub_json(obj: dict) -> str:
    """A config file as transformers 4 wrote the hub's: sorted keys, indent 2, a final newline."""
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


QWEN2_SPLIT = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"


def write_qwen2_tokenizer(out: str | Path, vocab: list[str], merges: list[tuple[str, str]],
                          added: list[tuple[str, bool]], chat_template: str, eos: str, pad: str,
                          additional_special: list[str], model_max_length: int) -> None:
    """A byte-level BPE tokenizer in the files Qwen2/2.5/3 ship on the hub: tokenizer.json (merges as
    "a b" strings, as tokenizers wrote them before 0.20), vocab.json and merges.txt for the slow
    tokenizer, and tokenizer_config.json with `added_tokens_decoder` and the chat template inline.
    `added` (content, special) get the ids after `vocab`, as on the hub; no chat_template.jinja."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    ids = {w: i for i, w in enumerate(vocab)}
    added_tokens = [{"id": len(vocab) + i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
                     "normalized": False, "special": s} for i, (c, s) in enumerate(added)]
    byte_level = {"add_prefix_space": False, "trim_offsets": False, "use_regex": False}
    doc = {
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": added_tokens,
        "normalizer": {"type": "NFC"},
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": QWEN2_SPLIT}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", **byte_level}]},
        "post_processor": {"type": "ByteLevel", **byte_level},
        "decoder": {"type": "ByteLevel", **byte_level},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
                  "vocab": ids, "merges": [f"{a} {b}" for a, b in merges]},
    }
    (out / "tokenizer.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")
    (out / "vocab.json").write_text(json.dumps(ids, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    (out / "merges.txt").write_text("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges), encoding="utf-8")
    config = {
        "add_bos_token": False, "add_prefix_space": False,
        "added_tokens_decoder": {str(t["id"]): {k: v for k, v in t.items() if k != "id"} for t in added_tokens},
        "additional_special_tokens": additional_special, "bos_token": None, "chat_template": chat_template,
        "clean_up_tokenization_spaces": False, "eos_token": eos, "errors": "replace",
        "model_max_length": model_max_length, "pad_token": pad, "split_special_tokens": False,
        "tokenizer_class": "Qwen2Tokenizer", "unk_token": None,
    }
    (out / "tokenizer_config.json").write_text(hub_json(config), encoding="utf-8")


def write_deepseek_tokenizer(out: str | Path, vocab: list[str], merges: list[tuple[str, str]],
                             added: list[tuple[str, bool]], chat_template: str, model_max_length: int) -> None:
    """A byte-level BPE tokenizer in the files DeepSeek-V3 and R1 ship on the hub: tokenizer.json whose
    first three ids are <｜begin▁of▁sentence｜>, <｜end▁of▁sentence｜> and <｜▁pad▁｜>, whose
    post-processor puts the BOS in front (add_bos_token: a template that writes its own BOS gets a
    second one from a plain tokenization), and tokenizer_config.json (LlamaTokenizerFast) with the chat
    template inline; no vocab.json or merges.txt. `added` (content, special) get the ids after `vocab`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    bos, eos, pad = DEEPSEEK_SPECIALS
    ids = {w: i for i, w in enumerate([bos, eos, pad, *vocab])}
    first = [{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False, "normalized": True,
              "special": True} for i, c in enumerate(DEEPSEEK_SPECIALS)]
    rest = [{"id": len(ids) + i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": True, "special": s} for i, (c, s) in enumerate(added)]
    byte_level = {"add_prefix_space": False, "trim_offsets": True, "use_regex": False}
    doc = {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": first + rest, "normalizer": None,
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": r"\p{N}{1,3}"}, "behavior": "Isolated", "invert": False},
            {"type": "Split", "pattern": {"Regex": "[一-龥぀-ゟ゠-ヿ]+"}, "behavior": "Isolated", "invert": False},
            {"type": "Split", "pattern": {"Regex": QWEN2_SPLIT}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", **byte_level}]},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                                    {"SpecialToken": {"id": bos, "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {bos: {"id": bos, "ids": [0], "tokens": [bos]}}},
        "decoder": {"type": "ByteLevel", **byte_level},
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                  "vocab": ids, "merges": [f"{a} {b}" for a, b in merges]},
    }
    (out / "tokenizer.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")
    token = lambda c: {"__type": "AddedToken", "content": c, "lstrip": False, "normalized": True,  # noqa: E731
                       "rstrip": False, "single_word": False}
    config = {"add_bos_token": True, "add_eos_token": False, "bos_token": token(bos),
              "clean_up_tokenization_spaces": False, "eos_token": token(eos), "legacy": True,
              "model_max_length": model_max_length, "pad_token": token(eos), "sp_model_kwargs": {},
              "unk_token": None, "tokenizer_class": "LlamaTokenizerFast", "chat_template": chat_template}
    (out / "tokenizer_config.json").write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n",
                                               encoding="utf-8")


DEEPSEEK_SPECIALS = ("<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜▁pad▁｜>")
