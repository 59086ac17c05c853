import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  collate,
  DataOrder,
  EpochBatches,
  epochOrder,
  groupByLength,
  PAD_ID,
  sequentialBatches,
  splitTrainValidation,
} from '../../main/engine/data/batches.ts';
import type { EncodedExample } from '../../main/engine/data/encode.ts';
import { mixSeeds, permutation, Prng } from '../../main/engine/data/prng.ts';

const ex = (ids: number[], labels = ids): EncodedExample => ({ inputIds: ids, labels, truncated: false, fullLength: ids.length });

describe('xoshiro128** PRNG', () => {
  it("matches the reference algorithm's first outputs for a given state", () => {
    // xoshiro128starstar.c (Blackman & Vigna) from state {1, 2, 3, 4}, worked by hand: rotl(2·5, 7)·9 = 11520, then 0, ...
    const p = new Prng([1, 2, 3, 4]);
    expect([p.nextUint32(), p.nextUint32(), p.nextUint32(), p.nextUint32()]).toEqual([11520, 0, 5927040, 70819200]);
  });

  it('state saved and restored continues the same stream', () => {
    fc.assert(
      fc.property(fc.integer(), fc.nat(50), (seed, skip) => {
        const p = new Prng(seed);
        for (let i = 0; i < skip; i++) p.next();
        const q = new Prng(JSON.parse(JSON.stringify(p.state())));
        expect([p.next(), p.nextInt(7), p.nextUint32()]).toEqual([q.next(), q.nextInt(7), q.nextUint32()]);
      }),
      { numRuns: 100 },
    );
  });

  it('draws uniform-looking permutations; nearby seeds and epochs differ', () => {
    const firsts = new Array(4).fill(0);
    for (let s = 0; s < 4000; s++) firsts[permutation(4, new Prng(s))[0]]++;
    for (const c of firsts) expect(c).toBeGreaterThan(850); // 1000 expected each
    expect(mixSeeds(42, 1)).not.toBe(mixSeeds(43, 0));
    expect(() => new Prng([1, 2, 3])).toThrow(/four 32-bit words/);
  });
});

describe('validation split', () => {
  it('is fixed by the seed, disjoint, complete, and keeps file order', () => {
    const items = Array.from({ length: 100 }, (_, i) => i);
    const a = splitTrainValidation(items, 10);
    expect(a).toEqual(splitTrainValidation(items, 10, 42));
    expect(a).not.toEqual(splitTrainValidation(items, 10, 7));
    expect(a.validation).toHaveLength(10);
    expect([...a.train, ...a.validation].sort((x, y) => x - y)).toEqual(items);
    expect(a.validation).toEqual([...a.validation].sort((x, y) => x - y));
    expect(splitTrainValidation(items, 0)).toEqual({ train: items, validation: [] });
    expect(() => splitTrainValidation(items, 100, 42, 'd.json')).toThrow(
      /^d\.json: val_set_size \(100\) must be smaller than the number of usable rows \(100\); lower --val_set_size/,
    );
  });
});

describe('collate', () => {
  it('pads on the left with id 0 to a multiple of 8; labels -100 and mask 0 on padding', () => {
    const mb = collate([ex([1, 5, 6, 7, 2], [-100, -100, 6, 7, 2]), ex([1, 9, 2]), ex(Array.from({ length: 9 }, (_, i) => i + 10))]);
    expect([mb.batchSize, mb.seqLen]).toEqual([3, 16]);
    const row = (a: Int32Array, b: number) => [...a.slice(b * 16, (b + 1) * 16)];
    expect(row(mb.inputIds, 0)).toEqual([...Array(11).fill(PAD_ID), 1, 5, 6, 7, 2]);
    expect(row(mb.labels, 0)).toEqual([...Array(13).fill(-100), 6, 7, 2]);
    expect(row(mb.attentionMask, 0)).toEqual([...Array(11).fill(0), ...Array(5).fill(1)]);
    expect(row(mb.inputIds, 1)).toEqual([...Array(13).fill(0), 1, 9, 2]);
    expect(row(mb.attentionMask, 2)).toEqual([...Array(7).fill(0), ...Array(9).fill(1)]);
    expect(collate([ex(Array(8).fill(3))]).seqLen).toBe(8); // already a multiple: no padding
  });
});

