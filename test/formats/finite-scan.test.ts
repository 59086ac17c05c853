import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { f32ToBf16, f32ToF16 } from '../../main/engine/cpu-kernels/half-float.ts';
import { wasmKernels } from '../../main/engine/cpu-kernels/export-kernels.ts';
import { countNonFinite, hasNonFinite } from '../../main/engine/formats/finite-scan.ts';
import { openSafetensors, writeSafetensors } from '../../main/engine/formats/safetensors.ts';
import { Prng } from '../../main/engine/data/prng.ts';
import { workFolder } from '../helpers/work-folder.ts';

/**
 * The NaN / Inf scan every weight read goes through: the word trick (wasm SIMD and its JS twin) against a value-by-value
 * check with Number.isFinite, for every float dtype, every position of a bad value (the SIMD groups, their tails, an
 * odd last half, unaligned views), and every kind of non-finite bit pattern; then the reader's refusal with its counts.
 */

type Dtype = 'F32' | 'F16' | 'BF16';
const SIZE = { F32: 4, F16: 2, BF16: 2 } as const;

/** Finite values of every kind (zeros, subnormals, the largest finite) and the non-finite bit patterns, per dtype. */
const FINITE_BITS = {
  F32: [0, 0x80000000, 1, 0x007fffff, 0x3f800000, 0x7f7fffff, 0xff7fffff],
  F16: [0, 0x8000, 1, 0x03ff, 0x3c00, 0x7bff, 0xfbff],
  BF16: [0, 0x8000, 1, 0x007f, 0x3f80, 0x7f7f, 0xff7f],
};
const BAD_BITS = {
  F32: [0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffffffff],
  F16: [0x7c00, 0xfc00, 0x7e00, 0x7c01, 0xffff],
  BF16: [0x7f80, 0xff80, 0x7fc0, 0x7f81, 0xffff],
};

function buffer(dtype: Dtype, values: number, seed: number): Uint8Array {
  const prng = new Prng(seed);
  const out = new Uint8Array(values * SIZE[dtype]);
  const view = new DataView(out.buffer);
  for (let i = 0; i < values; i++) {
    const x = (prng.next() * 2 - 1) * 1000;
    if (dtype === 'F32') view.setFloat32(4 * i, x, true);
    else view.setUint16(2 * i, dtype === 'F16' ? f32ToF16(x) : f32ToBf16(x), true);
  }
  return out;
}

function put(bytes: Uint8Array, dtype: Dtype, index: number, bits: number): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === 'F32') view.setUint32(4 * index, bits, true);
  else view.setUint16(2 * index, bits, true);
}

describe('the NaN / Inf scan', () => {
  it('the wasm SIMD kernel is there (else only the JS twin is tested)', () => {
    expect(wasmKernels()).toBeDefined();
  });

  describe.each(['F32', 'F16', 'BF16'] as const)('%s', (dtype) => {
    it('finds every non-finite pattern at every position, in wasm and in JS; passes every finite one', () => {
      for (const values of [1, 3, 7, 8, 9, 33, 257]) {
        const clean = buffer(dtype, values, values);
        for (let i = 0; i < values; i += Math.max(1, Math.floor(values / 17)))
          for (const bits of FINITE_BITS[dtype]) put(clean, dtype, i, bits);
        expect(hasNonFinite(clean, dtype), `${values} finite`).toBe(false);
        expect(hasNonFinite(clean, dtype, true), `${values} finite (JS)`).toBe(false);
        for (let i = 0; i < values; i++) {
          for (const bits of BAD_BITS[dtype]) {
            const bad = clean.slice();
            put(bad, dtype, i, bits);
            expect(hasNonFinite(bad, dtype), `${values} values, ${bits.toString(16)} at ${i}`).toBe(true);
            expect(hasNonFinite(bad, dtype, true), `${values} values, ${bits.toString(16)} at ${i} (JS)`).toBe(true);
          }
        }
      }
    });

    it('reads views at any byte offset, and counts NaN, +Inf and -Inf with the first index', () => {
      const backing = new Uint8Array(64 * SIZE[dtype] + 3);
      for (const offset of [0, 1, 2, 3]) {
        const view = backing.subarray(offset, offset + 64 * SIZE[dtype]);
        view.set(buffer(dtype, 64, offset));
        expect(hasNonFinite(view, dtype)).toBe(false);
        put(view, dtype, 40, BAD_BITS[dtype][2]); // NaN
        put(view, dtype, 63, BAD_BITS[dtype][1]); // -Inf
        put(view, dtype, 17, BAD_BITS[dtype][0]); // +Inf
        expect(hasNonFinite(view, dtype)).toBe(true);
        expect(countNonFinite(view, dtype)).toEqual({ count: 3, nan: 1, posInf: 1, negInf: 1, first: 17 });
      }
    });
  });

  it('agrees with Number.isFinite on large random buffers (the wasm chunks and their seams)', () => {
    const values = (1 << 19) + 5; // more than one 1 MiB chunk of f32 in the scanner's memory
    const f32 = buffer('F32', values, 99);
    expect(hasNonFinite(f32, 'F32')).toBe(false);
    for (const at of [0, (1 << 18) - 1, 1 << 18, values - 1]) {
      const bad = f32.slice();
      put(bad, 'F32', at, 0x7fc00000);
      expect(hasNonFinite(bad, 'F32'), `NaN at ${at}`).toBe(true);
    }
  });
});

describe('the safetensors reader refuses non-finite tensors by name', () => {
  it('names the tensor, the counts and the first position, on any read (whole, rows, into)', async () => {
    const dir = workFolder('finite');
    const file = path.join(dir, 'w.safetensors');
    const w = new Float32Array(6 * 5).map((_, i) => i / 10);
    w[2 * 5 + 3] = NaN;
    w[4 * 5 + 1] = -Infinity;
    const ok = new Float32Array([1, 2, 3]);
    await writeSafetensors(file, [
      { name: 'bad', dtype: 'F32', shape: [6, 5], data: new Uint8Array(w.buffer) },
      { name: 'good', dtype: 'F32', shape: [3], data: new Uint8Array(ok.buffer) },
    ]);
    writeFileSync(path.join(dir, 'unused'), '');
    const f = await openSafetensors(file);
    try {
      const message = `${file}: tensor bad holds 2 non-finite values (1 NaN, 1 ±Inf; the first at [2, 3])`;
      await expect(f.readF32('bad')).rejects.toThrow(message);
      await expect(f.readRawRows('bad', 1, 3)).rejects.toThrow(message);
      await expect(f.readRawRowsInto('bad', 4, 6, new Uint8Array(40))).rejects.toThrow(message);
      expect(await f.readF32Rows('bad', 0, 2)).toEqual(w.subarray(0, 10)); // rows without one are fine
      expect(await f.readF32('good')).toEqual(ok);
    } finally {
      await f.close();
    }
  });
});
