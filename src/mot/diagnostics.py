"""Why a merge helps or hurts: per MoT round, the geometry of the branches and their losses.

    mot diagnostics --student tiny --source syn-boba --tset all --rounds 4 --base data/bases/tiny-<key> \
        --corpus deliberate=results/corpora/syn-boba/deliberate.jsonl --corpus concise=... \
        --max-length 512 --out results/diagnostics/tiny/syn-boba/mot-all

For every round t of a teacher set, with S the round's start (the base, then round t-1's merged
model), B_k its branches and M the merged model:
- distance: ||B_k - mean_j B_j|| (L2 over all parameters), per branch;
- cosine: cos(B_i - S, B_j - S), the similarity of two branches' task vectors;
- loss: every branch's, the start's and the merged model's mean token loss on every teacher's
  corpus (the response tokens, as in training; at most --max-examples per corpus).
The paper's claim is that merging keeps what the teachers agree on and averages away what only
one teacher teaches: then the merged model's loss on each corpus sits between the branches', its
own branch lowest, and task vectors are far from parallel. Written as `<out>.csv` (round,
quantity, a, b, value) and plotted as `<out>.png`/`.pdf`. Tensors are streamed one at a time
(mot.checkpoints.Reader), so the geometry of 8B checkpoints needs no more memory than one tensor each.
"""
from __future__ import annotations

import csv
import io
import itertools
import math
from pathlib import Path

from . import layout

QUANTITIES = ("distance", "cosine", "loss")


def round_models(student: str, source: str, tset: str, teachers: list[str], round_: int, base: str):
    """(start, {teacher: branch}, merged) directories of one round, from the results layout."""
    start = base if round_ == 1 else layout.merged_dir(student, source, tset, round_ - 1)
    branches = {t: layout.branch_dir(student, source, tset, round_, t) for t in teachers}
    return start, branches, layout.merged_dir(student, source, tset, round_)


def implicit_inputs(args) -> list[Path]:
    """What `mot diagnostics` reads that no argument names (mot.placement.IMPLICIT): the rounds of the
    MoT run its --student, --source and --tset name in the results layout (round 1's branches, shared
    by the sets, and the set's own rounds)."""
    return [Path(layout.FIRST_ROUND.format(student=args.student, source=args.source)),
            Path(layout.run_dir(args.student, args.source, layout.mot_run(args.tset)))]


def geometry(start: str, branches: dict[str, str]) -> list[tuple[str, str, str, float]]:
    """Distances from the branch mean and pairwise task-vector cosines, one tensor at a time."""
    import torch

    from .checkpoints import Checkpoint, Reader

    names = list(branches)
    readers = {k: Reader(Checkpoint.open(p)) for k, p in branches.items()}
    s = Reader(Checkpoint.open(start))
    sq = dict.fromkeys(names, 0.0)  # ||B_k - mean||^2
    dot = {pair: 0.0 for pair in itertools.combinations_with_replacement(names, 2)}  # <tau_i, tau_j>
    for tensor in readers[names[0]].ck.tensors:
        x = {k: r.get(tensor).double() for k, r in readers.items()}
        mean = sum(x.values()) / len(x)
        base = s.get(tensor).double()
        tau = {k: v - base for k, v in x.items()}
        for k in names:
            sq[k] += float(torch.sum((x[k] - mean) ** 2))
        for i, j in dot:
            dot[(i, j)] += float(torch.sum(tau[i] * tau[j]))
    rows = [("distance", k, "", math.sqrt(sq[k])) for k in names]
    for i, j in itertools.combinations(names, 2):
        norm = math.sqrt(dot[(i, i)] * dot[(j, j)])
        rows.append(("cosine", i, j, dot[(i, j)] / norm if norm else float("nan")))
    return rows


def corpus_loss(model_dir: str, corpus: str, max_length: int, max_examples: int, batch: int = 16) -> float:
    """Mean token loss of a model on a corpus's responses (the first max_examples examples)."""
    import torch

    from .models import load_causal_lm, load_tokenizer
    from .batches import collate, load_examples
    from .chat import IGNORE

    tok = load_tokenizer(model_dir)
    examples, _ = load_examples(tok, corpus, max_length, "drop")
    examples = examples[:max_examples]
    if torch.cuda.is_available():  # a paper student on the job's one GPU
        return chunked_corpus_loss(load_causal_lm(model_dir, dtype=torch.bfloat16).to("cuda").eval(), examples)
    model = load_causal_lm(model_dir).eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(examples), batch):
            ids, labels, mask = collate(examples, list(range(i, min(i + batch, len(examples)))), tok.pad_token_id)
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
            target = labels[:, 1:]
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                                                     ignore_index=IGNORE, reduction="sum")
            total += float(loss)
            count += int((target != IGNORE).sum())
    return total / count


