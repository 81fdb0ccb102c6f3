"""The paper's figures with seaborn, as PNG and PDF, from eval summaries, train logs and corpus stats.

    mot figures --name fig3 --spec '{...}' --evals results/eval/... --models results/models \
        --out results/figures/fig3

fig3: training loss on the best STD teacher's corpus vs step, and AVG score vs step, MoT vs that
      best STD (paper Figure 3). The MoT loss is its branch on the same corpus, round after round.
fig4: the same for MoT with all teachers vs MoT without the distribution-shifted one (Figure 4).
rounds: AVG score per round of every MoT teacher set, with the STD/MTD checkpoints at the same
      steps; error bars = standard error over the n sampled runs.
corpus: corpus statistics per source and teacher (Table 10 as a picture).
fig5: the reverse-merge probe (paper Figure 5): AVG along lambda * base + (1 - lambda) * final
      checkpoint for each probed run (analyses.probe), with standard errors over problems; the rule
      passes the probe's students, benchmarks and n as the spec's (the paper: AIME24, 64 samples, 8B).
One row of panels per (student, source).
"""
from __future__ import annotations

import csv
import math
from pathlib import Path

from . import layout
from .catalog import check_inputs
from .io import MotError, atomic_files, registry
from .results import Results, best_std, in_order, results
from .tables import bench_columns

FIGURES: dict = {}
figure = registry(FIGURES)


