/**
 * Ratios measured on a busy machine move run to run (a loaded 2-core box once gave llama.cpp 1.5 tok/s decode, a
 * 16.8× "win"). So each ratio is taken per run, ours and the reference interleaved, and reported as the median with
 * the smallest and largest of the runs; a wide spread is flagged instead of trusted.
 */
export interface Spread {
  median: number;
  min: number;
  max: number;
  runs: number;
}

/** Largest/smallest run above this: the machine was too noisy for the median to mean much. */
export const WIDE_SPREAD = 1.5;

export function spreadOf(values: number[]): Spread {
  if (values.length === 0) throw new Error('spreadOf: no runs');
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median, min: s[0], max: s.at(-1)!, runs: s.length };
}

export function isWide(s: Spread): boolean {
  return s.min <= 0 || s.max / s.min > WIDE_SPREAD;
}

/** `0.42× (0.38–0.47)`, with a ⚠ when the spread is wide. */
export function formatRatio(s: Spread): string {
  return `${s.median.toFixed(2)}× (${s.min.toFixed(2)}–${s.max.toFixed(2)})${isWide(s) ? ' ⚠' : ''}`;
}

/** The median of per-run ratios ours[i] / reference[i]: runs are paired, so a slow moment hits both sides of a pair. */
export function pairedRatios(ours: number[], reference: number[]): Spread {
  return spreadOf(ours.map((v, i) => v / reference[i]));
}
