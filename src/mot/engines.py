"""Generation engines for real scale: vLLM in the job's own process, and any OpenAI-compatible
endpoint (a hosted DeepSeek-R1, `vllm serve`, SGLang). Both register as teacher backends
(`mot.backends.BACKENDS`) and serve `mot evaluate` too.

    teachers:
      qwq: {backend: vllm, params: {model: Qwen/QwQ-32B, tensor_parallel_size: 4}}
      r1:  {backend: openai, params: {base_url: https://api.example.com/v1, model: deepseek-reasoner,
                                      api_key_env: R1_API_KEY}}

Both are *streaming* backends: every prompt of the job is submitted at once (vLLM batches them
continuously, an endpoint gets `concurrency` requests in flight) and each prompt's n samples are
handed to `emit` as soon as they are complete, so generate_samples writes them at once and a
killed job resumes prompt by prompt. A prompt already answered is never requested again.
"""
from __future__ import annotations

import asyncio
import atexit
import json
import math
import os
import random
from pathlib import Path

from .backends import SINGLE, layout, params_of, register
from .io import MotError, stable_hash
from .models import require_model
from .chat import THINK_CLOSE, THINK_OPEN, chat_prompt, prefill, prompt_ids, split_trace, trace

SEED_RANGE = 2 ** 31  # vLLM and OpenAI-style servers take a 32-bit signed seed


def visible_gpus() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def torch_device(value) -> str:
    """params.device as torch names it, refused in one line unless this job sees that device: torch's
    own error comes at the first tensor moved, as a traceback deep in loading ("cuda:7" on a node of 4
    GPUs, or on a CPU node)."""
    import torch

    try:
        dev = torch.device(value)
    except (RuntimeError, TypeError) as e:
        raise MotError(f"params.device = {value!r}: not a torch device ({e})") from None
    if dev.type == "cpu":
        return str(dev)
    backend = getattr(torch, dev.type, None)
    have = backend.device_count() if backend is not None and backend.is_available() else 0
    if (dev.index or 0) >= have:
        seen = f" (CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')})" if dev.type == "cuda" else ""
        raise MotError(f"params.device = {value!r}: this job sees {have} {dev.type} device(s){seen}")
    return str(dev)


def check_gpus(tp: int, pp: int, nodes: int) -> None:
    """Tensor x pipeline parallel must fit the GPUs this job was given (per node)."""
    if (tp * pp) % nodes:
        raise MotError(f"tensor_parallel_size {tp} x pipeline_parallel_size {pp} does not split over {nodes} nodes")
    need, have = tp * pp // nodes, visible_gpus()
    if need > 1 and need > have:
        raise MotError(f"tensor_parallel_size {tp} x pipeline_parallel_size {pp} over {nodes} node(s) needs {need} "
                       f"GPUs per node; this job sees {have} (CUDA_VISIBLE_DEVICES="
                       f"{os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')})")


def cutoffs(sampling: dict) -> dict:
    """The sampling cut-offs that are set (top_k, min_p): unset, the engine's own default (off) applies,
    and the request is the one the paper's protocol makes."""
    return {k: sampling[k] for k in ("top_k", "min_p") if sampling.get(k) is not None}


# Why a sample ended, as each engine says it, and as it is stored: "stop" (a natural end: grading
# counts it) or "length" (cut at max_tokens: never counted). vLLM (offline and `vllm serve`), SGLang
# and OpenAI say stop | length; TGI eos_token | stop_sequence | length; Anthropic-style gateways
# end_turn | stop_sequence | max_tokens. Anything else (vLLM's "abort", OpenAI's "content_filter" or
# "tool_calls", a missing reason) is refused in one line: a sample that did not end as asked is no
# trace, and counted wrong it would turn into "zero correct samples" without a word.
FINISH_REASONS = {"stop": "stop", "eos_token": "stop", "stop_sequence": "stop", "end_turn": "stop",
                  "length": "length", "max_tokens": "length"}


