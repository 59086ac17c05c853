/** Running absolute error of a tensor written in pieces: max (NaNs skipped), sum (f64) and count. */
export class ErrorTally {
  max = 0;
  sum = 0;
  count = 0;
  get meanAbs(): number {
    return this.count ? this.sum / this.count : 0;
  }
  /** Add |original - restored| for every element, in element order (restored as f32). */
  add(original: Float32Array, restored: Float32Array): void {
    let { max, sum } = this;
    for (let i = 0; i < original.length; i++) {
      const e = Math.abs(original[i] - restored[i]);
      if (e > max) max = e;
      sum += e;
    }
    this.max = max;
    this.sum = sum;
    this.count += original.length;
  }
}

/** Values in a block of the export's error sums. */
export const TALLY_BLOCK = 32;

const partial = new Float64Array(8);

/**
 * The sum of a block of 32 errors, in the order the export's Q8_0 and F16 tallies use (and export-kernels.wat
 * computes in SIMD): the errors s[0..31] go into 8 running sums c[r] += s[8i + r] (i = 0..3), which add up as
 * ((c0 + c2) + (c4 + c6)) + ((c1 + c3) + (c5 + c7)). A tensor's sum takes a row at a time, each in blocks of 32
 * values from its start (their sums added in order), then the row's last values (fewer than 32) one by one: the order
 * is fixed by the rows alone, so the figures are the same whatever the pieces and threads.
 */
export function blockSum(errors: Float64Array): number {
  partial.fill(0);
  for (let i = 0; i < 4; i++) for (let r = 0; r < 8; r++) partial[r] += errors[8 * i + r];
  const [c0, c1, c2, c3, c4, c5, c6, c7] = partial;
  return c0 + c2 + (c4 + c6) + (c1 + c3 + (c5 + c7));
}
