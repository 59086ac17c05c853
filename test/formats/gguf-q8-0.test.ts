import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { f16ToF32 } from '../../main/engine/cpu-kernels/half-float.ts';
import { dequantizeQ8_0, quantizationError, quantizeQ8_0 } from '../../main/engine/formats/q8-0.ts';

/** Block b's f16 scale and its 32 int8 values, read straight from the bytes (34 per block). */
function block(bytes: Uint8Array, b: number): { d: number; q: number[] } {
  const view = new DataView(bytes.buffer, bytes.byteOffset + b * 34, 34);
  return { d: f16ToF32(view.getUint16(0, true)), q: Array.from({ length: 32 }, (_, j) => view.getInt8(2 + j)) };
}

describe('Q8_0 (ggml quantize_row_q8_0_ref)', () => {
  it('stores d = max|x| / 127 as f16 and rounds x / d half away from zero, as C roundf does', () => {
    const x = new Float32Array(32);
    x.set([127, 2.5, -2.5, 0.5, -0.5, 1.4999, -126.5, 0]);
    const bytes = quantizeQ8_0(x);
    expect(bytes.length).toBe(34);
    expect(new DataView(bytes.buffer).getUint16(0, true)).toBe(0x3c00); // f16 1.0
    expect(block(bytes, 0).q.slice(0, 8)).toEqual([127, 3, -3, 1, -1, 1, -127, 0]); // numpy's round would give 2, -2, 0, -0
  });

  it('an all-zero block has d = 0 and zeros, and the negative extreme maps to -127', () => {
    const x = new Float32Array(64);
    x[40] = -3;
    const bytes = quantizeQ8_0(x);
    expect(block(bytes, 0)).toEqual({ d: 0, q: new Array(32).fill(0) });
    expect(block(bytes, 1).q[8]).toBe(-127);
  });

  it('each value is within d/2 of q·d (d the f32 scale), and the f16 scale adds at most 127·|d - f16(d)|', () => {
    fc.assert(
      fc.property(
        fc.float32Array({ minLength: 32, maxLength: 32, noNaN: true, noDefaultInfinity: true, min: -1e4, max: 1e4 }),
        (values) => {
          const x = Float32Array.from(values);
          const bytes = quantizeQ8_0(x);
          const back = dequantizeQ8_0(bytes, 32);
          const amax = Math.max(...x.map(Math.abs));
          const d = Math.fround(amax / 127);
          const d16 = block(bytes, 0).d;
          const q = block(bytes, 0).q;
          for (let j = 0; j < 32; j++) {
            expect(Math.abs(x[j] - q[j] * d)).toBeLessThanOrEqual(d / 2 + d * 1e-6);
            expect(Math.abs(x[j] - back[j])).toBeLessThanOrEqual(d / 2 + 127 * Math.abs(d - d16) + d * 1e-6);
          }
        },
      ),
      { numRuns: 300, seed: 42 },
    );
  });

  it('refuses rows that are not a multiple of 32 long, and short buffers', () => {
    expect(() => quantizeQ8_0(new Float32Array(31))).toThrow(/multiple of 32/);
    expect(() => quantizeQ8_0(new Float32Array(96), 48)).toThrow(/rows of 48/);
    expect(() => dequantizeQ8_0(new Uint8Array(33), 32)).toThrow(/cannot hold/);
  });

  it('reports max and mean absolute error', () => {
    const e = quantizationError(Float32Array.from([1, 2, 3, 4]), Float32Array.from([1, 2.5, 3, 3]));
    expect(e).toEqual({ maxAbs: 1, meanAbs: 0.375 });
  });
});
