import { readFileSync } from 'node:fs';
import { FormatError } from '../errors.ts';
import { finetuneConfigSchema } from './config.ts';

/** Read a JSON config file (the --config flag); its keys are the schema's field names, and only those. */
export function readConfigFile(file: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new FormatError(`cannot read config file (${(e as Error).message})`, file, 'config/file');
  }
  if (!json || typeof json !== 'object' || Array.isArray(json))
    throw new FormatError('config file must hold a JSON object', file, 'config/file');
  const known = new Set(Object.keys(finetuneConfigSchema.shape));
  const unknown = Object.keys(json).filter((k) => !known.has(k));
  if (unknown.length) throw new FormatError(`unknown settings: ${unknown.join(', ')}`, file, 'config/file');
  return json as Record<string, unknown>;
}
