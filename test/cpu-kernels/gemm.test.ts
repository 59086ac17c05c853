import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cpuCrossEntropySum } from '../../main/engine/backend/cpu-cross-entropy.ts';
import { CpuGemm } from '../../main/engine/cpu-kernels/cpu-gemm.ts';
import { cpuMatmulPath } from '../../main/engine/cpu-kernels/cpu-matmul-path.ts';
import { GEMM_RELAXED_BASE64, GEMM_SIMD128_BASE64 } from '../../main/engine/cpu-kernels/gemm-kernels-wasm.ts';
import { wasmApi } from '../../main/engine/cpu-kernels/wasm-api.ts';
import { dequantizeRows, NF4_LEVELS, storeMatrix } from '../../main/engine/llama/block-quant.ts';
import { gemmInput } from '../../main/engine/model/frozen-matrix.ts';
import { BASE_DTYPES, type BaseDtype } from '../../main/engine/llama/base-dtype-names.ts';
import { StudioError } from '../../main/engine/errors.ts';
import { assembleGemm, gemmModule, GEMM_MODULE } from '../../scripts/build-wasm.ts';
import { readFileSync } from 'node:fs';
import { randomValues as random, reference, relativeError } from './gemm-reference.ts';

// The GEMM kernels (cpu-kernels/) against the f32 product of the dequantized weights (block-quant.ts's decoders),
// summed in f64 here: every stored mode, both directions, shapes ragged against the register tile (6 × 8), the
// panel (128), the k-block (256) and the quantization block (64, which then straddles rows), on 1 and 2 threads,
// in both builds. 1 and 2 threads must give the same bits (each value of C is summed by one thread in one order).

/** [n, rows, cols] of W [rows, cols]. */
const SHAPES: [number, number, number][] = [
  [1, 8, 8],
  [1, 3, 5],
  [5, 37, 100],
  [13, 131, 70],
  [7, 300, 520],
  [6, 129, 256],
  [2, 64, 1000],
];

const api = wasmApi()!;
cpuMatmulPath(); // on Node 20, turns relaxed SIMD on (V8's flag) before the relaxed build is compiled
const builds = (
  [
    ['relaxed-simd', GEMM_RELAXED_BASE64],
    ['simd128', GEMM_SIMD128_BASE64],
  ] as const
).map(([name, b64]) => [name, Uint8Array.from(atob(b64), (c) => c.charCodeAt(0))] as const);

describe.each(builds)('GEMM kernels, %s build', (_name, bytes) => {
  const pools: CpuGemm[] = [];
  beforeAll(async () => {
    if (!api.validate(bytes)) return; // this runtime lacks the build (relaxed SIMD): the other build covers it
    const module = new api.Module(bytes);
    pools.push(await CpuGemm.open(1, module, NF4_LEVELS), await CpuGemm.open(2, module, NF4_LEVELS));
  });
  afterAll(async () => {
    for (const p of pools) await p.close();
  });

  it.each(BASE_DTYPES)('%s: x·Wᵀ and dy·W equal the dequantized f32 product, the same bits on 1 and 2 threads', (mode: BaseDtype) => {
    if (!pools.length) return;
    for (const [n, rows, cols] of SHAPES) {
      const stored = storeMatrix(random(rows * cols, rows * 31 + cols), rows, cols, mode);
      const w = dequantizeRows(stored);
      for (const direction of ['xwt', 'dyw'] as const) {
        const a = random(n * (direction === 'xwt' ? cols : rows), n + rows);
        const ref = reference(a, w, n, rows, cols, direction);
        const results = pools.map((g) => {
          const m = g.upload(gemmInput(stored));
          const c = new Float32Array(n * (direction === 'xwt' ? rows : cols));
          g.product(m, direction, a, n, c);
          g.release(m);
          return c;
        });
        const where = `${mode} ${direction} n ${n}, W [${rows}, ${cols}]`;
        expect(results[0].length, where).toBe(ref.length);
        expect(relativeError(results[0], ref), where).toBeLessThan(1e-5);
        expect(Buffer.from(results[1].buffer).equals(Buffer.from(results[0].buffer)), `${where}: 2 threads`).toBe(true);
      }
    }
  });
});

