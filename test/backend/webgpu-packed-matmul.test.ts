// The packed frozen-weight matmul on WebGPU (SwiftShader here), every storage mode: x·Wᵀ and its gradient dy·W from
// one packed copy equal tfjs's own matmul on the dequantized f32 weights, on shapes ragged against every tile and
// with a short last scale block; the path choice (subgroup matrices or tiled) with its reasons and its self-test.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import { relDiff, startWebgpuSoftware } from '../helpers/webgpu.ts';
import { QUANT_BLOCK, dequantizeRows, storeMatrix } from '../../main/engine/llama/block-quant.ts';
import { BASE_DTYPES, type BaseDtype } from '../../main/engine/llama/base-dtype-names.ts';
import { disposePacked, packForGpu, packedMatMul, subgroupProduct, tiledProduct } from '../../main/engine/backend/webgpu-packed-matmul.ts';
import { compareKernels, matmulPath, resetMatmulPath, selectMatmulPath } from '../../main/engine/backend/webgpu-matmul-path.ts';
import { chooseSubgroupSetup, subgroupCandidates, subgroupWorkgroupBytes } from '../../main/engine/backend/webgpu-subgroup-matmul.ts';
import { LlamaModel } from '../../main/engine/model/llama.ts';
import { loadModel } from '../../main/engine/model/load.ts';
import type { FrozenMatrix, LlamaWeights } from '../../main/engine/model/weights.ts';
import { caseModel, modelGradients, modelLogits } from './cases.ts';
import { workFolder } from '../helpers/work-folder.ts';

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
      if ((rows * cols) % QUANT_BLOCK === 0) throw new Error('the case should end in a short block');
      const m = packForGpu(stored);
      expect(m.words.dtype).toBe(dtype === 'f32' ? 'float32' : 'int32');
      const x = tf.randomNormal([n, cols], 0, 1, 'float32', 2) as tf.Tensor2D;
      const dy = tf.randomNormal([n, rows], 0, 1, 'float32', 3);
      const forward = await relDiff(packedMatMul(x, m), tf.matMul(x, dequantized, false, true));
      const grad = (f: (t: tf.Tensor2D) => tf.Tensor) => tf.grad((t: tf.Tensor) => tf.sum(tf.mul(f(t as tf.Tensor2D), dy)))(x);
      const backward = await relDiff(
        grad((t) => packedMatMul(t, m)),
        tf.matMul(dy as tf.Tensor2D, dequantized),
      );
      console.log(
        `${dtype} ${n}×${rows}×${cols}: max |ours − tfjs| / max |tfjs|: forward ${forward.toExponential(2)}, backward ${backward.toExponential(2)}`,
      );
      expect(forward).toBeLessThan(1e-5);
      expect(backward).toBeLessThan(1e-5);
      disposePacked(m);
    },
    120_000,
  );
});

