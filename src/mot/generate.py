"""Teacher generation behind one interface, written incrementally so that a killed run resumes.

    mot generate --prompts results/prompts/syn-boba.jsonl --teacher '{"name": "deliberate", \
        "backend": "synthetic", "params": {...}}' --sampling '{"n": 16, "temperature": 0.6, ...}' \
        --seed 0 --out results/samples/syn-boba/deliberate.jsonl

A backend turns a chunk of prompt rows into n sampled responses per row. Backends register by
name (mot.backends) (`synthetic`, `hf`; `vllm` and OpenAI-compatible servers plug in the same way). Chunks are
appended to `<out>.partial/chunks.jsonl` as they finish; a restarted run with the same prompt
text, settings and weights (the directory's fingerprint) skips the chunks already there, and the
final file appears, atomically, only when every prompt is done. The random stream of each chunk
is derived from (seed, teacher, chunk index), so a resumed run writes the same bytes.
"""
from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import threading
from pathlib import Path

from . import engines  # noqa: F401  registers the vllm and openai backends
from .engines import cutoffs
from .backends import BACKENDS, BATCH, ignored_params, params_of, register
from .chat import chat_prompt, prefill, prompt_ids, trace
from .io import (MotError, check_out, dumps, model_fingerprint, release_output, remove_work, stable_hash,
                 stage_code, start_work, write_jsonl)
from .models import load_causal_lm, load_tokenizer
from .readers import iter_jsonl, read_jsonl


@register("synthetic")
class SyntheticTeacher:
    """A procedural teacher of the synthetic world (see world.STYLES)."""

    required = ("style",)  # params the config check asks for (mot.config)
    defaults = {"error_rate": 0.0, "format_error_rate": 0.0, "quirk_rate": 1.0}
    optional = ("quirk", "weak_op")

    def __init__(self, params: dict, sampling: dict):
        from .world import OPS, QUIRKS, STYLES

        if params.get("style") not in STYLES:
            raise MotError(f"synthetic teacher: params.style must be one of {', '.join(STYLES)}")
        if params.get("quirk") not in (None, *QUIRKS):
            raise MotError(f"synthetic teacher: params.quirk must be one of {', '.join(QUIRKS)}")
        if params.get("weak_op") not in (None, *OPS):
            raise MotError(f"synthetic teacher: params.weak_op must be one of {', '.join(OPS)}")
        self.params, self.temperature = params_of("synthetic", params), sampling["temperature"]

    def generate(self, rows, n, seed):
        from .world import teacher_trace

        out = []
        for row in rows:
            if "spec" not in row:
                raise MotError(f"synthetic teacher: prompt '{row['id']}' is not a synthetic problem")
            samples = []
            for k in range(n):
                rng = random.Random(stable_hash(seed, row["id"], k))
                p = self.params
                text = teacher_trace(row["spec"], p["style"], rng, self.temperature, p["error_rate"],
                                     p["format_error_rate"], p.get("quirk"), p.get("weak_op"), p["quirk_rate"])
                samples.append({"text": text, "finish_reason": "stop"})
            out.append(samples)
        return out


@register("hf")
class HFTeacher:
    """transformers generate, batched, with the model's own chat template (thinking on)."""

    required = ("model",)
    defaults = {"device": "cpu", "dtype": "float32", "batch_size": BATCH}
    local_weights = True  # params.model is loaded here (a local path is a rule's input)
    evaluates = True

    @staticmethod
    def gpus(params: dict) -> int:
        return 1 if str(params_of("hf", params)["device"]).startswith("cuda") else 0

    def __init__(self, params: dict, sampling: dict):
        import torch

        from .engines import torch_device

        params = params_of("hf", params)
        path, device = params["model"], torch_device(params["device"])
        dtype = getattr(torch, params["dtype"])
        self.tok = load_tokenizer(path)
        self.tok.padding_side = "left"
        self.model = load_causal_lm(path, dtype=dtype).to(device).eval()
        self.sampling, self.batch_size = sampling, params["batch_size"]

    def generate(self, rows, n, seed):
        import torch

        from .sampler import sample_ids

        torch.manual_seed(seed)
        prompts = [chat_prompt(self.tok, r["prompt"]) for r in rows]
        enc = self.tok.pad({"input_ids": [prompt_ids(self.tok, p) for p in prompts]}, return_tensors="pt").to(
            self.model.device)
        eos = self.model.generation_config.eos_token_id
        eos = set(eos if isinstance(eos, list) else [eos])
        # transformers' generate, token for token, without computing rows that have ended (mot.sampler).
        # top_k 0: no top-k cut unless set, as vLLM and the paper's protocol (generate would apply its
        # default 50)
        greedy = self.sampling["temperature"] == 0
        gen = sample_ids(self.model, enc["input_ids"], enc["attention_mask"], n, self.sampling["max_tokens"], eos,
                         self.sampling["temperature"], None if greedy else self.sampling["top_p"],
                         **({} if greedy else cutoffs(self.sampling)))
        results = []
        for i in range(len(rows)):
            samples = []
            for seq in gen[i * n:(i + 1) * n]:
                stop = next((j for j, t in enumerate(seq) if t in eos), None)
                text = self.tok.decode(seq if stop is None else seq[:stop], skip_special_tokens=False)
                samples.append({"text": trace(prefill(prompts[i]), text.replace(self.tok.pad_token or "\0", "")),
                                "finish_reason": "length" if stop is None else "stop"})
            results.append(samples)
        return results


