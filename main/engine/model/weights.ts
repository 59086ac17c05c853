import * as tf from '@tensorflow/tfjs';
import { FormatError } from '../errors.ts';
import type { TensorSource } from '../formats/tensor-source.ts';
import type { LlamaConfig } from './config.ts';

/** The seven projection modules of a LLaMA block, by their HF names (also LoRA's target names). */
export const PROJECTIONS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] as const;
export type ProjectionName = (typeof PROJECTIONS)[number];

/**
 * A frozen weight matrix W [out, in] used as x·Wᵀ. We keep Wᵀ ([in, out]) because tfjs-wasm's fast matmul only
 * serves non-transposed 2-D operands; W itself is made once, on demand, for the backward pass (dx = dy·W).
 */
export interface FrozenMatrix {
  wT: tf.Tensor2D; // [in, out]
  w?: tf.Tensor2D; // [out, in]
}

/** A frozen linear layer y = x·Wᵀ + b. */
export interface FrozenLinear extends FrozenMatrix {
  /** HF tensor name without `.weight`, e.g. `model.layers.0.self_attn.q_proj`. */
  path: string;
  inFeatures: number;
  outFeatures: number;
  bias?: tf.Tensor1D; // [out]
}

export interface LlamaLayer {
  inputNorm: tf.Tensor1D; // [H]
  postNorm: tf.Tensor1D; // [H]
  proj: Record<ProjectionName, FrozenLinear>;
}

export interface LlamaWeights {
  embed: tf.Tensor2D; // [V, H]
  layers: LlamaLayer[];
  norm: tf.Tensor1D; // [H]
  /** lm_head (the embedding itself when tied), wT [H, V]. */
  lmHead: FrozenMatrix;
}

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
export function checkTensorsAgainstConfig(source: TensorSource, config: LlamaConfig): string[] {
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

/** Read every weight (converted to f32) and check it against the config first. */
export async function loadLlamaWeights(source: TensorSource, config: LlamaConfig, where = 'checkpoint'): Promise<LlamaWeights> {
  const problems = checkTensorsAgainstConfig(source, config);
  if (problems.length) throw new FormatError(problems.join('; '), where, 'model/tensors');

  const read = async (name: string, shape: number[]) => tf.tensor(await source.readF32(name), shape);
  const readT = async (name: string, rows: number, cols: number) => {
    const w = tf.tensor2d(await source.readF32(name), [rows, cols]);
    const t = tf.transpose(w) as tf.Tensor2D;
    w.dispose();
    return t;
  };

  const embed = (await read('model.embed_tokens.weight', [config.vocabSize, config.hiddenSize])) as tf.Tensor2D;
  const layers: LlamaLayer[] = [];
  for (let l = 0; l < config.numLayers; l++) {
    const proj = {} as Record<ProjectionName, FrozenLinear>;
    for (const p of PROJECTIONS) {
      const [out, inF] = projectionShape(config, p);
      const path = projectionPath(l, p);
      const biasName = `${path}.bias`;
      proj[p] = {
        path,
        inFeatures: inF,
        outFeatures: out,
        wT: await readT(`${path}.weight`, out, inF),
        bias: source.has(biasName) && config.qkvBias ? ((await read(biasName, [out])) as tf.Tensor1D) : undefined,
      };
    }
    layers.push({
      inputNorm: (await read(`model.layers.${l}.input_layernorm.weight`, [config.hiddenSize])) as tf.Tensor1D,
      postNorm: (await read(`model.layers.${l}.post_attention_layernorm.weight`, [config.hiddenSize])) as tf.Tensor1D,
      proj,
    });
  }
  const norm = (await read('model.norm.weight', [config.hiddenSize])) as tf.Tensor1D;
  const lmHead: FrozenMatrix = config.tieWordEmbeddings
    ? { wT: tf.transpose(embed) as tf.Tensor2D, w: embed }
    : { wT: await readT('lm_head.weight', config.vocabSize, config.hiddenSize) };
  return { embed, layers, norm, lmHead };
}

/** Free every tensor the weights hold. */
export function disposeWeights(w: LlamaWeights): void {
  const all = new Set<tf.Tensor>([w.embed, w.norm, w.lmHead.wT]);
  if (w.lmHead.w) all.add(w.lmHead.w);
  for (const layer of w.layers) {
    all.add(layer.inputNorm).add(layer.postNorm);
    for (const p of Object.values(layer.proj)) {
      all.add(p.wT);
      if (p.bias) all.add(p.bias);
      if (p.w) all.add(p.w);
    }
  }
  tf.dispose([...all]);
}

/** Parameters of a model with this config (every tensor a checkpoint holds). */
export function parameterCount(config: LlamaConfig): number {
  let n = 0;
  for (const shape of expectedTensors(config).values()) n += shape.reduce((a, b) => a * b, 1);
  return n;
}
