import { FormatError, StudioError } from '../errors.ts';
import { JSON_FILE_LIMITS, readJsonFile } from '../fs/json-file.ts';
import { finetuneConfigSchema } from './config.ts';

/** Read a JSON config file (the --config flag); its keys are the schema's field names, and only those. */
export async function readConfigFile(file: string): Promise<Record<string, unknown>> {
  let json: unknown;
  try {
    json = await readJsonFile(file, { maxBytes: JSON_FILE_LIMITS.config, what: 'config file', code: 'config/file' });
  } catch (e) {
    if (e instanceof StudioError)
      throw new FormatError(`cannot read config file (${e.message.replace(`${file}: `, '')})`, file, 'config/file');
    throw e;
  }
  if (!json || typeof json !== 'object' || Array.isArray(json))
    throw new FormatError('config file must hold a JSON object', file, 'config/file');
  const known = new Set(Object.keys(finetuneConfigSchema.shape));
  const unknown = Object.keys(json).filter((k) => !known.has(k));
  if (unknown.length) throw new FormatError(`unknown settings: ${unknown.join(', ')}`, file, 'config/file');
  return json as Record<string, unknown>;
}