def _quoted(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def read_samples(path: str, required: tuple[str, ...] = ("id", "answer", "samples")) -> list[dict]:
    """Rows of a samples file (the output of generate_samples); a row without a required key, or a
    sample without its text or why it ended (stop or length: mot.engines.FINISH_REASONS), is an error
    naming the file and line."""
    rows = []
    for lineno, row in iter_jsonl(path):
        for key in required:
            if row.get(key) in (None, ""):
                raise MotError(f"{path}:{lineno}: missing or empty '{key}'")
        for key in ("answer", "id", "teacher", "source", "prompt"):  # text: what grading compares, what rows are
            if key in row and row[key] is not None and not isinstance(row[key], str):  # keyed and written by
                raise MotError(f"{path}:{lineno}: '{key}' is {type(row[key]).__name__} {_quoted(row[key])}, not text")
        samples = row.get("samples")
        if not isinstance(samples, list):
            raise MotError(f"{path}:{lineno}: 'samples' must be a list")
        for k, s in enumerate(samples):
            if not isinstance(s, dict) or not isinstance(s.get("text"), str):
                raise MotError(f"{path}:{lineno}: sample {k} of '{row.get('id')}' has no 'text'")
            if s.get("finish_reason") not in ("stop", "length"):
                raise MotError(f"{path}:{lineno}: sample {k} of '{row.get('id')}' has finish_reason "
                               f"{s.get('finish_reason')!r}, not stop or length")
        rows.append(row)
    return rows


# What sampling writes in its work directory (`<out>.partial/`), besides the stamp: anything else
# there is the user's (mot.io.start_work's `own`).
WORK_FILES = {"records.jsonl": None}


def _read_records(path: Path) -> list[dict]:
    """Records an earlier attempt finished; one cut off mid-write and all after it are dropped."""
    done = []
    if path.is_file():
        with open(path, encoding="utf-8") as f:
            for line in f:
                try:
                    done.append(json.loads(line))
                except json.JSONDecodeError:
                    break
    return done


def parse_shard(text: str | None) -> tuple[int, int]:
    """'J/K' (0 <= J < K): this job's share of the prompts; None: all of them."""
    if not text:
        return 0, 1
    try:
        j, k = (int(x) for x in text.split("/"))
    except ValueError:
        raise MotError(f"--shard {text!r}: expected J/K, e.g. 0/4") from None
    if not 0 <= j < k:
        raise MotError(f"--shard {text!r}: need 0 <= J < K")
    from .spec import check_count

    check_count(k, f"--shard {text}", "K")  # the config's counts' range (a teacher's shards)
    return j, k


def generate_samples(prompts_path: str, teacher: dict, sampling: dict, seed: int, out: str,
                     chunk_size: int | None = None, shard: tuple[int, int] = (0, 1)) -> None:
    """n samples per prompt of `prompts_path` (this shard's share of them) into `out`."""
    try:
        _generate(prompts_path, teacher, sampling, seed, out, chunk_size, shard)
    except MotError as e:  # name the teacher, once
        if str(e).startswith(f"teacher '{teacher['name']}'"):
            raise
        raise MotError(f"teacher '{teacher['name']}': {e}") from None
    finally:  # however it ends: the next writer may start
        release_output(out)


def teacher_params_error(backend: str, params: dict) -> str | None:
    """What the schema cannot say of a teacher's params (`<key>: <why>`), for the config check and
    --teacher alike: the keys its backend needs, and a synthetic teacher's style (mot.world.STYLES)."""
    from .world import STYLES

    for key in BACKENDS[backend].required:
        if key not in params:
            return f"backend '{backend}' needs '{key}'"
    if why := ignored_params(backend, params):
        return why
    if backend == "synthetic" and params["style"] not in STYLES:
        return f"style: unknown style '{params['style']}' (known: {', '.join(STYLES)})"
    if backend == "openai" and (why := _credentials_in(params["base_url"])):
        return (f"base_url: {why} (not shown): the key goes in the environment variable that api_key_env "
                "names, never in the config, which the run's provenance and logs record")
    if backend == "openai" and (taken := [k for k in params.get("extra_body") or {}
                                          if k in BACKENDS["openai"].PROTOCOL_KEYS]):
        return (f"extra_body: {', '.join(map(repr, taken))} is set by mot from the prompt and the sampling "
                "protocol (set it under sampling, or the prompt template); extra_body adds other keys only")
    return None


def _credentials_in(url: str) -> str | None:
    """Whether a URL may carry credentials: user:password@, or any query or fragment. An
    OpenAI-compatible base_url has neither (the client appends /chat/completions to it), and a query's
    names say too little (`?code=`, `?pwd=`, `?credential=` carry keys too), so none is accepted."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        userinfo = parts.username or parts.password
    except ValueError:  # a malformed URL (a bad port): the request names it
        return None
    if userinfo:
        return "it carries credentials (user:password@)"
    if parts.query or parts.fragment or url.rstrip().endswith(("?", "#")):
        return "it has a query or fragment (a key may hide there; /chat/completions is appended to the URL)"
    return None


def check_teacher(teacher: dict):
    """The teacher's backend and params as the config check has them (error_rate "high" was a
    TypeError mid-run); its backend's class."""
    from .spec import check_block

    if teacher.get("backend") not in BACKENDS:
        raise MotError(f"--teacher: unknown backend {teacher.get('backend')!r} (known: {', '.join(BACKENDS)})")
    make = BACKENDS[teacher["backend"]]
    check_block({k: v for k, v in teacher.items() if k in ("backend", "params")}, "--teacher", "teachers.*",
                extend=lambda node: [node["properties"]["params"]["properties"].setdefault(k, v)
                                     for k, v in getattr(make, "params", {}).items()])
    if msg := teacher_params_error(teacher["backend"], teacher.get("params") or {}):  # before any work starts
        raise MotError(f"--teacher: teacher '{teacher.get('name')}': params: {msg}")  # (found after start_work)
    return make


