import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Prng } from '../data/prng.ts';
import { DTYPE_BYTES, encodeFromF32 } from '../formats/dtypes.ts';
import { INDEX_FILE, SINGLE_FILE, shardFileName } from '../formats/hf-checkpoint.ts';
import { writeSafetensors, type TensorToWrite } from '../formats/safetensors.ts';
import { planShards } from '../export/shard-size.ts';
import { parseLlamaConfig } from '../llama/config.ts';
import { expectedTensors } from '../llama/tensors.ts';
import { charTokenizerJson } from './char-tokenizer.ts';

/** The sizes of a synthetic LLaMA, in config.json's own field names. */
export interface SyntheticShape {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  /** Rows of the embedding; absent: as many as the tokenizer has. Larger than the tokenizer's: unused ids, as in real checkpoints. */
  vocab_size?: number;
  tie_word_embeddings: boolean;
  max_position_embeddings?: number;
  /** q/k/v projections with biases (Qwen2's layout); they are drawn like a matrix row, not set to 1 as norms are. */
  attention_bias?: boolean;
  /** 'llama' (default), 'mistral', 'qwen2' ... as config.json names it. */
  model_type?: string;
  /** A head width other than hidden_size / num_attention_heads. */
  head_dim?: number;
  rope_theta?: number;
}

/** Where the tokenizer comes from: a character tokenizer of our own over `alphabet`, or a copy of a folder's tokenizer files. */
export type SyntheticTokenizer = { alphabet: string } | { copyFrom: string };

/** TinyLlama-1.1B's shapes (its config.json; grouped-query attention, untied head): shape-true synthetic checkpoints. */
export const TINYLLAMA_1B_SHAPE = {
  hidden_size: 2048,
  intermediate_size: 5632,
  num_hidden_layers: 22,
  num_attention_heads: 32,
  num_key_value_heads: 4,
  vocab_size: 32000,
  tie_word_embeddings: false,
  max_position_embeddings: 2048,
} satisfies SyntheticShape;

/** LLaMA-7B's shapes (LLaMA-2-7B's config.json). */
export const LLAMA_7B_SHAPE = {
  hidden_size: 4096,
  intermediate_size: 11008,
  num_hidden_layers: 32,
  num_attention_heads: 32,
  num_key_value_heads: 32,
  vocab_size: 32000,
  tie_word_embeddings: false,
  max_position_embeddings: 4096,
} satisfies SyntheticShape;

/** The demo's base model: small enough to fine-tune on two CPU cores in a minute, large enough to learn its facts. */
export const DEMO_SHAPE: SyntheticShape = {
  hidden_size: 96,
  intermediate_size: 256,
  num_hidden_layers: 3,
  num_attention_heads: 6,
  num_key_value_heads: 3,
  tie_word_embeddings: true,
  max_position_embeddings: 256,
};

/** How a synthetic checkpoint stores its weights: f32, or 16-bit as released checkpoints ship. */
export type SyntheticDtype = 'F32' | 'F16' | 'BF16';

export interface SyntheticModelOptions {
  /** The weights' seed (default 7). Each tensor draws a stream of its own from it: values do not depend on the sharding. */
  seed?: number;
  /** F32 (default), F16 or BF16 (the same distribution drawn on the fast path, not F32's values rounded). */
  dtype?: SyntheticDtype;
  /** Shard as transformers does (model-0000N-of-0000M.safetensors + model.safetensors.index.json); default one file. */
  maxShardBytes?: number;
}

export interface SyntheticModel {
  params: number;
  vocabSize: number;
  /** Bytes of tensor data written (headers not counted). */
  tensorBytes: number;
}

const TORCH_DTYPE: Record<SyntheticDtype, string> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16' };

/** Values per piece handed to the writer (4 MiB as f32): a 500 MB embedding never sits whole in memory. */
const PIECE_VALUES = 1 << 20;

/**
 * The one generator of synthetic LLaMA models, shared by the demo, the tests and the benchmarks: a Hugging Face
 * model folder (config.json, the weights in one file or in shards with their index, tokenizer.json,
 * tokenizer_config.json) with random weights, loaded through the very same path as a downloaded LLaMA.
 * Weights are uniform with the variance of a standard fan-in scaled init (real checkpoints' magnitudes: ~0.02 at
 * hidden 2048), norms 1. Every tensor is drawn in bulk and streamed to the writer in pieces, so memory stays at a
 * few pieces whatever the model's size.
 */
