"""The frozen base and its LoRA modules, built from the cluster's copy of the checkpoint.

How the frozen projections are held (base_dtype): f32, bf16 or f16 as dense tensors (auto keeps the checkpoint's own
dtype), or int8 / nf4 through bitsandbytes; each either whole on every rank (DDP) or 1/world of the rows per rank
(FSDP, sharded_base.py). Norms and biases are f32. Embeddings and lm_head stay in the checkpoint's 16-bit dtype under
int8/nf4 (bf16 for an f32 checkpoint), as bitsandbytes leaves lm_head unquantized and the local trainer holds them.
"""
import torch

from .errors import TrainerError
from .llama import DecoderLayer, Llama, eager_attention, sdpa_attention
from .lora import FrozenLinear, LoraLinear, initial_adapter
from .model_config import PROJECTIONS, projection_path
from .quantized import QuantizedLinear, require_bitsandbytes
from .sharded_base import ShardedLinear

TORCH_DTYPES = {"f32": torch.float32, "bf16": torch.bfloat16, "f16": torch.float16}


def resolve_base_dtype(asked, checkpoint_dtype):
    """base_dtype auto keeps the checkpoint as stored (the cluster chooses its parallelism, not a smaller base)."""
    return checkpoint_dtype if asked in (None, "auto") else asked


def build_model(config, ckpt, lora, storage, world, sharded, gradient_checkpointing, attention, compute_dtype, log):
    """lora: {r, alpha, dropout, use_rslora, targets, seed}. Returns the Llama module on world.device."""
    device = world.device
    quantized = storage in ("int8", "nf4")
    bnb = require_bitsandbytes(storage) if quantized else None
    if quantized and sharded:
        raise TrainerError(f"a {storage} base is not sharded across ranks; use --parallel ddp (each rank holds the whole {storage} base)")
    native = ckpt.storage_dtype()
    head_dtype = TORCH_DTYPES[(native if native != "f32" else "bf16") if quantized else storage]
    held = TORCH_DTYPES.get(storage, torch.float32)
    init = initial_adapter(config, lora["targets"], lora["r"], lora["seed"])
    attend = sdpa_attention if attention == "sdpa" else eager_attention

    def frozen(name, rows_dtype):
        return ckpt.tensor(name).to(rows_dtype)

    layers = []
    for l in range(config.num_layers):
        projections = {}
        for p in PROJECTIONS:
            path = projection_path(l, p)
            out_features, _ = config.projection_shape(p)
            bias = None
            if p in config.biased:
                bias = ckpt.tensor(f"{path}.bias").float().to(device)
            if quantized:
                base = QuantizedLinear(bnb, frozen(f"{path}.weight", torch.float32), bias, storage, device, compute_dtype or torch.bfloat16)
            elif sharded:
                base = ShardedLinear(frozen(f"{path}.weight", held), bias, world.rank, world.size).to(device)
            else:
                base = FrozenLinear(frozen(f"{path}.weight", held).to(device), bias)
            if p in lora["targets"]:
                base = LoraLinear(base, l, p, lora["r"], lora["alpha"], lora["dropout"], lora["use_rslora"], init[(l, p)].to(device), out_features)
            projections[p] = base
        norm_in = ckpt.tensor(f"model.layers.{l}.input_layernorm.weight").float().to(device)
        norm_post = ckpt.tensor(f"model.layers.{l}.post_attention_layernorm.weight").float().to(device)
        layers.append(DecoderLayer(config, projections, norm_in, norm_post, attend))
        if (l + 1) % max(1, config.num_layers // 4) == 0:
            log(f"loaded layer {l + 1}/{config.num_layers}")
    embed = ckpt.tensor("model.embed_tokens.weight").to(head_dtype).to(device)
    lm_head = None if config.tie_word_embeddings else ckpt.tensor("lm_head.weight").to(head_dtype).to(device)
    norm = ckpt.tensor("model.norm.weight").float().to(device)
    # LoRA's A and B are the only trainable parameters: the dense base is held in buffers, bitsandbytes' in frozen ones
    return Llama(config, embed, layers, norm, lm_head, gradient_checkpointing)
