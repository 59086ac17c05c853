"""NumPy reference for the tests: merge a PEFT LoRA adapter into a LLaMA base the way PEFT builds and merges it, from
adapter_config.json as PEFT (>= 0.14) reads it, written from PEFT's documented semantics with Python's own `re`,
independent of our TypeScript:

- which modules carry LoRA (peft.tuners.tuners_utils.check_target_module_exists): a list target_modules matches a
  module name equal to an entry or ending with "." + entry, then layers_to_transform keeps the layers whose index (the
  first numbered name segment, or the one after a layers_pattern segment) it lists; a string target_modules is a regex
  the whole name must match; exclude_modules takes modules out by the same rules;
- each module's r and lora_alpha (peft.utils.other.get_pattern_key, used separately for rank_pattern and alpha_pattern):
  the first key, in file order, with re.match(r"(.*\\.)?(KEY)$", name), else r / lora_alpha;
- scale: lora_alpha / r, or lora_alpha / sqrt(r) with use_rslora; merged W = W + scale * B @ A (in float64).

usage: python3 peft_merge.py BASE_DIR ADAPTER_DIR OUT.safetensors
Writes the merged tensors (F32) and prints {"adapted": [module names], "ranks": {name: r}, "scales": {name: s}}.
The adapter must hold A and B for exactly the modules found here, with shapes [r, in] and [out, r].
"""
import json
import math
import re
import struct
import sys

import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        assert info["dtype"] == "F32", "the reference reads F32 files only"
        begin, end = info["data_offsets"]
        out[name] = np.frombuffer(data[begin:end], dtype="<f4").reshape(info["shape"])
    return out


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        blob = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def is_target(config, key):
    exclude = config.get("exclude_modules")
    if exclude:
        if isinstance(exclude, str):
            if re.fullmatch(exclude, key):
                return False
        elif key in exclude or any(key.endswith("." + e) for e in exclude):
            return False
    targets = config["target_modules"]
    if isinstance(targets, str):
        return re.fullmatch(targets, key) is not None
    if key in targets:
        return True
    if not any(key.endswith("." + t) for t in targets):
        return False
    layers = config.get("layers_to_transform")
    if layers is None or (isinstance(layers, list) and len(layers) == 0):
        return True
    patterns = config.get("layers_pattern")
    if not patterns:
        m = re.match(r".*?\.[^.]*\.(\d+)\.", key)
    else:
        m = None
        for p in [patterns] if isinstance(patterns, str) else patterns:
            m = re.match(r".*?\." + p + r"\.(\d+)\.", key)
            if m is not None:
                break
    if m is None:
        return False
    index = int(m.group(1))
    return index == layers if isinstance(layers, int) else index in layers


def pattern_value(patterns, key, default):
    for k in patterns or {}:
        if re.match(r"(.*\.)?(" + k + r")$", key):
            return patterns[k]
    return default


def main():
    base_dir, adapter_dir, out_path = sys.argv[1:4]
    base = read_safetensors(base_dir + "/model.safetensors")
    with open(adapter_dir + "/adapter_config.json") as f:
        config = json.load(f)
    adapter = read_safetensors(adapter_dir + "/adapter_model.safetensors")
    merged = {name: w.astype(np.float64) for name, w in base.items()}
    adapted, ranks, scales, used = [], {}, {}, set()
    for name in sorted(base):
        if not name.endswith("_proj.weight"):
            continue
        key = name[: -len(".weight")]
        if not is_target(config, key):
            continue
        r = pattern_value(config.get("rank_pattern"), key, config["r"])
        alpha = pattern_value(config.get("alpha_pattern"), key, config["lora_alpha"])
        scale = alpha / math.sqrt(r) if config.get("use_rslora") else alpha / r
        a = adapter["base_model.model." + key + ".lora_A.weight"]
        b = adapter["base_model.model." + key + ".lora_B.weight"]
        used.update(["base_model.model." + key + ".lora_A.weight", "base_model.model." + key + ".lora_B.weight"])
        assert a.shape == (r, base[name].shape[1]) and b.shape == (base[name].shape[0], r), (key, a.shape, b.shape, r)
        merged[name] += scale * (b.astype(np.float64) @ a.astype(np.float64))
        adapted.append(key)
        ranks[key] = r
        scales[key] = scale
    assert used == set(adapter), ("adapter tensors for modules PEFT would not adapt", sorted(set(adapter) - used))
    write_safetensors(out_path, {name: w.astype(np.float32) for name, w in merged.items()})
    print(json.dumps({"adapted": adapted, "ranks": ranks, "scales": scales}))


main()
