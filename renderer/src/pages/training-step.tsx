import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { CallReply } from '../../../main/contract/contract.ts';
import { ErrorBox } from '../components/common.tsx';
import { FIELD_HELP_ZH } from '../locales/field-help.zh-CN.ts';
import { PRESETS } from '../presets.ts';
import { call } from '../transport.ts';

export type FieldSpec = CallReply<'finetune.fields'>['fields'][number];

/** Fields the earlier steps set (model, data, template, cutoff, masking) or the studio sets (run folder). */
export const SET_ELSEWHERE = new Set([
  'base_model',
  'data_path',
  'output_dir',
  'prompt_template_name',
  'cutoff_len',
  'train_on_inputs',
  'add_eos_token',
  'resume_from_checkpoint',
  'overwrite',
]);

/** The schema defaults of the fields this step owns (never output_dir: the host gives each run its own folder). */
export function defaultsOf(fields: FieldSpec[]): Record<string, unknown> {
  return Object.fromEntries(fields.filter((f) => f.default !== undefined && !SET_ELSEWHERE.has(f.name)).map((f) => [f.name, f.default]));
}

function Input({ f, value, set }: { f: FieldSpec; value: unknown; set(v: unknown): void }) {
  const type = Array.isArray(f.type) ? f.type[0] : f.type;
  if (type === 'boolean') return <input type="checkbox" checked={Boolean(value)} onChange={(e) => set(e.target.checked)} />;
  if (type === 'array' && f.choices) {
    const v = (value as string[] | undefined) ?? [];
    return (
      <span className="choices">
        {f.choices.map((c) => (
          <label key={c} className="check">
            <input type="checkbox" checked={v.includes(c)} onChange={(e) => set(e.target.checked ? [...v, c] : v.filter((x) => x !== c))} />{' '}
            {c}
          </label>
        ))}
      </span>
    );
  }
  if (f.choices)
    return (
      <select value={String(value ?? '')} onChange={(e) => set(e.target.value)}>
        {f.choices.map((c) => (
          <option key={c}>{c}</option>
        ))}
      </select>
    );
  if (type === 'number' || type === 'integer')
    return (
      <input
        type="number"
        step={type === 'integer' ? 1 : 'any'}
        value={value === undefined ? '' : String(value)}
        onChange={(e) => set(e.target.value === '' ? undefined : Number(e.target.value))}
      />
    );
  return <input value={String(value ?? '')} onChange={(e) => set(e.target.value)} />;
}

/** Every setting from the engine's config schema, with its help; presets fill them in. */
export function TrainingStep({
  values,
  setValues,
  setCutoffLen,
}: {
  values: Record<string, unknown>;
  setValues(v: Record<string, unknown>): void;
  setCutoffLen(n: number): void;
}) {
  const { t, i18n } = useTranslation();
  const [fields, setFields] = useState<FieldSpec[]>([]);
  const [error, setError] = useState<string>();
  useEffect(() => {
    call('finetune.fields', {})
      .then((r) => {
        setFields(r.fields);
        if (Object.keys(values).length === 0) setValues(defaultsOf(r.fields));
      })
      .catch((e: Error) => setError(e.message));
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  const apply = (name: keyof typeof PRESETS) => {
    const { cutoff_len, ...rest } = PRESETS[name];
    setValues({ ...defaultsOf(fields), ...rest });
    // cutoff_len lives in the Data step (it shapes the length histogram); a preset may still set it.
    setCutoffLen(typeof cutoff_len === 'number' ? cutoff_len : Number(fields.find((f) => f.name === 'cutoff_len')?.default ?? 256));
  };
  return (
    <section data-testid="training-step">
      <h2>{t('wizard.training.title')}</h2>
      <ErrorBox error={error} />
      <p className="row">
        {t('wizard.training.presets')}:
        <button data-testid="preset-alpaca" onClick={() => apply('alpaca')}>
          {t('wizard.training.preset_alpaca')}
        </button>
        <button data-testid="preset-quick" onClick={() => apply('quick')}>
          {t('wizard.training.preset_quick')}
        </button>
        <button data-testid="preset-lowmem" onClick={() => apply('lowmem')}>
          {t('wizard.training.preset_lowmem')}
        </button>
        <button data-testid="preset-int8" title={t('wizard.training.preset_int8_help')} onClick={() => apply('int8')}>
          {t('wizard.training.preset_int8')}
        </button>
        <button data-testid="preset-nf4" title={t('wizard.training.preset_nf4_help')} onClick={() => apply('nf4')}>
          {t('wizard.training.preset_nf4')}
        </button>
      </p>
      <p className="muted" data-testid="preset-quant-help">
        {t('wizard.training.preset_int8_help')} {t('wizard.training.preset_nf4_help')}
      </p>
      <div className="form-grid">
        {fields
          .filter((f) => !SET_ELSEWHERE.has(f.name))
          .map((f) => (
            <label key={f.name} className="field" data-field={f.name}>
              <span className="label mono">{f.name}</span>
              <Input f={f} value={values[f.name]} set={(v) => setValues({ ...values, [f.name]: v })} />
              <small className="help">{(i18n.language === 'zh-CN' && FIELD_HELP_ZH[f.name]) || f.help}</small>
            </label>
          ))}
      </div>
    </section>
  );
}
