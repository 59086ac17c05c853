import { useTranslation } from 'react-i18next';
import type { RunPlan } from '../../../main/contract/finetune-form.ts';
import { PRESET_NAMES, type PresetName } from '../presets.ts';
import { SettingsField } from '../wizard/settings-field.tsx';
import { FIELDS, type FormValues, type RawValue } from '../wizard/settings-form.ts';
import { GROUPS, stepOfField, type GroupName } from '../wizard/settings-groups.ts';

/** What the last preset changed: each field, before and after, so a change on another step is seen too. */
export interface AppliedPreset {
  name: PresetName;
  changes: { field: string; before: RawValue; after: RawValue }[];
}

const shown = (v: RawValue) => (Array.isArray(v) ? v.join(', ') : String(v));

/**
 * The training settings in four groups (Essentials, LoRA, Schedule and evaluation, and Advanced folded), each with its
 * human label, unit and flag name; presets show whether they are applied and list what they changed.
 */
export function TrainingStep({
  form,
  setField,
  issues,
  warnings,
  plan,
  applied,
  matches,
  applyPreset,
}: {
  form: FormValues;
  setField(name: string, v: RawValue): void;
  /** Each field's problem, in the UI's language. */
  issues: Map<string, string>;
  warnings: Map<string, string>;
  /** The run the settings make of the checked data (undefined until the data is checked). */
  plan?: RunPlan;
  applied?: AppliedPreset;
  /** The presets the form matches now. */
  matches: Set<PresetName>;
  applyPreset(name: PresetName): void;
}) {
  const { t } = useTranslation();
  const group = (g: GroupName) => (
    <div className="form-grid" data-testid={`group-${g}`}>
      {GROUPS[g].map((name) => (
        <SettingsField
          key={name}
          f={FIELDS[name]}
          raw={form[name]}
          set={(v) => setField(name, v)}
          issue={issues.get(name)}
          warning={warnings.get(name)}
        />
      ))}
    </div>
  );
  return (
    <section data-testid="training-step">
      <h2>{t('wizard.training.title')}</h2>
      <div className="presets row wrap" role="group" aria-label={t('wizard.training.presets')}>
        <span>{t('wizard.training.presets')}:</span>
        {PRESET_NAMES.map((name) => (
          <button
            key={name}
            data-testid={`preset-${name}`}
            className={matches.has(name) ? 'preset applied' : 'preset'}
            aria-pressed={matches.has(name)}
            title={t(`wizard.training.preset_${name}_help`)}
            onClick={() => applyPreset(name)}
          >
            {matches.has(name) && '✓ '}
            {t(`wizard.training.preset_${name}`)}
          </button>
        ))}
      </div>
      {applied && (
        <div className="notice preset-changes" data-testid="preset-changes">
          {applied.changes.length === 0
            ? t('presetChanges.none', { preset: t(`wizard.training.preset_${applied.name}`) })
            : t('presetChanges.title', { preset: t(`wizard.training.preset_${applied.name}`), count: applied.changes.length })}
          <ul>
            {applied.changes.map((c) => (
              <li key={c.field} data-field={c.field}>
                {t(`settingsForm.labels.${c.field}`)} <code>{c.field}</code>: {shown(c.before)} → <strong>{shown(c.after)}</strong>
                {stepOfField(c.field) !== 'training' && <em className="muted"> · {t(`presetChanges.onStep_${stepOfField(c.field)}`)}</em>}
              </li>
            ))}
          </ul>
        </div>
      )}
      {plan && (
        <p className="plan muted" data-testid="run-plan">
          {t('runPlan.line', {
            trainRows: plan.trainRows,
            validationRows: plan.validationRows,
            perEpoch: plan.stepsPerEpoch,
            total: plan.totalSteps,
            evaluations: plan.evaluations,
          })}
        </p>
      )}
      <h3>{t('settingsForm.groups.essentials')}</h3>
      {group('essentials')}
      <h3>{t('settingsForm.groups.lora')}</h3>
      {group('lora')}
      <h3>{t('settingsForm.groups.schedule')}</h3>
      {group('schedule')}
      <details className="advanced" data-testid="advanced-settings" open={GROUPS.advanced.some((n) => issues.has(n)) || undefined}>
        <summary>{t('settingsForm.groups.advanced')}</summary>
        {group('advanced')}
      </details>
    </section>
  );
}