export async function writeSyntheticModel(
  dir: string,
  shape: SyntheticShape,
  tokenizer: SyntheticTokenizer,
  opts: SyntheticModelOptions = {},
): Promise<SyntheticModel> {
  const seed = opts.seed ?? 7;
  const dtype = opts.dtype ?? 'F32';
  mkdirSync(dir, { recursive: true });
  let tokenizerVocab: number | undefined;
  if ('alphabet' in tokenizer) {
    const { tokenizer: json, config, vocabSize } = charTokenizerJson(tokenizer.alphabet);
    writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(json));
    writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(config, null, 2));
    tokenizerVocab = vocabSize;
  } else {
    for (const f of ['tokenizer.json', 'tokenizer_config.json']) {
      if (existsSync(path.join(tokenizer.copyFrom, f))) copyFileSync(path.join(tokenizer.copyFrom, f), path.join(dir, f));
    }
  }
  const vocabSize = shape.vocab_size ?? tokenizerVocab;
  if (vocabSize === undefined) throw new Error('writeSyntheticModel: vocab_size is needed when the tokenizer is copied');
  if (tokenizerVocab !== undefined && vocabSize < tokenizerVocab) {
    throw new Error(`writeSyntheticModel: vocab_size ${vocabSize} is smaller than the tokenizer's ${tokenizerVocab} tokens`);
  }
  const json = { ...syntheticConfigJson({ ...shape, vocab_size: vocabSize }), torch_dtype: TORCH_DTYPE[dtype] };
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(json, null, 2));
  let params = 0;
  const tensors = [...expectedTensors(parseLlamaConfig(json))].map(([name, dims], index) => {
    const n = dims.reduce((a, b) => a * b, 1);
    params += n;
    return {
      name,
      dtype,
      shape: dims,
      bytes: n * DTYPE_BYTES[dtype],
      // One stream per tensor: the values do not depend on the order the writer asks for them in.
      data: () => syntheticPieces(n, dims, dtype, seed * 65_537 + index, name.endsWith('.bias')),
    } satisfies TensorToWrite & { bytes: number };
  });
  const tensorBytes = tensors.reduce((a, t) => a + t.bytes, 0);
  if (opts.maxShardBytes === undefined) {
    await writeSafetensors(path.join(dir, SINGLE_FILE), tensors);
    return { params, vocabSize, tensorBytes };
  }
  const shards = planShards(tensors, opts.maxShardBytes);
  const weightMap: Record<string, string> = {};
  for (let s = 0; s < shards.length; s++) {
    const file = shardFileName(s, shards.length);
    await writeSafetensors(path.join(dir, file), shards[s], { metadata: { format: 'pt' } });
    for (const t of shards[s]) weightMap[t.name] = file;
  }
  writeFileSync(path.join(dir, INDEX_FILE), JSON.stringify({ metadata: { total_size: tensorBytes }, weight_map: weightMap }, null, 2));
  return { params, vocabSize, tensorBytes };
}

/**
 * A tensor's values in pieces of PIECE_VALUES: norm weights (1-D) 1, matrices uniform in ±√(3 / fan-in), biases
 * uniform in ±√(3 / their length).
 * F32 draws one 32-bit word per value. F16 and BF16, the dtypes of multi-GB checkpoints, take the fast path: one of
 * 65,536 evenly spaced levels per value, two values per word, looked up already encoded. The levels are 2⁻¹⁵ of
 * the range apart, finer than bf16's rounding for all but the values nearest 0; the path wrote TinyLlama-1.1B's
 * shapes in 22 s on a busy 2-core machine, where an f32 draw per value then converted took 51 s.
 */
async function* syntheticPieces(
  n: number,
  dims: number[],
  dtype: SyntheticDtype,
  streamSeed: number,
  bias = false,
): AsyncGenerator<Uint8Array> {
  const prng = new Prng(streamSeed);
  const bound = Math.sqrt(3 / dims[dims.length - 1]);
  const norm = dims.length === 1 && !bias;
  const levels = !norm && dtype !== 'F32' ? levelTable(bound, dtype) : undefined;
  const words = new Uint32Array(Math.min(n, PIECE_VALUES));
  for (let at = 0; at < n; at += PIECE_VALUES) {
    const count = Math.min(PIECE_VALUES, n - at);
    if (levels) {
      const draw = words.subarray(0, Math.ceil(count / 2));
      prng.fill(draw);
      const halves = new Uint16Array(count);
      pickLevels(draw, levels, halves);
      yield new Uint8Array(halves.buffer);
      continue;
    }
    const values = new Float32Array(count);
    if (norm) values.fill(1);
    else {
      const draw = words.subarray(0, count);
      prng.fill(draw);
      uniform(draw, values, bound);
    }
    yield dtype === 'F32' ? new Uint8Array(values.buffer) : encodeFromF32(values, dtype);
  }
}

const TWO_TO_MINUS_31 = 2 ** -31;

// The loops below are functions of their own because V8 left them unoptimized inside the async generator (4x slower).

/** values[i] = 2·(draw[i] / 2³²) − 1, scaled: the same double as `(2 * prng.next() - 1) * bound`. */
function uniform(draw: Uint32Array, values: Float32Array, bound: number): void {
  for (let i = 0; i < values.length; i++) values[i] = (draw[i] * TWO_TO_MINUS_31 - 1) * bound;
}

/** Two 16-bit levels per word: the high half, then the low half. */
function pickLevels(draw: Uint32Array, levels: Uint16Array, out: Uint16Array): void {
  const pairs = out.length >> 1;
  for (let i = 0; i < pairs; i++) {
    const w = draw[i];
    out[2 * i] = levels[w >>> 16];
    out[2 * i + 1] = levels[w & 0xffff];
  }
  if (out.length & 1) out[out.length - 1] = levels[draw[pairs] >>> 16];
}

/** The centres of 65,536 equal bins over ±bound, encoded as `dtype`. */
function levelTable(bound: number, dtype: 'F16' | 'BF16'): Uint16Array {
  const centres = Float32Array.from({ length: 65_536 }, (_, k) => ((k + 0.5) / 32_768 - 1) * bound);
  return new Uint16Array(encodeFromF32(centres, dtype).buffer);
}

/** The config.json of a synthetic LLaMA of this shape (the GPU kit's python writes weights for it too). */
export function syntheticConfigJson(shape: SyntheticShape & { vocab_size: number }) {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    ...shape,
    max_position_embeddings: shape.max_position_embeddings ?? 512,
    rms_norm_eps: 1e-5,
    rope_theta: shape.rope_theta ?? 10000,
    hidden_act: 'silu',
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: 'float32',
  };
}
