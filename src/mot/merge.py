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

How checkpoints are read and checked: mot.checkpoints.
"""
from __future__ import annotations

import json
import math
import shutil
import struct
from concurrent.futures import Future
from pathlib import Path

import torch

from .checkpoints import DTYPES, Checkpoint, Reader, check_inputs, read_header
from .io import MotError, atomic_path, check_out, file_xxh3, final_path, write_json
from .layout import TRAIN_LOG
from .methods import METHODS, Method, outer_step, param, params_error  # noqa: F401 (the registry, re-exported)


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
                # mot.process.Stopped) raised inside queue.put may leave the queue unable to wake it, and
                # joining it would hang; the temporary output is removed by the caller either way
                try:
                    self.queue.put_nowait(None)
                    self.thread.join(timeout=5)
                except Exception:  # a full queue; or a stop inside Thread.start(), before it had started
                    pass
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
        if k in params:  # the last would win, silently
            raise MotError(f"--param {k}: given twice")
        try:
            params[k] = json.loads(v)
        except json.JSONDecodeError:
            params[k] = v
        if isinstance(params[k], float) and not math.isfinite(params[k]):  # JSON reads 1e400 as inf
            raise MotError(f"--param {k}={v}: not a finite number")
    return params


QUEUE = 4  # slices waiting for the writer thread
CHUNK = 1 << 18  # elements per slice of a large tensor for elementwise methods: 1 MiB in float32, so that a
# method's passes over its accumulator (an add per input, a division, the check, the cast) stay in the CPU's
# cache (2.1 s against 2.6 s with 64 MiB slices, four 0.6B checkpoints: benchmarks/README.md)


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
    all_files = [f for ck in cks + ([base_ck] if base_ck else []) for f in ck.files]
    hashes = _hash_in_background(all_files) if hash_inputs else {}
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
                    if not all_finite(result):
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
    return meta


def _hash_in_background(files: list[Path]) -> dict[str, Future]:
    """The files' xxh3 hashes, computed on a side thread while the merge streams (xxhash releases the
    GIL). A daemon thread with xxhash imported here first: a stop (SIGTERM) raised in the main thread
    while it imports a module can leave the import lock taken, and a worker that then imports waits
    for ever, as did the interpreter's exit, which joins a ThreadPoolExecutor's threads (CI of
    7f3c537: a stopped merge that had not ended 60 s later)."""
    import threading

    import xxhash  # noqa: F401 (imported by this thread, before the side thread needs it)

    futures = {str(f): Future() for f in files}

    def run():
        for f in files:
            try:
                futures[str(f)].set_result(file_xxh3(f))
            except BaseException as e:  # surfaced where the hash is read
                futures[str(f)].set_exception(e)

    threading.Thread(target=run, daemon=True, name="mot-merge-hash").start()
    return futures


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
    if not (math.isfinite(total := sum(abs(w) for w in weights)) and total <= torch.finfo(torch.float32).max):
        raise MotError(f"--weights {weights}: every weight must be a finite number, and so must their sum in "
                       "float32 (the merge's arithmetic)")
    if any(0 < abs(w) < torch.finfo(torch.float32).tiny for w in weights):  # 0 or subnormal in float32
        raise MotError(f"--weights {weights}: a weight is too small for float32, the merge's arithmetic (give 0, "
                       f"or at least {torch.finfo(torch.float32).tiny:.3g} in size)")
    if method_name == "weighted" and param("weighted", params, "normalize") and sum(weights) == 0:
        raise MotError("--weights sum to 0: method 'weighted' divides by their sum (or pass --param normalize=false)")
    return weights


def _hashes(ck: Checkpoint, hashes: dict) -> dict:
    return {f.name: hashes[str(f)].result() for f in ck.files} if hashes else {}


def all_finite(x: torch.Tensor) -> bool:
    """No NaN or Inf in `x`. Its float32 sum first (one vectorised pass, no mask: ~45x faster than
    torch.isfinite(x).all() on CPU): a NaN or an Inf anywhere makes it non-finite, so a finite sum
    settles it; only a sum that overflowed is checked element by element."""
    return math.isfinite(x.sum(dtype=torch.float32).item()) or bool(torch.isfinite(x).all())


def _finite(x: torch.Tensor, name: str, path: Path) -> None:
    if not all_finite(x):
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
