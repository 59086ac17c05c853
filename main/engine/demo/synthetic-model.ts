import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Prng } from '../data/prng.ts';
import { writeSafetensors } from '../formats/safetensors.ts';
import { parseLlamaConfig } from '../model/config.ts';
import { expectedTensors } from '../model/projections.ts';
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

/**
 * The one generator of synthetic LLaMA models, shared by the demo, the tests and the benchmarks: a Hugging Face
 * model folder (config.json, model.safetensors written one tensor at a time, tokenizer.json, tokenizer_config.json)
 * with random weights, loaded through the very same path as a downloaded LLaMA. Returns the parameter count.
 */
export async function writeSyntheticModel(
  dir: string,
  shape: SyntheticShape,
  tokenizer: SyntheticTokenizer,
  seed = 7,
): Promise<{ params: number; vocabSize: number }> {
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
  const json = syntheticConfigJson({ ...shape, vocab_size: vocabSize });
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(json, null, 2));
  let params = 0;
  const tensors = [...expectedTensors(parseLlamaConfig(json))].map(([name, shape], index) => {
    const n = shape.reduce((a, b) => a * b, 1);
    params += n;
    return {
      name,
      dtype: 'F32' as const,
      shape,
      // Drawn when the writer reaches this tensor, so a 100M-parameter model never sits whole in memory.
      data: () => {
        // One stream per tensor: the values do not depend on the order the writer asks for them in.
        const prng = new Prng(seed * 65_537 + index);
        const values = new Float32Array(n);
        // Norm weights 1; matrices uniform with the variance of a standard init (fan-in scaled).
        const bound = shape.length === 1 ? 0 : Math.sqrt(3 / shape[shape.length - 1]);
        for (let i = 0; i < n; i++) values[i] = shape.length === 1 ? 1 : (2 * prng.next() - 1) * bound;
        return new Uint8Array(values.buffer);
      },
    };
  });
  await writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
  return { params, vocabSize };
}

/** The config.json of a synthetic LLaMA of this shape (the GPU kit's python writes weights for it too). */
export function syntheticConfigJson(shape: SyntheticShape & { vocab_size: number }) {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    ...shape,
    max_position_embeddings: shape.max_position_embeddings ?? 512,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    hidden_act: 'silu',
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: 'float32',
  };
}
