"""Distillation corpora: one verified sample per prompt and teacher, the MTD union, statistics.

    mot corpus --samples results/samples/syn-boba/deliberate.jsonl --seed 0 \
        --out results/corpora/syn-boba/deliberate.jsonl --grades results/corpora/syn-boba/deliberate.grades.json
    mot union --out results/corpora/syn-boba/mtd.jsonl results/corpora/syn-boba/*.jsonl
    mot stats --tokenizer DIR --grades G1 G2 ... --corpora C1 C2 ... --out results/corpora/syn-boba/stats.csv

Paper 4.1: per teacher keep ONE randomly chosen correct response per prompt (the choice is
seeded by (seed, teacher, prompt id), so it does not depend on file order) and drop prompts with
none; MTD is the union of the teachers' corpora. A sample that did not end by itself is never
correct, and with `train.truncation: drop` the choice is made among the correct responses that fit
the student's `train.max_length` (a prompt is lost for length only when none does; Table 10
counts both losses).
"""
from __future__ import annotations

import csv
import io
import os
import random
from dataclasses import dataclass
from pathlib import Path

from .grading import is_correct
from .io import MotError, check_out, stable_hash, write_json, write_jsonl, atomic_files
from .readers import read_json, read_jsonl
from .generate import read_samples
from .shapes import GRADE_COUNTS


@dataclass(frozen=True)
class LengthRule:
    """The student's length rule (train.max_length, train.truncation), applied before a trace is
    chosen: with `drop`, a prompt keeps a correct trace that fits if it has one."""
    tokenizer: str  # the (first) student's tokenizer, whose chat template frames each example
    max_length: int
    truncation: str = "drop"

    def fits(self):
        """A predicate on (prompt, response), or None when nothing is dropped for length."""
        if self.truncation != "drop":
            return None
        from .chat import end_of_turn, sft_example
        from .models import load_tokenizer

        tok = load_tokenizer(self.tokenizer)
        eot = end_of_turn(tok)
        return lambda prompt, response: len(sft_example(tok, prompt, response, eot)[0]) <= self.max_length


def select(rows: list[dict], seed: int, fits=None) -> tuple[list[dict], dict]:
    """The corpus (one correct sample per prompt, among those that fit the student's length rule) and
    the grade counts of one teacher's samples, with what was lost and why."""
    corpus, n_samples, n_correct, n_long, no_correct, too_long = [], 0, 0, 0, 0, 0
    for row in rows:
        correct = [s["text"] for s in row["samples"] if is_correct(s["text"], row["answer"], s["finish_reason"])]
        n_samples += len(row["samples"])
        n_correct += len(correct)
        usable = [t for t in correct if fits(row["prompt"], t)] if fits else correct
        n_long += len(correct) - len(usable)
        if not correct:
            no_correct += 1
        elif not usable:
            too_long += 1
        else:
            rng = random.Random(stable_hash(seed, row["teacher"], row["id"]))
            corpus.append({"id": row["id"], "source": row.get("source"), "teacher": row["teacher"],
                           "prompt": row["prompt"], "answer": row["answer"], "response": rng.choice(usable)})
    grades = {"prompts": len(rows), "prompts_kept": len(corpus), "samples": n_samples, "correct": n_correct,
              "pass_rate": n_correct / n_samples if n_samples else 0.0,
              "lost_no_correct": no_correct, "lost_too_long": too_long, "correct_too_long": n_long}
    return corpus, grades


def build_corpus(samples_path: str, seed: int, out: str, grades_out: str, rule: LengthRule | None = None) -> dict:
    check_out(out, [samples_path], is_dir=False)
    check_out(grades_out, [samples_path], is_dir=False)
    rows = read_samples(samples_path, required=("id", "prompt", "answer", "teacher", "samples"))
    if not rows:
        raise MotError(f"{samples_path}: no samples")
    corpus, grades = select(rows, seed, rule.fits() if rule else None)
    teacher, source = rows[0]["teacher"], rows[0].get("source")
    if not corpus:
        if not grades["lost_too_long"]:
            raise MotError(f"teacher '{teacher}' has zero correct samples on source '{source}' ({samples_path})")
        raise MotError(f"teacher '{teacher}' has no correct sample within train.max_length on source '{source}' "
                       f"({samples_path}: {grades['lost_too_long']} prompt(s) whose correct samples are all longer)")
    grades = {"teacher": teacher, "source": source, **grades}
    write_jsonl(out, corpus)
    write_json(grades_out, grades)
    return grades


def _one_each(paths: list[str], flag: str) -> None:
    """No file given twice (by any name): its rows would count twice."""
    seen = {}
    for p in paths:
        st = os.stat(p)
        if (key := (st.st_dev, st.st_ino)) in seen:
            raise MotError(f"{flag} {p}: the same file as {seen[key]}, given twice")
        seen[key] = p


