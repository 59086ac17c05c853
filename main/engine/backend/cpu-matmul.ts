import * as tf from '@tensorflow/tfjs';
import type { CpuMatrix, Direction } from '../cpu-kernels/cpu-gemm.ts';
import { cpuGemm } from '../cpu-kernels/cpu-matmul-path.ts';

/**
 * x·Wᵀ for a frozen W held by the GEMM kernels (cpu-kernels/), x [N, in] → [N, out]; its gradient is dx = dy·W, the
 * same kernels the other way. W stays in its stored form in the kernels' arena: no f32 copy of it is ever made,
 * in the tfjs heap or in JS.
 */
export function cpuMatMul(x: tf.Tensor2D, m: CpuMatrix): tf.Tensor2D {
  const op = tf.customGrad((...args) => ({
    value: product(args[0] as tf.Tensor2D, m, 'xwt'),
    gradFunc: (dy: tf.Tensor | tf.Tensor[]) => product(dy as tf.Tensor2D, m, 'dyw'),
  }));
  return op(x) as tf.Tensor2D;
}

function product(a: tf.Tensor2D, m: CpuMatrix, direction: Direction): tf.Tensor2D {
  const gemm = cpuGemm();
  if (!gemm) throw new Error('cpuMatMul: the GEMM kernels are not open');
  const n = a.shape[0];
  const p = direction === 'xwt' ? m.rows : m.cols;
  const wasm = tf.getBackend() === 'wasm';
  // tfjs-wasm copies a new tensor's values into its heap at once; other backends may keep the array: give them a copy
  return gemm.product(m, direction, tensorValues(a), n, (c) => tf.tensor2d(wasm ? c : c.slice(), [n, p]));
}

interface WasmBackendInternals {
  dataIdMap: { get(id: object): { memoryOffset: number } | undefined };
  wasm: { HEAPU8: Uint8Array };
}

/**
 * A float32 tensor's values without a copy where the backend allows: on tfjs-wasm a view of its heap (valid until
 * the next allocation there; the caller copies it at once), elsewhere dataSync.
 */
export function tensorValues(t: tf.Tensor): Float32Array {
  if (t.dtype === 'float32' && tf.getBackend() === 'wasm') {
    const backend = tf.backend() as unknown as WasmBackendInternals;
    const data = backend.dataIdMap.get(t.dataId);
    const heap = backend.wasm.HEAPU8;
    if (data && data.memoryOffset + 4 * t.size <= heap.buffer.byteLength) {
      return new Float32Array(heap.buffer, data.memoryOffset, t.size);
    }
  }
  return t.dataSync() as Float32Array;
}
