"""How a table looks: a Table writes itself as CSV, Markdown, LaTeX and HTML, with a Score as
'v ± se'; the notes every table and report caption share (what "best" means, the sampling
protocol, the standard error)."""
from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

from .io import atomic_files

BENCH_LABELS = {"aime24": "AIME24", "aime25": "AIME25", "math500": "MATH-500", "syn-aime24": "SYN-AIME24",
                "syn-aime25": "SYN-AIME25"}
SE_NOTE = ("± is the standard error over problems (bootstrap); an AVG's combines its benchmarks' SEs as "
           "independent.")
def protocol_note(spec: dict) -> str:
    """The sampling protocol of every score, from the config's eval block (spec["protocol"])."""
    p = spec.get("protocol")
    if not p:
        return ""
    return (f"Protocol: pass@1 x 100 over {p['n']} sample(s) per problem at temperature {p['temperature']:g}, "
            f"top-p {p['top_p']:g}, at most {p['max_tokens']} tokens; graded by math-verify.")


def caption(spec: dict, what: str) -> str:
    """A report caption: what the output is, then the same sentences as the tables' notes (what
    "best" means, the protocol, the SE) and, with published numbers, where they come from."""
    parts = [what, best_note(spec), protocol_note(spec), SE_NOTE]
    if spec.get("published"):
        parts.append("Columns marked (paper) are the published numbers (data/paper_results.yaml).")
    return " ".join(x for x in parts if x)


def best_note(spec: dict) -> str:
    on = (f"the AVG over the validation benchmarks ({', '.join(spec['validation'])}), kept apart from the test sets"
          if spec.get("select_on") == "validation" else "the AVG over the test benchmarks themselves, as in the paper")
    return ("Best checkpoint: the saved checkpoint (STD/MTD: every save_every steps; MoT: every round) with the "
            f"highest AVG, chosen on {on}; ties go to the earlier step.")


