import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  f32ToF16 as f32ToHalf,
  bf16ArrayToF16Into,
  bf16ArrayToF32,
  f16ToF32,
  f32ArrayToF16,
  f32ArrayToF16Into,
} from '../../main/engine/cpu-kernels/half-float.ts';
import { addLowRank, firstNonFinite } from '../../main/engine/export/low-rank.ts';
import { encodePiece } from '../../main/engine/export/piece-encode.ts';
import { ErrorTally, quantizeQ8_0, quantizeQ8_0Reference } from '../../main/engine/formats/q8-0.ts';
import { bf16ToF16, f32ToF16, groupInput, setWasmKernels, tallyF16, WasmLowRank } from '../../main/engine/cpu-kernels/export-kernels.ts';
import { assembleWat, kernelModule, WASM_KERNELS } from '../../scripts/build-wasm.ts';

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
    view.setUint16(b * 34, f32ToHalf(d), true);
    for (let j = 0; j < 32; j++) {
      const x = Math.fround(values[b * 32 + j] * id);
      quants[b * 34 + 2 + j] = Math.trunc(x + (x >= 0 ? 0.5 : -0.5));
    }
    // The block's errors summed as error-tally.ts says: c[r] += e[8i + r], then ((c0 + c2) + (c4 + c6)) + ((c1 + c3) + (c5 + c7)).
    const dBack = f16ToF32(view.getUint16(b * 34, true));
    const c = [0, 0, 0, 0, 0, 0, 0, 0];
    for (let j = 0; j < 32; j++) {
      const e = Math.abs(values[b * 32 + j] - Math.fround(dBack * quants[b * 34 + 2 + j]));
      if (e > tally.max) tally.max = e;
      c[j % 8] += e;
    }
    tally.sum += c[0] + c[2] + (c[4] + c[6]) + (c[1] + c[3] + (c[5] + c[7]));
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

/** Float32 arrays of `length` whose blocks are all tiny (subnormal scales) or all huge (scales past f16's range). */
const tinyBlocks = (length: number) =>
  fc
    .tuple(
      fc.constantFrom(1e-45, 1e-42, 1e-40, 1e-38, 3e-37, 1e6, 1e7, 3e38),
      fc.array(fc.float({ min: -1, max: 1, noNaN: true }), { minLength: length, maxLength: length }),
    )
    .map(([scale, xs]) => Float32Array.from(xs, (x) => x * scale));

/** A merge's rank, rows and row length, and a seed for its values. */
const MERGE_CASE = [
  fc.integer({ min: 1, max: 20 }),
  fc.integer({ min: 1, max: 5 }),
  fc.integer({ min: 1, max: 40 }),
  fc.integer(),
] as const;

/** Values in [-0.5, 0.5) from `seed` (an LCG: a case is its few integers, which shrink well). */
function uniformFrom(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => ((s = (s * 1103515245 + 12345) >>> 0), s / 2 ** 32 - 0.5);
}

const bitsOf = (x: Uint8Array | Float32Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength).toString('hex');
const sameTally = (a: ErrorTally, b: ErrorTally) => Object.is(a.max, b.max) && Object.is(a.sum, b.sum) && a.count === b.count;

