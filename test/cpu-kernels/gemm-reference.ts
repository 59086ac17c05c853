import type { Direction } from '../../main/engine/cpu-kernels/cpu-kernels.ts';

// What the CPU kernels' tests hold them to: seeded values, and the product of the dequantized weights in f64.

/** Seeded values in [−1, 1), every 17th times 4 (a few larger ones, as real weights have). */
export function randomValues(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    a[i] = (s / 2 ** 31 - 1) * (i % 17 === 0 ? 4 : 1);
  }
  return a;
}

/** x·Wᵀ or dy·W of W [rows, cols] (already dequantized), summed in f64. */
export function reference(a: Float32Array, w: Float32Array, n: number, rows: number, cols: number, direction: Direction): Float64Array {
  const [r, p] = direction === 'xwt' ? [cols, rows] : [rows, cols];
  const out = new Float64Array(n * p);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < p; j++) {
      let s = 0;
      for (let k = 0; k < r; k++) s += a[i * r + k] * (direction === 'xwt' ? w[j * cols + k] : w[k * cols + j]);
      out[i * p + j] = s;
    }
  return out;
}

/** max |ours − reference| over max |reference|. */
export function relativeError(ours: Float32Array, ref: Float64Array): number {
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Math.abs(ours[i] - ref[i]));
    scale = Math.max(scale, Math.abs(ref[i]));
  }
  return diff / scale;
}
