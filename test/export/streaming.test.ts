import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeSyntheticAdapter } from '../../main/engine/synthetic/synthetic-adapter.ts';
import { writeSyntheticModel } from '../../main/engine/synthetic/synthetic-model.ts';
import { runCli } from '../helpers/cli-process.ts';
import { TINY_ALPHABET } from '../helpers/synthetic.ts';

const work = mkdtempSync(path.join(tmpdir(), 'streaming-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/**
 * The bound the export is held to: the largest tensor (11 MiB here) + 256 MiB, whatever the model's size. The
 * export starts no worker threads for tensors this small (each isolate costs ~36 MiB), so none are counted.
 */
const LARGEST_TENSOR = 2752 * 1024 * 4;
const BOUND = LARGEST_TENSOR + 256 * 2 ** 20;

describe('streaming merge + export', () => {
  it('a checkpoint several times larger than the bound merges in a child process whose peak RSS stays under it', async () => {
    const base = path.join(work, 'synthetic');
    const H = 1024;
    await writeSyntheticModel(
      base,
      {
        hidden_size: H,
        intermediate_size: 2752,
        num_hidden_layers: 16,
        num_attention_heads: 16,
        num_key_value_heads: 16,
        vocab_size: 4096,
        tie_word_embeddings: true,
      },
      { alphabet: TINY_ALPHABET },
    );
    const modelBytes = statSync(path.join(base, 'model.safetensors')).size;
    expect(modelBytes).toBeGreaterThan(2.9 * BOUND);
    const adapter = path.join(work, 'adapter');
    await writeSyntheticAdapter(adapter, base, { r: 8, targetModules: ['q_proj', 'v_proj'], seed: 3 });

    const out = path.join(work, 'merged');
    const args = [
      'merge',
      '--base_model',
      base,
      '--lora_weights',
      adapter,
      '--output_dir',
      out,
      '--dtype',
      'f32',
      '--max_shard_size',
      '200MB',
    ];
    const { code, stderr, peakRss: peak } = await runCli(args, { peakRss: true });
    expect(code, stderr).toBe(0);
    expect(peak).toBeGreaterThan(0);
    expect(peak, `peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB`).toBeLessThan(BOUND);
    const shards = readdirSync(out).filter((n) => n.endsWith('.safetensors'));
    expect(shards.length).toBeGreaterThanOrEqual(3);
    for (const s of shards) expect(statSync(path.join(out, s)).size).toBeLessThan(200e6 + 1e6);
  });
});
