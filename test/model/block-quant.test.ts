import { describe, expect, it } from 'vitest';
import { openCheckpoint } from '../../main/engine/formats/hf-checkpoint.ts';
import { missingShared, sharedPath } from '../helpers/shared-data.ts';
import {
  NF4_LEVELS,
  NF4_MAX_ERROR,
  QUANT_BLOCK,
  blockCount,
  dequantizeRows,
  quantizeInt8Blockwise,
  quantizeNf4,
  storeMatrix,
  storedBytes,
} from '../../main/engine/llama/block-quant.ts';

const REAL_MODEL = 'models/stories260K';

/** Weights as real checkpoints have them: mostly small, a few outliers, an all-zero block, a short last block. */
function weights(n: number, seed = 1): Float32Array {
  let s = seed;
  const rnd = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
  const w = Float32Array.from({ length: n }, () => rnd() * 0.05);
  for (let i = 0; i < n; i += 97) w[i] = rnd() * 3; // outliers
  w.fill(0, QUANT_BLOCK, 2 * QUANT_BLOCK);
  return w;
}

/** The largest |w| of the block holding index i. */
function blockAbsmax(w: Float32Array, i: number): number {
  const start = Math.floor(i / QUANT_BLOCK) * QUANT_BLOCK;
  let m = 0;
  for (let j = start; j < Math.min(start + QUANT_BLOCK, w.length); j++) m = Math.max(m, Math.abs(w[j]));
  return m;
}

describe('blockwise quantizers', () => {
  const rows = 37;
  const cols = 45; // 1665 values: the last block is short
  const w = weights(rows * cols);

  it('int8 round trip is within half a step of each block', () => {
    const q = quantizeInt8Blockwise(w, rows, cols);
    expect(q.scales.length).toBe(blockCount(w.length));
    expect(q.codes.byteLength % 4).toBe(0);
    const back = dequantizeRows(q);
    for (let i = 0; i < w.length; i++) {
      const step = blockAbsmax(w, i) / 127;
      expect(Math.abs(back[i] - w[i])).toBeLessThanOrEqual((step / 2) * (1 + 1e-5) + 1e-12);
    }
    expect(back.subarray(QUANT_BLOCK, 2 * QUANT_BLOCK).every((v) => v === 0)).toBe(true);
  });

  it('nf4 round trip is within half the widest code-book gap times absmax, and picks the nearest level', () => {
    expect(NF4_MAX_ERROR).toBeCloseTo((1 - 0.6961928009986877) / 2, 7);
    const q = quantizeNf4(w, rows, cols);
    const back = dequantizeRows(q);
    for (let i = 0; i < w.length; i++) {
      const absmax = blockAbsmax(w, i);
      expect(Math.abs(back[i] - w[i])).toBeLessThanOrEqual(NF4_MAX_ERROR * absmax * (1 + 1e-5));
      if (absmax === 0) continue;
      const nearest = Math.min(...Array.from(NF4_LEVELS, (l) => Math.abs(l * absmax - w[i])));
      expect(Math.abs(back[i] - w[i])).toBeLessThanOrEqual(nearest + 1e-6 * absmax);
    }
  });

  it('dequantizes any row range the same as the whole', () => {
    for (const dtype of ['f32', 'bf16', 'f16', 'int8', 'nf4'] as const) {
      const m = storeMatrix(w, rows, cols, dtype);
      const all = dequantizeRows(m);
      expect(dequantizeRows(m, 5, 9)).toEqual(all.subarray(5 * cols, 9 * cols));
    }
  });

  it('stores at the sizes its mode promises', () => {
    const n = 4096 * 64;
    const v = weights(n);
    expect(storedBytes(storeMatrix(v, 4096, 64, 'bf16'))).toBe(2 * n);
    expect(storedBytes(storeMatrix(v, 4096, 64, 'int8'))).toBe(n + (n / QUANT_BLOCK) * 4);
    expect(storedBytes(storeMatrix(v, 4096, 64, 'nf4'))).toBe(n / 2 + (n / QUANT_BLOCK) * 4);
  });
});

describe.skipIf(missingShared(`${REAL_MODEL}/model.safetensors`))('quantizers on stories260K’s real weights', () => {
  it('every 2-D tensor round-trips within its bound: half a step (int8), half the widest gap × absmax (nf4)', async () => {
    const source = await openCheckpoint(sharedPath(REAL_MODEL));
    let worst = { int8: 0, nf4: 0 }; // the largest error relative to its bound, over all tensors
    for (const t of source.list()) {
      if (t.shape.length !== 2) continue;
      const w = await source.readF32(t.name);
      const [rows, cols] = t.shape;
      const int8 = dequantizeRows(quantizeInt8Blockwise(w, rows, cols));
      const nf4 = dequantizeRows(quantizeNf4(w, rows, cols));
      for (let i = 0; i < w.length; i++) {
        const absmax = blockAbsmax(w, i);
        if (absmax === 0) continue;
        const int8Err = Math.abs(int8[i] - w[i]) / (absmax / 127 / 2);
        const nf4Err = Math.abs(nf4[i] - w[i]) / (NF4_MAX_ERROR * absmax);
        worst = { int8: Math.max(worst.int8, int8Err), nf4: Math.max(worst.nf4, nf4Err) };
      }
    }
    await source.close();
    console.log(`stories260K: worst round-trip error / bound: int8 ${worst.int8.toFixed(4)}, nf4 ${worst.nf4.toFixed(4)}`);
    expect(worst.int8).toBeLessThanOrEqual(1 + 1e-5);
    expect(worst.nf4).toBeLessThanOrEqual(1 + 1e-5);
    expect(worst.int8).toBeGreaterThan(0.5); // real rounding happened: the bound is met, not trivially
  });
});
