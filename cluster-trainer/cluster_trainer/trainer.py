"""The training loop, as main/engine/train/trainer.ts runs it, across any number of processes.

An optimizer step: the global batch's micro-batches (data.StepBatches; this rank's share), each micro-batch's loss
divided by the labelled-token count of the whole global batch (step.ts), backward, gradients summed over ranks,
clipped to max_grad_norm, AdamW at the schedule's rate. Then, as the local trainer: a step event every logging_steps,
evaluation every eval_steps (and at the end), a checkpoint every save_steps and at each new best, early stopping after
early_stopping_patience evaluations without a new best. A NaN or infinite loss stops the run before the update.
"""
import math
import os
import threading
import time
from contextlib import nullcontext

import torch

from .checkpoint import ADAPTER_WEIGHTS, checkpoint_name, fill_checkpoint, prune_checkpoints, read_adapter, restore_checkpoint, save_adapter, write_checkpoint
from .data import StepBatches, validation_batches
from .distributed import all_reduce_grads, all_reduce_values
from .errors import NonFiniteLoss, TrainerError
from .llama import ForwardContext, loss_sum
from .lora import adapter_tensors, lora_modules, lora_parameters
from .optim import AdamW, clip_global_norm, linear_warmup_decay
from .run_folder import memory_report
from .safetensors_io import SafetensorsFile, write_safetensors

START = {"step": 0, "epoch": 0, "cursor": 0, "bestEvalLoss": None, "bestStep": None, "evalsWithoutImprovement": 0}


