"""The `mot` command line: one subcommand per pipeline stage, every path explicit (what each does:
mot.commands).

Snakemake rules call these; they are equally usable by hand. `mot <stage> --help` lists the
arguments. A user-facing error prints one line (`mot: error: ...`) and exits with status 1.
"""
from __future__ import annotations

import argparse
import os
import sys

from . import commands as c
from . import layout
from .io import MotError
from .arguments import (FIGURE_FILES, TABLE_FILES, Out, _config, _json, _name, _names, _positive, _report_spec,
                        _resolved, _seed)
from .placement import check_outputs
from .spec import spec_help
from .process import (Stopped, _machine_error, _os_error, _redirect, _restore_signals, _stop_on_signals, check_stop,
                      stopped_by, tqdm_without_monitor)


# What a run's models record as their writer (mot.io.WRITER): the per-set jobs (mot branches, rounds)
# and the per-branch ones (mot train, merge) write the same paths (config mot.jobs), a round's
# branches inside round 1's or the run's directory, so each may replace or write inside the others'.
MODEL_WRITER = "train/branches/rounds/merge"


def parser() -> argparse.ArgumentParser:
    from .catalog import OUTPUTS
    from .methods import METHODS, methods_help  # the registries (no torch at import)

    p = argparse.ArgumentParser(prog="mot", description=__doc__.splitlines()[0])
    p.add_argument("--log", help="write all output (progress, warnings, tracebacks) to this file; "
                                 "errors are also printed to stderr as one line")
    p.add_argument("--threads", type=_positive(int), help="CPU threads for torch (the rule's threads); a fixed count "
                                               "also keeps CPU results independent of the machine's core count")
    sub = p.add_subparsers(dest="cmd", required=True)

    def add(name, fn, help, outputs=None, roots=(), writer=None, nests=False):
        """A subcommand; `outputs`: its output arguments and what each is (an Out, or its kind: file,
        dir), checked by check_outputs before it runs; every other argument may name an input.
        `roots`: input arguments naming a tree that the command reads selectively -> the subtrees it
        reads, inside which no output may lie; elsewhere in the tree one may (declared one by one,
        with the reason). A command with a dir output gets --force, to replace such a directory
        that mot did not write. `writer`: what its directories record as their writer (mot.io.WRITER),
        if not `name`: commands that write one kind of result, whose outputs each may replace.
        `nests`: its directory outputs may lie inside one of the same writer's (a round's branches in
        the round's directory); any other command's rerun would replace the outer one, and the inner
        one with it."""
        sp = sub.add_parser(name, help=help)
        outputs = {k: v if isinstance(v, Out) else Out(v)
                   for k, v in ({"out": "file"} if outputs is None else outputs).items()}
        sp.set_defaults(fn=fn, outputs=outputs, roots=dict(roots or {}), writer=writer or name, nests=nests)
        if any(o.kind == "dir" for o in outputs.values()):
            sp.add_argument("--force", action="store_true",
                            help="replace an existing output directory that mot did not write")
        return sp

    sp = add("world", c.cmd_world, "draw the synthetic world's problem splits")
    sp.add_argument("--spec", type=_json, required=True, help="the config's world block, as JSON")
    sp.add_argument("--out", required=True)

    sp = add("world-student", c.cmd_world_student,
             "build the synthetic world's tokenizer and pre-train the tiny Qwen3 base student", outputs={"out": "dir"})
    sp.add_argument("--world", type=_json, required=True, help="the config's world block, as JSON")
    sp.add_argument("--arch", type=_json, required=True)
    sp.add_argument("--pretrain", type=_json, required=True)
    sp.add_argument("--out", required=True)

    # roots: the checks read results/ selectively (mot.rehearsal.check: these subtrees) and write
    # their record (results/rehearsal/checks.json) and the rule's log (results/logs/) inside it
    sp = add("rehearsal", c.cmd_rehearsal, "the paper's run rehearsed on CPU (mot.rehearsal): a tiny model of one of "
             "its models in the hub's layout, or the checks on the rehearsal's files",
             outputs={"out": "dir", "checks": "file"},
             roots={"results": ("samples", "corpora", "prompts", "eval", "models", "general")})
    sp.add_argument("action", choices=["model", "check"])
    sp.add_argument("--model", help="model: the paper model's hub id (mot.rehearsal.MODELS)")
    sp.add_argument("--prompts", nargs="+", default=[], help="model: the prompts it is imprinted with (results/prompts/)")
    sp.add_argument("--steps", type=_positive(int), help="model: imprinting steps (SFT on the prompts' answers; "
                                                        "default: mot.rehearsal.build's)")
    sp.add_argument("--seed", type=_seed, help="model: its seed (default: mot.rehearsal.build's)")
    sp.add_argument("--out", help="model: its directory")
    sp.add_argument("--results", help="check: the results directory")
    sp.add_argument("--student", action="append", default=[], metavar="NAME=BASE", help="check: a student, its base")
    sp.add_argument("--boba", action="append", default=[], metavar="SOURCE", help="check: a source of BOBA's rows")
    sp.add_argument("--checks", help="check: what was checked, as JSON")

    sp = add("prompts", c.cmd_prompts, "sample N prompts of a source with a seed")
    sp.add_argument("--source", type=_name, required=True)
    sp.add_argument("--spec", type=_json, required=True, help="the config's block for this source, as JSON")
    sp.add_argument("--template", required=True, help="user message template containing {problem}")
    sp.add_argument("--world", help="the world file (synthetic sources)")
    sp.add_argument("--out", required=True)

    sp = add("generate", c.cmd_generate, "sample teacher responses, resumable", outputs={"out": Out("file", work=True)})
    sp.add_argument("--prompts", required=True)
    sp.add_argument("--teacher", type=_json, required=True, help='{"name", "backend", "params"}')
    sp.add_argument("--sampling", type=_json, required=True, help='{"n", "temperature", "top_p", "max_tokens"}')
    sp.add_argument("--seed", type=_seed, default=0)
    sp.add_argument("--shard", metavar="J/K", help="generate only shard J of K (a run of whole chunks of prompts)")
    sp.add_argument("--out", required=True)

    sp = add("join-samples", c.cmd_join_samples, "join a teacher's sample shards in prompt order")
    sp.add_argument("--prompts", required=True)
    sp.add_argument("--out", required=True)
    sp.add_argument("shards", nargs="+", help="shard files, in order")

    sp = add("corpus", c.cmd_corpus, "grade samples and keep one correct response per prompt",
                 outputs={"out": "file", "grades": "file"})
    sp.add_argument("--samples", required=True)
    sp.add_argument("--seed", type=_seed, default=0)
    sp.add_argument("--out", required=True)
    sp.add_argument("--grades", required=True)
    sp.add_argument("--tokenizer", help="the student's tokenizer: choose among correct responses that fit its "
                                        "--max-length (none: no length rule)")
    sp.add_argument("--max-length", type=_positive(int), help="train.max_length, in tokens of the student's SFT example")
    sp.add_argument("--truncation", default="drop", choices=("drop", "truncate"), help="train.truncation")

    sp = add("union", c.cmd_union, "the MTD corpus: the union of teacher corpora")
    sp.add_argument("--out", required=True)
    sp.add_argument("inputs", nargs="+")

    sp = add("stats", c.cmd_stats, "corpus statistics per teacher (paper Table 10)",
             outputs={"out": Out("file", md=True)})
    sp.add_argument("--tokenizer", required=True)
    sp.add_argument("--grades", nargs="+", required=True)
    sp.add_argument("--corpora", nargs="+", required=True)
    sp.add_argument("--out", required=True, help="the CSV; the same table as Markdown goes beside it, with .md")

    sp = add("merge", c.cmd_merge, "merge saved checkpoints in weight space, streamed tensor by tensor",
                 outputs={"out": "dir"}, writer=MODEL_WRITER, nests=True)
    sp.add_argument("--method", required=True, help="the method, with its parameters: " + methods_help())
    sp.add_argument("--weights", help="comma-separated, one per input (" +
                    ", ".join(n for n, m in METHODS.items() if m.weighted) + ")")
    sp.add_argument("--base", help="the base checkpoint (the methods marked 'needs --base')")
    sp.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                    help="a parameter of the method (see --method), or state=<dir> (outer: the last round's merge)")
    sp.add_argument("--max-shard-gb", type=_positive(float), default=5.0, help="shard the output above this size")
    sp.add_argument("--out", required=True)
    sp.add_argument("inputs", nargs="+")

    sp = add("train", c.cmd_train, "SFT on a corpus (accelerate); resumable after SIGTERM/SIGUSR1",
                 outputs={"out": Out("dir", work=True)}, writer=MODEL_WRITER, nests=True)
    sp.add_argument("--model", required=True, help="initial checkpoint (directory or hub id)")
    sp.add_argument("--corpus", required=True)
    sp.add_argument("--spec", type=_json, required=True, metavar="JSON",
                    help=spec_help("train", "TrainSpec", {"hparams": ("train", "HParams")}))
    sp.add_argument("--out", required=True)

    sp = add("evaluate", c.cmd_eval, "sample, grade and summarise a run's checkpoints on benchmarks",
             outputs={"out": "file", "samples": Out("file", work=True)})
    sp.add_argument("--checkpoint", action="append", required=True, metavar="STEP=PATH",
                    help="a checkpoint and its training step (repeat)")
    sp.add_argument("--benchmark", action="append", required=True, metavar="NAME=DATA",
                    help="aime24 | aime25 | math500 | syn-aime24 | syn-aime25, and its file (data/<name>.jsonl "
                         "or the world file) (repeat)")
    sp.add_argument("--spec", type=_json, required=True, metavar="JSON", help=spec_help("evaluate", "EvalSpec"))
    sp.add_argument("--tag", type=_names, default={}, help="what was evaluated (student, source, run), as JSON")
    sp.add_argument("--samples", required=True, help="the graded samples of every checkpoint (JSONL)")
    sp.add_argument("--out", required=True, help="the summary (JSON)")

    def mot_args(sp):  # shared by `mot branches` and `mot rounds`
        sp.add_argument("--corpus", action="append", required=True, metavar="TEACHER=PATH")
        sp.add_argument("--spec", type=_json, required=True, metavar="JSON",
                        help=spec_help("rounds", "RoundsSpec", {"hparams": ("train", "HParams")}))
        sp.add_argument("--out", required=True)

    sp = add("branches", c.cmd_branches, "MoT round 1: one SFT branch per teacher from one init, in one process",
                 outputs={"out": Out("dir", work=True)}, writer=MODEL_WRITER, nests=True)
    sp.add_argument("--model", required=True, help="the common init (directory or hub id)")
    mot_args(sp)

    sp = add("rounds", c.cmd_rounds, "MoT: merge round 1, then rounds 2..T of branches and merges",
                 outputs={"out": Out("dir", work=True)}, writer=MODEL_WRITER, nests=True)
    sp.add_argument("--first-round", required=True, help="the output of `mot branches`")
    sp.add_argument("--base", required=True, help="the init of round 1 (merge methods relative to a base)")
    mot_args(sp)

    sp = add("general-tasks", c.cmd_general_tasks,
             "write the synthetic world's general tasks as lm-evaluation-harness task files", outputs={"out": "dir"})
    sp.add_argument("--world", required=True, help="the world file")
    sp.add_argument("--sampling", type=_json, required=True, help='{"temperature", "top_p", "max_tokens"}')
    sp.add_argument("--out", required=True, help="directory for <task>.yaml and <task>.jsonl")

    sp = add("general", c.cmd_general, "general benchmarks of one model through lm-evaluation-harness "
                                     "(paper Tables 3 and 4)", outputs={"out": "file", "samples": "file"})
    sp.add_argument("--model", required=True, help="checkpoint directory or hub id")
    sp.add_argument("--tasks", type=_json, required=True,
                    help='the config\'s general.tasks: {column: {"task", "metric", "group"}}, as JSON')
    sp.add_argument("--include", action="append", help="a directory of extra lm-eval task files (--include_path; repeat)")
    sp.add_argument("--backend", default="hf", help="lm-eval model type: hf | vllm")
    sp.add_argument("--model-args", type=_json, default={}, help="lm-eval model_args besides pretrained, as JSON")
    sp.add_argument("--thinking", type=_json, default={},
                    help='the config\'s general.think_end_token / enable_thinking, as JSON (model args of either backend: '
                         'lm-eval scores the text after think_end_token)')
    sp.add_argument("--batch-size", default="auto", help="problems per generate call, or auto")
    sp.add_argument("--gen-kwargs", type=_json, help="generation settings over the tasks' own, as JSON")
    sp.add_argument("--limit", type=_positive(int), help="only the first N problems of each task")
    sp.add_argument("--seed", type=_seed, default=0)
    sp.add_argument("--samples", help="also write each problem's response and extracted answer here (JSONL)")
    sp.add_argument("--tag", type=_names, default={}, help="what was evaluated (student, source, model), as JSON")
    sp.add_argument("--out", required=True, help="the summary (JSON)")

    sp = add("tables", c.cmd_table, "one of the paper's tables (CSV, Markdown, LaTeX, HTML) from eval summaries",
             outputs={"out": Out("stem", TABLE_FILES), "readme": "file"})
    sp.add_argument("--name", type=_name, required=True, help=" | ".join(o.name for o in OUTPUTS.values() if o.kind == "table")
                    + " | summary; mot.catalog")
    sp.add_argument("--spec", type=_report_spec, help="labels, teacher sets and roles (see mot.tables)")
    sp.add_argument("--evals", nargs="*", default=[], help="eval summaries (mot evaluate --out)")
    sp.add_argument("--stats", nargs="*", default=[], help="corpus statistics CSVs (table10)")
    sp.add_argument("--general", nargs="*", default=[], help="general-benchmark summaries (table3, table4: mot general --out)")
    sp.add_argument("--tables", help="summary: the directory of the run's table2.csv and differences.csv")
    sp.add_argument("--readme", help="summary: also write it between the markers of this README")
    sp.add_argument("--out", required=True, help="output stem: <out>.csv, <out>.md, <out>.tex (summary: <out>.md)")

    sp = add("best-std", c.cmd_best_std, "copy the final weights of a student's best STD run on a source, chosen as "
             "the tables choose it (Table 9's Best STD teacher)", outputs={"out": "dir"})
    sp.add_argument("--spec", type=_report_spec, required=True, help="labels, teacher sets and roles (see mot.tables)")
    sp.add_argument("--evals", nargs="+", required=True, help="the eval summaries of the student's STD runs")
    sp.add_argument("--student", type=_name, required=True)
    sp.add_argument("--source", type=_name, required=True)
    sp.add_argument("--runs", nargs="+", required=True,
                    help="the STD runs' directories: the best run's final checkpoint, as its eval summary records it, "
                         "is copied from among them")
    sp.add_argument("--out", required=True, help="the model directory")

    sp = add("figures", c.cmd_figure, "one of the paper's figures (PNG, PDF) with seaborn",
             outputs={"out": Out("stem", FIGURE_FILES)})
    sp.add_argument("--name", type=_name, required=True, help="fig3 | fig4 | rounds | corpus")
    sp.add_argument("--spec", type=_report_spec, required=True, help="labels, teacher sets and roles (see mot.tables)")
    sp.add_argument("--evals", nargs="*", default=[], help="eval summaries (mot evaluate --out)")
    sp.add_argument("--models", default=layout.MODELS, help="the models directory (train logs)")
    sp.add_argument("--stats", nargs="*", default=[], help="corpus statistics CSVs (corpus)")
    sp.add_argument("--out", required=True, help="output stem: <out>.png, <out>.pdf")

    sp = add("seeds", c.cmd_seeds, "the default grid over several world seeds (mot.seeds): run one seed's grid in "
             "its own directory, or tabulate the seeds", outputs={"out": Out("stem", TABLE_FILES), "dir": "workdir"})
    sp.add_argument("action", choices=["run", "table"])
    sp.add_argument("--seed", type=_seed, help="run: the world seed")
    sp.add_argument("--config", type=_resolved, help="run: the resolved config (JSON), of which the seed's is made")
    sp.add_argument("--dir", help="run: the seed's directory (results/seeds/seed-<s>): new, empty, or this seed's "
                                  "from an earlier run")
    sp.add_argument("--snakefile", help="run: the workflow's Snakefile")
    sp.add_argument("--cores", type=_positive(int), default=1, help="run: cores for the seed's Snakemake run")
    sp.add_argument("--data", default="data", help="run: the checkout's data directory (linked into --dir)")
    sp.add_argument("--targets", nargs="*", default=[], help="run: what to build, relative to --dir")
    sp.add_argument("--spec", type=_report_spec, help="table: labels, teacher sets and roles (see mot.tables)")
    sp.add_argument("--evals", nargs="*", default=[], help="table: SEED=PATH eval summaries")
    sp.add_argument("--out", help="table: output stem: <out>.csv, <out>.md, <out>.tex, <out>.html")

    sp = add("provenance", c.cmd_provenance, "record resolved config, package versions, git revision",
                 outputs={"out": "file", "rst": "file"})
    sp.add_argument("--config", type=_resolved, required=True, help="the resolved config (JSON)")
    sp.add_argument("--out", required=True)
    sp.add_argument("--rst", help="also as reStructuredText (the first page of snakemake --report)")

    sp = add("diagnostics", c.cmd_diagnostics, "per MoT round: branch distances, task-vector cosines, losses on "
             "every teacher's corpus (CSV and plot)", outputs={"out": Out("stem", (".csv", *FIGURE_FILES))})
    sp.add_argument("--student", type=_name, required=True)
    sp.add_argument("--source", type=_name, required=True)
    sp.add_argument("--tset", type=_name, required=True, help="the teacher set (its rounds live under mot-<tset>)")
    sp.add_argument("--rounds", type=_positive(int), required=True)
    sp.add_argument("--base", required=True, help="round 1's start: the base student")
    sp.add_argument("--corpus", action="append", required=True, metavar="TEACHER=PATH",
                    help="each teacher's corpus, in the set's order (repeat)")
    sp.add_argument("--max-length", type=_positive(int), default=512, help="longer examples are left out (train.max_length)")
    sp.add_argument("--max-examples", type=_positive(int), default=64, help="examples per corpus")
    sp.add_argument("--out", required=True, help="output stem: <out>.csv, <out>.png, <out>.pdf")

    sp = add("plan", c.cmd_plan, "jobs, GPU-hours and time limits per stage of a config (results/plan.md)",
             outputs={"out": "file", "readme": "file"})
    sp.add_argument("--config", type=_config, required=True, help="the resolved config, as JSON, or a config file")
    sp.add_argument("--stats", nargs="*", default=[], help="corpus statistics (stats.csv): measured trace lengths")
    sp.add_argument("--out", required=True)
    sp.add_argument("--readme", help="also write the GPU memory and time-limit figures between this Markdown "
                                     "file's paper-plan markers (docs/paper.md, for config/paper.yaml)")

    sp = add("check-config", c.cmd_check_config, "validate config files against the schema", outputs={})
    sp.add_argument("configs", nargs="+")
    sp.add_argument("--schema", help="default: the schema beside this mot (config/schema.yaml of its checkout)")

    # What may name an input (check_outputs): every argument of a subcommand but its outputs, its
    # flags and those that take a number, a name (_name: --student results is no path) or one of fixed
    # choices (--truncation drop is no path, even where a file of that name lies).
    for sp in sub.choices.values():
        outputs = sp.get_default("outputs")
        sp.set_defaults(reads=tuple(a.dest for a in sp._actions if a.dest not in outputs and a.dest != "help"
                                    and a.nargs != 0 and a.choices is None
                                    and getattr(a.type, "__name__", None) not in ("int", "float", "name")))
    return p


