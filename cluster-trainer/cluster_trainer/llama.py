"""The LLaMA / Mistral / Qwen2 forward pass, computed as main/engine/model/llama.ts computes it, so a cluster run and a
local run of the same settings give the same losses: RMSNorm, rotate-half RoPE at positions 0..T-1 (left padding
shifts every row's positions by a constant; RoPE only sees differences), grouped-query attention whose masked scores
are *replaced* by -1e9 (a padding row that sees no key attends uniformly, as transformers' eager attention does),
SwiGLU, a tied or separate lm_head. The residual stream stays f32; on a GPU with bf16 the matmuls run under autocast.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint as recompute

from .model_config import PROJECTIONS, rope_inverse_frequencies

MASKED = -1e9  # exp(MASKED - max) is 0 in f32, and a row with every key masked stays finite


def rms_norm(x, weight, eps):
    # x / sqrt(mean(x²) + eps) · w, in f32 whatever the autocast (as LLaMA's reference does)
    x = x.float()
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * weight


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class Rope:
    """cos/sin tables [T, D] in HF's rotate-half layout, rounded as rope.ts rounds them: the angle is an f32 product of
    the f32 inverse frequency and the f32 position, its cos and sin taken in f64 and stored as f32."""

    def __init__(self, config):
        self.inv = torch.tensor(rope_inverse_frequencies(config), dtype=torch.float64).to(torch.float32)
        s = config.rope_scaling
        self.position_scale = 1.0 / s["factor"] if s["kind"] == "linear" else 1.0
        self._cache = {}

    def tables(self, T, device):
        # Row p depends on p alone: the longest table made so far serves every shorter batch as a slice.
        cos, sin = self._cache.get(str(device), (None, None))
        if cos is None or cos.shape[0] < T:
            pos = (torch.arange(T, dtype=torch.float64) * self.position_scale).to(torch.float32)
            angle = pos[:, None] * self.inv[None, :]  # [T, D/2], f32 multiply
            c, s = angle.double().cos().float(), angle.double().sin().float()
            cos, sin = torch.cat((c, c), -1).to(device), torch.cat((s, s), -1).to(device)
            self._cache[str(device)] = (cos, sin)
        return cos[:T], sin[:T]


class ForwardContext:
    """What a forward pass needs besides the tokens: training or not, and where its dropout masks are drawn."""

    def __init__(self, training=False, dropout_draw=None):
        self.training = training
        self.dropout_draw = dropout_draw  # (seed, step, micro-batch) or None


class DecoderLayer(nn.Module):
    def __init__(self, config, projections, input_norm, post_norm, attention):
        super().__init__()
        self.c = config
        self.proj = nn.ModuleDict(projections)  # name -> FrozenLinear or LoraLinear
        self.register_buffer("input_norm", input_norm)
        self.register_buffer("post_norm", post_norm)
        self.attention = attention

    def forward(self, h, rope, keep, ctx):
        c = self.c
        B, T, _ = h.shape
        x = rms_norm(h, self.input_norm, c.rms_norm_eps)
        cos, sin = rope
        q = self.proj["q_proj"](x, ctx).view(B, T, c.num_heads, c.head_dim).transpose(1, 2)  # [B, nH, T, D]
        k = self.proj["k_proj"](x, ctx).view(B, T, c.num_kv_heads, c.head_dim).transpose(1, 2)  # [B, nKV, T, D]
        v = self.proj["v_proj"](x, ctx).view(B, T, c.num_kv_heads, c.head_dim).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        o = self.attention(q, k, v, keep, c)  # [B, nH, T, D]
        o = o.transpose(1, 2).reshape(B, T, c.num_heads * c.head_dim)
        h = h + self.proj["o_proj"](o, ctx)
        y = rms_norm(h, self.post_norm, c.rms_norm_eps)
        gate = self.proj["gate_proj"](y, ctx)
        up = self.proj["up_proj"](y, ctx)
        return h + self.proj["down_proj"](F.silu(gate) * up, ctx)


def eager_attention(q, k, v, keep, c):
    """Causal GQA without copying K and V per query head: the rep query heads of a KV head are stacked along time.
    q [B, nH, T, D], k and v [B, nKV, T, D], keep [B, T, T] (query i may see key j) -> [B, nH, T, D]."""
    B, nH, T, D = q.shape
    nKV = k.shape[1]
    rep = nH // nKV
    qg = q.reshape(B, nKV, rep * T, D)  # query head g·rep + j sits in group g, rows j·T … j·T+T-1
    scores = (qg @ k.transpose(-1, -2)) * (1.0 / math.sqrt(c.head_dim))  # [B, nKV, rep·T, T]
    scores = scores.view(B, nKV, rep, T, T).masked_fill(~keep[:, None, None], MASKED)
    probs = scores.softmax(-1).view(B, nKV, rep * T, T)
    return (probs.to(v.dtype) @ v).view(B, nH, T, D)


def sdpa_attention(q, k, v, keep, c):
    """PyTorch ≥ 2.0's fused attention (GPUs). A row that sees no key (a padding query) is let see every key, as
    transformers' sdpa path does, instead of attending uniformly: only the one label a padded row carries after its
    padding (its first token, when train_on_inputs is on) can tell the difference."""
    rep = q.shape[1] // k.shape[1]
    if rep > 1:
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
    mask = keep | ~keep.any(-1, keepdim=True)
    return F.scaled_dot_product_attention(q, k.to(q.dtype), v.to(q.dtype), attn_mask=mask[:, None])


class Llama(nn.Module):
    def __init__(self, config, embed, layers, norm, lm_head, gradient_checkpointing=False):
        super().__init__()
        self.c = config
        self.register_buffer("embed", embed)  # [V, H], frozen
        self.layers = nn.ModuleList(layers)
        self.register_buffer("norm", norm)
        self.register_buffer("lm_head", lm_head)  # None when tied: the embedding itself serves (never a copy)
        self.rope = Rope(config)
        self.gradient_checkpointing = gradient_checkpointing

    def forward(self, input_ids, attention_mask, ctx):
        """input_ids [B, T], attention_mask [B, T] (True on real tokens) -> logits [B, T, V] (f32)."""
        B, T = input_ids.shape
        rope = self.rope.tables(T, input_ids.device)
        causal = torch.ones((T, T), dtype=torch.bool, device=input_ids.device).tril()
        keep = causal[None] & attention_mask[:, None, :]  # [B, T, T]
        h = F.embedding(input_ids, self.embed).float()  # [B, T, H]
        for layer in self.layers:
            if self.gradient_checkpointing and torch.is_grad_enabled():
                # Keep only the layer's input; its dropout masks are seeded by position, so the recompute draws them again.
                h = recompute(layer, h, rope, keep, ctx, use_reentrant=False)
            else:
                h = layer(h, rope, keep, ctx)
        h = rms_norm(h, self.norm, self.c.rms_norm_eps)
        head = self.embed if self.lm_head is None else self.lm_head
        return F.linear(h, head if torch.is_autocast_enabled() else head.to(h.dtype)).float()


def loss_sum(logits, labels, ignore_index):
    """Σ over labelled positions of −log softmax(logits)[next label]: position t predicts label t+1."""
    V = logits.shape[-1]
    return F.cross_entropy(logits[:, :-1].reshape(-1, V), labels[:, 1:].reshape(-1), ignore_index=ignore_index, reduction="sum")


def projection_index(name):
    return PROJECTIONS.index(name)
