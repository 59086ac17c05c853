import { createHash } from 'node:crypto';
import { FormatError, StudioError } from '../errors.ts';
import { describeJsonError } from '../fs/json-file.ts';
import { streamRegularFile } from '../fs/regular-file.ts';
import { RowSplitter, RowStreamError, type RowRecord } from './row-stream.ts';

/** One instruction example. `input` is '' when the row has none. */
export interface AlpacaRow {
  instruction: string;
  input: string;
  output: string;
  /** 1-based position in the file: array index + 1, or the line number for JSON lines. */
  row: number;
}

export type ProblemReason =
  | 'not valid json'
  | 'not an object'
  | 'missing field'
  | 'not a string'
  | 'empty output'
  | 'empty instruction'
  | 'duplicate'
  | 'over-long'
  | 'too large'
  | 'token out of range';

export interface RowProblem {
  row: number;
  field?: string;
  reason: ProblemReason;
  /** 'error' rows are skipped (or stop the load); 'warning' rows are kept (over-long rows are truncated). */
  severity: 'error' | 'warning';
  message: string;
  /** The row a duplicate repeats, and the JSON type found where a string belongs: for UIs that say it in their language. */
  ofRow?: number;
  valueType?: string;
  /** A too-large row's bytes and the limit; an out-of-range token's id and the embedding's rows. */
  size?: number;
  limit?: number;
  tokenId?: number;
}

interface ValidationReport {
  file: string;
  format: 'json' | 'jsonl';
  total: number;
  kept: number;
  problems: RowProblem[];
}

interface LoadedDataset {
  rows: AlpacaRow[];
  report: ValidationReport;
  /** SHA-256 of the file's bytes, computed as they streamed by (a resumed run compares it). */
  sha256: string;
}

/**
 * The longest row (its JSON text) the studio reads: far above any instruction example (cutoff_len keeps at most a few
 * thousand tokens of it), far below what would exhaust memory. A longer row is refused by number, never parsed.
 */
const MAX_ROW_BYTES = 32 * 2 ** 20;

interface LoadOptions {
  onBadRow?: 'skip' | 'stop';
  /** Keep only the first N usable rows (the data check); every row is still read, checked and counted. */
  keepRows?: number;
  /** Rows longer than this are refused (default MAX_ROW_BYTES; tests lower it). */
  maxRowBytes?: number;
  /** Called as the file is read (bytes so far, the file's size), at most about once a second. */
  onProgress?: (bytesRead: number, size: number) => void;
}

const mib = (n: number) => (n / 2 ** 20).toFixed(1);

/** A duplicate's fingerprint: the three fields, length-prefixed, hashed (a row's text is never kept twice). */
function fingerprint(r: { instruction: string; input: string; output: string }): string {
  const h = createHash('sha1');
  for (const f of [r.instruction, r.input, r.output]) h.update(`${f.length}:`).update(f);
  return h.digest('base64');
}

/**
 * Read Alpaca rows from a JSON array or JSON lines file and check every row. The file is streamed (a regular file
 * only, read asynchronously), each row parsed on its own and capped at MAX_ROW_BYTES, so memory holds the rows kept
 * and never the file. Bad rows are listed in the report and skipped, or, with onBadRow 'stop', the first one throws
 * naming the file and row.
 */
