"""AdamW, gradient clipping and the learning-rate schedule, as the local trainer computes them (adamw.ts, schedule.ts),
which are torch.optim.AdamW (non-amsgrad), clip_grad_norm_ and transformers' linear schedule with warmup.

AdamW is written out rather than taken from torch.optim so its state is three plain things a checkpoint saves and
restores bit for bit in the local trainer's layout (a step count and two moments per parameter), the same on
torch 1.13 and 2.x (whose AdamW keeps `step` as a tensor, fused or foreach by default on GPUs).
"""
import math

import torch


class AdamW:
    """p ← p − lr·wd·p;  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;  p ← p − lr/(1−β1ᵗ) · m / (√v / √(1−β2ᵗ) + eps)."""

    def __init__(self, params, weight_decay=0.0, beta1=0.9, beta2=0.999, eps=1e-8):
        self.params = list(params)
        self.weight_decay = weight_decay
        self.beta1, self.beta2, self.eps = beta1, beta2, eps
        self.step_count = 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self, lr):
        self.step_count += 1
        b1, b2 = self.beta1, self.beta2
        bias1 = 1 - b1**self.step_count
        bias2_sqrt = math.sqrt(1 - b2**self.step_count)
        for p, m, v in zip(self.params, self.m, self.v):
            g = p.grad
            if self.weight_decay:
                p.mul_(1 - lr * self.weight_decay)
            m.mul_(b1).add_(g, alpha=1 - b1)
            v.mul_(b2).addcmul_(g, g, value=1 - b2)
            denom = (v.sqrt() / bias2_sqrt).add_(self.eps)
            p.addcdiv_(m, denom, value=-lr / bias1)

    def load(self, step_count, m, v):
        self.step_count = step_count
        for i, p in enumerate(self.params):
            self.m[i] = m[i].to(device=p.device, dtype=p.dtype).reshape(p.shape).clone()
            self.v[i] = v[i].to(device=p.device, dtype=p.dtype).reshape(p.shape).clone()


@torch.no_grad()
def clip_global_norm(params, max_norm):
    """Scale the gradients so their global L2 norm is at most max_norm; returns the norm before (summed in f64)."""
    norm = math.sqrt(float(torch.stack([p.grad.double().pow(2).sum() for p in params]).sum()))  # one device sync
    if max_norm > 0:
        coef = max_norm / (norm + 1e-6)
        if coef < 1:
            for p in params:
                p.grad.mul_(coef)
    return norm


def linear_warmup_decay(step, warmup_steps, total_steps):
    """The multiplier for the optimizer step with `step` steps before it: the first step of a warmup runs at lr 0."""
    if step < warmup_steps:
        return step / max(1, warmup_steps)
    return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
