"""Compute plan: jobs, GPUs, tokens, GPU-hours and per-job runtime of each stage of the workflow.

    plan(config) -> dict;  render(plan(config)) -> Markdown (results/plan.md)
    job_runtime_minutes(config, "train_std", student="qwen3-8b") -> SLURM `runtime` minutes

Pure: a validated config dict (and, once the corpora exist, their statistics) in, numbers out.
Costs are counted per unit job, the jobs of `mot.jobs: per_branch`: round-1 branches shared by the
teacher sets (one per teacher any set uses), then one branch per (set, round >= 2, teacher) and one
merge per (set, round). With `mot.jobs: per_set` the workflow runs the same units in fewer jobs (the
round-1 branches in one, each set's later branches and merges in one): the job counts say so, the
GPU-hours are the same, and job_runtime_minutes stays per unit (the rule multiplies by its units).
CPU-only bookkeeping jobs (world, prompts, corpus, join, stats) are left out: minutes, no GPUs.
"""
from __future__ import annotations

import math

from . import catalog
from .grid import Grid
from .layout import mot_run, probed
from .memory import arch_of, job_memory

# ---------------------------------------------------------------------------------- assumptions
# The reference (the issue): one Qwen3-8B student on the paper's protocol needs at least ~50
# H100-hours = training ~19.5 (50% MFU) + teacher sampling ~19 + evaluation ~11. Solved for what it
# leaves open, with the scope that makes it one coherent experiment (lower_bound(): the MoT result
# of one student on one source, i.e. its K=4 teachers' samples, branches and merges, and the
# evaluation of the base and of its T=5 merged rounds):
# - training: 19.5 h x 3600 x 0.5 x 989e12 / (6 x 8.2e9) = 7.06e8 tokens. One STD run is 250 x 64
#   = 16,000 sequences: 44k tokens each, over train.max_length (25k), so the reference cannot be
#   one STD run. MoT's 4 branches x 5 rounds x 50 steps x 64 = 64,000 sequences (the tokens of four
#   STD runs) give 11.0k tokens per sequence, a usual mean for the correct long-CoT traces of
#   QwQ/R1-class teachers on competition math (prompts add ~1%, left out) -> seq_tokens = 11,000
#   (19.46 h, -0.2%).
# - sampling: 4 teachers x 200 prompts x 16 samples x 11k tokens = 1.41e8 tokens in 19 h is 2,060
#   tokens/s per GPU -> gen_tok_s = 2,000 (19.56 h, +3%). Optimistic: a bandwidth roofline for
#   QwQ-32B at TP 4 (16 GB of weights and ~52 GB of bf16 KV cache read per step per GPU, ~140
#   sequences in flight) gives ~1,200; DeepSeek-R1 over two nodes less. Kept because it is the
#   reference's, and an FP8 KV cache or a faster engine gets near it. (Reading the reference as
#   400 prompts x 16 samples of ONE teacher gives the same 19 h at ~1,000 tokens/s, but MoT needs
#   all four teachers' corpora.)
# - evaluation: (5 rounds + base) x 60 AIME problems x 16 samples x 14k tokens (Qwen3-8B in thinking
#   mode on AIME; the order of published measurements, not measured here) at the same 2,000
#   tokens/s per GPU -> 11.2 h (+2%). Same per-GPU rate as the teachers: an 8B on one GPU and a 32B
#   at TP 4 both read ~16 GB of weights per GPU per decoding step. Not modelled, so the plan errs
#   low: larger students sample slower per GPU than the 8B, and MoE training runs below 50% MFU.
ASSUMPTIONS = dict(
    peak_flops=989e12,   # H100 SXM, dense bf16 FLOP/s
    mfu=0.5,             # model FLOPs utilization of training (6 x params x tokens over peak)
    seq_tokens=11_000,   # mean training sequence / teacher sample, without corpus statistics
    gen_tok_s=2_000,     # teacher sampling, generated tokens/s per GPU (vLLM)
    eval_tokens=14_000,  # mean tokens of one student sample on the benchmarks
    eval_tok_s=2_000,    # student sampling, generated tokens/s per GPU (vLLM)
    # Runtime only (the GPU-hours above are compute only, a lower bound). A sampling job's time limit
    # comes from its engine's throughput as a whole, not per GPU: decoding is bound by reading weights
    # and KV cache, and a TP 8 engine is not 8 times a TP 1 one. A realistic 2-5k generated tokens/s
    # for a TP 8 (Qwen3-235B) or TP 8 x PP 2 (DeepSeek-R1) job, 1-3k for a 32B at TP 4, ~2k for an 8B
    # student on one GPU at 14k-token samples: the low end is stated, so ~35M tokens of one teacher on
    # one source get ~5 h (x safety), not the 47-83 min that 2,000 tokens/s per GPU would give. A
    # teacher, eval, general or a Table-9 pair may state its own (`throughput`, tokens/s of the job).
    engine_tok_s=2_000,   # a vLLM engine's generated tokens/s, the whole job (any TP x PP)
    endpoint_tok_s=1_000,  # an OpenAI-style endpoint at its concurrency (a hosted R1: rate limits)
    engine_start_s=300,  # vLLM: weights from a shared filesystem, CUDA graphs; per engine (one per eval job)
    weights_load_bytes_s=1e9,  # each further checkpoint of an eval job, loaded into its engine (reload_weights)
    train_start_s=600,   # accelerate/FSDP start, model load, one consolidated save per save_every
    merge_bytes_s=0.64e9,  # mot merge moves (K+1) checkpoints at ~0.64 GB/s (benchmarks/README.md)
    safety=2.0,          # the throughputs are optimistic (above): 2x before a job hits its limit
    floor_min=10,        # no SLURM limit below 10 minutes (queueing, start-up jitter)
    pretrain_steps_s=5.5,  # the synthetic base's pre-training on 2 CPU cores (measured: 5-6.5 steps/s)
)


