"""mot.grid is the one derivation of the grid: the jobs Snakemake plans for all_analyses are its unit
jobs (and mot.catalog's tables and figures), on every shipped config (config.yaml and test.yaml run
MoT one job per set, paper.yaml one job per branch and merge); mot plan costs the same units."""
from collections import Counter

import pytest
import yaml

from conftest import ROOT, snakemake
from mot import catalog
from mot.config import validate_config
from mot.grid import Grid
from mot.plan import costed_jobs
from helpers import planned

# Snakemake's rules -> the grid's stages. The rest are bookkeeping that neither mot plan nor the grid
# counts (the world, prompts, corpora and their statistics, joins of shards, the best-STD copy, the
# diagnostics, the provenance page, the general tasks' files, the aggregate targets).
TABLE_RULES = {"table", "table10", "figure", "corpus_figure", "general_table", "summary"}
BOOKKEEPING = {"world", "world_student", "prompts", "corpus", "mtd_corpus", "corpus_stats", "join_samples",
               "best_std_model", "diagnostics_set", "provenance", "general_tasks", "all_tables", "all_analyses",
               "rehearsal_model"}


def from_snakemake(jobs) -> Counter:
    out = Counter()
    for rule, wildcards in jobs:
        w = dict(kv.split("=", 1) for kv in wildcards.split(", ")) if wildcards else {}
        if rule in BOOKKEEPING:
            continue
        if rule in TABLE_RULES:
            key = ("tables",)
        elif rule in ("generate", "generate_shard"):
            key = ("generate", w["source"], w["teacher"], int(w["shard"]) if "shard" in w else None)
        elif rule == "sft":
            key = ("train_mtd", w["student"], w["source"]) if w["corpus"] == "mtd" else \
                ("train_std", w["student"], w["source"], w["corpus"])
        elif rule == "mot_first_branch":
            key = ("train_mot", w["student"], w["source"], None, 1, w["teacher"])
        elif rule == "mot_branch":
            key = ("train_mot", w["student"], w["source"], w["tset"], int(w["round"]), w["teacher"])
        elif rule == "mot_merge":
            key = ("merge", w["student"], w["source"], w["tset"], int(w["round"]))
        elif rule == "mot_first_round":  # one job per set: a job, named like the grid's per_set job keys
            key = ("job", "first", w["student"], w["source"])
        elif rule == "mot_rounds":
            key = ("job", "rounds", w["student"], w["source"], w["tset"])
        elif rule in ("eval_base", "eval_run"):
            key = ("eval", w["student"], w.get("source"), w.get("run", "base"))
        elif rule == "probe_point":
            key = ("probe", w["student"], w["source"], "probe-" + w["probed"], int(w["pct"]))
        elif rule in ("general_base", "general_run"):
            key = ("general", w["student"], w.get("source"), w.get("model", "base"))
        else:
            raise AssertionError(f"rule {rule}: not mapped to a stage of the grid (add it here or to BOOKKEEPING)")
        out[key] += 1
    return out


def from_grid(config) -> Counter:
    out = Counter()
    for u in Grid(config).units():
        s = u["stage"]
        if u["job"] is not None:  # one job per set: its units, counted as the jobs that run them
            key = ("job", *u["job"])
            if key in out:
                continue
        elif s == "generate":
            key = (s, u["source"], u["teacher"], u["shard"] if u["shards"] > 1 else None)
        elif s == "train_std":
            key = (s, u["student"], u["source"], u["teacher"])
        elif s == "train_mtd":
            key = (s, u["student"], u["source"])
        elif s == "train_mot":
            key = (s, u["student"], u["source"], u["tset"], u["round"], u["teacher"])
        elif s == "merge":
            key = (s, u["student"], u["source"], u["tset"], u["round"])
        elif s == "probe":
            key = (s, u["student"], u["source"], u["run"], u["pct"])
        else:  # eval, general
            key = (s, u["student"], u["source"], u["run"])
        out[key] += 1
    out[("tables",)] = len([o for o in catalog.present(config) if o.name != "diagnostics"])
    return out


@pytest.mark.parametrize("name", ["config.yaml", "test.yaml", "paper.yaml"])
def test_snakemake_plans_the_grids_units_and_mot_plan_costs_them(name, workdir):
    config = yaml.safe_load((ROOT / "config" / name).read_text())
    validate_config(config, str(ROOT / "config/schema.yaml"), name)
    r = snakemake(workdir, "all_analyses", "--configfile", f"config/{name}", "-n")
    assert r.returncode == 0, r.stderr[-3000:]
    dag, grid = from_snakemake(planned(r)), from_grid(config)
    assert dag == grid, (f"planned, not in the grid: {sorted(dag - grid)[:5]}; "
                         f"in the grid, not planned: {sorted(grid - dag)[:5]}")
    # mot plan: one costed job per unit (and per table), in the same stages
    costed = Counter(j["stage"] for j in costed_jobs(config))
    units = Counter(u["stage"] for u in Grid(config).units())
    assert costed == units + Counter({"tables": grid[("tables",)]})


def test_a_mapping_miss_is_caught():
    """The comparison fails on a job the grid does not know (so the test above can fail)."""
    with pytest.raises(AssertionError, match="rule mystery: not mapped"):
        from_snakemake({("mystery", "")})
    assert from_snakemake({("eval_run", "student=s, source=a, run=sft-x")}) != Counter()
