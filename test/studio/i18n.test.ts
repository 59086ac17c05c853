import { describe, expect, it } from 'vitest';
import { en } from '../../renderer/src/locales/en.ts';
import { zhCN } from '../../renderer/src/locales/zh-CN.ts';
import { FIELD_HELP_ZH } from '../../renderer/src/locales/field-help.zh-CN.ts';
import { settingFields } from '../../main/engine/train/config.ts';
import { JOB_KINDS } from '../../main/contract/job-kinds.ts';

function flatten(o: object, prefix = ''): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(o)) {
    if (typeof v === 'string') out[prefix + k] = v;
    else Object.assign(out, flatten(v as object, `${prefix}${k}.`));
  }
  return out;
}

const placeholders = (s: string) => [...s.matchAll(/\{\{(\w+)\}\}/g)].map((m) => m[1]).sort();

describe('renderer strings', () => {
  const a = flatten(en);
  const b = flatten(zhCN);
  it('Chinese has exactly the English keys, none empty', () => {
    expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
    for (const [k, v] of Object.entries(b)) expect(v.trim(), k).not.toBe('');
  });
  it('every translation keeps the interpolation placeholders', () => {
    for (const k of Object.keys(a)) expect(placeholders(b[k]), k).toEqual(placeholders(a[k]));
  });
  it('the page titles are translated, not copied', () => {
    for (const k of ['nav.wizard', 'nav.run', 'nav.runs', 'wizard.model.title', 'run.title']) expect(b[k]).not.toBe(a[k]);
  });
  it('every job kind has its name in the pages, and nothing else is named there as one', () => {
    expect(Object.keys(en.jobKinds).sort()).toEqual([...JOB_KINDS].sort());
  });
  it('every fine-tuning setting has its help in Chinese too (English comes from the config schema)', () => {
    const names = settingFields().map((f) => f.name);
    expect(names.filter((n) => !FIELD_HELP_ZH[n])).toEqual([]);
    expect(Object.keys(FIELD_HELP_ZH).filter((n) => !names.includes(n))).toEqual([]);
  });
});
