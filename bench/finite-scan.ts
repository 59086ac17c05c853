import { hasNonFinite } from '../main/engine/formats/finite-scan.ts';
import { pairedRatios, type Spread } from './spread.ts';

export interface ScanRow {
  dtype: string;
  path: string;
  scanGBs: number;
  copyGBs: number;
  ratio: Spread;
}

/**
 * The NaN / Inf scan every weight read goes through (formats/finite-scan.ts), in GB/s, against a plain copy of the
 * same bytes (Buffer.set, what a read costs the CPU at least) in the same run: `npm run bench -- scan`.
 */
export function benchFiniteScan(repeats: number): ScanRow[] {
  const bytes = 256 << 20;
  const src = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i += 2) src[i + 1] = (i >> 3) & 0x3f; // finite bf16/f16/f32 patterns, no early exit
  const dst = new Uint8Array(bytes);
  const rows: ScanRow[] = [];
  for (const dtype of ['BF16', 'F16', 'F32'] as const) {
    for (const jsOnly of [false, true]) {
      const scan: number[] = [];
      const copy: number[] = [];
      for (let r = 0; r < repeats; r++) {
        let t = performance.now();
        dst.set(src);
        copy.push(bytes / (performance.now() - t) / 1e6);
        t = performance.now();
        if (hasNonFinite(src, dtype, jsOnly)) throw new Error('bench data is finite');
        scan.push(bytes / (performance.now() - t) / 1e6);
      }
      const median = (v: number[]) => [...v].sort((a, b) => a - b)[v.length >> 1];
      rows.push({
        dtype,
        path: jsOnly ? 'JS' : 'wasm SIMD',
        scanGBs: median(scan),
        copyGBs: median(copy),
        ratio: pairedRatios(scan, copy),
      });
    }
  }
  return rows;
}