describe('export kernels match the plain loops they replaced', () => {
  it('Q8_0 in wasm SIMD and in the JS loops: the same bytes and the same error tally, NaN, ±0, ±Inf and subnormals included', () => {
    fc.assert(
      fc.property(fc.oneof(weights(96), tinyBlocks(96)), (values) => {
        const theirs = new ErrorTally();
        const expected = bitsOf(referenceQ8_0(values, theirs));
        const wasm = new ErrorTally();
        expect(bitsOf(quantizeQ8_0(values, 32, wasm))).toBe(expected);
        expect(sameTally(wasm, theirs)).toBe(true);
        const js = new ErrorTally();
        const out = new Uint8Array((values.length / 32) * 34);
        quantizeQ8_0Reference(values, out, js);
        expect(bitsOf(out)).toBe(expected);
        expect(sameTally(js, theirs)).toBe(true);
      }),
      { numRuns: 3000, seed: 7 },
    );
  });

  it('Q8_0 in wasm SIMD: blocks whose scale is subnormal in f16 or f32, whose 1/d overflows, or which round across int8', () => {
    // d = max|x|/127 below 2^-126: 1/d loses bits (|x|/d can pass 127, and an int8 store wraps) or overflows to ∞
    // (C's cast and JS's `| 0` make 0); d beyond f16's range is stored as ∞. Two scales d fall exactly halfway
    // between two halves (a normal and a subnormal one), with the lower half odd: ties to even round them up.
    const ties = [127 * (1 + 3 * 2 ** -11), 127 * 2 ** -16 * (1 + 3 * 2 ** -9)];
    const cases = [1e-45, 3e-45, 1e-43, 1e-42, 2e-41, 1e-39, 1e-38, 6e-5, 1e4 * 127, 65504 * 127, 3e38, ...ties].map((amax) =>
      Float32Array.from({ length: 64 }, (_, i) => Math.fround((amax * ((i * 37) % 64)) / 63) * (i % 3 ? 1 : -1)),
    );
    for (const values of cases) {
      const theirs = new ErrorTally();
      const wasm = new ErrorTally();
      expect(bitsOf(quantizeQ8_0(values, 32, wasm))).toBe(bitsOf(referenceQ8_0(values, theirs)));
      expect(sameTally(wasm, theirs)).toBe(true);
    }
  });

  it("the F16 tally adds in the documented order: a row's blocks of 32 (8 running sums), then its last values one by one", () => {
    // Errors of 16 (65488 lies halfway between two halves) and of 2^-49 (below f16's range: the value itself): added to
    // 16 one by one, each 2^-49 is half an ulp and vanishes; summed among themselves first they count. So only the
    // documented order gives the expected figure.
    const tiny = 2 ** -49;
    for (const cols of [32, 40]) {
      const values = Float32Array.from({ length: 2 * cols }, (_, i) => (i % cols === 0 ? 65488 : (i % 2 ? -1 : 1) * tiny));
      const errors = Array.from(values, (x) => (Math.abs(x) === 65488 ? 16 : tiny));
      let expected = 0;
      for (let row = 0; row < values.length; row += cols) {
        const c = [0, 0, 0, 0, 0, 0, 0, 0];
        for (let j = 0; j < 32; j++) c[j % 8] += errors[row + j];
        expected += c[0] + c[2] + (c[4] + c[6]) + (c[1] + c[3] + (c[5] + c[7]));
        for (let j = 32; j < cols; j++) expected += errors[row + j];
      }
      expect(expected).not.toBe(errors.reduce((a, b) => a + b)); // the order matters here
      for (const wasm of [true, false]) {
        setWasmKernels(wasm);
        try {
          const tally = new ErrorTally();
          f32ToF16(values, new Uint16Array(values.length), tally, cols);
          expect(tally.sum, `${wasm ? 'wasm' : 'JS'}, rows of ${cols}`).toBe(expected);
          expect(tally.max).toBe(16);
        } finally {
          setWasmKernels(true);
        }
      }
    }
  });

  it('bf16 → Q8_0 and → F16 pieces (rows decoded and encoded in the wasm kernels) equal the JS path, merged or not', () => {
    // Q8_0 rows are 64 long; F16 rows 61 (a group that is no multiple of 8 leaves a tail to JS).
    fc.assert(
      fc.property(weights(16 * 64), fc.boolean(), fc.integer({ min: 0, max: 5 }), fc.constantFrom('Q8_0', 'F16'), (w, merged, tail, to) => {
        const rows = 16 - tail;
        const cols = to === 'Q8_0' ? 64 : 61;
        const bf16 = Uint16Array.from(new Uint32Array(w.buffer), (x) => x >>> 16).subarray(0, rows * cols);
        const delta = merged
          ? {
              a: Float32Array.from({ length: 2 * cols }, (_, i) => Math.sin(i)),
              b: Float32Array.from({ length: rows * 2 }, (_, i) => Math.cos(i)),
              r: 2,
              scale: 0.5,
              safe: false,
            }
          : undefined;
        const task = {
          tensor: 't',
          start: 0,
          rows,
          cols,
          raw: new Uint8Array(bf16.slice().buffer),
          dtype: 'BF16',
          to,
          tally: true,
          delta,
        } as const;
        const wasm = new ErrorTally();
        const got = bitsOf(encodePiece(task, wasm).bytes);
        setWasmKernels(false);
        try {
          const js = new ErrorTally();
          expect(got).toBe(bitsOf(encodePiece(task, js).bytes));
          expect(sameTally(wasm, js)).toBe(true);
        } finally {
          setWasmKernels(true);
        }
      }),
      { numRuns: 300, seed: 5 },
    );
  });

  it('the merge: the same f32 bits for ranks 1 to 20, zero coefficients and a NaN or Inf in A included', () => {
    fc.assert(
      fc.property(...MERGE_CASE, (r, rows, cols, seed) => {
        const next = uniformFrom(seed);
        const pick = (i: number) => (i % 11 === 3 ? SPECIAL[i % SPECIAL.length] : next());
        const w = Float32Array.from({ length: rows * cols }, (_, i) => pick(i));
        const a = Float32Array.from({ length: r * cols }, (_, i) => (i % 17 === 5 ? SPECIAL[(i >> 2) % SPECIAL.length] : next()));
        const b = Float32Array.from({ length: rows * r }, (_, i) => (i % 3 === 0 ? 0 : next()));
        const mine = w.slice();
        const theirs = w.slice();
        addLowRank(mine, b, a, rows, cols, r, 1.5);
        referenceLowRank(theirs, b, a, rows, cols, r, 1.5);
        expect(bitsOf(mine)).toBe(bitsOf(theirs));
      }),
      { numRuns: 1000, seed: 11 },
    );
  });

  it("the merge in wasm SIMD: the JS merge's f32 bits, and whether one is NaN or ±Inf, for ranks 1 to 20 and any row length", () => {
    fc.assert(
      fc.property(...MERGE_CASE, (r, rows, cols, seed) => {
        const next = uniformFrom(seed);
        const pick = (i: number) => (i % 11 === 3 ? SPECIAL[i % SPECIAL.length] : next());
        const w = Float32Array.from({ length: rows * cols }, (_, i) => pick(i));
        // A finite (the wasm merge's condition), sometimes huge; B with zeros and the special values.
        const a = Float32Array.from({ length: r * cols }, (_, i) => (i % 13 === 7 ? 3e38 * Math.sign(next()) : next()));
        const b = Float32Array.from({ length: rows * r }, (_, i) => (i % 3 === 0 ? 0 : pick(i + 1)));
        const js = w.slice();
        addLowRank(js, b, a, rows, cols, r, 1.5);
        const merge = WasmLowRank.place(a, r, cols, 1.5, rows * cols)!;
        const group = groupInput(rows * cols)!;
        group.set(w);
        const nonFinite = merge.addRows(group, b, rows);
        expect(bitsOf(group)).toBe(bitsOf(js));
        expect(nonFinite).toBe(firstNonFinite(js) >= 0);
      }),
      { numRuns: 1000, seed: 13 },
    );
  });

  it('pieces for every target, merged or not, RoPE rows or not, over several groups: the wasm kernels give the JS bytes', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('F32', 'BF16', 'F16', 'Q8_0', 'I8'),
        fc.constantFrom('F32', 'BF16'),
        fc.integer({ min: 0, max: 20 }),
        fc.boolean(),
        fc.integer(),
        (to, dtype, r, rope, seed) => {
          // r 0: not merged.
          // 4096 columns: 4 rows a group, so 10 rows are groups of 4, 4 and 2 (and RoPE moves rows across them).
          const rows = rope ? 8 : 10;
          const cols = 4096;
          const next = uniformFrom(seed);
          const w = Float32Array.from({ length: rows * cols }, () => next() * 0.1);
          const raw =
            dtype === 'F32'
              ? new Uint8Array(w.buffer)
              : new Uint8Array(Uint16Array.from(new Uint32Array(w.buffer), (x) => x >>> 16).buffer);
          const delta = r
            ? {
                a: Float32Array.from({ length: r * cols }, () => next() * 0.05),
                b: Float32Array.from({ length: rows * r }, (_, i) => (i % 5 === 0 ? 0 : next() * 0.05)),
                r,
                scale: 2,
                safe: true,
              }
            : undefined;
          const task = { tensor: 't', start: 0, rows, cols, raw, dtype, to, tally: true, delta, ropeHeads: rope ? 2 : undefined } as const;
          const wasmTally = new ErrorTally();
          const wasm = encodePiece(task, wasmTally);
          setWasmKernels(false);
          try {
            const jsTally = new ErrorTally();
            const js = encodePiece(task, jsTally);
            expect(bitsOf(wasm.bytes)).toBe(bitsOf(js.bytes));
            expect(wasm.scb && bitsOf(wasm.scb)).toBe(js.scb && bitsOf(js.scb));
            expect(sameTally(wasmTally, jsTally)).toBe(true);
          } finally {
            setWasmKernels(true);
          }
        },
      ),
      { numRuns: 80, seed: 17 },
    );
  });

  it('bf16 → f16 straight, in JS and in wasm: every one of the 65536 bf16 values gives the half its f32 value gives', () => {
    const all = Uint16Array.from({ length: 65536 + 5 }, (_, i) => i & 0xffff); // + a tail the SIMD loop leaves to JS
    const expected = bitsOf(new Uint8Array(f32ArrayToF16(bf16ArrayToF32(all)).buffer));
    expect(bitsOf(new Uint8Array(bf16ArrayToF16Into(all, new Uint16Array(all.length)).buffer))).toBe(expected);
    const wasm = new Uint16Array(all.length);
    bf16ToF16(all, wasm);
    expect(bitsOf(new Uint8Array(wasm.buffer))).toBe(expected);
  });

  it('f32 → f16 with its error tally, in wasm: the bits and tally of the JS loops for any f32 (NaN payloads, subnormals, ties)', () => {
    // Any bits (NaN payloads, ±inf, subnormals, ties), or only finite values within f16's reach (either sign), whose
    // error sums are finite and so show the order they were added in.
    const bits = (word: fc.Arbitrary<number>) =>
      fc.array(word, { minLength: 1, maxLength: 300 }).map((xs) => new Float32Array(Uint32Array.from(xs).buffer));
    const anyBits = fc.oneof(
      bits(fc.oneof(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.constantFrom(0x38801000, 0x33000000, 0x477ff000, 0x7f800001, 0xffc00000))),
      bits(
        fc
          .tuple(fc.integer({ min: 0x33000000, max: 0x477fe000 }), fc.boolean())
          .map(([b, negative]) => (negative ? b | 0x80000000 : b) >>> 0),
      ),
    );
    fc.assert(
      fc.property(anyBits, (values) => {
        // Rows of any length that divides the values: each row's blocks of 32, then its last values one by one.
        const cols =
          [...Array(values.length).keys()]
            .map((i) => i + 1)
            .filter((c) => values.length % c === 0)
            .at(-1 - (values.length % 3)) ?? values.length;
        const js = new ErrorTally();
        const expected = f32ArrayToF16Into(values, new Uint16Array(values.length));
        tallyF16(values, expected, js, cols);
        const wasm = new ErrorTally();
        const got = new Uint16Array(values.length);
        f32ToF16(values, got, wasm, cols);
        expect(bitsOf(new Uint8Array(got.buffer))).toBe(bitsOf(new Uint8Array(expected.buffer)));
        expect(sameTally(wasm, js)).toBe(true);
      }),
      { numRuns: 2000, seed: 13 },
    );
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

describe('the hand-written wasm kernels', () => {
  it('each generated module carries what `npm run build:wasm` assembles from its .wat today', async () => {
    const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
    for (const k of WASM_KERNELS) {
      const binary = await assembleWat(path.join(root, k.wat));
      expect(readFileSync(path.join(root, k.module), 'utf8'), `${k.module} is stale: run npm run build:wasm`).toBe(
        kernelModule(k.wat, binary),
      );
    }
  });
});
