"""The GPU kit's PyTorch side. Runs under whatever python3 has torch (the lent GPU machine's, or Debian's for --dry).

  weights DIR DTYPE DEVICE         fill DIR/model.safetensors from DIR/tensors.json (written by our kit-main plan):
                                   N(0, 0.02) matrices, norms 1, made on DEVICE (fast on a GPU), stored as F32 or BF16
  bench DIR DTYPE TARGETS R B T STEPS WARMUP
                                   LoRA training tokens/s of transformers' LlamaForCausalLM + PEFT on the same weights
                                   (DTYPE bf16, or fp32 with TF32 off); peak memory by torch.cuda.max_memory_allocated
  matmul M K N DTYPE               torch.matmul TFLOP/s of [M,K]x[K,N] on the GPU (fp32 with TF32 off, or bf16)
Each prints one JSON line.
"""
import json
import os
import struct
import sys
import time

import torch

SAFETENSORS_DTYPE = {torch.float32: "F32", torch.bfloat16: "BF16"}


def write_safetensors(path, tensors):
    """The safetensors layout (8-byte header length, JSON header, raw little-endian data), written tensor by tensor."""
    # transformers' from_pretrained refuses a file whose metadata does not name its framework.
    header, offset = {"__metadata__": {"format": "pt"}}, 0
    for name, t in tensors:
        n = t.numel() * t.element_size()
        header[name] = {"dtype": SAFETENSORS_DTYPE[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + n]}
        offset += n
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(blob)))
        f.write(blob)
        for _, t in tensors:
            f.write(t.contiguous().view(torch.uint8).cpu().numpy().tobytes())
    os.replace(tmp, path)


def weights(model_dir, dtype, device):
    plan = json.load(open(os.path.join(model_dir, "tensors.json")))
    dt = {"f32": torch.float32, "bf16": torch.bfloat16}[dtype]
    gen = torch.Generator(device=device).manual_seed(1)
    tensors = []
    for t in plan:
        if len(t["shape"]) == 1:
            v = torch.ones(t["shape"], dtype=dt, device=device)
        else:
            v = (torch.randn(t["shape"], generator=gen, device=device) * 0.02).to(dt)
        tensors.append((t["name"], v))
    write_safetensors(os.path.join(model_dir, "model.safetensors"), tensors)
    print(json.dumps({"tensors": len(tensors), "params": sum(v.numel() for _, v in tensors), "dtype": dtype, "device": device}))


def bench(model_dir, dtype, targets, r, batch, seq, steps, warmup):
    try:
        import peft
        import transformers
    except ImportError as e:
        print(json.dumps({"skipped": f"PyTorch + PEFT needs transformers and peft ({e})"}))
        return
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    # fp32 means fp32: no TF32 tensor cores (the reference row); bf16 is what PEFT users run.
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    dt = {"bf16": torch.bfloat16, "fp32": torch.float32}[dtype]
    model = transformers.LlamaForCausalLM.from_pretrained(model_dir, dtype=dt).to(device)
    config = peft.LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=0.0, target_modules=targets, task_type="CAUSAL_LM")
    model = peft.get_peft_model(model, config)
    model.train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4, weight_decay=0.0)
    vocab = model.config.vocab_size
    gen = torch.Generator().manual_seed(1)
    batches = [torch.randint(3, vocab, (batch, seq), generator=gen).to(device) for _ in range(steps + warmup)]

    def step(ids):
        opt.zero_grad(set_to_none=True)
        model(input_ids=ids, labels=ids).loss.backward()
        opt.step()

    for ids in batches[:warmup]:
        step(ids)
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for ids in batches[warmup:]:
        step(ids)
    if cuda:
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    print(json.dumps({
        "tokens_per_second": steps * batch * seq / elapsed,
        "peak_gpu_bytes": torch.cuda.max_memory_allocated() if cuda else None,
        "peak_gpu_source": "torch.cuda.max_memory_allocated (timed steps)" if cuda else None,
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "versions": f"torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}",
    }))


def matmul(m, k, n, dtype):
    if not torch.cuda.is_available():
        print(json.dumps({"skipped": "no CUDA device"}))
        return
    torch.backends.cuda.matmul.allow_tf32 = False
    dt = {"bf16": torch.bfloat16, "fp32": torch.float32}[dtype]
    a = torch.randn(m, k, device="cuda", dtype=dt)
    b = torch.randn(k, n, device="cuda", dtype=dt)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    reps = 20
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    torch.cuda.synchronize()
    seconds = (time.perf_counter() - start) / reps
    print(json.dumps({"tflops": 2 * m * k * n / seconds / 1e12, "shape": [m, k, n], "dtype": dtype}))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "weights":
        weights(args[0], args[1], args[2])
    elif cmd == "bench":
        bench(args[0], args[1], args[2].split(","), int(args[3]), int(args[4]), int(args[5]), int(args[6]), int(args[7]))
    elif cmd == "matmul":
        matmul(int(args[0]), int(args[1]), int(args[2]), args[3])
    else:
        sys.exit(f"unknown command {cmd}")
