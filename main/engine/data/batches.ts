import { StudioError } from '../errors.ts';
import type { EncodedExample } from './encode.ts';
import { IGNORE_INDEX } from './encode.ts';
import { Prng, mixSeeds, permutation } from './prng.ts';

/** One micro-batch as the data pipeline makes it: row-major [B, T] arrays. */
export interface MicroBatch {
  batchSize: number;
  seqLen: number;
  inputIds: Int32Array;
  labels: Int32Array;
  attentionMask: Int32Array;
}

/**
 * Alpaca-LoRA's collator: DataCollatorForSeq2Seq(tokenizer, pad_to_multiple_of=8, padding=True) with
 * tokenizer.pad_token_id = 0 (unk, so it differs from EOS) and padding_side = "left".
 */
export const PAD_ID = 0;
export const PAD_MULTIPLE = 8;

/**
 * Split off `valSetSize` examples for validation with a fixed seed (42, as Alpaca-LoRA's
 * `train_test_split(test_size=val_set_size, shuffle=True, seed=42)`). The draw is our own seeded permutation
 * (xoshiro128**), stable across runs and machines, but it does NOT pick the same rows as HF datasets' numpy
 * permutation. Rows keep their file order within each part.
 */
export function splitTrainValidation<T>(items: T[], valSetSize: number, seed = 42, file?: string): { train: T[]; validation: T[] } {
  if (valSetSize <= 0) return { train: items, validation: [] };
  if (valSetSize >= items.length) {
    throw new StudioError(
      `val_set_size (${valSetSize}) must be smaller than the number of usable rows (${items.length}); lower --val_set_size (Alpaca-LoRA's default is 2000), or 0 for no validation`,
      file,
      'data/val-set-size',
    );
  }
  const order = permutation(items.length, new Prng(seed));
  const valIdx = new Set(order.slice(0, valSetSize));
  return {
    train: items.filter((_, i) => !valIdx.has(i)),
    validation: items.filter((_, i) => valIdx.has(i)),
  };
}

/** Collate examples into one micro-batch: left padding with PAD_ID to a multiple of 8, labels -100 and mask 0 on padding. */
export function collate(examples: EncodedExample[]): MicroBatch {
  if (examples.length === 0) throw new StudioError('collate: no examples', undefined, 'data/empty');
  const longest = Math.max(...examples.map((e) => e.inputIds.length));
  const T = Math.ceil(longest / PAD_MULTIPLE) * PAD_MULTIPLE;
  const B = examples.length;
  const inputIds = new Int32Array(B * T).fill(PAD_ID); // [B, T]
  const labels = new Int32Array(B * T).fill(IGNORE_INDEX); // [B, T]
  const attentionMask = new Int32Array(B * T); // [B, T]
  examples.forEach((e, b) => {
    const pad = T - e.inputIds.length;
    inputIds.set(e.inputIds, b * T + pad);
    labels.set(e.labels, b * T + pad);
    attentionMask.fill(1, b * T + pad, (b + 1) * T);
  });
  return { batchSize: B, seqLen: T, inputIds, labels, attentionMask };
}

/**
 * transformers' LengthGroupedSampler on a given permutation: megabatches of mega_batch_mult × micro_batch_size
 * (mega_batch_mult = min(n / (4 × micro_batch_size), 50), at least 1), each sorted by length, longest first;
 * then the megabatch holding the longest example swaps its first element with the first megabatch's, so the
 * longest batch comes first and a memory problem shows at once.
 */
export function groupByLength(order: number[], lengths: number[], microBatchSize: number): number[] {
  const mult = Math.max(1, Math.min(Math.floor(order.length / (microBatchSize * 4)), 50));
  const mega = mult * microBatchSize;
  const groups: number[][] = [];
  for (let i = 0; i < order.length; i += mega) groups.push(order.slice(i, i + mega).sort((a, b) => lengths[b] - lengths[a]));
  if (groups.length === 0) return [];
  let longest = 0;
  groups.forEach((g, i) => {
    if (lengths[g[0]] > lengths[groups[longest][0]]) longest = i;
  });
  [groups[0][0], groups[longest][0]] = [groups[longest][0], groups[0][0]];
  return groups.flat();
}

/**
 * The order of training examples in one epoch: a permutation drawn from Prng(mixSeeds(seed, epoch)), so any
 * epoch can be rebuilt on its own (resume needs no saved stream), then grouped by length when asked.
 */
