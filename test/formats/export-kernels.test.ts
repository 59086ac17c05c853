import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bf16ArrayToF16Into, bf16ArrayToF32, f16ToF32, f32ArrayToF16, f32ToF16 } from '../../main/engine/formats/dtypes.ts';
import { addLowRank } from '../../main/engine/formats/low-rank.ts';
import { encodePiece } from '../../main/engine/formats/piece-encode.ts';
import { ErrorTally, quantizeQ8_0 } from '../../main/engine/formats/q8-0.ts';

// The export's kernels are written for speed (bit tricks, no branches on signs, 8 ranks at a time). Each is checked
// here against the plain loop it replaced, value for value and tally for tally, on random data salted with the
// values that break tricks: ±0, NaN, ±Inf, subnormals, the largest floats.

/** ggml's quantize_row_q8_0_ref as first written here: the reference. */
function referenceQ8_0(values: Float32Array, tally: ErrorTally): Uint8Array {
  const out = new Uint8Array((values.length / 32) * 34);
  const view = new DataView(out.buffer);
  const quants = new Int8Array(out.buffer);
  for (let b = 0; b < values.length / 32; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) {
      const v = values[b * 32 + j];
      const a = v < 0 ? -v : v;
      if (a > amax) amax = a;
    }
    const d = Math.fround(amax / 127);
    const id = d ? Math.fround(1 / d) : 0;
    view.setUint16(b * 34, f32ToF16(d), true);
    for (let j = 0; j < 32; j++) {
      const x = Math.fround(values[b * 32 + j] * id);
      quants[b * 34 + 2 + j] = Math.trunc(x + (x >= 0 ? 0.5 : -0.5));
    }
    const dBack = f16ToF32(view.getUint16(b * 34, true));
    for (let j = 0; j < 32; j++) {
      const e = Math.abs(values[b * 32 + j] - Math.fround(dBack * quants[b * 34 + 2 + j]));
      if (e > tally.max) tally.max = e;
      tally.sum += e;
    }
  }
  tally.count += values.length;
  return out;
}

/** W += scale · B · A with a row of f64 sums, k outer: the reference. */
function referenceLowRank(w: Float32Array, b: Float32Array, a: Float32Array, rows: number, cols: number, r: number, scale: number): void {
  const row = new Float64Array(cols);
  for (let o = 0; o < rows; o++) {
    row.fill(0);
    for (let k = 0; k < r; k++) {
      const coef = scale * b[o * r + k];
      if (coef === 0) continue;
      for (let i = 0; i < cols; i++) row[i] += coef * a[k * cols + i];
    }
    for (let i = 0; i < cols; i++) w[o * cols + i] = w[o * cols + i] + row[i];
  }
}

const SPECIAL = [0, -0, NaN, Infinity, -Infinity, 1e-45, -1e-45, 1e-40, 3.4028234663852886e38, -3.4028234663852886e38, 1, -1, 0.5];

/** Float32 arrays of `length`, mostly small weights, some special values. */
const weights = (length: number) =>
  fc
    .array(
      fc.oneof(
        { weight: 8, arbitrary: fc.float({ min: Math.fround(-0.1), max: Math.fround(0.1), noNaN: true }) },
        { weight: 1, arbitrary: fc.constantFrom(...SPECIAL) },
        { weight: 1, arbitrary: fc.float() },
      ),
      { minLength: length, maxLength: length },
    )
    .map((xs) => Float32Array.from(xs));

const bitsOf = (x: Uint8Array | Float32Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('hex');
const sameTally = (a: ErrorTally, b: ErrorTally) => Object.is(a.max, b.max) && Object.is(a.sum, b.sum) && a.count === b.count;

describe('export kernels match the plain loops they replaced', () => {
  it('Q8_0: the same bytes and the same error tally, NaN, ±0, ±Inf and subnormals included', () => {
    fc.assert(
      fc.property(weights(96), (values) => {
        const mine = new ErrorTally();
        const theirs = new ErrorTally();
        expect(bitsOf(quantizeQ8_0(values, 32, mine))).toBe(bitsOf(referenceQ8_0(values, theirs)));
        expect(sameTally(mine, theirs)).toBe(true);
      }),
      { numRuns: 2000, seed: 7 },
    );
  });

  it('the merge: the same f32 bits for ranks 1 to 20, zero coefficients and a NaN or Inf in A included', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer(),
        (r, rows, cols, seed) => {
          let s = seed >>> 0 || 1;
          const next = () => ((s = (s * 1103515245 + 12345) >>> 0), s / 2 ** 32 - 0.5);
          const pick = (i: number) => (i % 11 === 3 ? SPECIAL[i % SPECIAL.length] : next());
          const w = Float32Array.from({ length: rows * cols }, (_, i) => pick(i));
          const a = Float32Array.from({ length: r * cols }, (_, i) => (i % 17 === 5 ? SPECIAL[(i >> 2) % SPECIAL.length] : next()));
          const b = Float32Array.from({ length: rows * r }, (_, i) => (i % 3 === 0 ? 0 : next()));
          const mine = w.slice();
          const theirs = w.slice();
          addLowRank(mine, b, a, rows, cols, r, 1.5);
          referenceLowRank(theirs, b, a, rows, cols, r, 1.5);
          expect(bitsOf(mine)).toBe(bitsOf(theirs));
        },
      ),
      { numRuns: 1000, seed: 11 },
    );
  });

  it('bf16 → f16 straight: every one of the 65536 bf16 values gives the half its f32 value gives', () => {
    const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const straight = bf16ArrayToF16Into(all, new Uint16Array(all.length));
    expect(bitsOf(new Uint8Array(straight.buffer))).toBe(bitsOf(new Uint8Array(f32ArrayToF16(bf16ArrayToF32(all)).buffer)));
  });

  it('a piece encoded a group of rows at a time equals the whole piece merged, permuted and encoded at once', () => {
    // 4 heads of 8 rows, 64 columns: big enough that the 16 Ki-value groups do not matter, so force several pieces'
    // worth of rows through both paths and compare with the reference steps done by hand.
    fc.assert(
      fc.property(weights(32 * 64), (w) => {
        const raw = new Uint8Array(w.slice().buffer);
        const tally = new ErrorTally();
        const got = encodePiece(
          { tensor: 't', start: 0, rows: 32, cols: 64, raw, dtype: 'F32', to: 'Q8_0', tally: true, ropeHeads: 4 },
          tally,
        );
        // By hand: rows to interleaved RoPE within each head of 8 rows, then Q8_0.
        const permuted = new Float32Array(w.length);
        for (let h = 0; h < 4; h++)
          for (let i = 0; i < 4; i++)
            for (let j = 0; j < 2; j++)
              permuted.set(w.subarray((h * 8 + j * 4 + i) * 64, (h * 8 + j * 4 + i + 1) * 64), (h * 8 + 2 * i + j) * 64);
        const reference = new ErrorTally();
        expect(bitsOf(got.bytes)).toBe(bitsOf(referenceQ8_0(permuted, reference)));
        expect(sameTally(tally, reference)).toBe(true);
      }),
      { numRuns: 100, seed: 3 },
    );
  });
});
