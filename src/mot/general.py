"""General capability (paper Tables 3 and 4) through an established harness, lm-evaluation-harness.

    mot general-tasks --world results/world/world.json --sampling '{"temperature": 0.6, ...}' \
        --out results/world/harness
    mot general --model results/models/tiny/syn-boba/best-std --tasks '{"SYN-DIV": {...}}' \
        --include results/world/harness --backend hf --out results/general/tiny/syn-boba/best-std.json

The paper scores the base, best-STD and MoT models on nine benchmarks in three groups; the tables
report each group's mean change against the base. Here lm-eval (`lm_eval.simple_evaluate`) runs
every task, with its own data, prompts, answer extraction and metrics; this module only writes the
synthetic world's stand-in tasks as lm-eval task files and keeps the metric each table column reads.
"""
from __future__ import annotations

import gc
import json
import tempfile
from pathlib import Path

from .io import MotError, atomic_path, check_out, write_json, write_jsonl, write_text

GROUPS = ("forgetting", "reasoning", "pure")  # Table 3 left, Table 3 right, Table 4

# The synthetic tasks' answer extraction: the last boxed integer, as math-verify reads our traces.
_TASK_YAML = """\
# lm-evaluation-harness task written by `mot general-tasks` from the synthetic world ({what}).
# Run it by hand from the workflow's directory:
#   lm_eval --model hf --model_args pretrained=<model> --include_path {include} --tasks {task} --apply_chat_template
task: {task}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_text: "{{{{problem}}}}"
doc_to_target: "{{{{answer}}}}"
generation_kwargs:
  until: ["<|im_end|>"]
  do_sample: {do_sample}
  temperature: {temperature}
  top_p: {top_p}
  max_gen_toks: {max_tokens}
filter_list:
  - name: boxed
    filter:
      - function: regex
        regex_pattern: "\\\\\\\\boxed\\\\{{(-?[0-9]+)\\\\}}"
        group_select: -1
      - function: take_first
metric_list:
  - metric: exact_match
    aggregation: mean
    higher_is_better: true
metadata:
  version: 1.0
"""

def write_tasks(world_path: str, sampling: dict, out: str, force: bool = False) -> list[str]:
    """One lm-eval task (YAML and JSONL) per synthetic general task of the world file, in the
    directory `out` (one that mot did not write is replaced only with `force`)."""
    from .world import GENERAL_TASKS, load_world

    check_out(out, [world_path], force)
    world = load_world(world_path)
    missing = [t for t in GENERAL_TASKS if not world.get(f"general-{t}")]
    if missing:
        raise MotError(f"{world_path}: no problems for the general tasks {', '.join(missing)} "
                       "(set world.held_out_op and world.general_size)")
    from .shapes import check, world_file

    check(world, world_file([f"general-{t}" for t in GENERAL_TASKS]), str(world_path))
    written = []
    with atomic_path(out, is_dir=True, force=force) as tmp:
        for task in GENERAL_TASKS:
            rows = world[f"general-{task}"]
            write_text(Path(tmp) / f"{task}.jsonl", "".join(
                json.dumps({"id": r["id"], "problem": r["problem"], "answer": r["answer"]}) + "\n" for r in rows))
            t = float(sampling["temperature"])
            write_text(Path(tmp) / f"{task}.yaml", _TASK_YAML.format(
                what=GENERAL_TASKS[task][2], task=task, include=out, data=f"{out}/{task}.jsonl",
                do_sample="true" if t > 0 else "false", temperature=t, top_p=float(sampling["top_p"]),
                max_tokens=int(sampling["max_tokens"])))
            written.append(task)
    return written


def _score(results: dict, column: str, spec: dict) -> dict:
    """The column's score, its standard error and the problem count from lm-eval's results."""
    task, metric = spec["task"], spec["metric"]
    row = results["results"].get(task) or results.get("groups", {}).get(task)  # a group: its aggregate
    if row is None or metric not in row:
        have = sorted(k for k in (row or {}) if "stderr" not in k and "," in k)
        raise MotError(f"general.tasks.{column}: lm-eval reported no '{metric}' for task '{task}'"
                       f" (it reported: {', '.join(have) or 'nothing for this task'})")
    name, _, filt = metric.partition(",")
    se = row.get(f"{name}_stderr,{filt}")
    counts = results.get("n-samples", {})
    leaves = _leaves(task, results.get("group_subtasks", {}))
    n = sum(counts[t]["effective"] for t in leaves if t in counts) if leaves else None
    return {"task": task, "metric": metric, "score": float(row[metric]),
            "se": float(se) if isinstance(se, (int, float)) else None, "n": n}


def _leaves(task: str, groups: dict) -> list[str]:
    """The tasks that a task or group scores, through groups of groups (mmlu_redux_generative's members
    are its subject groups stem, humanities, ...: counting its direct members found no samples)."""
    if task not in groups:
        return [task]
    return [leaf for member in groups[task] for leaf in _leaves(member, groups)]


