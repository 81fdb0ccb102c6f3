"""What the run shows, in Markdown, read off its own tables (rule summary); with report.readme,
also written between README's default-run markers."""
from __future__ import annotations

import csv
from pathlib import Path

from .io import MotError, write_text

# ----------------------------------------------------------------------------- what the run shows
SUMMARY_START, SUMMARY_END = "<!-- default-run:start -->", "<!-- default-run:end -->"


def verdict(lo: float, hi: float) -> str:
    return "higher" if lo > 0 else "lower" if hi < 0 else "not told apart"


def summary(tables: str) -> str:
    """What a run shows, in Markdown, from its own tables: table 2 (every method at its best
    checkpoint, ± SE) and the paired differences with their 95% intervals and a verdict read off
    the interval (above 0: higher; below 0: lower; containing 0: not told apart)."""
    def read(name):
        with open(Path(tables) / f"{name}.csv", newline="") as f:
            return list(csv.DictReader(f))

    ablation, diffs = read("table2"), read("differences")
    students = [c.removesuffix(" AVG") for c in ablation[0] if c.endswith(" AVG")]
    out = []
    for st in students:
        for dataset in dict.fromkeys(r["Dataset"] for r in ablation):
            rows = [r for r in ablation if r["Dataset"] == dataset]
            out += [f"**{st} on {dataset}**: AVG pass@1 × 100 ± SE at each run's best checkpoint", "",
                    "| Method | AVG |", "|---|---:|"]
            out += [f"| {r['Method']} | {r[st + ' AVG']} ± {r[st + ' AVG SE']} |" for r in rows]
            out += ["", "| Paired difference | AVG | 95% interval | |", "|---|---:|---:|---|"]
            for d in (d for d in diffs if d["Base model"] == st and d["Dataset"] == dataset):
                lo, hi = float(d["95% low"]), float(d["95% high"])
                out.append(f"| {d['Comparison']} | {float(d['AVG difference']):+.2f} | [{lo:+.2f}, {hi:+.2f}] "
                           f"| {verdict(lo, hi)} |")
            out.append("")
    return "\n".join(out)


def write_summary(tables: str, out: str, readme: str | None = None) -> str:
    """Write the summary to `out` and, with `readme`, between its SUMMARY_START/END markers."""
    text = summary(tables)
    write_text(out, text)
    if readme:
        doc = Path(readme).read_text()
        if doc.count(SUMMARY_START) != 1 or doc.count(SUMMARY_END) != 1:
            raise MotError(f"{readme}: expected one '{SUMMARY_START}' and one '{SUMMARY_END}' line "
                           "(config key report.readme)")
        head, rest = doc.split(SUMMARY_START + "\n", 1) if SUMMARY_START + "\n" in doc else (None, None)
        if head is None or SUMMARY_END not in rest:
            raise MotError(f"{readme}: '{SUMMARY_START}' must be on its own line, before '{SUMMARY_END}'")
        new = head + SUMMARY_START + "\n" + text + "\n" + SUMMARY_END + rest.split(SUMMARY_END, 1)[1]
        if new != doc:
            write_text(readme, new)
    return text
