import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../main/engine/backend/index.ts';
import { Prng } from '../../main/engine/data/prng.ts';
import { loadModel, type LoadedModel } from '../../main/engine/model/load.ts';
import { LoraAdapter } from '../../main/engine/model/lora.ts';
import { PROJECTIONS } from '../../main/engine/llama/projections.ts';
import type { MicroBatch } from '../../main/engine/data/batches.ts';
import { labelledCount, microBatchGradients } from '../../main/engine/train/step.ts';
import { paddedTestBatch } from '../helpers/batches.ts';
import { tinyModel } from '../helpers/synthetic.ts';
import { missingTorch, runPython } from '../helpers/torch.ts';
import { writeDequantizedModel } from '../helpers/dequantized-model.ts';
import { workFolder } from '../helpers/work-folder.ts';

const R = 4;

// A model of stories260K's shape written by the test: gradients need no trained weights, only the same math on both sides.
describe('LoRA gradients on a tiny LLaMA', () => {
  let modelDir: string;
  let loaded: LoadedModel;
  let adapter: LoraAdapter;
  let mb: MicroBatch;
  beforeAll(async () => {
    await initBackend('wasm');
    modelDir = await tinyModel();
    loaded = await loadModel(modelDir);
    const prng = new Prng(3);
    // Non-zero B so every A gets a gradient as well.
    adapter = new LoraAdapter(
      loaded.config,
      { r: R, alpha: 8, dropout: 0, targetModules: [...PROJECTIONS], useRslora: false },
      (_l, _n, inF, outF) => ({
        a: Float32Array.from({ length: R * inF }, () => (prng.next() - 0.5) * 0.2),
        b: Float32Array.from({ length: outF * R }, () => (prng.next() - 0.5) * 0.02),
      }),
    );
    mb = paddedTestBatch(prng);
  });

  it.skipIf(missingTorch())('equal PyTorch autograd on the same weights and batch within 1e-4 relative', async () => {
    await expectTorchGradients(loaded, adapter, mb, modelDir);
  });

  for (const mode of ['int8', 'nf4'] as const) {
    it.skipIf(missingTorch())(
      `over a ${mode} base, decoded inside the CPU GEMM kernels, equal PyTorch autograd on the same dequantized weights within 1e-4 relative`,
      async () => {
        const quantized = await loadModel(modelDir, { baseDtype: mode, placement: 'host' });
        expect(quantized.model.weights.layers[0].proj.q_proj.cpu?.dtype).toBe(mode); // stored as it is, not widened
        const dir = path.join(workFolder(`grad-${mode}`), 'model');
        await writeDequantizedModel(modelDir, dir, mode);
        const loss = await expectTorchGradients(quantized, adapter, mb, dir);
        console.log(`stories260K LoRA gradients over a ${mode} base match PyTorch (loss ${loss.toFixed(6)})`);
      },
    );
  }

  it('pass a central finite-difference check', async () => {
    const { grads } = await microBatchGradients(loaded.model, adapter, mb, labelledCount(mb));
    const last = adapter.modules.length - 1;
    const m = adapter.modules[last]; // down_proj of the last layer
    const analytic = grads[2 * last + 1].arraySync() as number[][];
    tf.dispose(grads);
    const base = m.bT.arraySync() as number[][];
    const eps = 1e-2;
    for (const [i, j] of [
      [0, 0],
      [1, 5],
      [3, 10],
    ]) {
      const at = async (delta: number) => {
        const w = base.map((row) => [...row]);
        w[i][j] += delta;
        m.bT.assign(tf.tensor2d(w));
        const { loss, grads: g } = await microBatchGradients(loaded.model, adapter, mb, labelledCount(mb));
        tf.dispose(g);
        return loss;
      };
      const numeric = ((await at(eps)) - (await at(-eps))) / (2 * eps);
      m.bT.assign(tf.tensor2d(base));
      expect(Math.abs(numeric - analytic[i][j])).toBeLessThan(2e-3 + 0.02 * Math.abs(analytic[i][j]));
    }
  });
});

/** Our loss and LoRA gradients against the PyTorch reference on `modelDir`'s weights (≤ 1e-4 relative); returns the loss. */
async function expectTorchGradients(loaded: LoadedModel, adapter: LoraAdapter, mb: MicroBatch, modelDir: string): Promise<number> {
  const { loss, grads } = await microBatchGradients(loaded.model, adapter, mb, labelledCount(mb));
  const peft = await adapter.exportPeft();
  const rows = (a: Int32Array) => [0, 1].map((b) => [...a.slice(b * mb.seqLen, (b + 1) * mb.seqLen)]);
  const dir = workFolder('grad-ref');
  const spec = {
    model_dir: modelDir,
    input_ids: rows(mb.inputIds),
    labels: rows(mb.labels),
    attention_mask: rows(mb.attentionMask),
    lora: { r: R, alpha: 8, modules: Object.fromEntries(peft.map((p) => [p.key, { a: [...p.a], b: [...p.b] }])) },
  };
  writeFileSync(path.join(dir, 'in.json'), JSON.stringify(spec));
  runPython(path.resolve('test/reference/torch_llama_lora.py'), [path.join(dir, 'in.json'), path.join(dir, 'out.json')]);
  const ref = JSON.parse(readFileSync(path.join(dir, 'out.json'), 'utf8'));
  expect(Math.abs(loss - ref.loss) / ref.loss).toBeLessThan(1e-5);
  adapter.modules.forEach((m, i) => {
    const gA = tf.tidy(() => tf.transpose(grads[2 * i]).dataSync());
    const gB = tf.tidy(() => tf.transpose(grads[2 * i + 1]).dataSync());
    for (const [ours, theirs, which] of [
      [gA, ref.grads[m.key].a, 'A'],
      [gB, ref.grads[m.key].b, 'B'],
    ] as const) {
      let maxDiff = 0;
      let maxRef = 0;
      ours.forEach((v, j) => {
        maxDiff = Math.max(maxDiff, Math.abs(v - theirs[j]));
        maxRef = Math.max(maxRef, Math.abs(theirs[j]));
      });
      expect(maxDiff / maxRef, `${m.key} lora_${which}`).toBeLessThan(1e-4);
    }
  });
  tf.dispose(grads);
  return loss;
}