describe('group_by_length', () => {
  const lengths = Array.from({ length: 1000 }, (_, i) => 1 + ((i * 7919) % 500));

  it('follows LengthGroupedSampler: megabatches of min(n / 4B, 50) × B sorted longest first, the longest first of all', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 1000 }), fc.integer(), (B, n, seed) => {
        const ls = lengths.slice(0, n);
        const order = permutation(n, new Prng(seed));
        const grouped = groupByLength(order, ls, B);
        expect([...grouped].sort((a, b) => a - b)).toEqual(order.slice().sort((a, b) => a - b));
        const mega = Math.max(1, Math.min(Math.floor(n / (4 * B)), 50)) * B;
        expect(ls[grouped[0]]).toBe(Math.max(...ls));
        // Undo the one swap (first element of megabatch 0 <-> first of the megabatch that held the longest) ...
        const undone = [...grouped];
        const k = Array.from({ length: Math.ceil(n / mega) }, (_, g) => g * mega).find((at) =>
          order.slice(at, at + mega).includes(grouped[0]),
        )!;
        [undone[0], undone[k]] = [undone[k], undone[0]];
        // ... then every megabatch is its slice of the shuffled order, sorted longest first (stable, as Python's sorted).
        for (let at = 0; at < n; at += mega) {
          const slice = order.slice(at, at + mega);
          const sorted = slice
            .map((i, pos) => ({ i, pos }))
            .sort((a, b) => ls[b.i] - ls[a.i] || a.pos - b.pos)
            .map((x) => x.i);
          expect(undone.slice(at, at + mega)).toEqual(sorted);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('megabatch size is 50 micro-batches for large sets', () => {
    const order = epochOrder(lengths, 0, 42, 2, true);
    expect(lengths[order[0]]).toBe(500);
    const firstMega = order.slice(1, 100).map((i) => lengths[i]);
    expect(firstMega).toEqual([...firstMega].sort((a, b) => b - a));
    const secondMega = order.slice(101, 200).map((i) => lengths[i]);
    expect(secondMega).toEqual([...secondMega].sort((a, b) => b - a));
    // a new megabatch starts at 100: the length goes up again there
    expect(lengths[order[101]]).toBeGreaterThan(lengths[order[99]]);
  });
});

describe('DataOrder', () => {
  const lengths = Array.from({ length: 23 }, (_, i) => 3 + ((i * 13) % 17));

  it.each([false, true])('group_by_length=%s: each epoch is a permutation, epochs differ, the last micro-batch is short', (group) => {
    const d = new DataOrder(lengths, { microBatchSize: 4, seed: 42, groupByLength: group });
    expect(d.microBatchesPerEpoch).toBe(6);
    const epoch0 = Array.from({ length: 6 }, () => d.next());
    expect(epoch0.map((b) => b.indices.length)).toEqual([4, 4, 4, 4, 4, 3]);
    expect(epoch0.flatMap((b) => b.indices).sort((a, b) => a - b)).toEqual(lengths.map((_, i) => i));
    expect(d.cursor).toEqual({ epoch: 1, microBatch: 0 });
    expect(d.next().indices).not.toEqual(epoch0[0].indices);
  });

  it('a cursor saved as JSON and given back continues exactly (same as an uninterrupted run)', () => {
    const opts = { microBatchSize: 3, seed: 7, groupByLength: true };
    const straight = new DataOrder(lengths, opts);
    const all = Array.from({ length: 30 }, () => straight.next());
    for (const stopAt of [0, 1, 7, 8, 15, 29]) {
      const first = new DataOrder(lengths, opts);
      for (let i = 0; i < stopAt; i++) first.next();
      const saved = JSON.parse(JSON.stringify(first.cursor));
      const resumed = new DataOrder(lengths, opts, saved);
      expect(Array.from({ length: 30 - stopAt }, () => resumed.next())).toEqual(all.slice(stopAt));
    }
    expect(() => new DataOrder(lengths, opts, { epoch: 0, microBatch: 8 })).toThrow(/outside the 8 micro-batches/);
    expect(() => new DataOrder([], opts)).toThrow(/no training examples/);
  });

  it('EpochBatches serves the same micro-batches, collated', () => {
    const examples = lengths.map((n, i) => ex(Array.from({ length: n }, () => i + 1)));
    const eb = new EpochBatches(examples, 4, 42, false);
    const d = new DataOrder(lengths, { microBatchSize: 4, seed: 42, groupByLength: false });
    for (let i = 0; i < 6; i++) {
      const mb = eb.microBatch(0, i);
      const want = d.next().indices;
      const firstReal = [...Array(mb.batchSize).keys()].map((b) => mb.inputIds[b * mb.seqLen + mb.seqLen - 1]);
      expect(firstReal).toEqual(want.map((i) => i + 1));
    }
    expect(sequentialBatches(examples, 10).map((mb) => mb.batchSize)).toEqual([10, 10, 3]);
  });
});
