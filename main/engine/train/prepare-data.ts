import { splitTrainValidation } from '../data/batches.ts';
import { loadAlpacaRows, type AlpacaRow } from '../data/dataset.ts';
import { encodeExample, type EncodedExample, type EncodeSettings } from '../data/encode.ts';
import type { PromptTemplate } from '../data/templates.ts';
import { StudioError } from '../errors.ts';
import type { StudioTokenizer } from '../tokenizer/tokenizer.ts';
import type { FinetuneConfig } from './config.ts';

/** How often long work says how far it is (a log line), and how long it runs before the event loop gets a turn. */
export const PROGRESS_MS = 2000;
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
export function tokenPastEmbeddingError(
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

/**
 * The data of a run: rows read (streamed, each capped), split, tokenized at cutoff_len with progress, and every token
 * checked against the embedding's rows.
 */
export async function prepareExamples(
  config: FinetuneConfig,
  tok: StudioTokenizer,
  template: PromptTemplate,
  embeddingRows: number,
  log: Log,
  /** How often to report progress (tests lower it). */
  progressMs = PROGRESS_MS,
): Promise<{ train: EncodedExample[]; validation: EncodedExample[]; sha256: string }> {
  const data = await loadAlpacaRows(config.data_path, {
    onBadRow: config.on_bad_rows,
    onProgress: (read, size) => log(`reading ${config.data_path}: ${(read / 2 ** 20).toFixed(0)} of ${(size / 2 ** 20).toFixed(0)} MiB`),
  });
  const errors = data.report.problems.filter((p) => p.severity === 'error');
  log(
    `data: ${data.report.total} rows in ${config.data_path}, ${data.rows.length} used${errors.length ? `, ${errors.length} skipped` : ''}`,
  );
  for (const p of errors.slice(0, 10)) log(`skipped ${p.message}`, 'warn');
  const encode = { cutoffLen: config.cutoff_len, trainOnInputs: config.train_on_inputs, addEosToken: config.add_eos_token };
  const split = splitTrainValidation(data.rows, config.val_set_size, 42, config.data_path);
  const started = performance.now();
  const progress = { done: 0, total: data.rows.length, started, lastReport: started, everyMs: progressMs, log };
  const train = await encodeAll(tok, template, split.train, encode, progress);
  const validation = await encodeAll(tok, template, split.validation, encode, progress);
  const seconds = (performance.now() - started) / 1000;
  if (seconds >= progressMs / 1000) log(`tokenized ${data.rows.length.toLocaleString('en-US')} rows in ${seconds.toFixed(1)} s`);
  for (const ex of [...train, ...validation]) {
    const id = tokenPastEmbedding(ex.inputIds, embeddingRows);
    if (id !== undefined) throw tokenPastEmbeddingError(tok, id, embeddingRows, { file: config.data_path, row: ex.row });
  }
  return { train, validation, sha256: data.sha256 };
}
