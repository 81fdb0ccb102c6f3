"""What each `mot` subcommand does, given its parsed arguments (mot.cli declares the arguments,
checks the outputs and turns errors into one line). Each imports its stage lazily: `mot --help` and
a command's start-up load only what it runs."""
from __future__ import annotations


def cmd_world(a):
    from .io import write_json
    from .spec import check_block
    from .world import check_spec, world_from_spec

    check_block(a.spec, "--spec", "world")
    check_spec(a.spec, "--spec")
    write_json(a.out, world_from_spec(a.spec))


def cmd_world_student(a):
    from .spec import check_block
    from .student import build_base
    from .world import check_spec

    for value, flag, key in ((a.world, "--world", "world"), (a.arch, "--arch", "students.*.arch"),
                             (a.pretrain, "--pretrain", "students.*.pretrain")):
        check_block(value, flag, key)  # the config's blocks, as the rule passes them
    check_spec(a.world, "--world")
    acc = build_base(a.world, a.arch, a.pretrain, a.out, a.force)
    print(f"base student greedy accuracy on held-out pool problems: {acc:.3f}")


def cmd_rehearsal(a):
    from .io import MotError
    from .rehearsal import check, make

    need = ("model", "prompts", "out") if a.action == "model" else ("results", "checks")
    if missing := [f for f in need if not getattr(a, f)]:
        raise MotError(f"mot rehearsal {a.action} needs --{', --'.join(missing)}")
    flags = {"model": ("model", "prompts", "out", "steps", "seed"), "check": ("results", "student", "boba", "checks")}
    other = "check" if a.action == "model" else "model"
    if given := [f for f in flags[other] if getattr(a, f) not in (None, [])]:  # taken silently, it did nothing
        raise MotError(f"mot rehearsal {a.action}: --{given[0]} is a flag of `mot rehearsal {other}`")
    if a.action == "model":
        settings = {k: getattr(a, k) for k in ("seed", "steps") if getattr(a, k) is not None}
        r = make(a.model, a.prompts, a.out, **settings)
        print(f"{a.model}: tiny, the shipped copy {r['shipped']} -> {a.out}" if "shipped" in r else
              f"{a.model}: tiny, imprinted on {r['prompts']} prompts in {r['steps']} steps (greedy right on "
              f"{r['greedy_right']}) -> {a.out}")
        return
    from .arguments import _name

    if bad := [x for x in a.student if not x.partition("=")[0] or not x.partition("=")[2]]:
        raise MotError(f"--student {bad[0]}: expected NAME=BASE (a student and its base model's directory)")
    for flag, name in [*(("--student", x.partition("=")[0]) for x in a.student), *(("--boba", b) for b in a.boba)]:
        try:
            _name(name)
        except Exception as e:  # argparse's type error: the name's rule
            raise MotError(f"{flag} {name}: {e}") from None
    for what, n in check(a.results, dict(x.split("=", 1) for x in a.student), a.boba, a.checks).items():
        print(f"{n:>6}  {what}")


def cmd_prompts(a):
    from .prompts import sample_prompts

    rows = sample_prompts(a.source, a.spec, a.template, a.world, a.out)
    print(f"{a.source}: {len(rows)} prompts -> {a.out}")


def cmd_generate(a):
    from .generate import check_teacher, generate_samples, parse_shard
    from .multinode import teacher_cluster

    check_teacher(a.teacher)  # before a cluster is started for it
    with teacher_cluster(a.teacher):  # params.nodes > 1: a Ray cluster over the job's nodes (vLLM's backend)
        generate_samples(a.prompts, a.teacher, a.sampling, a.seed, a.out, shard=parse_shard(a.shard))


def cmd_join_samples(a):
    from .generate import join_samples

    print(f"{join_samples(a.prompts, a.shards, a.out)} prompts from {len(a.shards)} shard(s) -> {a.out}")


def cmd_corpus(a):
    from .corpus import LengthRule, build_corpus

    from .io import MotError

    if bool(a.tokenizer) != (a.max_length is not None):  # the length rule needs both, or neither
        raise MotError("mot corpus: --tokenizer and --max-length go together (the student's length rule), "
                       f"given only {'--tokenizer' if a.tokenizer else '--max-length'}")
    rule = LengthRule(a.tokenizer, a.max_length, a.truncation) if a.tokenizer else None
    g = build_corpus(a.samples, a.seed, a.out, a.grades, rule)
    print(f"{g['teacher']} on {g['source']}: kept {g['prompts_kept']}/{g['prompts']} prompts, "
          f"pass rate {g['pass_rate']:.3f}; lost {g['lost_no_correct']} without a correct sample, "
          f"{g['lost_too_long']} for length")


def cmd_union(a):
    from .corpus import union

    print(f"MTD: {union(a.inputs, a.out)} samples -> {a.out}")


