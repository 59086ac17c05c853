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
  };
  reply.preview = encoded.slice(0, PREVIEW_ROWS).map((ex, i) => ({ row: rows[i].row, segments: segments(tok, ex) }));
  if (rows.length > STATS_ROWS) reply.note = `Token statistics from the first ${STATS_ROWS} of ${rows.length} rows.`;
  return reply;
}