def in_process_on_cpu(tp: int, pp: int = 1, nodes: int = 1) -> None:
    """Run a one-worker vLLM engine on CPU in the process that asks for it (unless the user's
    VLLM_ENABLE_V1_MULTIPROCESSING says otherwise). vLLM's default starts an engine-core process and a
    worker process, each importing vLLM and torch again: about 25 s of a tiny model's 30 s engine start
    on two cores (benchmarks/engine_start.py). Its engine core also steps while the requests still
    arrive over its socket, so a batch's make-up, and with it each sample's random numbers (on CPU the
    engine is seeded, not each request), changes from run to run; in the process every request is in
    place before the first step, and the samples repeat. And its worker binds its threads to the
    machine's first core, as every other engine started beside it does, outside a SLURM allocation.
    On GPUs, or over several workers, vLLM's own choice stands."""
    from vllm.platforms import current_platform

    if current_platform.is_cpu() and tp * pp == 1 and nodes == 1:
        os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")


def sample(text: str, finish_reason: str | None, where: str = "") -> dict:
    """A sample as stored: its text and why it ended (FINISH_REASONS); `where`: the engine's address,
    which an error names."""
    if not isinstance(finish_reason, str) or finish_reason not in FINISH_REASONS:  # a list is no reason either
        raise MotError(f"{where + ': ' if where else ''}a sample ended with finish reason {finish_reason!r}, which "
                       f"is not one of {', '.join(FINISH_REASONS)} (stop or length as stored)")
    return {"text": text, "finish_reason": FINISH_REASONS[finish_reason]}


