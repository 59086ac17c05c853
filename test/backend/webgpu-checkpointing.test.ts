// Gradient checkpointing on WebGPU (auto turns it on for int8/nf4 bases): the recomputed layers run the fused
// kernels and the packed int8 matmul inside a backward pass, and must give the plain pass's gradients.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { Prng } from '../../main/engine/data/prng.ts';
import { loadModel } from '../../main/engine/model/load.ts';
import { LoraAdapter } from '../../main/engine/model/lora.ts';
import { PROJECTIONS } from '../../main/engine/llama/projections.ts';
import { labelledCount, microBatchGradients } from '../../main/engine/train/step.ts';
import { paddedTestBatch } from '../helpers/batches.ts';
import { tinyModel } from '../helpers/synthetic.ts';
import { relDiff, startWebgpuSoftware } from '../helpers/webgpu.ts';

const skip = await startWebgpuSoftware('webgpu checkpointing');

describe.skipIf(skip)('gradient checkpointing on WebGPU', () => {
  it('gives the plain pass’s loss and gradients over an int8 base (dropout 0.1)', async () => {
    const loaded = await loadModel(await tinyModel(), { baseDtype: 'int8' });
    const prng = new Prng(11);
    const r = 4;
    const adapter = new LoraAdapter(
      loaded.config,
      { r, alpha: 8, dropout: 0.1, targetModules: [...PROJECTIONS], useRslora: false },
      (_l, _n, inF, outF) => ({
        a: Float32Array.from({ length: r * inF }, () => (prng.next() - 0.5) * 0.2),
        b: Float32Array.from({ length: outF * r }, () => (prng.next() - 0.5) * 0.02),
      }),
    );
    const mb = paddedTestBatch(new Prng(3));
    const dropout = { seed: 42, step: 1, microBatch: 0 };
    const plain = await microBatchGradients(loaded.model, adapter, mb, labelledCount(mb), { dropout });
    const checkpointed = await microBatchGradients(loaded.model, adapter, mb, labelledCount(mb), { dropout, gradientCheckpointing: true });
    expect(checkpointed.loss).toBe(plain.loss);
    let worst = 0;
    for (const [i, g] of checkpointed.grads.entries()) worst = Math.max(worst, await relDiff(g, plain.grads[i]));
    console.log(`WebGPU: checkpointed vs plain LoRA gradients over int8, worst relative difference ${worst.toExponential(2)}`);
    expect(worst).toBeLessThan(1e-5);
    tf.dispose([...plain.grads, ...checkpointed.grads]);
    adapter.dispose();
  });
});
