import { StudioError } from '../errors.ts';
import { f16ToF32, f32ToF16 } from './dtypes.ts';

export const Q8_0_BLOCK = 32;
const BLOCK_BYTES = 34; // f16 scale + 32 int8

/** Running absolute error of a tensor written in pieces: max, sum (f64, in element order) and count. */
export class ErrorTally {
  max = 0;
  sum = 0;
  count = 0;
  get meanAbs(): number {
    return this.count ? this.sum / this.count : 0;
  }
  /** Add |original - restored| for every element (restored as f32). */
  add(original: Float32Array, restored: Float32Array): void {
    let { max, sum } = this;
    for (let i = 0; i < original.length; i++) {
      const e = Math.abs(original[i] - restored[i]);
      if (e > max) max = e;
      sum += e;
    }
    this.max = max;
    this.sum = sum;
    this.count += original.length;
  }
}

/**
 * ggml's Q8_0 (quantize_row_q8_0_ref): per block of 32 values d = max|x| / 127 stored as f16, then
 * q = round(x / d) as int8 (rounding half away from zero, like C's roundf). Rows must be a multiple of 32 long.
 * With `error`, each value's distance to its dequantized form (f16(d) · q, as f32) is tallied in the same pass:
 * the same figures `quantizationError(values, dequantizeQ8_0(bytes))` gives, without a second copy of the tensor.
 */
export function quantizeQ8_0(values: Float32Array, rowLength = values.length, error?: ErrorTally): Uint8Array {
  // Blocks never straddle rows: ggml quantizes row by row.
  if (rowLength % Q8_0_BLOCK !== 0 || (values.length > 0 && values.length % rowLength !== 0)) {
    throw new StudioError(
      `Q8_0 needs rows that are a multiple of ${Q8_0_BLOCK} values long, got ${values.length} values in rows of ${rowLength}; use --format gguf-f16 for this model`,
      undefined,
      'gguf/q8_0-rows',
    );
  }
  const blocks = values.length / Q8_0_BLOCK;
  const out = new Uint8Array(blocks * BLOCK_BYTES);
  const view = new DataView(out.buffer);
  const quants = new Int8Array(out.buffer); // typed-array stores: this loop runs over every weight of the model
  let maxErr = error?.max ?? 0;
  let sumErr = error?.sum ?? 0;
  for (let b = 0; b < blocks; b++) {
    const first = b * Q8_0_BLOCK;
    let amax = 0;
    for (let j = 0; j < Q8_0_BLOCK; j++) {
      const v = values[first + j];
      const a = v < 0 ? -v : v; // Math.abs without the call; NaN stays NaN and is never > amax
      if (a > amax) amax = a;
    }
    // f32 arithmetic as in C: a double quotient or product of f32 values rounded once to f32 is the f32 result.
    const d = Math.fround(amax / 127);
    const id = d ? Math.fround(1 / d) : 0; // the f32 d, not its f16 rounding, scales the values
    const dBits = f32ToF16(d);
    view.setUint16(b * BLOCK_BYTES, dBits, true);
    const at = b * BLOCK_BYTES + 2;
    for (let j = 0; j < Q8_0_BLOCK; j++) {
      const x = Math.fround(values[first + j] * id);
      quants[at + j] = Math.trunc(x + (x >= 0 ? 0.5 : -0.5)); // roundf: halves away from zero
    }
    if (error) {
      const dBack = f16ToF32(dBits);
      for (let j = 0; j < Q8_0_BLOCK; j++) {
        const e = Math.abs(values[first + j] - Math.fround(dBack * quants[at + j]));
        if (e > maxErr) maxErr = e;
        sumErr += e;
      }
    }
  }
  if (error) {
    error.max = maxErr;
    error.sum = sumErr;
    error.count += values.length;
  }
  return out;
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