def pyplot():
    """matplotlib without a display, with the figures' seaborn theme: (pyplot, seaborn)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    return plt, sns


def _loss(path: Path) -> list[tuple[int, float]]:
    with open(path / layout.TRAIN_LOG, newline="") as f:
        return [(int(r["step"]), float(r["loss"])) for r in csv.DictReader(f)]


def mot_loss(models: Path, student: str, source: str, tset: str, teacher: str, rounds: int) -> list:
    """The loss of MoT's branch on `teacher`'s corpus over all rounds (global steps)."""
    out = []
    for t in range(1, rounds + 1):  # the layout's paths start with results/models: models replaces it
        path = layout.branch_dir(student, source, tset, t, teacher).removeprefix(layout.MODELS + "/")
        out += _loss(models / path)
    return out


def curve(res: Results, student: str, source: str, run: str) -> list[tuple[int, float, float]]:
    """(step, AVG, SE of AVG) of every checkpoint, the base at step 0 first."""
    pts = [(0, res.base(student)[-1], _se(res, student, None, "base", 0))]
    for step in sorted(res.steps(student, source, run)):
        pts.append((step, res.scores(student, source, run, step)[-1], _se(res, student, source, run, step)))
    return pts


def _se(res, student, source, run, step) -> float:
    se = res.at(res.se, student, source, run, step)
    return math.sqrt(sum(v * v for v in se.values())) / len(se)  # SE of a mean of independent benchmarks


def _pairs(spec):
    return [(st, so) for st in spec["students"] for so in spec["sources"]]


def _panel_row(spec, width: float, height: float):
    """seaborn, and one row of panels: one per (student, source)."""
    plt, sns = pyplot()
    pairs = _pairs(spec)
    fig, axes = plt.subplots(1, len(pairs), figsize=(width * len(pairs), height), squeeze=False)
    return sns, fig, list(zip(pairs, axes[0]))


def _two_panel(res, spec, models, runs_for) -> "object":
    """Left: loss vs step on one corpus; right: AVG vs step. runs_for(st, so) -> (teacher, [(label, run)])."""
    plt, sns = pyplot()
    pairs = _pairs(spec)
    fig, axes = plt.subplots(len(pairs), 2, figsize=(10, 3.6 * len(pairs)), squeeze=False)
    for (st, so), (ax_l, ax_s) in zip(pairs, axes):
        teacher, runs = runs_for(st, so)
        for i, (label, run) in enumerate(runs):
            color = sns.color_palette()[i]
            if run.startswith("mot-"):
                loss = mot_loss(models, st, so, run[4:], teacher, spec["rounds"])
            else:
                loss = _loss(models / st / so / run)
            ax_l.plot(*zip(*loss), label=label, color=color, lw=1.2)
            pts = curve(res, st, so, run)
            ax_s.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts], label=label,
                          color=color, marker="o", ms=4, capsize=3, lw=1.2)
        title = f"{spec['students'][st]} on {spec['sources'][so]}"
        ax_l.set(title=f"{title}: loss on the {spec['teachers'][teacher]['label']} corpus", xlabel="step",
                 ylabel="training loss")
        ax_s.set(title=f"{title}: score", xlabel="step", ylabel="AVG pass@1 x 100 (mean of benchmarks)")
        ax_l.legend()
        ax_s.legend()
    fig.tight_layout()
    return fig


@figure("fig3")
def mot_vs_best_std(res: Results, spec: dict, models: Path, stats: list[str]):
    mot = f"mot-{spec['roles']['mot']}"

    def runs(st, so):
        k, _ = best_std(res, spec, st, so)
        return k, [("MoT", mot), (f"STD ({spec['teachers'][k]['label']}, best STD)", f"sft-{k}")]

    return _two_panel(res, spec, models, runs)


@figure("fig4")
def with_without_shifted(res: Results, spec: dict, models: Path, stats: list[str]):
    main, ablated = spec["roles"]["mot"], spec["roles"].get("no_shifted")
    if not ablated:
        raise MotError("fig4 needs report.no_shifted (a teacher set name) in the config")

    def runs(st, so):
        k, _ = best_std(res, spec, st, so)
        if k not in spec["sets"][ablated]:  # the loss must be on a corpus that both pools train on
            k = spec["sets"][ablated][0]
        return k, [("MoT (all teachers)", f"mot-{main}"), (f"MoT without the shifted teacher ({ablated})",
                                                           f"mot-{ablated}")]

    return _two_panel(res, spec, models, runs)


@figure("rounds")
def per_round(res: Results, spec: dict, models: Path, stats: list[str]):
    sns, fig, panels = _panel_row(spec, 5.5, 4)
    for (st, so), ax in panels:
        k, _ = best_std(res, spec, st, so)
        runs = [(f"MoT ({t})", f"mot-{t}", "-") for t in spec["sets"]]
        runs += [("MTD", "sft-mtd", "--"), (f"best STD ({spec['teachers'][k]['label']})", f"sft-{k}", "--")]
        for i, (label, run, ls) in enumerate(runs):
            pts = curve(res, st, so, run)
            ax.errorbar([p[0] for p in pts], [p[1] for p in pts], yerr=[p[2] for p in pts], label=label,
                        color=sns.color_palette()[i], ls=ls, marker="o", ms=3, capsize=3, lw=1.2)
        ax.set(title=f"{spec['students'][st]} on {spec['sources'][so]}", xlabel="step (MoT: round x steps/round)",
               ylabel="AVG pass@1 x 100 (+- SE)")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


@figure("corpus")
def corpus_stats(res, spec: dict, models: Path, stats: list[str]):
    import pandas as pd

    plt, sns = pyplot()
    from .corpus import read_stats

    rows, seen = [], {}
    for path in stats:
        for r in read_stats(path):
            if r["source"] not in spec["sources"]:
                raise MotError(f"{r.where}: source '{r['source']}' is not the config's (known: "
                               f"{', '.join(spec['sources'])})")
            seen[(r["source"], r["teacher"])] = path
            if r["teacher"] in spec["teachers"]:  # not MTD's row, nor Table 9's teachers
                rows.append({"source": spec["sources"][r["source"]], "teacher": spec["teachers"][r["teacher"]]["label"],
                             "kept": r.num("kept", int), "pass rate": r.num("pass_rate", float),
                             "mean tokens": r.num("mean_tokens", float)})
    for source in dict.fromkeys(s for s, _ in seen):  # each source's bars are every teacher's
        if missing := [t for t in spec["teachers"] if (source, t) not in seen]:
            raise MotError(f"{', '.join(stats)}: no row of teacher '{missing[0]}' for source '{source}' (the "
                           "figure would be drawn without it)")
    df = pd.DataFrame(rows)
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for ax, col in zip(axes, ["kept", "pass rate", "mean tokens"]):
        sns.barplot(df, x="teacher", y=col, hue="source", ax=ax)
        ax.set(xlabel="", title={"kept": "prompts kept (corpus size)", "pass rate": "teacher pass rate",
                                 "mean tokens": "mean trace length (tokens)"}[col])
        ax.tick_params(axis="x", labelsize=7, rotation=15)
    fig.tight_layout()
    return fig


def run_label(spec: dict, run: str) -> str:
    if run == "sft-mtd":
        return "MTD"
    if run.startswith("sft-"):
        return f"STD ({spec['teachers'][run[4:]]['label']})"
    return "MOT" if run == f"mot-{spec['roles']['mot']}" else f"MOT ({run[4:]})"


@figure("fig5")
def reverse_merge(res: Results, spec: dict, models: Path, stats: list[str]):
    """Paper Figure 5: AVG along lambda * base + (1 - lambda) * final checkpoint, per probed run."""
    sns, fig, panels = _panel_row(spec, 4.5, 3.6)
    score = "AVG" if len(spec["benchmarks"]) > 1 else bench_columns(spec)[0]  # the paper: AIME24 alone
    for (st, so), ax in panels:
        for i, run in enumerate(spec["probe"]):
            probe = layout.probe_run(run)
            pts = [(step / 100, res.scores(st, so, probe, step)[-1], _se(res, st, so, probe, step))
                   for step in sorted(res.steps(st, so, probe))]
            ax.errorbar(*zip(*[(x, y) for x, y, _ in pts]), yerr=[e for *_, e in pts], label=run_label(spec, run),
                        color=sns.color_palette()[i], marker="o", ms=4, capsize=3, lw=1.2)
        ax.set(title=f"{spec['students'][st]} on {spec['sources'][so]}", ylabel=f"{score} pass@1 x 100",
               xlabel="lambda (0: final checkpoint, 1: base)")
        ax.legend()
    fig.tight_layout()
    return fig


def save_figure(fig, out: str, dpi: int, extra: dict[str, str] | None = None) -> None:
    """`out`.png and `out`.pdf (and `extra`: {path: text}), moved into place together (atomic_files),
    without software or date stamps: the same data gives the same bytes."""
    stamps = {"png": {"Software": None}, "pdf": {"CreationDate": None, "Producer": None}}
    extra = extra or {}
    with atomic_files([*extra, *(f"{out}.{ext}" for ext in stamps)]) as tmps:
        for tmp, text in zip(tmps, extra.values()):
            tmp.write_text(text, encoding="utf-8")
        for tmp, (ext, meta) in zip(tmps[len(extra):], stamps.items()):
            fig.savefig(tmp, format=ext, dpi=dpi, metadata=meta)


def make_figure(name: str, spec: dict, evals: list[str], models: str, stats: list[str], out: str) -> None:
    if name not in FIGURES:
        raise MotError(f"unknown figure '{name}' (known: {', '.join(sorted(FIGURES))})")
    check_inputs(name, "figures", evals=evals, stats=stats)
    spec = in_order(spec)
    res = results(evals, spec) if evals else None
    fig = FIGURES[name](res, spec, Path(models), stats)
    # no software/date stamps: the same data gives the same bytes
    save_figure(fig, out, dpi=150)
    import matplotlib.pyplot as plt

    plt.close(fig)
