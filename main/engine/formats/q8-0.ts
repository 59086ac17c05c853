import { StudioError } from '../errors.ts';
import { blockSum, ErrorTally } from '../cpu-kernels/error-tally.ts';
import { f16BitsToF32Bits, f16ToF32, f32BitsToF16Bits } from '../cpu-kernels/half-float.ts';
import { align16, CHUNK_VALUES, isGroup, wasmKernels, type WasmKernels } from '../cpu-kernels/export-kernels.ts';

export const Q8_0_BLOCK = 32;
const BLOCK_BYTES = 34; // f16 scale + 32 int8

export { ErrorTally } from '../cpu-kernels/error-tally.ts';

/**
 * ggml's Q8_0 (quantize_row_q8_0_ref): per block of 32 values d = max|x| / 127 stored as f16, then
 * q = round(x / d) as int8 (rounding half away from zero, like C's roundf). Rows must be a multiple of 32 long.
 * With `error`, each value's distance to its dequantized form (f16(d) · q, as f32) is tallied as it goes: the figures
 * `quantizationError(values, dequantizeQ8_0(bytes))` gives (its sum added in error-tally.ts's order), without a
 * second copy of the tensor.
 */
export function quantizeQ8_0(values: Float32Array, rowLength = values.length, error?: ErrorTally): Uint8Array {
  checkQ8_0Rows(values.length, rowLength);
  const out = new Uint8Array((values.length / Q8_0_BLOCK) * BLOCK_BYTES);
  quantizeQ8_0Into(values, out, error);
  return out;
}

/**
 * quantizeQ8_0 of whole rows into `out` (34 bytes per 32 values, from its start): in wasm SIMD (export-kernels.wat)
 * where this thread has WebAssembly SIMD, else in the JS loops below; both give the same bytes and the same tally.
 */
export function quantizeQ8_0Into(values: Float32Array, out: Uint8Array, error?: ErrorTally): void {
  const k = wasmKernels();
  if (k) quantizeIn(k, values, out, error);
  else quantizeQ8_0Reference(values, out, error);
}

/**
 * Q8_0 of `blocks` blocks in the wasm kernels' memory: the values (f32) at 0, then the blocks' bytes, each block's
 * f16 scale back as f32 (the tally's) and the tally's two f64 (at most 1.2 bytes a value + 32: within a group's room).
 */
function layout(k: WasmKernels, blocks: number) {
  const dst = blocks * Q8_0_BLOCK * 4;
  const back = dst + align16(blocks * BLOCK_BYTES);
  const state = align16(back + blocks * 4);
  k.reserve(state + 16);
  return { dst, back, state };
}

/** Q8_0 in wasm: the kernels' group (groupInput) is read where it is, other values are copied in by chunks. */
function quantizeIn(k: WasmKernels, values: Float32Array, out: Uint8Array, error?: ErrorTally): void {
  const blocks = values.length / Q8_0_BLOCK;
  const resident = isGroup(k, values);
  const step = resident ? Math.max(blocks, 1) : CHUNK_VALUES / Q8_0_BLOCK;
  for (let b0 = 0; b0 < blocks; b0 += step) {
    const n = Math.min(step, blocks - b0);
    const { dst, back, state } = layout(k, n);
    if (!resident) k.words.set(values.subarray(b0 * Q8_0_BLOCK, (b0 + n) * Q8_0_BLOCK));
    k.run.quantize(0, n, dst, back);
    if (error) k.tallied(state, error, n * Q8_0_BLOCK, () => k.run.tally(0, n, dst, back, state));
    out.set(k.bytes.subarray(dst, dst + n * BLOCK_BYTES), b0 * BLOCK_BYTES);
  }
}

/** Blocks never straddle rows (ggml quantizes row by row): rows must be a multiple of 32 values long. */
export function checkQ8_0Rows(values: number, rowLength: number): void {
  if (rowLength % Q8_0_BLOCK !== 0 || (values > 0 && values % rowLength !== 0)) {
    throw new StudioError(
      `Q8_0 needs rows that are a multiple of ${Q8_0_BLOCK} values long, got ${values} values in rows of ${rowLength}; use --format gguf-f16 for this model`,
      undefined,
      'gguf/q8_0-rows',
    );
  }
}

// Scratch words to move between an f32 and its bits without allocating.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
const ABS_MASK = 0x7fffffff;
const INF_BITS = 0x7f800000;

/**
 * The Q8_0 blocks of `values` into `out` in JS: the reference the wasm kernel is held to, and the path where
 * WebAssembly SIMD is missing. Two passes per block: the absmax, then quantize each value; with `error`,
 * a third pass over the piece tallies each value against its dequantized form. Branch-free where the signs are random
 * (a mispredicted branch per value cost more than the arithmetic):
 * - absmax: as integers, the bits of |x| order like |x|, and a max by mask picks without a branch. A block with a NaN
 *   takes the old path, which skips NaNs.
 * - rounding: `trunc(f32(x·id) ± 0.5)` with the sign of x taken from its bits, not from a comparison (y ± 0.5 is exact
 *   in f64; for x = -0, -0 - 0.5 truncates to 0 as -0 + 0.5 did); `| 0` keeps the low bits as an int8 store would.
 */