def _line(msg: str) -> str:
    """The error as one line: a path's line break written as \\n (it could start a line of its own)."""
    return msg.replace("\r", "\\r").replace("\n", "\\n")


def _not_utf8(argv: list[str]) -> str:
    """The first argument that is no UTF-8 text (Python hands its bytes over as lone surrogates), named by
    its flag: a template, or a path that mot would record in its JSON outputs, that no UTF-8 file can hold."""
    for i, word in enumerate(argv):
        text = str(word)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as e:
            flag = text.split("=", 1)[0] if text.startswith("--") else \
                argv[i - 1] if i and str(argv[i - 1]).startswith("--") else f"argument {i + 1}"
            byte = ord(text[e.start]) - 0xDC00 if 0xDC80 <= ord(text[e.start]) <= 0xDCFF else None
            return (f"{flag}: {text[:e.start]!r}... is not UTF-8 text"
                    f"{f' (byte {byte:#04x})' if byte is not None else ''}: mot writes its arguments into UTF-8 "
                    "files (outputs, logs, provenance); rename the path or fix the text")
    return ""


def main(argv=None) -> int:
    import signal

    tqdm_without_monitor()  # before any library makes a bar (mot.process)
    _BEGAN.clear()
    previous = _stop_on_signals()  # from the start: a Ctrl-C while the arguments are read is one line too
    try:
        return _main(argv)
    except Stopped as e:  # before the command began (its arguments and checks), or a second stop while
        # it reported the first: nothing more is written
        when = "" if _BEGAN else " before the command began; nothing was written"
        print(f"mot: error: stopped by {signal.Signals(e.args[0]).name}{when}", file=sys.stderr, flush=True)
        return 128 + e.args[0]
    finally:
        _restore_signals(previous, program=argv is None)


