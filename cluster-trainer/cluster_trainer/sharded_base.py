"""The frozen base sharded across ranks: FSDP's scheme for weights that take no gradient, in plain torch.distributed.

Each rank keeps 1/world of the rows of every frozen projection. A projection gathers its whole weight just before it
is used and lets it go right after; the backward gathers it again for the input's gradient instead of keeping it
(the weight needs no gradient, so there is nothing to reduce-scatter). A layer's full weights exist only while that
layer runs: a base that does not fit one device trains across several, at the cost of one all-gather per projection
in the forward and one in the backward. LoRA weights are small and stay replicated (their gradients are all-reduced
once per optimizer step, as in the replicated mode). Every rank must run the same number of forward and backward
passes: a rank with no rows in a step's last slice runs an empty micro-batch (data.Collator.empty).

torch's FullyShardedDataParallel would do the same for a base whose flat parameters all take no gradient, but in
torch 1.13 (Debian's) it refuses a module that mixes frozen and trainable parameters (use_orig_params came in 2.0),
and it needs a GPU: this runs on 1.13 and on CPUs over gloo, so the tests prove it here.
"""
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn


def shard_rows(weight, rank, world):
    """This rank's rows of `weight` [out, in], the last shard padded with zero rows so every shard has one size."""
    out = weight.shape[0]
    per = -(-out // world)
    shard = weight[rank * per : (rank + 1) * per]
    if shard.shape[0] < per:
        shard = torch.cat([shard, shard.new_zeros((per - shard.shape[0],) + tuple(weight.shape[1:]))])
    return shard.contiguous()


def gather_rows(shard, out_features, group=None):
    parts = [torch.empty_like(shard) for _ in range(dist.get_world_size(group))]
    dist.all_gather(parts, shard, group=group)
    return torch.cat(parts)[:out_features]


class _GatheredLinear(torch.autograd.Function):
    """y = x·Wᵀ with W gathered from its shards in the forward, and gathered again in the backward (never kept)."""

    @staticmethod
    def forward(ctx, x, shard, out_features):
        w = gather_rows(shard, out_features).to(x.dtype)
        ctx.save_for_backward(shard)
        ctx.out_features = out_features
        ctx.x_dtype = x.dtype
        return F.linear(x, w)

    @staticmethod
    def backward(ctx, dy):
        (shard,) = ctx.saved_tensors
        w = gather_rows(shard, ctx.out_features).to(dy.dtype)
        return (dy @ w).to(ctx.x_dtype), None, None


class ShardedLinear(nn.Module):
    """A frozen projection of which this rank holds 1/world of the rows."""

    def __init__(self, weight, bias, rank, world):
        super().__init__()
        self.out_features = weight.shape[0]
        self.register_buffer("shard", shard_rows(weight, rank, world))
        self.register_buffer("bias", bias)

    def forward(self, x, ctx=None):
        if torch.is_autocast_enabled():
            # autocast does not reach inside a custom Function: cast as it would for a linear
            x = x.to(autocast_dtype())
        y = _GatheredLinear.apply(x, self.shard, self.out_features)
        return y if self.bias is None else y + self.bias


def autocast_dtype():
    """The CUDA autocast dtype (get_autocast_dtype('cuda') from PyTorch 2.4, get_autocast_gpu_dtype before)."""
    get = getattr(torch, "get_autocast_dtype", None)
    return get("cuda") if get else torch.get_autocast_gpu_dtype()