@register("vllm")
class VLLMTeacher:
    """vLLM offline inference: one engine per job, the model's chat template with thinking on.

    Params: model (path or hub id), dtype, tensor_parallel_size, pipeline_parallel_size, nodes
    (a teacher that spans nodes runs on Ray: PP = nodes), and `engine`, passed to vllm.LLM as is
    (gpu_memory_utilization, max_model_len, enforce_eager, ...). Seeds: each request gets
    stable_hash(seed, prompt id) on GPUs; on CPU, where vLLM refuses per-request seeds, the engine
    is seeded instead. Both are recorded in each output row."""

    required = ("model",)  # params the config check asks for (mot.config)
    defaults = {**SINGLE, "dtype": "auto", "engine": {}}
    evaluates, parallel = True, True

    @staticmethod
    def gpus(params: dict) -> int:
        """The whole engine: tensor x pipeline parallel (over params.nodes nodes)."""
        tp, pp, _ = layout("vllm", params)
        return tp * pp
    local_weights = True  # params.model is loaded here (a local path is a rule's input)

    def __init__(self, params: dict, sampling: dict):
        self.params, self.sampling, self.llm = params_of("vllm", params), sampling, None
        if os.path.isdir(params["model"]) or params["model"].startswith((".", "/")):
            require_model(params["model"])
        self.tp, self.pp, nodes = layout("vllm", params)
        check_gpus(self.tp, self.pp, nodes)

    def _engine(self, seed: int):
        from vllm import LLM

        if llm := self._reused(seed):
            return llm
        engine = dict(self.params["engine"])
        if self.params["nodes"] > 1:
            engine.setdefault("distributed_executor_backend", "ray")
        in_process_on_cpu(self.tp, self.pp, self.params["nodes"])
        try:
            return LLM(model=self.params["model"], dtype=self.params["dtype"], seed=seed,
                       tensor_parallel_size=self.tp, pipeline_parallel_size=self.pp, **engine)
        except Exception as e:  # vLLM's start-up errors rarely name the model
            lines = [x.strip() for x in str(e).splitlines() if x.strip()] or [""]
            why = lines[1] if "validation error" in lines[0] and len(lines) > 1 else lines[0]  # pydantic: the reason
            raise MotError(f"{self.params['model']}: vLLM could not start ({type(e).__name__}: {why[:300]})") from None

    def stream(self, rows: list[dict], n: int, seed: int, emit) -> None:
        from vllm import SamplingParams
        from vllm.platforms import current_platform

        engine_seed = self._seed = seed % SEED_RANGE
        self.llm = self.llm or self._engine(engine_seed)
        tok = self.llm.get_tokenizer()
        per_request = not current_platform.is_cpu()
        seeds = [stable_hash(seed, r["id"]) % SEED_RANGE if per_request else None for r in rows]
        s = self.sampling
        params = [SamplingParams(n=n, temperature=s["temperature"], top_p=s["top_p"], max_tokens=s["max_tokens"],
                                 seed=sd, skip_special_tokens=False, spaces_between_special_tokens=False, **cutoffs(s))
                  for sd in seeds]
        rendered = [chat_prompt(tok, r["prompt"]) for r in rows]
        # Token ids, not text: vLLM would add the tokenizer's BOS to a template that writes its own.
        ids = self.llm.enqueue([{"prompt_token_ids": prompt_ids(tok, p)} for p in rendered], params, use_tqdm=False)
        # enqueue returns the engine's internal ids ("<id>-<suffix>"); outputs carry "<id>"
        index = {key: i for i, rid in enumerate(ids) for key in (rid, rid.rsplit("-", 1)[0])}
        engine = self.llm.llm_engine
        while engine.has_unfinished_requests():
            for out in engine.step():
                if out.finished:
                    i = index[out.request_id]
                    opener = prefill(rendered[i])
                    emit(i, [sample(trace(opener, c.text), c.finish_reason)
                             for c in sorted(out.outputs, key=lambda c: c.index)],
                         {"seed": {"request": seeds[i], "engine": engine_seed}})

    def _key(self, seed: int) -> str:
        """What an engine is, but for its weights: the same key, config and tokenizer take new weights."""
        p = self.params
        return json.dumps([p["dtype"], self.tp, self.pp, p["nodes"], p["engine"], seed],
                          sort_keys=True)

    def _reused(self, seed: int):
        """The engine that the last checkpoint of this process ran on, with this checkpoint's weights in
        place of its own: one engine start per `mot evaluate` job, not one per checkpoint (on a cluster,
        minutes each). Only for a local checkpoint of the same key, config and tokenizer files (one
        run's checkpoints); anything else stops the idle engine first. The prefix cache (KV of the
        old weights) is dropped; on CPU, where the engine is seeded rather than each request, its
        generators are seeded again, as a fresh engine's are after warm-up, so that the samples are
        those of a fresh engine (tests/test_engines.py)."""
        import gc

        from vllm.platforms import current_platform

        from .hub import CONFIG_FILES, TOKENIZER_FILES
        from .checkpoints import same_files

        model, key = self.params["model"], self._key(seed)
        while _IDLE:
            idle_key, idle_model, llm = _IDLE.pop()
            if idle_key == key and os.path.isdir(model) and same_files(Path(idle_model), Path(model),
                                                                        CONFIG_FILES + TOKENIZER_FILES):
                llm.collective_rpc("reload_weights", kwargs={"weights_path": os.path.abspath(model)})
                llm.reset_prefix_cache()
                if current_platform.is_cpu():  # the CPU worker's warm-up step with a KV cache: the seed only
                    llm.collective_rpc("compile_or_warm_up_model")
                return llm
            del llm
            gc.collect()  # the engine's __del__ stops its worker processes
        return None

    def close(self) -> None:
        import gc

        if self.llm is not None and os.path.isdir(self.params["model"]):  # kept for the next checkpoint
            _IDLE.append((self._key(self._seed), self.params["model"], self.llm))
        self.llm = None
        gc.collect()


_IDLE: list = []  # (key, model directory, engine): at most one, the last checkpoint's (VLLMTeacher._reused)
atexit.register(_IDLE.clear)


def _cut(value, limit: int = 120) -> str:
    """A server's value quoted in an error: redacted, then cut (a cut first could leave a key's start
    too short to be recognised: mot.redaction)."""
    from .redaction import redact

    return redact(str(value))[:limit]