GPU_CHUNK = 2048  # positions whose logits exist at once (a 25k-token trace x 152k vocabulary: 15 GiB in bf16)


def chunked_corpus_loss(model, examples) -> float:
    """corpus_loss on a GPU (the model's device), in bf16, one example at a time, the output layer over
    GPU_CHUNK positions at a time: a paper student (up to Qwen3-30B-A3B's 61 GB) and one 25k-token trace
    fit one 80 GB GPU."""
    import torch

    from .chat import IGNORE

    head, total, count = model.get_output_embeddings(), 0.0, 0
    with torch.no_grad():
        for ids, labels in examples:
            hidden = model.base_model(input_ids=torch.tensor([ids], device=model.device)).last_hidden_state[0, :-1]
            target = torch.tensor(labels[1:], device=model.device)
            keep = target != IGNORE
            for h, y in zip(hidden[keep].split(GPU_CHUNK), target[keep].split(GPU_CHUNK)):
                total += float(torch.nn.functional.cross_entropy(head(h).float(), y, reduction="sum"))
            count += int(keep.sum())
    return total / count


def diagnose(student: str, source: str, tset: str, rounds: int, base: str, corpora: dict[str, str],
             max_length: int, out: str, max_examples: int = 64) -> list[dict]:
    from tqdm import tqdm

    teachers = list(corpora)
    rows = []
    for t in tqdm(range(1, rounds + 1), desc=f"diagnostics {tset}", mininterval=2):
        start, branches, merged = round_models(student, source, tset, teachers, t, base)
        rows += [dict(round=t, quantity=q, a=a, b=b, value=v) for q, a, b, v in geometry(start, branches)]
        models = {"start": start, **{f"branch-{k}": p for k, p in branches.items()}, "merged": merged}
        for name, path in models.items():
            for teacher, corpus in corpora.items():
                rows.append(dict(round=t, quantity="loss", a=name, b=teacher,
                                 value=corpus_loss(path, corpus, max_length, max_examples)))
    buf = io.StringIO()
    w = csv.DictWriter(buf, ["round", "quantity", "a", "b", "value"], lineterminator="\n")
    w.writeheader()
    w.writerows({**r, "value": f"{r['value']:.6g}"} for r in rows)
    plot(rows, teachers, f"{tset}: {student} on {source}", out, {f"{out}.csv": buf.getvalue()})
    return rows


def plot(rows: list[dict], teachers: list[str], title: str, out: str, extra: dict[str, str] | None = None) -> None:
    """Three panels per round: distance from the mean, task-vector cosines, losses on each corpus."""
    from .figures import pyplot, save_figure

    plt, sns = pyplot()
    fig, (ax_d, ax_c, ax_l) = plt.subplots(1, 3, figsize=(15, 3.8))
    pal = sns.color_palette(n_colors=max(len(teachers) + 2, 3))
    for i, k in enumerate(teachers):
        pts = [(r["round"], r["value"]) for r in rows if r["quantity"] == "distance" and r["a"] == k]
        ax_d.plot(*zip(*pts), marker="o", label=k, color=pal[i])
    for i, j in itertools.combinations(teachers, 2):
        pts = [(r["round"], r["value"]) for r in rows if r["quantity"] == "cosine" and (r["a"], r["b"]) == (i, j)]
        ax_c.plot(*zip(*pts), marker="o", label=f"{i} / {j}", lw=1)
    # the loss on each corpus, averaged over corpora: own branch vs other branches vs merged
    rounds = sorted({r["round"] for r in rows})
    loss = {(r["round"], r["a"], r["b"]): r["value"] for r in rows if r["quantity"] == "loss"}
    series = {
        "branch on its own teacher's corpus": [sum(loss[(t, f"branch-{k}", k)] for k in teachers) / len(teachers)
                                               for t in rounds],
        "branch on the other corpora": [sum(loss[(t, f"branch-{k}", c)] for k in teachers for c in teachers if c != k)
                                        / max(1, len(teachers) * (len(teachers) - 1)) for t in rounds],
        "merged model": [sum(loss[(t, "merged", c)] for c in teachers) / len(teachers) for t in rounds],
        "round start": [sum(loss[(t, "start", c)] for c in teachers) / len(teachers) for t in rounds],
    }
    for i, (label, ys) in enumerate(series.items()):
        ax_l.plot(rounds, ys, marker="o", label=label, color=pal[i])
    ax_d.set(title="distance from the branch mean", xlabel="round", ylabel="L2 norm")
    ax_c.set(title="cosine of task vectors (branch - start)", xlabel="round")
    ax_l.set(title="mean token loss on the teachers' corpora", xlabel="round")
    for ax in (ax_d, ax_c, ax_l):
        ax.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, out, dpi=120, extra=extra)  # with the table, together
    plt.close(fig)
