import * as tf from '@tensorflow/tfjs';
import { FormatError } from '../errors.ts';
import type { TensorSource } from '../formats/tensor-source.ts';
import { packedTensors, packForGpu, type GpuPackedMatrix } from '../backend/webgpu-packed-matmul.ts';
import { storeMatrix } from './block-quant.ts';
import type { LlamaConfig } from './config.ts';
import { PROJECTIONS, checkTensorsAgainstConfig, projectionPath, projectionShape, type ProjectionName } from './projections.ts';

export * from './projections.ts';

/**
 * A frozen weight matrix W [out, in] used as x·Wᵀ. In f32 we keep Wᵀ ([in, out]) because tfjs-wasm's fast matmul
 * only serves non-transposed 2-D operands; W itself is made once, on demand, for the backward pass (dx = dy·W).
 * On WebGPU it may instead live in its storage mode as one packed copy that serves both directions
 * (see webgpu-packed-matmul.ts).
 */
export type FrozenMatrix = { wT: tf.Tensor2D; w?: tf.Tensor2D; gpu?: undefined } | { gpu: GpuPackedMatrix; wT?: undefined; w?: undefined };

/** How frozen matrices are stored: f32 (W and Wᵀ, 8 bytes a weight) or packed halves (2 bytes, WebGPU only). */
export type FrozenStorage = 'f32' | 'f16';

/** A frozen linear layer y = x·Wᵀ + b. */
export type FrozenLinear = FrozenMatrix & {
  /** HF tensor name without `.weight`, e.g. `model.layers.0.self_attn.q_proj`. */
  path: string;
  inFeatures: number;
  outFeatures: number;
  bias?: tf.Tensor1D; // [out]
};

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

/**
 * Read every weight and check it against the config first. Norms and the embedding are f32; frozen matrices are
 * f32, or packed halves with `storage: 'f16'` (a matrix whose values exceed f16's range stays f32).
 */
export async function loadLlamaWeights(source: TensorSource, config: LlamaConfig, where = 'checkpoint', storage: FrozenStorage = 'f32'): Promise<LlamaWeights> {
  const problems = checkTensorsAgainstConfig(source, config);
  if (problems.length) throw new FormatError(problems.join('; '), where, 'model/tensors');

  const read = async (name: string, shape: number[]) => tf.tensor(await source.readF32(name), shape);
  const toFrozen = (values: Float32Array, rows: number, cols: number): FrozenMatrix => {
    if (storage === 'f16' && fitsF16(values)) return { gpu: packForGpu(storeMatrix(values, rows, cols, 'f16')) };
    const w = tf.tensor2d(values, [rows, cols]);
    const wT = tf.transpose(w) as tf.Tensor2D;
    w.dispose();
    return { wT };
  };
  const readFrozen = async (name: string, rows: number, cols: number) => toFrozen(await source.readF32(name), rows, cols);

  const embed = (await read('model.embed_tokens.weight', [config.vocabSize, config.hiddenSize])) as tf.Tensor2D;
  const layers: LlamaLayer[] = [];
  for (let l = 0; l < config.numLayers; l++) {
    const proj = {} as Record<ProjectionName, FrozenLinear>;
    for (const p of PROJECTIONS) {
      const [out, inF] = projectionShape(config, p);
      const path = projectionPath(l, p);
      const biasName = `${path}.bias`;
      proj[p] = {
        ...(await readFrozen(`${path}.weight`, out, inF)),
        path,
        inFeatures: inF,
        outFeatures: out,
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
  let lmHead: FrozenMatrix;
  if (!config.tieWordEmbeddings) lmHead = await readFrozen('lm_head.weight', config.vocabSize, config.hiddenSize);
  else if (storage === 'f16') lmHead = toFrozen((await embed.data()) as Float32Array, config.vocabSize, config.hiddenSize);
  else lmHead = { wT: tf.transpose(embed) as tf.Tensor2D, w: embed };
  return { embed, layers, norm, lmHead };
}

const F16_MAX = 65504;

/** Whether halves hold every value (else the matrix stays f32 rather than turn into infinities). */
function fitsF16(values: Float32Array): boolean {
  for (let i = 0; i < values.length; i++) if (!(Math.abs(values[i]) <= F16_MAX)) return false;
  return true;
}

/** Free every tensor the weights hold. */
export function disposeWeights(w: LlamaWeights): void {
  const all = new Set<tf.Tensor>([w.embed, w.norm]);
  const addMatrix = (m: FrozenMatrix) => {
    for (const t of [m.wT, m.w, ...(m.gpu ? packedTensors(m.gpu) : [])]) if (t) all.add(t);
  };
  addMatrix(w.lmHead);
  for (const layer of w.layers) {
    all.add(layer.inputNorm).add(layer.postNorm);
    for (const p of Object.values(layer.proj)) {
      addMatrix(p);
      if (p.bias) all.add(p.bias);
    }
  }
  tf.dispose([...all]);
}
