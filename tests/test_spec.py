"""A --spec written by hand is held to the config's ranges (issue 33 item 7): config/schema.yaml
declares each train key's range or choices once, and HParams, RoundsSpec and TrainSpec check
against it, in one line naming the config key."""
import pytest
import yaml

from mot.io import MotError
from mot.rounds import RoundsSpec
from mot.train import HParams, TrainSpec

from conftest import ROOT

BASE = dict(lr=1e-5, betas=[0.9, 0.95], weight_decay=0.0, warmup_ratio=0.1, grad_clip=1.0, batch_size=16,
            micro_batch_size=4, max_length=512)
TRAIN = yaml.safe_load((ROOT / "config/schema.yaml").read_text())["properties"]["train"]["properties"]


def out_of_range(entry):
    """A value outside a schema entry (its first bound or choice), or None."""
    entry = {"$ref": None, **entry}
    ref = {"#/$defs/posint": 0, "#/$defs/prob": 1.5, "#/$defs/lr": 0}
    if entry["$ref"] in ref:
        return ref[entry["$ref"]]
    if "enum" in entry:
        return "bogus"
    if "exclusiveMinimum" in entry:
        return entry["exclusiveMinimum"]
    if "minimum" in entry:
        return entry["minimum"] - 1
    if entry.get("type") == "array" and "items" in entry and "exclusiveMaximum" in entry["items"]:
        return [entry["items"]["exclusiveMaximum"]] * entry.get("minItems", 1)
    return None


HPARAM_CASES = [(k, out_of_range(TRAIN[k])) for k in HParams.__dataclass_fields__
                if k in TRAIN and out_of_range(TRAIN[k]) is not None]


def test_the_cases_come_from_the_schema_and_name_the_issues_examples():
    keys = {k for k, _ in HPARAM_CASES}
    assert {"grad_clip", "truncation", "betas", "warmup_ratio", "weight_decay", "attn_implementation",
            "save_state_minutes", "loss_chunk_tokens", "lr", "batch_size"} <= keys, keys


@pytest.mark.parametrize("key,value", HPARAM_CASES)
def test_an_out_of_range_hyper_parameter_is_refused_naming_its_config_key(key, value):
    with pytest.raises(MotError, match=rf"^--spec hparams: {key}(\.\d+)? = .*\(config key train\.{key}(\.\d+)?[;)]"):
        HParams.of({**BASE, key: value})


@pytest.mark.parametrize("change", [{"rounds": 0}, {"steps_per_round": 0}, {"schedule": "bogus"},
                                    {"optimizer_state": "bogus"}])
def test_a_rounds_spec_out_of_range_is_refused(change):
    key = next(iter(change))
    with pytest.raises(MotError, match=rf"{key}"):
        RoundsSpec.of({"hparams": BASE, "rounds": 2, "steps_per_round": 5, **change})


@pytest.mark.parametrize("change,pattern", [
    ({"save_every": -1}, r"save_every = -1 is negative"), ({"start_step": -5}, r"start_step = -5 is negative"),
    ({"total_steps": 1}, r"total_steps = 1 ends the lr schedule \(from schedule_start 0\) before the run.s last step"),
    ({"schedule_start": 3}, r"schedule_start = 3 is after start_step = 0")])
def test_a_train_spec_out_of_range_is_refused(change, pattern):
    with pytest.raises(MotError, match=pattern):
        TrainSpec.of({"hparams": BASE, "steps": 5, **change})


def test_the_defaults_and_the_shipped_configs_train_keys_pass():
    for name in ("config.yaml", "paper.yaml", "test.yaml"):
        train = yaml.safe_load((ROOT / "config" / name).read_text())["train"]
        HParams.of({**BASE, **{k: v for k, v in train.items() if k in HParams.__dataclass_fields__}})


@pytest.mark.parametrize("sampling,params,pattern", [
    ({"n": 0}, {}, r"--spec sampling: n = 0: .*\(config key eval\.n\)"),
    ({"temperature": -1}, {}, r"--spec sampling: temperature = -1: .*\(config key eval\.temperature\)"),
    ({"top_p": 2}, {}, r"--spec sampling: top_p = 2: .*\(config key eval\.top_p\)"),
    ({"n": "4"}, {}, r"--spec sampling: n = '4': '4' is not of type 'integer'"),
    ({}, {"batch_size": 0}, r"--spec: params\.batch_size = 0: .*\(config key eval\.params\.batch_size\)")])
