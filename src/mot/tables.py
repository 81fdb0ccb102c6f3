"""The paper's tables, regenerated from eval summaries and corpus statistics.

    mot tables --name table2 --spec '{...}' --evals results/eval/tiny/base.json results/eval/tiny/syn-boba/*.json \
        --out results/tables/table2

Each table is a small function in a registry: (Results, spec) -> Table, declared with its runs in
mot.catalog (results and selection: mot.results; how a table is written: mot.render; the README
summary: mot.summary). A Table writes itself as CSV, Markdown and LaTeX (`<out>.csv`, `.md`,
`.tex`); the note under it says how each number was chosen ("best" = the checkpoint with the highest AVG, the mean pass@1 over the benchmarks; ties go
to the earlier step). Scores are pass@1 x 100 over the eval's n samples per problem. With
spec.published (config/paper.yaml: data/paper_results.yaml), the paper's numbers for the same row
and column appear beside each reproduced one, as "<column> (paper)".

spec: students/sources {name: label}, teachers {name: {label, shifted}}, sets {name: [teachers]},
roles {mot, no_shifted, peers} (teacher-set names; null skips a table), benchmarks [names],
steps_per_round, published (path or null).
"""
from __future__ import annotations


from . import layout
from .catalog import OUTPUTS, check_inputs
from .io import MotError, registry
from .readers import read_json
from .render import BENCH_LABELS, Score, Table, best_note, gain, protocol_note
from .shapes import GENERAL_SUMMARY
from .results import N_BOOT, Results, best_std, in_order, load_published, paired_difference, results

TABLES: dict = {}
table = registry(TABLES)

def bench_columns(spec: dict) -> list[str]:
    return [BENCH_LABELS.get(b, b.upper()) for b in spec["benchmarks"]] + ["AVG"]


def _set_label(spec, tset) -> str:
    teachers = spec["sets"][tset]
    if tset == spec["roles"]["mot"]:
        return "ALL TEACHERS"
    return " + ".join(spec["teachers"][t]["label"] for t in teachers)


@table("table1")
def main_results(res: Results, spec: dict) -> Table:
    t = Table("Table 1: Main results with MoT", ["Configuration"] + bench_columns(spec) + ["AVG Gain"],
              note="MoT: best round. " + best_note(spec) + " AVG Gain: AVG minus the base model's AVG.")
    mot = f"mot-{spec['roles']['mot']}"
    for st, st_label in spec["students"].items():
        base = res.base_scored(st)
        t.rows.append([st_label, *base, "-"])
        for so, so_label in spec["sources"].items():
            s = res.best_scored(st, so, mot)
            t.rows.append([f"{st_label} + {so_label} (MOT)", *s, gain(s[-1].value - base[-1].value)])
    return t


def method_rows(spec) -> list[tuple[str, str]]:
    """(label, run) of Table 2's rows, in the paper's order."""
    return ([("Baseline", "base"), ("MTD (ALL TEACHERS)", "sft-mtd")]
            + [(f"STD ({v['label']})", f"sft-{k}") for k, v in spec["teachers"].items()]
            + [("MOT (ours)", f"mot-{spec['roles']['mot']}")])


@table("table2")
def ablation(res: Results, spec: dict) -> Table:
    cols = [f"{sl} {c}" for sl in spec["students"].values() for c in bench_columns(spec)]
    t = Table("Table 2: Ablation on STD, MTD and MoT", ["Dataset", "Method"] + cols, keys=2,
              note="Every method at its best checkpoint. " + best_note(spec))
    for so, so_label in spec["sources"].items():
        for label, run in method_rows(spec):
            row = [so_label, label]
            for st in spec["students"]:
                row += res.base_scored(st) if run == "base" else res.best_scored(st, so, run)
            t.rows.append(row)
    return t


