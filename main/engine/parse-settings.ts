import type { z } from 'zod';
import { StudioError } from './errors.ts';

/** One line per zod issue, `field: message`, for errors a user reads. */
export function describeIssues(error: z.ZodError, root = '(settings)'): string {
  return error.issues.map((i) => `${i.path.join('.') || root}: ${i.message}`).join('; ');
}

/** Parse a job's or command's settings, or throw a StudioError that names each bad field. */
export function parseSettings<T extends z.ZodType>(schema: T, raw: unknown, what: string): z.output<T> {
  const r = schema.safeParse(raw);
  if (!r.success) throw new StudioError(`${what}: ${describeIssues(r.error)}`, undefined, 'settings/invalid');
  return r.data;
}
