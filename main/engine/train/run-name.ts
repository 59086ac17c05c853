import { z } from 'zod';

/**
 * A run's name is its folder's name under the runs folder: letters, digits, dot, dash and underscore, starting with
 * a letter or digit, never `..`, so it cannot reach outside that folder and reads the same in a URL, a shell and a
 * file browser. Node-free: the run registry, the contract and the wizard's run-name field check with it.
 */
const RUN_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const RUN_NAME_MAX = 200;

export const runNameSchema = z
  .string()
  .max(RUN_NAME_MAX)
  .regex(RUN_NAME_PATTERN)
  .refine((s) => !s.includes('..'), { params: { rule: 'run-name-dots' }, message: 'must not contain ".."' });

/** A name made of free text (a model folder, a data file): the characters a run name takes, the rest as dashes. */
export function runNameFrom(...parts: string[]): string {
  const name = parts
    .map((p) =>
      p
        .replace(/[^A-Za-z0-9._-]+/g, '-')
        .replace(/\.{2,}/g, '.')
        .replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, ''),
    )
    .filter(Boolean)
    .join('-');
  return name.slice(0, RUN_NAME_MAX).replace(/[^A-Za-z0-9]+$/, '');
}
