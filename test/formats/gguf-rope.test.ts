import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../main/engine/backend/index.ts';
import { openCheckpoint } from '../../main/engine/formats/hf-checkpoint.ts';
import { exportLlamaGguf } from '../../main/engine/export/gguf-llama.ts';
import { readGguf } from '../../main/engine/formats/gguf-reader.ts';
import { loadModel } from '../../main/engine/model/load.ts';
import { loadLlamaCpp } from '../../main/engine/system/llama-cpp.ts';
import { tinyModel } from '../helpers/synthetic.ts';
import { workFolder } from '../helpers/work-folder.ts';

/**
 * RoPE scaling survives the export: the tiny model's weights under a Llama-3 (frequency-dependent) or a linear
 * rope_scaling in config.json. llama.cpp gets Llama-3 scaling from a rope_freqs tensor and linear scaling from
 * llama.rope.scaling.*; its log-probabilities must equal our engine's, which implements transformers' formulas.
 * With head_dim 8 and original_max_position_embeddings 64, one frequency is kept, one blended and two divided.
 */
// A model of stories260K's shape written by the test (main/engine/synthetic/synthetic-model.ts): no trained weights needed here.
const MODEL_DIR = await tinyModel();
const work = workFolder('gguf-rope');

const SCALINGS = {
  llama3: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 },
  linear: { type: 'linear', factor: 2 },
} as const;

/** A model folder: the tiny model's files (linked, not copied) and a config.json with the given rope_scaling. */
function scaledModel(kind: keyof typeof SCALINGS): string {
  const dir = path.join(work, kind);
  mkdirSync(dir);
  for (const f of ['model.safetensors', 'tokenizer.json', 'tokenizer_config.json']) symlinkSync(path.join(MODEL_DIR, f), path.join(dir, f));
  const config = JSON.parse(readFileSync(path.join(MODEL_DIR, 'config.json'), 'utf8'));
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, rope_scaling: SCALINGS[kind] }));
  return dir;
}

describe('RoPE scaling in GGUF exports', () => {
  const unscaled: number[][] = [];
  beforeAll(async () => {
    await initBackend('wasm');
    const plain = await loadModel(MODEL_DIR);
    const logits = plain.model.forward(tf.tensor2d([prompt], [1, prompt.length], 'int32'));
    unscaled.push(...(tf.logSoftmax(logits).arraySync() as number[][][])[0]);
    logits.dispose();
  });
  const prompt = [1, 403, 407, 261, 378, 267, 379, 260, 290, 300, 310, 320, 330, 340, 350, 360, 370, 380, 390, 400, 410, 420];

  it.each(Object.keys(SCALINGS) as (keyof typeof SCALINGS)[])(
    '%s: llama.cpp and our engine give the same log-probabilities',
    async (kind) => {
      const dir = scaledModel(kind);
      const ours = await loadModel(dir);
      const file = path.join(work, `${kind}.gguf`);
      const source = await openCheckpoint(dir);
      await exportLlamaGguf(source, ours.config, dir, file, { fileType: 'f32' });
      await source.close();
      const g = await readGguf(file);
      if (kind === 'llama3') {
        const freqs = Array.from(await g.readF32('rope_freqs.weight'));
        // Divisors of the 4 frequencies: wavelengths 2π, 20π (blended), 200π and 2000π (divided by 8).
        const smooth = (64 / (20 * Math.PI) - 1) / 3;
        expect(freqs[0]).toBe(1);
        expect(freqs[1]).toBeCloseTo(1 / ((1 - smooth) / 8 + smooth), 6);
        expect(freqs.slice(2)).toEqual([8, 8]);
      } else {
        expect([g.metadata.get('llama.rope.scaling.type'), g.metadata.get('llama.rope.scaling.factor')]).toEqual(['linear', 2]);
      }
      const llamaCpp = await loadLlamaCpp(file, { threads: 1, f32Cache: true });
      try {
        const theirs = await llamaCpp.logProbabilities(prompt);
        const logits = ours.model.forward(tf.tensor2d([prompt], [1, prompt.length], 'int32'));
        const mine = tf.logSoftmax(logits).arraySync() as number[][][];
        logits.dispose();
        let worst = 0;
        let scalingEffect = 0;
        prompt.forEach((_, i) => {
          for (let id = 0; id < 512; id++) {
            if (theirs[i][id] > -60) worst = Math.max(worst, Math.abs(theirs[i][id] - mine[0][i][id]));
            scalingEffect = Math.max(scalingEffect, Math.abs(theirs[i][id] - unscaled[i][id]));
          }
        });
        expect(worst).toBeLessThan(1e-4);
        expect(scalingEffect).toBeGreaterThan(0.05); // the scaling changes the outputs: the check above can fail
      } finally {
        await llamaCpp.dispose();
      }
    },
  );
});