export function quantizeQ8_0Reference(values: Float32Array, out: Uint8Array, error?: ErrorTally): void {
  const bits = new Int32Array(values.buffer, values.byteOffset, values.length);
  const quants = new Int8Array(out.buffer, out.byteOffset, out.byteLength); // typed-array stores: this runs over every weight
  const blocks = values.length / Q8_0_BLOCK;
  for (let b = 0; b < blocks; b++) {
    const first = b * Q8_0_BLOCK;
    const id = writeScale(values, bits, first, out, b * BLOCK_BYTES);
    const q0 = b * BLOCK_BYTES + 2;
    for (let j = 0; j < Q8_0_BLOCK; j++) {
      const half = 0.5 * ((bits[first + j] >> 31) | 1); // ±0.5 with x's sign
      quants[q0 + j] = (Math.fround(values[first + j] * id) + half) | 0; // | 0 truncates; NaN | 0 is 0, as an int8 store of NaN
    }
  }
  if (error) tallyBlocks(values, out, quants, error);
}

/** |x - f16(d) · q| per value, q read back as stored, summed in blocks (error-tally.ts's order). A pass of its own. */
function tallyBlocks(values: Float32Array, out: Uint8Array, quants: Int8Array, error: ErrorTally): void {
  let maxErr = error.max;
  let sumErr = error.sum;
  const blocks = values.length / Q8_0_BLOCK;
  for (let b = 0; b < blocks; b++) {
    u32[0] = f16BitsToF32Bits(out[b * BLOCK_BYTES] | (out[b * BLOCK_BYTES + 1] << 8));
    const dBack = f32[0];
    const first = b * Q8_0_BLOCK;
    const q0 = b * BLOCK_BYTES + 2;
    for (let j = 0; j < Q8_0_BLOCK; j++) {
      // f16(d) · q is exact in f32 (11 significant bits times 8), so no rounding to f32 is needed here.
      const e = Math.abs(values[first + j] - dBack * quants[q0 + j]);
      if (e > maxErr) maxErr = e;
      blockErrors[j] = e;
    }
    sumErr += blockSum(blockErrors);
  }
  error.max = maxErr;
  error.sum = sumErr;
  error.count += values.length;
}
const blockErrors = new Float64Array(Q8_0_BLOCK);

/** Block `first`'s scale d = max|x| / 127, written as f16 at `at`; returns the f32 1/d that scales its values. */
function writeScale(values: Float32Array, bits: Int32Array, first: number, out: Uint8Array, at: number): number {
  // Two running maxima (odd and even values) halve the chain of dependent steps.
  let m0 = 0;
  let m1 = 0;
  for (let j = 0; j < Q8_0_BLOCK; j += 2) {
    const a0 = bits[first + j] & ABS_MASK;
    const a1 = bits[first + j + 1] & ABS_MASK;
    const lower0 = (m0 - a0) >> 31; // -1 when m0 < a0 (both below 2^31: no overflow)
    const lower1 = (m1 - a1) >> 31;
    m0 = (m0 & ~lower0) | (a0 & lower0);
    m1 = (m1 & ~lower1) | (a1 & lower1);
  }
  const lower = (m0 - m1) >> 31;
  const m = (m0 & ~lower) | (m1 & lower);
  let amax: number;
  if (m > INF_BITS) amax = absMaxSkippingNaN(values, first);
  else {
    u32[0] = m;
    amax = f32[0];
  }
  // f32 arithmetic as in C: a double quotient or product of f32 values rounded once to f32 is the f32 result.
  const d = Math.fround(amax / 127);
  f32[0] = d;
  const dBits = f32BitsToF16Bits(u32[0]);
  out[at] = dBits & 0xff;
  out[at + 1] = dBits >>> 8;
  return d ? Math.fround(1 / d) : 0; // the f32 d, not its f16 rounding, scales the values
}

/** max |x| over a block, NaNs skipped (NaN is never greater than the running max). */
function absMaxSkippingNaN(values: Float32Array, first: number): number {
  let amax = 0;
  for (let j = 0; j < Q8_0_BLOCK; j++) {
    const a = Math.abs(values[first + j]);
    if (a > amax) amax = a;
  }
  return amax;
}

export function dequantizeQ8_0(bytes: Uint8Array, count: number): Float32Array {
  if (count % Q8_0_BLOCK !== 0 || bytes.length < (count / Q8_0_BLOCK) * BLOCK_BYTES) {
    throw new Error(`Q8_0: ${bytes.length} bytes cannot hold ${count} values`);
  }
  const out = new Float32Array(count);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const quants = new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let b = 0; b < count / Q8_0_BLOCK; b++) {
    const d = f16ToF32(view.getUint16(b * BLOCK_BYTES, true));
    const at = b * BLOCK_BYTES + 2;
    for (let j = 0; j < Q8_0_BLOCK; j++) out[b * Q8_0_BLOCK + j] = d * quants[at + j];
  }
  return out;
}

/** Max and mean absolute error of a quantized tensor against the original. */
export function quantizationError(original: Float32Array, restored: Float32Array): { maxAbs: number; meanAbs: number } {
  let max = 0;
  let sum = 0;
  for (let i = 0; i < original.length; i++) {
    const e = Math.abs(original[i] - restored[i]);
    if (e > max) max = e;
    sum += e;
  }
  return { maxAbs: max, meanAbs: original.length ? sum / original.length : 0 };
}
