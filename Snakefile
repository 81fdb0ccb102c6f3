# Merge-of-Thought distillation: table of contents.
#   snakemake --cores all all_tables                            # embedded synthetic default (CPU)
#   snakemake --configfile config/paper.yaml --profile slurm all_tables   # the paper, on SLURM
# Stages live in rules/<stage>.smk; each rule calls one `python -m mot <stage>` entry point.

import os
import sys

SRC = os.path.join(workflow.basedir, "src")
sys.path.insert(0, SRC)  # the package runs from the checkout, with or without `pip install -e .`

from mot.workflow import job_environment

job_environment(SRC, sys.executable)


# The embedded default, unless --configfile names a complete config of its own (config/paper.yaml,
# config/test.yaml): configs replace each other rather than merge, so no default key leaks in.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


# `snakemake --report results/report.html`: every table and figure marked report(), by category,
# with this page (and the run's provenance) first.
report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/provenance.smk"
include: "rules/plan.smk"
include: "rules/world.smk"
include: "rules/prompts.smk"
include: "rules/generate.smk"
include: "rules/corpus.smk"
include: "rules/train.smk"
include: "rules/merge.smk"
include: "rules/evaluate.smk"
include: "rules/diagnostics.smk"
include: "rules/general.smk"
include: "rules/tables.smk"
include: "rules/figures.smk"
include: "rules/seeds.smk"


# The main job: every table and figure, with everything they are made from.
rule all_tables:
    default_target: True
    input:
        rules.corpora.input,
        rules.evals.input,
        report_targets(),
        rules.provenance.output,


# The main job and the analyses too long for it (analyses.*, general): Table 9, the merge-method
# table, Figure 5's probe, the per-round MoT diagnostics and Tables 3 and 4 (general benchmarks).
rule all_analyses:
    input:
        rules.all_tables.input,
        all_evals(analyses=True),
        evaluated_models(analyses=True),
        report_targets(analyses=True),
        rules.diagnostics.input,


rule all:
    input:
        rules.all_analyses.input,
        rules.models.input,
        rules.base_models.input,


# The paper's run rehearsed on CPU with tiny models of its architectures (config/rehearsal.yaml):
# their rule, and target `rehearsal` (all_analyses and the checks on its files).
include: "rules/rehearsal.smk"
