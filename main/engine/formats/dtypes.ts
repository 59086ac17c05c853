import type { DType } from './tensor-source.ts';

export const DTYPE_BYTES: Record<DType, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

export function isDType(s: string): s is DType {
  return Object.hasOwn(DTYPE_BYTES, s);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half → float, exact (subnormals, infinities, NaN). */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** float → IEEE half with round-to-nearest-even, as numpy/PyTorch convert. */
export function f32ToF16(value: number): number {
  f32[0] = value;
  const x = u32[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf / nan
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00; // overflow → inf
  if (e <= 0) {
    if (e < -10) return sign; // underflow → ±0
    mant |= 0x800000; // subnormal half: shift the implicit bit in, rounding to nearest even
    const shift = 14 - e;
    const half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    return sign | (rem > mid || (rem === mid && half & 1) ? half + 1 : half);
  }
  const half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa rolls into the exponent, which is the right answer (up to inf).
  return sign | (rem > 0x1000 || (rem === 0x1000 && half & 1) ? half + 1 : half);
}

/** bfloat16 is the high half of a float32. */
export function bf16ToF32(b: number): number {
  u32[0] = b << 16;
  return f32[0];
}

/** float → bfloat16 with round-to-nearest-even (NaN kept quiet). */
export function f32ToBf16(value: number): number {
  f32[0] = value;
  const x = u32[0];
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

let f16Table: Float32Array | undefined;

/** Decode little-endian bytes of a float tensor into f32. */
export function decodeToF32(bytes: Uint8Array, dtype: DType): Float32Array {
  const n = bytes.byteLength / DTYPE_BYTES[dtype];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(n);
  switch (dtype) {
    case 'F32':
      for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
      return out;
    case 'F64':
      for (let i = 0; i < n; i++) out[i] = view.getFloat64(8 * i, true);
      return out;
    case 'F16': {
      if (!f16Table) {
        f16Table = new Float32Array(65536);
        for (let h = 0; h < 65536; h++) f16Table[h] = f16ToF32(h);
      }
      for (let i = 0; i < n; i++) out[i] = f16Table[view.getUint16(2 * i, true)];
      return out;
    }
    case 'BF16': {
      const words = new Uint32Array(out.buffer);
      for (let i = 0; i < n; i++) words[i] = view.getUint16(2 * i, true) << 16;
      return out;
    }
    default:
      throw new Error(`${dtype} is not a floating-point dtype`);
  }
}

/** Encode f32 values as little-endian bytes of a float dtype. */
export function encodeFromF32(values: Float32Array, dtype: 'F32' | 'F16' | 'BF16'): Uint8Array {
  const out = new Uint8Array(values.length * DTYPE_BYTES[dtype]);
  const view = new DataView(out.buffer);
  if (dtype === 'F32') for (let i = 0; i < values.length; i++) view.setFloat32(4 * i, values[i], true);
  else if (dtype === 'F16') for (let i = 0; i < values.length; i++) view.setUint16(2 * i, f32ToF16(values[i]), true);
  else for (let i = 0; i < values.length; i++) view.setUint16(2 * i, f32ToBf16(values[i]), true);
  return out;
}
