import type { EncodedExample } from './encode.ts';
import { IGNORE_INDEX } from './encode.ts';

export interface DataStats {
  rows: number;
  cutoffLen: number;
  /** Token lengths before the cut, in bins of `binWidth`; the last bin holds everything ≥ cutoff_len. */
  histogram: { from: number; to: number; count: number }[];
  truncated: number;
  truncatedShare: number;
  meanLength: number;
  maxLength: number;
  trainedTokens: number;
  maskedTokens: number;
}

/** Length statistics against cutoff_len, for the CLI summary and the wizard's histogram. */
export function datasetStats(examples: EncodedExample[], cutoffLen: number, bins = 16): DataStats {
  const lengths = examples.map((e) => e.fullLength);
  const binWidth = Math.max(1, Math.ceil(cutoffLen / bins));
  const histogram = Array.from({ length: bins + 1 }, (_, i) => ({ from: i * binWidth, to: i < bins ? (i + 1) * binWidth : Infinity, count: 0 }));
  for (const len of lengths) histogram[len >= cutoffLen ? bins : Math.floor(len / binWidth)].count++;
  let trained = 0;
  let masked = 0;
  for (const e of examples) for (const l of e.labels) l === IGNORE_INDEX ? masked++ : trained++;
  const truncated = examples.filter((e) => e.truncated).length;
  return {
    rows: examples.length,
    cutoffLen,
    histogram,
    truncated,
    truncatedShare: examples.length ? truncated / examples.length : 0,
    meanLength: lengths.reduce((a, b) => a + b, 0) / Math.max(1, lengths.length),
    maxLength: Math.max(0, ...lengths),
    trainedTokens: trained,
    maskedTokens: masked,
  };
}