def _generate(prompts_path, teacher, sampling, seed, out, chunk_size, shard) -> None:
    check_out(out, [prompts_path], is_dir=False)
    rows = read_jsonl(prompts_path, required=("id", "prompt", "answer"))
    from .spec import check_values

    check_values(sampling, "--sampling", "sampling", unknown=True)  # n 0 would publish no samples: the config's ranges
    make = check_teacher(teacher)
    params = params_of(teacher["backend"], teacher["params"])
    seen = {}
    for i, r in enumerate(rows, 1):  # one id twice would be sampled, and kept, twice
        if (first := seen.setdefault(r["id"], i)) != i:
            raise MotError(f"{prompts_path}: prompt id {r['id']!r} is in rows {first} and {i} (one id, one prompt)")
    if "batch_size" in params and (not isinstance(params["batch_size"], int) or params["batch_size"] < 1):
        raise MotError(f"params.batch_size = {params['batch_size']!r} is not a positive integer")
    streaming = hasattr(make, "stream")
    # Chunks are the unit of a chunked backend's random stream and of sharding (a shard is a run of
    # whole chunks, so the joined shards equal an unsharded run byte for byte).
    chunk_size = 1 if streaming else chunk_size or params.get("batch_size", BATCH)
    chunks = [rows[i:i + chunk_size] for i in range(0, len(rows), chunk_size)]
    j, k = shard
    first, last = j * len(chunks) // k, (j + 1) * len(chunks) // k
    mine = [r for c in chunks[first:last] for r in c]
    # Everything that shapes the samples: a resumed run never mixes in samples drawn for other
    # prompt text, other settings or other weights.
    model = params.get("model")
    fingerprint = ["generate", stage_code(f"generate[{teacher['backend']}]"), teacher, sampling, seed, chunk_size, shard, [(r["id"], r["prompt"]) for r in rows],
                   model_fingerprint(model) if model else None]
    work = start_work(out, fingerprint, WORK_FILES)
    records = _read_records(work / "records.jsonl")
    done = {x["id"]: x for rec in records for x in rec["rows"]}
    write_jsonl(work / "records.jsonl", records)  # the good prefix, without a torn line
    if done:  # a retry of a job that was stopped (a time limit, a preemption): only the rest is sampled
        print(f"resuming: {len(done)} of {len(mine)} prompts were sampled by an earlier attempt")
    # what is saved is counted on disk: the signal may come between a chunk's write and `done`'s update
    saved = lambda: len({x["id"] for rec in _read_records(work / "records.jsonl") for x in rec["rows"]})  # noqa: E731
    with _stopped_on_sigterm(lambda: f"{saved()} of {len(mine)} prompts are saved in {work}; a rerun resumes them"):
        _sample(make, params, sampling, seed, teacher, streaming, mine, chunks, first, last, done, work)
    missing = [r["id"] for r in mine if r["id"] not in done]
    if missing:
        raise MotError(f"{len(missing)} prompt(s) got no samples (first: '{missing[0]}')")
    write_jsonl(out, ({"id": r["id"], "source": r.get("source"), "prompt": r["prompt"], "answer": r["answer"],
                       "teacher": teacher["name"], **{key: v for key, v in done[r["id"]].items() if key != "id"}}
                      for r in mine))
    remove_work(work, WORK_FILES)
    release_output(out)


