import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Prng } from '../main/engine/data/prng.ts';
import { f32ToBf16 } from '../main/engine/formats/dtypes.ts';
import { INDEX_FILE, SINGLE_FILE } from '../main/engine/formats/hf-checkpoint.ts';
import { writeSafetensors, type TensorToWrite } from '../main/engine/formats/safetensors.ts';
import { planShards } from '../main/engine/export/shard-size.ts';
import { parseLlamaConfig } from '../main/engine/model/config.ts';
import { expectedTensors } from '../main/engine/model/projections.ts';
import { syntheticConfigJson } from '../main/engine/demo/synthetic-model.ts';

export interface SyntheticShape {
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  num_key_value_heads: number;
  vocab_size: number;
  tie_word_embeddings: boolean;
}

export interface SyntheticOptions {
  seed?: number;
  /** F32 (default) or BF16, as real checkpoints ship. */
  dtype?: 'F32' | 'BF16';
  /** Shard the weights as transformers does (model-0000N-of-0000M.safetensors + index); default one file. */
  maxShardBytes?: number;
}

/** Samples drawn per element from a fixed table: 2^16 N(0, 1) values (Box–Muller), indexed by a PRNG word. */
const TABLE_SIZE = 1 << 16;

/**
 * A LLaMA model folder with random weights (N(0, 0.02), norms 1) for benchmarks: config.json, the weights (one
 * file, or shards with their index, written one tensor at a time) and a tokenizer copied from `tokenizerDir`.
 * Values come from a table of 65,536 Gaussian samples indexed by a seeded PRNG: a 7B checkpoint is written in
 * about the time the disk takes, where a Box–Muller draw per weight took minutes. Nothing here is committed.
 */
export async function writeSyntheticModel(
  dir: string,
  shape: SyntheticShape,
  tokenizerDir: string,
  opts: SyntheticOptions = {},
): Promise<number> {
  const dtype = opts.dtype ?? 'F32';
  mkdirSync(dir, { recursive: true });
  const json = {
    ...syntheticConfigJson({ ...shape, max_position_embeddings: 2048 }),
    torch_dtype: dtype === 'F32' ? 'float32' : 'bfloat16',
  };
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(json, null, 2));
  for (const f of ['tokenizer.json', 'tokenizer_config.json']) {
    if (existsSync(path.join(tokenizerDir, f))) copyFileSync(path.join(tokenizerDir, f), path.join(dir, f));
  }
  const config = parseLlamaConfig(json);
  const prng = new Prng(opts.seed ?? 1);
  const table = gaussianTable(prng, 0.02);
  const bf16Table = Uint16Array.from(table, (v) => f32ToBf16(v));
  let params = 0;
  const tensors = [...expectedTensors(config)].map(([name, dims]) => {
    const n = dims.reduce((a, b) => a * b, 1);
    params += n;
    return {
      name,
      dtype,
      shape: dims,
      bytes: n * (dtype === 'F32' ? 4 : 2),
      data: () => {
        const v = dtype === 'F32' ? new Float32Array(n) : new Uint16Array(n);
        const values = dtype === 'F32' ? table : bf16Table;
        if (dims.length === 1) v.fill(dtype === 'F32' ? 1 : f32ToBf16(1));
        else {
          const words = new Uint32Array(Math.min(n, 1 << 16));
          for (let at = 0; at < n; at += words.length) {
            const draw = words.subarray(0, Math.min(words.length, n - at));
            prng.fill(draw); // the same words as one nextUint32 per value, drawn in bulk
            for (let i = 0; i < draw.length; i++) v[at + i] = values[draw[i] >>> 16];
          }
        }
        return new Uint8Array(v.buffer);
      },
    } satisfies TensorToWrite & { bytes: number };
  });
  if (opts.maxShardBytes === undefined) {
    await writeSafetensors(path.join(dir, SINGLE_FILE), tensors);
    return params;
  }
  const shards = planShards(tensors, opts.maxShardBytes);
  const weightMap: Record<string, string> = {};
  for (let s = 0; s < shards.length; s++) {
    const file = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.safetensors`;
    await writeSafetensors(path.join(dir, file), shards[s], { metadata: { format: 'pt' } });
    for (const t of shards[s]) weightMap[t.name] = file;
  }
  const totalSize = tensors.reduce((a, t) => a + t.bytes, 0);
  writeFileSync(path.join(dir, INDEX_FILE), JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2));
  return params;
}

function gaussianTable(prng: Prng, std: number): Float32Array {
  const t = new Float32Array(TABLE_SIZE);
  for (let i = 0; i < TABLE_SIZE; i++) {
    // Box–Muller
    const u = 1 - prng.next();
    const v = prng.next();
    t[i] = std * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }
  return t;
}
