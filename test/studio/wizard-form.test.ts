import i18next, { type TFunction } from 'i18next';
import { beforeAll, describe, expect, it } from 'vitest';
import { finetuneSettingsSchema } from '../../main/contract/job-kinds.ts';
import { settingFields } from '../../main/engine/train/config.ts';
import { planRun, planWarnings, type PlanSettings } from '../../main/engine/train/run-plan.ts';
import { runNameFrom, runNameSchema } from '../../main/engine/train/run-name.ts';
import { en } from '../../renderer/src/locales/en.ts';
import { zhCN } from '../../renderer/src/locales/zh-CN.ts';
import { PRESET_FIELDS, PRESETS } from '../../renderer/src/presets.ts';
import { issueText } from '../../renderer/src/wizard/schema-issues.ts';
import {
  checkSettings,
  defaultForm,
  differences,
  FIELDS,
  formSettings,
  presetForm,
  type FormValues,
} from '../../renderer/src/wizard/settings-form.ts';
import { DATA_FIELDS, GROUPS, NOT_IN_FORM } from '../../renderer/src/wizard/settings-groups.ts';

/**
 * The wizard's form logic, without a browser: the fields it shows cover the config schema, the settings it sends are
 * what its fields show (a blank or unreadable number is an issue, never a default), every issue the schema can raise
 * on the form reads in Chinese without zod's English, and the plan's warnings.
 */
let t: { en: TFunction; zh: TFunction };
beforeAll(async () => {
  const make = async (lng: string) => {
    const i = i18next.createInstance();
    await i.init({ resources: { en: { translation: en }, 'zh-CN': { translation: zhCN } }, lng, interpolation: { escapeValue: false } });
    return i.t;
  };
  t = { en: await make('en'), zh: await make('zh-CN') };
});

const base = { base_model: '/m', data_path: '/d.json' };
const settingsOf = (form: FormValues): Record<string, unknown> => ({ ...base, ...formSettings(form) });
const issuesOf = (form: FormValues) => checkSettings(settingsOf(form));

describe('the settings form', () => {
  it('places every setting of the config schema: in one group, on the Data step, or deliberately nowhere', () => {
    const names = settingFields().map((f) => f.name);
    const grouped = Object.values(GROUPS).flat() as string[];
    const placed = [...grouped, ...DATA_FIELDS.filter((f) => f !== 'cutoff_len'), ...NOT_IN_FORM];
    expect([...placed].sort()).toEqual([...names].sort()); // each once (cutoff_len: in Essentials and beside its histogram)
    expect(new Set(grouped).size).toBe(grouped.length);
  });

  it('sends the defaults as they are, and every field has a label in both languages', () => {
    expect(issuesOf(defaultForm()).size).toBe(0);
    expect(settingsOf(defaultForm())).toMatchObject({ learning_rate: 3e-4, cutoff_len: 256, lora_target_modules: ['q_proj', 'v_proj'] });
    expect(settingsOf(defaultForm())).not.toHaveProperty('threads'); // optional: left to the engine
    for (const name of Object.keys(FIELDS)) {
      expect(t.en(`settingsForm.labels.${name}`), name).not.toBe(`settingsForm.labels.${name}`);
      // In Chinese, save the two that are names in Chinese texts too.
      if (!['lora_alpha', 'lora_dropout'].includes(name)) expect(t.zh(`settingsForm.labels.${name}`), name).toMatch(/[\u4e00-\u9fff]/);
    }
  });

  it('never turns a blank or unreadable learning rate into the default: the schema refuses it by name', () => {
    for (const [text, sent, message] of [
      ['', null, 'Required: enter a value.'],
      ['abc', 'abc', 'Enter a number, such as 0.0003 or 3e-4.'],
      ['0x10', '0x10', 'Enter a number, such as 0.0003 or 3e-4.'],
      ['-0.001', -0.001, 'Must be greater than 0.'],
    ] as const) {
      const form = { ...defaultForm(), learning_rate: text };
      expect(settingsOf(form).learning_rate).toBe(sent);
      const issues = issuesOf(form).get('learning_rate')!;
      expect(issues, text).toHaveLength(1);
      expect(issueText(t.en, issues[0], text)).toBe(message);
      // The job's own schema refuses exactly these settings: nothing of them can start.
      expect(finetuneSettingsSchema.safeParse(settingsOf(form)).success).toBe(false);
    }
    expect(issueText(t.zh, issuesOf({ ...defaultForm(), learning_rate: '-1' }).get('learning_rate')![0], '-1')).toBe('必须大于 0。');
    expect(settingsOf({ ...defaultForm(), learning_rate: ' 2e-3 ' }).learning_rate).toBe(0.002);
  });

  it('reads every issue the schema raises on the form in Chinese, from its code and numbers, never in zod’s English', () => {
    const seen = new Set<string>();
    const bad: Record<string, string[]> = {};
    for (const f of Object.values(FIELDS)) {
      if (f.kind === 'number' || f.kind === 'integer') bad[f.name] = ['', 'abc', '-1', '1.5', '1e9'];
      if (f.kind === 'choice') bad[f.name] = ['nope'];
      if (f.kind === 'multi') bad[f.name] = [];
    }
    for (const [name, values] of Object.entries(bad)) {
      for (const v of values) {
        const form = { ...defaultForm(), [name]: name === 'lora_target_modules' ? [] : v };
        for (const issue of issuesOf(form).get(name) ?? []) {
          seen.add(issue.code);
          const zh = issueText(t.zh, issue, form[name]);
          // No English words: only the choices themselves (backend names) may be Latin.
          const choices = issue.code === 'invalid_value' ? issue.values.map(String) : [];
          const words = choices.sort((a, b) => b.length - a.length).reduce((text, c) => text.split(c).join(''), zh);
          expect(words, `${name}=${v}: ${zh}`).not.toMatch(/[A-Za-z]{3,}/);
          expect(zh).not.toBe(issue.message);
          expect(issueText(t.en, issue, form[name])).not.toBe(issue.message);
        }
      }
    }
    const batch = issuesOf({ ...defaultForm(), batch_size: '5', micro_batch_size: '2' }).get('batch_size')!;
    expect(issueText(t.zh, batch[0], '5')).toBe('必须是微批大小的整数倍：5 不是 2 的倍数。');
    expect([...seen].sort()).toEqual(['custom', 'invalid_type', 'invalid_value', 'too_big', 'too_small']);
  });

  it("applies a preset over the defaults and names each change, the Data step's cutoff_len among them", () => {
    const before: FormValues = { ...defaultForm(), learning_rate: '1e-3' };
    const after = presetForm(before, PRESETS.quick, PRESET_FIELDS);
    expect(differences(before, after)).toEqual(
      expect.arrayContaining(['batch_size', 'cutoff_len', 'val_set_size', 'max_steps', 'learning_rate']),
    );
    expect(after.cutoff_len).toBe('128');
    expect(after.learning_rate).toBe('0.0003'); // back to the default: the preset does not name it
    expect(differences(after, presetForm(after, PRESETS.quick, PRESET_FIELDS))).toEqual([]); // shown as applied
    expect(presetForm(before, PRESETS.quick, PRESET_FIELDS).train_on_inputs).toBe(before.train_on_inputs); // Data-step masking kept
  });
});

