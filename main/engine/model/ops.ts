import * as tf from '@tensorflow/tfjs';
import { packedMatMul } from '../backend/webgpu-packed-matmul.ts';
import { cpuMatMul } from '../backend/cpu-matmul.ts';
import { jitMatMul, type FrozenMatrix } from './frozen-matrix.ts';

/**
 * x·Wᵀ for a frozen W, x [N, in] → [N, out]. The gradient flows to x only: dx = dy·W, both products
 * non-transposed 2-D matmuls (tfjs's own matMul gradient uses transposed forms, ~10x slower on wasm).
 * W is built from Wᵀ the first time a backward pass needs it and kept for the next steps.
 */
export function frozenMatMul(x: tf.Tensor2D, m: FrozenMatrix): tf.Tensor2D {
  if (m.gpu) return packedMatMul(x, m.gpu); // WebGPU: the stored form, decoded inside the kernel
  if (m.cpu) return cpuMatMul(x, m.cpu); // CPU backends: our GEMM kernels, the stored form decoded inside them
  if (m.host) return jitMatMul(x, m.host);
  const wT = m.wT;
  const op = tf.customGrad((...args) => ({
    value: tf.matMul(args[0] as tf.Tensor2D, wT),
    gradFunc: (dy: tf.Tensor) => tf.matMul(dy as tf.Tensor2D, weightOf(m)),
  }));
  return op(x) as tf.Tensor2D;
}

/** W [out, in] from Wᵀ, made once and kept outside any tidy scope. */
function weightOf(m: FrozenMatrix & { wT: tf.Tensor2D }): tf.Tensor2D {
  if (!m.w) m.w = tf.keep(tf.transpose(m.wT) as tf.Tensor2D);
  return m.w;
}
