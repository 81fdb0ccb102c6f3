"""A plan (mot.plan) as mot plan prints it, and as README's paper section shows it."""
from __future__ import annotations

from .memory import render_memory
from .plan import LABELS

PLAN_START, PLAN_END = "<!-- paper-plan:start -->", "<!-- paper-plan:end -->"  # README's block (mot plan --readme)
REFERENCE = {"train": 19.5, "generate": 19.0, "eval": 11.0, "total": 50.0}  # the Qwen3-8B bound


def _row(name, s) -> str:
    return (f"| {name} | {s['jobs']} | {s['gpus_per_job']} | {s['tokens'] / 1e6:,.1f}M | {s['gpu_hours']:,.1f} "
            f"| {s['runtime_min']} |")


def readme_block(result: dict) -> str:
    """The paper figures of docs/paper.md (mot plan --readme): the time limits of the sampling jobs and each GPU
    job's memory per GPU."""
    A = result["assumptions"]
    out = [f"Sampling jobs' time limits, at {A['engine_tok_s']:,} generated tokens/s per vLLM job "
           f"({A['endpoint_tok_s']:,} per endpoint), x{A['safety']:g}, with {A['engine_start_s']} s of engine start:", "",
           "| teacher | jobs | GPUs/job | tokens | limit/job (min) |", "|---|---|---|---|---|"]
    out += [f"| {t} | {s['jobs']} | {s['gpus_per_job']} | {s['tokens'] / 1e6:,.1f}M | {s['runtime_min']:,} |"
            for t, s in result["generate"].items()]
    return "\n".join(out + [""] + render_memory(result["memory"], result["gpu_mem_gib"])[2:])


def render(result: dict) -> str:
    A = result["assumptions"]
    head = "| | jobs | GPUs/job | tokens | GPU-hours | runtime/job (min) |\n|---|---|---|---|---|---|"
    out = ["# Compute plan", "",
           f"Assumptions: training FLOPs = 6 x (active) parameters x tokens at {A['mfu']:.0%} MFU of "
           f"{A['peak_flops'] / 1e12:,.0f} TFLOP/s per GPU (H100 dense bf16); teacher sampling "
           f"{A['gen_tok_s']:,} generated tokens/s per GPU; evaluation {A['eval_tok_s']:,} tokens/s per GPU at "
           f"{A['eval_tokens']:,} tokens per sample; mean training sequence / teacher sample {A['seq_tokens']:,} "
           "tokens unless corpus statistics are given (capped by train.max_length / the max_tokens limits). "
           "GPU-hours are compute only; runtime/job (the SLURM limit) of a sampling job is its tokens at its "
           f"engine's throughput as a whole ({A['engine_tok_s']:,} generated tokens/s per vLLM job, "
           f"{A['endpoint_tok_s']:,} per OpenAI-style endpoint, unless the config states a `throughput`), and adds start-up "
           f"({A['engine_start_s']} s per vLLM engine, one per job; an eval job loads each further checkpoint into it at "
           f"{A['weights_load_bytes_s'] / 1e9:g} GB/s; {A['train_start_s']} s per training job) and is "
           f"x{A['safety']:g}, at least {A['floor_min']} min; for MoT it is per branch (with `mot.jobs: per_set` "
           "one job trains several). CPU jobs count 0 GPU-hours.", "",
           "## Teacher sampling (shared by all students)", "", head.replace("| |", "| teacher |")]
    out += [_row(t, s) for t, s in result["generate"].items()]
    for st, s in result["students"].items():
        out += ["", f"## {s['label']}", "", head.replace("| |", "| stage |")]
        out += [_row(LABELS[k], v) for k, v in s["stages"].items()]
        out += [f"| **total** | {sum(v['jobs'] for v in s['stages'].values())} | | | **{s['gpu_hours']:,.1f}** | |"]
    out += ["", "## Totals", "", "| stage | jobs | GPU-hours |", "|---|---|---|"]
    out += [f"| {LABELS[k]} | {v['jobs']} | {v['gpu_hours']:,.1f} |" for k, v in result["stages"].items()]
    out += [f"| **total** | {result['jobs']} | **{result['gpu_hours']:,.1f}** |", ""]
    out += render_memory(result["memory"], result["gpu_mem_gib"])
    out += ["",
            "## Lower bound: one student's MoT result", "",
            "The MoT of `report.mot` for one student on the first source: its teachers' samples on that "
            "source, its branches and merges, the evaluation of the base and of its merged rounds.", "",
            "| student | source | sampling | training | evaluation | total | this student in the grid |",
            "|---|---|---|---|---|---|---|"]
    for st, s in result["students"].items():
        lb = s["lower_bound"]
        out += [f"| {s['label']} | {lb['source']} | {lb['generate']:,.1f} | {lb['train']:,.1f} | {lb['eval']:,.1f} "
                f"| **{lb['total']:,.1f}** | {s['with_sampling']:,.1f} |"]
    c, ref = result["counts"], REFERENCE
    for st, s in result["students"].items():
        if s["model"] != "qwen3-8b":
            continue
        lb, g = s["lower_bound"], s["stages"]
        train = g["train_std"]["gpu_hours"] + g["train_mtd"]["gpu_hours"] + g["train_mot"]["gpu_hours"]
        gen = result["stages"]["generate"]["gpu_hours"]
        ratio = lambda a, b: f"x{a / b:.1f}" if b else "n/a"  # noqa: E731
        out += ["", f"{s['label']} alone (its jobs and all teacher sampling): **{s['with_sampling']:,.1f} GPU-hours** "
                f"against the reference lower bound of ~{ref['total']:g} H100-hours (training {ref['train']:g} + "
                f"sampling {ref['generate']:g} + evaluation {ref['eval']:g}; computed here: {lb['train']:.1f} + "
                f"{lb['generate']:.1f} + {lb['eval']:.1f} = {lb['total']:.1f}). The bound is one MoT run "
                f"({len(lb['teachers'])} teachers, {c['rounds']} rounds) on one source; the grid trains, on each of "
                f"{c['sources']} sources, {c['teachers']} STD runs, one MTD run and the rounds 2..{c['rounds']} of "
                f"{len(c['sets'])} teacher sets (sizes {', '.join(map(str, c['sets']))}): training "
                f"{ratio(train, lb['train'])}; it evaluates {s['ckpts']} checkpoints instead of {c['rounds'] + 1}: "
                f"evaluation {ratio(g['eval']['gpu_hours'], lb['eval'])}; it samples every teacher on every "
                f"source: sampling {ratio(gen, lb['generate'])}. The other students add their own training and "
                "evaluation; the sampling is shared."]
    return "\n".join(out) + "\n"
