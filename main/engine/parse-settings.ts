import { toJSONSchema, type z } from 'zod';
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

/**
 * A number as a person types it: plain decimal, with an optional sign, fraction and exponent (`3e-4`, `.5`, `-2`).
 * Anything else is undefined: Number('') is 0 and Number('0x10') is 16, and neither is what the person meant.
 * The CLI's flags and the wizard's fields read numbers with this one rule.
 */
export function parseNumberText(text: string): number | undefined {
  const t = text.trim();
  if (!/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(t)) return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

/** One field of a settings schema as a form or a CLI flag needs it. */
export interface SettingField {
  name: string;
  /** JSON-schema type ('string' for unions). */
  type: string;
  default: unknown;
  help: string;
  choices?: string[];
  /** No default and not optional: the caller must give it. */
  required: boolean;
}

/** Field name, JSON type, default, help and choices of every field of an object schema (its JSON schema, as input). */
export function schemaFields(schema: z.ZodType): SettingField[] {
  const json = toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as {
    properties: Record<string, { type?: string; default?: unknown; description?: string; enum?: string[]; items?: { enum?: string[] } }>;
    required?: string[];
  };
  const required = new Set(json.required ?? []);
  return Object.entries(json.properties).map(([name, p]) => ({
    name,
    type: p.type ?? 'string',
    default: p.default,
    help: p.description ?? '',
    choices: p.enum ?? p.items?.enum,
    required: required.has(name),
  }));
}
