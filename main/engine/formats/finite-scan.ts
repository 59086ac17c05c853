import { wasmNonFiniteWords } from '../cpu-kernels/export-kernels.ts';
import type { DType } from './tensor-source.ts';

/**
 * NaN and ±Inf in stored tensor bytes, found without decoding: a float is non-finite exactly when its exponent bits are
 * all ones. The common case (every value finite) is one branch-free pass over 32-bit words, two 16-bit values at a
 * time: shifted right by one and masked to the exponent, a value's exponent plus one carries into the bit above it
 * only when the exponent was all ones. Readers run it on every tensor as it streams (a few GB/s), so a base or an
 * adapter with NaN or Inf is refused by name before it reaches a merge, an export or a forward pass.
 */

/** Per dtype: the mask of the exponent (after >>> 1), the carry to add, and the bits the carry lands in. */
const WORD_RULES = {
  BF16: { mask: 0x3fc03fc0, add: 0x00400040, carry: 0x40004000 },
  F16: { mask: 0x3e003e00, add: 0x02000200, carry: 0x40004000 },
  F32: { mask: 0x3fc00000, add: 0x00400000, carry: 0x40000000 },
} as const;

const HALF_EXPONENT = { BF16: 0x7f80, F16: 0x7c00 } as const;

/**
 * Whether `bytes` (little-endian values of `dtype`) hold a NaN or ±Inf. Integer dtypes never do. In wasm SIMD where it
 * can (export-kernels.wat's any_non_finite), else the same rule in JS (`jsOnly` holds the two to each other in tests).
 */
export function hasNonFinite(bytes: Uint8Array, dtype: DType, jsOnly = false): boolean {
  if (dtype === 'F64') return countNonFinite(bytes, dtype).count > 0;
  if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16') return false;
  const { mask, add, carry } = WORD_RULES[dtype];
  let from = 0;
  const wasm = jsOnly ? undefined : wasmNonFiniteWords(bytes, mask, add, carry);
  if (wasm) {
    if (wasm.any) return true;
    from = wasm.covered;
  }
  const rest = bytes.subarray(from);
  const whole = rest.byteLength - (rest.byteLength % 4);
  if (rest.byteOffset % 4 !== 0) return countNonFinite(rest, dtype).count > 0; // unaligned (rare): the slow count
  const words = new Uint32Array(rest.buffer, rest.byteOffset, whole / 4);
  let acc = 0;
  for (let i = 0; i < words.length; i++) acc |= ((words[i] >>> 1) & mask) + add;
  if ((acc & carry) !== 0) return true;
  return whole < rest.byteLength && countNonFinite(rest.subarray(whole), dtype).count > 0; // an odd last half
}

interface NonFiniteCount {
  count: number;
  nan: number;
  posInf: number;
  negInf: number;
  /** Index (in values) of the first, or -1. */
  first: number;
}

/** Every NaN and ±Inf in `bytes`, counted value by value (the slow path, for the error message). */
export function countNonFinite(bytes: Uint8Array, dtype: DType): NonFiniteCount {
  const out: NonFiniteCount = { count: 0, nan: 0, posInf: 0, negInf: 0, first: -1 };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const tally = (i: number, nan: boolean, negative: boolean) => {
    if (out.first < 0) out.first = i;
    out.count++;
    if (nan) out.nan++;
    else if (negative) out.negInf++;
    else out.posInf++;
  };
  if (dtype === 'BF16' || dtype === 'F16') {
    const exponent = HALF_EXPONENT[dtype];
    const mantissa = dtype === 'BF16' ? 0x007f : 0x03ff;
    for (let i = 0; 2 * i + 1 < bytes.byteLength; i++) {
      const h = view.getUint16(2 * i, true);
      if ((h & exponent) === exponent) tally(i, (h & mantissa) !== 0, (h & 0x8000) !== 0);
    }
  } else if (dtype === 'F32' || dtype === 'F64') {
    const size = dtype === 'F32' ? 4 : 8;
    for (let i = 0; size * i + size - 1 < bytes.byteLength; i++) {
      const v = size === 4 ? view.getFloat32(4 * i, true) : view.getFloat64(8 * i, true);
      if (!Number.isFinite(v)) tally(i, Number.isNaN(v), v < 0);
    }
  }
  return out;
}
