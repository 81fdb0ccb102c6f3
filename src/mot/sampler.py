"""The hf backend's sampling loop: transformers' own sampling, token for token, that stops computing
a row once it has ended.

`model.generate` runs every row of a batch until the last one ends: a batch of 64 whose longest
sample runs to max_tokens costs 64 rows x max_tokens steps, however short the others are. A
student that sometimes loops until the cut-off (the default's SYN-BOBA runs do) spends most of its
evaluation on rows that have already ended (benchmarks/sample_speed.py: 1.1x to 7.5x faster here).
This loop drops a row from the batch, and from the KV cache, as it ends.

It draws the same random numbers as `generate` and gives the same tokens. `generate` samples
with `torch.multinomial(probs, 1)`, which, for one sample, is `argmax(probs / q)` with `q` an
exponential draw of the whole batch's shape (PyTorch's fast path). This loop draws `q` for the
whole original batch at every step, as `generate` does, and uses the rows still running. Its
logits warpers are transformers' own, in `generate`'s order (temperature, top-k, top-p, min-p).
tests/test_generate.py checks the tokens against `generate` on CPU; a transformers or torch that
changed either would fail there.

The settings are the protocol's alone (temperature, top_p, top_k, min_p, max_tokens), as mot's vLLM
backend builds its SamplingParams: a processor that the model's generation_config.json would add to
`generate` (a repetition penalty, say) is not applied. Its end tokens are the generation config's.
"""
from __future__ import annotations


def warpers(temperature: float, top_p: float | None = None, top_k: int | None = None, min_p: float | None = None):
    """transformers' logits warpers for these settings, in the order `generate` applies them
    (GenerationMixin._get_logits_processor; one token kept at least, as without beams)."""
    from transformers import (LogitsProcessorList, MinPLogitsWarper, TemperatureLogitsWarper, TopKLogitsWarper,
                              TopPLogitsWarper)

    out = LogitsProcessorList()
    if temperature != 1.0:
        out.append(TemperatureLogitsWarper(temperature))
    if top_k:  # 0 or None: no top-k cut
        out.append(TopKLogitsWarper(top_k=top_k, min_tokens_to_keep=1))
    if top_p is not None and top_p < 1.0:
        out.append(TopPLogitsWarper(top_p=top_p, min_tokens_to_keep=1))
    if min_p is not None:
        out.append(MinPLogitsWarper(min_p=min_p, min_tokens_to_keep=1))
    return out


def sample_ids(model, input_ids, attention_mask, n: int, max_new_tokens: int, eos: set[int],
               temperature: float, top_p: float | None = None, top_k: int | None = None,
               min_p: float | None = None) -> list[list[int]]:
    """The new token ids of each of the n samples of each (left-padded) prompt, rows in
    `generate`'s order (prompt by prompt, n each); a row that ended has its end token last. The
    random stream is torch's global one, as `generate`'s: seed it first."""
    import torch
    from transformers import DynamicCache

    ids = input_ids.repeat_interleave(n, dim=0)  # as generate's num_return_sequences
    mask = attention_mask.repeat_interleave(n, dim=0)
    rows, device = ids.shape[0], ids.device
    greedy = temperature == 0
    warp = None if greedy else warpers(temperature, top_p, top_k, min_p)
    ends = torch.tensor(sorted(eos), device=device)
    cache = DynamicCache(config=model.config)
    running = torch.arange(rows, device=device)  # each batch row's row in the output
    out: list[list[int]] = [[] for _ in range(rows)]
    step_ids = ids
    with torch.no_grad():
        for step in range(max_new_tokens):
            logits = model(input_ids=step_ids, past_key_values=cache, attention_mask=mask,
                           use_cache=True).logits[:, -1].to(dtype=torch.float32)
            if greedy:
                tokens = logits.argmax(-1)
            else:
                probs = torch.softmax(warp(step_ids, logits), dim=-1)
                q = torch.empty((rows, probs.shape[-1]), dtype=probs.dtype, device=device).exponential_(1)
                tokens = (probs / q[running]).argmax(-1)
            for row, token in zip(running.tolist(), tokens.tolist()):
                out[row].append(token)
            going = (~torch.isin(tokens, ends)).nonzero().squeeze(1)
            if going.numel() == 0 or step == max_new_tokens - 1:
                break
            if going.numel() < running.numel():  # drop the rows that ended, and their cache
                cache.batch_select_indices(going)
                running, tokens, mask = running[going], tokens[going], mask[going]
            mask = torch.cat([mask, mask.new_ones((mask.shape[0], 1))], dim=1)
            step_ids = tokens[:, None]
    return out