# Reasoning models (Qwen3 and its kin) answer after a `<think>` block. lm-eval 0.4.13
# scores the text after `think_end_token` only when its model args name it (the same argument on its
# hf and vllm models: generate_until cuts each response there, postprocess_generated_text); without
# it the answer filters read the reasoning too (mmlu_pro's custom-extract takes the first "answer is
# (X)", often a guess the model then revises). `enable_thinking` goes to the chat template; True
# makes lm-eval refuse loglikelihood tasks (C-Eval), and Qwen3's template thinks unless told False.
THINKING = ("think_end_token", "enable_thinking")


def thinking_args(general: dict) -> dict:
    """The config's general block's thinking settings, as lm-eval model args (for either backend)."""
    return {k: general[k] for k in THINKING if general.get(k) is not None}


def lm_eval_model_args(model: str, backend: str, args: dict | None = None, seed: int = 0,
                       thinking: dict | None = None) -> dict:
    """lm-eval's model_args for `backend` (hf or vllm): the checkpoint, the config's model_args and
    its thinking settings (general.think_end_token, general.enable_thinking), the vllm engine's seed."""
    unknown = sorted(set(thinking or {}) - set(THINKING))
    if unknown:
        raise MotError(f"general: unknown thinking setting(s) {', '.join(unknown)} (known: {', '.join(THINKING)})")
    out = {"pretrained": model, **(args or {}), **{k: v for k, v in (thinking or {}).items() if v is not None}}
    if out.get("enable_thinking") and out.get("think_end_token") is None:
        raise MotError("general.enable_thinking needs general.think_end_token (lm-eval cuts each answer there)")
    if backend == "vllm":
        out.setdefault("seed", seed)  # the engine's sampling seed (lm-eval's own default is 1234)
    return out


def check_prompt_room(task: str, prompt_tokens: int, max_gen_toks: int, context: int, backend: str) -> None:
    """Refuse a prompt that lm-eval 0.4.13 would cut. When prompt + max_gen_toks exceeds the model's
    context, both its backends keep max_gen_toks and cut the prompt from the LEFT with a mere
    warning (vllm: generate_until -> utils.maybe_truncate; hf: generate_until's left_truncate_len of
    max_length - max_gen_toks): the chat header and the first few-shot examples go, and the run
    goes on to score a question the model never saw whole."""
    if prompt_tokens + max_gen_toks > context:
        knob = "max_model_len" if backend == "vllm" else "max_length"
        raise MotError(f"general: task {task}'s longest prompt is {prompt_tokens} tokens; with max_gen_toks "
                       f"{max_gen_toks} that is {prompt_tokens + max_gen_toks} > the context length {context}, and "
                       f"lm-eval would cut the prompt from the left: raise general.model_args.{knob} or lower "
                       "general.gen_kwargs.max_gen_toks")


def _refuse_cut_prompts(lm, backend: str) -> None:
    """Check every generative request of the run before the first is generated: lm-eval's evaluator
    hands `generate_until` all of them at once (every task's), rendered as it will send them (few-shot,
    chat template, thinking settings), and the model's own tokenizer, max_length (vllm: its
    max_model_len) and the requests' max_gen_toks decide, as in its truncation."""
    from lm_eval.models.utils import normalize_gen_kwargs

    generate = lm.generate_until

    def generate_until(requests, disable_tqdm: bool = False):
        worst = {}  # task: (prompt + max_gen_toks, prompt, max_gen_toks) of its longest request
        for r in requests:
            context, gen_kwargs = r.args
            n = len(lm.tok_encode(context))  # the backend's own encoding (hf and vllm alike take one string)
            gen = normalize_gen_kwargs(gen_kwargs, lm.max_gen_toks)["max_gen_toks"]
            worst[r.task_name] = max(worst.get(r.task_name, (0, 0, 0)), (n + gen, n, gen))
        for task, (_, n, gen) in sorted(worst.items(), key=lambda x: -x[1][0]):
            check_prompt_room(task, n, gen, lm.max_length, backend)
        return generate(requests, disable_tqdm)

    lm.generate_until = generate_until


def evaluate(model: str, tasks: dict, out: str, include: list[str] | None = None, backend: str = "hf",
             model_args: dict | None = None, batch_size: int | str = "auto", gen_kwargs: dict | None = None,
             limit: int | None = None, seed: int = 0, samples: str | None = None, tag: dict | None = None,
             thinking: dict | None = None) -> dict:
    """Run lm-eval on one model for every configured task and write {column: score} to `out`.
    `thinking`: think_end_token / enable_thinking (see THINKING), passed to either backend."""
    names = sorted({t["task"] for t in tasks.values()})
    with tempfile.TemporaryDirectory(prefix="mot-tasks-") as tmp:
        return _evaluate(model, tasks, out, names, resolve_includes(include, Path(tmp)), backend, model_args,
                         batch_size, gen_kwargs, limit, seed, samples, tag, thinking)


