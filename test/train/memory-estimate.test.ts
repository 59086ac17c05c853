import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { cpuFused } from '../../main/engine/backend/cpu-fused.ts';
import { initBackend } from '../../main/engine/backend/index.ts';
import { collate } from '../../main/engine/data/batches.ts';
import { loadModel } from '../../main/engine/model/load.ts';
import { LoraAdapter } from '../../main/engine/model/lora.ts';
import { estimateTrainingMemory } from '../../main/engine/system/memory-estimate.ts';
import { labelledCount, microBatchGradients } from '../../main/engine/train/step.ts';
import { tinyModel } from '../helpers/synthetic.ts';

// A model of stories260K's shape written by the test (main/engine/synthetic/synthetic-model.ts): no trained weights needed here.
const MODEL_DIR = await tinyModel();

describe('training memory estimate', () => {
  it("is within a factor of two of tfjs's measured peak for a real step, and grows with batch and length", async () => {
    await initBackend('wasm');
    const { model, config } = await loadModel(MODEL_DIR);
    const targets = ['q_proj', 'v_proj', 'down_proj'] as const;
    const adapter = new LoraAdapter(
      config,
      { r: 8, alpha: 16, dropout: 0, targetModules: [...targets], useRslora: false },
      (_l, _n, i, o) => ({ a: new Float32Array(8 * i).fill(0.01), b: new Float32Array(o * 8) }),
    );
    const B = 4;
    const T = 128;
    const measure = async (b: number, t: number, gradientCheckpointing = false) => {
      const rows = Array.from({ length: t }, (_, i) => 3 + ((i * 37) % 500));
      const batch = collate(Array.from({ length: b }, () => ({ inputIds: rows, labels: rows, truncated: false, fullLength: t })));
      tf.dispose((await microBatchGradients(model, adapter, batch, labelledCount(batch))).grads); // W for the backward is made once
      const before = tf.memory().numBytes; // weights and LoRA are resident already
      const profile = await tf.profile(async () =>
        tf.dispose((await microBatchGradients(model, adapter, batch, labelledCount(batch), { gradientCheckpointing })).grads),
      );
      return profile.peakBytes - before;
    };
    for (const [b, t, checkpointing] of [
      [B, T, false],
      [1, 64, false],
      [2, 256, false],
      [B, T, true],
      [2, 256, true],
    ] as const) {
      const measured = await measure(b, t, checkpointing);
      const estimated = estimateTrainingMemory(config, {
        microBatchSize: b,
        cutoffLen: t,
        loraR: 8,
        targetModules: targets,
        gradientCheckpointing: checkpointing,
        // the step measured ran the native kernels' fused layer ops where this install has them (fewer tensors)
        fusedCpu: cpuFused() !== undefined,
      }).activationsBytes;
      const label = `micro-batch ${b} × ${t}${checkpointing ? ', gradient checkpointing' : ''}`;
      console.log(`${label}: estimated ${(estimated / 2 ** 20).toFixed(1)} MiB, measured ${(measured / 2 ** 20).toFixed(1)} MiB`);
      expect(estimated / measured, label).toBeGreaterThan(0.5);
      expect(estimated / measured, label).toBeLessThan(2);
    }
    const est = estimateTrainingMemory(config, { microBatchSize: B, cutoffLen: T, loraR: 8, targetModules: targets });
    const bigger = estimateTrainingMemory(config, { microBatchSize: 2 * B, cutoffLen: 2 * T, loraR: 8, targetModules: targets });
    expect(bigger.activationsBytes).toBeGreaterThan(3 * est.activationsBytes);
    expect(est.totalBytes).toBe(
      est.weightsBytes + est.loraBytes + est.optimizerBytes + est.activationsBytes + est.transientBytes + est.runtimeBytes,
    );
    adapter.dispose();
  });
});
