import type { z } from 'zod';
import { finetuneSettingsSchema, parseNumberText, settingFields } from '../../../main/contract/finetune-form.ts';
import { FORM_FIELDS } from './settings-groups.ts';

/**
 * The wizard's form as the person typed it, and the fine-tuning settings it makes. A number field keeps its text
 * (`abc`, ``) so the form can say what is wrong with it; the settings hold exactly what the fields show, checked by
 * the job's own schema: a blank or unreadable number is an issue under its field, never a default in disguise.
 */

export type FieldKind = 'number' | 'integer' | 'boolean' | 'choice' | 'multi' | 'text' | 'tristate';
export type RawValue = string | boolean | string[];
export type FormValues = Record<string, RawValue>;

export interface FormField {
  name: string;
  kind: FieldKind;
  default: unknown;
  /** No default: left blank (or auto) it is not sent, and the engine decides (threads, gradient_checkpointing). */
  optional: boolean;
  choices?: string[];
  /** The schema's English help. */
  help: string;
}

function kindOf(type: string, choices?: string[]): FieldKind {
  if (type === 'array') return 'multi';
  if (choices) return 'choice';
  if (type === 'number' || type === 'integer' || type === 'boolean') return type;
  return 'text';
}

/** The form's fields, from the engine's config schema (types, defaults, choices and help). */
export const FIELDS: Record<string, FormField> = Object.fromEntries(
  settingFields()
    .filter((f) => FORM_FIELDS.includes(f.name))
    .map((f) => {
      const optional = f.default === undefined && !f.required;
      const kind = f.type === 'boolean' && optional ? 'tristate' : kindOf(f.type, f.choices);
      return [f.name, { name: f.name, kind, default: f.default, optional, choices: f.choices, help: f.help }];
    }),
);

/** A field's text for a value (defaults, presets). */
export function rawOf(field: FormField, value: unknown): RawValue {
  switch (field.kind) {
    case 'boolean':
      return Boolean(value);
    case 'tristate':
      return value === undefined ? 'auto' : value ? 'on' : 'off';
    case 'multi':
      return Array.isArray(value) ? value.map(String) : [];
    default:
      return value === undefined || value === null ? '' : String(value);
  }
}

/** Every field at its schema default. */
export function defaultForm(): FormValues {
  return Object.fromEntries(Object.values(FIELDS).map((f) => [f.name, rawOf(f, f.default)]));
}

/**
 * One field's value as the settings get it; `undefined` leaves the setting out. A blank number with a default is
 * null (the schema refuses it: "required"), text that is not a number stays text (the schema refuses it: "a number").
 */
export function valueOf(field: FormField, raw: RawValue | undefined): unknown {
  if (raw === undefined) return undefined;
  switch (field.kind) {
    case 'number':
    case 'integer': {
      const text = String(raw).trim();
      if (text === '') return field.optional ? undefined : null;
      return parseNumberText(text) ?? text;
    }
    case 'tristate':
      return raw === 'auto' ? undefined : raw === 'on';
    default:
      return raw;
  }
}

/** The settings the form makes (only the form's own fields; the wizard adds the paths and the run name). */
export function formSettings(form: FormValues): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of Object.values(FIELDS)) {
    const v = valueOf(f, form[f.name]);
    if (v !== undefined) out[f.name] = v;
  }
  return out;
}

/** Is a field's text blank (for the "required" message)? */
export function isBlank(raw: RawValue | undefined): boolean {
  return typeof raw === 'string' && raw.trim() === '';
}

export type SchemaIssue = z.core.$ZodIssue;

/** The schema's issues by the setting they are about (an item of a list counts for the list). */
export function checkSettings(settings: Record<string, unknown>): Map<string, SchemaIssue[]> {
  const r = finetuneSettingsSchema.safeParse(settings);
  const byField = new Map<string, SchemaIssue[]>();
  for (const issue of r.success ? [] : r.error.issues) {
    const name = String(issue.path[0] ?? '');
    byField.set(name, [...(byField.get(name) ?? []), issue]);
  }
  return byField;
}

/** Settings whose value differs from the schema's default (what Review lists), in form order. */
export function changedFromDefaults(form: FormValues): string[] {
  return Object.values(FIELDS)
    .filter((f) => JSON.stringify(valueOf(f, form[f.name])) !== JSON.stringify(valueOf(f, rawOf(f, f.default))))
    .map((f) => f.name);
}

/** The form after a preset: every field the preset does not name back at its default (as the presets are written). */
export function presetForm(current: FormValues, preset: Record<string, unknown>, fields: readonly string[]): FormValues {
  const next = { ...current };
  for (const name of fields) {
    const f = FIELDS[name];
    if (f) next[name] = rawOf(f, name in preset ? preset[name] : f.default);
  }
  return next;
}

/** The fields two forms disagree on (a preset's changes), in form order. */
export function differences(before: FormValues, after: FormValues): string[] {
  return Object.keys(FIELDS).filter((n) => JSON.stringify(before[n]) !== JSON.stringify(after[n]));
}
