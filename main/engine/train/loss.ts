import * as tf from '@tensorflow/tfjs';
import { fusedCrossEntropySum } from '../backend/webgpu-cross-entropy.ts';
import { onWebgpu } from '../backend/webgpu-kernels.ts';
import { cpuCrossEntropySum } from '../backend/cpu-cross-entropy.ts';
import { cpuGemm } from '../cpu-kernels/cpu-matmul-path.ts';
import { IGNORE_INDEX } from '../data/encode.ts';

/**
 * Causal-LM targets: position t predicts label t+1 (HF shifts logits[:, :-1] against labels[:, 1:]).
 * Returns per-position target ids (0 where ignored), weights (1 labelled, 0 ignored) and the labelled count.
 */
export function shiftedTargets(labels: Int32Array, B: number, T: number) {
  const targets = new Int32Array(B * T);
  const weights = new Float32Array(B * T);
  let count = 0;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T - 1; t++) {
      const label = labels[b * T + t + 1];
      if (label === IGNORE_INDEX) continue;
      targets[b * T + t] = label;
      weights[b * T + t] = 1;
      count++;
    }
  }
  return { targets, weights, count };
}

/**
 * Σ over positions of weight · (−log softmax(logits)[target]), logits [N, V]. Its gradient is written by hand,
 * (softmax − onehot)·weight, because tfjs's gather gradient needs UnsortedSegmentSum, which wasm lacks.
 */
export function weightedCrossEntropySum(logits: tf.Tensor2D, targets: Int32Array, weights: Float32Array): tf.Scalar {
  if (onWebgpu()) {
    // One kernel each way (webgpu-cross-entropy.ts); it keeps its own references to the label tensors.
    const [t, w] = [tf.tensor1d(targets, 'int32'), tf.tensor1d(weights)];
    const loss = fusedCrossEntropySum(logits, t, w);
    tf.dispose([t, w]);
    return loss;
  }
  const gemm = cpuGemm();
  if (gemm) return cpuCrossEntropySum(gemm, logits, targets, weights); // the CPU backends with our kernels
  const [N, V] = logits.shape;
  const flatIndex = targets.map((t, n) => n * V + t);
  const op = tf.customGrad((...args) => {
    const x = args[0] as tf.Tensor2D;
    const save = args[1] as tf.GradSaveFunc;
    const lse = tf.logSumExp(x, -1, true); // [N, 1]
    const weightT = tf.tensor2d(weights, [N, 1]);
    const picked = tf.reshape(tf.gather(tf.reshape(x, [-1]), tf.tensor1d(flatIndex, 'int32')), [N, 1]); // [N, 1]
    // Only saved tensors outlive the forward scope; the rest is rebuilt from the JS arrays in the gradient.
    save([x, lse, weightT]);
    return {
      value: tf.sum(tf.mul(tf.sub(lse, picked), weightT)),
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [xs, lses, ws] = saved;
        const probs = tf.exp(tf.sub(xs, lses)); // softmax [N, V]
        // oneHot straight to float32 writes integer bit patterns on tfjs-wasm 4.22: build int32, then cast.
        const oneHot = tf.cast(tf.oneHot(tf.tensor1d(targets, 'int32'), V), 'float32');
        const grad = tf.mul(tf.sub(probs, oneHot), ws);
        return [tf.mul(grad, dy as tf.Scalar)];
      },
    };
  });
  return op(logits) as tf.Scalar;
}