describe('the run plan and its warnings', () => {
  const s = (o: Partial<PlanSettings> = {}): PlanSettings => ({
    batch_size: 128,
    micro_batch_size: 4,
    num_epochs: 3,
    max_steps: 0,
    val_set_size: 2000,
    warmup_steps: 100,
    eval_steps: 200,
    early_stopping_patience: 0,
    ...o,
  });
  it('counts rows, micro-batches and steps as finetune does (a step limit of the epochs, max_steps within the epochs)', () => {
    // Three whole epochs of 391 steps each, the last step of each a partial accumulation (12501 = 390 × 32 + 21).
    expect(planRun(s(), 52002)).toMatchObject({
      trainRows: 50002,
      accumulation: 32,
      microBatchesPerEpoch: 12501,
      stepsPerEpoch: 391,
      totalSteps: 1173,
    });
    expect(planRun(s({ num_epochs: 0.5 }), 52002).totalSteps).toBe(196);
    expect(planRun(s({ max_steps: 5000 }), 52002).totalSteps).toBe(1173);
    expect(planRun(s({ eval_steps: 200 }), 52002).evaluations).toBe(6); // 200, 400, …, 1000, and the last step
    expect(planRun(s({ eval_steps: 0 }), 52002).evaluations).toBe(1); // 0: at the end only
  });
  it('names the settings that make no sense for the data', () => {
    const codes = (o: Partial<PlanSettings>, rows: number) => planWarnings(s(o), rows).map((w) => `${w.severity}:${w.code}:${w.field}`);
    expect(codes({}, 1000)).toEqual(['error:val-set-too-large:val_set_size']);
    expect(codes({ val_set_size: 10 }, 100)).toEqual([
      'warning:batch-exceeds-rows:batch_size',
      'warning:warmup-exceeds-steps:warmup_steps',
      'warning:single-evaluation:eval_steps',
    ]);
    expect(codes({ val_set_size: 10, batch_size: 8, warmup_steps: 5, eval_steps: 10, early_stopping_patience: 9 }, 100)).toEqual([
      'warning:patience-unreachable:early_stopping_patience',
    ]);
    expect(codes({ val_set_size: 0, batch_size: 8, warmup_steps: 0, max_steps: 500 }, 100)).toEqual(['warning:max-steps-capped:max_steps']);
    expect(codes({ val_set_size: 10, batch_size: 8, warmup_steps: 5, eval_steps: 10 }, 100)).toEqual([]);
  });
});

describe('run names', () => {
  it('are folder names under the runs folder: checked as the run registry checks them', () => {
    for (const ok of ['tiny-llama-alpaca_zh-20261206-101500', 'run.1', 'A']) expect(runNameSchema.safeParse(ok).success, ok).toBe(true);
    for (const bad of ['', '-x', 'a/b', 'a..b', '运行', 'x'.repeat(201)]) expect(runNameSchema.safeParse(bad).success, bad).toBe(false);
    expect(runNameFrom('Llama 3.1 8B', 'alpaca_zh', '20261206-1015')).toBe('Llama-3.1-8B-alpaca_zh-20261206-1015');
    expect(runNameFrom('模型', 'data', 'x')).toBe('data-x');
    expect(runNameSchema.safeParse(runNameFrom('..', '../etc', 'a')).success).toBe(true);
  });
});
