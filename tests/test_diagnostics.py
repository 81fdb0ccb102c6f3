"""MoT diagnostics on a tiny saved model: exact geometry of known branches, losses from real forward passes."""
import csv
import json
import math
import shutil

import pytest

from mot import layout
from mot.diagnostics import corpus_loss, diagnose


def _shifted_copy(src, dst, delta):
    """A copy of a checkpoint with `delta` added to every element of one tensor."""
    from safetensors.torch import load_file, save_file

    shutil.copytree(src, dst)
    tensors = load_file(str(dst / "model.safetensors"))
    name = sorted(tensors)[0]
    tensors[name] = tensors[name] + delta
    save_file(tensors, str(dst / "model.safetensors"), metadata={"format": "pt"})
    return name, tensors[name].numel()


def test_diagnostics_of_two_opposite_branches(tmp_path, tiny_model, monkeypatch):
    monkeypatch.chdir(tmp_path)
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"prompt": f"Compute {a} + 2.", "response":
                                          f"<think>\n{a} + 2 = {a + 2}.\n</think>\n\n\\boxed{{{a + 2}}}"}) + "\n"
                              for a in range(3, 9)))
    branches = {t: tmp_path / layout.branch_dir("s", "a", "x", 1, t) for t in ("p", "q")}
    for t, d in branches.items():
        d.parent.mkdir(parents=True, exist_ok=True)
        _, numel = _shifted_copy(tiny_model, d, 0.01 if t == "p" else -0.01)
    merged = tmp_path / layout.merged_dir("s", "a", "x", 1)
    merged.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(tiny_model, merged)  # the mean of the two branches is the start itself
    rows = diagnose("s", "a", "x", 1, str(tiny_model), {"p": str(corpus), "q": str(corpus)}, 256,
                    str(tmp_path / "out"))
    got = {(r["quantity"], r["a"], r["b"]): r["value"] for r in rows}
    assert got[("distance", "p", "")] == pytest.approx(0.01 * math.sqrt(numel), rel=1e-4)
    assert got[("distance", "q", "")] == pytest.approx(0.01 * math.sqrt(numel), rel=1e-4)
    assert got[("cosine", "p", "q")] == pytest.approx(-1.0, abs=1e-6)
    start_loss = corpus_loss(str(tiny_model), str(corpus), 256, 64)
    assert got[("loss", "merged", "p")] == pytest.approx(start_loss) == got[("loss", "start", "q")]
    assert got[("loss", "branch-p", "p")] != pytest.approx(start_loss)
    with open(tmp_path / "out.csv", newline="") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 2 + 1 + 4 * 2 and {r["quantity"] for r in table} == {"distance", "cosine", "loss"}
    assert (tmp_path / "out.png").stat().st_size > 0 and (tmp_path / "out.pdf").is_file()


def test_the_gpu_loss_one_example_and_one_chunk_at_a_time_is_the_batched_loss(tmp_path, tiny_model, monkeypatch):
    """On a GPU, diagnostics runs a paper student in bf16 one trace at a time, its output layer a chunk
    of positions at a time; the same code on this CPU in float32, with 3-position chunks, gives the
    batched loss of the CPU path."""
    import mot.diagnostics as d
    from mot.batches import load_examples
    from mot.models import load_causal_lm, load_tokenizer

    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"prompt": f"Compute {a} + 2.", "response":
                                          f"<think>\n{a} + 2 = {a + 2}.\n</think>\n\n\\boxed{{{a + 2}}}"}) + "\n"
                              for a in range(3, 9)))
    monkeypatch.setattr(d, "GPU_CHUNK", 3)
    examples, _ = load_examples(load_tokenizer(str(tiny_model)), str(corpus), 256, "drop")
    chunked = d.chunked_corpus_loss(load_causal_lm(str(tiny_model)).eval(), examples)
    assert chunked == pytest.approx(corpus_loss(str(tiny_model), str(corpus), 256, 64), rel=1e-5)
