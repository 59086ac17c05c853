"""Frozen projections and LoRA on any of them (main/engine/model/lora.ts): y = W·x (+ b) + scale · B·A·dropout(x),
scale = alpha / r (alpha / √r with rsLoRA). A [r, in] and B [out, r] are kept in PEFT's layout and named by PEFT's keys,
so an adapter saves as PEFT writes it. Dropout masks are drawn from a generator seeded by (seed, step, micro-batch,
layer, projection): a resumed run draws the masks an uninterrupted one drew, and a recomputed layer (gradient
checkpointing) the same masks as its forward. They are not tfjs's masks: with dropout on, a cluster run and a local
run agree in distribution, not bit for bit.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn

from .model_config import PROJECTIONS, projection_path
from .prng import Prng, mix_seeds, uniform_init


class FrozenLinear(nn.Module):
    """A frozen projection held in its storage dtype (f32, bf16, f16), cast to the compute dtype per use off autocast."""

    def __init__(self, weight, bias=None):
        super().__init__()
        self.register_buffer("weight", weight)  # [out, in]
        self.register_buffer("bias", bias)  # [out] f32, or None

    def forward(self, x, ctx=None):
        w = self.weight
        if not torch.is_autocast_enabled() and w.dtype != x.dtype:
            w = w.to(x.dtype)
        y = F.linear(x, w)
        return y if self.bias is None else y + self.bias


class LoraLinear(nn.Module):
    def __init__(self, base, layer, name, r, alpha, dropout, use_rslora, a_init, out_features):
        super().__init__()
        self.base = base
        self.layer = layer
        self.name = name
        self.key = peft_key(layer, name)
        self.lora_A = nn.Parameter(a_init)  # [r, in]
        self.lora_B = nn.Parameter(torch.zeros(out_features, r, device=a_init.device))  # [out, r]: the adapter starts as a no-op
        self.scale = alpha / math.sqrt(r) if use_rslora else alpha / r
        self.dropout = dropout
        self.projection_index = PROJECTIONS.index(name)

    def forward(self, x, ctx):
        y = self.base(x, ctx)
        if ctx is not None and ctx.training and self.dropout > 0:
            seed, step, micro = ctx.dropout_draw
            g = torch.Generator(device=x.device)
            g.manual_seed(mix_seeds(seed, step, micro, self.layer, self.projection_index))
            keep = torch.rand(x.shape, generator=g, device=x.device) >= self.dropout
            x = x * keep / (1.0 - self.dropout)
        return y + ((x @ self.lora_A.t().to(x.dtype)) @ self.lora_B.t().to(x.dtype)) * self.scale


def peft_key(layer, name):
    """`base_model.model.model.layers.0.self_attn.q_proj`, the prefix of PEFT's lora_A/lora_B names."""
    return f"base_model.model.{projection_path(layer, name)}"


def initial_adapter(config, targets, r, seed):
    """lora-init.ts: A ~ U(±1/√in) drawn from Prng(seed) module by module (layers in order, projections in PROJECTIONS
    order), B = 0. The same seed gives the local trainer's initial adapter bit for bit."""
    prng = Prng(seed)
    out = {}
    for l in range(config.num_layers):
        for name in PROJECTIONS:
            if name in targets:
                _, inf = config.projection_shape(name)
                out[(l, name)] = uniform_init(prng, r, inf)
    return out


def lora_modules(model):
    return [m for m in model.modules() if isinstance(m, LoraLinear)]


def lora_parameters(model):
    """Every LoRA parameter in the local trainer's variable order: module by module, A then B."""
    return [p for m in lora_modules(model) for p in (m.lora_A, m.lora_B)]


def adapter_tensors(model):
    """{PEFT tensor name: f32 CPU tensor} of the adapter as it stands."""
    out = {}
    for m in lora_modules(model):
        out[f"{m.key}.lora_A.weight"] = m.lora_A.detach().float().cpu().contiguous()
        out[f"{m.key}.lora_B.weight"] = m.lora_B.detach().float().cpu().contiguous()
    return out


def adapter_config(base_model, r, alpha, dropout, targets, use_rslora):
    """adapter_config.json as PEFT writes it (and peft-adapter.ts's makeAdapterConfig, field for field)."""
    return {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "base_model_name_or_path": base_model,
        "r": r,
        "lora_alpha": alpha,
        "lora_dropout": dropout,
        "target_modules": list(targets),
        "bias": "none",
        "fan_in_fan_out": False,
        "use_rslora": use_rslora,
        "use_dora": False,
        "init_lora_weights": True,
        "modules_to_save": None,
        "inference_mode": True,
    }
