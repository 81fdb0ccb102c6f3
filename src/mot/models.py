"""A model or tokenizer named by a local directory or a hub id: loaded, or refused in one line
that names it (a missing directory, a download that failed, weights that are not a model)."""
from __future__ import annotations

import os
from pathlib import Path

from .io import MotError


def is_hub_id(path: str) -> bool:
    """A model named by its hub id (org/name, not a directory here); anything else is a local path,
    which a rule may make (the rehearsal's tiny models) or the user holds."""
    return not os.path.isdir(path) and path.count("/") == 1 and not path.startswith((".", "/"))


def require_model(path: str) -> None:
    """A local model directory must hold a config.json; anything else must look like a hub id."""
    if os.path.isdir(path) and not (Path(path) / "config.json").is_file():
        raise MotError(f"{path}: holds no model (no config.json)")
    if not os.path.isdir(path) and (path.startswith((".", "/")) or path.count("/") != 1):
        raise MotError(f"{path}: no such model directory (nor a hub id of the form org/name)")


def local_model(path: str) -> Path:
    """A model's local directory: itself, or a hub id's snapshot (weights, config and tokenizer
    files) in the Hugging Face cache, downloaded once (HF_HUB_OFFLINE=1: the cache only)."""
    require_model(str(path))
    if os.path.isdir(path):
        return Path(path)
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(str(path), allow_patterns=["*.safetensors", "*.json", "*.txt", "*.jinja",
                                                                 "*.model"]))
    except Exception as e:  # no network, no such repo, no access
        raise MotError(f"{path}: cannot fetch the model from the hub ({type(e).__name__}: {e})") from None


def _loaded(path: str, what: str, load):
    """Call `load`; a failure (a corrupt or truncated file, a wrong config) names the path."""
    require_model(path)
    try:
        return load()
    except MotError:
        raise
    except Exception as e:  # transformers/safetensors errors rarely say which directory
        first = (str(e).strip().splitlines() or [""])[0]
        raise MotError(f"{path}: cannot load the {what} ({type(e).__name__}: {first})") from None


def load_tokenizer(path: str):
    from transformers import AutoTokenizer

    return _loaded(path, "tokenizer", lambda: AutoTokenizer.from_pretrained(path))


def load_causal_lm(path: str, **kwargs):
    from transformers import AutoModelForCausalLM

    return _loaded(path, "model", lambda: AutoModelForCausalLM.from_pretrained(path, **kwargs))
