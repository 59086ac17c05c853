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
  /** Tokens the loss sees: trained labels after the causal shift (a row's first label is predicted by nothing). */
  lossTokens: number;
  /** Rows that keep at least one trained token after the template, the prompt mask and cutoff_len. */
  trainableRows: number;
  /** Rows that keep none, by why: cut at cutoff_len before the response, or a response that adds no token. */
  lostRows: LostRows;
}

export interface LostRows {
  /** The prompt fills cutoff_len (train_on_inputs off), so the cut leaves nothing of the response. */
  cutAtCutoff: number;
  /** Not cut, yet every label is masked: the response adds no token after the prompt. */
  noResponseToken: number;
  /** The data file's row numbers of the first few lost rows. */
  firstRows: number[];
}

const LOST_ROWS_LISTED = 10;

/**
 * Labels of an example that reach the loss: every label but the first (position t predicts label t+1, and nothing
 * predicts the first token of a row) that is not IGNORE_INDEX. A row with none trains nothing.
 */
export function lossTokenCount(e: Pick<EncodedExample, 'labels'>): number {
  let n = 0;
  for (let i = 1; i < e.labels.length; i++) if (e.labels[i] !== IGNORE_INDEX) n++;
  return n;
}

/** Rows that keep at least one token to train on, and the others counted by why (for the report and the refusal). */
export function trainableRowCount(examples: EncodedExample[]): { trainableRows: number; lostRows: LostRows } {
  const lost: LostRows = { cutAtCutoff: 0, noResponseToken: 0, firstRows: [] };
  let trainable = 0;
  examples.forEach((e, i) => {
    if (lossTokenCount(e) > 0) return void trainable++;
    if (e.truncated) lost.cutAtCutoff++;
    else lost.noResponseToken++;
    if (lost.firstRows.length < LOST_ROWS_LISTED) lost.firstRows.push(e.row ?? i + 1);
  });
  return { trainableRows: trainable, lostRows: lost };
}

/**
 * The refusal of a run in which no row keeps a token to train on (every batch would be empty), in one line with the
 * count and the cause; undefined when some row trains.
 */
export function nothingToTrainReason(
  examples: EncodedExample[],
  s: { cutoffLen: number; trainOnInputs: boolean },
  what = 'training rows',
): string | undefined {
  const { trainableRows, lostRows } = trainableRowCount(examples);
  if (trainableRows > 0 || examples.length === 0) return undefined;
  const why = [
    lostRows.cutAtCutoff && `${lostRows.cutAtCutoff} cut at cutoff_len ${s.cutoffLen} before their response`,
    lostRows.noResponseToken && `${lostRows.noResponseToken} with a response that adds no token`,
  ].filter(Boolean);
  const fix = lostRows.cutAtCutoff
    ? `raise cutoff_len${s.trainOnInputs ? '' : ' or turn train_on_inputs on'}`
    : 'give the rows a non-empty output';
  return `0 of ${examples.length} ${what} keep a token to train on (${why.join(', ')}); ${fix}`;
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
  let loss = 0;
  for (const e of examples) {
    loss += lossTokenCount(e);
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
    lossTokens: loss,
    ...trainableRowCount(examples),
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
