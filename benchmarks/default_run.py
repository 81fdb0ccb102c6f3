"""The default run against the synthetic world's targets (issues 20 and 35: T1-T7 and the budget), from its
own output: the eval summaries it wrote, and Snakemake's log of the run.

    .venv/bin/python benchmarks/default_run.py --run     # runs the main job, sampling its memory
    .venv/bin/python benchmarks/default_run.py           # reads a finished run

The targets were fixed before the world was recalibrated, and they read the base and the STD runs
only (the world's knobs were chosen on them; MoT and MTD only enter T6):
  T1  base AVG between 20 and 60;
  T2  every non-shifted teacher's best STD checkpoint at or above the base (no paired 95% interval
      entirely below 0), at least two above it (interval above 0), on each source;
  T3  no dominant teacher: best STD gain at most twice the second best on each source, and the best
      teacher differs between the sources;
  T4  the shifted teacher's STD run below the base (interval below 0) on each source;
  T5  STD peaks before its last checkpoint in at least half of the STD runs;
  T6  every paired difference between two methods (each at its best checkpoint) has a 95% interval
      no wider than +-3 points;
  T7  the base reasons (a non-empty thinking block) in at least 90% of its test samples, as the
      paper's thinking students do (issue 35; added after MoT's result in this world was seen: the
      base answered directly on most problems; table `decomposition`);
  budget: the main job at most 15 minutes and 4 GB on 2 cores, the shipped base at most 20 MB.
Each line says PASS or FAIL with its numbers; the exit status is 0 either way (this reports).
With only the base and STD runs evaluated (as while calibrating), T6 reads those.
"""
from __future__ import annotations

import argparse
import itertools
import os
import re
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from mot import layout as L  # noqa: E402
from mot.io import MotError  # noqa: E402
from mot.student import checkout_base_key  # noqa: E402
from mot.results import Results, paired_difference  # noqa: E402


def wall_minutes(log_dir: Path) -> tuple[float, str] | None:
    """First to last timestamp of the newest Snakemake log that finished its jobs."""
    for log in sorted(log_dir.glob("*.snakemake.log"), reverse=True):
        text = log.read_text()
        stamps = re.findall(r"^\[(\w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4})\]$", text, re.M)
        if len(stamps) >= 2 and re.search(r"\d+ of \d+ steps \(100%\) done", text):
            t = [datetime.strptime(" ".join(s.split()), "%a %b %d %H:%M:%S %Y") for s in (stamps[0], stamps[-1])]
            return (t[1] - t[0]).total_seconds() / 60, log.name
    return None