@contextlib.contextmanager
def _stopped_on_sigterm(saved):
    """SLURM ends a job at its time limit (or on preemption, scancel) with SIGTERM, then SIGKILL: stop with
    one line that says what is kept, instead of dying without a word. Every finished chunk is already on
    disk (fsync'd as it finished)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum, frame):
        raise MotError(f"stopped by {signal.Signals(signum).name} (a time limit, a preemption or scancel): {saved()}")

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _sample(make, params, sampling, seed, teacher, streaming, mine, chunks, first, last, done, work) -> None:
    """Sample this job's prompts that are not done yet, appending each finished chunk to the records."""
    from tqdm import tqdm

    backend, n = None, sampling["n"]
    bar = tqdm(total=len(mine), initial=len(done), desc=teacher["name"], unit="prompt", mininterval=2)
    with open(work / "records.jsonl", "a", encoding="utf-8") as f:
        def emit(finished: list[dict]) -> None:
            f.write(dumps({"rows": finished}) + "\n")
            f.flush()
            os.fsync(f.fileno())
            done.update((x["id"], x) for x in finished)
            bar.update(len(finished))

        try:
            if streaming:
                pending = [r for r in mine if r["id"] not in done]
                if pending:
                    backend = make(params, sampling)
                    backend.stream(pending, n, seed, lambda i, samples, extra=None: emit(
                        [{"id": pending[i]["id"], "samples": samples, **(extra or {})}]))
            else:
                for ci in range(first, last):
                    if all(r["id"] in done for r in chunks[ci]):
                        continue
                    backend = backend or make(params, sampling)
                    samples = backend.generate(chunks[ci], n, stable_hash(seed, teacher["name"], ci))
                    emit([{"id": r["id"], "samples": s} for r, s in zip(chunks[ci], samples)])
        finally:
            bar.close()
            if backend is not None and hasattr(backend, "close"):
                backend.close()


def join_samples(prompts_path: str, shards: list[str], out: str) -> int:
    """The shards of one teacher's samples, joined in prompt order; every prompt exactly once."""
    check_out(out, [prompts_path, *shards], is_dir=False)
    real = [os.path.realpath(s) for s in shards]  # a shard given twice, however spelt (not "out of order")
    if twice := [s for s, r in zip(shards, real) if real.count(r) > 1]:
        raise MotError(f"shard {twice[0]} given twice (each shard once, in order)")
    expected = [r["id"] for r in read_jsonl(prompts_path, required=("id",))]
    rows = []
    for path in shards:
        rows += read_samples(path)
    got = [r["id"] for r in rows]
    if got != expected:
        bad = next((i for i, (a, b) in enumerate(zip(got, expected)) if a != b), min(len(got), len(expected)))
        raise MotError(f"shards {', '.join(shards)}: prompt {bad} is '{got[bad] if bad < len(got) else None}', "
                       f"{prompts_path} has '{expected[bad] if bad < len(expected) else None}' (shards out of order "
                       "or incomplete)")
    write_jsonl(out, rows)
    return len(rows)

