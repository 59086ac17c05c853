import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeSyntheticAdapter } from '../../main/engine/synthetic/synthetic-adapter.ts';
import { writeSyntheticModel } from '../../main/engine/synthetic/synthetic-model.ts';
import { openCheckpoint } from '../../main/engine/formats/hf-checkpoint.ts';
import { ADAPTER_CONFIG, readPeftAdapter } from '../../main/engine/formats/peft-adapter.ts';
import { loadLlamaConfig } from '../../main/engine/llama/config.ts';

const work = mkdtempSync(path.join(tmpdir(), 'synthetic-adapter-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('the synthetic PEFT adapter', () => {
  it('loads through the strict PEFT reader, and its merge moves a GQA base by the share its comment promises', async () => {
    const base = path.join(work, 'base');
    const shape = {
      hidden_size: 256,
      intermediate_size: 512,
      num_hidden_layers: 2,
      num_attention_heads: 8,
      num_key_value_heads: 2,
      tie_word_embeddings: true,
    };
    await writeSyntheticModel(base, shape, { alphabet: 'abc' });
    const dir = path.join(work, 'adapter');
    const r = 8;
    await writeSyntheticAdapter(dir, base, { r, targetModules: ['q_proj', 'v_proj', 'down_proj'] });
    const config = loadLlamaConfig(base);
    expect(JSON.parse(readFileSync(path.join(dir, ADAPTER_CONFIG), 'utf8'))).toMatchObject({
      peft_type: 'LORA',
      r,
      lora_alpha: 2 * r,
      target_modules: ['q_proj', 'v_proj', 'down_proj'],
      base_model_name_or_path: base,
    });
    // Keys, shapes (v_proj is [64, 256] under GQA, down_proj's input is the intermediate size) and count, as PEFT loads them.
    const adapter = await readPeftAdapter(dir, config);
    expect(adapter.modules.size).toBe(2 * 3);
    const v = adapter.modules.get('1.v_proj')!;
    expect([v.a.length, v.b.length]).toEqual([r * 256, 64 * r]);
    expect(adapter.modules.get('0.down_proj')!.a.length).toBe(r * 512);

    // (α/r)·B·A against the base's own spread: 0.067·√r of it (19% at r 8), far above any export dtype's rounding.
    const source = await openCheckpoint(base);
    for (const [key, hf] of [
      ['1.v_proj', 'model.layers.1.self_attn.v_proj.weight'],
      ['0.down_proj', 'model.layers.0.mlp.down_proj.weight'],
    ] as const) {
      const w = await source.readF32(hf);
      const { a, b } = adapter.modules.get(key)!;
      const cols = a.length / r;
      let delta2 = 0;
      let w2 = 0;
      for (let i = 0; i < w.length; i++) {
        let d = 0;
        for (let k = 0; k < r; k++) d += b[Math.floor(i / cols) * r + k] * a[k * cols + (i % cols)];
        delta2 += (2 * d) ** 2;
        w2 += w[i] ** 2;
      }
      expect(Math.sqrt(delta2 / w2), key).toBeGreaterThan(0.12);
      expect(Math.sqrt(delta2 / w2), key).toBeLessThan(0.28);
    }
    await source.close();
  });
});
