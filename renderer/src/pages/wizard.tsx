import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { DataCheck, JobInfo, ModelReport } from '../../../main/contract/contract.ts';
import { planRun, planWarnings, runNameFrom, runNameSchema, type PlanSettings } from '../../../main/contract/finetune-form.ts';
import { stamp } from '../components/run-select.tsx';
import { MemoryEstimate } from '../components/memory-estimate.tsx';
import { PRESET_FIELDS, PRESET_NAMES, PRESETS, type PresetName } from '../presets.ts';
import { call } from '../transport.ts';
import { issueText } from '../wizard/schema-issues.ts';
import {
  changedFromDefaults,
  checkSettings,
  defaultForm,
  differences,
  formSettings,
  presetForm,
  type FormValues,
  type RawValue,
} from '../wizard/settings-form.ts';
import { stepOfField, type WizardStep } from '../wizard/settings-groups.ts';
import { StepPills, type StepState } from '../wizard/step-pills.tsx';
import { nothingToTrain } from '../wizard/trainable-rows.tsx';
import { useAutoCheck, type AutoCheck } from '../wizard/use-auto-check.ts';
import '../wizard/wizard.css';
import { DataStep } from './data-step.tsx';
import { ModelStep } from './model-step.tsx';
import { ReviewStep } from './review-step.tsx';
import { TrainingStep, type AppliedPreset } from './training-step.tsx';

const STEPS = ['model', 'data', 'training', 'review'] as const satisfies readonly WizardStep[];

/** Remember a checked path among the recent ones (newest first, ten at most). */
async function remember(key: 'recentModels' | 'recentData', p: string): Promise<string[]> {
  const s = await call('settings.get', {});
  const list = [p, ...s[key].filter((m) => m !== p)].slice(0, 10);
  await call('settings.set', { [key]: list });
  return list;
}

const baseName = (p: string) =>
  p
    .split(/[\\/]/)
    .filter(Boolean)
    .at(-1)
    ?.replace(/\.(jsonl?|json)$/i, '') ?? '';

/** The state of a step that has an input checked on the main side. */
function checkedState(c: AutoCheck<unknown>, valid: boolean): StepState {
  if (c.state === 'waiting' || c.state === 'checking') return 'checking';
  return valid ? 'valid' : 'invalid';
}

/**
 * The New-run wizard. One form holds what the person typed; the settings sent are made from it alone and checked, as
 * they change, by the job's own schema. A changed model or data path drops its report and is checked again after a
 * pause; Next and Start stay disabled while a step is invalid or being checked.
 */