def pretrain_runtime_minutes(pretrain: dict, assumptions: dict | None = None) -> int:
    """SLURM `runtime` of rule world_student (a CPU job): its steps at the measured rate, x safety."""
    A = _assume(assumptions)
    return max(A["floor_min"], math.ceil(A["safety"] * pretrain["steps"] / A["pretrain_steps_s"] / 60))

BENCHMARK_PROBLEMS = {"aime24": 30, "aime25": 30, "math500": 500}  # data/<name>.jsonl
STAGES = ("generate", "train_std", "train_mtd", "train_mot", "merge", "probe", "eval", "general", "tables")
STUDENT_STAGES = ("train_std", "train_mtd", "train_mot", "merge", "probe", "eval", "general")
# Problems per lm-eval task of config/paper.yaml's general block (their test splits); a task not
# listed counts GENERAL_DEFAULT_PROBLEMS. Multiple-choice tasks scored by log-likelihood generate
# nothing: their cost (one forward pass per choice) is left out.
GENERAL_PROBLEMS = {"ceval-valid": 1346, "ifeval": 541, "mmlu_pro": 12032, "mmlu_redux_generative": 5700,
                    "gpqa_diamond_cot_zeroshot": 198}
GENERAL_LOGLIKELIHOOD = {"ceval-valid"}
GENERAL_DEFAULT_PROBLEMS = 1000
LABELS = {"generate": "teacher sampling", "train_std": "STD training", "train_mtd": "MTD training",
          "train_mot": "MoT branches", "merge": "MoT merges", "probe": "reverse-merge probe merges",
          "eval": "evaluation", "general": "general benchmarks", "tables": "tables and figures"}


def _model(config: dict, student: str) -> str:
    return config["students"][student].get("path", "").rstrip("/").split("/")[-1].lower()


def params(config: dict, student: str, assumptions: dict | None = None) -> tuple[float, float] | None:
    """(active, total) parameters of a student: from its arch (synthetic), mot.memory's figures of its
    hub id or its local checkpoint; None when unknown (its training and merges are then costed at the
    floor, and mot plan says so)."""
    s = config["students"][student]
    if student in (assumptions or {}).get("params", {}):
        return tuple(assumptions["params"][student])
    if s["init"] == "synthetic":  # Qwen3Config as mot.student builds it: tied embeddings, head_dim = h / heads
        a = s["arch"]
        h, hd = a["hidden_size"], a["hidden_size"] // a["num_heads"]
        layer = 2 * h * hd * (a["num_heads"] + a["num_kv_heads"]) + 3 * h * a["intermediate_size"]
        n = config["world"]["vocab_size"] * h + a["num_layers"] * layer  # a synthetic student has a world
        return float(n), float(n)
    a = arch_of(s.get("path"))
    return (a.active, a.params) if a else None


