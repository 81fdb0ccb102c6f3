"""The rehearsal of the paper's run (config/rehearsal.yaml over config/paper.yaml, mot.rehearsal):
the overlay changes only what a rehearsal may change; its tiny models are the paper's architectures in
the hub's layout, with their real templates, and they run where the paper's do (vLLM, training)."""
import fnmatch
import json

import pytest
import yaml

from conftest import ROOT

# What the overlay may change, as dotted key patterns: model paths; sizes (prompts, samples, tokens,
# steps, rounds, checkpoints, probe points); GPU and process counts; engine memory settings; data
# paths; resources. Anything else must stay config/paper.yaml's.
ENGINE_MEMORY = ("gpu_memory_utilization", "enforce_eager", "max_model_len")
ALLOWED = [
    "students.*.path", "students.*.launch.processes", "students.*.launch.nodes",
    "sources.*.n", "sources.*.path",
    "sampling.n", "sampling.max_tokens",
    "teachers.*.params.model", "teachers.*.params.tensor_parallel_size", "teachers.*.params.pipeline_parallel_size",
    "teachers.*.params.nodes", *(f"teachers.*.params.engine.{k}" for k in ENGINE_MEMORY),
    "train.std_steps", "train.save_every", "train.rounds", "train.steps_per_round",
    "eval.n", "eval.max_tokens", "eval.params.tensor_parallel_size", *(f"eval.params.engine.{k}" for k in ENGINE_MEMORY),
    "general.include", "general.gen_kwargs.max_gen_toks", "general.model_args.tensor_parallel_size",
    *(f"general.model_args.{k}" for k in ENGINE_MEMORY),
    "analyses.probe.lambdas", "analyses.probe.n",
    "analyses.student_teacher.*.params.tensor_parallel_size",
    *(f"analyses.student_teacher.*.params.engine.{k}" for k in ENGINE_MEMORY),
    "resources.*",
]


def merged(*overlays: str) -> tuple[dict, dict]:
    """paper.yaml, and paper.yaml with the overlays merged as Snakemake merges --configfile files."""
    from snakemake.utils import update_config

    paper = yaml.safe_load((ROOT / "config/paper.yaml").read_text())
    both = yaml.safe_load((ROOT / "config/paper.yaml").read_text())
    for name in overlays or ("rehearsal.yaml",):
        update_config(both, yaml.safe_load((ROOT / "config" / name).read_text()))
    return paper, both


def leaves(node, path=""):
    """{dotted key: value} of every leaf (a list's items by index)."""
    if isinstance(node, dict):
        return {k: v for key, sub in node.items() for k, v in leaves(sub, f"{path}.{key}" if path else str(key)).items()}
    if isinstance(node, list) and node and all(isinstance(x, dict) for x in node):
        return {k: v for i, sub in enumerate(node) for k, v in leaves(sub, f"{path}.{i}").items()}
    return {path: node}


@pytest.mark.parametrize("overlays", [("rehearsal.yaml",), ("rehearsal.yaml", "rehearsal-gpus.yaml")])
def test_the_overlay_changes_only_what_a_rehearsal_may(overlays):
    paper, both = merged(*overlays)
    before, after = leaves(paper), leaves(both)
    changed = sorted(k for k in set(before) | set(after) if before.get(k, "absent") != after.get(k, "absent"))
    assert changed, "the overlay changes nothing"
    wrong = [k for k in changed if not any(fnmatch.fnmatchcase(k, p) for p in ALLOWED)]
    assert not wrong, f"the overlay changes keys a rehearsal must keep: {wrong}"
    assert both["train"]["rounds"] >= 2 and both["mot"]["jobs"] == "per_branch"
    # the merged config is a valid paper config, its models the tiny ones of rule rehearsal_model
    from mot.config import validate_config
    from mot.rehearsal import MODELS, hub_id

    config = validate_config(both, ROOT / "config/schema.yaml", "paper.yaml + rehearsal.yaml")
    tiny = [s["path"] for s in config["students"].values()] + [t["params"]["model"] for t in config["teachers"].values()]
    originals = [s["path"] for s in paper["students"].values()] + [t["params"]["model"] for t in paper["teachers"].values()]
    assert [hub_id(p.rsplit("/", 1)[1]) for p in tiny] == originals and set(originals) == set(MODELS)


def test_the_key_check_can_fail():
    assert not any(fnmatch.fnmatchcase("teachers.qwq.params.dtype", p) for p in ALLOWED)
    assert not any(fnmatch.fnmatchcase("train.lr", p) for p in ALLOWED)
    assert not any(fnmatch.fnmatchcase("general.think_end_token", p) for p in ALLOWED)


