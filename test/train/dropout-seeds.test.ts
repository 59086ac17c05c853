import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { dropoutSeed } from '../../main/engine/model/lora.ts';
import type { ProjectionName } from '../../main/engine/llama/projections.ts';

// Alpaca-LoRA's defaults on a 7B-sized model: batch 128 / micro-batch 4 = 32 micro-batches a step, q_proj and v_proj, 32 layers.
const ACCUMULATION = 32;
const TARGETS: ProjectionName[] = ['q_proj', 'v_proj'];
const LAYERS = 32;
const STEPS = 3;

describe('dropout mask seeds', () => {
  it('differ for every draw of three Alpaca-default steps', () => {
    const owners = new Map<number, string>();
    const clashes: string[] = [];
    for (const seed of [42]) {
      for (let step = 0; step < STEPS; step++) {
        for (let microBatch = 0; microBatch < ACCUMULATION; microBatch++) {
          for (let layer = 0; layer < LAYERS; layer++) {
            for (const name of TARGETS) {
              const where = `step ${step} / micro-batch ${microBatch} / layer ${layer} / ${name}`;
              const s = dropoutSeed({ seed, step, microBatch }, layer, name);
              if (owners.has(s)) clashes.push(`${where} reuses the seed of ${owners.get(s)}`);
              else owners.set(s, where);
            }
          }
        }
      }
    }
    expect(clashes.slice(0, 3)).toEqual([]);
    expect(owners.size).toBe(STEPS * ACCUMULATION * LAYERS * TARGETS.length); // 6,144 draws
  });

  it('are a pure function of the draw, so a resumed run draws the same masks; the draw the old formula confused gets another mask', async () => {
    await tf.setBackend('cpu');
    const x = tf.ones([64, 32]);
    const mask = (seed: number) => Array.from(tf.dropout(x, 0.5, undefined, seed).dataSync());
    const a = dropoutSeed({ seed: 42, step: 1, microBatch: 0 }, 0, 'q_proj');
    const b = dropoutSeed({ seed: 42, step: 0, microBatch: 9 }, 14, 'v_proj'); // equal seeds under seed·1,000,003 + step·1009 + …
    expect(dropoutSeed({ seed: 42, step: 1, microBatch: 0 }, 0, 'q_proj')).toBe(a);
    expect(mask(a)).toEqual(mask(a));
    expect(mask(a)).not.toEqual(mask(b));
    // Another run seed moves every draw.
    expect(dropoutSeed({ seed: 43, step: 1, microBatch: 0 }, 0, 'q_proj')).not.toBe(a);
  });
});
