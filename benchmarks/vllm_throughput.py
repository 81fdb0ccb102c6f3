"""The vllm backend (mot.generate.generate_samples, backend `vllm`) against a raw `LLM.generate` on
the same prompts, with the same warm engine, in one process. Prints tokens/s of each and the ratio.

    .venv/bin/python benchmarks/vllm_throughput.py --model data/bases/tiny-<key> --prompts 256 --n 4
    .venv/bin/python benchmarks/vllm_throughput.py --model /path/Qwen3-1.7B --dtype bfloat16 \
        --prompts 512 --n 4 --max-tokens 1024 --engine '{"gpu_memory_utilization": 0.8}'      # a GPU

The backend's path is the whole of generate_samples: fingerprinting, chat template, all prompts
submitted at once, each prompt written (and fsync'ed) as it finishes, the final JSONL. Engine
start-up is left out of both (one engine serves both). Runs alternate, best of --repeat.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--prompts", type=int, default=256)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--engine", type=json.loads, default={"enforce_eager": True,
                                                          "gpu_memory_utilization": 0.25})
    a = ap.parse_args()

    from vllm import SamplingParams

    from mot import generate as gen
    from mot.engines import VLLMTeacher
    from mot.io import write_jsonl

    params = {"model": a.model, "dtype": a.dtype, "engine": a.engine}
    sampling = {"n": a.n, "temperature": 0.6, "top_p": 0.95, "max_tokens": a.max_tokens}
    backend = VLLMTeacher(params, sampling)
    t0 = time.perf_counter()
    backend.llm = backend._engine(0)
    print(f"engine start: {time.perf_counter() - t0:.1f} s", flush=True)
    class Warm(VLLMTeacher):  # generate_samples' own path, on the warm engine
        def __new__(cls, *args):
            return backend

    gen.BACKENDS["vllm-warm"] = Warm
    backend.close = lambda: None

    tmp = Path(tempfile.mkdtemp(prefix="vllmbench-"))
    rows = [{"id": f"q{i}", "prompt": f"Compute {i % 97} + {(7 * i) % 89}, then multiply by {i % 9 + 2}.",
             "answer": "0"} for i in range(a.prompts)]
    write_jsonl(tmp / "prompts.jsonl", rows)
    tok = backend.llm.get_tokenizer()
    texts = [gen.chat_prompt(tok, r["prompt"]) for r in rows]
    sp = SamplingParams(n=a.n, temperature=0.6, top_p=0.95, max_tokens=a.max_tokens, skip_special_tokens=False,
                        spaces_between_special_tokens=False)

    def raw() -> tuple[float, int]:
        t = time.perf_counter()
        outs = backend.llm.generate(texts, sp, use_tqdm=False)
        dt = time.perf_counter() - t
        return dt, count([c.text for o in outs for c in o.outputs])

    def count(samples: list[str]) -> int:  # both sides counted alike: the texts, tokenized again
        return sum(len(tok(s, add_special_tokens=False)["input_ids"]) for s in samples)

    def ours(k: int) -> tuple[float, int]:
        out = tmp / f"ours-{k}.jsonl"
        t = time.perf_counter()
        gen.generate_samples(str(tmp / "prompts.jsonl"), {"name": f"bench{k}", "backend": "vllm-warm",
                                                               "params": params}, sampling, k, str(out))
        dt = time.perf_counter() - t
        return dt, count([s["text"] for x in out.read_text().splitlines() for s in json.loads(x)["samples"]])

    raw()  # warm-up (first batches compile/allocate)
    best = {"raw": 0.0, "ours": 0.0}
    for k in range(a.repeat):
        for name, fn in (("raw", raw), ("ours", lambda: ours(k))):
            dt, toks = fn()
            best[name] = max(best[name], toks / dt)
            print(f"{name:5s} run {k}: {toks} tokens in {dt:.2f} s = {toks / dt:,.0f} tokens/s", flush=True)
    print(f"\nmodel {a.model} ({a.dtype}), {a.prompts} prompts x n={a.n}, max_tokens {a.max_tokens}, "
          f"cpus {os.cpu_count()}")
    print(f"raw LLM.generate: {best['raw']:,.0f} tokens/s (best of {a.repeat})")
    print(f"mot vllm backend: {best['ours']:,.0f} tokens/s (best of {a.repeat})")
    print(f"ratio backend / raw: {best['ours'] / best['raw']:.3f}")


if __name__ == "__main__":
    main()
