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

/** Runs of consecutive tokens that are all trained or all masked, decoded to text. */
function segments(tok: StudioTokenizer, ex: EncodedExample): { text: string; trained: boolean }[] {
  const out: { text: string; trained: boolean }[] = [];
  let start = 0;
  for (let i = 1; i <= ex.inputIds.length; i++) {
    const trained = ex.labels[start] !== IGNORE_INDEX;
    if (i === ex.inputIds.length || (ex.labels[i] !== IGNORE_INDEX) !== trained) {
      out.push({ text: tok.decode(ex.inputIds.slice(start, i)), trained });
      start = i;
    }
  }
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
  };
  reply.preview = encoded.slice(0, PREVIEW_ROWS).map((ex, i) => ({ row: rows[i].row, segments: segments(tok, ex) }));
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