def tree_rss(pid: int) -> int:
    """Resident memory (bytes) of a process and all its descendants, read from /proc."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            fields = (p / "stat").read_text().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(p.name))
            rss[int(p.name)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue
    total, todo = 0, [pid]
    while todo:
        q = todo.pop()
        total += rss.get(q, 0)
        todo += children.get(q, [])
    return total


def run_main_job(configfile: str | None, out: Path) -> None:
    """`snakemake --cores all all_tables`, its memory sampled every 2 s; the peak goes to `out`."""
    cmd = [sys.executable, "-m", "snakemake", "--cores", "all", "all_tables"]
    if configfile:
        cmd += ["--configfile", configfile]
    start, peak = time.time(), 0
    proc = subprocess.Popen(cmd, cwd=ROOT)
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        time.sleep(2)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"{peak / 2**30:.2f} GB peak, {(time.time() - start) / 60:.1f} min wall, rc {proc.returncode}\n")
    if proc.returncode:
        sys.exit(f"the main job failed (exit {proc.returncode})")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def interval(d: tuple[float, float, float]) -> str:
    return f"{d[0]:+.2f} [{d[1]:+.2f}, {d[2]:+.2f}]"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configfile", default=None, help="the run's config (default: config/config.yaml)")
    ap.add_argument("--run", action="store_true", help="run the main job first, sampling its memory")
    ap.add_argument("--log", default=".snakemake/log")
    a = ap.parse_args()
    cfg = yaml.safe_load((ROOT / (a.configfile or "config/config.yaml")).read_text())
    memory_file = ROOT / L.RESULTS / "default_run_memory.txt"
    if a.run:
        run_main_job(a.configfile, memory_file)
    ev = cfg["eval"]
    select = ev.get("validation") if cfg.get("report", {}).get("select_on") == "validation" else None
    teachers = list(cfg["teachers"])
    shifted = [t for t in teachers if cfg["teachers"][t].get("distribution_shifted")]
    peers = [t for t in teachers if t not in shifted]
    methods = ["base", *(L.sft_run(t) for t in teachers), L.sft_run(L.MTD), *(L.mot_run(s) for s in cfg["teacher_sets"])]
    checks: list[tuple[str, bool]] = []
    best_teachers, peaks, widths, reasoned = {}, [], [], set()
    for student in cfg["students"]:
        base_file = ROOT / L.EVAL_BASE_SUMMARY.format(student=student)
        for source in cfg["sources"]:
            files = [base_file] + [ROOT / L.EVAL_RUN_SUMMARY.format(student=student, source=source, run=r)
                                   for r in methods[1:]]
            res = Results([str(f) for f in files if f.is_file()], ev["benchmarks"], select)
            have = [r for r in methods if (student, None if r == "base" else source, r) in res.runs]
            if "base" not in have:
                print(f"{student}/{source}: no base evaluation yet")
                continue
            where = f"{student}/{source}"
            base_avg = res.base(student)[-1]
            best = {r: res.best(student, source, r)[0] if r != "base" else 0 for r in have}
            prob = {r: res.problems(student, None if r == "base" else source, r, best[r]) for r in have}
            vs_base = {t: paired_difference(prob[L.sft_run(t)], prob["base"], (student, source, "base"))
                       for t in teachers if L.sft_run(t) in have}
            print(f"\n{where}: base AVG {base_avg:.2f}")
            for t, d in vs_base.items():
                steps = sorted(res.steps(student, source, L.sft_run(t)))
                peaks.append(best[L.sft_run(t)] < steps[-1])
                print(f"  STD {t:12s} best step {best[L.sft_run(t)]:>4} of {steps[-1]:>4}: "
                      f"AVG {res.best(student, source, L.sft_run(t))[1][-1]:6.2f}, minus base {interval(d)}")
            checks.append((f"T1 {where}: base AVG {base_avg:.2f} in [20, 60]", 20 <= base_avg <= 60))
            if student not in reasoned:  # the base's samples on the test sets, once per student
                reasoned.add(student)
                try:
                    d = res.decomposed(student, None, "base", 0)
                    share = 100 * (1 - d["direct_share"])
                    checks.append((f"T7 {student}: the base reasons in {share:.1f}% +- {100 * d['direct_share_se']:.1f} "
                                   f"of its {d['samples']} test samples: at least 90%", share >= 90))
                except MotError as e:
                    print(f"T7 {student}: {e}")
            got = [t for t in peers if t in vs_base]
            if got:
                not_below = all(vs_base[t][2] >= 0 for t in got)
                above = [t for t in got if vs_base[t][1] > 0]
                checks.append((f"T2 {where}: no peer below the base, {len(above)} above it ({', '.join(above) or '-'})",
                               not_below and len(above) >= 2))
                gains = sorted(((vs_base[t][0], t) for t in got), reverse=True)
                best_teachers.setdefault(student, {})[source] = gains[0][1]
                if len(gains) >= 2:
                    ratio_ok = gains[1][0] > 0 and gains[0][0] <= 2 * gains[1][0]
                    checks.append((f"T3 {where}: best gain {gains[0][0]:+.2f} ({gains[0][1]}) vs second "
                                   f"{gains[1][0]:+.2f} ({gains[1][1]}): at most twice", ratio_ok))
            for t in shifted:
                if t in vs_base:
                    checks.append((f"T4 {where}: STD {t} minus base {interval(vs_base[t])} below 0",
                                   vs_base[t][2] < 0))
            for x, y in itertools.combinations(have, 2):
                d = paired_difference(prob[x], prob[y], (student, source, x, y))
                widths.append(((d[2] - d[1]) / 2, f"{where} {x} - {y}"))
    for student, by_source in best_teachers.items():
        if len(by_source) >= 2:
            checks.append((f"T3 {student}: best teacher per source {by_source}: not the same everywhere",
                           len(set(by_source.values())) > 1))
    if peaks:
        checks.append((f"T5: STD peaks before its last checkpoint in {sum(peaks)} of {len(peaks)} runs (at least half)",
                       2 * sum(peaks) >= len(peaks)))
    if widths:
        w, which = max(widths)
        checks.append((f"T6: widest paired 95% interval +-{w:.2f} ({which}; {len(widths)} pairs): at most +-3",
                       w <= 3))
    wall = wall_minutes(ROOT / a.log)
    if wall:
        checks.append((f"budget: wall time of the latest complete run {wall[0]:.1f} min ({wall[1]}): at most 15",
                       wall[0] <= 15))
    if memory_file.is_file():
        peak = float(memory_file.read_text().split()[0])
        checks.append((f"budget: memory of the main job {memory_file.read_text().strip()}: at most 4 GB", peak <= 4))
    for student, st in cfg["students"].items():
        if st.get("init") == "synthetic":
            path = ROOT / L.SYNTHETIC_BASE.format(student=student, key=checkout_base_key(cfg["world"], st["arch"], st["pretrain"]))
            if path.is_dir():
                mb = sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20
                checks.append((f"budget: shipped base {path.relative_to(ROOT)} {mb:.1f} MB: at most 20", mb <= 20))
    print()
    for text, ok in checks:
        print(f"{verdict(ok)}  {text}")


if __name__ == "__main__":
    main()
