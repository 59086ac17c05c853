import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Prng } from '../main/engine/data/prng.ts';
import { writeSafetensors } from '../main/engine/formats/safetensors.ts';
import { parseLlamaConfig } from '../main/engine/model/config.ts';
import { expectedTensors } from '../main/engine/model/projections.ts';

export interface SyntheticShape {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  vocab_size: number;
  tie_word_embeddings: boolean;
}

/**
 * A LLaMA model folder with random weights (N(0, 0.02), norms 1) for benchmarks: config.json, model.safetensors
 * (written one tensor at a time) and a tokenizer copied from `tokenizerDir`. Nothing here is committed.
 */
export async function writeSyntheticModel(dir: string, shape: SyntheticShape, tokenizerDir: string, seed = 1): Promise<number> {
  mkdirSync(dir, { recursive: true });
  const json = syntheticConfigJson(shape);
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(json, null, 2));
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) {
    if (existsSync(path.join(tokenizerDir, f))) copyFileSync(path.join(tokenizerDir, f), path.join(dir, f));
  }
  const config = parseLlamaConfig(json);
  const prng = new Prng(seed);
  let params = 0;
  const tensors = [...expectedTensors(config)].map(([name, dims]) => {
    const n = dims.reduce((a, b) => a * b, 1);
    params += n;
    return {
      name,
      dtype: 'F32' as const,
      shape: dims,
      data: () => {
        const v = new Float32Array(n);
        if (dims.length === 1) v.fill(1);
        else for (let i = 0; i < n; i++) v[i] = gaussian(prng) * 0.02;
        return new Uint8Array(v.buffer);
      },
    };
  });
  await writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
  return params;
}

/** The config.json of a synthetic LLaMA of this shape (also used by the GPU kit, whose weights python writes). */
export function syntheticConfigJson(shape: SyntheticShape) {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    ...shape,
    max_position_embeddings: 2048,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    hidden_act: 'silu',
    bos_token_id: 1,
    eos_token_id: 2,
    torch_dtype: 'float32',
  };
}

function gaussian(prng: Prng): number {
  // Box–Muller
  const u = 1 - prng.next();
  const v = prng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}
