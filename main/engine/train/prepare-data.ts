import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { splitTrainValidation } from '../data/batches.ts';
import { loadAlpacaRows } from '../data/dataset.ts';
import { encodeExample, type EncodedExample } from '../data/encode.ts';
import { datasetStats, nothingToTrainReason, overLongProblems, type DataStats } from '../data/stats.ts';
import { loadTemplate, type PromptTemplate } from '../data/templates.ts';
import { StudioError } from '../errors.ts';
import { loadTokenizer, type StudioTokenizer } from '../tokenizer/tokenizer.ts';
import type { FinetuneConfig } from './config.ts';
import { planWarnings } from './run-plan.ts';

export interface DataNote {
  level: 'info' | 'warn';
  message: string;
}

/** A run's data, read, split, encoded and counted, before any weight is loaded. */
export interface PreparedData {
  tokenizer: StudioTokenizer;
  template: PromptTemplate;
  trainExamples: EncodedExample[];
  valExamples: EncodedExample[];
  /** Statistics of the training split. */
  stats: DataStats;
  /** The data file's SHA-256 (a resumed run says when its data changed). */
  dataSha256: string;
  /** What the run's log should say about the data (the caller writes it once the run folder exists). */
  notes: DataNote[];
}

/**
 * Read the data file, split off validation, encode every row with the model's tokenizer (template, prompt mask,
 * cutoff_len) and count what is left to train on. A run whose training rows keep no token to train on is refused here,
 * in one line with the count, before a weight is read (its folder then holds only the log of this start).
 */
export async function prepareTrainingData(config: FinetuneConfig): Promise<PreparedData> {
  const template = loadTemplate(config.prompt_template_name);
  const tokenizer = await loadTokenizer(config.base_model);
  const notes: DataNote[] = [];
  const data = loadAlpacaRows(config.data_path, { onBadRow: config.on_bad_rows });
  const errors = data.report.problems.filter((p) => p.severity === 'error');
  notes.push({
    level: 'info',
    message: `data: ${data.report.total} rows in ${config.data_path}, ${data.rows.length} used${errors.length ? `, ${errors.length} skipped` : ''}`,
  });
  for (const p of errors.slice(0, 10)) notes.push({ level: 'warn', message: `skipped ${p.message}` });
  const encode = { cutoffLen: config.cutoff_len, trainOnInputs: config.train_on_inputs, addEosToken: config.add_eos_token };
  const split = splitTrainValidation(data.rows, config.val_set_size, 42, config.data_path);
  const trainExamples = split.train.map((r) => encodeExample(tokenizer, template, r, encode));
  const valExamples = split.validation.map((r) => encodeExample(tokenizer, template, r, encode));
  const refusal = nothingToTrainReason(trainExamples, encode);
  if (refusal) throw new StudioError(refusal, config.data_path, 'data/nothing-to-train');
  const stats = datasetStats(trainExamples, config.cutoff_len);
  const overLong = overLongProblems([...trainExamples, ...valExamples], config.cutoff_len);
  for (const p of overLong.slice(0, 5)) notes.push({ level: 'warn', message: p.message });
  if (overLong.length > 5)
    notes.push({ level: 'warn', message: `${overLong.length - 5} more rows are cut at cutoff_len ${config.cutoff_len}` });
  const lost = stats.rows - stats.trainableRows;
  if (lost > 0)
    notes.push({
      level: 'warn',
      message: `${lost} of ${stats.rows} training rows keep no token to train on (${stats.lostRows.cutAtCutoff} cut at cutoff_len ${config.cutoff_len} before their response, ${stats.lostRows.noResponseToken} with a response that adds no token); their micro-batches train on the other rows`,
    });
  notes.push({
    level: 'info',
    message:
      `train ${trainExamples.length} / validation ${valExamples.length} examples; mean ${stats.meanLength.toFixed(0)} tokens, ` +
      `${(stats.truncatedShare * 100).toFixed(1)}% cut at cutoff_len ${config.cutoff_len}; ${stats.lossTokens} tokens trained per epoch`,
  });
  for (const w of planWarnings(config, data.rows.length)) if (w.severity === 'warning') notes.push({ level: 'warn', message: w.message });
  const dataSha256 = createHash('sha256').update(readFileSync(config.data_path)).digest('hex');
  return { tokenizer, template, trainExamples, valExamples, stats, dataSha256, notes };
}