@pytest.mark.slow
@pytest.mark.rehearsal
@pytest.mark.early(1.5)  # asks first for the shared models, which test_multinode's last test starts from
def test_the_rehearsals_models_are_the_papers_architectures_in_the_hubs_layout(rehearsal_models):
    """The tiny models rule rehearsal_model built for target rehearsal_kinds (conftest.rehearsal_models):
    one for each teacher's architecture and the MoE student; each config.json holds its release's keys
    in the release's order (mot.rehearsal.MODELS); the chat template is the model's own, inline in
    tokenizer_config.json as the hub ships it (not the chat_template.jinja that this transformers'
    save writes); the weights are bf16 under the hub's tensor names, every expert of every MoE layer
    its own tensors (transformers fuses them in memory)."""
    from safetensors import safe_open

    from mot.rehearsal import MODELS, TEMPLATES, hub_id

    models = sorted((rehearsal_models / "results/rehearsal/models").iterdir())
    archs = set()
    for d in models:
        config, template, _ = MODELS[hub_id(d.name)]
        got = json.loads((d / "config.json").read_text())
        assert list(got) == list(config), d.name
        assert {k: v for k, v in got.items() if not str(config[k]).startswith("{")} == \
            {k: v for k, v in config.items() if not str(v).startswith("{")}, d.name
        archs |= set(got["architectures"])
        assert json.loads((d / "tokenizer_config.json").read_text())["chat_template"] == \
            (TEMPLATES / template).read_text(encoding="utf-8"), d.name
        assert not (d / "chat_template.jinja").exists() and (d / "generation_config.json").is_file(), d.name
        with safe_open(str(d / "model.safetensors"), "pt") as f:
            names = set(f.keys())
            assert {f.get_slice(k).get_dtype() for k in names} == {"BF16"}, d.name
        experts = got.get("num_experts") or got.get("n_routed_experts") or 0
        dense = got.get("first_k_dense_replace", 0)
        want = {f"model.layers.{layer}.mlp.experts.{e}.{proj}.weight" for layer in range(dense, got["num_hidden_layers"])
                for e in range(experts) for proj in ("gate_proj", "up_proj", "down_proj")}
        assert want <= names, (d.name, sorted(want - names)[:3])
    assert archs == {"Qwen2ForCausalLM", "Qwen3ForCausalLM", "Qwen3MoeForCausalLM", "DeepseekV3ForCausalLM"}, archs
    assert any(MODELS[hub_id(d.name)][0]["model_type"] == "qwen3_moe" for d in models)


@pytest.mark.slow
@pytest.mark.rehearsal
def test_the_rehearsals_models_are_the_shipped_copies_of_the_current_code(rehearsal_models):
    """The imprints take ~9 minutes on two cores, so data/rehearsal/ ships the models (mot.rehearsal.make):
    rule rehearsal_model took each one's copy, named by the current code and inputs, and imprinted
    none. A copy gone stale (build's code, a template, the tokenizer or the prompts changed) fails
    here with the path the rebuilt model is to be shipped at."""
    logs = sorted((rehearsal_models / "results/logs/rehearsal_model").glob("*.log"))
    assert len(logs) == len(list((rehearsal_models / "results/rehearsal/models").iterdir())) > 0
    built = [line for log in logs for line in log.read_text().splitlines() if "no shipped copy" in line]
    assert not built, "\n".join(built)


def test_a_shipped_copy_is_taken_only_for_its_own_inputs(tmp_path, monkeypatch):
    """mot.rehearsal.make: the copy named by the inputs' key is taken as it is (MARKER aside); other
    prompts name another key, and build runs."""
    import mot.rehearsal as R

    prompts = tmp_path / "p.jsonl"
    prompts.write_text('{"id": "a", "prompt": "1 + 1?", "answer": "2"}\n')
    model = "Qwen/Qwen3-8B"
    monkeypatch.setattr(R, "SHIPPED", tmp_path / "data" / "rehearsal" / "models")
    copy = R.SHIPPED / f"Qwen3-8B-{R.shipped_key(model, [str(prompts)], 0, 150)}"
    copy.mkdir(parents=True)
    for name in ("model.safetensors", "config.json", ".mot-output", ".snakemake_timestamp"):
        (copy / name).write_text(name)
    built = []
    monkeypatch.setattr(R, "build", lambda *a: built.append(a) or {"built": True})
    assert R.make(model, [str(prompts)], str(tmp_path / "out"))["shipped"] == str(copy)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [".mot-output", "config.json", "model.safetensors"]
    assert (tmp_path / "out" / ".mot-output").read_text() != ".mot-output"  # its own, not the copy's
    assert (tmp_path / "out" / "model.safetensors").read_text() == "model.safetensors" and not built
    prompts.write_text('{"id": "a", "prompt": "1 + 1?", "answer": "3"}\n')
    assert R.make(model, [str(prompts)], str(tmp_path / "out2")) == {"built": True} and len(built) == 1
