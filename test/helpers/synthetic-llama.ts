import { mkdirSync, writeFileSync } from 'node:fs';
import { TINYLLAMA_1B_SHAPE, syntheticConfigJson } from '../../main/engine/demo/synthetic-model.ts';
import path from 'node:path';
import { Prng } from '../../main/engine/data/prng.ts';
import { charTokenizerJson } from '../../main/engine/demo/char-tokenizer.ts';
import { encodeFromF32 } from '../../main/engine/formats/dtypes.ts';
import { writeSafetensors } from '../../main/engine/formats/safetensors.ts';
import { parseLlamaConfig } from '../../main/engine/model/config.ts';
import { expectedTensors } from '../../main/engine/model/projections.ts';

export interface LlamaShape {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  vocab_size: number;
  tie_word_embeddings?: boolean;
}

/** TinyLlama-1.1B's widths (its config.json), any number of layers. */
const { num_hidden_layers: _layers, max_position_embeddings: _context, ...widths } = TINYLLAMA_1B_SHAPE;
export const TINYLLAMA_WIDTHS = widths;

export const SYNTHETIC_ALPHABET = 'abcdefghijklmnopqrstuvwxyz .,?';

/**
 * A LLaMA model folder of our own with random weights (uniform, fan-in scaled; norms 1) stored as `dtype`, written one
 * tensor at a time, with a character tokenizer: no download and no shared data needed. Returns the tensor bytes.
 */
export async function writeSyntheticLlama(
  dir: string,
  shape: LlamaShape,
  opts: { dtype?: 'F32' | 'F16' | 'BF16'; seed?: number } = {},
): Promise<number> {
  const dtype = opts.dtype ?? 'BF16';
  mkdirSync(dir, { recursive: true });
  const { tokenizer, config: tokConfig } = charTokenizerJson(SYNTHETIC_ALPHABET);
  const json = {
    ...syntheticConfigJson({ tie_word_embeddings: false, ...shape, max_position_embeddings: 2048 }),
    torch_dtype: { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[dtype],
  };
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(json, null, 2));
  writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(tokConfig, null, 2));
  const prng = new Prng(opts.seed ?? 5);
  let bytes = 0;
  const tensors = [...expectedTensors(parseLlamaConfig(json))].map(([name, dims]) => {
    const n = dims.reduce((a, b) => a * b, 1);
    bytes += n * (dtype === 'F32' ? 4 : 2);
    return {
      name,
      dtype,
      shape: dims,
      data: () => {
        const v = new Float32Array(n);
        const bound = Math.sqrt(3 / dims[dims.length - 1]);
        if (dims.length === 1) v.fill(1);
        else for (let i = 0; i < n; i++) v[i] = (2 * prng.next() - 1) * bound;
        return encodeFromF32(v, dtype);
      },
    };
  });
  await writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
  return bytes;
}

/** A small Alpaca-style data file in the synthetic tokenizer's alphabet. */
export function writeSyntheticData(file: string, rows = 24): void {
  const words = ['red', 'blue', 'cat', 'dog', 'sun', 'moon', 'tree', 'river'];
  const data = Array.from({ length: rows }, (_, i) => ({
    instruction: `name a thing like ${words[i % words.length]}`,
    input: '',
    output: `a ${words[(i * 3 + 1) % words.length]} and a ${words[(i * 5 + 2) % words.length]}.`,
  }));
  writeFileSync(file, JSON.stringify(data));
}
