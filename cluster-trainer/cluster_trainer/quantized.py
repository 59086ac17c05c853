"""An 8-bit or NF4 frozen base through bitsandbytes (Alpaca-LoRA's load_in_8bit, QLoRA's 4-bit), the cluster's way of
holding a base that is too large in 16 bits. bitsandbytes is optional: without it, base_dtype int8/nf4 is refused at
start with the package named, before any weight is read."""
import torch
from torch import nn

from .errors import TrainerError


def require_bitsandbytes(mode):
    """The bitsandbytes module, or a refusal that says what to install (checked before the base is loaded)."""
    try:
        import bitsandbytes as bnb  # noqa: F401  (optional: only int8/nf4 need it)
    except Exception as e:  # ImportError, or a bitsandbytes that fails to find its CUDA library
        raise TrainerError(
            f"base_dtype {mode} needs the Python package bitsandbytes, which this Python cannot import ({type(e).__name__}: {e}); "
            "install it on the cluster (pip install bitsandbytes) or train with --base_dtype bf16 (or f32)"
        )
    if not torch.cuda.is_available():
        raise TrainerError(f"base_dtype {mode} (bitsandbytes) needs a CUDA GPU, and this node has none; train with --base_dtype bf16 or f32 here")
    return bnb


class QuantizedLinear(nn.Module):
    """A frozen projection quantized by bitsandbytes on the GPU: LLM.int8() (Linear8bitLt) or NF4 (Linear4bit)."""

    def __init__(self, bnb, weight, bias, mode, device, compute_dtype):
        super().__init__()
        out_features, in_features = weight.shape
        if mode == "int8":
            layer = bnb.nn.Linear8bitLt(in_features, out_features, bias=False, has_fp16_weights=False, threshold=6.0)
            layer.weight = bnb.nn.Int8Params(weight.to(torch.float16), requires_grad=False, has_fp16_weights=False)
        else:
            layer = bnb.nn.Linear4bit(in_features, out_features, bias=False, compute_dtype=compute_dtype, quant_type="nf4")
            layer.weight = bnb.nn.Params4bit(weight.to(compute_dtype), requires_grad=False, quant_type="nf4")
        self.layer = layer.to(device)  # the move to the GPU is what quantizes
        self.register_buffer("bias", None if bias is None else bias.to(device))

    def forward(self, x, ctx=None):
        y = self.layer(x).to(x.dtype) if not torch.is_autocast_enabled() else self.layer(x)
        return y if self.bias is None else y + self.bias
