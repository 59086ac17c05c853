// The storage modes of a frozen base matrix, and their quantizers. No tfjs here: the loader, the memory estimate,
// the WebGPU kernels' packers and the tests all share these definitions.
//
// A matrix is W [rows, cols] (a linear layer's [out, in]) flattened row-major. Quantized modes cut that flat array
// into blocks of QUANT_BLOCK consecutive values (the last block may be short), one f32 absmax scale per block, as
// bitsandbytes' blockwise quantizers do. Byte layouts are chosen so a GPU kernel reads them as u32 words:
//   int8: value i is the signed byte i (word i >> 2, byte i & 3, little-endian);
//   nf4:  value i is the 4-bit code i (word i >> 3, nibble i & 7, low nibble first: byte i >> 1, low nibble for even i).
// Data arrays are padded with zeros to a whole number of u32 words.

import { bf16ArrayToF32, f16ArrayToF32, f32ArrayToBf16, f32ArrayToF16 } from '../cpu-kernels/half-float.ts';

import type { BaseDtype } from './base-dtype-names.ts';

/** Values per absmax block (QLoRA's NF4 block size; int8 uses the same so one kernel shape serves both). */
export const QUANT_BLOCK = 64;

/** QLoRA's NF4 code book (Dettmers et al., 2023), in ascending order; index 7 is exactly 0. */
export const NF4_LEVELS = Float32Array.from([
  -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453, -0.28444138169288635, -0.18477343022823334, -0.09105003625154495,
  0.0, 0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224, 0.44070982933044434, 0.5626170039176941,
  0.7229568362236023, 1.0,
]);

/** Half the widest gap between neighbouring NF4 levels: the worst rounding error, in units of a block's absmax. */
export const NF4_MAX_ERROR = (() => {
  let widest = 0;
  for (let i = 1; i < NF4_LEVELS.length; i++) widest = Math.max(widest, NF4_LEVELS[i] - NF4_LEVELS[i - 1]);
  return widest / 2;
})();

/** Decision boundaries: a normalised value x gets code c where MIDPOINTS[c-1] < x ≤ MIDPOINTS[c] (ties go down). */
const NF4_MIDPOINTS = Float32Array.from({ length: 15 }, (_, i) => (NF4_LEVELS[i] + NF4_LEVELS[i + 1]) / 2);

export type StoredMatrix =
  | { dtype: 'f32'; rows: number; cols: number; values: Float32Array }
  /** Raw IEEE half or bfloat16 bits, as the checkpoint stores them. */
  | { dtype: 'f16' | 'bf16'; rows: number; cols: number; bits: Uint16Array }
  /** int8 codes, padded to whole u32 words, and one f32 scale (absmax / 127) per block. */
  | { dtype: 'int8'; rows: number; cols: number; codes: Int8Array; scales: Float32Array }
  /** 4-bit code-book indices, two a byte, padded to whole u32 words, and one f32 absmax per block. */
  | { dtype: 'nf4'; rows: number; cols: number; codes: Uint8Array; scales: Float32Array };

export function blockCount(n: number): number {
  return Math.ceil(n / QUANT_BLOCK);
}

/** Bytes one stored matrix takes (data and scales). */
export function storedBytes(m: StoredMatrix): number {
  switch (m.dtype) {
    case 'f32':
      return m.values.byteLength;
    case 'f16':
    case 'bf16':
      return m.bits.byteLength;
    case 'int8':
    case 'nf4':
      return m.codes.byteLength + m.scales.byteLength;
  }
}

/** Bytes per weight of a mode, scales included (for estimates before anything is loaded). */
export function bytesPerWeight(dtype: BaseDtype): number {
  const scale = 4 / QUANT_BLOCK;
  return { f32: 4, bf16: 2, f16: 2, int8: 1 + scale, nf4: 0.5 + scale }[dtype];
}

const roundWords = (bytes: number) => Math.ceil(bytes / 4) * 4;

/**
 * Blockwise absmax int8 (the frozen base's storage mode): q = round(w / s), s = absmax / 127 per block of QUANT_BLOCK
 * values; an all-zero block gets s = 0. Not bitsandbytes' row-wise int8 of the int8 export (export/piece-encode.ts).
 */
export function quantizeInt8Blockwise(values: Float32Array, rows: number, cols: number): StoredMatrix & { dtype: 'int8' } {
  const n = values.length;
  const codes = new Int8Array(roundWords(n));
  const scales = new Float32Array(blockCount(n));
  for (let b = 0, start = 0; start < n; b++, start += QUANT_BLOCK) {
    const end = Math.min(start + QUANT_BLOCK, n);
    let absmax = 0;
    for (let i = start; i < end; i++) absmax = Math.max(absmax, Math.abs(values[i]));
    const s = Math.fround(absmax / 127);
    scales[b] = s;
    if (s === 0) continue;
    const inv = 1 / s;
    for (let i = start; i < end; i++) codes[i] = Math.max(-127, Math.min(127, Math.round(values[i] * inv)));
  }
  return { dtype: 'int8', rows, cols, codes, scales };
}

