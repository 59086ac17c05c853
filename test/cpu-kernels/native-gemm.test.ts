import { readdirSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import type { CpuKernels, Direction } from '../../main/engine/cpu-kernels/cpu-kernels.ts';
import { loadNativeAddon, NATIVE_PANEL, openblasCandidates, type NativeAddon } from '../../main/engine/cpu-kernels/native-addon.ts';
import { NativeGemm } from '../../main/engine/cpu-kernels/native-gemm.ts';
import { GEMM_QUANT_BLOCK } from '../../main/engine/cpu-kernels/gemm-wat.ts';
import { BASE_DTYPES, type BaseDtype } from '../../main/engine/llama/base-dtype-names.ts';
import { dequantizeRows, NF4_LEVELS, storeMatrix } from '../../main/engine/llama/block-quant.ts';
import { gemmInput } from '../../main/engine/model/frozen-matrix.ts';
import { StudioError } from '../../main/engine/errors.ts';
import { randomValues, reference, relativeError } from './gemm-reference.ts';

// The native kernels (native/, OpenBLAS behind them) against the f32 product of the dequantized weights, summed in
// f64 here: every stored mode, both directions, 1 and 2 threads (the same bits: a job's split into tasks does not
// depend on the thread count), with the default panels and with small ones that make every shape below cross
// panel, k-block and quantization-block edges; matrix-vector products (1 and 2 rows); the pool's hang and close.
// Skipped, with the reason, where the addon was not built (a machine without a compiler: see native-build.test.ts).

const native = loadNativeAddon();
const addon = native.addon;
if (!addon) console.warn(`native kernels skipped: ${native.reason}`);
const blas = addon && (() => addon.init({ blas: openblasCandidates(), quantBlock: GEMM_QUANT_BLOCK }))();

/** [n, rows, cols] of W [rows, cols]: gemv, ragged tiles, panels of C with few and many row chunks. */
const SHAPES: [number, number, number][] = [
  [1, 8, 8],
  [1, 300, 701],
  [2, 257, 130],
  [5, 37, 100],
  [13, 131, 70],
  [130, 300, 96],
  [7, 300, 520],
  [3, 513, 1100],
];

function open(threads: number): NativeGemm {
  return NativeGemm.open(addon!, blas!, threads, NF4_LEVELS);
}

function run(g: CpuKernels, mode: BaseDtype, n: number, rows: number, cols: number, direction: Direction, a: Float32Array) {
  const m = g.upload(gemmInput(storeMatrix(randomValues(rows * cols, rows * 31 + cols), rows, cols, mode)));
  const c = new Float32Array(n * (direction === 'xwt' ? rows : cols));
  g.product(m, direction, a, n, c);
  g.release(m);
  return c;
}

describe.skipIf(!addon)('native kernels', () => {
  afterAll(() => addon?.close());

  it.each([
    ['default panels', undefined],
    ['small panels', [48, 40] as [number, number]],
  ])('every mode, x·Wᵀ and dy·W, equals the dequantized f32 product, the same bits on 1 and 2 threads (%s)', (_name, panel) => {
    (addon as NativeAddon).init({ blas: openblasCandidates(), quantBlock: GEMM_QUANT_BLOCK, panel: panel ?? NATIVE_PANEL });
    for (const mode of BASE_DTYPES) {
      for (const [n, rows, cols] of SHAPES) {
        const w = dequantizeRows(storeMatrix(randomValues(rows * cols, rows * 31 + cols), rows, cols, mode));
        for (const direction of ['xwt', 'dyw'] as const) {
          const a = randomValues(n * (direction === 'xwt' ? cols : rows), n + rows);
          const ref = reference(a, w, n, rows, cols, direction);
          const one = run(open(1), mode, n, rows, cols, direction, a);
          const two = run(open(2), mode, n, rows, cols, direction, a);
          const where = `${mode} ${direction} n ${n}, W [${rows}, ${cols}]`;
          expect(relativeError(one, ref), where).toBeLessThan(1e-5);
          expect(Buffer.from(two.buffer).equals(Buffer.from(one.buffer)), `${where}: 2 threads`).toBe(true);
        }
      }
    }
    addon!.init({ blas: openblasCandidates(), quantBlock: GEMM_QUANT_BLOCK, panel: NATIVE_PANEL });
  });

  it('refuse arrays shorter than the product needs, with the reason', () => {
    const g = open(1);
    const m = g.upload(gemmInput(storeMatrix(randomValues(64 * 32, 1), 64, 32, 'int8')));
    expect(() => g.product(m, 'xwt', new Float32Array(10), 4, new Float32Array(4 * 64))).toThrow(/product: a: 10 values, need 128/);
    g.release(m);
    expect(() => g.product(m, 'xwt', new Float32Array(128), 4, new Float32Array(4 * 64))).toThrow(/released/);
  });

  it('fail a product with a reason within seconds when a worker thread stops answering', () => {
    process.env.LORA_STUDIO_SIMULATE_GEMM_HANG = '1';
    process.env.LORA_STUDIO_GEMM_HANG_S = '2';
    try {
      const g = open(2);
      // many panels of a few ms: the worker wakes and takes one long before this thread has done them all
      const m = g.upload(gemmInput(storeMatrix(randomValues(8192 * 1024, 1), 8192, 1024, 'int8')));
      const start = Date.now();
      let error: unknown;
      try {
        g.product(m, 'xwt', randomValues(64 * 1024, 2), 64, new Float32Array(64 * 8192));
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(StudioError);
      expect((error as StudioError).code).toBe('cpu-kernels/hung');
      expect((error as Error).message).toMatch(/stopped answering: no task finished for 2 s/);
      expect(Date.now() - start).toBeLessThan(6000);
      // the pool stays failed: the next product fails at once
      expect(() => g.product(m, 'xwt', randomValues(64 * 1024, 2), 64, new Float32Array(64 * 8192))).toThrow(/failed earlier/);
    } finally {
      delete process.env.LORA_STUDIO_SIMULATE_GEMM_HANG;
      delete process.env.LORA_STUDIO_GEMM_HANG_S;
    }
  });

  it('leave no thread behind when closed', async () => {
    const threads = () => readdirSync('/proc/self/task').length;
    addon!.close();
    const before = threads();
    const g = open(4);
    expect(threads()).toBe(before + 3);
    const m = g.upload(gemmInput(storeMatrix(randomValues(512 * 512, 1), 512, 512, 'f32')));
    g.product(m, 'xwt', randomValues(256 * 512, 2), 256, new Float32Array(256 * 512));
    await g.close();
    expect(threads()).toBe(before);
  });
});