@table("table5")
def best_teacher(res: Results, spec: dict) -> Table:
    cols = []
    for sl in spec["sources"].values():
        cols += [f"Best teacher on {sl} (STD)", f"{sl} best STD AVG", f"{sl} MOT AVG"]
    t = Table("Table 5: Best teacher under STD for each base model and dataset", ["Base model"] + cols,
              note="The STD teacher whose best checkpoint has the highest AVG (ties: config order); "
                   "MOT AVG at its best round. " + best_note(spec))
    for st, st_label in spec["students"].items():
        row = [st_label]
        for so in spec["sources"]:
            teacher, avg = best_std(res, spec, st, so)
            row += [spec["teachers"][teacher]["label"], res.best_scored(st, so, f"sft-{teacher}")[-1],
                    res.best_scored(st, so, f"mot-{spec['roles']['mot']}")[-1]]
        t.rows.append(row)
    return t


@table("table6")
def shifted_std(res: Results, spec: dict) -> Table:
    cols = [f"{sl} (AVG change)" for sl in spec["sources"].values()]
    t = Table("Table 6: STD with the distribution-shifted teacher, AVG change vs the base",
              ["Base model", "Teacher"] + cols, keys=2,
              note="STD at its best checkpoint, AVG minus the base model's AVG; negative = degradation. " + best_note(spec))
    shifted = [k for k, v in spec["teachers"].items() if v.get("shifted")]
    for st, st_label in spec["students"].items():
        for k in shifted:
            t.rows.append([st_label, spec["teachers"][k]["label"]]
                          + [res.best(st, so, f"sft-{k}")[1][-1] - res.base(st)[-1] for so in spec["sources"]])
    if not shifted:
        t.note = "No teacher is marked distribution_shifted in the config. " + t.note
    return t


def _set_change(res, spec, role, title, number) -> Table:
    cols = [f"{sl} (AVG change)" for sl in spec["sources"].values()]
    t = Table(f"Table {number}: {title}", ["Base model"] + cols,
              note=f"AVG of MoT with teacher set '{spec['roles'][role]}' minus AVG of MoT with all teachers "
                   f"('{spec['roles']['mot']}'), each at its best round; negative = the smaller pool is worse. "
                   + best_note(spec))
    for st, st_label in spec["students"].items():
        t.rows.append([st_label] + [res.best(st, so, f"mot-{spec['roles'][role]}")[1][-1]
                                    - res.best(st, so, f"mot-{spec['roles']['mot']}")[1][-1]
                                    for so in spec["sources"]])
    return t


@table("table7")
def no_shifted(res: Results, spec: dict) -> Table:
    return _set_change(res, spec, "no_shifted", "Removing the distribution-shifted teacher from the MoT pool", 7)


@table("table8")
def peers(res: Results, spec: dict) -> Table:
    tset = spec["roles"]["peers"]
    t = Table("Table 8: Peer-level teachers", ["Base model", "Dataset", "Teacher setting"] + bench_columns(spec),
              keys=3, note="STD and MoT at their best checkpoint / round. " + best_note(spec))
    for st, st_label in spec["students"].items():
        for so, so_label in spec["sources"].items():
            t.rows.append([st_label, so_label, "Base", *res.base_scored(st)])
            for k in spec["sets"][tset]:
                t.rows.append([st_label, so_label, f"STD: only {spec['teachers'][k]['label']}",
                               *res.best_scored(st, so, f"sft-{k}")])
            t.rows.append([st_label, so_label, f"MOT: {_set_label(spec, tset)}", *res.best_scored(st, so, f"mot-{tset}")])
            t.rows.append([st_label, so_label, "MOT: ALL TEACHERS",
                           *res.best_scored(st, so, f"mot-{spec['roles']['mot']}")])
    return t


