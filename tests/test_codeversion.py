"""A stage's code version is exactly the code its command runs (mot.codeversion; issue 33 item 6):
the definitions `python -m mot <command>` reaches, in any module, the command layer included. Each
test edits a copy of the package and compares every command's version before and after."""
import re
import shutil

import pytest

from mot import codeversion

from conftest import ROOT

COMMANDS = re.findall(r'add\("([a-z-]+)"', (ROOT / "src/mot/cli.py").read_text())
ENTRIES = [*COMMANDS, "mot.multinode"]


@pytest.fixture
def src(tmp_path):
    shutil.copytree(ROOT / "src" / "mot", tmp_path / "mot", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def versions(src):
    codeversion._index.cache_clear()
    codeversion.definitions.cache_clear()
    codeversion._sources_key.cache_clear()
    return {e: codeversion.version(str(src), e) for e in ENTRIES}


def edit(src, module, old, new):
    path = src / "mot" / module
    text = path.read_text()
    assert old in text, (module, old)
    path.write_text(text.replace(old, new, 1))


def changed_entries(src, entries, module, old, new):
    """Which of `entries` (commands, `evaluate[hf]`-style selections) an edit changes the version of."""
    before = {e: codeversion.version(str(src), e) for e in entries}
    edit(src, module, old, new)
    for f in (codeversion._index, codeversion.definitions, codeversion._sources_key):
        f.cache_clear()
    return {e for e in entries if codeversion.version(str(src), e) != before[e]}


def changed(src, module, old, new):
    before = versions(src)
    edit(src, module, old, new)
    after = versions(src)
    return {e for e in ENTRIES if before[e] != after[e]}


def test_every_command_has_a_version():
    assert {"corpus", "train", "generate", "evaluate", "merge", "tables", "world-student"} <= set(COMMANDS)
    assert len(set(versions(ROOT / "src").values())) == len(ENTRIES)


def test_the_command_layer_counts_for_its_own_command_only(src):
    """The corpus command's length rule (commands.py) and its --seed default (cli.py) were in no
    stage's version: they rerun corpora, and nothing else."""
    assert changed(src, "commands.py", "rule = LengthRule(a.tokenizer, a.max_length, a.truncation) if a.tokenizer",
                   "rule = LengthRule(a.tokenizer, a.max_length + 0, a.truncation) if a.tokenizer") == {"corpus"}
    assert changed(src, "cli.py", 'sp.add_argument("--truncation", default="drop", choices=("drop", "truncate"), '
                   'help="train.truncation")', 'sp.add_argument("--truncation", default="truncate", choices=("drop", '
                   '"truncate"), help="train.truncation")') == {"corpus"}


def test_what_every_command_shares_counts_for_every_command(src):
    """Issue 33, third probe, cases 12-14: the parser's own options (before the first command), what it
    does after the last (which arguments are inputs) and `python -m mot`'s entry were in no command's
    version, or in the last command's (check-config) only."""
    every = set(COMMANDS)
    assert changed(src, "cli.py", 'p.add_argument("--threads", type=_positive(int),', 'p.add_argument("--threads", type=_positive(int), '
                   'default=4,') == every
    assert changed(src, "cli.py", "and a.nargs != 0 and a.choices is None", "and a.nargs != 0 and a.choices is None "
                   "and a.dest != 'tokenizer'") == every
    assert changed(src, "__main__.py", "sys.exit(main())", 'sys.exit(main(["--threads", "1", *sys.argv[1:]]))') \
        >= every
    # the code every Python process that mot starts runs first (vLLM's workers, accelerate's, lm-eval's)
    assert changed(src, "startup/sitecustomize.py", "sys.modules.setdefault(_name, None)",
                   "sys.modules[_name] = None") >= every
    # a helper of the parser counts for the commands whose blocks call it
    assert changed(src, "cli.py", 'metavar="TEACHER=PATH"', 'metavar="T=PATH"') == {"branches", "rounds"}
    # a command's own block is still its own
    assert changed(src, "cli.py", 'sp.add_argument("--schema", help=', 'sp.add_argument("--schema", default=None, '
                   'help=') == {"check-config"}


def test_a_local_variable_named_like_a_module_is_no_module(src):
    """Issue 33, third probe, case 13: `world.get(...)` on a local `world` was hashed as the name `get`
    (as `module.attr` is), so swapping it for `config.get(...)` changed no version, and mot plan's
    figures changed without a rerun (here a local `general`, as mot.general is named)."""
    assert "plan" in changed(src, "plan.py", 'general.get("gen_kwargs")', 'config.get("gen_kwargs")')


def test_a_comment_a_docstring_or_a_helper_nothing_calls_reruns_nothing(src):
    assert changed(src, "grading.py", '"""The one grader', '"""The one grader (reworded)') == set()
    assert changed(src, "grading.py", "\ndef is_correct(", "\n# a comment\ndef is_correct(") == set()
    assert changed(src, "grading.py", "\ndef is_correct(", "\ndef unused_helper():\n    return 1\n\n\ndef is_correct(") == set()


def test_a_grading_change_reruns_what_grades(src):
    """is_correct: corpora and evaluation, and what reaches them; not sampling, training (which reruns
    only because a corpus is a new file), or the base's build (issue 33, fifth probe, case 14: its sanity check graded with the grader, so a grader edit
    rebuilt the base and reran every stage after it, training included)."""
    got = changed(src, "grading.py", "def is_correct(response: str, reference: str,",
                  "def is_correct(response: str, reference: str, _edited=None,")
    assert {"corpus", "evaluate"} <= got and not {"generate", "train", "merge", "prompts", "world-student"} & got, got
    got = changed(src, "grading.py", "def _normalize(ans: str) -> str:", "def _normalize(ans: str, _e=0) -> str:")
    assert {"corpus", "evaluate"} <= got and not {"world-student", "train", "branches", "rounds"} & got, got


def test_a_registry_entry_reruns_the_commands_that_dispatch_through_it(src):
    """A teacher backend filed by @register in engines.py: sampling and evaluation, which look it up."""
    got = changed(src, "engines.py", 'class OpenAITeacher:\n', 'class OpenAITeacher:\n    EDITED = 1\n')
    assert {"generate", "evaluate"} <= got and not {"train", "merge", "tables", "corpus"} & got, got


def test_a_backends_edit_reruns_the_jobs_that_run_that_backend_and_no_other(src):
    """Issue 33, probe 17, case 27: an edit of the OpenAI backend reran every evaluation (which runs hf
    or vLLM) and every synthetic teacher's sampling. A job names its backend (`evaluate[hf]`, as its
    rule's code param): of the backends' registry, only that entry counts, and the import-time code
    of the modules that file the others, which its process still runs."""
    entries = ["evaluate[hf]", "evaluate[vllm]", "generate[synthetic]", "generate[openai]", "generate"]

    def edited(module, old, new):
        return changed_entries(src, entries, module, old, new)

    assert edited("engines.py", "class OpenAITeacher:\n", "class OpenAITeacher:\n    EDITED = 1\n") == {
        "generate[openai]", "generate"}
    assert edited("generate.py", "class HFTeacher:\n", "class HFTeacher:\n    EDITED = 1\n") == {
        "evaluate[hf]", "generate"}
    assert edited("engines.py", "atexit.register(_IDLE.clear)", "atexit.register(_IDLE.clear)\natexit.register(id)") \
        == set(entries)  # import-time code: engines is imported by every one of them
    assert edited("generate.py", "class SyntheticTeacher:\n", "class SyntheticTeacher:\n    EDITED = 1\n") == {
        "generate[synthetic]", "generate"}


def test_a_backends_scoring_and_a_teachers_habit_rerun_only_what_runs_them(src):
    """Issue 33, probe 19, cases 16 and 17: an edit of vLLM's scoring of P(direct) changed the version
    of every hf evaluation (mot.thinking chose the scorer by an if on the backend's name); an edit of
    one synthetic teacher's habit (a quirk) changed the base student's pretraining (world-student: a
    new base, 18 minutes, and everything after it), which calls the teachers' trace with no habit."""
    entries = ["evaluate[hf]", "evaluate[vllm]", "generate[synthetic]", "world-student", "corpus"]

    def edited(module, old, new):
        return changed_entries(src, entries, module, old, new)

    assert edited("thinking.py", "SamplingParams(max_tokens=1,", "SamplingParams(max_tokens=2,") == {"evaluate[vllm]"}
    assert edited("thinking.py", "keep = max(ends) + 1", "keep = max(ends) + 2") == {"evaluate[hf]"}
    assert edited("world.py", "c % 2 == 0", "c % 3 == 0") == {"generate[synthetic]"}
    assert edited("world.py", "lines.append(rng.choice(RAMBLES))", "lines.append(rng.choice(RAMBLES[:1]))") == {
        "generate[synthetic]", "world-student"}  # what pretraining's traces do run


def test_a_merge_methods_edit_reruns_only_the_jobs_that_merge_by_it(src):
    """Issue 33, probe 19, case 15: an edit of TIES (or DARE) changed the version of every MoT run, whose
    rounds merge by uniform averaging: a job names its merge method as it names its backend
    (`rounds[uniform]`, `merge[uniform]`), and only that method of the registry counts."""
    entries = ["rounds[uniform]", "merge[uniform]", "merge[ties]", "rounds[ties]", "merge", "merge[interpolate]"]

    def edited(module, old, new):
        return changed_entries(src, entries, module, old, new)

    assert edited("methods.py", "def _trim(", "def _trim(_edited=None, *, ") == {"merge[ties]", "rounds[ties]", "merge"}
    assert edited("methods.py", '@method("uniform")\n', '@method("uniform")\n# edited\n') == set()  # a comment
    got = edited("methods.py", "def uniform(", "def _edited_uniform(")
    assert got == {"rounds[uniform]", "merge[uniform]", "merge"}, got


def test_the_multinode_launcher_counts_for_what_it_runs(src):
    """mot.multinode starts a teacher's Ray cluster (mot generate) and runs accelerate over nodes (the
    training rules' `python3 -m mot.multinode accelerate`)."""
    got = changed(src, "multinode.py", "def teacher_cluster(spec: dict):", "def teacher_cluster(spec: dict, _edited=1):")
    assert "generate" in got and "mot.multinode" not in got and "train" not in got, got
    got = changed(src, "multinode.py", "def accelerate(", "def accelerate(_edited=None, *, ")
    assert "mot.multinode" in got and "train" not in got, got  # generate reaches the module's __main__ too


def test_a_definition_moved_to_another_module_reruns_nothing(src):
    """clean() moved from answers.py to a new module, its importers updated: the same code runs."""
    before = versions(src)
    answers = (src / "mot" / "answers.py").read_text()
    start = answers.index("def clean(")
    end = answers.index("\ndef ", start + 1) if "\ndef " in answers[start + 1:] else len(answers)
    body = answers[start:end]
    (src / "mot" / "answers.py").write_text(answers[:start] + answers[end:] + "\nfrom .cleaning import clean  # noqa\n")
    (src / "mot" / "cleaning.py").write_text("import re\n\nfrom .answers import *  # noqa\n\n\n" + body)
    after = versions(src)
    assert {e for e in ENTRIES if before[e] != after[e]} == set()


def test_the_rules_name_the_command_their_job_runs():
    """Each rule's `code` param names the mot command its shell runs (the rules' one declaration)."""
    for path in sorted((ROOT / "rules").glob("*.smk")):
        for block in re.split(r"\n(?=[ ]*(?:use )?rule )", path.read_text()):
            codes = re.findall(r"code=(?:lambda w: )?code\((.*)$", block, re.M)
            runs = re.findall(r"-m mot --log \{log\}(?: --threads \{[^}]+\})? ([a-z-]+)", block) \
                + re.findall(r"\{params\.launch\} --log \{log\} --threads \{threads\} ([a-z-]+)", block)
            for code in codes:
                named = set(re.findall(r'"([a-z-]+)[\["]', code))  # "generate[<its backend>]": that command
                assert not runs or set(runs) <= named, (path.name, block.split("\n")[0], named, runs)


def test_the_rehearsals_models_are_the_rehearsal_commands_code_only(src):
    """Issue 33, fourth probe, case 26: every command's check of its outputs lists the rehearsal's data
    files for `mot rehearsal`, which reached the tiny models' configs, so an edit of one reran every
    stage; and `A, B = ...` was import-time code of every command that imports its module."""
    assert changed(src, "rehearsal.py", "hidden_size=256, initializer_range", "hidden_size=512, initializer_range") \
        == {"rehearsal"}
    assert changed(src, "rehearsal.py", 'QWEN3, QWQ, R1 = "Qwen-Qwen3-0.6B.jinja"', 'QWEN3, QWQ, R1 = "Qwen-Qwen3-8B.jinja"') \
        == {"rehearsal"}


def test_an_import_split_or_moved_into_a_function_changes_no_version(src):
    """Moving a definition to another module updates its importers' import statements: one import
    split in two, or written inside the function, is no change of the code that runs."""
    assert changed(src, "cli.py", "    from .readers import records\n",
                   "    from .readers import records\n    from .io import MotError\n") == set()


def test_a_merge_methods_code_is_no_part_of_round_one(src):
    """Issue 33, fifth probe, case 15: `mot branches` (round 1, which merges nothing) checked the merge
    method, so an edit of any method (TIES' trim, unused by the config) reran every round 1."""
    got = changed(src, "methods.py", "def _trim(", "def _trim(_edited=None, *, ")
    assert {"merge", "rounds"} <= got and "branches" not in got and "train" not in got, got


def test_a_parameter_or_local_named_like_a_global_reads_no_global():
    """Issue 33, fifth probe, case 15, how it came about: `def schedule(round_, steps, rounds, kind)`
    read its parameter `rounds`, which was taken for the module's function `rounds` (and through it
    every merge method). Python's scopes decide: a parameter, a local assignment or a comprehension
    target is no global; a name that only a nested function binds still is."""
    import ast

    def free(src):
        tree = ast.parse(src)
        ids = codeversion._free_loads(tree.body[0])
        return sorted({n.id for n in ast.walk(tree.body[0]) if isinstance(n, ast.Name) and id(n) in ids})

    assert free("def f(rounds):\n    return rounds + g(rounds)") == ["g"]
    assert free("def f():\n    rounds = 1\n    return rounds") == []
    assert free("def f():\n    y = rounds\n    def h():\n        rounds = 2\n    return y") == ["rounds"]
    assert free("def f(xs):\n    return [rounds for rounds in xs] + [rounds]") == ["rounds"]
    assert free("def f():\n    global rounds\n    rounds = 1\n    return rounds") == ["rounds"]
    assert free("def f(a=rounds):\n    return a") == ["rounds"]


def test_a_renaming_import_is_part_of_what_the_name_means(src):
    """Issue 33, eighth probe, case 29: `from .chat import THINK_CLOSE as THINK_OPEN, THINK_OPEN as
    THINK_CLOSE` swaps what every use means while each statement's text and the reached set stay the
    same: it reruns what the engines run, as an edit of those uses would."""
    assert "generate" in changed(src, "engines.py", "from .chat import THINK_CLOSE, THINK_OPEN, chat_prompt",
                                 "from .chat import THINK_CLOSE as THINK_OPEN, THINK_OPEN as THINK_CLOSE, chat_prompt")
    assert "evaluate" in changed(src, "evaluate.py", "from .grading import extract_answer, is_correct",
                                 "from .grading import extract_answer as is_correct, is_correct as extract_answer")


def test_what_a_command_reads_implicitly_is_its_code(src):
    """Issue 33, eighth probe, case 28: mot.placement.IMPLICIT names by a string the function that lists
    what `mot rehearsal` (and `mot provenance`) read without an argument; an edit of that function
    reran nothing. It is the command's own code, and no other's."""
    assert changed(src, "rehearsal.py", "templates = [TEMPLATES / MODELS[model][1]] if model else [TEMPLATES]",
                   "templates = [TEMPLATES / MODELS[model][1]] if model else [TEMPLATES, TEMPLATES]") == {"rehearsal"}
    assert changed(src, "provenance.py", 'git("ls-files", "-z", "--full-name", ":/")',
                   'git("ls-files", "-z", "--full-name", "--", ":/")') == {"provenance"}


def test_a_name_taken_from_another_module_reruns_what_uses_it(src):
    """Issue 33, ninth probe, cases 1 and 2: `register` imported from mot.redaction instead of
    mot.backends (generate broke at import), and `MODELS` read as `layout.MODELS` (every rehearsal model
    refused): each statement's text stayed the same, and so did the set of definitions reached."""
    assert "generate" in changed(src, "generate.py", "from .backends import BACKENDS, BATCH, ignored_params, params_of, register",
                                 "from .backends import BACKENDS, BATCH, ignored_params, params_of\n"
                                 "from .redaction import register")
    assert changed(src, "rehearsal.py", "    if model not in MODELS:\n", "    from . import layout\n\n"
                   "    if model not in layout.MODELS:\n") == {"rehearsal"}


def test_an_edit_of_the_layout_reruns_a_seeds_run_and_the_provenance_page(src):
    """Issue 33, probe 20, case 16: all_code() (a seed's whole run, the provenance page's record) never
    hashed layout.py, though the names it gives a run's files are in its output (an eval summary records
    its checkpoints' paths). A stage's own version still leaves it out: the DAG follows its paths."""
    from mot.workflow import code_version

    every = sorted(p.name for p in (src / "mot").glob("*.py"))
    before = code_version(str(src), *every)
    edit(src, "layout.py", 'STEP = "step-{step:05d}"', 'STEP = "ckpt-{step:05d}"')
    assert code_version(str(src), *every) != before


def test_an_edit_of_the_results_layout_reruns_only_the_commands_that_read_it(src):
    """Issue 33, probe 21, case 14: the check of every command's outputs named the paths `mot
    diagnostics` reads (mot.placement): moving MoT's shared round 1 reran every stage, teacher
    sampling included. The rules' versions (mot.codeversion.version) now reach it from the commands
    that read those paths alone; the DAG follows a moved output."""
    # (the figures find the branches' train logs by that path)
    assert changed(src, "layout.py", '/mot-round-1"', '/mot-round-01"') == {"diagnostics", "figures"}
    # the results' root: the commands that write below it by a default (tracking, --models), not the corpora's
    assert not changed(src, "layout.py", 'RESULTS = "results"', 'RESULTS = "out"') & {"prompts", "generate", "corpus",
                                                                                       "world", "union", "stats"}


def test_a_functions_version_is_the_code_it_reaches(src):
    """`mot.rehearsal:build` (what names the shipped rehearsal models): an edit of the imprint changes
    it; one of the rehearsal's checks, or of the command line, does not."""
    entries = ["mot.rehearsal:build"]
    assert changed_entries(src, entries, "rehearsal.py", "IMPRINT_LR, IMPRINT_BETAS, CHECK_EVERY = 3e-3,",
                           "IMPRINT_LR, IMPRINT_BETAS, CHECK_EVERY = 2e-3,") == set(entries)
    assert changed_entries(src, entries, "cli.py", 'help="train.truncation")', 'help="train.truncation.")') == set()
    with pytest.raises(ValueError, match="no function 'mot.rehearsal:bulid'"):
        codeversion.version(str(src), "mot.rehearsal:bulid")
