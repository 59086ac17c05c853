import { FormatError } from '../errors.ts';
import { readRegularText, type BoundedReadOptions } from './regular-file.ts';

/**
 * Why JSON.parse refused a text, without any of the text. V8 quotes the first characters of the input in its
 * "Unexpected token" messages ("Unexpected token 'r', "root:x:0:0"... is not valid JSON"): passed on, an error about a
 * file that is not JSON (a prompt template pointed at /etc/shadow) would show its first bytes to whoever sees the
 * error, over the WebSocket too. Messages that name only a position pass through.
 */
export function describeJsonError(e: unknown): string {
  const message = e instanceof Error ? e.message : String(e);
  if (/^Unexpected token\b/.test(message) || /is not valid JSON$/.test(message)) return 'an invalid character';
  const position = /\bat position (\d+)(?: \(line (\d+) column (\d+)\))?/.exec(message);
  // Every other V8 message names the grammar ("Expected ',' or ']' after array element") and a position.
  const grammar = message.replace(/ in JSON at position \d+( \(line \d+ column \d+\))?$/, '');
  const text = grammar.charAt(0).toLowerCase() + grammar.slice(1);
  if (!position) return text;
  return position[2] ? `${text} at line ${position[2]}, column ${position[3]}` : `${text} at byte ${position[1]}`;
}

/** JSON.parse, with a FormatError naming `file` (and never quoting it) when the text is not JSON. */
export function parseJsonText(text: string, file: string, code: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new FormatError(`not valid JSON (${describeJsonError(e)})`, file, code);
  }
}

/** A small JSON file a user gave (config.json, adapter_config.json, a template): regular files only, size-capped. */
export async function readJsonFile(file: string, opts: BoundedReadOptions & { code: string }): Promise<unknown> {
  const text = await readRegularText(file, opts);
  return parseJsonText(text.replace(/^\uFEFF/, ''), file, opts.code);
}

/** Caps on the JSON files a model or adapter folder holds: far above real ones, far below what could hurt. */
export const JSON_FILE_LIMITS = {
  /** config.json, tokenizer_config.json, adapter_config.json, templates, indexes, run files. */
  config: 16 << 20,
  /** tokenizer.json (Gemma's 256k vocabulary is 34 MB). */
  tokenizer: 256 << 20,
} as const;
