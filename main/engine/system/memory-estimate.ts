import { freemem, totalmem } from 'node:os';
import type { LlamaConfig } from '../model/config.ts';
import { PROJECTIONS, parameterCount, projectionShape, type ProjectionName } from '../model/projections.ts';

export interface MemoryEstimate {
  /** Frozen weights as the trainer holds them: f32, with Wᵀ and W both kept for the backward pass. */
  weightsBytes: number;
  /** LoRA A and B in f32. */
  loraBytes: number;
  /** AdamW's two moments plus the accumulated gradient, per LoRA parameter. */
  optimizerBytes: number;
  /** Activations kept for the backward pass of one micro-batch, logits included. */
  activationsBytes: number;
  totalBytes: number;
  /** What this machine has (free and total RAM); the wasm and cpu backends use it. */
  availableBytes: number;
  machineBytes: number;
  fits: boolean;
}

const F32 = 4;

/**
 * A training step's memory on the tfjs backends here, from the model config and the run settings. It counts what
 * our trainer keeps: every frozen matrix twice (W and Wᵀ), LoRA weights, gradients and AdamW moments in f32, and the
 * activations autograd keeps per micro-batch (per layer: the residual stream, norms, q/k/v, attention
 * probabilities, the MLP's three F-wide tensors; then logits and their softmax).
 */
export function estimateTrainingMemory(
  config: LlamaConfig,
  s: { microBatchSize: number; cutoffLen: number; loraR: number; targetModules: readonly ProjectionName[] },
): MemoryEstimate {
  const { hiddenSize: H, intermediateSize: F, numLayers: L, numHeads: nH, numKvHeads: nKV, headDim: D, vocabSize: V } = config;
  const weightsBytes = 2 * parameterCount(config) * F32;
  let loraParams = 0;
  for (const name of PROJECTIONS) {
    if (!s.targetModules.includes(name)) continue;
    const [out, inF] = projectionShape(config, name);
    loraParams += L * s.loraR * (out + inF);
  }
  const loraBytes = loraParams * F32;
  const optimizerBytes = 3 * loraParams * F32;
  const tokens = s.microBatchSize * s.cutoffLen;
  // Coefficients count the tensors tfjs keeps alive through a step, forward outputs and their gradients (calibrated
  // against tf.profile's peak on real steps: RoPE, norms and masks each leave several same-sized intermediates).
  const perLayer = tokens * (12 * H + 8 * (nH + nKV) * D + 6 * F) + 8 * s.microBatchSize * nH * s.cutoffLen * s.cutoffLen;
  const activationsBytes = 2 * (L * perLayer + 4 * tokens * V) * F32; // the backward holds gradients of the same sizes
  const totalBytes = weightsBytes + loraBytes + optimizerBytes + activationsBytes;
  const availableBytes = freemem();
  return { weightsBytes, loraBytes, optimizerBytes, activationsBytes, totalBytes, availableBytes, machineBytes: totalmem(), fits: totalBytes < availableBytes };
}
