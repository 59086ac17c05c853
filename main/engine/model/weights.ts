import * as tf from '@tensorflow/tfjs';
import { FormatError } from '../errors.ts';
import type { TensorSource } from '../formats/tensor-source.ts';
import type { LlamaConfig } from './config.ts';
import { PROJECTIONS, checkTensorsAgainstConfig, projectionPath, projectionShape, type ProjectionName } from './projections.ts';

export * from './projections.ts';

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
