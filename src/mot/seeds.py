"""The default grid over several world seeds: does the conclusion hold beyond one run per cell?

    snakemake --cores all seeds          # analyses.seeds: [0, 1, 2]; writes results/tables/seeds.*

The paper reports one run per cell. Seed s sets the config's `seed` (corpus selection, training
data order), `world.seed` (the world's problems and held-out sets) and every synthetic student's
`pretrain.seed` to s, so each seed has its own world, its own base (pre-trained by rule
world_student, about 18 minutes on 2 cores), its own corpora and runs; everything else is the
config's. A seed whose values are already the config's own is the main job itself: its eval
summaries are read from results/ rather than run again. Every other seed runs in
results/seeds/seed-<s>/ as a Snakemake run of its own (`mot seeds run`: the same Snakefile, that
directory, the seed's config written beside it), up to the eval summaries that the `differences`
table reads (the base, every STD run, MTD, MoT and MoT without the shifted teacher).

`mot seeds table` writes each method's AVG at its best checkpoint per seed with the mean and
standard deviation across seeds, and per seed the paired differences MoT - best STD and MoT - MTD
with their 95% intervals (mot.tables.paired_difference), and how many seeds put each difference
above 0, below 0, or could not tell the two apart.
"""
from __future__ import annotations

import copy
import json
import math
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from . import layout as L
from .io import MotError, atomic_path
from .render import Table, best_note
from .results import best_std, in_order, paired_difference, results
from .summary import verdict
from .tables import method_rows

def seed_values(cfg: dict) -> dict:
    """The seeds that a world seed sets, as the config has them."""
    return {"seed": cfg["seed"], **({"world.seed": cfg["world"]["seed"]} if "world" in cfg else {}),
            **{f"students.{k}.pretrain.seed": st["pretrain"]["seed"]
               for k, st in cfg["students"].items() if st.get("init") == "synthetic"}}


def is_own(cfg: dict, seed: int) -> bool:
    """Is seed `seed` the config's own run (every seed it sets already has that value)?"""
    return all(v == seed for v in seed_values(cfg).values())


def run_config(cfg: dict) -> dict:
    """What of the config a seed's run uses (the seed_run rule's --config). Its run ends at the eval
    summaries, so it has none of what only the report, the analyses, the general benchmarks, live
    tracking or a cluster's resources read: a seed added to analyses.seeds, a label, a tracker or a
    published number changed must not rerun the seeds' runs, whose outputs Snakemake removes first."""
    out = copy.deepcopy(cfg)
    for key in ("analyses", "general", "resources"):
        out.pop(key, None)
    out["report"]["readme"] = out["report"]["published"] = None
    out["train"]["log_with"] = []
    for kind in ("students", "sources", "teachers"):
        for entry in out.get(kind, {}).values():
            entry.pop("label", None)
    return out


def seed_config(cfg: dict, seed: int) -> dict:
    """The config of one seed's run: the seeds set to `seed`, no analyses, no README to write."""
    out = run_config(cfg)
    out["seed"] = seed
    if "world" in out:  # a config without the synthetic world (the paper's): the corpus and training seed only
        out["world"]["seed"] = seed
    for st in out["students"].values():
        if st.get("init") == "synthetic":
            st["pretrain"]["seed"] = seed
    return out


def link_data(data: str, directory: Path) -> None:
    """The seed's directory sees the checkout's data (shipped datasets and bases) through links,
    while a base it pre-trains itself lands in its own data/bases/, not in the checkout."""
    src = Path(data).resolve()
    bases = directory / L.BASES
    bases.mkdir(parents=True, exist_ok=True)
    for entry in [*src.iterdir(), *((src / "bases").iterdir() if (src / "bases").is_dir() else [])]:
        rel = entry.relative_to(src)
        if rel == Path("bases"):
            continue
        link = directory / "data" / rel
        if not link.is_symlink() and not link.exists():
            link.symlink_to(entry)


SEED_CONFIG_HEAD = "# written by mot seeds run: this seed's config (a rerun replaces it)\n"


