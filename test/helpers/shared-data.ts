import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

/**
 * `../shared/data` beside the checkout: real public files the tests read but the project never copies.
 * LORA_STUDIO_SHARED_DATA points it elsewhere; `LORA_STUDIO_SHARED_DATA=/nonexistent npm test` shows what a fresh
 * clone without it runs and skips.
 */
export const SHARED_DATA = process.env.LORA_STUDIO_SHARED_DATA
  ? path.resolve(process.env.LORA_STUDIO_SHARED_DATA)
  : path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../shared/data');

/** Absolute path of a file under ../shared/data. */
export function sharedPath(relative: string): string {
  return path.join(SHARED_DATA, relative);
}

/**
 * The reason a test must skip, or undefined when every file it needs is there.
 * Use as `describe.skipIf(missing(...))` and print the reason so the skip says which file it wanted.
 */
export function missingShared(...relatives: string[]): string | undefined {
  const absent = relatives.filter((r) => !existsSync(sharedPath(r)));
  if (absent.length === 0) return undefined;
  const reason = `skipped: needs ${absent.map((r) => sharedPath(r)).join(', ')} (../shared/data is not beside the checkout)`;
  console.warn(reason);
  return reason;
}
