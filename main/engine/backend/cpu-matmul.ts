import * as tf from '@tensorflow/tfjs';
import type { CpuMatrix, Direction } from '../cpu-kernels/cpu-kernels.ts';
import { cpuGemm } from '../cpu-kernels/cpu-matmul-path.ts';
import { cpuTensor, tensorValues } from './cpu-tensors.ts';

/**
 * x·Wᵀ for a frozen W held by the CPU kernels (cpu-kernels/), x [N, in] → [N, out]; its gradient is dx = dy·W, the
 * same kernels the other way. W stays in its stored form in the kernels' memory: no f32 copy of it is ever made,
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
  if (!gemm) throw new Error('cpuMatMul: the CPU kernels are not open');
  const n = a.shape[0];
  return cpuTensor([n, direction === 'xwt' ? m.rows : m.cols], (out) => gemm.product(m, direction, tensorValues(a), n, out));
}
