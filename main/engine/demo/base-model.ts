import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Prng } from '../data/prng.ts';
import { writeSafetensors } from '../formats/safetensors.ts';
import { parseLlamaConfig } from '../model/config.ts';
import { expectedTensors } from '../model/projections.ts';
import { charTokenizerJson } from './char-tokenizer.ts';

/**
 * Write a small LLaMA base model of our own (random weights, a character tokenizer) in Hugging Face layout, so the
 * demo needs no download: config.json, model.safetensors, tokenizer.json, tokenizer_config.json.
 */
export async function writeDemoBaseModel(dir: string, alphabet: string, seed = 7): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const { tokenizer, config: tokConfig, vocabSize } = charTokenizerJson(alphabet);
  const config = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: 96,
    intermediate_size: 256,
    num_hidden_layers: 3,
    num_attention_heads: 6,
    num_key_value_heads: 3,
    vocab_size: vocabSize,
    max_position_embeddings: 256,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    tie_word_embeddings: true,
    hidden_act: 'silu',
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: 'float32',
  };
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizer));
  writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify(tokConfig, null, 2));
  const prng = new Prng(seed);
  const tensors = [...expectedTensors(parseLlamaConfig(config))].map(([name, shape]) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(n);
    // Norm weights 1; matrices uniform with the variance of a standard init (fan-in scaled).
    const bound = shape.length === 1 ? 0 : Math.sqrt(3 / shape[shape.length - 1]);
    for (let i = 0; i < n; i++) values[i] = shape.length === 1 ? 1 : (2 * prng.next() - 1) * bound;
    return { name, dtype: 'F32' as const, shape, data: new Uint8Array(values.buffer) };
  });
  await writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
}