@table("table11")
def every_checkpoint(res: Results, spec: dict) -> Table:
    bench = [BENCH_LABELS.get(b, b.upper()) for b in spec["benchmarks"]]
    cols = [f"{so_l} {st_l} {b}" for so_l in spec["sources"].values() for st_l in spec["students"].values()
            for b in bench]
    t = Table("Table 11: Every checkpoint (STD/MTD) and every round (MoT)", ["Method", "Config"] + cols, keys=2,
              note="pass@1 x 100 of every saved checkpoint; MoT round t = step t x steps_per_round.")
    pairs = [(so, st) for so in spec["sources"] for st in spec["students"]]
    t.rows.append(["Base model", "-"] + [x for so, st in pairs for x in res.base_scored(st)[:-1]])
    runs = [(f"STD ({v['label']})", f"sft-{k}") for k, v in spec["teachers"].items()]
    runs += [("MTD (ALL TEACHERS)", "sft-mtd")]
    for label, run in runs:
        for step in sorted(res.steps(*pairs[0][::-1], run)):
            t.rows.append([label, f"STEP {step}"] + [x for so, st in pairs for x in res.scored(st, so, run, step)[:-1]])
    for tset in spec["sets"]:
        label = "MOT (ours)" if tset == spec["roles"]["mot"] else f"MOT ({_set_label(spec, tset)})"
        for step in sorted(res.steps(*pairs[0][::-1], f"mot-{tset}")):
            t.rows.append([label, f"Round {step // spec['steps_per_round']}"]
                          + [x for so, st in pairs for x in res.scored(st, so, f"mot-{tset}", step)[:-1]])
    return t


def _per_round(res, spec, role, title, number) -> Table:
    tset = spec["roles"][role]
    t = Table(f"Table {number}: {title}", ["Base model", "Dataset", "Round"] + bench_columns(spec), keys=3,
              note=f"MoT with teacher set '{tset}' ({_set_label(spec, tset)}), every round; AVG = the mean "
                   "over the benchmarks.")
    for st, st_label in spec["students"].items():
        for so, so_label in spec["sources"].items():
            for step in sorted(res.steps(st, so, f"mot-{tset}")):
                t.rows.append([st_label, so_label, f"Round {step // spec['steps_per_round']}",
                               *res.scored(st, so, f"mot-{tset}", step)])
    return t


@table("table12")
def no_shifted_rounds(res: Results, spec: dict) -> Table:
    return _per_round(res, spec, "no_shifted", "MoT without the distribution-shifted teacher, per round", 12)


@table("table13")
def peers_rounds(res: Results, spec: dict) -> Table:
    return _per_round(res, spec, "peers", "MoT with peer-level teachers, per round", 13)


@table("merge_methods")
def merge_methods(res: Results, spec: dict) -> Table:
    """Best-round AVG of report.mot's teacher set under each merge method (analyses.merge_methods)."""
    cols = [f"{sl} {c}" for sl in spec["students"].values() for c in bench_columns(spec)]
    t = Table("Merge methods: MoT with all teachers, merged each round by each method", ["Dataset", "Merge method"]
              + cols, keys=2, note="Each method's best round. The first row is the main run (mot.merge_method); "
              "the others are analyses.merge_methods, trained from the same round-1 branches. " + best_note(spec))
    for so, so_label in spec["sources"].items():
        for tset, method in spec["variants"].items():
            variant = tset.partition("@")[2]
            row = [so_label, f"{method} ({variant})" if variant else f"{method} (mot.merge_method)"]
            for st in spec["students"]:
                row += res.best_scored(st, so, f"mot-{tset}")
            t.rows.append(row)
    return t


AS_LABELS = {"base": "Base", "best-std": "Best STD", "mot": "MOT"}  # layout.AS_CONFIGS


