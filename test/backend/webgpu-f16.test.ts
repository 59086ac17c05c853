// Frozen weights in 16-bit storage on WebGPU (SwiftShader here): a 16-bit checkpoint loaded both ways gives the same
// logits and LoRA gradients, with one packed 2-byte copy per frozen matrix instead of f32 Wᵀ and W. (The packed
// kernels themselves, every storage mode, are checked in webgpu-packed-matmul.test.ts.) The checkpoint is a model of
// stories260K's shape written by the test: storage modes agreeing needs no trained weights.
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startWebgpuSoftware } from '../helpers/webgpu.ts';
import { exportHfCheckpoint } from '../../main/engine/export/hf-export.ts';
import { openExportInput } from '../../main/engine/export/open-model.ts';
import { loadModel } from '../../main/engine/model/load.ts';
import { disposeWeights } from '../../main/engine/model/weights.ts';
import { caseModel, gradientsCase, logitsCase } from './cases.ts';
import { workFolder } from '../helpers/work-folder.ts';

const skip = await startWebgpuSoftware('webgpu f16');

describe.skipIf(skip)('16-bit frozen weights on WebGPU', () => {
  it('a 16-bit checkpoint: the same logits and LoRA gradients as f32 storage, a quarter of the frozen bytes of f32 training (Wᵀ and W)', async () => {
    // The f32 model written as an f16 checkpoint: both storages then hold exactly the same values.
    const f32Dir = await caseModel();
    const dir = path.join(workFolder('f16-model'), 'tiny-f16');
    const input = await openExportInput(f32Dir);
    await exportHfCheckpoint({
      source: input.source,
      config: input.config,
      baseDir: f32Dir,
      outDir: dir,
      maxShardSize: 2 ** 30,
      dtype: 'f16',
    });
    await input.source.close();

    const auto = await loadModel(dir);
    expect(auto.baseDtype).toBe('f16'); // auto keeps a 16-bit checkpoint as stored: packed halves on WebGPU
    disposeWeights(auto.model.weights);
    // The bytes the frozen matrices' tensors hold (projections and lm_head), as loaded: f32 keeps Wᵀ (and W too once a
    // backward pass needs it), f16 one packed copy.
    const frozenBytes = async (frozenDtype: 'f32' | 'f16') => {
      const { model, baseDtype } = await loadModel(dir, { baseDtype: frozenDtype });
      expect(baseDtype).toBe(frozenDtype);
      const matrices = [model.weights.lmHead, ...model.weights.layers.flatMap((l) => Object.values(l.proj))];
      if (frozenDtype === 'f16')
        for (const m of matrices) expect(m.wT === undefined && m.gpu?.dtype === 'f16' && m.gpu.words.dtype === 'int32').toBe(true);
      const bytes = matrices.reduce((n, m) => n + (m.wT ?? m.gpu!.words).size * 4, 0); // (a tied lm_head's W is the embedding)
      disposeWeights(model.weights);
      return bytes;
    };
    const [f32Bytes, f16Bytes] = [await frozenBytes('f32'), await frozenBytes('f16')];
    console.log(
      `tiny LLaMA frozen matrices: f32 storage ${f32Bytes} bytes (Wᵀ; twice that once W is made for a backward pass), f16 storage ${f16Bytes} bytes`,
    );
    expect(f16Bytes).toBe(f32Bytes / 2);

    const [l32, l16] = [await logitsCase(dir, { baseDtype: 'f32' }), await logitsCase(dir, { baseDtype: 'f16' })];
    expect(Math.max(...l16.map((v, i) => Math.abs(v - l32[i])))).toBeLessThan(1e-4);
    const [g32, g16] = [await gradientsCase(dir, { baseDtype: 'f32' }), await gradientsCase(dir, { baseDtype: 'f16' })];
    g16.grads.forEach((g, k) => {
      const ref = g32.grads[k];
      const scale = Math.max(...ref.map(Math.abs));
      expect(Math.max(...g.map((v, i) => Math.abs(v - ref[i]))) / scale, `variable ${k}`).toBeLessThan(1e-4);
    });
  }, 300_000);
});