def test_an_eval_spec_out_of_range_is_refused_before_any_model_loads(sampling, params, pattern):
    from mot.evaluate import EvalSpec

    base = {"n": 4, "temperature": 0.6, "top_p": 0.95, "max_tokens": 256}
    with pytest.raises(MotError, match=pattern):
        EvalSpec.of({"sampling": {**base, **sampling}, "params": params})


def test_nan_and_infinity_are_refused_as_json_lets_them_through_every_bound():
    with pytest.raises(MotError, match=r"grad_clip = nan: not a finite number \(config key train\.grad_clip\)"):
        HParams.of({**BASE, "grad_clip": float("nan")})
    with pytest.raises(MotError, match=r"warmup_ratio = inf: not a finite number"):
        HParams.of({**BASE, "warmup_ratio": float("inf")})


@pytest.mark.parametrize("change,pattern", [
    ({"method": "bogus"}, r"--spec: method 'bogus' is not a merge method \(known: uniform, "),
    ({"method": "uniform", "merge_params": {"x": 1}}, r"--spec merge_params: merge method 'uniform' does not take 'x'")])
def test_a_rounds_spec_names_its_merge_before_any_work(change, pattern):
    from mot.rounds import check_merge

    with pytest.raises(MotError, match=pattern):
        check_merge(RoundsSpec.of({"hparams": BASE, "rounds": 2, "steps_per_round": 5, **change}))


@pytest.mark.parametrize("module, cls, command", [("train", "TrainSpec", "train"), ("evaluate", "EvalSpec", "evaluate"),
                                                  ("rounds", "RoundsSpec", "rounds")])
def test_each_spec_help_is_made_from_its_dataclass(module, cls, command):
    """`mot <command> --help` shows each field of the spec's dataclass with its default (as JSON) and
    its comment, and the keys of a spec inside it: a field added there is in the help, written nowhere else."""
    import dataclasses
    import importlib
    import json

    from mot.cli import parser

    spec = getattr(importlib.import_module(f"mot.{module}"), cls)
    sub = next(a for a in parser()._actions if a.dest == "cmd").choices[command]
    text = next(a for a in sub._actions if a.dest == "spec").help
    for f in dataclasses.fields(spec):
        if f.default is not dataclasses.MISSING:
            assert f'"{f.name}" (' in text and f"default {json.dumps(f.default)}" in text, f.name
        elif f.default_factory is not dataclasses.MISSING:
            assert f'"{f.name}" (' in text and f"default {json.dumps(f.default_factory())}" in text, f.name
        else:
            assert f'"{f.name}" (' in text, f.name
        if f.name == "hparams":
            from mot.train import HParams

            assert ", ".join(g.name for g in dataclasses.fields(HParams)) in text
    if cls == "TrainSpec":
        assert '"save_every" (int, default 0: also save out/step-N every this many steps)' in text


@pytest.mark.parametrize("name", ["config.yaml", "test.yaml", "paper.yaml"])
def test_each_stages_spec_is_built_from_the_config_next_to_its_dataclass(name):
    """What the rules pass as --spec is built beside each dataclass (mot.train.sft_values,
    mot.rounds.rounds_values, mot.evaluate.eval_values, mot.catalog.report_spec), so a unit test
    reaches it: every shipped config gives specs that their dataclasses take."""
    from helpers import load_config
    from mot import catalog
    from mot.config import validate_config
    from mot.evaluate import EvalSpec, eval_values
    from mot.grid import Grid, probe_settings
    from mot.rounds import rounds_values
    from mot.train import sft_values

    c = validate_config(load_config(name), ROOT / "config/schema.yaml", name)
    assert TrainSpec.of(sft_values(c)).steps == c["train"]["std_steps"]
    for tset in Grid(c).sets:
        spec = RoundsSpec.of(rounds_values(c, *Grid(c).merge_method(tset)))
        assert spec.rounds == c["train"]["rounds"] and spec.method == Grid(c).merge_method(tset)[0]
    assert EvalSpec.of(eval_values(c)).sampling["n"] == c["eval"]["n"]
    if probe := probe_settings(c):
        assert EvalSpec.of(eval_values(c, probe["n"])).sampling["n"] == probe["n"]
    report = catalog.report_spec(c)
    assert list(report["order"]["students"]) == list(c["students"])
    assert "variants" in catalog.table_spec(report, "merge_methods") and "variants" not in catalog.table_spec(report, "table2")
