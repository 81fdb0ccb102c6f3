"""Weight-space merging of saved checkpoints, streamed tensor by tensor.

    mot merge --method uniform --out results/merged IN1 IN2 IN3 IN4
    mot merge --method task_arithmetic --base BASE --param scale=0.5 --out OUT IN1 IN2
    mot merge --method outer --base PREV --param lr=0.7 --param momentum=0.9 --out OUT IN1 IN2

The methods are small functions over float32 tensors, registered with their metadata in mot.methods.
The engine checks every input's tensor names, shapes and dtypes, config and tokenizer before
anything is written; then, for one tensor name at a time, it reads that tensor from each input
(memory-mapped), combines it in float32, casts it to the inputs' dtype and appends it to the
output file, whose header is known up front. Peak memory is about one tensor per input plus the
output buffer. The result is written to a temporary directory and renamed at the end, so a failed
merge (a NaN, a mismatch) leaves nothing behind.

One module though over 400 lines. The rules' code versions are by definition (mot.codeversion), so
code moved out of it into a new module, its importers updated, reruns nothing: it may be split.
"""
from __future__ import annotations

import json
import math
import shutil
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import hub
from .io import MotError, atomic_path, check_out, file_xxh3, final_path, local_model, write_json
from .layout import TRAIN_LOG
from .methods import METHODS, Method, outer_step, param, params_error  # noqa: F401 (the registry, re-exported)

# --------------------------------------------------------------------------- checkpoints
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
            from .io import read_json

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


# --------------------------------------------------------------------------- streaming writer
class ShardWriter:
    """Writes safetensors shards whose headers are computed before any data is streamed in."""

    def __init__(self, out: Path, entries: list[tuple[str, str, list[int]]], max_shard_bytes: int,
                 stem: str = "model"):
        self.out, self.stem, self.handles, self.where, self.blobs = out, stem, {}, {}, {}
        self.queue, self.thread, self.error = None, None, None
        shards, cur, size = [], [], 0
        for name, dtype, shape in entries:
            nbytes = math.prod(shape) * DTYPES[dtype].itemsize
            if cur and size + nbytes > max_shard_bytes:
                shards.append(cur)
                cur, size = [], 0
            cur.append((name, dtype, shape, nbytes))
            size += nbytes
        shards.append(cur)
        self.total = sum(e[3] for shard in shards for e in shard)
        n = len(shards)
        self.files = [f"{stem}.safetensors"] if n == 1 else \
            [f"{stem}-{i + 1:05d}-of-{n:05d}.safetensors" for i in range(n)]
        for fname, shard in zip(self.files, shards):
            header, offset = {"__metadata__": {"format": "pt"}}, 0
            for name, dtype, shape, nbytes in shard:
                header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + nbytes]}
                offset += nbytes
                self.where[name] = fname
            blob = json.dumps(header, separators=(",", ":")).encode()
            self.blobs[fname] = blob + b" " * (-len(blob) % 8)  # keep tensor data 8-byte aligned

    def write(self, name: str, tensor: torch.Tensor) -> None:
        """Append a tensor, or the next flat chunk of one; data must arrive in `entries` order.
        The bytes are written by a background thread (file writes release the GIL), so merging
        the next tensor overlaps with writing this one; at most two writes wait in the queue."""
        if self.queue is None:
            import queue
            import threading

            self.queue, self.error = queue.Queue(maxsize=QUEUE), None
            self.thread = threading.Thread(target=self._drain, daemon=True)
            self.thread.start()
        if self.error:
            raise self.error
        self.queue.put((self.where[name], tensor.contiguous().reshape(-1).view(torch.uint8)))

    def _drain(self) -> None:
        while (item := self.queue.get()) is not None:
            fname, data = item
            try:
                f = self.handles.get(fname)
                if f is None:
                    f = self.handles[fname] = open(self.out / fname, "wb")
                    f.write(struct.pack("<Q", len(self.blobs[fname])) + self.blobs[fname])
                f.write(data.numpy().data)
            except Exception as e:  # surfaced on the next write() or on close()
                self.error = e

    def close(self, abort: bool = False) -> None:
        """Wait for the writer thread and close the files; `abort` (the merge failed) raises
        nothing, so the error that stopped the merge is the one reported."""
        if self.queue is not None:
            if abort:  # the writer (a daemon thread) is left to end with the process: a stop (SIGTERM,
                # mot.cli.Stopped) raised inside queue.put may leave the queue unable to wake it, and
                # joining it would hang; the temporary output is removed by the caller either way
                try:
                    self.queue.put_nowait(None)
                except Exception:
                    pass
                self.thread.join(timeout=5)
            else:
                self.queue.put(None)
                self.thread.join()
        for f in self.handles.values():
            f.close()
        if abort:
            return
        if self.error:
            raise self.error
        if len(self.files) > 1:
            write_json(self.out / f"{self.stem}.safetensors.index.json",
                       {"metadata": {"total_size": self.total}, "weight_map": self.where})


