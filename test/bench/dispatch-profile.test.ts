import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { disposePacked, packForGpu, packedMatMul } from '../../main/engine/backend/webgpu-packed-matmul.ts';
import { storeMatrix } from '../../main/engine/llama/block-quant.ts';
import { dispatchCost, dispatchSeconds } from '../../bench/gpu-profile/dispatch-cost.ts';
import { profileStep, scaleToLayers } from '../../bench/gpu-profile/predict.ts';
import { DispatchRecorder } from '../../bench/gpu-profile/recorder.ts';
import { startWebgpuSoftware } from '../helpers/webgpu.ts';

const M = 64;
const K = 96;
const N = 40;

describe('dispatch cost accounting', () => {
  it('counts 2·M·N·K FLOPs for a product, whichever way its left operand is laid out', () => {
    const out = { shape: [3, M, N], dtype: 'float32' };
    const plain = dispatchCost(
      'MatMulPackedProgram',
      [
        { shape: [3, M, K], dtype: 'float32' },
        { shape: [3, K, N], dtype: 'float32' },
      ],
      out,
    );
    const transposed = dispatchCost(
      'MatMulPackedProgram',
      [
        { shape: [3, K, M], dtype: 'float32' },
        { shape: [3, N, K], dtype: 'float32' },
      ],
      out,
    );
    expect(plain.flops).toBe(2 * 3 * M * N * K);
    expect(transposed.flops).toBe(2 * 3 * M * N * K);
    expect(plain.bytes).toBe(4 * 3 * (M * K + K * N + M * N));
  });

  it('counts elementwise programs by the elements they touch, and a declared count as declared', () => {
    expect(
      dispatchCost(
        'BinaryOpProgram',
        [
          { shape: [8, 5], dtype: 'float32' },
          { shape: [5], dtype: 'float32' },
        ],
        { shape: [8, 5], dtype: 'float32' },
      ),
    ).toEqual({ flops: 40, bytes: 4 * (40 + 5 + 40) });
    expect(dispatchCost('fused-rope', [{ shape: [10], dtype: 'float32' }], { shape: [10], dtype: 'float32' }, 123).flops).toBe(123);
  });

  it('times a dispatch by its roofline plus its fixed cost, and scales a 1- and 2-layer profile to N layers', () => {
    const machine = { flopsPerSecond: 1e12, bytesPerSecond: 1e11, dispatchSeconds: 1e-6 };
    expect(dispatchSeconds({ flops: 2e9, bytes: 1e8 }, machine)).toBeCloseTo(1e-6 + 2e-3, 12); // arithmetic-bound
    expect(dispatchSeconds({ flops: 1e6, bytes: 1e9 }, machine)).toBeCloseTo(1e-6 + 1e-2, 12); // memory-bound
    const rec = (program: string, flops: number) => ({ program, inputs: [], output: { shape: [1], dtype: 'float32' }, flops, bytes: 0 });
    const one = profileStep([rec('head', 100), rec('layer', 10)], machine);
    const two = profileStep([rec('head', 100), rec('layer', 10), rec('layer', 10)], machine);
    const scaled = scaleToLayers(one, two, 22, machine);
    expect(scaled.dispatches).toBe(23);
    expect(scaled.flops).toBe(100 + 22 * 10);
    expect(scaled.programs.find((p) => p.program === 'layer')?.dispatches).toBe(22);
  });
});

describe('dispatch recorder on the WebGPU software adapter', () => {
  let skip: string | undefined;
  beforeAll(async () => {
    skip = await startWebgpuSoftware('dispatch recorder');
  });

  it("records tfjs's matMul and our f16-weight kernel with their exact FLOPs and bytes", async (ctx) => {
    if (skip) ctx.skip();
    const recorder = new DispatchRecorder(true);
    recorder.install();
    try {
      const x = tf.randomNormal([M, K]) as tf.Tensor2D;
      const w = tf.randomNormal([N, K]) as tf.Tensor2D;
      const packed = packForGpu(storeMatrix((await w.data()) as Float32Array, N, K, 'f16'));
      recorder.recording = true;
      const y = tf.matMul(x, w, false, true);
      const y16 = packedMatMul(x, packed);
      recorder.recording = false;
      await Promise.all([y.data(), y16.data()]);
      const products = recorder.records.filter((r) => r.flops === 2 * M * N * K);
      expect(products.map((r) => r.program).sort()).toEqual([
        expect.stringMatching(/^MatMul/),
        expect.stringMatching(/^lora-studio-packed-tiled-f16-forward/),
      ]);
      const ours = products.find((r) => r.program.startsWith('lora-studio-packed-tiled-f16-forward'))!;
      // x in f32, W as halves packed two to an int32 word, y in f32.
      expect(ours.bytes).toBe(4 * M * K + 2 * N * K + 4 * M * N);
      tf.dispose([x, w, y, y16]);
      disposePacked(packed);
    } finally {
      recorder.uninstall();
    }
  });
});
