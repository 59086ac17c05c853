import * as tf from '@tensorflow/tfjs';
import { StudioError } from '../errors.ts';
import type { StoredMatrix } from '../llama/block-quant.ts';
import type { BaseDtype } from '../llama/base-dtype-names.ts';
import { runProgram } from './webgpu-program.ts';
import { subgroupMatmulProgram, type SubgroupSetup } from './webgpu-subgroup-matmul.ts';
import { productShape, shapeUniforms, tiledMatmulProgram, type MatmulDirection } from './webgpu-tiled-matmul.ts';
import { currentAdapter } from './webgpu.ts';

/**
 * A frozen matrix W [rows, cols] on the WebGPU device in its storage mode, exactly the bytes of its StoredMatrix
 * (block-quant.ts) uploaded once: f32 values, IEEE half or bfloat16 bits two to a word, int8 codes four to a word,
 * NF4 codes eight to a word, plus one f32 scale per block for int8 and nf4. The kernels decode in registers, so no
 * f32 copy of a quantized or 16-bit matrix ever exists, and one copy serves both x·Wᵀ and dy·W.
 */
export interface GpuPackedMatrix {
  dtype: BaseDtype;
  rows: number;
  cols: number;
  /** int32 words (f32 values for dtype f32), flat over the row-major matrix, padded to whole words. */
  words: tf.Tensor1D;
  /** One scale per QUANT_BLOCK values (int8: absmax / 127, nf4: absmax). */
  scales?: tf.Tensor1D;
}

/** Flat element indices are i32 in the kernels. */
const MAX_ELEMENTS = 2 ** 31 - 1;

/**
 * Upload a stored matrix as it is. Refuses, with the figures, a matrix one storage binding cannot hold
 * (`maxBindingBytes`: the adapter's maxStorageBufferBindingSize).
 */
export function packForGpu(stored: StoredMatrix, maxBindingBytes = currentAdapter()?.limits.maxStorageBufferBindingSize): GpuPackedMatrix {
  const { dtype, rows, cols } = stored;
  const what = `a ${rows}×${cols} ${dtype} frozen matrix`;
  if (rows * cols > MAX_ELEMENTS)
    throw new StudioError(
      `${what} has ${rows * cols} elements; the WebGPU kernels index at most ${MAX_ELEMENTS}`,
      undefined,
      'webgpu/matrix-too-large',
    );
  const data = storedData(stored);
  const limit = maxBindingBytes;
  const bytes = Math.ceil(data.byteLength / 4) * 4;
  if (limit !== undefined && bytes > limit) {
    throw new StudioError(
      `${what} takes ${(bytes / 2 ** 20).toFixed(1)} MiB, over this adapter's largest storage binding (maxStorageBufferBindingSize ${(limit / 2 ** 20).toFixed(1)} MiB); use a smaller storage mode (int8 or nf4) or another backend`,
      undefined,
      'webgpu/matrix-too-large',
    );
  }
  const words = data instanceof Float32Array ? tf.tensor1d(data, 'float32') : tf.tensor1d(asWords(data), 'int32');
  const scales = stored.dtype === 'int8' || stored.dtype === 'nf4' ? tf.tensor1d(stored.scales, 'float32') : undefined;
  return { dtype, rows, cols, words, scales };
}

function storedData(s: StoredMatrix): Float32Array | Uint16Array | Int8Array | Uint8Array {
  switch (s.dtype) {
    case 'f32':
      return s.values;
    case 'f16':
    case 'bf16':
      return s.bits;
    case 'int8':
    case 'nf4':
      return s.codes;
  }
}

/** The bytes as whole 32-bit words, without a copy when they already are (4-byte aligned, a whole number of words). */
function asWords(data: Uint16Array | Int8Array | Uint8Array): Int32Array {
  if (data.byteOffset % 4 === 0 && data.byteLength % 4 === 0) return new Int32Array(data.buffer, data.byteOffset, data.byteLength / 4);
  const padded = new Uint8Array(Math.ceil(data.byteLength / 4) * 4); // e.g. an odd number of halves
  padded.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  return new Int32Array(padded.buffer);
}

/** The tensors a packed matrix holds (for disposal sets and byte counts). */
export function packedTensors(m: GpuPackedMatrix): tf.Tensor[] {
  return m.scales ? [m.words, m.scales] : [m.words];
}

export function disposePacked(m: GpuPackedMatrix): void {
  tf.dispose(packedTensors(m));
}

/** Which kernel serves packed products; set by selectMatmulPath (webgpu-matmul-path.ts), tiled until then. */
let subgroup: SubgroupSetup | undefined;

export function useSubgroupMatrices(setup: SubgroupSetup | undefined): void {
  subgroup = setup;
}

/** out = a·Wᵀ (forward, a [n, cols] → [n, rows]) or a·W (backward, a [n, rows] → [n, cols]) on the register-tiled kernel. */
export function tiledProduct(a: tf.Tensor2D, m: GpuPackedMatrix, direction: MatmulDirection): tf.Tensor2D {
  checkInner(a, m, direction);
  return runProgram<tf.Tensor2D>(tiledMatmulProgram(a.shape[0], m, direction), [a, ...packedTensors(m)], shapeUniforms(m));
}

/**
 * The same product on subgroup matrices (f16 operands, f32 accumulation). Each row of `a` is divided by its absmax
 * before the f16 conversion and the row of the result multiplied back: backward products carry gradients far below
 * f16's smallest normal (6e-5), which would otherwise flush to zero, as loss scaling avoids in mixed precision.
 * `emulate`: the same kernel on a software stand-in for the matrix builtins (tests on adapters without them).
 */
export function subgroupProduct(
  a: tf.Tensor2D,
  m: GpuPackedMatrix,
  direction: MatmulDirection,
  setup: SubgroupSetup,
  emulate = false,
): tf.Tensor2D {
  checkInner(a, m, direction);
  const rowScale = tf.max(tf.abs(a), 1) as tf.Tensor1D; // [n]
  const program = subgroupMatmulProgram(a.shape[0], m, direction, setup, emulate);
  const out = runProgram<tf.Tensor2D>(program, [a, rowScale, ...packedTensors(m)], shapeUniforms(m));
  rowScale.dispose();
  return out;
}

function checkInner(a: tf.Tensor2D, m: GpuPackedMatrix, direction: MatmulDirection): void {
  const { inner } = productShape(m, direction);
  if (a.shape[1] !== inner) {
    throw new StudioError(
      `packed matmul (${direction}): input is ${a.shape.join('×')} but W is ${m.rows}×${m.cols} (inner size ${inner})`,
      undefined,
      'webgpu/matmul-shape',
    );
  }
}

function product(a: tf.Tensor2D, m: GpuPackedMatrix, direction: MatmulDirection): tf.Tensor2D {
  return subgroup ? subgroupProduct(a, m, direction, subgroup) : tiledProduct(a, m, direction);
}

/** x [N, cols]·Wᵀ → [N, rows] for a frozen packed W; the gradient flows to x only: dx = dy·W from the same copy. */
export function packedMatMul(x: tf.Tensor2D, m: GpuPackedMatrix): tf.Tensor2D {
  const op = tf.customGrad((...args) => ({
    value: product(args[0] as tf.Tensor2D, m, 'forward'),
    gradFunc: (dy: tf.Tensor) => product(dy as tf.Tensor2D, m, 'backward'),
  }));
  return op(x) as tf.Tensor2D;
}
