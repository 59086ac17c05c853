import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../main/engine/backend/index.ts';
import { Prng } from '../../main/engine/data/prng.ts';
import { useGradientCheckpointing } from '../../main/engine/llama/gradient-checkpointing.ts';
import { loadModel, type LoadedModel } from '../../main/engine/model/load.ts';
import { LoraAdapter } from '../../main/engine/model/lora.ts';
import { PROJECTIONS } from '../../main/engine/llama/projections.ts';
import type { MicroBatch } from '../../main/engine/data/batches.ts';
import { labelledCount, microBatchGradients } from '../../main/engine/train/step.ts';
import { paddedTestBatch } from '../helpers/batches.ts';
import { tinyModel } from '../helpers/synthetic.ts';

const R = 4;

/** The largest |a − b| over every gradient, relative to the largest |b|. */
function relativeDifference(a: tf.Tensor[], b: tf.Tensor[]): number {
  let diff = 0;
  let scale = 0;
  for (const [i, t] of a.entries()) {
    const x = t.dataSync();
    const y = b[i].dataSync();
    for (let j = 0; j < x.length; j++) {
      diff = Math.max(diff, Math.abs(x[j] - y[j]));
      scale = Math.max(scale, Math.abs(y[j]));
    }
  }
  return diff / scale;
}

// Checkpointing changes what autograd keeps, never the math: the gradients must be those of the plain pass, with
// dropout on (the recomputed layer must draw the same masks) and over a base dequantized just in time.
describe('gradient checkpointing', () => {
  let modelDir: string;
  let mb: MicroBatch;
  const adapterFor = (loaded: LoadedModel) => {
    const prng = new Prng(7);
    return new LoraAdapter(
      loaded.config,
      { r: R, alpha: 8, dropout: 0.1, targetModules: [...PROJECTIONS], useRslora: false },
      (_l, _n, inF, outF) => ({
        a: Float32Array.from({ length: R * inF }, () => (prng.next() - 0.5) * 0.2),
        b: Float32Array.from({ length: outF * R }, () => (prng.next() - 0.5) * 0.02),
      }),
    );
  };
  beforeAll(async () => {
    await initBackend('wasm');
    modelDir = await tinyModel();
    mb = paddedTestBatch(new Prng(3));
  });

  for (const [label, opts] of [
    ['a resident f32 base', {}],
    ['an nf4 base held on the host', { baseDtype: 'nf4', placement: 'host' }],
  ] as const) {
    it(`gives the plain pass's loss and gradients (dropout 0.1, ${label})`, async () => {
      const loaded = await loadModel(modelDir, opts);
      const adapter = adapterFor(loaded);
      const dropout = { seed: 42, step: 3, microBatch: 1 };
      const plain = await microBatchGradients(loaded.model, adapter, mb, labelledCount(mb), { dropout });
      const checkpointed = await microBatchGradients(loaded.model, adapter, mb, labelledCount(mb), {
        dropout,
        gradientCheckpointing: true,
      });
      expect(checkpointed.loss).toBe(plain.loss);
      const rel = relativeDifference(checkpointed.grads, plain.grads);
      console.log(`checkpointed vs plain gradients over ${label}: largest difference ${rel.toExponential(2)} of the largest gradient`);
      expect(rel).toBeLessThan(1e-6);
      expect(checkpointed.grads.every((g) => g.dataSync().some((v) => v !== 0))).toBe(true);
      tf.dispose([...plain.grads, ...checkpointed.grads]);
      adapter.dispose();
    });
  }

  it('keeps fewer bytes alive at the peak of a step', async () => {
    const loaded = await loadModel(modelDir);
    const adapter = adapterFor(loaded);
    const peak = async (gradientCheckpointing: boolean) => {
      let grads: tf.Tensor[] = [];
      const info = await tf.profile(async () => {
        grads = (await microBatchGradients(loaded.model, adapter, mb, labelledCount(mb), { gradientCheckpointing })).grads;
      });
      tf.dispose(grads);
      return info.peakBytes;
    };
    const plain = await peak(false);
    const checkpointed = await peak(true);
    console.log(`peak tensor bytes of one step: plain ${plain}, checkpointed ${checkpointed}`);
    expect(checkpointed).toBeLessThan(0.6 * plain);
    adapter.dispose();
  });

  it('is on by default for quantized and host-held bases, off otherwise, and the user decides when asked', () => {
    expect(useGradientCheckpointing(undefined, 'int8', 'device')).toBe(true);
    expect(useGradientCheckpointing(undefined, 'nf4', 'device')).toBe(true);
    expect(useGradientCheckpointing(undefined, 'bf16', 'host')).toBe(true);
    expect(useGradientCheckpointing(undefined, 'f32', 'device')).toBe(false);
    expect(useGradientCheckpointing(false, 'int8', 'host')).toBe(false);
    expect(useGradientCheckpointing(true, 'f32', 'device')).toBe(true);
  });
});
