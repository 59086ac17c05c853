/** IEEE half (f16) and bfloat16 conversions: the scalar and array forms, and the JS twins of the wasm kernels. */

// Scratch words for the scalar conversions: reinterpret a float's bits without allocating.
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE half bits → float32 bits, exact (subnormals renormalised, inf kept, NaN payload kept). */
export function f16BitsToF32Bits(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  let mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0; // inf / NaN
  if (exp !== 0) return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0; // 112 = 127 - 15 (bias change)
  if (mant === 0) return sign >>> 0; // ±0
  // Subnormal half: shift the mantissa up until its leading 1 becomes the implicit bit.
  let e = 113; // the exponent a value of mant · 2^-24 has once normalised, counted down per shift
  while ((mant & 0x400) === 0) {
    mant <<= 1;
    e--;
  }
  return (sign | (e << 23) | ((mant & 0x3ff) << 13)) >>> 0;
}

/** float32 bits → IEEE half bits, round-to-nearest-even (as numpy and PyTorch convert). NaN keeps its top payload bits. */
export function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return mant === 0 ? sign | 0x7c00 : sign | 0x7c00 | (mant >>> 13) | (mant >>> 13 === 0 ? 0x200 : 0);
  const e = exp - 112; // rebias 127 → 15
  if (e >= 31) return sign | 0x7c00; // too large: inf
  if (e <= 0) {
    // Subnormal (or zero) half: values below half the smallest subnormal (2^-25) round to ±0.
    if (e < -10) return sign;
    mant |= 0x800000; // make the implicit bit explicit, then shift it into place
    const shift = 14 - e;
    const half = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    // A carry out of the subnormal range lands exactly on the smallest normal, which is right.
    return sign | (rem > mid || (rem === mid && half & 1) ? half + 1 : half);
  }
  const half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa rolls into the exponent, which is the right answer (up to inf).
  return sign | (rem > 0x1000 || (rem === 0x1000 && half & 1) ? half + 1 : half);
}

/** IEEE half → number, exact. */
export function f16ToF32(h: number): number {
  u32[0] = f16BitsToF32Bits(h);
  return f32[0];
}

/** number → IEEE half bits: first to f32 (as a Float32Array store does), then round-to-nearest-even. */
export function f32ToF16(value: number): number {
  f32[0] = value;
  return f32BitsToF16Bits(u32[0]);
}

/** bfloat16 is the high half of a float32. */
export function bf16ToF32(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0];
}

/** float32 bits → bfloat16 bits with round-to-nearest-even; NaN stays NaN (quiet bit set so it cannot become inf). */
function f32BitsToBf16Bits(x: number): number {
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

export function f32ToBf16(value: number): number {
  f32[0] = value;
  return f32BitsToBf16Bits(u32[0]);
}

/** Every half's f32 bits, built once on first use (256 KiB): decoding F16 is then one lookup per value. */
let f16Table: Uint32Array | undefined;
function halfTable(): Uint32Array {
  if (!f16Table) {
    f16Table = new Uint32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToF32Bits(h);
  }
  return f16Table;
}

/** The same table read as f32 values (half bits → its value), for loops that want the number, not the bits. */
export function f16TableF32(): Float32Array {
  const t = halfTable();
  return new Float32Array(t.buffer, t.byteOffset, t.length);
}

/** Typed-array views assume a little-endian host (every platform Node and Electron ship on). */
/** Half bits → f32 values (bit-exact, NaN payloads kept), into `out` when given. */
export function f16ArrayToF32(halves: Uint16Array, out: Float32Array = new Float32Array(halves.length)): Float32Array {
  const table = halfTable();
  const words = new Uint32Array(out.buffer, out.byteOffset, halves.length);
  for (let i = 0; i < halves.length; i++) words[i] = table[halves[i]];
  return out;
}

/**
 * f32 values → half bits, round-to-nearest-even, bit for bit what f32BitsToF16Bits gives. Values whose half is a
 * normal number (|x| in [2^-14, 65520), nearly every weight) take a branch-free path: rebias the exponent (127 → 15
 * is -112 << 23), add 0xfff plus the lowest kept bit and drop 13 mantissa bits, so ties go to even and a carry rolls
 * into the exponent as it should. Zeros, subnormals, overflow, inf and NaN go the long way. 3-5x faster on exports.
 */
export function f32ArrayToF16(values: Float32Array): Uint16Array {
  return f32ArrayToF16Into(values, new Uint16Array(values.length));
}

/** f32ArrayToF16 into `out` (at least as long as `values`). */
export function f32ArrayToF16Into(values: Float32Array, out: Uint16Array): Uint16Array {
  const words = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < words.length; i++) out[i] = halfOfF32Bits(words[i]);
  return out;
}

/** bfloat16 bits → half bits, as f32ArrayToF16 of the bf16 values (exact in f32) gives, without the f32 copy. */
export function bf16ArrayToF16Into(bf16: Uint16Array, out: Uint16Array): Uint16Array {
  for (let i = 0; i < bf16.length; i++) out[i] = halfOfF32Bits((bf16[i] << 16) >>> 0);
  return out;
}

/** f32BitsToF16Bits with the fast path of f32ArrayToF16 (small enough for V8 to inline into the loops above). */
function halfOfF32Bits(x: number): number {
  const a = x & 0x7fffffff;
  return (a - 0x38800000) >>> 0 < 0x477ff000 - 0x38800000
    ? ((x >>> 16) & 0x8000) | ((a - 0x38000000 + 0xfff + ((a >>> 13) & 1)) >>> 13)
    : f32BitsToF16Bits(x);
}

export function bf16ArrayToF32(halves: Uint16Array, out: Float32Array = new Float32Array(halves.length)): Float32Array {
  const words = new Uint32Array(out.buffer, out.byteOffset, halves.length);
  for (let i = 0; i < halves.length; i++) words[i] = halves[i] << 16;
  return out;
}

export function f32ArrayToBf16(values: Float32Array): Uint16Array {
  return f32ArrayToBf16Into(values, new Uint16Array(values.length));
}

/** f32ArrayToBf16 into `out` (at least as long as `values`). */
export function f32ArrayToBf16Into(values: Float32Array, out: Uint16Array): Uint16Array {
  const words = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < words.length; i++) out[i] = f32BitsToBf16Bits(words[i]);
  return out;
}
