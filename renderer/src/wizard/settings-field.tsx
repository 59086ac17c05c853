import { useTranslation } from 'react-i18next';
import { FIELD_HELP_ZH } from '../locales/field-help.zh-CN.ts';
import type { FormField, RawValue } from './settings-form.ts';

function Input({ f, raw, set, invalid }: { f: FormField; raw: RawValue; set(v: RawValue): void; invalid: boolean }) {
  const { t, i18n } = useTranslation();
  // A choice's label in the UI's language where one exists (base_dtype's modes), else the value itself.
  const choiceLabel = (c: string) => (i18n.exists(`settingsForm.choices.${f.name}.${c}`) ? t(`settingsForm.choices.${f.name}.${c}`) : c);
  switch (f.kind) {
    case 'boolean':
      return <input type="checkbox" checked={Boolean(raw)} onChange={(e) => set(e.target.checked)} />;
    case 'tristate':
      return (
        <select value={String(raw)} onChange={(e) => set(e.target.value)}>
          <option value="auto">{t('settingsForm.auto')}</option>
          <option value="on">{t('settingsForm.on')}</option>
          <option value="off">{t('settingsForm.off')}</option>
        </select>
      );
    case 'multi': {
      const v = raw as string[];
      return (
        <span className="choices">
          {(f.choices ?? []).map((c) => (
            <label key={c} className="check mono">
              <input
                type="checkbox"
                checked={v.includes(c)}
                onChange={(e) => set(e.target.checked ? [...v, c] : v.filter((x) => x !== c))}
              />{' '}
              {c}
            </label>
          ))}
        </span>
      );
    }
    case 'choice':
      return (
        <select value={String(raw)} onChange={(e) => set(e.target.value)}>
          {(f.choices ?? []).map((c) => (
            <option key={c} value={c}>
              {choiceLabel(c)}
            </option>
          ))}
        </select>
      );
    default:
      // Text, not type=number: a browser's number field shows "abc" as blank and reports it as "", which is how a
      // typed-over learning rate used to vanish. The text stays as typed and the schema says what is wrong with it.
      return (
        <input
          type="text"
          inputMode={f.kind === 'text' ? 'text' : 'decimal'}
          aria-invalid={invalid}
          value={String(raw)}
          placeholder={f.optional ? t('settingsForm.automatic') : undefined}
          onChange={(e) => set(e.target.value)}
          spellCheck={false}
        />
      );
  }
}

/**
 * One setting: its name in the UI's language with its unit, the flag name beside it (as the CLI and config files spell
 * it), the input, what is wrong with the value (under the field, in the UI's language), a warning, and the help.
 */
export function SettingsField({
  f,
  raw,
  set,
  issue,
  warning,
}: {
  f: FormField;
  raw: RawValue;
  set(v: RawValue): void;
  issue?: string;
  warning?: string;
}) {
  const { t, i18n } = useTranslation();
  const unitKey = `settingsForm.units.${f.name}`;
  return (
    <label className={`field setting${issue ? ' invalid' : ''}`} data-field={f.name}>
      <span className="label">
        <span className="human">{t(`settingsForm.labels.${f.name}`)}</span>
        {i18n.exists(unitKey) && <span className="unit"> ({t(unitKey)})</span>} <code className="flag">{f.name}</code>
      </span>
      <Input f={f} raw={raw} set={set} invalid={Boolean(issue)} />
      {issue && (
        <small className="issue" role="alert" data-testid={`issue-${f.name}`}>
          {issue}
        </small>
      )}
      {warning && (
        <small className="warn-text" data-testid={`warning-${f.name}`}>
          {warning}
        </small>
      )}
      <small className="help">{(i18n.language === 'zh-CN' && FIELD_HELP_ZH[f.name]) || f.help}</small>
    </label>
  );
}
