"""Saved checkpoints as a merge reads them: a save_pretrained directory's safetensors files, their
headers (names, dtypes, shapes) read without loading a tensor, each tensor memory-mapped on demand
and released once merged, and the checks that inputs can be merged at all (the same tensors,
config and tokenizer)."""
from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import hub
from .io import MotError
from .models import local_model


DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64,
          "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
          "BOOL": torch.bool}


@dataclass
class Checkpoint:
    """A save_pretrained directory: where each tensor lives and its dtype and shape."""
    path: Path
    files: list[Path] = field(default_factory=list)
    tensors: dict[str, tuple[Path, str, list[int], int]] = field(default_factory=dict)  # file, dtype, shape, offset

    @classmethod
    def open(cls, path: str | Path) -> "Checkpoint":
        path = local_model(str(path))  # a hub id (MoT round 1 of a pretrained student): its snapshot
        index = path / "model.safetensors.index.json"
        if index.is_file():
            from .readers import read_json

            shape = {"type": "object", "required": ["weight_map"],
                     "properties": {"weight_map": {"type": "object", "additionalProperties": {"type": "string"}}}}
            files = sorted({path / f for f in read_json(index, "safetensors index", shape)["weight_map"].values()})
        elif (path / "model.safetensors").is_file():
            files = [path / "model.safetensors"]
        else:
            raise MotError(f"{path}: no model.safetensors or model.safetensors.index.json")
        ck = cls(path, files)
        for f in files:
            if not f.is_file():
                raise MotError(f"{f}: shard listed in the index is missing")
            for name, (dtype, shape, offset) in read_header(f).items():
                ck.tensors[name] = (f, dtype, shape, offset)
        return ck


def read_header(path: Path) -> dict[str, tuple[str, list[int], int]]:
    """name -> (dtype, shape, absolute byte offset of the data) of a safetensors file, checked
    against the file's size, so a truncated or foreign file is named here rather than failing
    later inside a tensor read."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            if size < 8:
                raise MotError(f"{path}: not a safetensors file (only {size} bytes; truncated?)")
            n = struct.unpack("<Q", f.read(8))[0]
            if n > size - 8:
                raise MotError(f"{path}: not a safetensors file (its header claims {n} bytes, the file has "
                               f"{size}; truncated or not safetensors)")
            header = json.loads(f.read(n))
        header.pop("__metadata__", None)
        entries = {k: (v["dtype"], v["shape"], 8 + n + v["data_offsets"][0]) for k, v in header.items()}
        end = max((8 + n + v["data_offsets"][1] for v in header.values()), default=8 + n)
    except MotError:
        raise
    except (OSError, struct.error, ValueError, UnicodeDecodeError, TypeError, KeyError, AttributeError) as e:
        raise MotError(f"{path}: not a readable safetensors file ({type(e).__name__}: {e})") from None
    if end > size:
        raise MotError(f"{path}: truncated ({size} bytes, its header needs {end})")
    for name, (dtype, shape, _) in entries.items():
        if dtype not in DTYPES:
            raise MotError(f"{path}: tensor '{name}' has unsupported dtype {dtype}")
    return entries


class Reader:
    """Zero-copy tensor views of a checkpoint through mmap: merging reads straight from the page
    cache instead of copying every input tensor first."""

    def __init__(self, ck: Checkpoint):
        self.ck, self.maps = ck, {}

    def get(self, name: str) -> torch.Tensor:
        import mmap
        import warnings

        f, dtype, shape, offset = self.ck.tensors[name]
        numel = math.prod(shape)
        if numel == 0:
            return torch.empty(shape, dtype=DTYPES[dtype])
        if f not in self.maps:
            with open(f, "rb") as fh:
                self.maps[f] = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        with warnings.catch_warnings():  # read-only buffer: we never write through these views
            warnings.simplefilter("ignore", UserWarning)
            return torch.frombuffer(self.maps[f], dtype=DTYPES[dtype], count=numel, offset=offset).view(shape)

    def release(self, name: str, first: int = 0, count: int | None = None) -> None:
        """Unmap a tensor's pages (elements first..first+count) from this process once merged; they
        stay in the page cache. Resident memory then stays near one slice per input rather than
        whole checkpoints."""
        import mmap

        f, dtype, shape, offset = self.ck.tensors[name]
        if f not in self.maps:
            return
        size = DTYPES[dtype].itemsize
        count = math.prod(shape) - first if count is None else count
        begin = offset + first * size
        start = begin - begin % mmap.PAGESIZE
        end = begin + count * size
        end -= end % mmap.PAGESIZE if end < offset + math.prod(shape) * size else 0
        if end > start:
            self.maps[f].madvise(mmap.MADV_DONTNEED, start, end - start)


def check_inputs(cks: list[Checkpoint], base: Checkpoint | None) -> None:
    """Same tensor names, shapes and dtypes, architecture and tokenizer everywhere; else name the
    first offending tensor or field and file. Architecture and tokenizer as transformers loads them
    (mot.hub), so the hub's older file layout of a base and what training saved from it agree."""
    ref = cks[0]
    loaded = {}  # loading a tokenizer takes a second: once per directory (the base may also be an input)

    def read(load, ck):
        key = (load, ck.path.resolve())
        if key not in loaded:
            loaded[key] = load(ck.path)
        return loaded[key]

    for ck in cks[1:] + ([base] if base else []):
        missing = sorted(set(ref.tensors) - set(ck.tensors))
        extra = sorted(set(ck.tensors) - set(ref.tensors))
        if missing:
            raise MotError(f"{ck.path}: tensor '{missing[0]}' of {ref.path} is missing")
        if extra:
            raise MotError(f"{ck.tensors[extra[0]][0]}: tensor '{extra[0]}' is not in {ref.path}")
        for name, (_, dtype, shape, _) in ref.tensors.items():
            f, d, s, _ = ck.tensors[name]
            if s != shape:
                raise MotError(f"{f}: tensor '{name}' has shape {s}, {ref.path} has {shape}")
            if d != dtype:
                raise MotError(f"{f}: tensor '{name}' has dtype {d}, {ref.path} has {dtype}")
        if same_files(ck.path, ref.path, hub.CONFIG_FILES + hub.TOKENIZER_FILES):
            continue  # byte for byte the same (checkpoints of one run): nothing to load
        if diff := hub.difference(read(hub.architecture, ck), read(hub.architecture, ref)):
            raise MotError(f"{ck.path / 'config.json'}: architecture differs from {ref.path}: {diff}")
        if diff := hub.difference(read(hub.tokenizer, ck), read(hub.tokenizer, ref)):
            raise MotError(f"{ck.path}: tokenizer differs from {ref.path}: {diff}")


def same_files(a: Path, b: Path, names: tuple[str, ...]) -> bool:
    """Whether two directories hold these files (those present) byte for byte alike."""
    for name in names:
        fa, fb = a / name, b / name
        if fa.is_file() != fb.is_file() or (fa.is_file() and fa.read_bytes() != fb.read_bytes()):
            return False
    return True
