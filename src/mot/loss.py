"""The SFT loss of one micro-batch: next-token cross-entropy summed over its labelled positions (the
response tokens; prompt and padding carry IGNORE). mot.train divides it by the step's token count.

The plain loss makes every position's logits at once. At the paper's 25,000 tokens and Qwen3's
151,936-token vocabulary that is the bf16 logits, their float copy, the log-softmax and its gradient:
about 49 GiB. The chunked loss runs the model for its final hidden states and applies the output
layer to `chunk` labelled positions at a time under checkpoint: a chunk's logits are made, reduced
to one number and freed, and made again in the backward, so at most one chunk's logits exist.
The two agree to rounding (the sums run in another order), not bit for bit.
"""
from __future__ import annotations

from .chat import IGNORE
from .io import MotError


# torch is imported where it is used: the workflow imports mot.train (its TrainSpec) through mot.rounds
# when it plans, and importing torch there cost every `snakemake` start (and every job's under SLURM) 2 s.
def plain_loss(model, inputs: dict, labels):
    import torch.nn.functional as F

    logits = model(**inputs, use_cache=False).logits
    return F.cross_entropy(logits[:, :-1].flatten(0, 1).float(), labels[:, 1:].flatten(), ignore_index=IGNORE,
                           reduction="sum")


def chunked_loss(model, core, inputs: dict, labels, chunk: int, call_module: bool = False):
    """The plain loss, `chunk` labelled positions at a time. `model` runs the forward as prepared
    (DDP, FSDP, DeepSpeed: their hooks run as in training), keeping the logits of one position only;
    `core` is the unwrapped transformers model, whose body's output gives the final hidden states.

    The output layer: under DeepSpeed ZeRO-3 (call_module) its module, whose hooks gather the
    partitioned weight at each call. Elsewhere its weight: under FSDP2 accelerate shards the final
    norm and the output layer as one unit that stays unsharded from the forward to that unit's
    post-backward, after the norm's backward; calling the module per chunk registers FSDP's
    post-backward again, on the chunk, and it reshards the unit before the norm's backward has run
    (on two gloo processes: a segfault)."""
    from torch.utils.checkpoint import checkpoint

    # A hook, not output_hidden_states: accelerate's bf16 forward returns every output tensor in float32.
    hidden = []
    hook = core.base_model.register_forward_hook(lambda module, args, out: hidden.append(out.last_hidden_state))
    try:
        model(**inputs, use_cache=False, logits_to_keep=1)
    finally:
        hook.remove()
    head = core.get_output_embeddings()
    keep = labels[:, 1:] != IGNORE  # position t predicts token t + 1
    h, y = hidden[0][:, :-1][keep], labels[:, 1:][keep]
    fn = _module_chunk if call_module else _weight_chunk
    return sum(checkpoint(fn, head, hc, yc, use_reentrant=False) for hc, yc in zip(h.split(chunk), y.split(chunk)))


def _module_chunk(head, h, y):
    import torch.nn.functional as F

    return F.cross_entropy(head(h).float(), y, reduction="sum")


def _weight_chunk(head, h, y):
    # Read at each call, the recomputation in the backward included: the weight FSDP has gathered then.
    if type(head.weight).__name__ == "DTensor":
        raise MotError("chunked loss: the output layer's weight is sharded outside the model's forward "
                       "(an FSDP wrap that reshards it after the forward); use train.loss_chunk_tokens: 0")
    import torch.nn.functional as F

    return F.cross_entropy(F.linear(h, head.weight, head.bias).float(), y, reduction="sum")