def read_corpus_stats(paths: list[str]) -> dict:
    """results/corpora/<source>/stats.csv files (mot stats) -> {source: {teacher: {n, mean_tokens}}}."""
    from .readers import read_csv

    out = {}
    for path in paths:
        for row in read_csv(path, ("source", "teacher", "kept", "mean_tokens"), "corpus statistics"):
            if not row["teacher"].startswith("ALL TEACHERS"):  # the MTD row is recomputed from these
                out.setdefault(row["source"], {})[row["teacher"]] = {
                    "n": row.num("kept", int), "mean_tokens": row.num("mean_tokens")}
    return out


def engine_gpus(backend: str, p: dict) -> int:
    """GPUs a sampling job holds (a teacher's or eval's), as its backend declares them (mot.backends:
    TP x PP for vllm, the whole engine; 1 for hf on CUDA). The rules ask SLURM for this many
    (rules/common/resources.smk). lm-eval's model types (general.backend) go by the same names."""
    from .backends import gpus
    from .generate import BACKENDS  # noqa: F401  (mot.generate files every backend)

    return gpus(backend, p)


def student_gpus(config: dict, student: str) -> int:
    """GPUs a training job of this student holds: its launch's processes (bf16 training is GPU training)."""
    return config["students"][student]["launch"]["processes"] if config["train"]["bf16"] else 0


def throughput(spec: dict, backend: str, A: dict) -> float | None:
    """Generated tokens/s of one sampling job: the engine's own `throughput`, else the stated one of its
    backend (vllm, openai); None for the CPU backends (synthetic, hf), whose jobs get the floor."""
    return spec.get("throughput") or {"vllm": A["engine_tok_s"], "openai": A["endpoint_tok_s"]}.get(backend)


def _trace(config, stats, source, teacher, A) -> float:
    """Mean tokens of one training sequence of this teacher's corpus (the kept traces)."""
    s = (stats or {}).get(source, {}).get(teacher)
    return float(s["mean_tokens"]) if s else float(min(A["seq_tokens"], config["train"]["max_length"]))


