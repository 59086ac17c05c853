import type { MicroBatch } from '../train/step.ts';
import type { EncodedExample } from './encode.ts';
import { IGNORE_INDEX } from './encode.ts';
import { Prng, permutation } from './prng.ts';

/** Padding id and multiple as Alpaca-LoRA's collator uses them (pad id 0 on the left, lengths to a multiple of 8). */
export const PAD_ID = 0;
export const PAD_MULTIPLE = 8;

/**
 * Split off `valSetSize` examples for validation with a fixed seed (42 as in Alpaca-LoRA). The draw is our own
 * seeded permutation, so the split is stable across runs and machines, but not the same rows as HF datasets'
 * numpy-based train_test_split would pick.
 */
export function splitTrainValidation<T>(items: T[], valSetSize: number, seed = 42): { train: T[]; validation: T[] } {
  if (valSetSize <= 0) return { train: items, validation: [] };
  if (valSetSize >= items.length) throw new Error(`val_set_size (${valSetSize}) must be smaller than the number of rows (${items.length})`);
  const order = permutation(items.length, new Prng(seed));
  const valIdx = new Set(order.slice(0, valSetSize));
  return {
    train: items.filter((_, i) => !valIdx.has(i)),
    validation: order.slice(0, valSetSize).sort((a, b) => a - b).map((i) => items[i]),
  };
}

/** Collate examples into one micro-batch: left padding with PAD_ID to a multiple of 8, labels -100 on padding. */
export function collate(examples: EncodedExample[]): MicroBatch {
  const longest = Math.max(...examples.map((e) => e.inputIds.length));
  const T = Math.ceil(longest / PAD_MULTIPLE) * PAD_MULTIPLE;
  const B = examples.length;
  const inputIds = new Int32Array(B * T).fill(PAD_ID);
  const labels = new Int32Array(B * T).fill(IGNORE_INDEX);
  const attentionMask = new Int32Array(B * T);
  examples.forEach((e, b) => {
    const pad = T - e.inputIds.length;
    inputIds.set(e.inputIds, b * T + pad);
    labels.set(e.labels, b * T + pad);
    attentionMask.fill(1, b * T + pad, (b + 1) * T);
  });
  return { batchSize: B, seqLen: T, inputIds, labels, attentionMask };
}

/**
 * The order of training examples in an epoch: a seeded shuffle (seed + epoch), or with group_by_length
 * transformers' LengthGroupedSampler idea: shuffle, cut into megabatches of 50 micro-batches, sort each by
 * length (longest first) and put the megabatch holding the longest example first, so a memory problem shows at once.
 */
export function epochOrder(lengths: number[], epoch: number, seed: number, microBatchSize: number, groupByLength: boolean): number[] {
  const order = permutation(lengths.length, new Prng(seed + epoch));
  if (!groupByLength) return order;
  const mega = 50 * microBatchSize;
  const groups: number[][] = [];
  for (let i = 0; i < order.length; i += mega) groups.push(order.slice(i, i + mega).sort((a, b) => lengths[b] - lengths[a]));
  let longestGroup = 0;
  groups.forEach((g, i) => {
    if (lengths[g[0]] > lengths[groups[longestGroup][0]]) longestGroup = i;
  });
  [groups[0][0], groups[longestGroup][0]] = [groups[longestGroup][0], groups[0][0]];
  return groups.flat();
}

/** The micro-batches of an epoch as a pure function of (epoch, index), so a resumed run sees the same data. */
export class EpochBatches {
  private cachedEpoch = -1;
  private order: number[] = [];

  constructor(
    readonly examples: EncodedExample[],
    readonly microBatchSize: number,
    readonly seed: number,
    readonly groupByLength: boolean,
  ) {}

  get microBatchesPerEpoch(): number {
    return Math.ceil(this.examples.length / this.microBatchSize);
  }

  orderOf(epoch: number): number[] {
    if (epoch !== this.cachedEpoch) {
      this.order = epochOrder(this.examples.map((e) => e.inputIds.length), epoch, this.seed, this.microBatchSize, this.groupByLength);
      this.cachedEpoch = epoch;
    }
    return this.order;
  }

  microBatch(epoch: number, index: number): MicroBatch {
    const ids = this.orderOf(epoch).slice(index * this.microBatchSize, (index + 1) * this.microBatchSize);
    return collate(ids.map((i) => this.examples[i]));
  }
}

/** Fixed micro-batches over a list in order (validation). */
export function sequentialBatches(examples: EncodedExample[], microBatchSize: number): MicroBatch[] {
  const out: MicroBatch[] = [];
  for (let i = 0; i < examples.length; i += microBatchSize) out.push(collate(examples.slice(i, i + microBatchSize)));
  return out;
}
