import { StudioError } from '../errors.ts';

/** Ranks taken 8 at a time: 8 coefficients held in locals let the column loop run 2-3x faster than a loop over k. */
const K_STEP = 8;

/**
 * W [rows, cols] += scale · B [rows, r] · A [r, cols], in place. Each element's update is summed over k = 0..r-1 in
 * f64, in that order, starting from 0, and added to W once, so the merged weight is W + ΔW rounded a single time (f32
 * rounding of every partial sum would add up). See LowRankUpdate.
 */
export function addLowRank(w: Float32Array, b: Float32Array, a: Float32Array, rows: number, cols: number, r: number, scale: number): void {
  new LowRankUpdate(a, r, cols, scale).addRows(w, b, rows);
}

/**
 * scale · B · A for a fixed A, applied a few rows at a time. The loop runs over the columns of a row with A
 * transposed ([cols, r] padded with zeros to a multiple of 8, a column's values adjacent) and 8 ranks at a time.
 * A term whose coefficient scale · B[o, k] is 0 (or a padding term) adds ±0 to a sum that is never -0, which changes
 * nothing unless A holds a NaN or ±Inf; then the zero terms are left out, as the first version of this loop did.
 */
export class LowRankUpdate {
  private readonly width: number;
  private readonly aT: Float64Array; // [cols, width], zeros past r
  private readonly aFinite: boolean;
  private readonly coef: Float64Array;
  private readonly sum: Float64Array; // a row's partial sums when r > 8

  constructor(
    a: Float32Array,
    private readonly r: number,
    private readonly cols: number,
    private readonly scale: number,
  ) {
    this.width = Math.ceil(r / K_STEP) * K_STEP;
    this.aT = new Float64Array(cols * this.width);
    for (let k = 0; k < r; k++) for (let i = 0; i < cols; i++) this.aT[i * this.width + k] = a[k * cols + i];
    this.aFinite = firstNonFinite(a) < 0;
    this.coef = new Float64Array(this.width);
    this.sum = new Float64Array(this.width > K_STEP ? cols : 0);
  }

  /** w [rows, cols] += scale · b [rows, r] · A. */
  addRows(w: Float32Array, b: Float32Array, rows: number): void {
    const { r, cols, coef, aT, width } = this;
    for (let o = 0; o < rows; o++) {
      let zeros = 0;
      for (let k = 0; k < r; k++) {
        coef[k] = this.scale * b[o * r + k];
        if (coef[k] === 0) zeros++;
      }
      const base = o * cols;
      if (zeros > 0 && !this.aFinite) addRowSkippingZeros(w, base, aT, coef, cols, r, width);
      else if (width === K_STEP) addRow8(w, base, aT, coef, cols);
      else {
        const sum = this.sum;
        sum.fill(0);
        for (let k0 = 0; k0 < width; k0 += K_STEP) accumulate8(sum, aT, coef, cols, width, k0);
        for (let i = 0; i < cols; i++) w[base + i] += sum[i];
      }
    }
  }
}

/** r ≤ 8, the common case: the whole sum in one expression, left to right (k ascending). */
function addRow8(w: Float32Array, base: number, aT: Float64Array, coef: Float64Array, cols: number): void {
  const [c0, c1, c2, c3, c4, c5, c6, c7] = coef;
  for (let i = 0; i < cols; i++) {
    const at = i * 8;
    w[base + i] +=
      0 +
      c0 * aT[at] +
      c1 * aT[at + 1] +
      c2 * aT[at + 2] +
      c3 * aT[at + 3] +
      c4 * aT[at + 4] +
      c5 * aT[at + 5] +
      c6 * aT[at + 6] +
      c7 * aT[at + 7];
  }
}

/** sum[i] += Σ_{k0 ≤ k < k0 + 8} coef[k] · Aᵀ[i, k], k ascending, the 8 coefficients held in locals. */
function accumulate8(sum: Float64Array, aT: Float64Array, coef: Float64Array, cols: number, width: number, k0: number): void {
  const c0 = coef[k0], c1 = coef[k0 + 1], c2 = coef[k0 + 2], c3 = coef[k0 + 3]; // prettier-ignore
  const c4 = coef[k0 + 4], c5 = coef[k0 + 5], c6 = coef[k0 + 6], c7 = coef[k0 + 7]; // prettier-ignore
  for (let i = 0; i < cols; i++) {
    const at = i * width + k0;
    sum[i] =
      sum[i] +
      c0 * aT[at] +
      c1 * aT[at + 1] +
      c2 * aT[at + 2] +
      c3 * aT[at + 3] +
      c4 * aT[at + 4] +
      c5 * aT[at + 5] +
      c6 * aT[at + 6] +
      c7 * aT[at + 7];
  }
}

/** One row, the terms with a zero coefficient left out (A holds a NaN or ±Inf, and 0 · Inf would make a NaN). */
function addRowSkippingZeros(
  w: Float32Array,
  base: number,
  aT: Float64Array,
  coef: Float64Array,
  cols: number,
  r: number,
  width: number,
): void {
  for (let i = 0; i < cols; i++) {
    const at = i * width;
    let s = 0;
    for (let k = 0; k < r; k++) if (coef[k] !== 0) s += coef[k] * aT[at + k];
    w[base + i] += s;
  }
}

/** The index of the first NaN or ±Inf in `w`, or -1. One pass of subtractions (x - x is NaN only for those). */
export function firstNonFinite(w: Float32Array): number {
  let probe = 0;
  for (let i = 0; i < w.length; i++) probe += w[i] - w[i];
  if (probe === 0) return -1;
  for (let i = 0; i < w.length; i++) if (!Number.isFinite(w[i])) return i;
  return -1;
}

/** The error for a merged value that is not finite: names the tensor and the element, and says nothing was written. */
export function nonFiniteMergeError(name: string, w: Float32Array, i: number, firstRow: number, cols: number): StudioError {
  return new StudioError(
    `merging the adapter into ${name} gives ${w[i]} at [${firstRow + Math.floor(i / cols)}, ${i % cols}]; nothing was written`,
    undefined,
    'merge/non-finite',
  );
}