def resolve_includes(include: list[str] | None, tmp: Path) -> list[str] | None:
    """Task files that point lm-eval's own tasks at local data (config general.include), written
    without the machine's paths: `include: lm_eval/<task dir>/<file>.yaml` names a task file of the
    installed lm-eval, and a relative path under `data_files` that names a file beside the task file is
    that file (other paths are lm-eval's to read, from the working directory). Each
    directory that has such a file is copied to `tmp` with both made absolute; the others are
    passed as they are."""
    import yaml
    import lm_eval.tasks

    tasks_dir = Path(lm_eval.tasks.__file__).parent

    def resolve(node, here: Path):
        if isinstance(node, dict):
            out = {}
            for k, v in node.items():
                if k == "include" and isinstance(v, str) and v.startswith("lm_eval/"):
                    v = str(tasks_dir / v.removeprefix("lm_eval/"))
                elif k == "data_files" and isinstance(v, dict):  # beside the task file (else: lm-eval's own reading)
                    v = {split: str(here / f) if isinstance(f, str) and (here / f).is_file() else f
                         for split, f in v.items()}
                out[k] = resolve(v, here)
            return out
        return [resolve(x, here) for x in node] if isinstance(node, list) else node

    resolved = []
    for i, d in enumerate(include or []):
        files = sorted(Path(d).rglob("*.yaml"))
        docs = {}
        for f in files:
            try:
                text = f.read_bytes().decode("utf-8")
            except UnicodeDecodeError as e:  # lm-eval reads it as UTF-8 too: a traceback there
                raise MotError(f"{f}: not UTF-8 text (byte {e.start} is {e.object[e.start]:#04x})") from None
            try:
                docs[f] = yaml.safe_load(text)
            except yaml.YAMLError:  # lm-eval's own tags (!function): not one of ours
                docs[f] = None
        if not any(isinstance(doc, dict) and resolve(doc, f.parent.resolve()) != doc for doc in docs.values()):
            resolved.append(d)
            continue
        out = tmp / str(i)
        for f, doc in docs.items():
            target = out / f.relative_to(d)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(yaml.safe_dump(resolve(doc, f.parent.resolve()), sort_keys=False) if isinstance(doc, dict)
                              else f.read_text(encoding="utf-8"))
        resolved.append(str(out))
    return resolved or None


def _evaluate(model, tasks, out, names, include, backend, model_args, batch_size, gen_kwargs, limit, seed, samples,
              tag, thinking) -> dict:
    import lm_eval
    from lm_eval import evaluator
    from lm_eval.api.registry import get_model
    from lm_eval.tasks import TaskManager

    from .models import local_model

    manager = TaskManager(include_path=include) if include else TaskManager()
    unknown = [n for n in names if n not in manager.all_tasks]
    if unknown:
        raise MotError(f"general.tasks: lm-eval {lm_eval.__version__} has no task {', '.join(unknown)}"
                       + (f" (nor has {', '.join(include)})" if include else ""))
    args = lm_eval_model_args(str(local_model(model)), backend, model_args, seed, thinking)
    device = None
    if backend == "hf":  # lm-eval's hf backend assumes CUDA unless told
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    if backend == "vllm":
        from .engines import in_process_on_cpu

        in_process_on_cpu(int(args.get("tensor_parallel_size", 1)) * int(args.get("data_parallel_size", 1)),
                          int(args.get("pipeline_parallel_size", 1)))
    # the model as simple_evaluate would build it, with a check before it generates (_refuse_cut_prompts)
    lm = get_model(backend).create_from_arg_obj(args, {"batch_size": batch_size, "device": device})
    _refuse_cut_prompts(lm, backend)
    try:
        res = evaluator.simple_evaluate(
            model=lm, model_args=args, tasks=names, task_manager=manager, batch_size=batch_size, device=device,
            apply_chat_template=True, gen_kwargs=gen_kwargs or None, limit=limit, log_samples=samples is not None,
            random_seed=seed, numpy_random_seed=seed, torch_random_seed=seed, fewshot_random_seed=seed)
    finally:
        # The check's wrapper holds the model (a reference cycle): left to the interpreter's exit, vLLM's
        # engine process outlives its LLM, and the exit waits for that process for ever. Stop it now.
        lm.__dict__.pop("generate_until", None)
        del lm
        gc.collect()
    summary = {**(tag or {}), "path": model, "harness": f"lm-eval {lm_eval.__version__}", "backend": backend,
               **({"thinking": thinking} if thinking else {}),
               "tasks": {col: _score(res, col, spec) for col, spec in tasks.items()}}
    if samples is not None:  # what the model wrote and what the harness read from it, per problem
        write_jsonl(samples, ({"task": task, "doc": s["doc"], "target": s["target"], "response": s["resps"][0][0],
                               "extracted": s["filtered_resps"][0], "metrics": {m: s[m] for m in s.get("metrics", [])}}
                              for task in sorted(res["samples"]) for s in res["samples"][task]))
    write_json(out, summary)
    return summary
