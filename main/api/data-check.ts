import type { DataCheck, ParsedRequest } from '../contract/contract.ts';
import { loadAlpacaRows, type RowProblem } from '../engine/data/dataset.ts';
import { encodeExample, IGNORE_INDEX, type EncodedExample } from '../engine/data/encode.ts';
import { datasetStats } from '../engine/data/stats.ts';
import { loadTemplate } from '../engine/data/templates.ts';
import { loadLlamaConfig } from '../engine/llama/config.ts';
import { loadTokenizer, type StudioTokenizer } from '../engine/tokenizer/tokenizer.ts';
import { tokenPastEmbedding } from '../engine/train/prepare-data.ts';

/** Rows tokenized for the statistics: enough for a faithful histogram, few enough to answer at once. */
const STATS_ROWS = 5000;
/** The studio process tokenizes for at most this long (a row costs at most what cutoff_len needs of it). */
const STATS_BUDGET_MS = 5000;
/** How long the tokenizing runs before the event loop gets a turn: other calls answer meanwhile. */
const YIELD_MS = 20;
const PREVIEW_ROWS = 3;
const MAX_PROBLEMS = 200;

/**
 * Runs of consecutive tokens that are all trained or all masked, as text. The ids go through the stream decoder, so
 * a character spread over several byte tokens (Chinese, with byte fallback) is shown whole, in the run of the token
 * that completes it, and the spaces SentencePiece strips from a decode's start are kept. A character left incomplete
 * by the cut at cutoff_len is dropped rather than shown as U+FFFD.
 */
export function previewSegments(tok: StudioTokenizer, ex: EncodedExample): { text: string; trained: boolean }[] {
  const out: { text: string; trained: boolean }[] = [];
  const decoder = tok.createStreamDecoder();
  const add = (text: string, trained: boolean) => {
    if (!text) return;
    const last = out.at(-1);
    if (last && last.trained === trained) last.text += text;
    else out.push({ text, trained });
  };
  ex.inputIds.forEach((id, i) => add(decoder.push(id), ex.labels[i] !== IGNORE_INDEX));
  const last = ex.labels.length ? ex.labels[ex.labels.length - 1] !== IGNORE_INDEX : false;
  add(decoder.flush().replace(/\uFFFD+$/, ''), last);
  return out;
}

/**
 * The wizard's Data step: the engine's row validation, and with a base model its token statistics and a preview. The
 * file is streamed and each row capped as training reads it (loadAlpacaRows); only the first STATS_ROWS rows are kept,
 * tokenized only as far as cutoff_len needs, within a time budget, yielding to the event loop as they go.
 */
export async function checkData(req: ParsedRequest<'data.check'>): Promise<DataCheck> {
  const { rows, report } = await loadAlpacaRows(req.path, { onBadRow: 'skip', keepRows: STATS_ROWS });
  const reply: DataCheck = {
    file: report.file,
    format: report.format,
    total: report.total,
    kept: report.kept,
    problems: report.problems.slice(0, MAX_PROBLEMS),
    problemCount: report.problems.length,
  };
  if (!req.baseModel) return { ...reply, note: 'Choose a base model to see token lengths and the prompt preview.' };
  const template = await loadTemplate(req.template);
  const tok = await loadTokenizer(req.baseModel);
  // The embedding's rows, to name tokens it has none for (a folder without a readable config.json only skips that check).
  const embeddingRows = await loadLlamaConfig(req.baseModel).then(
    (c) => c.vocabSize,
    () => Infinity,
  );
  const settings = { cutoffLen: req.cutoffLen, trainOnInputs: req.trainOnInputs, addEosToken: req.addEosToken };
  const encoded: EncodedExample[] = [];
  const started = performance.now();
  let turn = started;
  let outOfTime = false;
  const tokenProblems: RowProblem[] = [];
  for (const r of rows) {
    const ex = encodeExample(tok, template, r, settings);
    encoded.push(ex);
    const id = tokenPastEmbedding(ex.inputIds, embeddingRows);
    if (id !== undefined) {
      const token = tok.idToToken(id);
      tokenProblems.push({
        row: r.row,
        reason: 'token out of range',
        severity: 'error',
        tokenId: id,
        limit: embeddingRows,
        message: `row ${r.row}: token ${token === undefined ? '' : `${JSON.stringify(token)} `}(id ${id}) has no row in the model's embedding (${embeddingRows} rows); training would refuse this data`,
      });
    }
    const now = performance.now();
    if (now - started > STATS_BUDGET_MS) {
      outOfTime = true;
      break;
    }
    if (now - turn > YIELD_MS) {
      await new Promise((resolve) => setImmediate(resolve));
      turn = performance.now();
    }
  }
  if (tokenProblems.length) {
    reply.problems = [...tokenProblems, ...reply.problems].slice(0, MAX_PROBLEMS);
    reply.problemCount += tokenProblems.length;
  }
  const s = datasetStats(encoded, req.cutoffLen);
  reply.stats = {
    rows: s.rows,
    cutoffLen: s.cutoffLen,
    histogram: s.histogram.map((b) => ({ from: b.from, to: Number.isFinite(b.to) ? b.to : null, count: b.count })),
    truncated: s.truncated,
    meanLength: s.meanLength,
    maxLength: s.maxLength,
    trainedTokens: s.trainedTokens,
    maskedTokens: s.maskedTokens,
    lossTokens: s.lossTokens,
    trainableRows: s.trainableRows,
    lostRows: s.lostRows,
  };
  // The first rows, and the first row that keeps nothing to train on (so the report shows where it was cut).
  const shown = encoded.slice(0, PREVIEW_ROWS);
  const lost = encoded.find((e) => e.row === s.lostRows.firstRows[0]);
  if (lost && !shown.includes(lost)) shown.push(lost);
  reply.preview = shown.map((ex) => ({ row: ex.row ?? 0, cut: ex.truncated, segments: previewSegments(tok, ex) }));
  const notes: string[] = [];
  if (encoded.length < report.kept)
    notes.push(
      `Token statistics from the first ${encoded.length} of ${report.kept} rows${outOfTime ? ` (the check stops tokenizing after ${STATS_BUDGET_MS / 1000} s)` : ''}.`,
    );
  if (encoded.some((e) => e.lengthExact === false))
    notes.push('Very long rows were tokenized only as far as cutoff_len needs: their lengths are lower bounds.');
  if (notes.length) reply.note = notes.join(' ');
  return reply;
}
