import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { initBackend } from '../../main/engine/backend/index.ts';
import { collate } from '../../main/engine/data/batches.ts';
import { Prng } from '../../main/engine/data/prng.ts';
import { loadModel } from '../../main/engine/model/load.ts';
import { LoraAdapter } from '../../main/engine/model/lora.ts';
import { kaimingUniformInit } from '../../main/engine/model/lora-init.ts';
import { AdamW } from '../../main/engine/train/adamw.ts';
import { train } from '../../main/engine/train/trainer.ts';
import { tinyModel } from '../helpers/synthetic.ts';

// A model of stories260K's shape written by the test (main/engine/synthetic/synthetic-model.ts): no trained weights needed here.
const MODEL_DIR = await tinyModel();

describe('trainer memory', () => {
  it('keeps the number of live tensors flat over 200 steps', async () => {
    await initBackend('wasm');
    const { model, config } = await loadModel(MODEL_DIR);
    const prng = new Prng(1);
    const adapter = new LoraAdapter(
      config,
      { r: 4, alpha: 8, dropout: 0.05, targetModules: ['q_proj', 'v_proj', 'down_proj'], useRslora: false },
      kaimingUniformInit(() => prng.next(), 4),
    );
    const optimizer = new AdamW(adapter.variables);
    const example = (n: number) => {
      const ids = [1, ...Array.from({ length: 12 + (n % 4) }, (_, i) => 3 + ((n * 31 + i * 7) % 500))];
      return { inputIds: ids, labels: ids, truncated: false, fullLength: ids.length };
    };
    const counts: number[] = [];
    await train(
      model,
      adapter,
      optimizer,
      { microBatchesPerEpoch: 200, microBatch: (_e, i) => collate([example(i), example(i + 1)]), validation: [collate([example(7)])] },
      {
        learningRate: 1e-3,
        warmupSteps: 5,
        gradientAccumulation: 1,
        numEpochs: 1,
        maxSteps: 200,
        maxGradNorm: 1,
        loggingSteps: 1,
        evalSteps: 50,
        saveSteps: 0,
        earlyStoppingPatience: 0,
        seed: 1,
      },
      {
        listener: (e) => {
          if (e.type === 'step') counts.push(tf.memory().numTensors);
        },
        saveCheckpoint: async () => 'unused',
      },
    );
    expect(counts.length).toBe(200);
    expect(counts[199]).toBe(counts[9]);
    expect(Math.max(...counts.slice(9))).toBe(counts[9]);
  }, 600_000); // 200 real steps: minutes when the 2-core machine is shared
});