# --------------------------------------------------------------------------- the merge
def parse_params(items: list[str]) -> dict:
    params = {}
    for item in items or []:
        if "=" not in item:
            raise MotError(f"--param {item!r}: expected key=value")
        k, v = item.split("=", 1)
        try:
            params[k] = json.loads(v)
        except json.JSONDecodeError:
            params[k] = v
    return params


QUEUE = 4  # slices waiting for the writer thread
CHUNK = 1 << 24  # elements per slice of a large tensor for elementwise methods (64 MiB in float32)


def merge(inputs: list[str], out: str, method_name: str, weights: list[float] | None = None,
          base: str | None = None, params: dict | None = None, max_shard_bytes: int = 5 << 30,
          hash_inputs: bool = True, force: bool = False) -> dict:
    """Merge checkpoints into `out` (a save_pretrained directory); returns the provenance record."""
    from tqdm import tqdm

    params = params or {}
    weights = _check_call(inputs, method_name, weights, base, params)
    check_out(out, [*inputs, base, params.get("state")], force)
    cks = [Checkpoint.open(p) for p in inputs]
    base_ck = Checkpoint.open(base) if base else None
    check_inputs(cks, base_ck)
    fn = METHODS[method_name]
    carried = fn.state if fn.state and fn.state.carried(params) else None
    state = None
    if carried and params.get("state"):  # the state saved beside the previous round's merge
        state_file = Path(params["state"]) / f"{carried.stem}.safetensors"
        if not state_file.is_file():
            raise MotError(f"--param state: {state_file} not found")
        state = Reader(Checkpoint(state_file.parent, [state_file],
                                  {n: (state_file, *v) for n, v in read_header(state_file).items()}))

    entries = [(n, v[1], v[2]) for n, v in cks[0].tensors.items()]
    # Hash the input files on a worker thread while the merge streams (xxhash releases the GIL).
    pool = ThreadPoolExecutor(max_workers=1)
    all_files = [f for ck in cks + ([base_ck] if base_ck else []) for f in ck.files]
    hashes = {str(f): pool.submit(file_xxh3, f) for f in all_files} if hash_inputs else {}
    readers = [Reader(ck) for ck in cks]
    base_reader = Reader(base_ck) if base_ck else None
    with atomic_path(Path(out), is_dir=True) as tmp:
        writer = ShardWriter(tmp, entries, max_shard_bytes)
        state_writer = ShardWriter(tmp, [(n, "F32", s) for n, d, s in entries if DTYPES[d].is_floating_point],
                                   1 << 62, stem=carried.stem) if carried else None
        try:
            for name, dtype_name, _ in tqdm(entries, desc=f"merge {method_name}", unit="tensor",
                                                mininterval=2):
                dtype = DTYPES[dtype_name]
                xs = [r.get(name) for r in readers]
                if not dtype.is_floating_point:  # integer buffers are copied from the first input
                    writer.write(name, xs[0])
                    continue
                b = base_reader.get(name) if base_reader else None
                if not fn.elementwise:  # trimming/dropping could hide a NaN input
                    for ck, x in zip(cks, xs):
                        _finite(x, name, ck.tensors[name][0])
                step = CHUNK if fn.elementwise else max(1, xs[0].numel())
                flat = [x.reshape(-1) for x in xs]
                bflat = b.reshape(-1) if b is not None else None
                sflat = state.get(name).reshape(-1) if state else None
                for i in range(0, max(1, flat[0].numel()), step):
                    part = [x[i:i + step] for x in flat] if step != flat[0].numel() else xs
                    bpart = (bflat[i:i + step] if step != flat[0].numel() else b) if b is not None else None
                    if carried:
                        st = sflat[i:i + step].to(torch.float32, copy=True) if sflat is not None else None  # mmap views are read-only
                        result, m = carried.step(part, bpart, weights, params, name, st)
                        state_writer.write(name, m)
                    else:
                        result = fn(part, bpart, weights, params, name)
                    if not torch.isfinite(result).all():
                        for ck, x in zip(cks, part):
                            _finite(x, name, ck.tensors[name][0])
                        if bpart is not None:
                            _finite(bpart, name, base_ck.tensors[name][0])
                        raise MotError(f"merge result of tensor '{name}' is not finite")
                    writer.write(name, result.to(dtype))
                    for r in readers + ([base_reader] if base_reader else []):
                        r.release(name, i, part[0].numel())
        except BaseException:
            for w in (writer, state_writer):
                if w:
                    w.close(abort=True)
            raise
        for w in (writer, state_writer):
            if w:
                w.close()
        _copy_side_files(cks[0].path, tmp)
        recorded = {**params, "state": final_path(params["state"])} if params.get("state") else params
        meta = {"method": method_name, "params": recorded, "weights": weights, "hash": "xxh3_128",
                "base": {"path": final_path(base_ck.path), "files": _hashes(base_ck, hashes)} if base_ck else None,
                "inputs": [{"path": final_path(ck.path), "files": _hashes(ck, hashes)} for ck in cks],
                "output_files": writer.files}
        write_json(tmp / "mot_merge.json", meta)
    pool.shutdown()
    return meta


