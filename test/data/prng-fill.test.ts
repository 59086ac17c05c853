import { describe, expect, it } from 'vitest';
import { Prng } from '../../main/engine/data/prng.ts';

describe('Prng.fill', () => {
  it('draws the same words as nextUint32, and the stream continues the same afterwards', () => {
    for (const seed of [0, 1, 42, 0xffffffff]) {
      const one = new Prng(seed);
      const bulk = new Prng(seed);
      const expected = Uint32Array.from({ length: 1000 }, () => one.nextUint32());
      const got = new Uint32Array(1000);
      bulk.fill(got.subarray(0, 333));
      bulk.fill(got.subarray(333));
      expect(got).toEqual(expected);
      expect(bulk.state()).toEqual(one.state());
      expect(bulk.nextUint32()).toBe(one.nextUint32());
    }
  });
});
