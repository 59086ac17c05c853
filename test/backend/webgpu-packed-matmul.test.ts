// The packed frozen-weight matmul on WebGPU (SwiftShader here), every storage mode: x·Wᵀ and its gradient dy·W from
// one packed copy equal tfjs's own matmul on the dequantized f32 weights, on shapes ragged against every tile and
// with a short last scale block; the path choice (subgroup matrices or tiled) with its reasons and its self-test.
import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import { relDiff, startWebgpuSoftware } from '../helpers/webgpu.ts';
import { BASE_DTYPES, QUANT_BLOCK, dequantizeRows, storeMatrix, type BaseDtype } from '../../main/engine/model/block-quant.ts';
import { disposePacked, packForGpu, packedMatMul, tiledProduct } from '../../main/engine/backend/webgpu-packed-matmul.ts';
import { compareKernels, matmulPath, resetMatmulPath, selectMatmulPath } from '../../main/engine/backend/webgpu-matmul-path.ts';
import { chooseSubgroupSetup } from '../../main/engine/backend/webgpu-subgroup-matmul.ts';

const skip = await startWebgpuSoftware('webgpu packed matmul');

/** [N, rows, cols]: 37 and 70 are ragged against the 64-wide tiles; 70·44 = 48 blocks of 64 + a short one of 8 (vec4
 * loads forward, scalar backward: rows % 4 ≠ 0); 5×33 has odd columns (halves straddle rows) and a short block of 37. */
const SHAPES: [number, number, number][] = [
  [37, 70, 44],
  [9, 5, 33],
];

/** The stored matrix and the f32 values it stands for (what the kernels must reproduce). */
async function storedCase(dtype: BaseDtype, rows: number, cols: number) {
  const values = (await tf.randomNormal([rows, cols], 0, 0.5, 'float32', rows * cols).data()) as Float32Array;
  const stored = storeMatrix(values, rows, cols, dtype);
  return { stored, dequantized: tf.tensor2d(dequantizeRows(stored), [rows, cols]) };
}

describe.skipIf(skip)('packed frozen matmul on WebGPU equals tfjs matMul on the dequantized weights', () => {
  it.each(BASE_DTYPES.flatMap((dtype) => SHAPES.map(([n, rows, cols]) => [dtype, n, rows, cols] as const)))(
    '%s: N=%i rows=%i cols=%i, forward and gradient',
    async (dtype, n, rows, cols) => {
      const { stored, dequantized } = await storedCase(dtype, rows, cols);
      if (rows * cols % QUANT_BLOCK === 0) throw new Error('the case should end in a short block');
      const m = packForGpu(stored);
      expect(m.words.dtype).toBe(dtype === 'f32' ? 'float32' : 'int32');
      const x = tf.randomNormal([n, cols], 0, 1, 'float32', 2) as tf.Tensor2D;
      const dy = tf.randomNormal([n, rows], 0, 1, 'float32', 3);
      const forward = await relDiff(packedMatMul(x, m), tf.matMul(x, dequantized, false, true));
      const grad = (f: (t: tf.Tensor2D) => tf.Tensor) => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t as tf.Tensor2D), dy)))(x);
      const backward = await relDiff(grad((t) => packedMatMul(t, m)), tf.matMul(dy as tf.Tensor2D, dequantized));
      console.log(`${dtype} ${n}×${rows}×${cols}: max |ours − tfjs| / max |tfjs|: forward ${forward.toExponential(2)}, backward ${backward.toExponential(2)}`);
      expect(forward).toBeLessThan(1e-5);
      expect(backward).toBeLessThan(1e-5);
      disposePacked(m);
    },
    120_000,
  );
});

describe.skipIf(skip)('matmul path: subgroup matrices only behind a feature check and a self-test', () => {
  afterEach(() => {
    resetMatmulPath();
    delete process.env.LORA_STUDIO_MATMUL;
  });

  it('SwiftShader has no subgroup matrices: the tiled kernel, with the reason; forcing them is a clear error', async () => {
    const path = await selectMatmulPath();
    console.log(`matmul path: ${path.kernel} (${path.reason})`);
    expect(path.kernel).toBe('tiled');
    expect(path.reason).toMatch(/lacks .*chromium-experimental-subgroup-matrix/);
    expect(matmulPath()).toEqual(path);
    resetMatmulPath();
    process.env.LORA_STUDIO_MATMUL = 'subgroup-matrix';
    await expect(selectMatmulPath()).rejects.toMatchObject({ code: 'webgpu/subgroup-matrix-unavailable', message: expect.stringMatching(/LORA_STUDIO_MATMUL=subgroup-matrix, but the adapter lacks/) });
    process.env.LORA_STUDIO_MATMUL = 'tiled';
    expect(await selectMatmulPath()).toEqual({ kernel: 'tiled', reason: 'LORA_STUDIO_MATMUL=tiled' });
    resetMatmulPath();
    process.env.LORA_STUDIO_MATMUL = 'tensor-cores';
    await expect(selectMatmulPath()).rejects.toMatchObject({ code: 'webgpu/matmul-choice' });
  });

  it('the config choice: f16 → f32 only, the largest first, and a reason for each refusal', () => {
    const features = ['chromium-experimental-subgroup-matrix', 'subgroups', 'shader-f16'];
    const f16 = (M: number, N: number, K: number) => ({ componentType: 'f16', resultComponentType: 'f32', M, N, K });
    expect(chooseSubgroupSetup(features, [f16(8, 8, 8), { ...f16(16, 16, 16), resultComponentType: 'f16' }, f16(16, 16, 16)], 32)).toEqual({ setup: { M: 16, N: 16, K: 16, subgroupSize: 32 } });
    expect(chooseSubgroupSetup(features, [{ ...f16(8, 8, 8), componentType: 'i8', resultComponentType: 'i32' }], 32)).toEqual({ reason: 'no usable subgroup-matrix config (f16 → f32) among the adapter\'s: i8→i32 8×8×8' });
    expect(chooseSubgroupSetup(features.slice(1), [f16(8, 8, 8)], 32)).toEqual({ reason: 'the adapter lacks chromium-experimental-subgroup-matrix' });
    expect(chooseSubgroupSetup(features, [f16(8, 8, 8)], undefined)).toEqual({ reason: 'unusable subgroup size (subgroupMaxSize not reported)' });
  });

  it('the self-test passes a kernel that agrees and fails one that does not, with its max difference', async () => {
    const same = await compareKernels(tiledProduct);
    expect(same).toMatchObject({ ok: true, maxDiff: 0 });
    // A deliberately wrong kernel: the right product with its last output column dropped (a tile-edge bug).
    const wrong = await compareKernels((a, m, d) => tf.tidy(() => {
      const y = tiledProduct(a, m, d);
      return tf.mul(y, tf.concat([tf.ones([1, y.shape[1] - 1]), tf.zeros([1, 1])], 1)) as tf.Tensor2D;
    }));
    console.log(`self-test on a wrong kernel: ${JSON.stringify(wrong)}`);
    expect(wrong.ok).toBe(false);
    expect(wrong.maxDiff).toBeGreaterThan(0.05);
    const nan = await compareKernels((a, m, d) => tf.mul(tiledProduct(a, m, d), NaN) as tf.Tensor2D);
    expect(nan).toMatchObject({ ok: false, maxDiff: Infinity });
  }, 120_000);
});