def _check_call(inputs, method_name, weights, base, params) -> list[float]:
    if method_name not in METHODS:
        raise MotError(f"unknown merge method '{method_name}' (known: {', '.join(METHODS)})")
    if not inputs:
        raise MotError("merge needs at least one input checkpoint")
    if METHODS[method_name].needs_base and not base:
        raise MotError(f"merge method '{method_name}' needs --base")
    limit = METHODS[method_name].max_inputs
    if limit and len(inputs) > limit:
        raise MotError(f"merge method '{method_name}' takes at most {limit} input(s) besides --base")
    if msg := params_error(method_name, params):
        raise MotError(msg)
    if weights and not METHODS[method_name].weighted:
        uses = ", ".join(m for m, meta in METHODS.items() if meta.weighted)
        raise MotError(f"merge method '{method_name}' does not use --weights (methods that do: {uses})")
    weights = weights or [1.0] * len(inputs)
    if len(weights) != len(inputs):
        raise MotError(f"--weights has {len(weights)} values for {len(inputs)} inputs")
    if not all(math.isfinite(w) for w in weights):
        raise MotError(f"--weights {weights}: every weight must be a finite number")
    if method_name == "weighted" and param("weighted", params, "normalize") and sum(weights) == 0:
        raise MotError("--weights sum to 0: method 'weighted' divides by their sum (or pass --param normalize=false)")
    return weights


def _hashes(ck: Checkpoint, hashes: dict) -> dict:
    return {f.name: hashes[str(f)].result() for f in ck.files} if hashes else {}


def _finite(x: torch.Tensor, name: str, path: Path) -> None:
    if not torch.isfinite(x).all():
        raise MotError(f"{path}: tensor '{name}' has NaN or Inf values")


# What a merged model never takes from its first input: its weights (written here), any other weights
# or training state in pickle form (optimizer.pt under optimizer_state carry: tens of GB on an 8B
# student, and no merged model's; a pytorch_model.bin would be weights that are not the merge's), its
# records and training log (mot_*, train log), hidden files.
_NOT_SIDE_FILES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf")


def _copy_side_files(src: Path, dst: Path) -> None:
    """config, generation config, tokenizer and chat template of the first input."""
    for f in src.iterdir():
        if f.is_file() and not f.name.endswith(_NOT_SIDE_FILES) and f.name != "model.safetensors.index.json" \
                and not f.name.startswith(("mot_", ".")) and f.name != TRAIN_LOG:
            shutil.copy2(f, dst / f.name)
