"""The base model's weights as a Hugging Face folder holds them: model.safetensors, or shards listed by
model.safetensors.index.json (main/engine/formats/hf-checkpoint.ts is the engine's reader of the same rules)."""
import json
import os

from .errors import TrainerError
from .model_config import PROJECTIONS, projection_path
from .safetensors_io import SafetensorsFile

INDEX_FILE = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"


class Checkpoint:
    """Every tensor of a base model by name, read one at a time from whichever file holds it."""

    def __init__(self, model_dir):
        self.dir = model_dir
        if not os.path.isdir(model_dir):
            raise TrainerError(
                f"base model {model_dir}: no such folder on this machine; give --base_model the path of the Hugging Face model folder here (config.json, *.safetensors)"
            )
        names = os.listdir(model_dir)
        self.files = []
        self.owner = {}
        if INDEX_FILE in names:
            self._open_sharded(os.path.join(model_dir, INDEX_FILE))
        elif SINGLE_FILE in names:
            f = SafetensorsFile(os.path.join(model_dir, SINGLE_FILE))
            self.files.append(f)
            self.owner = {n: f for n in f.names()}
        elif any(n.endswith(".bin") or n.endswith(".pth") for n in names):
            raise TrainerError(f"{model_dir}: only PyTorch pickle weights here; convert them to safetensors first (transformers: save_pretrained(dir, safe_serialization=True))")
        else:
            raise TrainerError(f"{model_dir}: no {SINGLE_FILE} or {INDEX_FILE} in this folder")

    def _open_sharded(self, index_path):
        try:
            with open(index_path, encoding="utf-8") as f:
                weight_map = json.load(f)["weight_map"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise TrainerError(f"{index_path}: not a shard index with a weight_map ({e})")
        for shard in sorted(set(weight_map.values())):
            if os.path.basename(shard) != shard or shard in (".", ".."):
                raise TrainerError(f"{index_path}: shard name {shard!r} must be a file name in the same folder")
            path = os.path.join(self.dir, shard)
            if not os.path.isfile(path):
                raise TrainerError(f"{index_path}: lists shard {shard}, which does not exist")
            f = SafetensorsFile(path)
            self.files.append(f)
            for n in f.names():
                if n in self.owner:
                    raise TrainerError(f"{index_path}: tensor {n} is in both {os.path.basename(self.owner[n].path)} and {shard}")
                self.owner[n] = f
        for n, shard in weight_map.items():
            if n not in self.owner or os.path.basename(self.owner[n].path) != shard:
                raise TrainerError(f"{index_path}: maps {n} to {shard}, but that shard does not hold it")

    def has(self, name):
        return name in self.owner

    def shape(self, name):
        return self.owner[name].shape(name)

    def dtype(self, name):
        return self.owner[name].dtype(name)

    def tensor(self, name):
        if name not in self.owner:
            raise TrainerError(f"{self.dir}: missing tensor {name}")
        return self.owner[name].tensor(name)

    def check_against(self, config):
        """Every tensor the config implies, with its shape; named problems otherwise (before any weight is read)."""
        expected = {"model.embed_tokens.weight": [config.vocab_size, config.hidden_size], "model.norm.weight": [config.hidden_size]}
        if not config.tie_word_embeddings:
            expected["lm_head.weight"] = [config.vocab_size, config.hidden_size]
        for l in range(config.num_layers):
            expected[f"model.layers.{l}.input_layernorm.weight"] = [config.hidden_size]
            expected[f"model.layers.{l}.post_attention_layernorm.weight"] = [config.hidden_size]
            for p in PROJECTIONS:
                out, inf = config.projection_shape(p)
                expected[f"{projection_path(l, p)}.weight"] = [out, inf]
                if p in config.biased:
                    expected[f"{projection_path(l, p)}.bias"] = [out]
        problems = []
        for name, shape in expected.items():
            if not self.has(name):
                problems.append(f"missing tensor {name} (expected shape {shape})")
            elif self.shape(name) != shape:
                problems.append(f"tensor {name} has shape {self.shape(name)} but config.json implies {shape}")
        if problems:
            more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
            raise TrainerError(f"{self.dir}: {'; '.join(problems[:3])}{more}")

    def storage_dtype(self):
        """The projections' dtype as stored: 'f32', 'bf16' or 'f16' (base_dtype auto keeps it)."""
        probe = f"{projection_path(0, 'q_proj')}.weight"
        d = self.dtype(probe) if self.has(probe) else "F32"
        if d in ("F32", "F64"):
            return "f32"
        if d in ("BF16", "F16"):
            return d.lower()
        raise TrainerError(f"{self.dir}: the weights are {d} ({probe}); give the original F32, F16 or BF16 safetensors, not an already quantized checkpoint")

    def close(self):
        for f in self.files:
            f.close()