@dataclass(frozen=True)
class Score:
    """pass@1 x 100 and its standard error over problems: 'v ± se' in Markdown and LaTeX, two
    columns ('<col>', '<col> SE') in the CSV."""
    value: float
    se: float


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list] = field(default_factory=list)
    keys: int = 1  # the first `keys` cells of a row identify it (published numbers join on them)
    published_keys: list[str] | None = None  # per row, what its published numbers join on instead
    note: str = ""
    protocol: str = ""  # how the scores were sampled (protocol_note), said under every scored table
    se_note: str = SE_NOTE  # what ± means

    def add_published(self, published: dict | None) -> None:
        """Append '<col> (paper)' columns for the numeric columns that the paper reports."""
        if not published:
            return
        cols = [c for c in self.columns[self.keys:] if any(c in r for r in published.values())]
        for i, row in enumerate(self.rows):
            key = self.published_keys[i] if self.published_keys else "|".join(str(x) for x in row[:self.keys])
            ref = published.get(key, {})
            row.extend(ref.get(c) for c in cols)
        self.columns += [f"{c} (paper)" for c in cols]
        self.note += " Columns marked (paper) are the published numbers (data/paper_results.yaml)."

    def full_note(self) -> str:
        scored = any(isinstance(c, Score) for r in self.rows for c in r)
        return " ".join(x for x in (self.note, self.protocol, self.se_note) if x) if scored else self.note

    def cells(self, tex: bool = False) -> list[list[str]]:
        return [[fmt(c, tex) for c in r] for r in self.rows]

    def csv(self) -> str:
        scored = [any(isinstance(r[i], Score) for r in self.rows) for i in range(len(self.columns))]
        header, rows = [], [[] for _ in self.rows]
        for i, col in enumerate(self.columns):
            header += [col, f"{col} SE"] if scored[i] else [col]
            for out, r in zip(rows, self.rows):
                x = r[i]
                out += ([fmt(x.value), fmt(x.se)] if isinstance(x, Score) else [fmt(x), ""]) if scored[i] \
                    else [fmt(x)]
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)
        return buf.getvalue()

    def markdown(self) -> str:
        lines = [f"**{self.title}**", "", "| " + " | ".join(self.columns) + " |",
                 "|" + "|".join("---" if i < self.keys else "---:" for i in range(len(self.columns))) + "|"]
        lines += ["| " + " | ".join(r) + " |" for r in self.cells()]
        return "\n".join(lines + ["", self.full_note(), ""])

    def latex(self) -> str:
        spec = "l" * self.keys + "r" * (len(self.columns) - self.keys)
        lines = ["% " + self.full_note(), "\\begin{table}[t]", "\\centering", f"\\caption{{{latex_escape(self.title)}}}",
                 f"\\begin{{tabular}}{{{spec}}}", "\\toprule", " & ".join(map(latex_escape, self.columns)) + " \\\\",
                 "\\midrule"]
        lines += [" & ".join(r) + " \\\\" for r in self.cells(tex=True)]
        return "\n".join(lines + ["\\bottomrule", "\\end{tabular}", "\\end{table}", ""])

    def html(self, name: str) -> str:
        """A self-contained page for `snakemake --report`: the table, its note, and its CSV and
        LaTeX attached as downloads (data URIs, so the page needs no other file)."""
        import base64
        from html import escape

        def attach(ext, text, mime):
            data = base64.b64encode(text.encode()).decode()
            return f'<a download="{name}.{ext}" href="data:{mime};base64,{data}">{name}.{ext}</a>'

        head = "".join(f"<th>{escape(c)}</th>" for c in self.columns)
        body = "".join("<tr>" + "".join(f'<td class="{"k" if i < self.keys else "n"}">{escape(c)}</td>'
                                        for i, c in enumerate(r)) + "</tr>" for r in self.cells())
        return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{escape(self.title)}</title><style>"
                "body{font-family:sans-serif;margin:1.5em}table{border-collapse:collapse;font-size:14px}"
                "th,td{border-bottom:1px solid #ccc;padding:4px 10px}th{text-align:left}td.n{text-align:right}"
                "p{max-width:60em;color:#333}</style></head><body>"
                f"<h3>{escape(self.title)}</h3><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
                f"<p>{escape(self.full_note())}</p><p>Download: {attach('csv', self.csv(), 'text/csv')} · "
                f"{attach('tex', self.latex(), 'application/x-tex')} · {attach('md', self.markdown(), 'text/markdown')}"
                "</p></body></html>\n")

    def write(self, out: str) -> None:
        files = {"csv": self.csv(), "md": self.markdown(), "tex": self.latex(), "html": self.html(Path(out).name)}
        with atomic_files(f"{out}.{ext}" for ext in files) as tmps:
            for tmp, text in zip(tmps, files.values()):
                tmp.write_text(text, encoding="utf-8")


def fmt(x, tex: bool = False) -> str:
    if isinstance(x, Score):
        return f"{x.value:.2f} $\\pm$ {x.se:.2f}" if tex else f"{x.value:.2f} ± {x.se:.2f}"
    if x is None:
        text = ""
    elif isinstance(x, float):
        text = f"{x:.2f}"
    else:
        text = str(x)
    return latex_escape(text) if tex else text


def gain(x: float) -> str:
    return f"{x:+.2f}"


TEX = {"\\": "\\textbackslash{}", "&": "\\&", "%": "\\%", "_": "\\_", "#": "\\#", "$": "\\$", "{": "\\{",
        "}": "\\}", "~": "\\textasciitilde{}", "^": "\\textasciicircum{}"}
TEX_RE = re.compile("|".join(map(re.escape, TEX)))


def latex_escape(s: str) -> str:
    """LaTeX-escape in one pass, so the braces of an inserted `\\textbackslash{}` stay braces."""
    return TEX_RE.sub(lambda m: TEX[m.group()], s)
