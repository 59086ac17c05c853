import * as tf from '@tensorflow/tfjs';
import type { CpuKernels } from '../cpu-kernels/cpu-kernels.ts';
import { cpuTensor, tensorValues } from './cpu-tensors.ts';

/**
 * Σ over rows of weight · (−log softmax(logits)[target]) on the CPU kernels, logits [N, V]: each way is one pass over
 * the logits (row max and Σ exp forward; (softmax − onehot) · weight · dy backward) instead of the half-dozen tfjs
 * ops (exp, sum, one-hot, cast, sub, mul) that each read and write all N·V values.
 */
export function cpuCrossEntropySum(gemm: CpuKernels, logits: tf.Tensor2D, targets: Int32Array, weights: Float32Array): tf.Scalar {
  const [N, V] = logits.shape;
  const op = tf.customGrad((...args) => {
    const x = args[0] as tf.Tensor2D;
    const save = args[1] as tf.GradSaveFunc;
    const values = tensorValues(x);
    const { max, sum } = gemm.rowMaxSumExp(values, N, V);
    const lse = new Float64Array(N);
    let loss = 0;
    for (let i = 0; i < N; i++) {
      lse[i] = max[i] + Math.log(sum[i]);
      if (weights[i] !== 0) loss += weights[i] * (lse[i] - values[i * V + targets[i]]);
    }
    save([x]);
    return {
      value: tf.scalar(loss),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const scale = (dy as tf.Scalar).dataSync()[0];
        const coef = weights.map((w) => w * scale);
        return [cpuTensor([N, V], (out) => gemm.softmaxGrad(tensorValues(saved[0]), N, V, lse, coef, targets, out))];
      },
    };
  });
  return op(logits) as tf.Scalar;
}
