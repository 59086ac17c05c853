import type { TFunction } from 'i18next';
import type { RawValue, SchemaIssue } from './settings-form.ts';
import { isBlank } from './settings-form.ts';

/**
 * A schema issue in the UI's language: the message is made from the issue's code and numbers (zod's own English text
 * is never shown), so "Too small: expected number to be >0" reads "必须大于 0" in the Chinese form. `raw` is what the
 * field shows, to tell a blank field ("required") from text that is not a number.
 */
export function issueText(t: TFunction, issue: SchemaIssue, raw?: RawValue): string {
  switch (issue.code) {
    case 'invalid_type':
      if (raw === undefined || isBlank(raw)) return t('schemaIssues.required');
      if (issue.expected === 'int') return t('schemaIssues.notInteger');
      if (issue.expected === 'number') return t('schemaIssues.notNumber');
      return t('schemaIssues.invalidType', { expected: issue.expected });
    case 'too_small': {
      const min = String(issue.minimum);
      if (issue.origin === 'array' || issue.origin === 'set') return t('schemaIssues.tooFewItems', { count: Number(issue.minimum) });
      if (issue.origin === 'string') return t('schemaIssues.required');
      return t(issue.inclusive ? 'schemaIssues.atLeast' : 'schemaIssues.above', { min });
    }
    case 'too_big': {
      const max = String(issue.maximum);
      if (issue.origin === 'string') return t('schemaIssues.tooLong', { max });
      if (issue.origin === 'array' || issue.origin === 'set') return t('schemaIssues.tooManyItems', { count: Number(issue.maximum) });
      return t(issue.inclusive ? 'schemaIssues.atMost' : 'schemaIssues.below', { max });
    }
    case 'invalid_value':
      return t('schemaIssues.oneOf', { values: issue.values.map(String).join(', ') });
    case 'invalid_format':
      return issue.format === 'regex' ? t('schemaIssues.pattern') : t('schemaIssues.format');
    case 'unrecognized_keys':
      return t('schemaIssues.unknownKeys', { keys: issue.keys.join(', ') });
    case 'custom': {
      const p = (issue.params ?? {}) as Record<string, string | number>;
      if (p.rule === 'batch-multiple') return t('schemaIssues.batchMultiple', { batch: p.batch, micro: p.micro });
      if (p.rule === 'base-dtype-conflict') return t('schemaIssues.baseDtypeConflict', { settings: p.settings });
      if (p.rule === 'run-name-dots') return t('schemaIssues.runNameDots');
      return t('schemaIssues.invalid');
    }
    default:
      return t('schemaIssues.invalid');
  }
}