describe.skipIf(skip)('packForGpu refuses what a kernel cannot bind', () => {
  it('a matrix over the storage-binding limit: a clear error with the figures', () => {
    const stored = storeMatrix(new Float32Array(64 * 1024), 64, 1024, 'int8'); // 64 KiB of codes
    expect(() => packForGpu(stored, 32 * 1024)).toThrow(
      /a 64×1024 int8 frozen matrix takes 0\.1 MiB, over this adapter's largest storage binding \(maxStorageBufferBindingSize 0\.0 MiB\)/,
    );
    const m = packForGpu(stored, 64 * 1024); // exactly at the limit fits
    expect(m.words.size * 4).toBe(64 * 1024);
    disposePacked(m);
  });

  it('an input of the wrong width: a StudioError naming both shapes', () => {
    const m = packForGpu(storeMatrix(new Float32Array(8 * 12), 8, 12, 'nf4'));
    expect(() => packedMatMul(tf.ones([3, 8]) as tf.Tensor2D, m)).toThrow(/input is 3×8 but W is 8×12 \(inner size 12\)/);
    disposePacked(m);
  });
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
    await expect(selectMatmulPath()).rejects.toMatchObject({
      code: 'webgpu/subgroup-matrix-unavailable',
      message: expect.stringMatching(/LORA_STUDIO_MATMUL=subgroup-matrix, but the adapter lacks/),
    });
    process.env.LORA_STUDIO_MATMUL = 'tiled';
    expect(await selectMatmulPath()).toEqual({ kernel: 'tiled', reason: 'LORA_STUDIO_MATMUL=tiled' });
    resetMatmulPath();
    process.env.LORA_STUDIO_MATMUL = 'tensor-cores';
    await expect(selectMatmulPath()).rejects.toMatchObject({ code: 'webgpu/matmul-choice' });
  });

  it('the config choice: f16 → f32 only, the largest first, and a reason for each refusal', () => {
    const features = ['chromium-experimental-subgroup-matrix', 'subgroups', 'shader-f16'];
    const f16 = (M: number, N: number, K: number) => ({ componentType: 'f16', resultComponentType: 'f32', M, N, K });
    expect(chooseSubgroupSetup(features, [f16(8, 8, 8), { ...f16(16, 16, 16), resultComponentType: 'f16' }, f16(16, 16, 16)], 32)).toEqual({
      setup: { M: 16, N: 16, K: 16, subgroupSize: 32, subgroups: 1 },
    });
    expect(chooseSubgroupSetup(features, [{ ...f16(8, 8, 8), componentType: 'i8', resultComponentType: 'i32' }], 32)).toEqual({
      reason: "no usable subgroup-matrix config (f16 → f32) among the adapter's: i8→i32 8×8×8",
    });
    expect(chooseSubgroupSetup(features.slice(1), [f16(8, 8, 8)], 32)).toEqual({
      reason: 'the adapter lacks chromium-experimental-subgroup-matrix',
    });
    expect(chooseSubgroupSetup(features, [f16(8, 8, 8)], undefined)).toEqual({
      reason: 'unusable subgroup size (subgroupMaxSize not reported)',
    });
    // Four subgroups a workgroup only with a fixed subgroup size and room for the workgroup (64×64 tile: 24 KiB).
    const base = { M: 16, N: 16, K: 16, subgroupSize: 32, subgroups: 1 } as const;
    const roomy = { maxComputeWorkgroupStorageSize: 32768, maxComputeInvocationsPerWorkgroup: 256 };
    expect(subgroupWorkgroupBytes({ ...base, subgroups: 4 })).toBe(24576);
    expect(subgroupCandidates(base, 32, roomy).map((s) => s.subgroups)).toEqual([4, 1]);
    expect(subgroupCandidates(base, 16, roomy).map((s) => s.subgroups)).toEqual([1]);
    expect(subgroupCandidates(base, 32, { ...roomy, maxComputeWorkgroupStorageSize: 16384 }).map((s) => s.subgroups)).toEqual([1]);
  });

  it('the self-test passes a kernel that agrees and fails one that does not, with its max difference', async () => {
    const same = await compareKernels(tiledProduct);
    expect(same).toMatchObject({ ok: true, maxDiff: 0 });
    // A deliberately wrong kernel: the right product with its last output column dropped (a tile-edge bug).
    const wrong = await compareKernels((a, m, d) =>
      tf.tidy(() => {
        const y = tiledProduct(a, m, d);
        return tf.mul(y, tf.concat([tf.ones([1, y.shape[1] - 1]), tf.zeros([1, 1])], 1)) as tf.Tensor2D;
      }),
    );
    console.log(`self-test on a wrong kernel: ${JSON.stringify(wrong)}`);
    expect(wrong.ok).toBe(false);
    expect(wrong.maxDiff).toBeGreaterThan(0.05);
    const nan = await compareKernels((a, m, d) => tf.mul(tiledProduct(a, m, d), NaN) as tf.Tensor2D);
    expect(nan).toMatchObject({ ok: false, maxDiff: Infinity });
  }, 120_000);
});

