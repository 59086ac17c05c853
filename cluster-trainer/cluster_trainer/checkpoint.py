"""checkpoints/step-N, written as the local trainer writes them (main/engine/train/checkpoint.ts, run-state.ts), so the
studio verifies, lists and exports them as its own, and either trainer can resume the other's:

  adapter_config.json, adapter_model.safetensors   the LoRA weights in PEFT's layout
  optimizer.safetensors    AdamW's moments m.00000, v.00000, … in the local trainer's variable order and shapes
                           (Aᵀ [in, r], Bᵀ [r, out]), metadata {format: lora-studio-adamw, step}
  trainer_state.json       {position, optimizerStep, seed, epochOrder, dataSha256}
  training_config.json     the resolved settings the checkpoint was written under
  manifest.json            every other file's bytes and SHA-256, written last

The folder is filled under a hidden temp name, every file fsynced, the manifest written and fsynced, then renamed into
place: a crash at any moment leaves either the whole checkpoint or a temp folder the next start removes.
"""
import hashlib
import json
import os
import re
import shutil
import time

import torch

from .errors import TrainerError
from .lora import adapter_config, adapter_tensors, lora_modules
from .safetensors_io import SafetensorsFile, fsync_dir, write_safetensors, write_text_atomic

MANIFEST = "manifest.json"
TEMP_PREFIX = ".tmp-"
TRAINER_STATE = "trainer_state.json"
OPTIMIZER_STATE = "optimizer.safetensors"
TRAINING_CONFIG = "training_config.json"
ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"
NAME = re.compile(r"^step-(\d+)$")


def checkpoint_name(step):
    return f"step-{step}"


def to_json(obj, newline=False):
    """JSON as the local trainer writes it (JSON.stringify(x, null, 2))."""
    return json.dumps(obj, indent=2, ensure_ascii=False) + ("\n" if newline else "")


