"""PyTorch reference for the tests: a LLaMA forward (HF layout: RMSNorm, rotate-half RoPE, GQA, SwiGLU) with LoRA,
its loss and autograd gradients of every LoRA A and B. Written against the math of transformers' LlamaForCausalLM
and PEFT's LoRA Linear, independent of our TypeScript code. Input and output are JSON files.

usage: python3 torch_llama_lora.py IN.json OUT.json
IN: {model_dir, input_ids [B][T], labels [B][T], attention_mask [B][T], lora: {r, alpha, rslora, modules: {key: {a, b}}}}
OUT: {loss, logits [B][T][V] (only when asked), grads: {key: {a, b}}}
"""
import json
import math
import struct
import sys

import torch

torch.set_default_dtype(torch.float32)


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", "reference reads F32 checkpoints only"
        begin, end = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[begin:end]), dtype=torch.float32)
        tensors[name] = t.reshape(info["shape"]).clone()
    return tensors


def rms_norm(x, w, eps):
    var = x.pow(2).mean(-1, keepdim=True)
    return x * torch.rsqrt(var + eps) * w


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def main():
    spec = json.load(open(sys.argv[1]))
    cfg = json.load(open(spec["model_dir"] + "/config.json"))
    w = read_safetensors(spec["model_dir"] + "/model.safetensors")
    H = cfg["hidden_size"]
    nH = cfg["num_attention_heads"]
    nKV = cfg.get("num_key_value_heads", nH)
    D = cfg.get("head_dim", H // nH)
    eps = cfg.get("rms_norm_eps", 1e-6)
    theta = cfg.get("rope_theta", 10000.0)
    ids = torch.tensor(spec["input_ids"], dtype=torch.long)
    labels = torch.tensor(spec["labels"], dtype=torch.long)
    mask = torch.tensor(spec["attention_mask"], dtype=torch.float32)
    B, T = ids.shape

    lora = spec["lora"]
    r = lora["r"]
    scale = lora["alpha"] / (math.sqrt(r) if lora.get("rslora") else r)
    params = {}
    for key, m in lora["modules"].items():
        a = torch.tensor(m["a"], dtype=torch.float32).reshape(r, -1).requires_grad_(True)
        b = torch.tensor(m["b"], dtype=torch.float32).reshape(-1, r).requires_grad_(True)
        params[key] = (a, b)

    def linear(x, path):
        y = x @ w[path + ".weight"].T
        if path + ".bias" in w:
            y = y + w[path + ".bias"]
        key = "base_model.model." + path
        if key in params:
            a, b = params[key]
            y = y + scale * ((x @ a.T) @ b.T)
        return y

    inv_freq = 1.0 / (theta ** (torch.arange(0, D, 2, dtype=torch.int64).float() / D))
    pos = torch.arange(T, dtype=torch.float32)
    freqs = torch.outer(pos, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()

    # A query sees earlier keys that are not padding. Masked scores are replaced by the minimum float
    # (masked_fill), so a padding row that sees nothing attends uniformly, as transformers' eager attention does.
    causal = torch.ones((T, T), dtype=torch.bool).tril()
    allowed = causal[None, None] & (mask[:, None, None, :] > 0)
    min_float = torch.finfo(torch.float32).min

    h = w["model.embed_tokens.weight"][ids]
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}"
        x = rms_norm(h, w[p + ".input_layernorm.weight"], eps)
        q = linear(x, p + ".self_attn.q_proj").view(B, T, nH, D).transpose(1, 2)
        k = linear(x, p + ".self_attn.k_proj").view(B, T, nKV, D).transpose(1, 2)
        v = linear(x, p + ".self_attn.v_proj").view(B, T, nKV, D).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(nH // nKV, dim=1)
        v = v.repeat_interleave(nH // nKV, dim=1)
        att = ((q @ k.transpose(-1, -2)) / math.sqrt(D)).masked_fill(~allowed, min_float)
        o = (att.softmax(-1) @ v).transpose(1, 2).reshape(B, T, nH * D)
        h = h + linear(o, p + ".self_attn.o_proj")
        y = rms_norm(h, w[p + ".post_attention_layernorm.weight"], eps)
        g = linear(y, p + ".mlp.gate_proj")
        u = linear(y, p + ".mlp.up_proj")
        h = h + linear(torch.nn.functional.silu(g) * u, p + ".mlp.down_proj")
    h = rms_norm(h, w["model.norm.weight"], eps)
    head = w.get("lm_head.weight", w["model.embed_tokens.weight"])
    logits = h @ head.T

    shift_logits = logits[:, :-1, :].reshape(-1, logits.shape[-1])
    shift_labels = labels[:, 1:].reshape(-1)
    loss = torch.nn.functional.cross_entropy(shift_logits, shift_labels, ignore_index=-100)
    loss.backward()

    out = {"loss": loss.item(), "grads": {}}
    if spec.get("want_logits"):
        out["logits"] = logits.detach().tolist()
    for key, (a, b) in params.items():
        out["grads"][key] = {"a": a.grad.reshape(-1).tolist(), "b": b.grad.reshape(-1).tolist()}
    json.dump(out, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
