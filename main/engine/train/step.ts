import * as tf from '@tensorflow/tfjs';
import type { LlamaModel } from '../model/llama.ts';
import type { MicroBatch } from '../data/batches.ts';
import type { DropoutDraw, LoraAdapter } from '../model/lora.ts';
import { shiftedTargets, weightedCrossEntropySum } from './loss.ts';

/** Labelled (loss-bearing) positions of a micro-batch after the causal shift. */
export function labelledCount(mb: MicroBatch): number {
  return shiftedTargets(mb.labels, mb.batchSize, mb.seqLen).count;
}

/**
 * Loss of one micro-batch divided by `normalizer` (the labelled-token count of the whole accumulated batch, so
 * the accumulated gradient is the gradient of the mean loss over every labelled token of the optimizer step),
 * and the gradients of every LoRA variable. With gradientCheckpointing each layer is recomputed in the backward pass
 * (see checkpoint.ts): the same gradients for the activations of one layer instead of all. Returns the loss as a number and the grads in variable order.
 */
export async function microBatchGradients(
  model: LlamaModel,
  adapter: LoraAdapter,
  mb: MicroBatch,
  normalizer: number,
  opts: { dropout?: DropoutDraw; gradientCheckpointing?: boolean } = {},
): Promise<{ loss: number; grads: tf.Tensor[] }> {
  const { targets, weights } = shiftedTargets(mb.labels, mb.batchSize, mb.seqLen);
  const vars = adapter.variables;
  const ids = tf.tensor2d(mb.inputIds, [mb.batchSize, mb.seqLen], 'int32');
  const mask = tf.tensor2d(mb.attentionMask, [mb.batchSize, mb.seqLen], 'int32');
  const projection = adapter.projection({ training: true, dropout: opts.dropout });
  const checkpoint = opts.gradientCheckpointing ? (layer: number) => adapter.layerVariables(layer) : undefined;
  const { value, grads } = tf.variableGrads(() => {
    const logits = model.forward(ids, { attentionMask: mask, projection, checkpoint }); // [B, T, V]
    const flat = tf.reshape(logits, [-1, model.config.vocabSize]) as tf.Tensor2D; // [B·T, V]
    return tf.div(weightedCrossEntropySum(flat, targets, weights), normalizer) as tf.Scalar;
  }, vars);
  // Read asynchronously: tfjs-webgpu's dataSync goes through OffscreenCanvas, which Node lacks (and it stalls the GPU).
  const loss = (await value.data())[0];
  tf.dispose([value, ids, mask]);
  return { loss, grads: vars.map((v) => grads[v.name]) };
}

/** Mean loss over labelled tokens, no gradients (evaluation). Returns the sum and the count so callers can pool. */
export async function evaluationLoss(
  model: LlamaModel,
  adapter: LoraAdapter | undefined,
  mb: MicroBatch,
): Promise<{ sum: number; count: number }> {
  const { targets, weights, count } = shiftedTargets(mb.labels, mb.batchSize, mb.seqLen);
  const total = tf.tidy(() => {
    const ids = tf.tensor2d(mb.inputIds, [mb.batchSize, mb.seqLen], 'int32');
    const mask = tf.tensor2d(mb.attentionMask, [mb.batchSize, mb.seqLen], 'int32');
    const logits = model.forward(ids, { attentionMask: mask, projection: adapter?.projection({ training: false }) });
    return weightedCrossEntropySum(tf.reshape(logits, [-1, model.config.vocabSize]) as tf.Tensor2D, targets, weights);
  });
  const sum = (await total.data())[0];
  total.dispose();
  return { sum, count };
}
