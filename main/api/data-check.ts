import type { DataCheck, ParsedRequest } from '../contract/contract.ts';
import { loadAlpacaRows } from '../engine/data/dataset.ts';
import { encodeExample, IGNORE_INDEX, type EncodedExample } from '../engine/data/encode.ts';
import { datasetStats } from '../engine/data/stats.ts';
import { loadTemplate } from '../engine/data/templates.ts';
import { loadTokenizer, type StudioTokenizer } from '../engine/tokenizer/tokenizer.ts';

/** Rows tokenized for the statistics: enough for a faithful histogram, few enough to answer at once. */
const STATS_ROWS = 5000;
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

/** The wizard's Data step: the engine's row validation, and with a base model its token statistics and a preview. */
export async function checkData(req: ParsedRequest<'data.check'>): Promise<DataCheck> {
  const { rows, report } = loadAlpacaRows(req.path, { onBadRow: 'skip' });
  const reply: DataCheck = {
    file: report.file,
    format: report.format,
    total: report.total,
    kept: report.kept,
    problems: report.problems.slice(0, MAX_PROBLEMS),
    problemCount: report.problems.length,
  };
  if (!req.baseModel) return { ...reply, note: 'Choose a base model to see token lengths and the prompt preview.' };
  const template = loadTemplate(req.template);
  const tok = await loadTokenizer(req.baseModel);
  const settings = { cutoffLen: req.cutoffLen, trainOnInputs: req.trainOnInputs, addEosToken: req.addEosToken };
  const encoded = rows.slice(0, STATS_ROWS).map((r) => encodeExample(tok, template, r, settings));
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
  if (rows.length > STATS_ROWS) reply.note = `Token statistics from the first ${STATS_ROWS} of ${rows.length} rows.`;
  return reply;
}
