"""The prepared run (main/engine/train/prepared-run.ts writes it): bundle.json with the resolved settings and the step
plan, prepared.safetensors with the encoded examples and every epoch's order. Read and checked against its hashes
before anything else, so a bundle cut short in transfer stops the run in its first second."""
import hashlib
import json
import os

import torch

from .errors import TrainerError
from .model_config import parse_config
from .safetensors_io import SafetensorsFile

FORMAT = "lora-studio-cluster-bundle"
VERSION = 1
BUNDLE_FILE = "bundle.json"
PREPARED_FILE = "prepared.safetensors"


class Examples:
    """Encoded examples end to end (token ids and labels) with their row offsets."""

    def __init__(self, ids, labels, offsets):
        self.ids = ids  # [total] int64
        self.labels = labels  # [total] int64
        self.offsets = offsets.tolist()  # n + 1

    def __len__(self):
        return len(self.offsets) - 1

    def length(self, i):
        return self.offsets[i + 1] - self.offsets[i]

    def example(self, i):
        a, b = self.offsets[i], self.offsets[i + 1]
        return self.ids[a:b], self.labels[a:b]


class Bundle:
    def __init__(self, bundle_dir):
        self.dir = bundle_dir
        path = os.path.join(bundle_dir, BUNDLE_FILE)
        try:
            with open(path, encoding="utf-8") as f:
                raw = json.load(f)
        except OSError as e:
            raise TrainerError(f"{path}: cannot read the run bundle ({e.strerror}); give --bundle the folder the studio prepared")
        except ValueError as e:
            raise TrainerError(f"{path}: not valid JSON ({e}); the bundle is damaged, prepare it again")
        if raw.get("format") != FORMAT:
            raise TrainerError(f"{path}: not a LoRA Studio run bundle")
        if raw.get("version") != VERSION:
            raise TrainerError(f"{path}: bundle version {raw.get('version')}, this trainer reads version {VERSION}; use the trainer that came with the studio that prepared it")
        for name, facts in raw["files"].items():
            _verify_file(os.path.join(bundle_dir, name), facts)
        self.raw = raw
        self.config = raw["config"]
        self.plan = raw["plan"]
        self.data = raw["data"]
        self.memory = raw["memory"]
        self.base_path = raw["base_model"]["path"]
        self.base_config = parse_config(raw["base_model"]["config"], f"{path} (base_model.config)")
        with SafetensorsFile(os.path.join(bundle_dir, PREPARED_FILE)) as f:
            self.train = _examples(f, "train")
            self.validation = _examples(f, "validation")
            self.epoch_orders = f.tensor("epoch_order").to(torch.int64)  # [epochs, n]
        if self.epoch_orders.shape[1] != len(self.train):
            raise TrainerError(f"{path}: the epoch order covers {self.epoch_orders.shape[1]} examples but the bundle holds {len(self.train)}")


def _examples(f, split):
    return Examples(f.tensor(f"{split}.input_ids").to(torch.int64), f.tensor(f"{split}.labels").to(torch.int64), f.tensor(f"{split}.offsets"))


def _verify_file(path, facts):
    h = hashlib.sha256()
    n = 0
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
                n += len(block)
    except OSError as e:
        raise TrainerError(f"{path}: cannot read ({e.strerror}); the bundle is incomplete, stage it again")
    if n != facts["bytes"] or h.hexdigest() != facts["sha256"]:
        raise TrainerError(f"{path}: {n} bytes that do not match bundle.json's SHA-256 (corrupted or cut short in transfer); stage the bundle again")