/** NF4: each value divided by its block's absmax and stored as the index of the nearest code-book level. */
export function quantizeNf4(values: Float32Array, rows: number, cols: number): StoredMatrix & { dtype: 'nf4' } {
  const n = values.length;
  const codes = new Uint8Array(roundWords(Math.ceil(n / 2)));
  const scales = new Float32Array(blockCount(n));
  for (let b = 0, start = 0; start < n; b++, start += QUANT_BLOCK) {
    const end = Math.min(start + QUANT_BLOCK, n);
    let absmax = 0;
    for (let i = start; i < end; i++) absmax = Math.max(absmax, Math.abs(values[i]));
    scales[b] = absmax;
    const inv = absmax === 0 ? 0 : 1 / absmax;
    for (let i = start; i < end; i++) {
      const x = values[i] * inv;
      // Binary search over the 15 midpoints: the code is the number of midpoints below x.
      let lo = 0;
      let hi = 15;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (x > NF4_MIDPOINTS[mid]) lo = mid + 1;
        else hi = mid;
      }
      codes[i >> 1] |= (i & 1 ? lo << 4 : lo) & 0xff;
    }
  }
  return { dtype: 'nf4', rows, cols, codes, scales };
}

/** Store f32 values in a mode (16-bit modes round to nearest even, as PyTorch converts). */
export function storeMatrix(values: Float32Array, rows: number, cols: number, dtype: BaseDtype): StoredMatrix {
  switch (dtype) {
    case 'f32':
      return { dtype, rows, cols, values };
    case 'f16':
    case 'bf16':
      return { dtype, rows, cols, bits: dtype === 'f16' ? f32ArrayToF16(values) : f32ArrayToBf16(values) };
    case 'int8':
      return quantizeInt8Blockwise(values, rows, cols);
    case 'nf4':
      return quantizeNf4(values, rows, cols);
  }
}

/** The f32 values of rows [rowStart, rowEnd) of a stored matrix (all rows by default), row-major. */
export function dequantizeRows(m: StoredMatrix, rowStart = 0, rowEnd = m.rows, out?: Float32Array): Float32Array {
  const from = rowStart * m.cols;
  const to = rowEnd * m.cols;
  const dst = out ?? new Float32Array(to - from);
  switch (m.dtype) {
    case 'f32':
      dst.set(m.values.subarray(from, to));
      break;
    case 'f16':
    case 'bf16':
      (m.dtype === 'f16' ? f16ArrayToF32 : bf16ArrayToF32)(m.bits.subarray(from, to), dst);
      break;
    case 'int8':
      for (let i = from; i < to; i++) dst[i - from] = m.codes[i] * m.scales[(i / QUANT_BLOCK) | 0];
      break;
    case 'nf4':
      for (let i = from; i < to; i++)
        dst[i - from] = NF4_LEVELS[(m.codes[i >> 1] >> ((i & 1) << 2)) & 15] * m.scales[(i / QUANT_BLOCK) | 0];
      break;
  }
  return dst;
}

/** Rows of a stored matrix dequantized per tile before their transpose: 64 rows keep a tile in cache. */
const TRANSPOSE_TILE = 64;

/**
 * Wᵀ [cols, rowEnd − rowStart] in f32 from rows [rowStart, rowEnd) of a stored W [rows, cols], dequantized tile by
 * tile (a blocked transpose), so the full f32 W never exists: tfjs-wasm's fast matmul wants x·Wᵀ with Wᵀ as a plain,
 * non-transposed operand.
 */
export function dequantizeTransposed(m: StoredMatrix, out?: Float32Array, rowStart = 0, rowEnd = m.rows): Float32Array {
  const { cols } = m;
  const rows = rowEnd - rowStart;
  const dst = out ?? new Float32Array(rows * cols);
  const tile = new Float32Array(TRANSPOSE_TILE * cols);
  for (let r0 = rowStart; r0 < rowEnd; r0 += TRANSPOSE_TILE) {
    const r1 = Math.min(r0 + TRANSPOSE_TILE, rowEnd);
    dequantizeRows(m, r0, r1, tile);
    const height = r1 - r0;
    for (let c = 0; c < cols; c++) {
      const base = c * rows + r0 - rowStart;
      for (let j = 0; j < height; j++) dst[base + j] = tile[j * cols + c];
    }
  }
  return dst;
}

/** The f32 rows ids[0], ids[1], … of a stored matrix, stacked [ids.length, cols] (an embedding lookup). */
export function gatherRows(m: StoredMatrix, ids: ArrayLike<number>): Float32Array {
  const dst = new Float32Array(ids.length * m.cols);
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!(id >= 0 && id < m.rows)) throw new RangeError(`row ${id} is outside [0, ${m.rows})`);
    dequantizeRows(m, id, id + 1, dst.subarray(i * m.cols, (i + 1) * m.cols));
  }
  return dst;
}
