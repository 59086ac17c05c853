import type { TensorListing } from './tensor-listing.ts';
import { StudioError } from '../errors.ts';
import type { LlamaConfig } from './config.ts';
import { PROJECTIONS, type ProjectionName } from './projection-names.ts';

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

/** Every tensor name and shape a checkpoint must hold for this config (biases only where the config says). */
export function expectedTensors(config: LlamaConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  m.set('model.embed_tokens.weight', [config.vocabSize, config.hiddenSize]);
  for (let l = 0; l < config.numLayers; l++) {
    m.set(`model.layers.${l}.input_layernorm.weight`, [config.hiddenSize]);
    m.set(`model.layers.${l}.post_attention_layernorm.weight`, [config.hiddenSize]);
    for (const p of PROJECTIONS) {
      const shape = projectionShape(config, p);
      m.set(`${projectionPath(l, p)}.weight`, shape);
      if (config.qkvBias && (p === 'q_proj' || p === 'k_proj' || p === 'v_proj')) m.set(`${projectionPath(l, p)}.bias`, [shape[0]]);
    }
  }
  m.set('model.norm.weight', [config.hiddenSize]);
  if (!config.tieWordEmbeddings) m.set('lm_head.weight', [config.vocabSize, config.hiddenSize]);
  return m;
}

/**
 * Problems between a checkpoint's tensors and its config: missing tensors, wrong shapes, unexpected extras.
 * Extras that are harmless (rotary inv_freq buffers, a redundant tied lm_head) are not reported.
 */
export function checkTensorsAgainstConfig(source: TensorListing, config: LlamaConfig): string[] {
  const problems: string[] = [];
  const expected = expectedTensors(config);
  for (const [name, shape] of expected) {
    if (!source.has(name)) {
      problems.push(`missing tensor ${name} (expected shape [${shape.join(', ')}])`);
      continue;
    }
    const actual = source.info(name).shape;
    if (actual.length !== shape.length || actual.some((d, i) => d !== shape[i])) {
      problems.push(`tensor ${name} has shape [${actual.join(', ')}] but config.json implies [${shape.join(', ')}]`);
    }
  }
  for (const t of source.list()) {
    if (expected.has(t.name) || t.name.endsWith('rotary_emb.inv_freq')) continue;
    if (t.name === 'lm_head.weight' && config.tieWordEmbeddings) continue;
    problems.push(`unexpected tensor ${t.name} (not part of a ${config.modelType} model with this config)`);
  }
  return problems;
}

/** Parameters of a model with this config (every tensor a checkpoint holds). */
export function parameterCount(config: LlamaConfig): number {
  let n = 0;
  for (const shape of expectedTensors(config).values()) n += shape.reduce((a, b) => a * b, 1);
  return n;
}