def message_trace(message: dict, finish_reason: str | None, opener: str | None, url: str) -> str:
    """The stored trace of one chat-completions choice. A reasoning parser (vLLM, SGLang, DeepSeek's
    API) returns the reasoning apart, as `reasoning_content` or `reasoning`; without one it stays in
    the content, where the opener the template pre-filled is missing: `opener` (from params.tokenizer's
    template) restores it. Without either, a content that closes a thought it never opened is refused
    rather than guessed at."""
    if not isinstance(message, dict) or not isinstance(message.get("content") or "", str):
        raise Refused(f"{url}: a choice without a chat message ({_cut(message)!r}): is this a chat-completions "
                      "endpoint?")
    content = message.get("content") or ""
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if reasoning and not isinstance(reasoning, str):
        raise Refused(f"{url}: the message's reasoning is a {type(reasoning).__name__}, not text "
                      f"({_cut(reasoning)!r})")
    if reasoning:
        return split_trace(reasoning, content, finish_reason != "length")
    if opener is None:
        if THINK_CLOSE in content and THINK_OPEN not in content.split(THINK_CLOSE, 1)[0]:
            raise Refused(f"{url}: the answer closes a thought it never opened (the chat template pre-fills "
                          "'<think>'): set the teacher's params.tokenizer to the served model's tokenizer, or serve "
                          "it with a reasoning parser")
        opener = ""
    return trace(opener, content)


class Refused(MotError):
    """An answer that retrying cannot change (a wrong key, a bad request)."""


