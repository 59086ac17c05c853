import * as tf from '@tensorflow/tfjs';
import { StudioError } from '../errors.ts';
import type { TensorSource } from '../formats/tensor-source.ts';
import { packedTensors } from '../backend/webgpu-packed-matmul.ts';
import { backendInfo } from '../backend/index.ts';
import { cpuGemm, openCpuGemm } from '../cpu-kernels/cpu-matmul-path.ts';
import { headDtype } from '../llama/base-dtype.ts';
import { dequantizeRows, NF4_LEVELS, storeMatrix, type StoredMatrix } from '../llama/block-quant.ts';
import { type BaseDtype } from '../llama/base-dtype-names.ts';
import type { LlamaConfig } from '../llama/config.ts';
import { toBackendMatrix, type FrozenEmbedding, type FrozenMatrix } from './frozen-matrix.ts';
import type { FrozenPlacement } from '../llama/frozen-placement.ts';
import { PROJECTIONS, projectionPath, projectionShape, type ProjectionName } from '../llama/projections.ts';
import { refuseTensorsAgainstConfig } from '../llama/tensors.ts';

export type { FrozenEmbedding, FrozenMatrix } from './frozen-matrix.ts';

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
  embed: FrozenEmbedding; // [V, H]
  layers: LlamaLayer[];
  norm: tf.Tensor1D; // [H]
  /** lm_head (the embedding itself when tied). */
  lmHead: FrozenMatrix;
}

interface WeightStorage {
  /** The storage mode of the projections (base_dtype, resolved). */
  mode: BaseDtype;
  /** The checkpoint's own precision (embeddings and lm_head follow it in the quantized modes). */
  native: 'f32' | 'bf16' | 'f16';
  /** The tfjs backend's name ('wasm', 'cpu', 'tensorflow', 'webgpu'). */
  backendName: string;
  placement: FrozenPlacement;
}

const F16_MAX = 65504;

/**
 * One matrix from the checkpoint in a storage mode, read on its own: a 16-bit tensor kept in its own mode is taken
 * as raw bits (never widened); anything else passes through f32 once (the largest tensor in f32 is the loading peak).
 */
async function readStored(
  source: TensorSource,
  name: string,
  rows: number,
  cols: number,
  mode: BaseDtype,
  where: string,
): Promise<StoredMatrix> {
  const dtype = source.info(name).dtype;
  if ((mode === 'bf16' && dtype === 'BF16') || (mode === 'f16' && dtype === 'F16')) {
    const raw = await source.readRaw(name);
    // a pooled Buffer may start at an odd byte offset; a Uint16Array view needs an even one
    const bytes = raw.byteOffset % 2 === 0 ? raw : raw.slice();
    return { dtype: mode, rows, cols, bits: new Uint16Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 2) };
  }
  const values = await source.readF32(name);
  if (mode === 'f16') {
    for (let i = 0; i < values.length; i++) {
      if (!(Math.abs(values[i]) <= F16_MAX)) {
        throw new StudioError(
          `tensor ${name} holds ${values[i]}, which f16 cannot represent; use --base_dtype bf16 (same size, f32's range)`,
          where,
          'model/base-dtype-range',
        );
      }
    }
  }
  return storeMatrix(values, rows, cols, mode);
}

/**
 * Read every weight, one tensor at a time, after checking names and shapes against the config. Norms (and biases)
 * are f32 tensors; each frozen matrix is stored in its mode (storeMatrix) and then turned into the backend's form
 * (toBackendMatrix); the embedding is gathered on the host off WebGPU, so it never sits in the wasm heap.
 */
export async function loadLlamaWeights(
  source: TensorSource,
  config: LlamaConfig,
  where: string,
  storage: WeightStorage,
): Promise<LlamaWeights> {
  refuseTensorsAgainstConfig(source, config, where);
  const { mode, backendName, placement } = storage;
  // CPU backends: the GEMM kernels and their threads start before the first matrix is placed (not on the tfjs path)
  if (backendName !== 'webgpu') await openCpuGemm(cpuGemmThreads(), NF4_LEVELS);
  const head = headDtype(mode, storage.native);

  const read = async (name: string, shape: number[]) => tf.tensor(await source.readF32(name), shape);
  const readFrozen = async (name: string, rows: number, cols: number, dtype: BaseDtype) =>
    toBackendMatrix(await readStored(source, name, rows, cols, dtype, where), backendName, placement);

  const embedStored = await readStored(source, 'model.embed_tokens.weight', config.vocabSize, config.hiddenSize, head, where);
  // WebGPU reads tensors back only asynchronously, so its lookup stays a tensor gather.
  const embed: FrozenEmbedding =
    backendName === 'webgpu'
      ? { table: tf.tensor2d(dequantizeRows(embedStored), [config.vocabSize, config.hiddenSize]) }
      : { host: embedStored };
  const layers: LlamaLayer[] = [];
  for (let l = 0; l < config.numLayers; l++) {
    const proj = {} as Record<ProjectionName, FrozenLinear>;
    for (const p of PROJECTIONS) {
      const [out, inF] = projectionShape(config, p);
      const path = projectionPath(l, p);
      const biasName = `${path}.bias`;
      proj[p] = {
        ...(await readFrozen(`${path}.weight`, out, inF, mode)),
        path,
        inFeatures: inF,
        outFeatures: out,
        bias: config.attentionBiases.includes(p) ? ((await read(biasName, [out])) as tf.Tensor1D) : undefined,
      };
    }
    layers.push({
      inputNorm: (await read(`model.layers.${l}.input_layernorm.weight`, [config.hiddenSize])) as tf.Tensor1D,
      postNorm: (await read(`model.layers.${l}.post_attention_layernorm.weight`, [config.hiddenSize])) as tf.Tensor1D,
      proj,
    });
  }
  const norm = (await read('model.norm.weight', [config.hiddenSize])) as tf.Tensor1D;
  const lmHead = config.tieWordEmbeddings
    ? toBackendMatrix(embedStored, backendName, placement) // a host embedding is shared, not copied
    : await readFrozen('lm_head.weight', config.vocabSize, config.hiddenSize, head);
  return { embed, layers, norm, lmHead };
}

/** The GEMM pool's threads: the backend's (`--threads`) on wasm, one on the others (their own ops are not ours). */
function cpuGemmThreads(): number {
  const info = backendInfo();
  return info?.name === 'wasm' ? info.threads : 1;
}

/** Free every tensor the weights hold, and give their matrices back to the CPU kernels' arena. */
export function disposeWeights(w: LlamaWeights): void {
  const all = new Set<tf.Tensor>([w.norm]);
  if (w.embed.table) all.add(w.embed.table);
  const addMatrix = (m: FrozenMatrix) => {
    if (m.cpu) cpuGemm()?.release(m.cpu);
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
