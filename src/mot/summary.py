"""What the run shows, in Markdown, read off its own tables (rule summary); with report.readme,
also written between README's default-run markers."""
from __future__ import annotations

from pathlib import Path

from .io import MotError, atomic_path, write_text

from .readers import read_csv

# ----------------------------------------------------------------------------- what the run shows
SUMMARY_START, SUMMARY_END = "<!-- default-run:start -->", "<!-- default-run:end -->"


def verdict(lo: float, hi: float) -> str:
    return "higher" if lo > 0 else "lower" if hi < 0 else "not told apart"


def summary(tables: str) -> str:
    """What a run shows, in Markdown, from its own tables: table 2 (every method at its best
    checkpoint, ± SE) and the paired differences with their 95% intervals and a verdict read off
    the interval (above 0: higher; below 0: lower; containing 0: not told apart)."""
    ablation = read_csv(Path(tables) / "table2.csv", ("Dataset", "Method"), "table")
    diffs = read_csv(Path(tables) / "differences.csv", ("Dataset", "Base model", "Comparison", "AVG difference",
                                                        "95% low", "95% high"), "table")
    students = [c.removesuffix(" AVG") for c in ablation[0] if c.endswith(" AVG")]
    if not students or any(f"{st} AVG SE" not in ablation[0] for st in students):
        raise MotError(f"{Path(tables) / 'table2.csv'}: no '<student> AVG' and '<student> AVG SE' columns")
    out = []
    for st in students:
        for dataset in dict.fromkeys(r["Dataset"] for r in ablation):
            rows = [r for r in ablation if r["Dataset"] == dataset]
            out += [f"**{st} on {dataset}**: AVG pass@1 × 100 ± SE at each run's best checkpoint", "",
                    "| Method | AVG |", "|---|---:|"]
            out += [f"| {r['Method']} | {r[st + ' AVG']} ± {r[st + ' AVG SE']} |" for r in rows]
            out += ["", "| Paired difference | AVG | 95% interval | |", "|---|---:|---:|---|"]
            for d in (d for d in diffs if d["Base model"] == st and d["Dataset"] == dataset):
                lo, hi = d.num("95% low"), d.num("95% high")
                out.append(f"| {d['Comparison']} | {d.num('AVG difference'):+.2f} | [{lo:+.2f}, {hi:+.2f}] "
                           f"| {verdict(lo, hi)} |")
            out.append("")
    return "\n".join(out)


def write_summary(tables: str, out: str, readme: str | None = None) -> str:
    """Write the summary to `out` and, with `readme`, between its SUMMARY_START/END markers."""
    if readme:  # before anything is written: a README without its markers leaves no summary behind
        block_at(readme, SUMMARY_START, SUMMARY_END, "config key report.readme")
    text = summary(tables)
    write_text(out, text)
    if readme:
        write_block(readme, SUMMARY_START, SUMMARY_END, text, "config key report.readme")
    return text


def block_at(readme: str, start: str, end: str, where: str) -> tuple[str, list[str], int, int]:
    """A Markdown file's text, its lines and the lines of its `start` and `end` markers, or one line
    saying what is wrong with it (`where`: what named the file)."""
    try:
        raw = Path(readme).resolve().read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise MotError(f"{readme}: not UTF-8 text (byte {e.start}; {where})") from None
    except OSError as e:
        raise MotError(f"{readme}: cannot read it ({e.strerror}; {where})") from None
    lines = raw.splitlines(keepends=True)
    at = lambda marker: [i for i, line in enumerate(lines) if line.rstrip("\r\n") == marker]  # noqa: E731
    if raw.count(start) != 1 or raw.count(end) != 1 or len(at(start)) != 1 or len(at(end)) != 1:
        raise MotError(f"{readme}: expected one '{start}' and one '{end}' line, each on its own line ({where})")
    (s,), (e,) = at(start), at(end)
    if e < s:
        raise MotError(f"{readme}: '{start}' must come before '{end}' ({where})")
    return raw, lines, s, e


def write_block(readme: str, start: str, end: str, text: str, where: str) -> None:
    """Replace what lies between the `start` and `end` marker lines of a Markdown file with `text`
    (the file is left as it is when nothing changes). `where`: what named the file, for errors. The
    file is edited in place, as an editor would: through a link, the file it names; its other lines,
    their endings (the block's lines take the start marker's), its mode and its hard links kept."""
    path = Path(readme).resolve()
    raw, lines, s, e = block_at(readme, start, end, where)
    eol = lines[s][len(start):] or "\n"
    new = "".join(lines[:s + 1]) + "".join(line + eol for line in text.split("\n")) + "".join(lines[e:])
    if new == raw:
        return
    if path.stat().st_nlink > 1:  # other names share its data: edited in place, as they expect
        with open(path, "r+b") as f:
            f.write(new.encode("utf-8"))
            f.truncate()
        return
    import shutil

    with atomic_path(path) as tmp:  # whole or not at all, with the file's own mode
        tmp.write_bytes(new.encode("utf-8"))
        shutil.copymode(path, tmp)