@register("openai")
class OpenAITeacher:
    """Any OpenAI-compatible chat-completions endpoint, with bounded concurrency and retries.

    Params: base_url, model (the served name), api_key_env (the *name* of the environment
    variable holding the key; the key itself is never written anywhere), concurrency,
    max_retries, backoff_s / max_backoff_s (exponential backoff with full jitter; a Retry-After
    header is honoured), timeout_s, tokenizer (the served model's tokenizer, whose chat template
    tells what the server pre-fills; not needed when the server returns the reasoning apart),
    n_per_request (ask for n choices in one request, as vLLM and SGLang allow; false: n requests of one), send_seed, extra_body (merged into every request, e.g.
    {"chat_template_kwargs": {"enable_thinking": true}}). Retried: 408, 409, 429, 5xx, time-outs
    and dropped connections. Not retried: 401/403 and other 4xx."""

    required = ("model", "base_url")  # params the config check asks for (mot.config)
    defaults = {"concurrency": 16, "max_retries": 8, "backoff_s": 1.0, "max_backoff_s": 60.0, "timeout_s": 3600,
                "n_per_request": True, "send_seed": True, "extra_body": {}}
    optional = ("api_key_env", "tokenizer")

    RETRY_STATUS = {408, 409, 429}
    # What a request's body holds from the prompt and the sampling protocol (_request), and what would
    # change them under another name: extra_body may not set these (it is merged last, so a
    # temperature or a messages list there sampled another prompt at another temperature, stored as
    # this prompt's samples).
    PROTOCOL_KEYS = ("model", "messages", "n", "temperature", "top_p", "max_tokens", "top_k", "min_p", "seed",
                     "max_completion_tokens", "stream", "prompt")

    def __init__(self, params: dict, sampling: dict):
        self.params, self.sampling = params_of("openai", params), sampling
        self.url = params["base_url"].rstrip("/") + "/chat/completions"
        env = params.get("api_key_env")
        self.key = os.environ.get(env) if env else None
        if env and not self.key:
            raise MotError(f"params.api_key_env: the environment variable {env} is not set")
        from .redaction import register

        register(self.key)  # from here on, in every encoding, out of the console, the log and errors
        if self.key and (not self.key.isascii() or not self.key.isprintable() or self.key != self.key.strip()):
            # an HTTP header takes printable ASCII: a key with a line break, a space at an end or an
            # accented letter fails in the client (a traceback, or retries of a "protocol error")
            raise MotError(f"params.api_key_env: the environment variable {env} holds a key with a space, a line "
                           "break or a character that is not ASCII at an end or inside (an HTTP header cannot "
                           "carry it): set it to the key alone")
        # What the served model's template pre-fills, rendered here from its tokenizer (a local path or
        # hub id): known, not guessed. None: the server must return the reasoning apart.
        self.tokenizer = None
        if params.get("tokenizer"):
            from .models import load_tokenizer

            self.tokenizer = load_tokenizer(params["tokenizer"])

    def redact(self, text: str) -> str:
        """`text` without the API key in any encoding (a server may echo the request's headers in an
        error body: mot.redaction). Applied before any truncation, so that a cut cannot hide an echo."""
        from .redaction import redact

        return redact(text)

    def stream(self, rows: list[dict], n: int, seed: int, emit) -> None:
        try:
            asyncio.run(self._run(rows, n, seed, emit))
        except MotError as e:  # whatever a message quotes of a response, the key never reaches a log
            raise type(e)(self.redact(str(e))) from None

    async def _run(self, rows, n, seed, emit) -> None:
        import httpx

        p = self.params
        headers = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        limits = httpx.Limits(max_connections=p["concurrency"])
        sem = asyncio.Semaphore(p["concurrency"])
        async with httpx.AsyncClient(headers=headers, limits=limits, timeout=p["timeout_s"]) as client:
            async def prompt(i):
                row = rows[i]
                if p["n_per_request"]:
                    seeds = [stable_hash(seed, row["id"]) % SEED_RANGE]
                    choices = await self._request(client, sem, row["prompt"], n, seeds[0])
                else:
                    seeds = [stable_hash(seed, row["id"], k) % SEED_RANGE for k in range(n)]
                    parts = await asyncio.gather(*(self._request(client, sem, row["prompt"], 1, s) for s in seeds))
                    choices = [c for part in parts for c in part]
                if len(choices) != n:
                    raise Refused(f"{self.url}: asked for {n} samples of '{row['id']}', got {len(choices)} "
                                  "(set n_per_request: false for servers that ignore n)")
                opener = prefill(chat_prompt(self.tokenizer, row["prompt"])) if self.tokenizer else None
                # a key the server echoes in an answer is no more stored than one in an error (redact)
                emit(i, [sample(self.redact(message_trace(c.get("message"), c.get("finish_reason"), opener, self.url)),
                                c.get("finish_reason"), self.url) for c in choices],
                     {"seed": seeds if p["send_seed"] else None})

            tasks = [asyncio.create_task(prompt(i)) for i in range(len(rows))]
            try:
                await asyncio.gather(*tasks)
            finally:
                for t in tasks:
                    t.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _request(self, client, sem, prompt: str, n: int, seed: int) -> list[dict]:
        import httpx

        p, s = self.params, self.sampling
        body = {"model": p["model"], "messages": [{"role": "user", "content": prompt}], "n": n,
                "temperature": s["temperature"], "top_p": s["top_p"], "max_tokens": s["max_tokens"], **cutoffs(s),
                **({"seed": seed} if p["send_seed"] else {}), **p["extra_body"]}
        retries, jitter = p["max_retries"], random.Random()
        for attempt in range(retries + 1):
            wait = 0.0
            try:
                async with sem:
                    r = await client.post(self.url, json=body)
            except (httpx.TimeoutException, httpx.TransportError) as e:
                last = type(e).__name__
            else:
                if r.status_code == 200:
                    try:
                        choices = r.json()["choices"]
                        return sorted(choices, key=lambda c: c.get("index", 0))
                    except (ValueError, KeyError, TypeError, AttributeError):
                        raise Refused(f"{self.url}: HTTP 200 without a list of choices: "
                                      f"{self.redact(r.text.strip())[:200]!r}") from None
                if r.status_code in (401, 403):
                    raise Refused(f"{self.url}: HTTP {r.status_code}, the API key was refused (check the variable "
                                  f"{p.get('api_key_env') or '(none: params.api_key_env is not set)'})")
                if r.status_code < 500 and r.status_code not in self.RETRY_STATUS:
                    raise Refused(f"{self.url}: HTTP {r.status_code}: {self.redact(r.text.strip())[:200]}")
                last = f"HTTP {r.status_code}"
                wait = _retry_after(r.headers.get("retry-after"))
            if attempt == retries:
                raise MotError(f"{self.url}: no answer after {retries} retries (last: {last})")
            backoff = min(p["max_backoff_s"], p["backoff_s"] * 2 ** attempt)
            await asyncio.sleep(max(wait, jitter.uniform(0, backoff)))  # full jitter
        raise AssertionError("unreachable")


def _retry_after(value: str | None) -> float:
    """A server's Retry-After in seconds, at most 600; 0 (the backoff alone decides) for one that is no
    finite number of seconds ("nan" parses as a float: the wait became nan, and asyncio.sleep(nan) none)."""
    try:
        seconds = float(value) if value else 0.0
    except ValueError:
        return 0.0
    return min(seconds, 600.0) if math.isfinite(seconds) and seconds > 0 else 0.0
