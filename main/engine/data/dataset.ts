import { readFileSync, statSync } from 'node:fs';
import { FormatError } from '../errors.ts';

/** One instruction example. `input` is '' when the row has none. */
export interface AlpacaRow {
  instruction: string;
  input: string;
  output: string;
  /** 1-based position in the file: array index + 1, or the line number for JSON lines. */
  row: number;
}

export type ProblemReason =
  'not valid json' | 'not an object' | 'missing field' | 'not a string' | 'empty output' | 'empty instruction' | 'duplicate' | 'over-long';

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
}

export interface ValidationReport {
  file: string;
  format: 'json' | 'jsonl';
  total: number;
  kept: number;
  problems: RowProblem[];
}

export interface LoadedDataset {
  rows: AlpacaRow[];
  report: ValidationReport;
}

/**
 * Read Alpaca rows from a JSON array or JSON lines file and check every row. Bad rows are listed in the report
 * and skipped, or, with onBadRow 'stop', the first one throws naming the file and row.
 */
export function loadAlpacaRows(file: string, opts: { onBadRow?: 'skip' | 'stop' } = {}): LoadedDataset {
  let text: string;
  try {
    if (!statSync(file).isFile()) throw new FormatError('cannot read data file (not a file)', file, 'data/read');
    text = readFileSync(file, 'utf8');
  } catch (e) {
    if (e instanceof FormatError) throw e;
    throw new FormatError(`cannot read data file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, file, 'data/read');
  }
  const body = text.replace(/^\uFEFF/, '');
  if (body.trim() === '') throw new FormatError('data file is empty', file, 'data/empty');
  const { format, raw } = parseRows(body, file);
  if (raw.length === 0) throw new FormatError('data file holds no rows', file, 'data/empty');

  const problems: RowProblem[] = [];
  const rows: AlpacaRow[] = [];
  const seen = new Map<string, number>();
  const where = format === 'json' ? 'row' : 'line';
  for (const { value, row, jsonError } of raw) {
    const problem: RowProblem | undefined = jsonError
      ? { row, reason: 'not valid json', severity: 'error', message: `${where} ${row}: not valid JSON (${jsonError})` }
      : checkRow(value, row, where);
    let accepted: AlpacaRow | undefined;
    if (problem) problems.push(problem);
    else {
      const v = value as Record<string, unknown>;
      accepted = { instruction: v.instruction as string, input: (v.input as string | undefined) ?? '', output: v.output as string, row };
      const key = JSON.stringify([accepted.instruction, accepted.input, accepted.output]);
      const first = seen.get(key);
      if (first !== undefined) {
        // Kept, as Alpaca-LoRA trains on every row; the report lets the user decide.
        problems.push({
          row,
          reason: 'duplicate',
          severity: 'warning',
          ofRow: first,
          message: `${where} ${row}: same instruction, input and output as ${where} ${first}`,
        });
      } else seen.set(key, row);
    }
    if (accepted) rows.push(accepted);
    else if (opts.onBadRow === 'stop')
      throw new FormatError(
        `${problems[problems.length - 1].message} (on_bad_rows is 'stop'; fix the row or use 'skip')`,
        file,
        'data/bad-row',
      );
  }
  if (rows.length === 0)
    throw new FormatError(`no usable rows (${problems.length} bad; first: ${problems[0]?.message})`, file, 'data/no-rows');
  return { rows, report: { file, format, total: raw.length, kept: rows.length, problems } };
}

/**
 * A JSON array of rows, or JSON lines (one object per line), as HF datasets' "json" loader takes them.
 * A single JSON object that holds an array (`{"data": [...]}`) is refused with a hint rather than read as one row.
 */
/** A row as read; `jsonError` when its JSON line does not parse (then it is a bad row like any other). */
type RawRow = { value: unknown; row: number; jsonError?: string };

function parseRows(body: string, file: string): { format: 'json' | 'jsonl'; raw: RawRow[] } {
  const trimmed = body.trim();
  if (trimmed.startsWith('[')) {
    let json: unknown;
    try {
      json = JSON.parse(trimmed);
    } catch (e) {
      throw new FormatError(`not valid JSON (${(e as Error).message})`, file, 'data/json');
    }
    return { format: 'json', raw: (json as unknown[]).map((value, i) => ({ value, row: i + 1 })) };
  }
  if (!trimmed.startsWith('{')) {
    throw new FormatError(
      'expected a JSON array of rows or JSON lines (one {"instruction", "input", "output"} object per line)',
      file,
      'data/shape',
    );
  }
  let whole: unknown;
  try {
    whole = JSON.parse(trimmed);
  } catch {
    whole = undefined; // several lines: JSON lines
  }
  if (whole && typeof whole === 'object') {
    const arrays = Object.entries(whole)
      .filter(([, v]) => Array.isArray(v))
      .map(([k]) => `"${k}"`);
    if (arrays.length > 0) {
      throw new FormatError(
        `a JSON object, not a list of rows; the rows may be under ${arrays.join(', ')}: save them as a top-level JSON array or as JSON lines`,
        file,
        'data/shape',
      );
    }
    return { format: 'jsonl', raw: [{ value: whole, row: 1 }] };
  }
  const raw: RawRow[] = [];
  body.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '') return;
    try {
      raw.push({ value: JSON.parse(line), row: i + 1 });
    } catch (e) {
      // One broken line is one bad row: skipped and reported with on_bad_rows 'skip', fatal with 'stop'.
      raw.push({ value: undefined, row: i + 1, jsonError: (e as Error).message });
    }
  });
  return { format: 'jsonl', raw };
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
