"""Batches: the local trainer's collator (main/engine/data/batches.ts) and the global batch split across ranks.

An optimizer step takes the next `batch_size` examples of the epoch's order (fewer at the end of an epoch: a step
never crosses an epoch boundary), whatever the world size. Rank r takes the r-th of `world` equal slices of those rows
and cuts its slice into micro-batches of `micro_batch_size`; gradient accumulation makes up the rest. With one process
the micro-batches are exactly the local trainer's. Every rank knows every rank's micro-batches (the data is the same
everywhere), so the loss normaliser (labelled tokens of the whole step) needs no communication.
"""
import math
from dataclasses import dataclass

import torch


@dataclass
class MicroBatch:
    input_ids: torch.Tensor  # [B, T] int64, left-padded with pad_id
    labels: torch.Tensor  # [B, T] int64, ignore_index on padding (and on masked prompts)
    attention_mask: torch.Tensor  # [B, T] bool, False on padding

    @property
    def tokens(self):
        return self.input_ids.numel()


class Collator:
    def __init__(self, pad_id, pad_multiple, ignore_index):
        self.pad_id = pad_id
        self.pad_multiple = pad_multiple
        self.ignore_index = ignore_index

    def __call__(self, examples, indices):
        """Left padding to a multiple of pad_multiple (Alpaca-LoRA's DataCollatorForSeq2Seq, padding_side left)."""
        longest = max(examples.length(i) for i in indices)
        T = math.ceil(longest / self.pad_multiple) * self.pad_multiple
        B = len(indices)
        ids = torch.full((B, T), self.pad_id, dtype=torch.int64)
        labels = torch.full((B, T), self.ignore_index, dtype=torch.int64)
        mask = torch.zeros((B, T), dtype=torch.bool)
        for b, i in enumerate(indices):
            x, y = examples.example(i)
            pad = T - len(x)
            ids[b, pad:] = x
            labels[b, pad:] = y
            mask[b, pad:] = True
        return MicroBatch(ids, labels, mask)

    def labelled(self, mb):
        """Loss-bearing positions after the causal shift: position t predicts label t+1 (loss.ts shiftedTargets)."""
        return int((mb.labels[:, 1:] != self.ignore_index).sum())

    def empty(self):
        """A micro-batch with nothing to learn (every label ignored): a rank without rows in a step's last slice runs it
        when the frozen base is sharded, because every rank must take part in every layer's gather."""
        return MicroBatch(
            torch.full((1, self.pad_multiple), self.pad_id, dtype=torch.int64),
            torch.full((1, self.pad_multiple), self.ignore_index, dtype=torch.int64),
            torch.zeros((1, self.pad_multiple), dtype=torch.bool),
        )


class StepBatches:
    """The micro-batches of each optimizer step, per rank, from the bundle's epoch orders."""

    def __init__(self, bundle, world, micro_batch_size, batch_size, collator):
        self.examples = bundle.train
        self.orders = bundle.epoch_orders
        self.world = world
        self.micro = micro_batch_size
        self.batch = batch_size
        self.collate = collator
        self.n = len(self.examples)
        # The position's cursor counts micro-batches of micro_batch_size, as the local trainer's does.
        self.micro_batches_per_epoch = math.ceil(self.n / micro_batch_size)

    def step(self, epoch, cursor):
        """Every rank's micro-batches of the step at (epoch, cursor), and the position after it."""
        start = cursor * self.micro
        end = min(start + self.batch, self.n)
        rows = self.orders[epoch, start:end].tolist()
        share = self.batch // self.world
        per_rank = []
        for r in range(self.world):
            mine = rows[r * share : (r + 1) * share]
            per_rank.append([self.collate(self.examples, mine[i : i + self.micro]) for i in range(0, len(mine), self.micro)])
        after = (epoch + 1, 0) if end >= self.n else (epoch, end // self.micro)
        return per_rank, after


def validation_batches(examples, micro_batch_size, collator):
    """The local trainer's validation micro-batches: the split in order, micro_batch_size at a time."""
    return [collator(examples, list(range(i, min(i + micro_batch_size, len(examples))))) for i in range(0, len(examples), micro_batch_size)]