export async function loadAlpacaRows(file: string, opts: LoadOptions = {}): Promise<LoadedDataset> {
  const cap = opts.maxRowBytes ?? MAX_ROW_BYTES;
  const splitter = new RowSplitter(cap);
  const hash = createHash('sha256');
  const problems: RowProblem[] = [];
  const rows: AlpacaRow[] = [];
  const seen = new Map<string, number>();
  let total = 0;
  let kept = 0;
  let firstValue: unknown;
  const where = () => (splitter.format === 'json' ? 'row' : 'line');

  const take = (record: RowRecord) => {
    if ('text' in record && record.text.trim() === '') return; // a blank line
    total++;
    let value: unknown;
    let problem: RowProblem | undefined;
    if ('tooLarge' in record) {
      problem = {
        row: record.row,
        reason: 'too large',
        severity: 'error',
        size: record.tooLarge,
        limit: cap,
        message: `${where()} ${record.row}: ${mib(record.tooLarge)} MiB, over the ${mib(cap)} MiB a row may be; split or shorten it`,
      };
    } else {
      try {
        value = JSON.parse(record.text);
      } catch (e) {
        if (splitter.format === 'json')
          throw new FormatError(`not valid JSON (row ${record.row}: ${describeJsonError(e)})`, file, 'data/json');
        // One broken line is one bad row: skipped and reported with on_bad_rows 'skip', fatal with 'stop'.
        problem = {
          row: record.row,
          reason: 'not valid json',
          severity: 'error',
          message: `line ${record.row}: not valid JSON (${describeJsonError(e)})`,
        };
      }
      if (total === 1) firstValue = value;
      problem ??= checkRow(value, record.row, where());
    }
    if (problem) {
      problems.push(problem);
      if (opts.onBadRow === 'stop')
        throw new FormatError(`${problem.message} (on_bad_rows is 'stop'; fix the row or use 'skip')`, file, 'data/bad-row');
      return;
    }
    const v = value as Record<string, unknown>;
    const row: AlpacaRow = {
      instruction: v.instruction as string,
      input: (v.input as string | undefined) ?? '',
      output: v.output as string,
      row: record.row,
    };
    const key = fingerprint(row);
    const first = seen.get(key);
    if (first !== undefined) {
      // Kept, as Alpaca-LoRA trains on every row; the report lets the user decide.
      problems.push({
        row: record.row,
        reason: 'duplicate',
        severity: 'warning',
        ofRow: first,
        message: `${where()} ${record.row}: same instruction, input and output as ${where()} ${first}`,
      });
    } else seen.set(key, record.row);
    kept++;
    if (opts.keepRows === undefined || rows.length < opts.keepRows) rows.push(row);
  };

  let size = 0;
  let read = 0;
  let lastReport = performance.now();
  try {
    for await (const chunk of streamRegularFile(file, { onOpen: (n) => (size = n) })) {
      hash.update(chunk);
      read += chunk.length;
      for (const record of splitter.push(chunk)) take(record);
      if (opts.onProgress && performance.now() - lastReport > 1000) {
        lastReport = performance.now();
        opts.onProgress(read, size);
      }
    }
    for (const record of splitter.end()) take(record);
  } catch (e) {
    if (e instanceof RowStreamError) {
      if (e.message === 'shape')
        throw new FormatError(
          'expected a JSON array of rows or JSON lines (one {"instruction", "input", "output"} object per line)',
          file,
          'data/shape',
        );
      throw new FormatError(`not valid JSON (${e.message})`, file, 'data/json');
    }
    if (e instanceof StudioError && e.code.startsWith('fs/') && !(e instanceof FormatError))
      throw new FormatError(`cannot read data file (${e.message.replace(`${file}: `, '')})`, file, 'data/read');
    throw e;
  }
  if (!splitter.format) throw new FormatError('data file is empty', file, 'data/empty');
  const format = splitter.format;

  // A single JSON object, on one line or pretty-printed over several: JSON.parse of the whole file reads it as one.
  const single = splitter.singleValueText();
  if (single !== undefined) {
    try {
      firstValue = JSON.parse(single);
      problems.length = 0;
      rows.length = 0;
      total = 0;
      kept = 0;
      seen.clear();
      take({ row: 1, text: single });
    } catch {
      // not one value after all: the lines stand as read
    }
  }
  if (format === 'jsonl' && total === 1 && firstValue && typeof firstValue === 'object' && !Array.isArray(firstValue)) {
    const arrays = Object.entries(firstValue)
      .filter(([, v]) => Array.isArray(v))
      .map(([k]) => `"${k}"`);
    if (arrays.length > 0) {
      throw new FormatError(
        `a JSON object, not a list of rows; the rows may be under ${arrays.join(', ')}: save them as a top-level JSON array or as JSON lines`,
        file,
        'data/shape',
      );
    }
  }
  if (total === 0) throw new FormatError('data file holds no rows', file, 'data/empty');
  if (kept === 0) throw new FormatError(`no usable rows (${problems.length} bad; first: ${problems[0]?.message})`, file, 'data/no-rows');
  return { rows, report: { file, format, total, kept, problems }, sha256: hash.digest('hex') };
}

function checkRow(value: unknown, row: number, where: string): RowProblem | undefined {
  const at = `${where} ${row}`;
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    return { row, reason: 'not an object', severity: 'error', message: `${at}: expected an object with instruction, input and output` };
  }
  const v = value as Record<string, unknown>;
  for (const field of ['instruction', 'output'] as const) {
    if (!(field in v) || v[field] === null || v[field] === undefined) {
      return { row, field, reason: 'missing field', severity: 'error', message: `${at}: missing "${field}"` };
    }
  }
  for (const field of ['instruction', 'input', 'output'] as const) {
    if (field in v && v[field] !== null && v[field] !== undefined && typeof v[field] !== 'string') {
      return {
        row,
        field,
        reason: 'not a string',
        severity: 'error',
        valueType: typeof v[field],
        message: `${at}: "${field}" is a ${typeof v[field]}, not a string`,
      };
    }
  }
  if ((v.output as string).trim() === '')
    return { row, field: 'output', reason: 'empty output', severity: 'error', message: `${at}: "output" is empty` };
  if ((v.instruction as string).trim() === '') {
    return { row, field: 'instruction', reason: 'empty instruction', severity: 'error', message: `${at}: "instruction" is empty` };
  }
  return undefined;
}