def write_checkpoint(root, step, fill):
    os.makedirs(root, exist_ok=True)
    final = os.path.join(root, checkpoint_name(step))
    temp = os.path.join(root, f"{TEMP_PREFIX}{checkpoint_name(step)}-{os.getpid()}-{int(time.time() * 1000)}")
    os.mkdir(temp)
    try:
        fill(temp)
        files = {}
        for name in sorted(os.listdir(temp)):
            path = os.path.join(temp, name)
            with open(path, "rb") as f:
                data = f.read()
                os.fsync(f.fileno())
            files[name] = {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        manifest = {"format": "lora-studio-checkpoint", "version": 1, "step": step, "files": files}
        with open(os.path.join(temp, MANIFEST), "w", encoding="utf-8") as f:
            f.write(to_json(manifest))
            f.flush()
            os.fsync(f.fileno())
        fsync_dir(temp)
        # A checkpoint of the same step (a resumed run saving again) is replaced as a whole.
        shutil.rmtree(final, ignore_errors=True)
        os.rename(temp, final)
        fsync_dir(root)
        return final
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def verify_checkpoint(folder):
    """The problem with a checkpoint, or None when every file matches its manifest."""
    path = os.path.join(folder, MANIFEST)
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        return f"{path}: missing or unreadable ({e}); the checkpoint is incomplete"
    if manifest.get("format") != "lora-studio-checkpoint" or not isinstance(manifest.get("files"), dict):
        return f"{path}: not a LoRA Studio checkpoint manifest"
    for name, facts in manifest["files"].items():
        file = os.path.join(folder, name)
        try:
            with open(file, "rb") as f:
                data = f.read()
        except OSError:
            return f"{file}: listed in the manifest but missing"
        if len(data) != facts.get("bytes") or hashlib.sha256(data).hexdigest() != facts.get("sha256"):
            return f"{file}: contents do not match the manifest (corrupted or partly written)"
    return None


def remove_stale_temps(root):
    names = os.listdir(root) if os.path.isdir(root) else []
    stale = [n for n in names if n.startswith(TEMP_PREFIX)]
    for n in stale:
        shutil.rmtree(os.path.join(root, n), ignore_errors=True)
    return stale


def list_checkpoints(root):
    """(step, folder) of every checkpoint under root, newest first."""
    names = os.listdir(root) if os.path.isdir(root) else []
    found = [(int(m.group(1)), os.path.join(root, n)) for n in names for m in [NAME.match(n)] if m]
    return sorted(found, reverse=True)


def latest_good_checkpoint(root, warn):
    """The newest checkpoint that verifies; broken ones are reported and skipped (a run killed mid-write)."""
    for _, folder in list_checkpoints(root):
        problem = verify_checkpoint(folder)
        if problem is None:
            return folder
        warn(f"skipping checkpoint {folder}: {problem}")
    return None


def prune_checkpoints(root, limit, keep=()):
    """Keep the newest `limit` checkpoints (and those in `keep`, e.g. the best); delete the rest."""
    if limit <= 0:
        return
    protected = {os.path.realpath(k) for k in keep if k}
    for i, (_, folder) in enumerate(list_checkpoints(root)):
        if i >= limit and os.path.realpath(folder) not in protected:
            shutil.rmtree(folder, ignore_errors=True)


def save_adapter(folder, model, settings, tensors=None):
    """adapter_model.safetensors (F32, metadata {format: pt}) and adapter_config.json, each written atomically: the
    model's adapter, or `tensors` ({PEFT name: tensor}) when given."""
    os.makedirs(folder, exist_ok=True)
    write_safetensors(os.path.join(folder, ADAPTER_WEIGHTS), adapter_tensors(model) if tensors is None else tensors, metadata={"format": "pt"})
    config = adapter_config(settings["base_model"], settings["lora_r"], settings["lora_alpha"], settings["lora_dropout"], settings["targets"], settings["use_rslora"])
    write_text_atomic(os.path.join(folder, ADAPTER_CONFIG), to_json(config, newline=True))


def fill_checkpoint(folder, model, optimizer, state, settings, run_config):
    save_adapter(folder, model, settings)
    # The local trainer keeps Aᵀ [in, r] and Bᵀ [r, out]: its moments have those shapes.
    tensors = {}
    for i, (m, v) in enumerate(zip(optimizer.m, optimizer.v)):
        tensors[f"m.{i:05d}"] = m.detach().float().t().contiguous().cpu()
        tensors[f"v.{i:05d}"] = v.detach().float().t().contiguous().cpu()
    write_safetensors(os.path.join(folder, OPTIMIZER_STATE), tensors, metadata={"format": "lora-studio-adamw", "step": str(optimizer.step_count)})
    with open(os.path.join(folder, TRAINER_STATE), "w", encoding="utf-8") as f:
        f.write(to_json(state))
    with open(os.path.join(folder, TRAINING_CONFIG), "w", encoding="utf-8") as f:
        f.write(to_json(run_config))


def read_adapter(folder, model):
    """The adapter tensors of a checkpoint or adapter folder, checked against the model's LoRA modules."""
    path = os.path.join(folder, ADAPTER_WEIGHTS)
    with SafetensorsFile(path) as f:
        tensors = {n: f.tensor(n).float() for n in f.names()}
    for m in lora_modules(model):
        for which, p in (("A", m.lora_A), ("B", m.lora_B)):
            name = f"{m.key}.lora_{which}.weight"
            if name not in tensors:
                raise TrainerError(f"{path}: no {name}; were the target modules changed?")
            if list(tensors[name].shape) != list(p.shape):
                raise TrainerError(f"{path}: {name} has shape {list(tensors[name].shape)}, the run needs {list(p.shape)} (another lora_r?)")
    return tensors


def restore_checkpoint(folder, model, optimizer):
    """Load a checkpoint's adapter and AdamW state into the model and optimizer; returns its trainer_state.json."""
    try:
        with open(os.path.join(folder, TRAINER_STATE), encoding="utf-8") as f:
            state = json.load(f)
    except (OSError, ValueError) as e:
        raise TrainerError(f"{folder}: cannot read {TRAINER_STATE} ({e})")
    tensors = read_adapter(folder, model)
    with torch.no_grad():
        for m in lora_modules(model):
            m.lora_A.copy_(tensors[f"{m.key}.lora_A.weight"])
            m.lora_B.copy_(tensors[f"{m.key}.lora_B.weight"])
    path = os.path.join(folder, OPTIMIZER_STATE)
    with SafetensorsFile(path) as f:
        ms, vs = [], []
        for i in range(len(optimizer.params)):
            try:
                ms.append(f.tensor(f"m.{i:05d}").float().t())
                vs.append(f.tensor(f"v.{i:05d}").float().t())
            except TrainerError:
                raise TrainerError(f"{path}: no moments for parameter {i}; the checkpoint is of another adapter")
    optimizer.load(int(state["optimizerStep"]), ms, vs)
    return state
