"""The run folder, laid out as main/engine/train/run-folder.ts owns it, so the studio reads a cluster run as any run:

  config.json      the resolved settings (and how this run was held and run), written before step 1
  metrics.jsonl    one event per line, stamped with the time (metrics-schema.ts is the schema: start, step, eval,
                   checkpoint, log, done, with the local trainer's field names)
  checkpoints/     step-N folders (checkpoint.py)
  adapter/         the final adapter in PEFT's layout

Only rank 0 writes here.
"""
import datetime
import json
import os
import resource
import shutil
import threading

import torch

from .checkpoint import ADAPTER_CONFIG, remove_stale_temps, to_json
from .errors import TrainerError
from .safetensors_io import write_text_atomic

RUN_CONFIG = "config.json"
METRICS = "metrics.jsonl"
CHECKPOINTS = "checkpoints"
ADAPTER_DIR = "adapter"


class RunFolder:
    def __init__(self, run_dir):
        self.dir = os.path.abspath(run_dir)
        self.config = os.path.join(self.dir, RUN_CONFIG)
        self.metrics = os.path.join(self.dir, METRICS)
        self.checkpoints = os.path.join(self.dir, CHECKPOINTS)
        self.adapter = os.path.join(self.dir, ADAPTER_DIR)
        self._lock = threading.Lock()  # the signal watcher writes too

    def run_files(self):
        """What here belongs to a run (a model folder's config.json is not a run's)."""
        found = []
        try:
            with open(self.config, encoding="utf-8") as f:
                c = json.load(f)
            if isinstance(c, dict) and "base_model" in c and "data_path" in c:
                found.append(RUN_CONFIG)
        except (OSError, ValueError):
            pass
        found += [n for n, p in ((METRICS, self.metrics), (CHECKPOINTS, self.checkpoints), (ADAPTER_DIR, self.adapter)) if os.path.exists(p)]
        return found

    def prepare(self, resuming, overwrite):
        """Make the folder. A folder that holds a run is refused unless the run continues or overwrite is asked for."""
        try:
            os.makedirs(self.dir, exist_ok=True)
        except OSError as e:
            raise TrainerError(f"run folder {self.dir}: cannot create ({e.strerror})")
        existing = self.run_files()
        notes = []
        if existing and not resuming:
            if not overwrite:
                raise TrainerError(
                    f"run folder {self.dir} already holds a run ({', '.join(existing)}); continue it with --resume auto, start it over with --overwrite, or give another --run_dir"
                )
            for n in existing:
                p = os.path.join(self.dir, n)
                shutil.rmtree(p) if os.path.isdir(p) else os.unlink(p)
            notes.append(f"overwrite: removed the previous run's {', '.join(existing)} from {self.dir}")
        for t in remove_stale_temps(self.checkpoints):
            notes.append(f"removed an unfinished checkpoint left by a crash: {t}")
        return notes

    def write_config(self, config):
        write_text_atomic(self.config, to_json(config, newline=True))

    def emit(self, event):
        """Append one event to metrics.jsonl, stamped as the local trainer stamps it (ISO time, milliseconds, Z)."""
        now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        line = json.dumps(_json_safe({"time": now, **event}), ensure_ascii=False, allow_nan=False) + "\n"
        with self._lock:
            with open(self.metrics, "a", encoding="utf-8") as f:
                f.write(line)

    def has_adapter(self):
        return os.path.exists(os.path.join(self.adapter, ADAPTER_CONFIG))


def _json_safe(v):
    """NaN and ±inf as null, as JSON.stringify writes them (a line must stay JSON whatever a value became)."""
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return None
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_json_safe(x) for x in v]
    return v


def memory_report(device, tensors_bytes, tensor_count):
    """The metric's memory field: RSS, and the bytes the trainer's tensors hold (the GPU's allocation on CUDA)."""
    report = {"rssBytes": _rss_bytes(), "tensorBytes": tensors_bytes, "numTensors": tensor_count}
    if device.type == "cuda":
        report["tensorBytes"] = torch.cuda.memory_allocated(device)
        report["deviceBytes"] = torch.cuda.memory_reserved(device)
    return report


def _rss_bytes():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def trainable_params_line(trainable, total):
    """PEFT's print_trainable_parameters line (reports.ts trainableParamsLine)."""
    return f"trainable params: {trainable:,} || all params: {total:,} || trainable%: {100 * trainable / total:.4f}"