def _jobs(config: dict, stats: dict | None, A: dict) -> list[dict]:
    """Every unit job the workflow schedules (mot.grid), with its GPUs, tokens, GPU-seconds and runtime."""
    tr, ev, samp = config["train"], config["eval"], config["sampling"]
    g = Grid(config)
    jobs = []

    def add(u, gpus, tokens=0.0, gpu_s=0.0, start_s=0.0, wall_s=0.0, sampled_s=None):
        """sampled_s: a sampling job's time at its engine's throughput (else compute over its GPUs)."""
        wall = wall_s + (gpu_s / gpus if sampled_s is None else sampled_s) + start_s if gpus or sampled_s \
            else wall_s  # CPU jobs: no estimate but their own
        # the scheduled job it is in: with per_set, a MoT job's units share one (its merges run inside
        # it and count no job of their own); otherwise every unit is a job
        job = len(jobs) if u["job"] is None else u["job"] if u["stage"] == "train_mot" else None
        key = {k: v for k, v in u.items() if k not in ("job", "shard", "shards", "output", "pct") and v is not None}
        jobs.append(dict(key, gpus=gpus, tokens=tokens, gpu_s=gpu_s, job=job,
                         runtime_min=max(A["floor_min"], math.ceil(A["safety"] * wall / 60))))

    eval_gpus = engine_gpus(ev["backend"], ev["params"])
    from .world import OPTIONAL

    world = {**OPTIONAL, **config["world"]} if "world" in config else None  # no world: no synthetic benchmark
    sizes = {"syn-val": world["val_size"], "syn-aime24": world["test_size"], "syn-aime25": world["test_size"]} \
        if world else {}

    def ckpt_tokens(benchmarks, n):
        return sum(sizes.get(b, BENCHMARK_PROBLEMS.get(b, 30)) for b in benchmarks) * n \
            * min(A["eval_tokens"], ev["max_tokens"])

    # every checkpoint is sampled on the test benchmarks and on the validation ones (report.select_on);
    # a probe point on the probe's benchmarks (default: eval's) and the validation ones, n times (default: eval's)
    per_ckpt = ckpt_tokens(ev["benchmarks"] + ev["validation"], ev["n"])
    per_probe = ckpt_tokens(g.probe["benchmarks"] + ev["validation"], g.probe["n"]) if g.probe else 0
    general = config.get("general") or {}
    sizes_of = {st: params(config, st, A) for st in g.students}
    def sizes_of_eval(u):  # parameters of the checkpoints an eval job loads (bf16 bytes: x2)
        return (sizes_of.get(u.get("student")) or (0, 0))[1]

    for u in g.units():
        stage, so, t, st = u["stage"], u.get("source"), u.get("teacher"), u.get("student")
        if stage == "generate":
            n, k, i = config["sources"][so]["n"], u["shards"], u["shard"]
            if t in g.as_teachers:  # Table 9: a trained student samples with its pair's engine and sampling
                spec = g.st_pair(t)
                gpus = engine_gpus(spec["backend"], spec["params"])
                s = {**samp, **spec["sampling"]}
                tokens = n * s["n"] * min(A["seq_tokens"], s["max_tokens"])
            else:
                spec = config["teachers"][t]
                gpus = engine_gpus(spec["backend"], spec["params"])
                length = min(_trace(config, stats, so, t, A), samp["max_tokens"])  # kept traces: a low mean
                tokens = (n * (i + 1) // k - n * i // k) * samp["n"] * length
            rate = throughput(spec, spec["backend"], A)
            add(u, gpus, tokens, tokens / A["gen_tok_s"] if gpus else 0.0, A["engine_start_s"] if gpus else 0.0,
                sampled_s=tokens / rate if rate else None)
        elif stage in ("train_std", "train_mtd", "train_mot"):
            if stage == "train_mtd":  # the union of the corpora of set `all` (rule mtd_corpus), a mean weighted by rows
                w = [((stats or {}).get(so, {}).get(x, {}).get("n", 1), _trace(config, stats, so, x, A))
                     for x in g.sets["all"]]
                length = sum(n * x for n, x in w) / sum(n for n, _ in w)
            elif t in g.as_teachers:
                length = min(A["seq_tokens"], tr["max_length"])
            else:
                length = _trace(config, stats, so, t, A)
            steps = tr["steps_per_round"] if stage == "train_mot" else tr["std_steps"]
            tokens, gpus = steps * tr["batch_size"] * length, student_gpus(config, st)
            flops = 6 * sizes_of[st][0] * tokens if sizes_of[st] else 0.0  # unknown size: the floor
            add(u, gpus, tokens, flops / (A["mfu"] * A["peak_flops"]) if gpus else 0.0,
                A["train_start_s"])
        elif stage == "merge":
            nbytes = (len(g.sets[u["tset"]]) + 1) * (2 if tr.get("bf16") else 4) * (sizes_of[st] or (0, 0))[1]  # K in, one out
            add(u, 0, wall_s=nbytes / A["merge_bytes_s"])
        elif stage == "probe":  # rule probe_point: one CPU merge per lambda, then its eval
            add(u, 0, wall_s=3 * (2 if tr.get("bf16") else 4) * (sizes_of[st] or (0, 0))[1] / A["merge_bytes_s"])
        elif stage == "eval":
            tokens = u["ckpts"] * (per_probe if probed(u["run"]) else per_ckpt)
            rate = throughput(ev, ev["backend"], A)
            add(u, eval_gpus, tokens, tokens / A["eval_tok_s"] if eval_gpus else 0.0,
                A["engine_start_s"] + (u["ckpts"] - 1) * 2 * sizes_of_eval(u) / A["weights_load_bytes_s"],
                sampled_s=tokens / rate if rate else None)
        elif stage == "general":
            gpus = engine_gpus(general["backend"], general["model_args"])
            size = (config.get("world") or {}).get("general_size", GENERAL_DEFAULT_PROBLEMS)
            per_answer = min(A["eval_tokens"], (general.get("gen_kwargs") or {}).get("max_gen_toks", ev["max_tokens"]))
            tokens = sum(0 if x["task"] in GENERAL_LOGLIKELIHOOD else GENERAL_PROBLEMS.get(
                x["task"], size if x["task"].startswith("syn_") else GENERAL_DEFAULT_PROBLEMS)
                for x in general["tasks"].values()) * per_answer
            rate = throughput(general, general["backend"], A)
            add(u, gpus, tokens, tokens / A["eval_tok_s"] if gpus else 0.0, A["engine_start_s"],
                sampled_s=tokens / rate if rate else None)
    # every table and figure of this config (mot.catalog) and the README summary: one job each
    for o in catalog.present(config):
        if o.name != "diagnostics":
            add({"stage": "tables", "job": None}, 0)
    return jobs


def costed_jobs(config: dict, corpus_stats: dict | None = None, assumptions: dict | None = None) -> list[dict]:
    """Every unit job of mot.grid with its GPUs, tokens, GPU-seconds and runtime (and one per table)."""
    return _jobs(config, corpus_stats, _assume(assumptions))


def _sum(jobs: list[dict]) -> dict:
    return {"jobs": len({j["job"] for j in jobs} - {None}), "gpus_per_job": max((j["gpus"] for j in jobs), default=0),
            "tokens": sum(j["tokens"] for j in jobs), "gpu_hours": sum(j["gpu_s"] for j in jobs) / 3600,
            "runtime_min": max((j["runtime_min"] for j in jobs), default=0)}


def _assume(assumptions: dict | None) -> dict:
    return {**ASSUMPTIONS, **(assumptions or {})}


def job_runtime_minutes(config: dict, stage: str, student: str | None = None, teacher: str | None = None,
                        source: str | None = None, run: str | None = None, corpus_stats: dict | None = None,
                        assumptions: dict | None = None) -> int:
    """SLURM `runtime` of a job of this stage: the longest matching job's estimate x safety, >= floor.
    A key left None matches every job (eval: pass run="base" for rule eval_base, else its runs' max)."""
    A = _assume(assumptions)
    if stage not in STAGES:
        raise ValueError(f"unknown stage '{stage}' (known: {', '.join(STAGES)})")
    want = {"stage": stage, "student": student, "teacher": teacher, "source": source, "run": run}
    match = [j for j in _jobs(config, corpus_stats, A)  # a key the job lacks (eval_base: source) matches
             if all(v is None or j.get(k) in (v, None) for k, v in want.items())]
    return max((j["runtime_min"] for j in match), default=A["floor_min"])


def _lower_bound(config, jobs, student, source=None) -> dict:
    """The jobs one result depends on: the MoT of report.mot for one student on one source, its
    teachers' samples, and the evaluation of the base and of that run's merged rounds."""
    so, name = source or next(iter(config["sources"])), config["report"]["mot"]
    ts = config["teacher_sets"][name]
    part = {
        "generate": [j for j in jobs if j["stage"] == "generate" and j["source"] == so and j["teacher"] in ts],
        "train": [j for j in jobs if j["stage"] in ("train_mot", "merge") and j["student"] == student
                  and j["source"] == so and (j.get("tset") == name or (j["round"] == 1 and j.get("teacher") in ts))],
        "eval": [j for j in jobs if j["stage"] == "eval" and j["student"] == student
                 and (j["run"] == "base" or (j.get("source") == so and j["run"] == mot_run(name)))],
    }
    out = {k: sum(j["gpu_s"] for j in v) / 3600 for k, v in part.items()}
    return {"student": student, "source": so, "tset": name, "teachers": list(ts), **out, "total": sum(out.values())}


def lower_bound(config: dict, student: str, source: str | None = None, corpus_stats: dict | None = None,
                assumptions: dict | None = None) -> dict:
    """GPU-hours of the smallest experiment that gives one student's MoT number (see ASSUMPTIONS)."""
    return _lower_bound(config, _jobs(config, corpus_stats, _assume(assumptions)), student, source)


def plan(config: dict, corpus_stats: dict | None = None, assumptions: dict | None = None) -> dict:
    A = _assume(assumptions)
    jobs = _jobs(config, corpus_stats, A)
    of = lambda **kv: [j for j in jobs if all(j.get(k) == v for k, v in kv.items())]  # noqa: E731
    students = {}
    for st in config["students"]:
        s = {stage: _sum(of(stage=stage, student=st)) for stage in STUDENT_STAGES}
        own = sum(v["gpu_hours"] for v in s.values())
        students[st] = {"label": config["students"][st].get("label", st), "model": _model(config, st),
                        "ckpts": sum(j["ckpts"] for j in of(stage="eval", student=st)), "stages": s, "gpu_hours": own,
                        # what this student alone costs: its own jobs and every teacher's samples
                        "with_sampling": own + sum(j["gpu_s"] for j in of(stage="generate")) / 3600,
                        "lower_bound": _lower_bound(config, jobs, st)}
    stages = {stage: _sum(of(stage=stage)) for stage in STAGES}
    return {"assumptions": A, "stages": stages, "students": students, "memory": job_memory(config),
            "gpu_mem_gib": config["resources"]["gpu_mem_gib"],
            "generate": {t: _sum(of(stage="generate", teacher=t)) for t in config["teachers"]},
            "gpu_hours": sum(v["gpu_hours"] for v in stages.values()), "jobs": sum(v["jobs"] for v in stages.values()),
            "counts": {"sources": len(config["sources"]), "teachers": len(config["teachers"]),
                       "sets": [len(v) for v in config["teacher_sets"].values()], "rounds": config["train"]["rounds"]}}