def cmd_stats(a):
    from .corpus import corpus_stats
    from .io import MotError

    if len(a.grades) != len(a.corpora):
        raise MotError(f"--grades and --corpora need the same number of files (got {len(a.grades)} and "
                       f"{len(a.corpora)})")
    corpus_stats(a.tokenizer, a.grades, a.corpora, a.out)


def cmd_check_config(a):
    from .configfile import load_config

    from .spec import SCHEMA

    for path in a.configs:
        load_config(path, a.schema or SCHEMA)
        print(f"{path}: ok")


def cmd_merge(a):
    from .io import MotError
    from .merge import merge, parse_params

    try:
        weights = [float(w) for w in a.weights.split(",")] if a.weights else None
    except ValueError:
        raise MotError(f"--weights {a.weights!r}: expected comma-separated numbers") from None
    meta = merge(a.inputs, a.out, a.method, weights, a.base, parse_params(a.param),
                 max_shard_bytes=int(a.max_shard_gb * (1 << 30)), force=a.force)
    print(f"merged {len(a.inputs)} checkpoints ({a.method}) -> {a.out} ({len(meta['output_files'])} shard(s))")


def cmd_train(a):
    from .train import TrainSpec, train

    rec = train(a.model, a.corpus, TrainSpec.of(a.spec), a.out, a.force)
    print(f"trained {rec['steps']} steps on {rec['data']['kept']} examples -> {a.out}")


def cmd_branches(a):
    from .rounds import RoundsSpec, branches, parse_corpora

    branches(a.model, parse_corpora(a.corpus), RoundsSpec.of(a.spec), a.out, a.force)
    print(f"trained {len(a.corpus)} round-1 branch(es) -> {a.out}")


def cmd_rounds(a):
    from .rounds import RoundsSpec, check_merge, parse_corpora, rounds

    spec = RoundsSpec.of(a.spec)
    check_merge(spec)  # before any work
    rec = rounds(a.first_round, a.base, parse_corpora(a.corpus), spec, a.out, a.force)
    print(f"{rec['rounds']} MoT rounds over {', '.join(rec['teachers'])} ({spec.method}) -> {a.out}")


def cmd_eval(a):
    from .evaluate import EvalSpec, evaluate, parse_pairs
    from .io import MotError

    try:
        checkpoints = [(int(k), v) for k, v in parse_pairs(a.checkpoint, "checkpoint")]
    except ValueError:
        raise MotError(f"--checkpoint {a.checkpoint}: expected STEP=PATH with an integer step") from None
    if len({k for k, _ in checkpoints}) < len(checkpoints) or any(k < 0 for k, _ in checkpoints):
        raise MotError(f"--checkpoint {a.checkpoint}: each step once, none negative (a training step)")
    from .spec import check_count

    for step, _ in checkpoints:  # a training step: in the range of the config's step counts
        check_count(step, "--checkpoint", "step")
    rec = evaluate(checkpoints, parse_pairs(a.benchmark, "benchmark"), EvalSpec.of(a.spec), a.out, a.samples, a.tag)
    for c in rec["checkpoints"]:
        print(f"step {c['step']}: " + ", ".join(f"{b} pass@1 {s['pass@1']:.4f} +- {s['se']:.4f}"
                                              for b, s in c["benchmarks"].items()))


def cmd_table(a):
    from .io import MotError
    from .summary import write_summary
    from .tables import make_table

    if a.name == "summary":
        if not a.tables:
            raise MotError("mot tables --name summary needs --tables (the directory of table2.csv, differences.csv)")
        write_summary(a.tables, f"{a.out}.md", a.readme)
        print(f"summary of {a.tables} -> {a.out}.md" + (f" and {a.readme}" if a.readme else ""))
        return
    if a.spec is None:
        raise MotError(f"mot tables --name {a.name} needs --spec")
    t = make_table(a.name, a.spec, a.evals, a.stats, a.out, a.general)
    print(f"{t.title}: {len(t.rows)} rows -> {a.out}.csv/.md/.tex/.html")


def cmd_best_std(a):
    from .results import copy_best_std

    teacher = copy_best_std(a.spec, a.evals, a.student, a.source, a.out, a.runs, a.force)
    print(f"best STD run of {a.student} on {a.source}: sft-{teacher} -> {a.out}")


def cmd_figure(a):
    from .figures import make_figure

    make_figure(a.name, a.spec, a.evals, a.models, a.stats, a.out)
    print(f"figure {a.name} -> {a.out}.png/.pdf")


def cmd_general_tasks(a):
    from .general import write_tasks
    from .spec import check_values

    check_values(a.sampling, "--sampling", "sampling", unknown=True)  # temperature "hot", top_p 7
    print(f"lm-eval tasks {', '.join(write_tasks(a.world, a.sampling, a.out, a.force))} -> {a.out}")