describe.skipIf(skip)('the subgroup-matrix kernel on a software stand-in for its builtins', () => {
  // The real kernel's source with each matrix builtin replaced by an emulation of its semantics: its tiling, offsets,
  // staging, ragged edges and row scaling, checked where no adapter has subgroup matrices. [setup, mode]: one subgroup
  // a workgroup, and four (2×2) sharing one; M, N and K all differ so that a swapped dimension cannot pass.
  it.each([
    [{ M: 16, N: 8, K: 4, subgroupSize: 32, subgroups: 1 } as const, 'nf4' as const],
    [{ M: 4, N: 8, K: 16, subgroupSize: 16, subgroups: 4 } as const, 'int8' as const],
  ])(
    '%o %s: x·Wᵀ and dy·W equal the tiled kernel within f16 rounding, gradients of 1e-9 included',
    async (setup, dtype) => {
      const [n, rows, cols] = [37, 70, 44];
      const { stored } = await storedCase(dtype, rows, cols);
      const m = packForGpu(stored);
      const x = tf.randomNormal([n, cols], 0, 1, 'float32', 5) as tf.Tensor2D;
      const dy = tf.mul(tf.randomNormal([n, rows], 0, 1, 'float32', 6), 1e-9) as tf.Tensor2D; // under f16's smallest subnormal
      const forward = await relDiff(subgroupProduct(x, m, 'forward', setup, true), tiledProduct(x, m, 'forward'));
      const backward = await relDiff(subgroupProduct(dy, m, 'backward', setup, true), tiledProduct(dy, m, 'backward'));
      console.log(
        `emulated subgroup matrices ${JSON.stringify(setup)} ${dtype}: max relative difference to tiled: forward ${forward.toExponential(2)}, backward ${backward.toExponential(2)}`,
      );
      expect(forward).toBeLessThan(5e-3);
      expect(backward).toBeLessThan(5e-3);
      expect(forward).toBeGreaterThan(0); // f16 operands: not the f32 kernel by accident
      disposePacked(m);
    },
    120_000,
  );
});

describe.skipIf(skip)('the subgroup-matrix WGSL compiles (Dawn null backend, in a child process)', () => {
  it('every mode and direction, 16×16×16 and 8×8×8 configs, one and four subgroups: no error, no warning; a wrong operand type is rejected', async () => {
    const out = path.join(workFolder('sgm-null'), 'result.json');
    await new Promise<void>((resolve, reject) =>
      execFile(
        process.execPath,
        [path.resolve('node_modules/tsx/dist/cli.mjs'), path.resolve('test/backend/subgroup-matrix-null.ts'), out],
        (err, _o, stderr) => (err ? reject(new Error(`${err.message}\n${stderr.slice(-2000)}`)) : resolve()),
      ),
    );
    const r = JSON.parse(readFileSync(out, 'utf8'));
    console.log(
      `subgroup-matrix programs on the null backend: ${r.modules} shader modules, validation ${r.validation}, diagnostics ${JSON.stringify(r.messages)}; control: ${r.control.messages[0]}`,
    );
    expect(r.modules).toBeGreaterThanOrEqual(3 * 2 * BASE_DTYPES.length);
    expect(r.validation).toBeNull();
    expect(r.messages).toEqual([]);
    expect(r.control.error).toMatch(/subgroup_matrix_right<f32/);
  }, 120_000);
});

/**
 * The model's frozen matrices stored in a mode (`dtypeOf` a layer index, or of lm_head), then either packed for the
 * GPU kernels or dequantized to f32 Wᵀ.
 */
