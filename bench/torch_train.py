"""PyTorch reference for `npm run bench`: LoRA training tokens/s of a LLaMA model in plain PyTorch (the same math as
test/reference/torch_llama_lora.py), frozen base weights, LoRA A/B on the given targets, AdamW, random token batches.

usage: python3 torch_train.py MODEL_DIR TARGETS BATCH SEQ STEPS R  → prints one JSON line
"""
import json
import math
import os
import resource
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "reference"))
from torch_llama_lora import read_safetensors  # noqa: E402  (the tests' reference reader)


def main():
    model_dir, targets, batch, seq, steps, r = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
    torch.manual_seed(0)
    cfg = json.load(open(model_dir + "/config.json"))
    w = read_safetensors(model_dir + "/model.safetensors")
    H, nH = cfg["hidden_size"], cfg["num_attention_heads"]
    nKV = cfg.get("num_key_value_heads", nH)
    D = H // nH
    eps = cfg.get("rms_norm_eps", 1e-6)
    params = []
    lora = {}
    for name, t in w.items():
        for tg in targets:
            if name.endswith(tg + ".weight"):
                a = torch.empty(r, t.shape[1]).uniform_(-1 / math.sqrt(t.shape[1]), 1 / math.sqrt(t.shape[1])).requires_grad_(True)
                b = torch.zeros(t.shape[0], r).requires_grad_(True)
                lora[name[: -len(".weight")]] = (a, b)
                params += [a, b]
    scale = 2.0
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.0)

    def lin(x, p):
        y = x @ w[p + ".weight"].T
        if p in lora:
            a, b = lora[p]
            y = y + scale * ((x @ a.T) @ b.T)
        return y

    def norm(x, g):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * g

    inv = 1.0 / (cfg.get("rope_theta", 10000.0) ** (torch.arange(0, D, 2).float() / D))
    fr = torch.outer(torch.arange(seq).float(), inv)
    emb = torch.cat((fr, fr), -1)
    cos, sin = emb.cos(), emb.sin()

    def rot(x):
        return torch.cat((-x[..., D // 2 :], x[..., : D // 2]), -1)

    causal = torch.full((seq, seq), float("-inf")).triu(1)

    def loss_of(ids):
        h = w["model.embed_tokens.weight"][ids]
        for l in range(cfg["num_hidden_layers"]):
            p = f"model.layers.{l}"
            x = norm(h, w[p + ".input_layernorm.weight"])
            q = lin(x, p + ".self_attn.q_proj").view(batch, seq, nH, D).transpose(1, 2)
            k = lin(x, p + ".self_attn.k_proj").view(batch, seq, nKV, D).transpose(1, 2)
            v = lin(x, p + ".self_attn.v_proj").view(batch, seq, nKV, D).transpose(1, 2)
            q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
            k, v = k.repeat_interleave(nH // nKV, 1), v.repeat_interleave(nH // nKV, 1)
            o = ((q @ k.transpose(-1, -2)) / math.sqrt(D) + causal).softmax(-1) @ v
            h = h + lin(o.transpose(1, 2).reshape(batch, seq, H), p + ".self_attn.o_proj")
            y = norm(h, w[p + ".post_attention_layernorm.weight"])
            h = h + lin(torch.nn.functional.silu(lin(y, p + ".mlp.gate_proj")) * lin(y, p + ".mlp.up_proj"), p + ".mlp.down_proj")
        h = norm(h, w["model.norm.weight"])
        logits = h @ w.get("lm_head.weight", w["model.embed_tokens.weight"]).T
        return torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))

    V = cfg["vocab_size"]
    gen = torch.Generator().manual_seed(1)
    batches = [torch.randint(3, V, (batch, seq), generator=gen) for _ in range(steps + 2)]
    for ids in batches[:2]:  # warm-up
        opt.zero_grad()
        loss_of(ids).backward()
        opt.step()
    start = time.perf_counter()
    for ids in batches[2:]:
        opt.zero_grad()
        loss_of(ids).backward()
        opt.step()
    elapsed = time.perf_counter() - start
    print(json.dumps({"tokens_per_second": steps * batch * seq / elapsed, "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
