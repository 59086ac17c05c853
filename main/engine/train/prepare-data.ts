import { splitTrainValidation } from '../data/batches.ts';
import { loadAlpacaRows, type AlpacaRow } from '../data/dataset.ts';
import { encodeExample, type EncodedExample, type EncodeSettings } from '../data/encode.ts';
import { datasetStats, nothingToTrainReason, overLongProblems, type DataStats } from '../data/stats.ts';
import { loadTemplate, type PromptTemplate } from '../data/templates.ts';
import { StudioError } from '../errors.ts';
import { loadLlamaConfig } from '../llama/config.ts';
import { loadTokenizer, type StudioTokenizer } from '../tokenizer/tokenizer.ts';
import type { FinetuneConfig } from './config.ts';
import { planWarnings } from './run-plan.ts';

/** How often long work says how far it is (a log line), and how long it runs before the event loop gets a turn. */
const PROGRESS_MS = 2000;
const YIELD_MS = 50;

type Log = (message: string, level?: 'info' | 'warn') => void;

/**
 * The first token of an example whose id has no row in the model's embedding, or undefined. A tokenizer can hold
 * added tokens the checkpoint never got rows for (tokenizer.json edited, embeddings not resized): the lookup would
 * read past the table.
 */
export function tokenPastEmbedding(ids: readonly number[], rows: number): number | undefined {
  for (const id of ids) if (id >= rows) return id;
  return undefined;
}

/** The error for such a token: one line naming the row, the token and the figures, and what to do. */
function tokenPastEmbeddingError(
  tok: StudioTokenizer,
  id: number,
  rows: number,
  where: { file?: string; row?: number; what?: string },
): StudioError {
  const text = tok.idToToken(id);
  const at = where.row !== undefined ? `row ${where.row}: ` : where.what ? `${where.what}: ` : '';
  return new StudioError(
    `${at}token ${text === undefined ? '' : `${JSON.stringify(text)} `}(id ${id}) has no row in the model's embedding, which has ${rows} (config.json vocab_size); the tokenizer holds tokens the model cannot read. Resize the model's embeddings and lm_head to the tokenizer, or remove the token from tokenizer.json`,
    where.file,
    'data/token-out-of-range',
  );
}

/** Encode rows in order, yielding to the event loop as it goes and logging progress when it takes long. */
async function encodeAll(
  tok: StudioTokenizer,
  template: PromptTemplate,
  rows: AlpacaRow[],
  settings: EncodeSettings,
  progress: { done: number; total: number; started: number; lastReport: number; everyMs: number; log: Log },
): Promise<EncodedExample[]> {
  const out: EncodedExample[] = [];
  let turn = performance.now();
  for (const r of rows) {
    out.push(encodeExample(tok, template, r, settings));
    progress.done++;
    const now = performance.now();
    if (now - turn > YIELD_MS) {
      // Progress events (IPC, the WebSocket) and a stop request need the event loop.
      await new Promise((resolve) => setImmediate(resolve));
      turn = performance.now();
    }
    if (now - progress.lastReport >= progress.everyMs) {
      progress.lastReport = now;
      const seconds = ((now - progress.started) / 1000).toFixed(1);
      progress.log(`tokenizing: ${progress.done.toLocaleString('en-US')} of ${progress.total.toLocaleString('en-US')} rows (${seconds} s)`);
    }
  }
  return out;
}

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
  /** The data file's SHA-256, hashed as it streamed (a resumed run says when its data changed). */
  dataSha256: string;
  /** What the run's log should say about the data (the caller writes it once the run folder exists). */
  notes: DataNote[];
}

/**
 * Read the data file (streamed, each row capped), split off validation, encode every row with the model's tokenizer
 * (template, prompt mask, cutoff_len; a long row only as far as cutoff_len needs) with progress, check every token
 * against the embedding's rows, and count what is left to train on. A run whose training rows keep no token to train
 * on is refused here, in one line with the count, before a weight is read.
 */
export async function prepareTrainingData(config: FinetuneConfig, opts: { log?: Log; progressMs?: number } = {}): Promise<PreparedData> {
  const progressLog: Log = opts.log ?? (() => undefined);
  const template = await loadTemplate(config.prompt_template_name);
  const tokenizer = await loadTokenizer(config.base_model);
  const embeddingRows = (await loadLlamaConfig(config.base_model)).vocabSize;
  const notes: DataNote[] = [];
  const data = await loadAlpacaRows(config.data_path, {
    onBadRow: config.on_bad_rows,
    onProgress: (read, size) =>
      progressLog(`reading ${config.data_path}: ${(read / 2 ** 20).toFixed(0)} of ${(size / 2 ** 20).toFixed(0)} MiB`),
  });
  const errors = data.report.problems.filter((p) => p.severity === 'error');
  notes.push({
    level: 'info',
    message: `data: ${data.report.total} rows in ${config.data_path}, ${data.rows.length} used${errors.length ? `, ${errors.length} skipped` : ''}`,
  });
  for (const p of errors.slice(0, 10)) notes.push({ level: 'warn', message: `skipped ${p.message}` });
  const encode = { cutoffLen: config.cutoff_len, trainOnInputs: config.train_on_inputs, addEosToken: config.add_eos_token };
  const split = splitTrainValidation(data.rows, config.val_set_size, 42, config.data_path);
  const started = performance.now();
  const everyMs = opts.progressMs ?? PROGRESS_MS;
  const progress = { done: 0, total: data.rows.length, started, lastReport: started, everyMs, log: progressLog };
  const trainExamples = await encodeAll(tokenizer, template, split.train, encode, progress);
  const valExamples = await encodeAll(tokenizer, template, split.validation, encode, progress);
  const seconds = (performance.now() - started) / 1000;
  if (seconds >= everyMs / 1000) progressLog(`tokenized ${data.rows.length.toLocaleString('en-US')} rows in ${seconds.toFixed(1)} s`);
  for (const ex of [...trainExamples, ...valExamples]) {
    const id = tokenPastEmbedding(ex.inputIds, embeddingRows);
    if (id !== undefined) throw tokenPastEmbeddingError(tokenizer, id, embeddingRows, { file: config.data_path, row: ex.row });
  }
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
  return { tokenizer, template, trainExamples, valExamples, stats, dataSha256: data.sha256, notes };
}
