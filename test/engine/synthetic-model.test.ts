import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Prng } from '../../main/engine/data/prng.ts';
import { writeSyntheticModel, type SyntheticShape } from '../../main/engine/synthetic/synthetic-model.ts';
import { INDEX_FILE, openCheckpoint } from '../../main/engine/formats/hf-checkpoint.ts';
import { loadLlamaConfig } from '../../main/engine/llama/config.ts';
import { checkTensorsAgainstConfig, expectedTensors } from '../../main/engine/llama/tensors.ts';

const work = mkdtempSync(path.join(tmpdir(), 'synthetic-model-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

// GQA, an untied head, and an embedding of 2.1M values: more than one streamed piece (1M values).
const SHAPE: SyntheticShape = {
  hidden_size: 256,
  intermediate_size: 704,
  num_hidden_layers: 2,
  num_attention_heads: 8,
  num_key_value_heads: 2,
  vocab_size: 8192,
  tie_word_embeddings: false,
};
const ALPHABET = 'abc def';

async function readAll(dir: string): Promise<Map<string, Float32Array>> {
  const source = await openCheckpoint(dir);
  try {
    const out = new Map<string, Float32Array>();
    for (const t of source.list()) out.set(t.name, await source.readF32(t.name));
    return out;
  } finally {
    await source.close();
  }
}

describe('the synthetic-model generator', () => {
  it('f32: each tensor is its own stream, uniform in ±√(3 / fan-in) as one prng.next() per value would draw it; norms 1', async () => {
    const dir = path.join(work, 'f32');
    const written = await writeSyntheticModel(dir, SHAPE, { alphabet: ALPHABET }, { seed: 3 });
    const config = await loadLlamaConfig(dir);
    expect(config.raw.torch_dtype).toBe('float32');
    const names = [...expectedTensors(config).keys()];
    const values = await readAll(dir);
    expect(written.params).toBe([...values.values()].reduce((n, v) => n + v.length, 0));
    expect(written.tensorBytes).toBe(4 * written.params);
    for (const name of ['model.embed_tokens.weight', 'model.layers.1.mlp.down_proj.weight', 'lm_head.weight']) {
      const dims = expectedTensors(config).get(name)!;
      const prng = new Prng(3 * 65_537 + names.indexOf(name));
      const bound = Math.sqrt(3 / dims[1]);
      const want = Float32Array.from({ length: dims[0] * dims[1] }, () => (2 * prng.next() - 1) * bound);
      expect(values.get(name)!.length).toBe(want.length);
      expect(
        values.get(name)!.every((v, i) => v === want[i]),
        name,
      ).toBe(true);
    }
    expect(values.get('model.layers.0.input_layernorm.weight')!.every((v) => v === 1)).toBe(true);
  });

  it('bf16 and f16, sharded: an index transformers reads, every tensor the config implies, the same distribution', async () => {
    for (const dtype of ['BF16', 'F16'] as const) {
      const dir = path.join(work, `sharded-${dtype}`);
      const written = await writeSyntheticModel(dir, SHAPE, { alphabet: ALPHABET }, { dtype, seed: 3, maxShardBytes: 1_000_000 });
      const index = JSON.parse(readFileSync(path.join(dir, INDEX_FILE), 'utf8'));
      const shards = readdirSync(dir).filter((f) => f.endsWith('.safetensors'));
      expect(shards.length).toBeGreaterThan(3);
      expect(shards.every((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f))).toBe(true);
      expect(new Set(Object.values(index.weight_map))).toEqual(new Set(shards));
      expect(index.metadata.total_size).toBe(written.tensorBytes);
      expect(written.tensorBytes).toBe(2 * written.params);
      const config = await loadLlamaConfig(dir);
      expect(config.raw.torch_dtype).toBe(dtype === 'BF16' ? 'bfloat16' : 'float16');
      const source = await openCheckpoint(dir);
      expect(checkTensorsAgainstConfig(source, config)).toEqual([]);
      expect(source.list().every((t) => t.dtype === dtype)).toBe(true);
      await source.close();

      const values = await readAll(dir);
      // A matrix's values: inside ±bound, mean 0, variance bound²/3, both signs and many distinct levels.
      for (const [name, fanIn] of [
        ['model.embed_tokens.weight', 256],
        ['model.layers.0.mlp.down_proj.weight', 704],
      ] as const) {
        const v = values.get(name)!;
        const bound = Math.sqrt(3 / fanIn);
        let sum = 0;
        let squares = 0;
        let max = 0;
        for (const x of v) {
          sum += x;
          squares += x * x;
          max = Math.max(max, Math.abs(x));
        }
        expect(max).toBeLessThanOrEqual(bound * 1.01);
        expect(Math.abs(sum / v.length)).toBeLessThan(bound * 0.01);
        expect(squares / v.length / (bound * bound)).toBeCloseTo(1 / 3, 2);
        expect(new Set(v.subarray(0, 100_000)).size).toBeGreaterThan(1000);
      }
      expect(values.get('model.norm.weight')!.every((x) => x === 1)).toBe(true);
    }
  });

  it('the same seed gives the same weights in one file or in shards; another seed, other weights', async () => {
    const one = path.join(work, 'one-file');
    const again = path.join(work, 'one-file-seed-4');
    await writeSyntheticModel(one, SHAPE, { alphabet: ALPHABET }, { dtype: 'BF16', seed: 3 });
    await writeSyntheticModel(again, SHAPE, { alphabet: ALPHABET }, { dtype: 'BF16', seed: 4 });
    const sharded = await readAll(path.join(work, 'sharded-BF16'));
    const single = await readAll(one);
    const other = await readAll(again);
    // Compared as bytes: vitest's deep equality takes minutes over millions of elements.
    const bytes = (v: Float32Array | undefined) => Buffer.from(v!.buffer, v!.byteOffset, v!.byteLength);
    for (const [name, v] of single) expect(bytes(v).equals(bytes(sharded.get(name))), name).toBe(true);
    const q = 'model.layers.0.self_attn.q_proj.weight';
    expect(bytes(other.get(q)).equals(bytes(single.get(q)))).toBe(false);
  });
});
