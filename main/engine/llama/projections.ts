import { StudioError } from '../errors.ts';
import type { LlamaConfig } from './config.ts';
import type { ProjectionName } from './projection-names.ts';

// Names and shapes of a LLaMA checkpoint's tensors. No tfjs here: inspect, merge, export and the CLI's start-up
// use these without loading TensorFlow.js (~150 MB of RSS).

export { PROJECTIONS, projectionNameSchema, unknownProjections, type ProjectionName } from './projection-names.ts';

/** The HF name and [out, in] shape every projection must have under this config. */
export function projectionShape(config: LlamaConfig, name: ProjectionName): [number, number] {
  const { hiddenSize: h, intermediateSize: f, numHeads, numKvHeads, headDim } = config;
  switch (name) {
    case 'q_proj':
      return [numHeads * headDim, h];
    case 'k_proj':
    case 'v_proj':
      return [numKvHeads * headDim, h];
    case 'o_proj':
      return [h, numHeads * headDim];
    case 'gate_proj':
    case 'up_proj':
      return [f, h];
    case 'down_proj':
      return [h, f];
  }
}

export function projectionPath(layer: number, name: ProjectionName): string {
  const group = name === 'gate_proj' || name === 'up_proj' || name === 'down_proj' ? 'mlp' : 'self_attn';
  return `model.layers.${layer}.${group}.${name}`;
}

/**
 * Refuse a LoRA rank above the smallest side of a targeted projection: B·A then has more parameters than the
 * weight it updates and no more capacity (its rank is still at most min(out, in)); a huge r only exhausts memory.
 */
export function checkLoraRank(config: LlamaConfig, r: number, targets: readonly ProjectionName[], file?: string): void {
  const sides = targets.map((t) => ({ t, shape: projectionShape(config, t) }));
  const smallest = sides.reduce((a, b) => (Math.min(...b.shape) < Math.min(...a.shape) ? b : a));
  const limit = Math.min(...smallest.shape);
  if (r <= limit) return;
  const params = sides.reduce((n, { shape }) => n + r * (shape[0] + shape[1]), 0) * config.numLayers;
  throw new StudioError(
    `lora_r ${r} is larger than ${smallest.t}'s smaller side (${smallest.shape.join(' × ')}): a rank above ${limit} adds no capacity, ` +
      `only memory (${params.toLocaleString('en-US')} LoRA parameters); use lora_r ≤ ${limit}`,
    file,
    'config/lora-rank',
  );
}