export function Wizard({ onStarted }: { onStarted(job: JobInfo): void }) {
  const { t } = useTranslation();
  const [step, setStep] = useState<WizardStep>('model');
  const [modelPath, setModelPath] = useState('');
  const [dataPath, setDataPath] = useState('');
  const [form, setForm] = useState<FormValues>(defaultForm);
  const [applied, setApplied] = useState<AppliedPreset>();
  const [recentModels, setRecentModels] = useState<string[]>([]);
  const [recentData, setRecentData] = useState<string[]>([]);
  const [runName, setRunName] = useState<string>();
  const [startedAt, setStartedAt] = useState(() => new Date());
  useEffect(() => {
    call('settings.get', {})
      .then((s) => (setRecentModels(s.recentModels), setRecentData(s.recentData)))
      .catch(() => {});
  }, []);

  const modelKey = modelPath.trim() || undefined;
  const model = useAutoCheck<ModelReport>(modelKey, async (dir) => {
    const report = await call('model.inspect', { dir });
    remember('recentModels', dir).then(setRecentModels, () => {});
    return report;
  });
  const modelOk = model.state === 'done' && model.result!.problems.length === 0;

  const settings = formSettings(form);
  const cutoff = settings.cutoff_len;
  const cutoffOk = typeof cutoff === 'number' && Number.isInteger(cutoff) && cutoff > 0;
  const modelSettled = model.state !== 'waiting' && model.state !== 'checking';
  // The data is checked with the model's tokenizer once the model is known; never with a report of another model.
  const dataRequest =
    dataPath.trim() && cutoffOk && modelSettled
      ? {
          path: dataPath.trim(),
          template: String(settings.prompt_template_name),
          cutoffLen: cutoff,
          trainOnInputs: settings.train_on_inputs === true,
          addEosToken: settings.add_eos_token === true,
          ...(modelOk ? { baseModel: modelKey } : {}),
        }
      : undefined;
  const data = useAutoCheck<DataCheck>(dataRequest && JSON.stringify(dataRequest), async (key) => {
    const req = JSON.parse(key) as NonNullable<typeof dataRequest>;
    const report = await call('data.check', req);
    remember('recentData', req.path).then(setRecentData, () => {});
    return report;
  });
  const dataOk = data.state === 'done' && data.result!.kept > 0 && !nothingToTrain(data.result);

  // The run's name: the folder under the runs folder. Until the person types one, a name made of the model and data.
  const suggested = runNameFrom(baseName(modelPath), baseName(dataPath), stamp(startedAt));
  const name = (runName ?? suggested).trim();
  const config: Record<string, unknown> = {
    base_model: modelPath.trim(),
    data_path: dataPath.trim(),
    ...settings,
    ...(name ? { output_dir: name } : {}),
  };

  // Each field's problem in the UI's language: the schema's issues, then the settings that make no sense for the data.
  const schemaIssues = checkSettings(config);
  const issues = new Map<string, string>();
  for (const [field, list] of schemaIssues) issues.set(field, issueText(t, list[0], form[field]));
  const planFields: (keyof PlanSettings)[] = [
    'batch_size',
    'micro_batch_size',
    'num_epochs',
    'max_steps',
    'val_set_size',
    'warmup_steps',
    'eval_steps',
    'early_stopping_patience',
  ];
  const planReady = dataOk && planFields.every((f) => !schemaIssues.has(f) && typeof settings[f] === 'number');
  const planSettings = settings as unknown as PlanSettings;
  const planned = planReady ? planWarnings(planSettings, data.result!.kept) : [];
  // A plan that cannot run (validation takes every row) shows its error, not figures of nothing.
  const plan = planReady && !planned.some((w) => w.severity === 'error') ? planRun(planSettings, data.result!.kept) : undefined;
  const warnings = new Map<string, string>();
  for (const w of planned) {
    const text = t(`runPlan.warnings.${w.code}`, w.params);
    if (w.severity === 'error') issues.set(w.field, issues.get(w.field) ?? text);
    else warnings.set(w.field, text);
  }
  const parsedName = name ? runNameSchema.safeParse(name) : undefined;
  // A name already taken by a run folder: asked of the main side as the name changes (a run started meanwhile counts).
  const taken = useAutoCheck<boolean>(
    step === 'review' && parsedName?.success ? name : undefined,
    async (n) => (await call('runs.list', {})).runs.some((r) => r.id === n),
    300,
  );
  if (parsedName && !parsedName.success) issues.set('output_dir', issueText(t, parsedName.error.issues[0], name));
  else if (taken.state === 'done' && taken.result) issues.set('output_dir', t('wizard.review.runNameTaken', { name }));

  // The paths' own emptiness is the model and data steps' state; every other issue marks the step of its field.
  const bad = new Set([...issues.keys()].filter((f) => f !== 'base_model' && f !== 'data_path').map(stepOfField));
  const states: Record<WizardStep, StepState> = {
    model: !modelKey ? 'empty' : checkedState(model, modelOk),
    data: !dataPath.trim() ? 'empty' : bad.has('data') ? 'invalid' : !modelSettled ? 'checking' : checkedState(data, dataOk),
    training: bad.has('training') ? 'invalid' : 'valid',
    review: 'valid',
  };
  const earlier = STEPS.filter((s) => s !== 'review').map((s) => states[s]);
  const nameChecking = taken.state === 'waiting' || taken.state === 'checking';
  states.review =
    bad.has('review') || earlier.some((s) => s === 'invalid' || s === 'empty')
      ? 'invalid'
      : earlier.includes('checking') || nameChecking
        ? 'checking'
        : 'valid';

  // What stops Start, in the UI's language, for Review's list.
  const problems: string[] = [];
  if (states.model !== 'valid') problems.push(t(`wizard.review.problem_model_${states.model}`));
  if (data.state === 'done' && nothingToTrain(data.result)) {
    const s = data.result!.stats!;
    problems.push(t('trainability.nothing', { rows: s.rows, cutoff: s.cutoffLen }));
  } else if (states.data !== 'valid' && !bad.has('data')) problems.push(t(`wizard.review.problem_data_${states.data}`));
  for (const [field, text] of issues)
    if (field !== 'base_model' && field !== 'data_path') problems.push(`${t(`settingsForm.labels.${field}`)} (${field}): ${text}`);

  const setField = (field: string, v: RawValue) => setForm((f) => ({ ...f, [field]: v }));
  const applyPreset = (preset: PresetName) => {
    const next = presetForm(form, PRESETS[preset], PRESET_FIELDS);
    setApplied({ name: preset, changes: differences(form, next).map((field) => ({ field, before: form[field], after: next[field] })) });
    setForm(next);
  };
  const matches = new Set(PRESET_NAMES.filter((p) => differences(form, presetForm(form, PRESETS[p], PRESET_FIELDS)).length === 0));

  const at = STEPS.indexOf(step);
  const started = (job: JobInfo) => {
    setStartedAt(new Date()); // the next run gets a name of its own
    setRunName(undefined);
    onStarted(job);
  };
  return (
    <div className="wizard">
      <StepPills steps={STEPS} states={states} current={step} onGo={setStep} />
      {step === 'model' && <ModelStep dir={modelPath} setDir={setModelPath} check={model} recent={recentModels} />}
      {step === 'data' && (
        <DataStep
          path={dataPath}
          setPath={setDataPath}
          check={data}
          form={form}
          setField={setField}
          issues={issues}
          modelReady={modelOk}
          recent={recentData}
        />
      )}
      {step === 'training' && (
        <TrainingStep
          form={form}
          setField={setField}
          issues={issues}
          warnings={warnings}
          plan={plan}
          applied={applied}
          matches={matches}
          applyPreset={applyPreset}
        />
      )}
      {step === 'review' && (
        <ReviewStep
          config={config}
          form={form}
          changed={changedFromDefaults(form)}
          model={modelOk ? model.result : undefined}
          data={dataOk ? data.result : undefined}
          plan={plan}
          problems={problems}
          ready={problems.length === 0 && states.review === 'valid'}
          warnings={[...warnings.values()]}
          runName={runName ?? suggested}
          setRunName={setRunName}
          runNameIssue={issues.get('output_dir')}
          onStarted={started}
        />
      )}
      {step === 'training' && <MemoryEstimate baseModel={modelOk ? modelKey : undefined} settings={config as { cutoff_len: number }} />}
      <p className="row nav-buttons">
        {at > 0 && <button onClick={() => setStep(STEPS[at - 1])}>{t('common.back')}</button>}
        {at < STEPS.length - 1 && (
          <button data-testid="next" disabled={states[step] !== 'valid'} onClick={() => setStep(STEPS[at + 1])}>
            {t('common.next')}
          </button>
        )}
        {at < STEPS.length - 1 && states[step] !== 'valid' && (
          <small className="muted" data-testid="next-why">
            {t(`stepStates.why_${states[step]}`)}
          </small>
        )}
      </p>
    </div>
  );
}
