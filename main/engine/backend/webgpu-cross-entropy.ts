import * as tf from '@tensorflow/tfjs';
import { rowReduce, WORKGROUP } from './webgpu-kernels.ts';
import { runProgram, type WebGpuProgram } from './webgpu-program.ts';

/**
 * Weighted cross-entropy over logits [N, V] as one row-reduce kernel forward (per-row loss, then one sum) and one
 * backward, where the plain form (train/loss.ts) runs logSumExp, gather, sub, mul and sum forward and exp, sub,
 * oneHot, cast and two muls backward. Per row: loss = w·(logsumexp(x) − x[target]); gradient (softmax − onehot)·w·dy.
 * A row with weight 0 (an ignored label) gives loss 0 and a zero gradient, whatever its logits.
 */

/** max and Σ exp(x − max) of the row: the stable log-sum-exp's parts, `top` and `total`, shared by both kernels. */
const ROW_SOFTMAX = `
        let label = targets[row];
        let weight = weights[row];
        var m = -3.4e38;
        for (var c = tid; c < cols; c += ${WORKGROUP}) { m = max(m, getLogits(row, c)); }
        let top = reduceRowMax(tid, m);
        var s = 0.0;
        for (var c = tid; c < cols; c += ${WORKGROUP}) { s += exp(getLogits(row, c) - top); }
        let total = reduceRow(tid, vec2<f32>(s, 0.0)).x;`;

/** Per-row loss [N]: thread 0 of the row's workgroup writes it. */
function lossProgram(rows: number, cols: number): WebGpuProgram {
  return rowReduce(
    'lora-studio-cross-entropy',
    ['logits', 'targets', 'weights'],
    rows,
    cols,
    `${ROW_SOFTMAX}
        if (tid == 0) {
          result[row] = select(weight * (top + log(total) - getLogits(row, label)), 0.0, weight == 0.0);
        }`,
    '',
    [rows],
  );
}

/** d logits [N, V] = (softmax − onehot(target))·w·dy, with dy the gradient of the summed loss (a scalar). */
function gradProgram(rows: number, cols: number): WebGpuProgram {
  return rowReduce(
    'lora-studio-cross-entropy-grad',
    ['logits', 'targets', 'weights', 'dy'],
    rows,
    cols,
    `${ROW_SOFTMAX}
        let k = weight * dy[0] / total;
        for (var c = tid; c < cols; c += ${WORKGROUP}) {
          let g = exp(getLogits(row, c) - top) * k - select(0.0, weight * dy[0], c == label);
          setOutputAtCoords(row, c, select(g, 0.0, weight == 0.0));
        }`,
    '',
  );
}

/**
 * Σ_n weights[n]·(−log softmax(logits[n])[targets[n]]) for logits [N, V], int32 targets [N] (any valid id where the
 * weight is 0) and f32 weights [N]. Targets and weights get no gradient; the caller may dispose them after the call.
 */
export function fusedCrossEntropySum(logits: tf.Tensor2D, targets: tf.Tensor1D, weights: tf.Tensor1D): tf.Scalar {
  const [rows, cols] = logits.shape;
  const op = tf.customGrad((...args) => {
    const x = args[0] as tf.Tensor2D;
    const save = args[args.length - 1] as unknown as tf.GradSaveFunc;
    save([x, targets, weights]);
    return {
      value: tf.sum(runProgram(lossProgram(rows, cols), [x, targets, weights])),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => runProgram(gradProgram(rows, cols), [saved[0], saved[1], saved[2], dy]),
    };
  });
  return op(logits) as tf.Scalar;
}
