"""The hf backend's sampler (mot.sampler, as `mot evaluate` runs it) against transformers' own
`model.generate`, on one evaluation's prompts, with the same warm model, in one process.

    .venv/bin/python benchmarks/sample_speed.py --world results/world/world.json \
        results/models/tiny/syn-boba/sft-concise/step-00050 results/models/tiny/syn-boba/sft-structured/step-00050

Each checkpoint samples every problem of the default's evaluation sets (syn-aime24, syn-aime25,
syn-val: 700) in the evaluation's chunks (64 problems, each chunk seeded as mot.generate seeds it),
with eval's settings (one sample, temperature 0.6, top-p 0.95, 256 tokens), on one thread as an
evaluation job has. The two sides alternate, best of --repeat each; every token of both is compared
(they must be identical). Prints seconds, the ratio and the tokens' lengths (the sampler gains where
a chunk's lengths differ: `generate` runs every row of a chunk until its longest ends).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", help="saved checkpoints (the default run's results/models/...)")
    ap.add_argument("--world", default="results/world/world.json")
    ap.add_argument("--benchmarks", default="syn-aime24,syn-aime25,syn-val")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--n", type=int, default=1)
    ap.add_argument("--max-tokens", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    a = ap.parse_args()

    import torch

    from mot.chat import chat_prompt, prompt_ids
    from mot.evaluate import load_benchmark
    from mot.io import stable_hash
    from mot.models import load_causal_lm, load_tokenizer
    from mot.sampler import sample_ids

    torch.set_num_threads(a.threads)
    problems = [p["problem"] for b in a.benchmarks.split(",") for p in load_benchmark(b, a.world)]
    for path in a.models:
        tok, model = load_tokenizer(path), load_causal_lm(path).eval()
        tok.padding_side = "left"
        eos = model.generation_config.eos_token_id
        eos = set(eos if isinstance(eos, list) else [eos])
        chunks = []
        for i in range(0, len(problems), a.batch_size):
            ids = [prompt_ids(tok, chat_prompt(tok, p)) for p in problems[i:i + a.batch_size]]
            chunks.append((tok.pad({"input_ids": ids}, return_tensors="pt"), stable_hash(0, "eval", len(chunks))))

        def run_generate():
            out = []
            for enc, seed in chunks:
                torch.manual_seed(seed)
                with torch.no_grad():
                    ids = model.generate(**enc, do_sample=True, temperature=0.6, top_p=0.95, top_k=0,
                                         max_new_tokens=a.max_tokens, num_return_sequences=a.n,
                                         pad_token_id=tok.pad_token_id)
                for seq in ids[:, enc["input_ids"].shape[1]:].tolist():
                    stop = next((j for j, t in enumerate(seq) if t in eos), None)
                    out.append(seq if stop is None else seq[:stop + 1])
            return out

        def run_sampler():
            out = []
            for enc, seed in chunks:
                torch.manual_seed(seed)
                out += sample_ids(model, enc["input_ids"], enc["attention_mask"], a.n, a.max_tokens, eos, 0.6, 0.95)
            return out

        times = {"generate": [], "mot.sampler": []}
        outputs = {}
        run_sampler()  # warm
        for _ in range(a.repeat):
            for name, fn in (("generate", run_generate), ("mot.sampler", run_sampler)):
                t0 = time.perf_counter()
                outputs[name] = fn()
                times[name].append(time.perf_counter() - t0)
        same = outputs["generate"] == outputs["mot.sampler"]
        lengths = [len(s) for s in outputs["mot.sampler"]]
        g, s = min(times["generate"]), min(times["mot.sampler"])
        print(f"{path}: {len(lengths)} samples, tokens mean {statistics.mean(lengths):.0f} max {max(lengths)}, "
              f"{sum(ln == a.max_tokens for ln in lengths)} cut at {a.max_tokens}; generate {g:.2f} s, "
              f"mot.sampler {s:.2f} s: {g / s:.2f}x; identical tokens: {same}")
        if not same:
            raise SystemExit("the two samplers disagree")


if __name__ == "__main__":
    main()