def _main(argv) -> int:
    from .readers import records

    argv = sys.argv[1:] if argv is None else list(argv)
    if bad := _not_utf8(argv):  # before anything runs: it would fail when first written to a file
        print(_line(f"mot: error: {bad}"), file=sys.stderr)
        return 1
    try:  # a --config file is read and checked while the arguments are parsed
        args = parser().parse_args(argv)
    except MotError as e:
        print(_line(f"mot: error: {e}"), file=sys.stderr)
        return 1
    for key, kind in args.outputs.items():  # `--out DIR/` (a shell's completion adds the slash) names DIR
        value = getattr(args, key, None)
        if kind.kind == "dir" and isinstance(value, str) and len(value) > 1 and value.endswith("/"):
            setattr(args, key, value.rstrip("/") or "/")
    for key, value in vars(args).items():  # a JSON argument's missing key: one line naming the flag
        if isinstance(value, dict) and key not in ("outputs", "config"):  # a config is checked by its schema
            setattr(args, key, records(value, f"--{key.replace('_', '-')}"))
    if args.cmd != "general":
        # transformers imports scikit-learn whenever it is installed (lm-eval brings it), for assisted
        # decoding alone, which no stage uses: about 1.2 s of CPU, a fifth of a job's start-up, in
        # every job. Hidden from the stages; `mot general` runs lm-eval, whose metrics may use it.
        sys.modules.setdefault("sklearn", None)
    if args.threads:  # before torch is imported (stages import it lazily)
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
    rank = os.environ.get("RANK", "").strip() or "0"  # set by accelerate launch and torchrun; empty: unset
    if args.log and not rank.isdecimal():  # (read for the log's name alone)
        print(f"mot: error: RANK={rank!r}: not a process's rank (a whole number, as accelerate launch sets it)",
              file=sys.stderr)
        return 1
    if args.log and int(rank) > 0:  # under accelerate launch: one log per process
        args.log = f"{args.log}.rank{int(rank)}"
    from . import io

    io.WRITER = args.writer  # what its directories record (MARKER), and whose it may replace
    try:  # before the log is opened (it truncates its file): a refusal goes to stderr alone
        check_outputs(args)
    except MotError as e:
        print(_line(f"mot: error: {e}"), file=sys.stderr)
        return 1
    except OSError as e:
        print(_line(f"mot: error: {_os_error(e, args)}"), file=sys.stderr)
        return 1
    try:
        console = _redirect(args.log) if args.log else sys.stderr
    except OSError as e:  # its directory is a file, or cannot be made (/proc)
        print(_line(f"mot: error: --log {args.log}: cannot write it: {e.strerror or e}"), file=sys.stderr)
        return 1
    return _run(args, console)