def cmd_general(a):
    from .general import evaluate

    try:
        batch = int(a.batch_size)
    except ValueError:
        batch = a.batch_size  # auto, or refused below
    _check_general_flags(a, batch)
    s = evaluate(a.model, a.tasks, a.out, a.include, a.backend, a.model_args, batch, a.gen_kwargs,
                 a.limit, a.seed, a.samples, a.tag, thinking=a.thinking)
    for col, r in s["tasks"].items():
        se = f" +- {r['se']:.4f}" if r["se"] is not None else ""
        print(f"{col} ({r['task']}, {r['metric']}): {r['score']:.4f}{se} over {r['n']} problems")


def _check_general_flags(a, batch) -> None:
    """mot general's settings in the ranges of their config keys (config/schema.yaml's general), before
    the model loads: a backend lm-eval has but mot does not pass on, a batch size of -5, a
    gpu_memory_utilization of 5 or a top_p of 7 failed late with a traceback, or ran."""
    import jsonschema

    from .io import MotError
    from .shapes import validator
    from .spec import _schema

    schema = _schema()
    keys = schema["properties"]["general"]["properties"]
    thinking = {"type": "object", "additionalProperties": False,
                "properties": {k: keys[k] for k in ("think_end_token", "enable_thinking")}}
    for flag, key, value, node in (("--backend", "backend", a.backend, keys["backend"]),
                                   ("--batch-size", "batch_size", batch, keys["batch_size"]),
                                   ("--model-args", "model_args", a.model_args, keys["model_args"]),
                                   ("--gen-kwargs", "gen_kwargs", a.gen_kwargs, keys["gen_kwargs"]),
                                   ("--thinking", "think_end_token, enable_thinking", a.thinking, thinking),
                                   ("--tasks", "tasks", a.tasks, keys["tasks"])):
        if value is None:
            continue
        err = jsonschema.exceptions.best_match(validator(schema).evolve(schema=node).iter_errors(value))
        if err is not None:
            where = "".join(f"[{p!r}]" for p in err.absolute_path)
            message = err.message if key != "batch_size" else f"{value!r} is neither a positive integer nor 'auto'"
            raise MotError(f"{flag}{where}: {message} (config key general.{key})")


def cmd_provenance(a):
    from .provenance import write_provenance

    write_provenance(a.config, a.out, a.rst)


def cmd_diagnostics(a):
    from .diagnostics import diagnose
    from .rounds import parse_corpora

    rows = diagnose(a.student, a.source, a.tset, a.rounds, a.base, parse_corpora(a.corpus), a.max_length, a.out,
                    a.max_examples)
    print(f"{len(rows)} diagnostics of {a.tset} -> {a.out}.csv/.png/.pdf")


def cmd_plan(a):
    from .io import atomic_path
    from .plan import plan, read_corpus_stats
    from .planview import render

    from .io import MotError

    if a.readme:  # before anything is written: a README without its markers leaves no plan behind
        from .planview import PLAN_END, PLAN_START
        from .summary import block_at

        block_at(a.readme, PLAN_START, PLAN_END, "mot plan --readme")
    stats = read_corpus_stats(a.stats) if a.stats else None
    for source, teachers in (stats or {}).items():  # a row of another config would be dropped without a word
        if source not in a.config["sources"]:
            raise MotError(f"--stats: source {source!r} is not one of the config's ({', '.join(a.config['sources'])})")
        if unknown := [t for t in teachers if t not in a.config["teachers"]]:
            raise MotError(f"--stats: teacher {unknown[0]!r} (source {source}) is not one of the config's")
    result = plan(a.config, stats)
    with atomic_path(a.out) as tmp:
        tmp.write_text(render(result), encoding="utf-8")
    print(f"plan ({'corpus statistics' if stats else 'config limits'}) -> {a.out}")
    if a.readme:
        from .planview import PLAN_END, PLAN_START, readme_block
        from .summary import write_block

        write_block(a.readme, PLAN_START, PLAN_END, readme_block(result), "mot plan --readme")
        print(f"GPU memory and time limits -> {a.readme}")


def cmd_seeds(a):
    from .io import MotError
    from .seeds import parse_evals, run_seed, seeds_table

    if a.action == "run":
        missing = [f for f in ("seed", "config", "dir", "snakefile") if getattr(a, f) is None]
        if missing:
            raise MotError(f"mot seeds run needs --{', --'.join(missing)}")
        run_seed(a.seed, a.config, a.dir, a.snakefile, a.cores, a.targets, a.data)
        print(f"seed {a.seed}: {len(a.targets)} targets in {a.dir}")
        return
    if a.spec is None or a.out is None:
        raise MotError("mot seeds table needs --spec and --out")
    if not a.evals:  # the spread is over seeds: none given would divide by zero
        raise MotError("mot seeds table needs --evals SEED=PATH for each seed's eval summaries")
    t = seeds_table(parse_evals(a.evals), a.spec)
    t.write(a.out)
    print(f"{t.title}: {len(t.rows)} rows -> {a.out}.csv/.md/.tex")
