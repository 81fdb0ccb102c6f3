"""The default run measured against what it must show (issue 12's goals 1-3 and 7), from its own
output: the tables it wrote and Snakemake's log of the run.

    .venv/bin/snakemake --cores all all_tables && .venv/bin/python benchmarks/default_run.py

Prints, per student and source: the base's AVG (goal: 10-40), the best STD run's AVG and its gain
over the base with the paired-bootstrap 95% interval (goal: >= 10 points, interval above 0); then
the largest standard error of any AVG cell of any table (goal: <= 2.5) and the wall time of the
latest Snakemake run in this directory (goal: <= 15 min on 2 cores). Exit status 0 either way:
this reports, it does not judge.
"""
from __future__ import annotations

import argparse
import csv
import re
from datetime import datetime
from pathlib import Path


def read(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def wall_minutes(log_dir: Path) -> tuple[float, str] | None:
    """First to last timestamp of the newest Snakemake log that finished its jobs."""
    for log in sorted(log_dir.glob("*.snakemake.log"), reverse=True):
        text = log.read_text()
        stamps = re.findall(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$", text, re.M)
        if len(stamps) >= 2 and re.search(r"\d+ of \d+ steps \(100%\) done", text):
            t = [datetime.strptime(" ".join(s.split()), "%a %b %d %H:%M:%S %Y") for s in (stamps[0], stamps[-1])]
            return (t[1] - t[0]).total_seconds() / 60, log.name
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default="results")
    ap.add_argument("--log", default=".snakemake/log")
    a = ap.parse_args()
    tables = Path(a.results) / "tables"
    diffs = read(tables / "differences.csv")
    ablation = read(tables / "table2.csv")
    print("| student | source | base AVG | best STD | its AVG | gain over base [95% interval] |")
    print("|---|---|---|---|---|---|")
    for d in (r for r in diffs if r["Comparison"].endswith(" - base")):
        std = d["Comparison"].removeprefix("best ").removesuffix(" - base")  # 'STD (CONCISE)'
        rows = {r["Method"]: r for r in ablation if r["Dataset"] == d["Dataset"]}
        avg = f"{d['Base model']} AVG"
        base, best = rows["Baseline"], rows[std]
        print(f"| {d['Base model']} | {d['Dataset']} | {base[avg]} ± {base[avg + ' SE']} | {std} "
              f"| {best[avg]} ± {best[avg + ' SE']} | {float(d['AVG difference']):+.2f} "
              f"[{float(d['95% low']):+.2f}, {float(d['95% high']):+.2f}] |")
    ses = [(float(v), p.stem, k) for p in sorted(tables.glob("*.csv")) for r in read(p)
           for k, v in r.items() if k.endswith("AVG SE") and v]
    if ses:
        se, name, col = max(ses)
        print(f"\nlargest SE of an AVG cell: {se:.2f} ({name}, {col})")
    wall = wall_minutes(Path(a.log))
    print(f"wall time of the latest complete run: {wall[0]:.1f} min ({wall[1]})" if wall else
          "wall time: no complete Snakemake log found")


if __name__ == "__main__":
    main()
