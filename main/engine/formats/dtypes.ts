import type { DType } from './tensor-source.ts';
import { f16ArrayToF32, f32ArrayToF16, bf16ArrayToF32, f32ArrayToBf16 } from '../cpu-kernels/half-float.ts';

/** Bytes per element of each dtype the engine reads (safetensors names). */
export const DTYPE_BYTES: Record<DType, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

/**
 * dtypes the safetensors spec defines that the engine does not read (FP8 checkpoints, unsigned ints, sub-byte
 * MX types). A file using them is valid but unsupported: readers say so instead of calling it corrupt.
 */
export const SPEC_ONLY_DTYPES: ReadonlySet<string> = new Set([
  'U16',
  'U32',
  'U64',
  'C64',
  'F8_E4M3',
  'F8_E5M2',
  'F8_E8M0',
  'F4',
  'F6_E2M3',
  'F6_E3M2',
]);

export function isDType(s: string): s is DType {
  return Object.hasOwn(DTYPE_BYTES, s);
}

export function isFloatDType(dtype: DType): dtype is 'F64' | 'F32' | 'F16' | 'BF16' {
  return dtype === 'F64' || dtype === 'F32' || dtype === 'F16' || dtype === 'BF16';
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
if (!LITTLE_ENDIAN) throw new Error('lora-studio needs a little-endian CPU: tensor files are little-endian');

/** A view of `bytes` as words of `size` bytes; copies only when the bytes are not aligned to the word size. */
function aligned(bytes: Uint8Array, size: number): ArrayBuffer {
  if (bytes.byteOffset % size === 0 && bytes.buffer instanceof ArrayBuffer) return bytes.buffer;
  return bytes.slice().buffer;
}
function offsetOf(bytes: Uint8Array, size: number): number {
  return bytes.byteOffset % size === 0 && bytes.buffer instanceof ArrayBuffer ? bytes.byteOffset : 0;
}

/** Decode little-endian bytes of a float tensor (F32, F16, BF16, F64) into f32. */
export function decodeToF32(bytes: Uint8Array, dtype: DType): Float32Array {
  const size = DTYPE_BYTES[dtype];
  if (bytes.byteLength % size !== 0) throw new RangeError(`${bytes.byteLength} bytes is not a whole number of ${dtype} values`);
  // A new array: callers may keep or mutate it.
  return decodeToF32Into(bytes, dtype, new Float32Array(bytes.byteLength / size));
}

/** decodeToF32 into `out`, which must hold exactly the bytes' values. */
function decodeToF32Into(bytes: Uint8Array, dtype: DType, out: Float32Array): Float32Array {
  const size = DTYPE_BYTES[dtype];
  const n = bytes.byteLength / size;
  if (!Number.isInteger(n) || n !== out.length)
    throw new RangeError(`${bytes.byteLength} bytes of ${dtype} do not fill ${out.length} values`);
  const buf = aligned(bytes, size);
  const at = offsetOf(bytes, size);
  switch (dtype) {
    case 'F32':
      out.set(new Float32Array(buf, at, n));
      return out;
    case 'F64':
      out.set(new Float64Array(buf, at, n));
      return out;
    case 'F16':
      return f16ArrayToF32(new Uint16Array(buf, at, n), out);
    case 'BF16':
      return bf16ArrayToF32(new Uint16Array(buf, at, n), out);
    default:
      throw new Error(`${dtype} is not a floating-point dtype`);
  }
}

/** Encode f32 values as little-endian bytes of a float dtype. */
export function encodeFromF32(values: Float32Array, dtype: 'F32' | 'F16' | 'BF16'): Uint8Array {
  if (dtype === 'F32') return new Uint8Array(values.slice().buffer);
  const halves = dtype === 'F16' ? f32ArrayToF16(values) : f32ArrayToBf16(values);
  return new Uint8Array(halves.buffer);
}
