import { InvalidArgumentError, Option, type Command } from 'commander';
import type { z } from 'zod';
import { StudioError } from '../engine/errors.ts';
import { parseNumberText, schemaFields, type SettingField } from '../engine/parse-settings.ts';

/**
 * A command's flags built from the zod schema the studio checks the same settings with: one flag per field, named
 * as the field, typed by it. A value that is not of the flag's type is refused by commander as one `error:` line
 * naming the flag; the whole set is then checked by the schema itself (ranges, choices, refinements), so the CLI
 * refuses exactly what the studio refuses.
 */
export interface SchemaFlagOptions<K extends string> {
  /** Help text per field (the schema's own description when left out). */
  help?: Partial<Record<K, string>>;
  /** The placeholder in the help (`<dir>`); `<value>` when left out. */
  placeholder?: Partial<Record<K, string>>;
  /** Defaults the command line has and the schema does not (generate's empty instruction). */
  cliDefaults?: Partial<Record<K, unknown>>;
  /** Fields this command takes another way (a positional argument) or not at all. */
  omit?: readonly K[];
  /** Fields accepted but left out of --help. */
  hidden?: readonly K[];
  /** false: required fields may come from elsewhere (finetune's --config), so the flags themselves are optional. */
  mandatory?: boolean;
  /**
   * Booleans as bare switches (`inspect --json DIR`), taking no value. Otherwise they take an optional True/False,
   * as Alpaca-LoRA's fire flags do (`--train_on_inputs False`).
   */
  bareBooleans?: boolean;
}

/** The field names of an object schema. */
export type SchemaKeys<S> = S extends z.ZodObject<infer Shape> ? Extract<keyof Shape, string> : string;

export function addSchemaFlags<S extends z.ZodType>(cmd: Command, schema: S, opts: SchemaFlagOptions<SchemaKeys<S>> = {}): Command {
  const by = <T>(rec: Partial<Record<string, T>> | undefined, name: string) => rec?.[name];
  for (const f of schemaFields(schema)) {
    if ((opts.omit as readonly string[] | undefined)?.includes(f.name)) continue;
    const value = f.type === 'boolean' ? (opts.bareBooleans ? '' : ' [bool]') : ` <${by(opts.placeholder, f.name) ?? 'value'}>`;
    const choices = f.choices ? ` (choices: ${f.choices.join(', ')})` : '';
    const shownDefault = by(opts.cliDefaults, f.name) ?? f.default;
    const help = `${by(opts.help, f.name) ?? f.help}${choices}${shownDefault !== undefined ? ` (default: ${JSON.stringify(shownDefault)})` : ''}`;
    const option = new Option(`--${f.name}${value}`, help);
    if (value) option.argParser((v: string | boolean) => parseFlagValue(f, v)); // a bare switch has no value to parse
    if (f.required && opts.mandatory !== false && by(opts.cliDefaults, f.name) === undefined) option.makeOptionMandatory();
    if ((opts.hidden as readonly string[] | undefined)?.includes(f.name)) option.hideHelp();
    cmd.addOption(option);
  }
  return cmd;
}

/** Parse one flag's text the way Python's fire would: True/False, numbers, [a,b] lists; refuse what is not. */
export function parseFlagValue(field: Pick<SettingField, 'name' | 'type' | 'choices'>, v: string | boolean): unknown {
  if (typeof v === 'boolean') return v; // a bare boolean flag (`--train_on_inputs`)
  const text = v.trim();
  switch (field.type) {
    case 'boolean':
      if (/^(true|1|yes)$/i.test(text)) return true;
      if (/^(false|0|no)$/i.test(text)) return false;
      throw new InvalidArgumentError(`expected True or False, got "${v}"`);
    case 'integer':
    case 'number': {
      const n = parseNumberText(text) ?? NaN;
      if (!Number.isFinite(n)) throw new InvalidArgumentError(`expected a number, got "${v}"`);
      if (field.type === 'integer' && !Number.isInteger(n)) throw new InvalidArgumentError(`expected a whole number, got "${v}"`);
      return n;
    }
    case 'array':
      return text
        .replace(/^\[|\]$/g, '')
        .split(',')
        .map((s) => s.trim().replace(/^['"]|['"]$/g, ''))
        .filter(Boolean);
    default:
      if (field.choices && !field.choices.includes(text))
        throw new InvalidArgumentError(`"${v}" is not one of ${field.choices.join(', ')}`);
      if (field.name === 'resume_from_checkpoint' && /^(true|false)$/i.test(text)) return /^true$/i.test(text);
      return text;
  }
}

/**
 * The flags a user gave (plus the command line's own defaults), checked by the schema; a problem names its flag:
 * `--top_p: Too big: expected number to be <=1`.
 */
export function settingsFromFlags<S extends z.ZodType>(
  schema: S,
  flags: Record<string, unknown>,
  opts: SchemaFlagOptions<SchemaKeys<S>> = {},
): z.output<S> {
  const known = new Set(schemaFields(schema).map((f) => f.name));
  const given: Record<string, unknown> = { ...(opts.cliDefaults as Record<string, unknown> | undefined) };
  for (const [k, v] of Object.entries(flags)) if (v !== undefined && known.has(k)) given[k] = v;
  const r = schema.safeParse(given);
  if (!r.success) {
    const lines = r.error.issues.map((i) => (i.path.length ? `--${i.path.join('.')}: ${i.message}` : i.message));
    throw new StudioError(lines.join('; '), undefined, 'cli/flags');
  }
  return r.data;
}