class Trainer:
    def __init__(self, model, bundle, world, folder, settings, run_config, collator, sharded, autocast_dtype, log, emit, dump_grads=None):
        self.model = model
        self.bundle = bundle
        self.world = world
        self.folder = folder  # RunFolder on rank 0, None elsewhere
        self.settings = settings  # the adapter's settings (checkpoint.save_adapter)
        self.run_config = run_config
        self.collate = collator
        self.sharded = sharded
        self.autocast_dtype = autocast_dtype
        self.log = log
        self.emit = emit  # rank 0's metrics.jsonl writer; a no-op elsewhere
        self.dump_grads = dump_grads  # (folder, steps) or None: a testing aid
        c = bundle.config
        self.c = c
        self.params = lora_parameters(model)
        self.optimizer = AdamW(self.params, weight_decay=c["weight_decay"])
        self.batches = StepBatches(bundle, world.size, c["micro_batch_size"], c["batch_size"], collator)
        self.validation = validation_batches(bundle.validation, c["micro_batch_size"], collator)
        self.total = bundle.plan["total_steps"]
        self.pos = dict(START)
        # The signal watcher saves from its own thread: the weights, the moments and the position change together
        # under this lock, and checkpoints are written under it.
        self.lock = threading.Lock()
        self.last_checkpoint = None
        self.last_saved_step = None
        self.ready = False

    # --- checkpoints ---------------------------------------------------------------------------------------------

    def restore(self, folder):
        state = restore_checkpoint(folder, self.model, self.optimizer)
        self.pos = {**START, **state["position"]}
        return state

    def save_checkpoint(self):
        """Write checkpoints/step-N for the current position (rank 0; the caller holds the lock)."""
        pos = dict(self.pos)
        state = {
            "position": pos,
            "optimizerStep": self.optimizer.step_count,
            "seed": self.c["seed"],
            "epochOrder": self.bundle.epoch_orders[min(pos["epoch"], self.bundle.epoch_orders.shape[0] - 1)].tolist(),
            "dataSha256": self.bundle.data["data_sha256"],
        }
        root = self.folder.checkpoints
        folder = write_checkpoint(root, pos["step"], lambda d: fill_checkpoint(d, self.model, self.optimizer, state, self.settings, self.run_config))
        self.last_checkpoint = folder
        self.last_saved_step = pos["step"]
        best = None if pos["bestStep"] is None else os.path.join(root, checkpoint_name(pos["bestStep"]))
        prune_checkpoints(root, self.c["save_total_limit"], [best])
        return folder

    # --- one step --------------------------------------------------------------------------------------------------

    def _autocast(self):
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(device_type=self.world.device.type, dtype=self.autocast_dtype)

    def _to_device(self, mb):
        d = self.world.device
        return mb.input_ids.to(d), mb.attention_mask.to(d), mb.labels.to(d)

    def _step(self, signals):
        """Forward and backward over this rank's micro-batches; gradients and the loss summed over ranks."""
        pos = self.pos
        per_rank, after = self.batches.step(pos["epoch"], pos["cursor"])
        everyone = [mb for mine in per_rank for mb in mine]
        normalizer = max(1, sum(self.collate.labelled(mb) for mb in everyone))
        tokens = sum(mb.tokens for mb in everyone)
        mine = list(per_rank[self.world.rank])
        first = sum(len(per_rank[r]) for r in range(self.world.rank))  # this rank's first micro-batch in the step
        if self.sharded:
            # every rank must join every layer's gathers: one with fewer rows runs empty micro-batches
            mine += [self.collate.empty()] * (max(len(m) for m in per_rank) - len(mine))
        for p in self.params:
            p.grad = None
        step_loss = torch.zeros((), dtype=torch.float64, device=self.world.device)
        for i, mb in enumerate(mine):
            ids, mask, labels = self._to_device(mb)
            ctx = ForwardContext(training=True, dropout_draw=(self.c["seed"], pos["step"], first + i))
            with self._autocast():
                logits = self.model(ids, mask, ctx)
            loss = loss_sum(logits, labels, self.collate.ignore_index) / normalizer
            loss.backward()
            step_loss += loss.detach().double()
        for p in self.params:
            if p.grad is None:  # a rank without rows in this step
                p.grad = torch.zeros_like(p)
        all_reduce_grads(self.params, self.world)
        # SIGUSR1 on any rank before this point: a checkpoint at the end of this step, written by rank 0
        usr1 = signals.checkpoint_requested.is_set()
        signals.checkpoint_requested.clear()
        loss_value, usr1_anywhere = all_reduce_values([float(step_loss), 1.0 if usr1 else 0.0], self.world)
        return loss_value, usr1_anywhere > 0, tokens, after

    def _dump_grads(self, step):
        folder, steps = self.dump_grads
        if step > steps or not self.world.is_main:
            return
        os.makedirs(folder, exist_ok=True)
        tensors = {}
        for m in lora_modules(self.model):
            tensors[f"{m.key}.lora_A.weight"] = m.lora_A.grad.detach().float().cpu()
            tensors[f"{m.key}.lora_B.weight"] = m.lora_B.grad.detach().float().cpu()
        write_safetensors(os.path.join(folder, f"grads-step-{step}.safetensors"), tensors)

    # --- evaluation ------------------------------------------------------------------------------------------------

    @torch.no_grad()
    def evaluate(self):
        """Mean loss over every labelled token of the validation split (its micro-batches dealt round-robin to ranks)."""
        W = self.world.size
        mine = self.validation[self.world.rank :: W]
        if self.sharded:
            mine += [self.collate.empty()] * (math.ceil(len(self.validation) / W) - len(mine))
        total, count = 0.0, 0
        for mb in mine:
            ids, mask, labels = self._to_device(mb)
            with self._autocast():
                logits = self.model(ids, mask, ForwardContext(training=False))
            total += float(loss_sum(logits, labels, self.collate.ignore_index))
            count += self.collate.labelled(mb)
        total, count = all_reduce_values([total, float(count)], self.world)
        return total / count if count else float("nan")

    # --- the loop --------------------------------------------------------------------------------------------------

    def train(self, signals):
        c, pos, total = self.c, self.pos, self.total
        started = time.perf_counter()
        start_step = pos["step"]
        tokens_seen = 0
        window = []
        self.ready = True
        while pos["step"] < total:
            lr = c["learning_rate"] * linear_warmup_decay(pos["step"], c["warmup_steps"], total)
            loss, usr1_anywhere, tokens, after = self._step(signals)
            if not math.isfinite(loss):
                kept = f": {self.last_checkpoint}" if self.last_checkpoint else ""
                raise NonFiniteLoss(
                    f"training loss became {'nan' if loss != loss else loss} at step {pos['step'] + 1}; stopped (the last checkpoint is kept{kept}). Try a lower learning_rate."
                )
            if self.dump_grads:
                self._dump_grads(pos["step"] + 1)
            norm = clip_global_norm(self.params, c["max_grad_norm"])
            with self.lock:
                self.optimizer.step(lr)
                pos["step"] += 1
                pos["epoch"], pos["cursor"] = after
            tokens_seen += tokens
            window.append(loss)
            elapsed_ms = (time.perf_counter() - started) * 1000
            if pos["step"] % c["logging_steps"] == 0 or pos["step"] == total:
                done = pos["step"] - start_step
                event = {
                    "type": "step",
                    "step": pos["step"],
                    "totalSteps": total,
                    "epoch": pos["epoch"] + pos["cursor"] / self.batches.micro_batches_per_epoch,
                    "loss": sum(window) / len(window),
                    "learningRate": lr,
                    "gradNorm": norm,
                    "tokensPerSecond": tokens_seen / (elapsed_ms / 1000),
                    "elapsedMs": elapsed_ms,
                    "etaMs": elapsed_ms / done * (total - pos["step"]),
                    "memory": memory_report(self.world.device, *self._tensor_bytes()),
                }
                self.emit(event)
                self.log(f"step {pos['step']}/{total} loss {event['loss']:.4f} lr {lr:.2e} grad-norm {norm:.4f} {event['tokensPerSecond']:.0f} tok/s")
                window = []
            eval_now = len(self.validation) > 0 and c["eval_steps"] > 0 and (pos["step"] % c["eval_steps"] == 0 or pos["step"] == total)
            if eval_now:
                eval_loss = self.evaluate()
                # a validation split whose labels are all masked has no loss to report
                if math.isfinite(eval_loss):
                    self.emit({"type": "eval", "step": pos["step"], "epoch": pos["epoch"], "evalLoss": eval_loss})
                    self.log(f"step {pos['step']}: validation loss {eval_loss:.4f}")
                    with self.lock:
                        if pos["bestEvalLoss"] is None or eval_loss < pos["bestEvalLoss"]:
                            pos["bestEvalLoss"], pos["bestStep"], pos["evalsWithoutImprovement"] = eval_loss, pos["step"], 0
                        else:
                            pos["evalsWithoutImprovement"] += 1
            save_now = c["save_steps"] > 0 and pos["step"] % c["save_steps"] == 0
            if save_now or (eval_now and pos["bestStep"] == pos["step"]) or usr1_anywhere:
                if self.world.is_main:
                    with self.lock:
                        folder = self.save_checkpoint()
                    self.emit({"type": "checkpoint", "step": pos["step"], "dir": folder})
                    self.log(f"checkpoint {folder}{' (asked for by SIGUSR1)' if usr1_anywhere else ''}")
            if c["early_stopping_patience"] > 0 and pos["evalsWithoutImprovement"] >= c["early_stopping_patience"]:
                return "early_stopping"
        return "max_steps" if c["max_steps"] > 0 and pos["step"] >= c["max_steps"] else "finished"

    def _tensor_bytes(self):
        tensors = list(self.model.buffers()) + self.params + self.optimizer.m + self.optimizer.v
        return sum(t.numel() * t.element_size() for t in tensors), len(tensors)

    # --- the end ---------------------------------------------------------------------------------------------------

    def final_adapter(self, reason):
        """The last checkpoint if the loop did not end on one, then adapter/: the best checkpoint's adapter when there
        was validation (load_best_model_at_end), else the last; read back and compared before it counts."""
        pos = self.pos
        if reason != "stopped" and self.last_saved_step != pos["step"]:
            with self.lock:
                self.save_checkpoint()
        best = None if pos["bestStep"] is None else os.path.join(self.folder.checkpoints, checkpoint_name(pos["bestStep"]))
        if best and not os.path.isdir(best):
            best = None
        tensors = read_adapter(best, self.model) if best else adapter_tensors(self.model)
        save_adapter(self.folder.adapter, self.model, self.settings, tensors)
        with SafetensorsFile(os.path.join(self.folder.adapter, ADAPTER_WEIGHTS)) as f:
            saved = {n: f.tensor(n) for n in f.names()}
        if set(saved) != set(tensors) or any(not torch.equal(saved[n], tensors[n]) for n in tensors):
            raise TrainerError(f"{self.folder.adapter}: the saved adapter does not read back as the trained one", exit_code=1)
        if pos["step"] > 0 and all(not bool(t.any()) for n, t in saved.items() if n.endswith("lora_B.weight")):
            raise TrainerError(
                f"{self.folder.adapter}: every lora_B is still zero after training: the adapter would do nothing{zero_rate_reason(pos['step'], self.c['warmup_steps'])}",
                exit_code=1,
            )
        return best


def zero_rate_reason(steps, warmup_steps):
    """Why a run of `steps` steps leaves every lora_B at zero, when the schedule is the cause (finetune.ts)."""
    some_step_trains = any(i < steps and linear_warmup_decay(i, warmup_steps, steps) > 0 for i in (0, 1))
    if steps == 0 or some_step_trains:
        return ""
    return (
        f": with warmup_steps {warmup_steps} the first step runs at learning rate 0 (as Hugging Face's schedule does), "
        f"and this run has only {steps} step. Train at least 2 steps (--max_steps 2), or set --warmup_steps 0"
    )
