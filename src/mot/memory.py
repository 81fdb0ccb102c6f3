"""GPU memory per GPU of each GPU job, from a stated model, and the architecture figures it needs.

    train_memory(arch, gpus=8, tokens=25_000, chunk=1024) -> {"weights+optimizer": GiB, ...}
    engine_memory(arch, tp=4, pp=1, max_model_len=34_816, utilization=0.9, gpu_gib=80) -> {...}

`mot plan` prints these figures for every GPU job of a config, and the config check refuses a config
whose job does not fit `resources.gpu_mem_gib` (mot.plan.memory_errors). The model is arithmetic, an
estimate to plan with, not a measurement: benchmarks/gpu_check.sh measures the real peak on a GPU.

Training: full fine-tuning, FSDP full shard (or ZeRO-3) over the job's G GPUs, bf16 compute on float32
master weights with AdamW (mot.train), one sequence of `tokens` per micro-batch, per GPU:
- weights+optimizer: 16 B/param / G (float32 weights 4, float32 gradients 4, AdamW's two moments 8);
- unsharded: what FSDP gathers at once: the root unit (embeddings, head, final norm) for the whole step
  and two decoder layers (the one computing, the one prefetched), each with bf16 parameters (2 B),
  bf16 gradients (2 B) and the float32 copy that is reduce-scattered (4 B): 8 B/param;
- activations: with gradient checkpointing, each layer's bf16 input (2 B x tokens x hidden x layers)
  plus one layer recomputed in backward, with its gradients: 4 B x tokens x (q + k + v widths +
  5 x hidden + 3 x MLP width), where the MLP width of an MoE is its experts per token x their width;
  without checkpointing, every layer's;
- loss: cross-entropy over the vocabulary costs 14 B per position and vocabulary entry (bf16 logits,
  their float32 copy, log-softmax, its gradient): over all `tokens` positions for the plain loss,
  over `chunk` positions for the chunked one (train.loss_chunk_tokens);
- overhead: the CUDA context, NCCL's buffers and the allocator's fragmentation (OVERHEAD_GIB).

vLLM (teachers, evaluation, lm-eval): per GPU, the weights / (TP x PP) at their stored width, the
overhead, and the KV cache of one sequence of max_model_len tokens (2 x layers / PP x KV heads per
GPU x head dim x 2 B per token; DeepSeek's MLA caches one compressed vector per layer instead); vLLM
refuses to start unless gpu_memory_utilization x the GPU holds them. `sequences` is how many
max-length sequences the rest of that share holds (the batch vLLM can keep in flight at full length).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

GIB = 2 ** 30
OVERHEAD_GIB = 4.0  # CUDA context (~0.5), NCCL buffers (~1-2), allocator fragmentation


@dataclass(frozen=True)
class Arch:
    """A model's figures, from its config.json on the hub (and its weights' size)."""
    params: float            # total parameters
    active: float            # parameters per token (an MoE's shared part plus its routed experts)
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int
    mlp_width: int           # the MLP's intermediate width per token (an MoE: experts per token x width)
    tied: bool = False       # input and output embeddings shared
    weight_bytes: float = 2  # bytes per parameter as loaded (bf16: 2; DeepSeek-R1's FP8 release: 1)
    kv_lora: int = 0         # MLA (DeepSeek-V3/R1): the cached latent width per layer (kv_lora_rank + rope dim)
    model_type: str = ""     # config.json's (transformers' modeling module: the layer classes FSDP may wrap)

    @property
    def root_params(self) -> float:
        """Embeddings and head: the parameters outside the decoder layers (norms are negligible)."""
        return self.vocab * self.hidden * (1 if self.tied else 2)

    @property
    def layer_params(self) -> float:
        return (self.params - self.root_params) / self.layers

    def kv_bytes_per_token(self, tp: int = 1, pp: int = 1) -> float:
        """bf16 KV cache of one token on one GPU of a TP x PP engine (KV heads split over TP, at least
        one per GPU; layers over PP)."""
        layers = self.layers / pp
        if self.kv_lora:
            return layers * self.kv_lora * 2
        return 2 * layers * max(1, self.kv_heads // tp) * self.head_dim * 2


# By the last component of the hub id (lower case). Parameters as each model's card states them (active
# for FLOPs, total for bytes), the rest from its config.json.
ARCHS = {
    "qwen3-8b": Arch(8.2e9, 8.2e9, layers=36, hidden=4096, heads=32, kv_heads=8, head_dim=128, vocab=151936,
                     mlp_width=12288, model_type="qwen3"),
    "qwen3-14b": Arch(14.8e9, 14.8e9, layers=40, hidden=5120, heads=40, kv_heads=8, head_dim=128, vocab=151936,
                      mlp_width=17408, model_type="qwen3"),
    "qwen3-30b-a3b": Arch(30.5e9, 3.3e9, layers=48, hidden=2048, heads=32, kv_heads=4, head_dim=128, vocab=151936,
                          mlp_width=8 * 768, model_type="qwen3_moe"),  # 128 experts, 8 per token, 768 wide
    "qwen3-32b": Arch(32.8e9, 32.8e9, layers=64, hidden=5120, heads=64, kv_heads=8, head_dim=128, vocab=151936,
                      mlp_width=25600, model_type="qwen3"),
    "qwq-32b": Arch(32.5e9, 32.5e9, layers=64, hidden=5120, heads=40, kv_heads=8, head_dim=128, vocab=152064,
                    mlp_width=27648, model_type="qwen2"),
    "qwen3-235b-a22b": Arch(235e9, 22e9, layers=94, hidden=4096, heads=64, kv_heads=4, head_dim=128,
                            vocab=151936, mlp_width=8 * 1536,  # 128 experts, 8 per token, 1,536 wide
                            model_type="qwen3_moe"),
    "deepseek-r1": Arch(671e9, 37e9, layers=61, hidden=7168, heads=128, kv_heads=128, head_dim=128, vocab=129280,
                        mlp_width=(8 + 1) * 2048, weight_bytes=1, kv_lora=512 + 64,  # FP8; 256 experts, 8 + 1 shared
                        model_type="deepseek_v3"),
}


def arch_of(model: str | None) -> Arch | None:
    """The figures of a hub id or path: listed here by its last component, else read off its
    config.json (and its weights' shapes, when present): at a local path, or in the Hugging Face
    cache for a hub id (no network: `huggingface-cli download <id> config.json` puts it there). None
    when none of these knows it (a hub id neither listed nor cached; a local model not built yet)."""
    listed = ARCHS.get(str(model or "").rstrip("/").split("/")[-1].lower())
    if listed or not model:
        return listed
    if (Path(model) / "config.json").is_file():
        return arch_from_checkpoint(Path(model))
    cached = cached_config(model)
    return arch_from_checkpoint(cached.parent) if cached else None


def cached_config(model: str) -> Path | None:
    """A hub id's config.json in the Hugging Face cache (HF_HUB_CACHE / HF_HOME), without the network;
    None when it is not there (or `model` is no hub id)."""
    from .models import is_hub_id

    if not is_hub_id(str(model)):
        return None
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(str(model), "config.json")
    except Exception:  # not a valid repo id: not known here
        return None
    return Path(found) if isinstance(found, str) and Path(found).is_file() else None


def count_params(cfg: dict) -> tuple[float, float]:
    """(total, active) parameters of a decoder from its config.json alone, the way transformers builds
    it: embeddings (and an untied head), per layer attention (grouped-query, or DeepSeek's MLA), the MLP
    (dense, or an MoE's experts, router and shared experts: active counts its experts per token) and
    the norms. Biases only where the architecture has them (Qwen2's q, k, v)."""
    cfg = {**cfg, **cfg.get("text_config", {})}
    h, layers, vocab = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["vocab_size"]
    heads = cfg["num_attention_heads"]
    kv = cfg.get("num_key_value_heads") or heads
    if cfg.get("kv_lora_rank"):  # MLA
        nope, rope, v = cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"], cfg["v_head_dim"]
        qr, kvr = cfg.get("q_lora_rank"), cfg["kv_lora_rank"]
        q = h * qr + qr + qr * heads * (nope + rope) if qr else h * heads * (nope + rope)
        attn = q + h * (kvr + rope) + kvr + kvr * heads * (nope + v) + heads * v * h
    else:
        hd = cfg.get("head_dim") or h // heads
        attn = h * hd * (heads + 2 * kv) + heads * hd * h
        if cfg.get("attention_bias") or cfg.get("model_type", "").startswith("qwen2"):
            attn += hd * (heads + 2 * kv)
        if cfg.get("model_type", "").startswith("qwen3"):
            attn += 2 * hd  # q_norm, k_norm
    n_exp = cfg.get("num_experts") or cfg.get("n_routed_experts") or cfg.get("num_local_experts") or 0
    per_token = cfg.get("num_experts_per_tok") or 0
    dense = 3 * h * cfg.get("intermediate_size", 0)
    expert = 3 * h * (cfg.get("moe_intermediate_size") or cfg.get("intermediate_size", 0))
    shared = 3 * h * ((cfg.get("n_shared_experts") or 0) * (cfg.get("moe_intermediate_size") or 0)
                      + (cfg.get("shared_expert_intermediate_size") or 0))
    shared += h if cfg.get("shared_expert_intermediate_size") else 0  # Qwen2-MoE's shared expert gate
    router = h * n_exp + (n_exp if cfg.get("topk_method") == "noaux_tc" else 0)  # DeepSeek-V3's score bias

    def is_moe(i):
        if not n_exp or i in (cfg.get("mlp_only_layers") or []) or i < (cfg.get("first_k_dense_replace") or 0):
            return False
        return (i + 1) % (cfg.get("decoder_sparse_step") or 1) == 0 if "decoder_sparse_step" in cfg \
            else i % (cfg.get("moe_layer_freq") or 1) == 0

    total = active = float(vocab * h * (1 if cfg.get("tie_word_embeddings") else 2) + h)  # and the final norm
    for i in range(layers):
        mlp = (n_exp * expert, per_token * expert) if is_moe(i) else (dense, dense)
        extra = attn + 2 * h + ((router + shared) if is_moe(i) else 0)
        total += extra + mlp[0]
        active += extra + mlp[1]
    return total, active


def arch_from_checkpoint(path: Path) -> Arch | None:
    """A local checkpoint's figures: parameters counted from its safetensors headers (an MoE's active
    share from its expert tensors and experts per token), the rest from config.json (the hub's
    layout or this transformers')."""
    import math

    from .checkpoints import Checkpoint

    from .readers import read_json

    cfg = read_json(path / "config.json", "model config", {"type": "object"})
    cfg = {**cfg, **(cfg.get("text_config") or {})}
    n_exp = cfg.get("num_experts") or cfg.get("n_routed_experts") or 0
    per_token = cfg.get("num_experts_per_tok") or 0
    try:
        tensors = Checkpoint.open(path).tensors
    except Exception:  # no weights (a hub snapshot of its config.json alone): counted from the config
        tensors = None
    if tensors:
        sizes = {name: math.prod(shape) for name, (_, _, shape, _) in tensors.items()}
        total = float(sum(sizes.values()))
        experts = sum(n for name, n in sizes.items() if ".experts." in name)
        active = total - experts + (experts * per_token / n_exp if n_exp else experts)
    else:
        try:
            total, active = count_params(cfg)
        except (KeyError, TypeError):  # not a decoder's config that count_params knows
            return None
    heads = cfg["num_attention_heads"]
    head_dim = cfg.get("head_dim") or cfg.get("v_head_dim") or cfg["hidden_size"] // heads
    mlp = per_token * (cfg.get("moe_intermediate_size") or 0) if n_exp else cfg.get("intermediate_size", 0)
    dtype = {"F32": 4, "F16": 2, "BF16": 2, "F8_E4M3": 1}.get(next(iter(tensors.values()))[1], 2) if tensors else 2
    return Arch(total, active, layers=cfg["num_hidden_layers"], hidden=cfg["hidden_size"], heads=heads,
                kv_heads=cfg.get("num_key_value_heads", heads), head_dim=head_dim, vocab=cfg["vocab_size"],
                mlp_width=mlp, tied=bool(cfg.get("tie_word_embeddings")), weight_bytes=dtype,
                kv_lora=(cfg.get("kv_lora_rank") or 0) + (cfg.get("qk_rope_head_dim") or 0),
                model_type=str(cfg.get("model_type", "")))


def train_memory(a: Arch, gpus: int, tokens: int, chunk: int = 0, checkpointing: bool = True) -> dict:
    """GiB per GPU of one training job (see the module docstring); chunk 0: the plain loss."""
    per_layer_act = 4 * tokens * ((a.heads + 2 * a.kv_heads) * a.head_dim + 5 * a.hidden + 3 * a.mlp_width)
    saved = 2 * tokens * a.hidden * a.layers if checkpointing else per_layer_act / 2 * a.layers
    parts = {
        "weights+optimizer": 16 * a.params / gpus,
        "unsharded": 8 * (a.root_params + 2 * a.layer_params),
        "activations": saved + per_layer_act,
        "loss": 14 * (min(chunk, tokens) if chunk else tokens) * a.vocab,
    }
    out = {k: v / GIB for k, v in parts.items()}
    out["overhead"] = OVERHEAD_GIB
    out["total"] = sum(out.values())
    return out


def engine_memory(a: Arch, tp: int, pp: int, max_model_len: int, utilization: float, gpu_gib: float) -> dict:
    """GiB per GPU of one vLLM engine, and how many max-length sequences its KV cache holds."""
    weights = a.params * a.weight_bytes / (tp * pp) / GIB
    kv = a.kv_bytes_per_token(tp, pp) * max_model_len / GIB
    share = utilization * gpu_gib
    return {"weights": weights, "kv_cache": kv, "overhead": OVERHEAD_GIB, "total": weights + kv + OVERHEAD_GIB,
            "limit": share, "sequences": max(0.0, (share - weights - OVERHEAD_GIB) / kv) if kv else 0.0}


def job_memory(config: dict) -> list[dict]:
    """Every kind of GPU job of a config with its memory per GPU: {"job", "key" (the config key that
    shapes it), "model", "gpus", "shape" (a short description), "parts" (GiB), "total", "limit"}.
    A model without figures (not in ARCHS) is listed with parts None."""
    from .grid import student_teacher_pairs

    gpu_gib = config["resources"]["gpu_mem_gib"]
    tr = config["train"]
    out = []

    def engine(job, key, model, p, max_tokens):
        from .backends import layout

        tp, pp, _ = layout("vllm", p)
        e = {**p.get("engine", {}), **{k: v for k, v in p.items() if k in ("max_model_len", "gpu_memory_utilization")}}
        length, util = e.get("max_model_len") or max_tokens, e.get("gpu_memory_utilization", 0.9)  # vLLM's default
        a = arch_of(model)
        parts = engine_memory(a, tp, pp, length, util, gpu_gib) if a else None
        out.append({"job": job, "key": key, "model": model, "gpus": tp * pp,
                    "shape": f"vLLM TP {tp} x PP {pp}, max_model_len {length:,}, {util:.0%} of the GPU",
                    "parts": parts, "total": parts and parts["total"], "limit": parts and parts["limit"]})

    if tr.get("bf16"):  # bf16 training is GPU training (mot.plan.student_gpus)
        for name, s in config["students"].items():
            gpus = s["launch"]["processes"]
            tokens = tr["micro_batch_size"] * tr["max_length"]
            chunk = tr["loss_chunk_tokens"]
            a = arch_of(s.get("path")) if s["init"] == "pretrained" else None
            parts = train_memory(a, gpus, tokens, chunk, tr["gradient_checkpointing"]) if a else None
            out.append({"job": f"training of {name}", "key": f"students.{name}.launch", "model": s.get("path"),
                        "gpus": gpus, "shape": f"{gpus} GPUs, {tokens:,} tokens per micro-batch, "
                        + (f"loss in chunks of {chunk:,}" if chunk else "plain loss"),
                        "parts": parts, "total": parts and parts["total"], "limit": gpu_gib})
    max_tokens = config["sampling"]["max_tokens"]
    for name, t in config["teachers"].items():
        if t["backend"] == "vllm":
            engine(f"sampling of teacher {name}", f"teachers.{name}.params", t["params"]["model"], t["params"],
                   max_tokens)
    for i, pair in enumerate(student_teacher_pairs(config)):
        if pair["backend"] == "vllm":
            model = config["students"][pair["teacher"]].get("path")
            engine(f"sampling of Table 9's teacher {pair['teacher']}", f"analyses.student_teacher.{i}.params", model,
                   pair["params"], {**config["sampling"], **pair["sampling"]}["max_tokens"])
    ev, general = config["eval"], config.get("general") or {}
    for name, s in config["students"].items():
        if ev["backend"] == "vllm":
            engine(f"evaluation of {name}", "eval.params", s.get("path"), ev["params"], ev["max_tokens"])
        if general.get("backend") == "vllm":
            gen = (general.get("gen_kwargs") or {}).get("max_gen_toks", ev["max_tokens"])
            engine(f"general benchmarks of {name}", "general.model_args", s.get("path"), general["model_args"], gen)
    return out


def memory_error(config: dict) -> str | None:
    """The first GPU job whose memory per GPU exceeds its limit, in one line with the figures; or the
    first whose model is a hub id of unknown size (neither listed in ARCHS nor cached): its memory
    would go unchecked, and `mot plan` would give its jobs the floor's time limit. A local model a
    rule builds (the rehearsal's) is sized once it exists."""
    from .models import is_hub_id

    for j in job_memory(config):
        if not j["parts"] and is_hub_id(str(j["model"] or "")) and not Path(str(j["model"])).exists():
            key = f"{j['key'].rsplit('.', 1)[0]}.path" if j["job"].startswith("training") else j["key"]
            return (f"{key}: the {j['job']} runs {j['model']}, whose size mot does not know (not listed in "
                    f"mot.memory.ARCHS, no config.json in the Hugging Face cache): fetch its config with "
                    f"`huggingface-cli download {j['model']} config.json` (no weights), then check again")
        if j["parts"] and j["total"] > j["limit"]:
            figures = ", ".join(f"{k} {v:.1f}" for k, v in j["parts"].items() if k not in ("total", "limit", "sequences"))
            fix = ("chunk the loss (train.loss_chunk_tokens) or spread it over more GPUs (launch.processes, nodes)"
                   if j["job"].startswith("training") else
                   "raise tensor_parallel_size or pipeline_parallel_size, or lower max_model_len")
            return (f"{j['key']}: the {j['job']} ({j['model']}; {j['shape']}) needs {j['total']:.1f} GiB per GPU "
                    f"({figures}), more than {j['limit']:.1f} GiB (resources.gpu_mem_gib "
                    f"{config['resources']['gpu_mem_gib']:g}; mot.memory's model): {fix}")
    return None


def render_memory(memory: list[dict], gpu_gib: float) -> list[str]:
    """Each kind of GPU job's memory per GPU, by mot.memory's model, against resources.gpu_mem_gib."""
    if not memory:
        return []
    out = ["## GPU memory per GPU", "",
           f"mot.memory's model (its docstring states it), in GiB per GPU, against resources.gpu_mem_gib = {gpu_gib:g} "
           "(a vLLM engine: against its gpu_memory_utilization share; `sequences`: how many max-length sequences "
           "the rest of that share holds). The config check refuses a job over its limit.", "",
           "| job | model | shape | per GPU (GiB) | limit | fits |", "|---|---|---|---|---|---|"]
    for j in memory:
        if not j["parts"]:
            out.append(f"| {j['job']} | {j['model']} | {j['shape']} | unknown (no figures for this model) | | |")
            continue
        parts = " + ".join(f"{k} {v:.1f}" for k, v in j["parts"].items() if k not in ("total", "limit", "sequences"))
        seqs = f"; sequences {j['parts']['sequences']:.1f}" if "sequences" in j["parts"] else ""
        out.append(f"| {j['job']} | {j['model']} | {j['shape']} | {parts} = **{j['total']:.1f}**{seqs} "
                   f"| {j['limit']:.1f} | {'yes' if j['total'] <= j['limit'] else '**no**'} |")
    return out