export function epochOrder(lengths: number[], epoch: number, seed: number, microBatchSize: number, groupByLengthOn: boolean): number[] {
  const order = permutation(lengths.length, new Prng(mixSeeds(seed, epoch)));
  return groupByLengthOn ? groupByLength(order, lengths, microBatchSize) : order;
}

/** Where a run is in its data: the epoch and the next micro-batch within it. Plain numbers, to save as JSON. */
interface DataCursor {
  epoch: number;
  microBatch: number;
}

interface DataOrderOptions {
  microBatchSize: number;
  seed: number;
  groupByLength: boolean;
}

/**
 * The sequence of micro-batches (as example indices) over epochs, with a cursor that can be saved and given back:
 * `new DataOrder(lengths, opts, saved)` continues exactly where the saved run stopped. The last micro-batch of an
 * epoch may be smaller (as the HF DataLoader without drop_last).
 */
export class DataOrder {
  private cursorNow: DataCursor;
  private cachedEpoch = -1;
  private order: number[] = [];

  constructor(
    private readonly lengths: number[],
    readonly opts: DataOrderOptions,
    cursor: DataCursor = { epoch: 0, microBatch: 0 },
  ) {
    if (!Number.isInteger(opts.microBatchSize) || opts.microBatchSize < 1)
      throw new StudioError(`micro_batch_size must be a positive integer, not ${opts.microBatchSize}`, undefined, 'config/micro-batch');
    if (lengths.length === 0) throw new StudioError('no training examples: every row was held out or skipped', undefined, 'data/empty');
    if (!(cursor.microBatch >= 0 && cursor.microBatch < this.microBatchesPerEpoch && cursor.epoch >= 0)) {
      throw new StudioError(
        `data cursor (epoch ${cursor.epoch}, micro-batch ${cursor.microBatch}) is outside the ${this.microBatchesPerEpoch} micro-batches of an epoch (a checkpoint from other data or settings?)`,
        undefined,
        'checkpoint/cursor',
      );
    }
    this.cursorNow = { ...cursor };
  }

  get microBatchesPerEpoch(): number {
    return Math.ceil(this.lengths.length / this.opts.microBatchSize);
  }

  /** The position of the next micro-batch (a copy, to save). */
  get cursor(): DataCursor {
    return { ...this.cursorNow };
  }

  orderOf(epoch: number): number[] {
    if (epoch !== this.cachedEpoch) {
      this.order = epochOrder(this.lengths, epoch, this.opts.seed, this.opts.microBatchSize, this.opts.groupByLength);
      this.cachedEpoch = epoch;
    }
    return this.order;
  }

  /** The example indices of a micro-batch, by position. */
  indicesAt(epoch: number, microBatch: number): number[] {
    const b = this.opts.microBatchSize;
    return this.orderOf(epoch).slice(microBatch * b, (microBatch + 1) * b);
  }

  /** The next micro-batch's example indices and where it was; moves the cursor on (into the next epoch at the end). */
  next(): { epoch: number; microBatch: number; indices: number[] } {
    const { epoch, microBatch } = this.cursorNow;
    const indices = this.indicesAt(epoch, microBatch);
    this.cursorNow =
      microBatch + 1 < this.microBatchesPerEpoch ? { epoch, microBatch: microBatch + 1 } : { epoch: epoch + 1, microBatch: 0 };
    return { epoch, microBatch, indices };
  }
}

/** The micro-batches of an epoch as a pure function of (epoch, index), so a resumed run sees the same data. */
export class EpochBatches {
  private readonly dataOrder: DataOrder;

  constructor(
    readonly examples: EncodedExample[],
    readonly microBatchSize: number,
    readonly seed: number,
    readonly groupByLength: boolean,
  ) {
    this.dataOrder = new DataOrder(
      examples.map((e) => e.inputIds.length),
      { microBatchSize, seed, groupByLength },
    );
  }

  get microBatchesPerEpoch(): number {
    return this.dataOrder.microBatchesPerEpoch;
  }

  orderOf(epoch: number): number[] {
    return this.dataOrder.orderOf(epoch);
  }

  microBatch(epoch: number, index: number): MicroBatch {
    return collate(this.dataOrder.indicesAt(epoch, index).map((i) => this.examples[i]));
  }
}

/** Fixed micro-batches over a list in order (validation). */
export function sequentialBatches(examples: EncodedExample[], microBatchSize: number): MicroBatch[] {
  const out: MicroBatch[] = [];
  for (let i = 0; i < examples.length; i += microBatchSize) out.push(collate(examples.slice(i, i + microBatchSize)));
  return out;
}
