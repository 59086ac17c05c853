// A 2-layer slice with TinyLlama-1.1B's widths (hidden 2048, intermediate 5632, 32 heads, 4 KV heads, vocab 32000),
// written here as bf16: too large for resident f32 W and Wᵀ, so every mode holds it on the host and dequantizes
// just in time. Each mode loads, trains 2 steps (stopped after step 1 and resumed), and merges into the bf16 base.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../main/engine/backend/index.ts';
import { runMerge } from '../../main/engine/export/export-jobs.ts';
import { BASE_DTYPES } from '../../main/engine/llama/base-dtype-names.ts';
import { parseFinetuneConfig } from '../../main/engine/train/config.ts';
import { runFinetune } from '../../main/engine/train/finetune.ts';
import type { TrainingEvent } from '../../main/engine/train/reports.ts';
import { writeSyntheticModel } from '../../main/engine/synthetic/synthetic-model.ts';
import { LOWERCASE_ALPHABET, TINYLLAMA_WIDTHS, writeLowercaseAlpaca } from '../helpers/synthetic.ts';

const work = mkdtempSync(path.join(tmpdir(), 'tinyllama-slice-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('a 2-layer TinyLlama-width bf16 slice on wasm', () => {
  const model = path.join(work, 'model');
  const data = path.join(work, 'data.json');
  beforeAll(async () => {
    await initBackend('wasm');
    await writeSyntheticModel(model, { ...TINYLLAMA_WIDTHS, num_hidden_layers: 2 }, { alphabet: LOWERCASE_ALPHABET }, { dtype: 'BF16' });
    writeLowercaseAlpaca(data, 12);
  });

  for (const mode of BASE_DTYPES) {
    it(`${mode}: loads, trains 2 steps across a resume, and merges into the bf16 base`, async () => {
      const out = path.join(work, `run-${mode}`);
      const settings = (extra: object) =>
        parseFinetuneConfig({
          base_model: model,
          data_path: data,
          output_dir: out,
          batch_size: 1,
          micro_batch_size: 1,
          cutoff_len: 16,
          val_set_size: 0,
          max_steps: 2,
          save_steps: 1,
          warmup_steps: 0,
          logging_steps: 1,
          learning_rate: 1e-3,
          backend: 'wasm',
          base_dtype: mode,
          ...extra,
        });
      const events: TrainingEvent[] = [];
      const stop = new AbortController();
      const first = await runFinetune(
        settings({}),
        (e) => {
          events.push(e);
          if (e.type === 'step' && e.step === 1) stop.abort();
        },
        { signal: stop.signal },
      );
      expect(first).toMatchObject({ reason: 'stopped', steps: 1 });
      const held = events.flatMap((e) => (e.type === 'log' ? [e.message] : [])).find((m) => m.startsWith('frozen base held as'));
      expect(held).toMatch(new RegExp(`^frozen base held as ${mode}(, as stored, in the memory of the CPU kernels| in JS memory)`));
      const resumed: TrainingEvent[] = [];
      const second = await runFinetune(settings({ resume_from_checkpoint: true }), (e) => resumed.push(e));
      expect(second.steps).toBe(2);
      const losses = [...events, ...resumed].flatMap((e) => (e.type === 'step' ? [e.loss] : []));
      expect(losses.length).toBe(2);
      for (const l of losses) expect(Number.isFinite(l)).toBe(true);
      console.log(`TinyLlama-width slice, ${mode}: step losses ${losses.map((l) => l.toFixed(4)).join(', ')}`);

      const merged = path.join(work, `merged-${mode}`);
      const outcome = await runMerge({ base_model: model, lora_weights: out, output_dir: merged, dtype: 'bf16' });
      expect(outcome.report).toMatchObject({ base: { checkpoint_dtype: 'bf16', trained_against: mode } });
      expect(existsSync(path.join(merged, 'verification.json'))).toBe(true);
      expect(JSON.parse(readFileSync(path.join(merged, 'verification.json'), 'utf8')).base.trained_against).toBe(mode);
      rmSync(merged, { recursive: true, force: true });
      rmSync(out, { recursive: true, force: true });
    }, 600_000);
  }
});
