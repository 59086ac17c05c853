import type { RowProblem } from './dataset.ts';
import type { EncodedExample } from './encode.ts';
import { IGNORE_INDEX } from './encode.ts';

export interface DataStats {
  rows: number;
  cutoffLen: number;
  /** Token lengths before the cut, in `bins` equal bins below cutoff_len; the last bin holds everything ≥ cutoff_len. */
  histogram: { from: number; to: number; count: number }[];
  truncated: number;
  truncatedShare: number;
  meanLength: number;
  maxLength: number;
  /** Labels that take part in the loss, and labels set to -100 (the prompt when train_on_inputs is off). */
  trainedTokens: number;
  maskedTokens: number;
}

/** Length statistics against cutoff_len, for the CLI summary and the wizard's histogram. */
export function datasetStats(examples: EncodedExample[], cutoffLen: number, bins = 16): DataStats {
  const lengths = examples.map((e) => e.fullLength);
  const binWidth = Math.max(1, Math.ceil(cutoffLen / bins));
  const nBelow = Math.ceil(cutoffLen / binWidth); // bins below cutoff_len (fewer than `bins` when cutoff_len < bins)
  const histogram = Array.from({ length: nBelow + 1 }, (_, i) => ({
    from: i * binWidth,
    to: i < nBelow ? Math.min((i + 1) * binWidth, cutoffLen) : Infinity,
    count: 0,
  }));
  histogram[nBelow].from = cutoffLen;
  for (const len of lengths) histogram[len >= cutoffLen ? nBelow : Math.floor(len / binWidth)].count++;
  let trained = 0;
  let masked = 0;
  for (const e of examples) {
    for (const l of e.labels) {
      if (l === IGNORE_INDEX) masked++;
      else trained++;
    }
  }
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

/**
 * Report entries for rows longer than cutoff_len (kept and cut, as Alpaca-LoRA does), and an error-free warning
 * for rows cut so short that no response token is left to train on.
 */
export function overLongProblems(examples: EncodedExample[], cutoffLen: number): RowProblem[] {
  const out: RowProblem[] = [];
  examples.forEach((e, i) => {
    if (!e.truncated) return;
    const row = e.row ?? i + 1;
    const nothingTrained = e.labels.every((l) => l === IGNORE_INDEX);
    out.push({
      row,
      reason: 'over-long',
      severity: 'warning',
      message: `row ${row}: ${e.lengthExact === false ? 'more than ' : ''}${e.fullLength} tokens, cut to cutoff_len ${cutoffLen}${nothingTrained ? '; nothing of the response is left to train on' : ''}`,
    });
  });
  return out;
}
