// Frozen weights in 16-bit storage on WebGPU (SwiftShader here): the packed-half matmul against tfjs's own matmul on
// the same rounded weights, and a 16-bit checkpoint loaded both ways: same logits and LoRA gradients, one packed
// 2-byte copy per frozen matrix instead of f32 Wᵀ and W.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { relDiff, startWebgpuSoftware } from '../helpers/webgpu.ts';
import { f16MatMul, packF16 } from '../../main/engine/backend/webgpu-f16-matmul.ts';
import { exportHfCheckpoint } from '../../main/engine/export/hf-export.ts';
import { openExportInput } from '../../main/engine/export/open-model.ts';
import { decodeToF32, encodeFromF32 } from '../../main/engine/formats/dtypes.ts';
import { loadModel } from '../../main/engine/model/load.ts';
import { disposeWeights } from '../../main/engine/model/weights.ts';
import { missingShared, sharedPath } from '../helpers/shared-data.ts';
import { gradientsCase, logitsCase, MODEL } from './cases.ts';

const skip = await startWebgpuSoftware('webgpu f16');


describe.skipIf(skip)('16-bit frozen weights on WebGPU', () => {
  it.each([
    [37, 50, 66],
    [16, 16, 32],
    [130, 33, 258],
  ])('x·Wᵀ and its gradient dy·W from one packed copy (N=%i out=%i in=%i)', async (N, out, inF) => {
    const w = (await tf.randomNormal([out, inF], 0, 0.5, 'float32', 1).data()) as Float32Array;
    const rounded = tf.tensor2d(decodeToF32(encodeFromF32(w, 'F16'), 'F16'), [out, inF]); // the values halves hold
    const m = packF16(w, out, inF)!;
    expect(m.packed.dtype).toBe('int32');
    expect(m.packed.shape).toEqual([out, inF / 2]);
    const x = tf.randomNormal([N, inF], 0, 1, 'float32', 2) as tf.Tensor2D;
    const dy = tf.randomNormal([N, out], 0, 1, 'float32', 3);
    expect(await relDiff(f16MatMul(x, m), tf.matMul(x, rounded, false, true))).toBeLessThan(1e-5);
    const grad = (f: (t: tf.Tensor2D) => tf.Tensor) => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t as tf.Tensor2D), dy)))(x);
    expect(await relDiff(grad((t) => f16MatMul(t, m)), grad((t) => tf.matMul(t, rounded, false, true)))).toBeLessThan(1e-5);
  });

  it('keeps f32 for a matrix halves cannot hold (beyond ±65504) or an odd width', () => {
    expect(packF16(Float32Array.of(1, 70000), 1, 2)).toBeUndefined();
    expect(packF16(new Float32Array(3), 1, 3)).toBeUndefined();
  });

  it.skipIf(missingShared(MODEL))('a 16-bit checkpoint: the same logits and LoRA gradients as f32 storage, a quarter of the frozen bytes of f32 training (Wᵀ and W)', async () => {
    // stories260K written as an f16 checkpoint: both storages then hold exactly the same values.
    const dir = path.join(mkdtempSync(path.join(tmpdir(), 'f16-model-')), 'stories260K-f16');
    const input = await openExportInput(sharedPath(MODEL));
    await exportHfCheckpoint({ source: input.source, config: input.config, baseDir: sharedPath(MODEL), outDir: dir, maxShardSize: 2 ** 30, dtype: 'f16' });
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
      if (frozenDtype === 'f16') for (const m of matrices) expect(m.wT === undefined && m.f16?.packed.dtype === 'int32').toBe(true);
      const bytes = matrices.reduce((n, m) => n + (m.wT ?? m.f16!.packed).size * 4, 0); // (a tied lm_head's W is the embedding)
      disposeWeights(model.weights);
      return bytes;
    };
    const [f32Bytes, f16Bytes] = [await frozenBytes('f32'), await frozenBytes('f16')];
    console.log(`stories260K frozen matrices: f32 storage ${f32Bytes} bytes (Wᵀ; twice that once W is made for a backward pass), f16 storage ${f16Bytes} bytes`);
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