@table("table9")
def student_as_teacher(res: Results, spec: dict) -> Table:
    """Paper Table 9: for each pair of analyses.student_teacher (one, or a list), the base, best STD
    and MoT final checkpoints of one student as teachers of another, on one source; the new
    student's STD run at its best checkpoint. Rows pair after pair, as the paper's two."""
    pairs = spec["student_teacher"] if isinstance(spec["student_teacher"], list) else [spec["student_teacher"]]
    names = {v: k for k, v in layout.as_teachers(pairs).items()}  # (teacher, config) -> Table-9 teacher
    sources = list(dict.fromkeys(spec["sources"][p["source"]] for p in pairs))
    dataset = len(sources) > 1  # pairs on several sources (the paper's two are on BOBA-200): a column says which
    rows, keys, teachers = [], [], []
    for p in pairs:
        teacher, student, source = p["teacher"], p["student"], p["source"]
        best = spec["teachers"][best_std(res, spec, teacher, source)[0]]["label"]
        teachers.append(f"the final checkpoints of {spec['students'][teacher]} trained on {spec['sources'][source]} "
                        f"with no training (Base), the best STD teacher ({best}, by best-checkpoint AVG) and MoT "
                        "(last round)")
        for config_ in layout.AS_CONFIGS:
            label = AS_LABELS[config_]
            shown = f"{label} ({best})" if config_ == "best-std" else label
            rows.append([spec["sources"][source]] * dataset + [spec["students"][teacher], spec["students"][student], shown,
                         *res.best_scored(student, source, layout.sft_run(names[(teacher, config_)]))])
            keys.append(f"{spec['students'][teacher]}|{spec['students'][student]}|{label}")  # the paper's cells
    head = ["Dataset"] * dataset + ["Teacher model", "Student model", "Teacher config"]
    return Table(f"Table 9: Student-as-teacher distillation on {' and '.join(sources)}", head + bench_columns(spec),
                 rows, keys=len(head), published_keys=keys,
                 note=f"Teachers: {'; '.join(teachers)}; each samples the source's prompts, its verified corpus "
                      "trains the student by STD. The student at its best checkpoint. " + best_note(spec))


@table("differences")
def differences(res: Results, spec: dict) -> Table:
    t = Table("Paired differences: best STD against the base; MoT against best STD, MTD and MoT without the "
              "shifted teacher",
              ["Base model", "Dataset", "Comparison", "AVG difference", "95% low", "95% high"], keys=3,
              note="AVG(first) minus AVG(second), each run at its best checkpoint / round, with a 95% interval "
                   f"from a paired bootstrap over problems ({N_BOOT} resamples; the same problems for both). "
                   "An interval that contains 0 does not tell the two apart. " + best_note(spec))
    mot = f"mot-{spec['roles']['mot']}"
    for st, st_label in spec["students"].items():
        for so, so_label in spec["sources"].items():
            teacher, _ = best_std(res, spec, st, so)
            others = [(f"MOT - best STD ({spec['teachers'][teacher]['label']})", f"sft-{teacher}"),
                      ("MOT - MTD", "sft-mtd")]
            if spec["roles"].get("no_shifted"):
                others.append(("MOT - MOT without the shifted teacher", f"mot-{spec['roles']['no_shifted']}"))
            std = f"sft-{teacher}"
            t.rows.append([st_label, so_label, f"best STD ({spec['teachers'][teacher]['label']}) - base",
                           *paired_difference(res.problems(st, so, std, res.best(st, so, std)[0]),
                                              res.problems(st, None, "base", 0), (st, so, "base"),
                                              (f"{st}/{so}/{std}", f"{st}/base"))])
            a = res.problems(st, so, mot, res.best(st, so, mot)[0])
            for label, run in others:
                b = res.problems(st, so, run, res.best(st, so, run)[0])
                t.rows.append([st_label, so_label, label, *paired_difference(a, b, (st, so, run),
                                                                            (f"{st}/{so}/{mot}", f"{st}/{so}/{run}"))])
    return t


