"""A Hugging Face config.json read as the engine reads it (main/engine/llama/config.ts): LLaMA, Mistral and Qwen2
(grouped-query attention, head_dim, rope_theta, linear or Llama-3 rope_scaling, tied embeddings, attention biases)."""
import json
import math
import os
from dataclasses import dataclass, field

from .errors import TrainerError

PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
MLP = ("gate_proj", "up_proj", "down_proj")
DEFAULT_MAX_POSITIONS = 2048


@dataclass
class LlamaConfig:
    model_type: str
    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    vocab_size: int
    max_positions: int
    rms_norm_eps: float
    rope_theta: float
    rope_scaling: dict  # {"kind": "none" | "linear" | "llama3", ...}
    tie_word_embeddings: bool
    # The projections with a bias: q/k/v for Qwen2; q/k/v/o for a LLaMA whose config.json says attention_bias (as
    # HF's LlamaAttention builds them); none otherwise.
    biased: tuple
    raw: dict = field(repr=False)

    def projection_shape(self, name):
        """[out, in] of a projection."""
        h, f = self.hidden_size, self.intermediate_size
        q, kv = self.num_heads * self.head_dim, self.num_kv_heads * self.head_dim
        return {"q_proj": (q, h), "k_proj": (kv, h), "v_proj": (kv, h), "o_proj": (h, q), "gate_proj": (f, h), "up_proj": (f, h), "down_proj": (h, f)}[name]

    def parameter_count(self):
        n = self.vocab_size * self.hidden_size * (1 if self.tie_word_embeddings else 2)
        n += (2 * self.num_layers + 1) * self.hidden_size
        for p in PROJECTIONS:
            out, inf = self.projection_shape(p)
            n += self.num_layers * out * inf
            if p in self.biased:
                n += self.num_layers * out
        return n


def projection_path(layer, name):
    return f"model.layers.{layer}.{'mlp' if name in MLP else 'self_attn'}.{name}"


def parse_config(raw, where="config.json"):
    def need(key):
        v = raw.get(key)
        if not (isinstance(v, int) and not isinstance(v, bool) and v > 0):
            raise TrainerError(f"{where}: {key} must be a positive integer, not {v!r}")
        return v

    hidden, heads = need("hidden_size"), need("num_attention_heads")
    kv = raw.get("num_key_value_heads") or heads
    if heads % kv:
        raise TrainerError(f"{where}: num_key_value_heads ({kv}) does not divide num_attention_heads ({heads})")
    head_dim = raw.get("head_dim")
    if head_dim is None:
        if hidden % heads:
            raise TrainerError(f"{where}: hidden_size ({hidden}) is not a multiple of num_attention_heads ({heads}) and no head_dim is given")
        head_dim = hidden // heads
    if head_dim % 2:
        raise TrainerError(f"{where}: head_dim ({head_dim}) must be even for RoPE")
    act = raw.get("hidden_act")
    if act and act not in ("silu", "swish"):
        raise TrainerError(f'{where}: hidden_act "{act}" is not supported (LLaMA-family models use silu)')
    model_type = raw.get("model_type") or "llama"
    bias = raw.get("attention_bias")
    return LlamaConfig(
        model_type=model_type,
        hidden_size=hidden,
        intermediate_size=need("intermediate_size"),
        num_layers=need("num_hidden_layers"),
        num_heads=heads,
        num_kv_heads=kv,
        head_dim=head_dim,
        vocab_size=need("vocab_size"),
        max_positions=raw.get("max_position_embeddings") or DEFAULT_MAX_POSITIONS,
        rms_norm_eps=float(raw.get("rms_norm_eps", 1e-6)),
        rope_theta=float(raw.get("rope_theta", 10000.0)),
        rope_scaling=_rope_scaling(raw.get("rope_scaling"), where),
        tie_word_embeddings=bool(raw.get("tie_word_embeddings", False)),
        biased=("q_proj", "k_proj", "v_proj") if model_type == "qwen2" else ("q_proj", "k_proj", "v_proj", "o_proj") if bias else (),
        raw=raw,
    )


def _rope_scaling(s, where):
    if not s:
        return {"kind": "none"}
    kind = s.get("rope_type") or s.get("type") or "default"
    if kind == "default":
        return {"kind": "none"}
    if s.get("factor") is None:
        raise TrainerError(f"{where}: rope_scaling ({kind}) needs a factor")
    if kind == "linear":
        return {"kind": "linear", "factor": float(s["factor"])}
    if kind == "llama3":
        for k in ("low_freq_factor", "high_freq_factor", "original_max_position_embeddings"):
            if s.get(k) is None:
                raise TrainerError(f"{where}: rope_scaling (llama3) needs low_freq_factor, high_freq_factor and original_max_position_embeddings")
        return {
            "kind": "llama3",
            "factor": float(s["factor"]),
            "low": float(s["low_freq_factor"]),
            "high": float(s["high_freq_factor"]),
            "original": float(s["original_max_position_embeddings"]),
        }
    raise TrainerError(f'{where}: rope_scaling type "{kind}" is not supported (supported: linear, llama3)')


def load_config(model_dir):
    file = os.path.join(model_dir, "config.json")
    try:
        with open(file, encoding="utf-8") as f:
            raw = json.load(f)
    except OSError as e:
        raise TrainerError(f"{file}: cannot read ({e.strerror})")
    except ValueError as e:
        raise TrainerError(f"{file}: not valid JSON ({e})")
    return parse_config(raw, file)


def rope_inverse_frequencies(c):
    """θ_i = base^(-2i/d), with Llama-3's frequency-dependent scaling, in float64 (rope-frequencies.ts)."""
    half = c.head_dim // 2
    inv = [1.0 / math.pow(c.rope_theta, (2 * i) / c.head_dim) for i in range(half)]
    s = c.rope_scaling
    if s["kind"] == "llama3":
        low_wavelen = s["original"] / s["low"]
        high_wavelen = s["original"] / s["high"]
        for i in range(half):
            wavelen = 2 * math.pi / inv[i]
            if wavelen > low_wavelen:
                inv[i] = inv[i] / s["factor"]
            elif wavelen >= high_wavelen:
                smooth = (s["original"] / wavelen - s["low"]) / (s["high"] - s["low"])
                inv[i] = (1 - smooth) * (inv[i] / s["factor"]) + smooth * inv[i]
    return inv


# The fields that make two config.json files the same architecture: a cluster base must match the bundle's.
SHAPE_FIELDS = ("hidden_size", "intermediate_size", "num_layers", "num_heads", "num_kv_heads", "head_dim", "vocab_size", "tie_word_embeddings", "biased", "rope_theta", "rope_scaling")


def differences(a, b):
    return [f"{k} {getattr(a, k)!r} here, {getattr(b, k)!r} in the bundle" for k in SHAPE_FIELDS if getattr(a, k) != getattr(b, k)]