describe('the GEMM thread pool', () => {
  it('fails a product with a reason within seconds when a worker thread stops answering', async () => {
    process.env.LORA_STUDIO_SIMULATE_GEMM_HANG = '1';
    process.env.LORA_STUDIO_GEMM_HANG_S = '2';
    try {
      const g = await CpuGemm.open(2, new api.Module(builds[1][1]), NF4_LEVELS);
      // panels of ~10 ms each: the worker wakes and takes one long before this thread has done them all
      const m = g.upload(gemmInput(storeMatrix(random(4096 * 2048, 1), 4096, 2048, 'int8')));
      const start = Date.now();
      let error: unknown;
      try {
        g.product(m, 'xwt', random(192 * 2048, 2), 192, new Float32Array(192 * 4096));
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(StudioError);
      expect((error as StudioError).code).toBe('cpu-kernels/hung');
      expect((error as Error).message).toMatch(/stopped answering: no task finished for 2 s/);
      expect(Date.now() - start).toBeLessThan(6000);
      // the pool is closed: the next product fails at once with the same reason
      expect(() => g.product(m, 'xwt', random(192 * 2048, 2), 192, new Float32Array(192 * 4096))).toThrow(/stopped answering/);
    } finally {
      delete process.env.LORA_STUDIO_SIMULATE_GEMM_HANG;
      delete process.env.LORA_STUDIO_GEMM_HANG_S;
    }
  });

  it('leaves no worker thread behind when closed', async () => {
    const g = await CpuGemm.open(3, new api.Module(builds[1][1]), NF4_LEVELS);
    const m = g.upload(gemmInput(storeMatrix(random(512 * 64, 1), 512, 64, 'f32')));
    g.product(m, 'xwt', random(8 * 64, 2), 8, new Float32Array(8 * 512));
    const pool = (g as unknown as { pool: { workers: { threadId: number }[] } }).pool;
    expect(pool.workers.length).toBe(2);
    await g.close();
    expect(pool.workers.every((w) => w.threadId === -1)).toBe(true); // a Worker's threadId is -1 once it has exited
  });
});

describe('the GEMM module', () => {
  it('is what build:wasm makes of gemm-wat.ts', async () => {
    expect(readFileSync(GEMM_MODULE, 'utf8')).toBe(gemmModule(await assembleGemm()));
  });
});

describe('the cross-entropy kernels', () => {
  it('give the loss and (softmax − onehot) · weight of logits [N, V] within float rounding, V not a multiple of 4', async () => {
    await tf.setBackend('cpu');
    const g = await CpuGemm.open(1, new api.Module(builds[1][1]), NF4_LEVELS);
    for (const [N, V] of [
      [5, 37],
      [3, 32000],
      [1, 3],
    ]) {
      const x = random(N * V, V).map((v) => 8 * v);
      const targets = Int32Array.from({ length: N }, (_, i) => (i * 7919) % V);
      const weights = Float32Array.from({ length: N }, (_, i) => (i === 1 ? 0 : 1));
      const logits = tf.tensor2d(x, [N, V]);
      const { value, grad: grads } = tf.valueAndGrad((t: tf.Tensor) =>
        tf.mul(cpuCrossEntropySum(g, t as tf.Tensor2D, targets, weights), 0.5),
      )(logits);
      let loss = 0;
      const grad = new Float64Array(N * V);
      for (let i = 0; i < N; i++) {
        let m = -Infinity;
        for (let j = 0; j < V; j++) m = Math.max(m, x[i * V + j]);
        let s = 0;
        for (let j = 0; j < V; j++) s += Math.exp(x[i * V + j] - m);
        const lse = m + Math.log(s);
        loss += weights[i] * (lse - x[i * V + targets[i]]);
        for (let j = 0; j < V; j++) grad[i * V + j] = 0.5 * weights[i] * (Math.exp(x[i * V + j] - lse) - (j === targets[i] ? 1 : 0));
      }
      expect(Math.abs(value.dataSync()[0] - 0.5 * loss) / Math.abs(0.5 * loss), `loss N ${N} V ${V}`).toBeLessThan(1e-6);
      const ours = grads.dataSync();
      let worst = 0;
      for (let k = 0; k < grad.length; k++) worst = Math.max(worst, Math.abs(ours[k] - grad[k]));
      expect(worst, `gradient N ${N} V ${V}`).toBeLessThan(1e-6);
      tf.dispose([logits, value, grads]);
    }
    await g.close();
  });
});
