import { StudioError } from '../errors.ts';
import { decodeToF32 } from '../formats/dtypes.ts';
import { hasNonFinite } from '../formats/finite-scan.ts';
import { Q8_0_BLOCK } from '../formats/q8-0.ts';
import { addLowRank } from './low-rank.ts';
import type { PieceTarget } from './piece-encode.ts';
import type { LowRankRows, DType } from '../formats/tensor-source.ts';

/**
 * Every value an export reads is finite (the safetensors reader refuses NaN and Inf, the merge refuses a non-finite
 * sum), but a finite f32 can still leave the target's range: f16 ends at 65504, a Q8_0 block's scale is an f16
 * (absmax / 127), bf16 rounds the top of f32's range to Inf. An encoded piece is scanned as it is made (on the
 * encoding thread), and one that holds a NaN or Inf stops the export naming the tensor and the value.
 */

/** The smallest magnitude each 16-bit target rounds to Inf. */
const F16_OVERFLOW = 65520;
const BF16_OVERFLOW = 3.3961514e38;

/** Whether the encoded bytes hold a NaN or Inf (F16 and BF16 values, Q8_0 block scales; f32 holds every finite input). */
export function encodedNonFinite(to: PieceTarget, bytes: Uint8Array): boolean {
  if (to === 'F16' || to === 'BF16') return hasNonFinite(bytes, to);
  if (to !== 'Q8_0') return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 0; at + 2 <= bytes.byteLength; at += 34) if ((view.getUint16(at, true) & 0x7c00) === 0x7c00) return true;
  return false;
}

/** The error for such a piece: the first value (in stored order) the target cannot hold, found again from the input. */
export function encodedOverflowError(
  task: { tensor: string; start: number; rows: number; cols: number; raw: Uint8Array; dtype: DType; delta?: LowRankRows },
  to: PieceTarget,
): StudioError {
  const w = decodeToF32(task.raw, task.dtype);
  if (task.delta) addLowRank(w, task.delta.b, task.delta.a, task.rows, task.cols, task.delta.r, task.delta.scale);
  let bad = -1;
  if (to === 'Q8_0') {
    for (let b = 0; b < w.length && bad < 0; b += Q8_0_BLOCK) {
      let amax = 0;
      let at = b;
      for (let i = b; i < b + Q8_0_BLOCK; i++) if (Math.abs(w[i]) > amax) [amax, at] = [Math.abs(w[i]), i];
      if (!(amax / 127 < F16_OVERFLOW)) bad = at;
    }
  } else {
    const limit = to === 'F16' ? F16_OVERFLOW : BF16_OVERFLOW;
    bad = w.findIndex((x) => !(Math.abs(x) < limit));
  }
  const where = bad < 0 ? '' : ` at [${task.start + Math.floor(bad / task.cols)}, ${bad % task.cols}]`;
  const value = bad < 0 ? 'a value' : `the value ${w[bad]}`;
  const why =
    to === 'Q8_0'
      ? `its Q8_0 block scale (absmax / 127) is past f16's largest value, 65504`
      : `${to} cannot hold it (its largest value is ${to === 'F16' ? '65504' : '3.39e38'})`;
  return new StudioError(
    `tensor ${task.tensor}: ${value}${where} becomes Inf in this export: ${why}. Nothing was written; export to ${to === 'F16' || to === 'Q8_0' ? 'bf16 or f32' : 'f32'} instead, or check the weights`,
    undefined,
    'export/non-finite',
  );
}

/** An export's verification: every tensor's error figures must be finite numbers (a NaN mean error is a failed check). */
export function refuseNonFiniteErrors(figures: { name: string; max?: number; mean?: number }[], file: string): void {
  const bad = figures.find((f) => (f.max !== undefined && !Number.isFinite(f.max)) || (f.mean !== undefined && !Number.isFinite(f.mean)));
  if (bad)
    throw new StudioError(
      `verification failed: tensor ${bad.name} has a quantization error of ${bad.max} (mean ${bad.mean}), not a finite number`,
      file,
      'export/verify',
    );
}
