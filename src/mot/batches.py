"""SFT data for mot.train: a corpus encoded as (input ids, labels) examples under the max-length rule,
the examples of each optimizer step (seeded epochs, so a resumed run draws what an uninterrupted one
would), one process's micro-batches of a step, and their tensors (padded, or packed into one row)."""
from __future__ import annotations

import random

from .chat import IGNORE, end_of_turn, sft_example
from .io import MotError, stable_hash
from .readers import read_jsonl


def load_examples(tok, corpus: str, max_length: int, truncation: str) -> tuple[list[tuple], dict]:
    """Encoded examples and a record of what the max-length rule did."""
    rows = read_jsonl(corpus, required=("prompt", "response"))
    if not rows:
        raise MotError(f"{corpus}: empty corpus")
    examples, dropped, truncated = [], 0, 0
    eot = end_of_turn(tok)
    for lineno, row in enumerate(rows, 1):
        try:
            ids, labels = sft_example(tok, row["prompt"], row["response"], eot)
        except MotError as e:
            raise MotError(f"{corpus}:{lineno}: {e}") from None
        if len(ids) > max_length:
            if truncation == "drop":
                dropped += 1
                continue
            ids, labels = ids[:max_length], labels[:max_length]
            truncated += 1
        if any(x != IGNORE for x in labels):
            examples.append((ids, labels))
    if not examples:
        raise MotError(f"{corpus}: every sample is longer than max_length={max_length} "
                       f"(config key train.max_length)")
    return examples, {"examples": len(rows), "kept": len(examples), "dropped_too_long": dropped,
                      "truncated": truncated, "rule": truncation, "max_length": max_length}


def step_indices(n: int, batch: int, step: int, seed: int) -> list[int]:
    """The example indices of optimizer step `step`: epochs of seeded permutations, laid end to end."""
    out, pos = [], step * batch
    while len(out) < batch:
        epoch, offset = divmod(pos, n)
        perm = list(range(n))
        random.Random(stable_hash("order", seed, epoch)).shuffle(perm)
        take = perm[offset:offset + batch - len(out)]
        out += take
        pos += len(take)
    return out


def micro_batches(examples, idx: list[int], rank: int, world: int, micro: int) -> list[list[int]]:
    """This process's share of a step, grouped by length into micro-batches."""
    mine = idx[rank::world]
    mine = sorted(mine, key=lambda i: (len(examples[i][0]), i))
    return [mine[i:i + micro] for i in range(0, len(mine), micro)]


def collate(examples, ids: list[int], pad_id: int):
    import torch

    width = max(len(examples[i][0]) for i in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    labels = torch.full((len(ids), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for row, i in enumerate(ids):
        x, y = examples[i]
        input_ids[row, :len(x)] = torch.tensor(x)
        labels[row, :len(y)] = torch.tensor(y)
        mask[row, :len(x)] = 1
    return input_ids, labels, mask


def collate_packed(examples, ids: list[int]):
    """Padding-free: the micro-batch's sequences laid end to end in one row, positions restarting
    at 0 for each (FlashAttention-2 reads the boundaries from position_ids, the varlen/cu_seqlens
    path; sdpa gets a block-diagonal causal mask from them). No token is padding. The first label
    of each sequence is a masked prompt token, so no loss crosses a boundary."""
    import torch

    input_ids = torch.tensor([[t for i in ids for t in examples[i][0]]])
    labels = torch.tensor([[t for i in ids for t in examples[i][1]]])
    position_ids = torch.tensor([[p for i in ids for p in range(len(examples[i][0]))]])
    return input_ids, labels, position_ids
