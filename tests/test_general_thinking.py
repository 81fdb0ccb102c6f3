"""Issue 19, item 9: the general benchmarks score the answer, not the reasoning.

A Qwen3 student answers after a `<think>` block, where "the answer is (B)... wait" is common. lm-eval
0.4.13 cuts each response after `think_end_token` in its model's generate_until (both its hf and
vllm models call lm_eval.models.utils.postprocess_generated_text), but only when the model args say
so. Here a thinking response goes through lm-eval's own hf model (generate_until, with the model's
generation replaced by the response) and then the real filter chains of the paper's tasks, loaded
by lm-eval's TaskManager from its own task files (the datasets are replaced by a few local rows)."""
import datasets
import pytest
import yaml

from mot.general import lm_eval_model_args, thinking_args

from conftest import ROOT

pytestmark = pytest.mark.filterwarnings("ignore")

GPQA, MMLU_PRO = "gpqa_diamond_cot_zeroshot", "mmlu_pro_math"


def thinking_response(wrong: str, right: str, final: str) -> str:
    return (f"<think>\nLet me work through the options. At first sight the answer is ({wrong}), since the energy "
            f"looks conserved... wait, the collision is inelastic, so that is wrong. It is {right}.\n</think>\n\n{final}")


def rows(path, name=None, **kwargs):
    """The paper's tasks' datasets, a few local rows each (no hub)."""
    if path == "Idavidrein/gpqa":
        row = {"Question": "A ball hits a wall inelastically. What is conserved?", "Correct Answer": "momentum",
               "Incorrect Answer 1": "kinetic energy", "Incorrect Answer 2": "velocity", "Incorrect Answer 3": "speed"}
        return datasets.DatasetDict({"train": datasets.Dataset.from_list([row])})
    if path == "TIGER-Lab/MMLU-Pro":
        def row(i):
            return {"question_id": i, "question": f"What is {i} + 2?", "options": [str(i + k) for k in range(10)],
                    "answer": "C", "answer_index": 2, "cot_content": "A: Let's think step by step. The answer is (C).",
                    "category": "math", "src": "local"}
        return datasets.DatasetDict({"test": datasets.Dataset.from_list([row(0)]),
                                     "validation": datasets.Dataset.from_list([row(i) for i in range(1, 6)])})
    raise AssertionError(f"unexpected dataset {path}")


@pytest.fixture(scope="module")
def tasks():
    import lm_eval
    from lm_eval.tasks import TaskManager

    mp = pytest.MonkeyPatch()
    mp.setattr(datasets, "load_dataset", rows)
    try:
        root = lm_eval.__path__[0] + "/tasks"
        manager = TaskManager(include_defaults=False, include_path=[f"{root}/gpqa/cot_zeroshot", f"{root}/mmlu_pro"])
        loaded = manager.load_task_or_group([GPQA, MMLU_PRO])
    finally:
        mp.undo()
    for task in loaded.values():  # one problem each (GPQA shuffles its choices here, once)
        task.build_all_requests(limit=1, rank=0, world_size=1)
    return loaded