@table("decomposition")
def decomposition(res: Results, spec: dict) -> Table:
    """How often each checkpoint answers without reasoning, and how well it does when it reasons
    (mot.thinking): what a change in pass@1 is made of."""
    t = Table("Thinking decomposition: direct answers and accuracy when reasoning, every checkpoint and round",
              ["Base model", "Dataset", "Method", "Checkpoint", "AVG", "Direct answers %", "P(direct) %",
               "Accuracy when reasoning", "Reasoning samples"], keys=4,
              note="Over a dataset's test problems together. Direct answers: samples with an empty thinking block "
                   "(or none). P(direct): the probability the model opens its answer with the empty block "
                   "<think>\\n\\n</think>, teacher-forced after the prompt, averaged over problems (± its SE over "
                   "problems, as for direct answers). Accuracy when reasoning: pass@1 x 100 of the samples that "
                   "reason, ± its binomial SE over those samples. AVG: pass@1 x 100 averaged over the benchmarks. "
                   "MoT round t = step t x steps_per_round.")

    def row(st_label, so_label, method, where, st, so, run, step):
        d = res.decomposed(st, so, run, step)
        acc = d["reasoning_accuracy"]
        t.rows.append([st_label, so_label, method, where, res.scored(st, so, run, step)[-1],
                       Score(100 * d["direct_share"], 100 * d["direct_share_se"]),
                       Score(100 * d["p_direct"], 100 * d["p_direct_se"]) if d["p_direct"] is not None else None,
                       Score(100 * acc, 100 * d["reasoning_accuracy_se"]) if acc is not None else None,
                       d["reasoning"]])

    for st, st_label in spec["students"].items():
        row(st_label, "-", "Base model", "-", st, None, "base", 0)
        for so, so_label in spec["sources"].items():
            runs = [(f"STD ({v['label']})", f"sft-{k}") for k, v in spec["teachers"].items()]
            runs += [("MTD (ALL TEACHERS)", "sft-mtd")]
            for label, run in runs:
                for step in sorted(res.steps(st, so, run)):
                    row(st_label, so_label, label, f"STEP {step}", st, so, run, step)
            for tset in spec["sets"]:
                label = "MOT (ours)" if tset == spec["roles"]["mot"] else f"MOT ({_set_label(spec, tset)})"
                for step in sorted(res.steps(st, so, f"mot-{tset}")):
                    row(st_label, so_label, label, f"Round {step // spec['steps_per_round']}", st, so,
                        f"mot-{tset}", step)
    return t


def corpus_table(stats_files: list[str], spec: dict) -> Table:
    """Table 10 from the corpus_stats CSVs (sizes = prompts with a kept correct sample)."""
    t = Table("Table 10: STD and MTD distillation datasets",
              ["Source", "Teacher", "Distillation dataset name", "Size", "Teacher pass rate (%)", "Mean tokens",
               "Lost: no correct sample", "Lost: too long"], keys=2,
              note="Size: prompts with at least one correct teacher sample that fits train.max_length (one kept "
                   "per prompt); the MTD dataset is their union. Pass rate over all samples (a sample cut at "
                   "max_tokens is never correct); tokens of the kept traces, counted with the student's "
                   "tokenizer. Lost: prompts without a correct sample, and prompts whose correct samples are "
                   "all longer than train.max_length (truncation: drop).")
    from .corpus import read_stats

    for path in stats_files:
        for r in read_stats(path):
            if r["source"] not in spec["sources"]:
                raise MotError(f"{r.where}: source {r['source']!r} is not one of the spec's")
            so_label = spec["sources"][r["source"]]
            mtd = r["teacher"] not in spec["teachers"]
            label = "ALL TEACHERS" if mtd else spec["teachers"][r["teacher"]]["label"]
            short = "MTD" if mtd else label
            rate = r.num("pass_rate", empty=True)
            t.rows.append([so_label, label, f"{so_label}-{short}", r.num("kept", int),
                           100 * rate if rate is not None else None, r.num("mean_tokens"),
                           *(r.num(k, int, empty=True) for k in ("lost_no_correct", "lost_too_long"))])
    return t