def union(paths: list[str], out: str) -> int:
    """The MTD corpus: every teacher's corpus, each trace once (a corpus given twice, or a trace of one
    teacher for one prompt twice, would weigh it double)."""
    _one_each(paths, "mot union:")
    rows, seen, source = [], {}, None
    for p in paths:
        for row in read_jsonl(p, required=("prompt", "response")):
            if bad := [k for k in ("id", "teacher", "source") if k in row and row[k] is not None
                       and not isinstance(row[k], str)]:
                raise MotError(f"{p}: a trace whose {bad[0]} is {type(row[bad[0]]).__name__} "
                               f"{str(row[bad[0]])[:40]}, not text (a corpus that mot corpus wrote has text)")
            if row.get("source") is not None:  # one source's corpus: mixed ones would train MTD on both
                if source is None:
                    source = (row["source"], p)
                elif row["source"] != source[0]:
                    raise MotError(f"{p}: a trace of source '{row['source']}', but {source[1]}'s are of "
                                   f"'{source[0]}' (an MTD corpus joins one source's teachers)")
            if "id" in row and "teacher" in row:
                if (key := (row["id"], row["teacher"])) in seen:
                    raise MotError(f"{p}: teacher '{row['teacher']}' has prompt '{row['id']}' in {seen[key]} too")
                seen[key] = p
            rows.append(row)
    if not rows:  # an MTD run on nothing would train no step
        raise MotError(f"{', '.join(map(str, paths))}: no samples to join (the corpora are empty)")
    write_jsonl(out, rows)
    return len(rows)


def _format_table(header: list[str], rows: list[list]) -> tuple[str, str]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    md = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    md += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return buf.getvalue(), "\n".join(md) + "\n"


STATS_COLUMNS = ("source", "teacher", "prompts", "kept", "pass_rate", "mean_tokens", "lost_no_correct", "lost_too_long")


def read_stats(path: str):
    """A stats.csv that corpus_stats wrote (Table 10 and mot plan read it), its rows typed on request."""
    from .readers import read_csv

    return read_csv(path, STATS_COLUMNS, "corpus statistics")


def corpus_stats(tokenizer: str, grades_paths: list[str], corpus_paths: list[str], out: str) -> list[list]:
    """Per teacher: prompts kept, pass rate over all samples, mean trace length, prompts lost for want
    of a correct sample and for length (paper Table 10)."""
    from .models import load_tokenizer

    if len(grades_paths) != len(corpus_paths):
        raise MotError(f"--grades has {len(grades_paths)} files and --corpora {len(corpus_paths)}: one of each a teacher")
    _one_each(grades_paths, "--grades")
    _one_each(corpus_paths, "--corpora")
    tok = load_tokenizer(tokenizer)
    table, kept_total, lengths_total, teachers = [], 0, [], {}
    for gpath, cpath in zip(grades_paths, corpus_paths):
        g = read_json(gpath, "grade counts", GRADE_COUNTS)
        rows = read_jsonl(cpath, required=("response",))
        responses = [r["response"] for r in rows]
        if not responses:  # a corpus of nothing has no mean length (mot corpus never writes one)
            raise MotError(f"{cpath}: an empty corpus")
        for key in ("teacher", "source"):  # the grades and the corpus of one teacher, given in the same order
            if (other := {r[key] for r in rows if key in r} - {g[key]}):
                raise MotError(f"{cpath}: its rows' {key} '{sorted(other)[0]}' is not {gpath}'s '{g[key]}' (give "
                               "--grades and --corpora in the same order)")
        if g["teacher"] in teachers:
            raise MotError(f"{gpath}: teacher '{g['teacher']}' again (also {teachers[g['teacher']]})")
        if teachers and g["source"] != table[0][0]:
            raise MotError(f"{gpath}: source '{g['source']}', not '{table[0][0]}' as the other teachers'")
        teachers[g["teacher"]] = gpath
        lengths = [len(ids) for ids in tok(responses, add_special_tokens=False)["input_ids"]]
        kept_total += g["prompts_kept"]
        lengths_total += lengths
        table.append([g["source"], g["teacher"], g["prompts"], g["prompts_kept"], f"{g['pass_rate']:.4f}",
                      f"{sum(lengths) / len(lengths):.1f}", g["lost_no_correct"], g["lost_too_long"]])
    source = table[0][0] if table else ""
    table.append([source, "ALL TEACHERS (MTD)", table[0][2] if table else 0, kept_total, "",
                  f"{sum(lengths_total) / max(1, len(lengths_total)):.1f}", "", ""])
    csv_text, md = _format_table(list(STATS_COLUMNS), table)
    with atomic_files([out, Path(out).with_suffix(".md")]) as (csv_tmp, md_tmp):
        csv_tmp.write_text(csv_text, encoding="utf-8")
        md_tmp.write_text(md, encoding="utf-8")
    return table