@pytest.fixture(scope="module")
def hf_model_factory():
    """lm-eval's own hf model around a tiny Qwen3 and a byte-level tokenizer in which `</think>` is an
    ordinary added token, as in Qwen3's (the model's generation is replaced by the given response)."""
    import torch
    from lm_eval.models.huggingface import HFLM
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast, Qwen3Config, Qwen3ForCausalLM

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator([], trainers.BpeTrainer(special_tokens=["<|endoftext|>", "<|im_end|>"],
                                                    initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    fast.add_tokens(["<think>", "</think>"])  # not special: decoding keeps them (Qwen3's tokenizer does too)
    config = Qwen3Config(vocab_size=len(fast), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=1, head_dim=8, intermediate_size=32, max_position_embeddings=16384,
                         eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id)
    model = Qwen3ForCausalLM(config)

    def make(response: str, **thinking):
        lm = HFLM(pretrained=model, tokenizer=fast, batch_size=1, **thinking)
        answer = torch.tensor([fast(response + "<|im_end|>", add_special_tokens=False)["input_ids"]])
        lm._model_generate = lambda context, **kw: torch.cat([context, answer.expand(len(context), -1)], dim=1)
        return lm
    return make


def score(task, lm, filter_name: str) -> tuple[str, float]:
    """What lm-eval's evaluator does with a task's problem: generate_until, the task's filters, its metric."""
    (inst,) = task.instances
    inst.resps = [lm.generate_until([inst])[0]]
    task.apply_filters()
    extracted = inst.filtered_resps[filter_name]
    return extracted, float(task.process_results(inst.doc, [extracted])["exact_match"])


def paper_model_args() -> dict:
    general = yaml.safe_load((ROOT / "config/paper.yaml").read_text())["general"]
    return lm_eval_model_args("/models/qwen3-8b", general["backend"], general.get("model_args"), 0,
                              thinking_args(general))


def test_the_paper_config_makes_lm_eval_score_the_answer_after_the_reasoning(tasks, hf_model_factory):
    args = paper_model_args()
    assert args["think_end_token"] == "</think>"
    assert not args.get("enable_thinking")  # True would make lm-eval refuse C-Eval (a loglikelihood task)
    thinking = {k: args[k] for k in ("think_end_token", "enable_thinking") if k in args}

    # MMLU-Pro: custom-extract takes the first "answer is (X)"; the reference answer is (C)
    response = thinking_response("B", "C", "The answer is (C).")
    assert score(tasks[MMLU_PRO], hf_model_factory(response), "custom-extract") == ("B", 0.0)  # the reasoning's
    assert score(tasks[MMLU_PRO], hf_model_factory(response, **thinking), "custom-extract") == ("C", 1.0)

    # GPQA-Diamond: flexible-extract takes the last "(X)", else a choice's text or "Answer: X"
    task = tasks[GPQA]
    right = task.instances[0].doc["answer"][1]  # the correct choice's letter after lm-eval's shuffle
    wrong = next(x for x in "ABCD" if x != right)
    response = thinking_response(wrong, right, f"**Answer: {right}**")
    assert score(task, hf_model_factory(response), "flexible-extract") == (f"({wrong})", 0.0)
    assert score(task, hf_model_factory(response, **thinking), "flexible-extract") == (f"({right})", 1.0)


def test_thinking_settings_reach_both_backends_and_the_rule():
    from lm_eval.models.utils import postprocess_generated_text  # vllm's generate_until calls it as below

    for backend in ("hf", "vllm"):
        args = lm_eval_model_args("m", backend, {"dtype": "bfloat16"}, 3, {"think_end_token": "</think>"})
        assert args["think_end_token"] == "</think>" and args["pretrained"] == "m"
    assert lm_eval_model_args("m", "vllm", {}, 3)["seed"] == 3 and "think_end_token" not in lm_eval_model_args("m", "hf")
    text = thinking_response("B", "C", "The answer is (C).")
    assert postprocess_generated_text(text, ["Question:"], paper_model_args()["think_end_token"]) == "The answer is (C)."
    with pytest.raises(Exception, match="enable_thinking needs general.think_end_token"):
        lm_eval_model_args("m", "hf", {}, 0, {"enable_thinking": True})
    # the synthetic config sets none: its rule's command is unchanged
    general = yaml.safe_load((ROOT / "config/config.yaml").read_text())["general"]
    assert thinking_args(general) == {}


def test_the_synthetic_student_thinks_but_lm_eval_decodes_its_think_end_away(tiny_world, tmp_path):
    """Why config/config.yaml sets no think_end_token: the synthetic student's `</think>` is a
    special token, which lm-eval's decoding skips (HFLM.tok_decode: skip_special_tokens=True), so
    the string would cut nothing; the boxed filter reads the last \\boxed{}, in the answer."""
    from lm_eval.models.utils import postprocess_generated_text
    from transformers import AutoTokenizer

    from mot.student import build_tokenizer

    build_tokenizer(str(tiny_world), str(tmp_path / "tok"), vocab_size=300)
    tok = AutoTokenizer.from_pretrained(tmp_path / "tok")
    ids = tok("<think>\n3 + 4 = 7.\n</think>\n\n\\boxed{7}", add_special_tokens=False)["input_ids"]
    decoded = tok.decode(ids, skip_special_tokens=True)
    assert "</think>" not in decoded and decoded.endswith("\\boxed{7}")
    assert postprocess_generated_text(decoded, [], "</think>") == decoded.lstrip()  # nothing cut