GENERAL_CONFIGS = (("base", "Base"), ("best-std", "Best STD"), ("mot", "MOT"))
GENERAL_NOTE = ("Scores x 100 ± lm-evaluation-harness's standard error over problems, of the final models: the base, "
                "the STD run with the best AVG (Best STD, chosen as Table 5 chooses it) and MoT's last round. ")


def load_general(files: list[str]) -> dict:
    """{(student, source, model): {column: Score}} from `mot general` summaries (the base's under
    source None)."""
    out = {}
    for path in files:
        d = read_json(path, "general-benchmark summary", GENERAL_SUMMARY)
        key = (d["student"], d.get("source"), d["model"])
        if key in out:  # the tables would show whichever came last
            raise MotError(f"{path}: a second general-benchmark summary of model '{key[2]}' (student '{key[0]}', "
                           f"source '{key[1]}'); the first is {files[list(out).index(key)]}")
        out[key] = {col: Score(100 * r["score"], 100 * (r["se"] or 0.0)) for col, r in d["tasks"].items()}
    return out


def _general_table(files: list[str], spec: dict, groups: tuple[str, ...], title: str) -> Table:
    """Raw scores per group and each group's mean change against the base ("Avg drop" for the
    forgetting-sensitive tasks, "Avg gain" for the others), as the paper defines them."""
    scores = load_general(files)
    cols = {g: [c for c, t in spec["general"].items() if t["group"] == g] for g in groups}
    avg_name = {"forgetting": "Avg drop", "reasoning": "Avg gain", "pure": "Avg gain"}
    header = ["Dataset", "Student", "Config"]
    for g in groups:
        if cols[g]:
            header += cols[g] + [avg_name[g] + (f" ({g})" if len(groups) > 1 else "")]
    t = Table(title, header, keys=3, note=GENERAL_NOTE + "Avg drop / Avg gain: the mean over the group's "
              "tasks of (score - the base's score), negative for a drop; '-' for the base itself.", se_note="")
    for so, so_label in spec["sources"].items():
        for st, st_label in spec["students"].items():
            base = scores.get((st, None, "base"))
            for model, label in GENERAL_CONFIGS:
                got = scores.get((st, None if model == "base" else so, model))
                if got is None or base is None:
                    raise MotError(f"general: no summary for {st} {'' if model == 'base' else so + ' '}{model}")
                row = [so_label, st_label, label]
                for g in groups:
                    if not cols[g]:
                        continue
                    row += [got[c] for c in cols[g]]
                    row.append("-" if model == "base" else
                               gain(sum(got[c].value - base[c].value for c in cols[g]) / len(cols[g])))
                t.rows.append(row)
    return t


def general_table(name: str, files: list[str], spec: dict) -> Table:
    if name == "table3":
        return _general_table(files, spec, ("forgetting", "reasoning"),
                              "Table 3: General benchmarks: catastrophic-forgetting-sensitive and reasoning-related tasks")
    return _general_table(files, spec, ("pure",), "Table 4: General benchmarks: pure reasoning tasks")


def make_table(name: str, spec: dict, evals: list[str], stats: list[str], out: str,
               general: list[str] | None = None) -> Table:
    check_inputs(name, "tables", evals=evals, stats=stats, general=general)
    spec = in_order(spec)
    if name == "table10":
        t = corpus_table(stats, spec)
    elif name in ("table3", "table4"):
        t = general_table(name, general or [], spec)
    elif name in TABLES:
        role = OUTPUTS[name].needs
        if role and not spec["roles"].get(role):
            raise MotError(f"{name} needs report.{role} (a teacher set name) in the config")
        t = TABLES[name](results(evals, spec), spec)
    else:
        raise MotError(f"unknown table '{name}' (known: {', '.join(sorted([*TABLES, 'table3', 'table4', 'table10']))})")
    t.add_published(load_published(spec.get("published"), name))
    t.protocol = protocol_note(spec)
    t.write(out)
    return t