def _run_stopped(sig: int, args, console) -> int:
    import signal

    print(msg := f"mot: error: stopped by {signal.Signals(sig).name}; an output not yet in place was not written, "
          "and its temporary files are removed", file=console, flush=True)
    if args.log:
        print(msg, file=sys.stderr, flush=True)
    return 128 + sig


_BEGAN = []  # non-empty once main() has started the command (_run)


def _run(args, console) -> int:
    """The command, its stop (Stopped) and its errors, each told in one line."""
    import traceback

    _BEGAN.append(True)
    try:
        args.fn(args)
        check_stop()  # a stop that a library took (mot.process.stopped_by): the command is not finished
    except Stopped as e:
        return _run_stopped(e.args[0], args, console)
    except MotError as e:
        msg = f"mot: error: {e}"
    except OSError as e:  # the machine's, not a bug: the traceback only to the log
        if args.log:
            traceback.print_exc()
        msg = f"mot: error: {_os_error(e, args)}" + (f" (traceback in {args.log})" if args.log else "")
    except SystemExit as e:  # a library's exit with a message: on the terminal too, not in the log alone
        if not isinstance(e.code, str):
            if (sig := stopped_by()) is not None:  # a library that took a stop, then exited with a number
                return _run_stopped(sig, args, console)
            raise
        msg = e.code if e.code.startswith("mot: error: ") else f"mot: error: {e.code}"
    except MemoryError as e:  # a setting beyond the machine (eval.n of 1e12), not a bug: one line
        if args.log:
            traceback.print_exc()
        msg = (f"mot: error: out of memory{f' ({e})' if str(e) else ''}: what this command was asked to hold "
               "exceeds this machine or job (a count or size setting too large?)")
    except Exception as e:  # a bug, not bad input: full traceback to the log, one line to the console
        traceback.print_exc()
        if (machine := _machine_error(e)) is not None:  # a library's I/O error: the machine's, named so
            msg = f"mot: error: {_os_error(machine, args)}"
        else:
            msg = f"mot: error: {type(e).__name__}: {e}".splitlines()[0]
        if args.log:
            msg += f" (traceback in {args.log})"
    else:
        return 0
    if (sig := stopped_by()) is not None:  # a library's own error for a stop raised inside it (a module
        return _run_stopped(sig, args, console)  # half imported): the stop, not a bug
    from .redaction import redact

    msg = _line(redact(msg))  # an API key an error quotes, in any encoding (mot.redaction)
    if args.log:  # the line in the log as well (sys.stderr: the log; console: the terminal)
        print(msg, file=sys.stderr)
    print(msg, file=console, flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