def run_seed(seed: int, cfg: dict, directory: str, snakefile: str, cores: int, targets: list[str],
             data: str = "data") -> None:
    """One seed's grid: its config in <directory>/config.yaml, then Snakemake in that directory."""
    import yaml

    if is_own(cfg, seed):
        raise MotError(f"seed {seed} is the config's own run: its results are the main job's (results/)")
    d = Path(directory)
    mine = d / "config.yaml"
    if mine.exists() and not mine.read_bytes().startswith(SEED_CONFIG_HEAD.encode()):
        raise MotError(f"{mine}: a config that mot did not write (a seed's begins '{SEED_CONFIG_HEAD.strip()}'); "
                       "give --dir a directory of its own, or move it away")
    if mine.exists():  # another seed's directory: its run would be overwritten with this seed's
        try:
            other = (yaml.safe_load(mine.read_text(encoding="utf-8")) or {}).get("seed")
        except (yaml.YAMLError, UnicodeDecodeError, AttributeError):
            other = None
        if other != seed:
            raise MotError(f"--dir {directory}: the directory of seed {other}'s run ({mine}), not seed {seed}'s: "
                           "give each seed a directory of its own")
    # what the run needs, before anything is written in its directory
    if not Path(data).is_dir():
        raise MotError(f"--data {data}: not a directory (the checkout's data/, which the seed's run links)")
    if not Path(snakefile).is_file():
        raise MotError(f"--snakefile {snakefile}: no such file")
    from .io import STALE

    mine_tmp = lambda f: STALE.fullmatch(f.name.removeprefix(".config.yaml."))  # noqa: E731  (a killed run's)
    # files (or links) of the user's, anywhere in it: Snakemake would write over them; directories
    # alone are what Snakemake made for the seed's outputs before starting this job
    if not mine.exists() and d.is_dir() and any((f.is_file() or f.is_symlink()) and not mine_tmp(f)
                                                for f in d.rglob("*")):
        raise MotError(f"--dir {directory}: holds files and no seed's config.yaml (a seed's directory has "
                       "one): give --dir a new or empty directory, or the directory of an earlier run of this seed")
    d.mkdir(parents=True, exist_ok=True)
    with atomic_path(mine) as tmp:  # first: it marks the directory as a seed's (the check above)
        tmp.write_text(SEED_CONFIG_HEAD + yaml.safe_dump(json.loads(json.dumps(seed_config(cfg, seed))), sort_keys=False),
                       encoding="utf-8")
    link_data(data, d)
    cmd = [sys.executable, "-m", "snakemake", "-s", str(Path(snakefile).resolve()), "--directory", str(d),
           "--configfile", str((d / "config.yaml").resolve()), "--cores", str(cores), "--rerun-incomplete",
           *targets]
    print(f"seed {seed}: {' '.join(cmd[1:])}", flush=True)
    # in a process group of its own, so that a stop reaches its jobs as well: Snakemake, signalled
    # alone, waits for its running jobs to end (minutes) before it unlocks the seed's directory
    proc = subprocess.Popen(cmd, stdout=sys.stdout, stderr=subprocess.STDOUT, env={**os.environ},
                            start_new_session=True)
    try:
        code = proc.wait()
    except BaseException:  # stopped (SIGTERM, Ctrl-C): its jobs end, and it unlocks the directory, as a
        os.killpg(proc.pid, signal.SIGTERM)  # killed Snakemake would not (a rerun would find it locked)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        raise
    if code:
        raise MotError(f"seed {seed}: the Snakemake run in {directory} failed (exit {code}; its log: "
                       f"{directory}/.snakemake/log/)")


def parse_evals(values: list[str]) -> dict[int, list[str]]:
    """SEED=PATH arguments -> {seed: [paths]}, seeds in the order given."""
    out: dict[int, list[str]] = {}
    for v in values:
        seed, sep, path = v.partition("=")
        if not sep or not re.fullmatch(r"[0-9]+", seed) or int(seed) >= 2 ** 32:  # ASCII digits: a seed
            raise MotError(f"--evals {v}: expected SEED=PATH, SEED a seed (0 to 2^32 - 1)")
        if path in out.get(int(seed), []):
            raise MotError(f"--evals {v}: given twice")
        out.setdefault(int(seed), []).append(path)
    return out


def _sd(xs: list[float]) -> float:
    m = sum(xs) / len(xs)
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0


def seeds_table(evals: dict[int, list[str]], spec: dict) -> Table:
    spec = in_order(spec)
    seeds = list(evals)
    res = {s: results(paths, spec) for s, paths in evals.items()}
    mot, ns = f"mot-{spec['roles']['mot']}", spec["roles"].get("no_shifted")
    methods = method_rows(spec)  # Table 2's rows and labels
    if ns:
        methods.append(("MOT without the shifted teacher", f"mot-{ns}"))
    t = Table("Over world seeds: each method's AVG, and MoT against the best STD run and MTD, seed by seed",
              ["Base model", "Dataset", "Row", *[f"seed {s}" for s in seeds], "mean", "SD", "verdicts"], keys=3,
              note=f"Seeds {', '.join(map(str, seeds))}: each sets the world, the base's pre-training, the corpus "
                   "selection and the training data order. Method rows: AVG pass@1 x 100 at the run's best "
                   "checkpoint; mean and standard deviation (n - 1) across seeds. Difference rows: AVG(MOT) minus "
                   "AVG(other) per seed with its 95% paired-bootstrap interval over problems (the best STD teacher "
                   "named per seed, as it may differ); verdicts count the seeds whose interval lies above 0, below "
                   "0, or contains 0. " + best_note(spec))
    for st, st_label in spec["students"].items():
        for so, so_label in spec["sources"].items():
            for label, run in methods:
                avgs = [res[s].base(st)[-1] if run == "base" else res[s].best(st, so, run)[1][-1] for s in seeds]
                t.rows.append([st_label, so_label, label, *avgs, sum(avgs) / len(avgs), _sd(avgs), ""])
            for label, other in (("MOT - best STD", None), ("MOT - MTD", "sft-mtd")):
                cells, ds, verdicts = [], [], []
                for s in seeds:
                    r = res[s]
                    run = other or f"sft-{best_std(r, spec, st, so)[0]}"
                    d, lo, hi = paired_difference(r.problems(st, so, mot, r.best(st, so, mot)[0]),
                                                  r.problems(st, so, run, r.best(st, so, run)[0]), (st, so, run, s),
                                                  (f"seed {s}: {st}/{so}/{mot}", f"seed {s}: {st}/{so}/{run}"))
                    who = "" if other else f" ({spec['teachers'][run[4:]]['label']})"
                    cells.append(f"{d:+.2f} [{lo:+.2f}, {hi:+.2f}]{who}")
                    ds.append(d)
                    verdicts.append(verdict(lo, hi))
                counts = ", ".join(f"{v} {verdicts.count(v)}" for v in ("higher", "lower", "not told apart"))
                t.rows.append([st_label, so_label, label, *cells, f"{sum(ds) / len(ds):+.2f}", f"{_sd(ds):.2f}",
                               counts])
    return t