async function repack(w: LlamaWeights, dtypeOf: (layer: number | 'lmHead') => BaseDtype, packed: boolean): Promise<LlamaWeights> {
  const convert = async (m: FrozenMatrix, dtype: BaseDtype): Promise<FrozenMatrix> => {
    // The f32 model as loaded on WebGPU: W [out, in] packed as plain f32 (else resident Wᵀ [in, out]).
    const [rows, cols] = m.gpu ? [m.gpu.rows, m.gpu.cols] : [m.wT!.shape[1], m.wT!.shape[0]];
    const values = (await (m.gpu ? m.gpu.words : tf.transpose(m.wT!)).data()) as Float32Array;
    const stored = storeMatrix(values, rows, cols, dtype);
    return packed ? { gpu: packForGpu(stored) } : { wT: tf.transpose(tf.tensor2d(dequantizeRows(stored), [rows, cols])) as tf.Tensor2D };
  };
  const layers = [];
  for (const [index, l] of w.layers.entries()) {
    const proj = { ...l.proj };
    for (const [name, p] of Object.entries(l.proj) as [keyof typeof proj, (typeof proj)[keyof typeof proj]][]) {
      proj[name] = {
        path: p.path,
        inFeatures: p.inFeatures,
        outFeatures: p.outFeatures,
        bias: p.bias,
        ...(await convert(p, dtypeOf(index))),
      };
    }
    layers.push({ ...l, proj });
  }
  return { ...w, layers, lmHead: await convert(w.lmHead, dtypeOf('lmHead')) };
}

// A model of stories260K's shape written by the test: packed products agreeing needs no trained weights.
describe.skipIf(skip)('a tiny LLaMA through packed int8 / nf4 weights', () => {
  it('layer 0 int8, layer 1 and lm_head nf4: the same logits and LoRA gradients as the model on the dequantized f32 weights', async () => {
    const dtypeOf = (layer: number | 'lmHead'): BaseDtype => (layer === 0 ? 'int8' : 'nf4');
    const loaded = await loadModel(await caseModel(), { baseDtype: 'f32' });
    // Its first two layers are enough to pass the packed products through attention, SwiGLU and lm_head (and keep
    // SwiftShader's time down).
    const config = { ...loaded.config, numLayers: 2 };
    const model = new LlamaModel(config, { ...loaded.model.weights, layers: loaded.model.weights.layers.slice(0, 2) });
    const packed = new LlamaModel(config, await repack(model.weights, dtypeOf, true));
    const reference = new LlamaModel(config, await repack(model.weights, dtypeOf, false));
    expect([
      packed.weights.layers[0].proj.q_proj.gpu?.dtype,
      packed.weights.layers[1].proj.down_proj.gpu?.dtype,
      packed.weights.lmHead.gpu?.dtype,
    ]).toEqual(['int8', 'nf4', 'nf4']);
    const [lp, lr] = [await modelLogits(packed), await modelLogits(reference)];
    const logitDiff = Math.max(...lp.map((v, i) => Math.abs(v - lr[i])));
    const [gp, gr] = [await modelGradients(packed), await modelGradients(reference)];
    const gradDiffs = gp.grads.map((g, k) => {
      const scale = Math.max(...gr.grads[k].map(Math.abs));
      return Math.max(...g.map((v, i) => Math.abs(v - gr.grads[k][i]))) / scale;
    });
    console.log(
      `int8/nf4 tiny LLaMA: logits max |packed − f32| ${logitDiff.toExponential(2)}; loss ${gp.loss} vs ${gr.loss}; LoRA gradients max relative difference ${Math.max(...gradDiffs).toExponential(2)} over ${gradDiffs.length} variables`,
    );
    expect(lp.length).toBe(lr.length);
    expect(logitDiff).toBeLessThan(1e-4);
    expect(Math.abs(gp.loss - gr.loss) / gr.loss).toBeLessThan(1e-5);
    gradDiffs.forEach((d, k) => expect(d, `variable ${k}`).toBeLessThan(1e-4));
    // The quantization is real: the f32 model itself gives other logits.
    const original = await modelLogits(model);
    expect(Math.max(...original.map((v, i) => Math.abs(v - lr[i])))).toBeGreaterThan(1e-3);
  }, 300_000);
});
