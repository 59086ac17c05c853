import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { DataCheck, JobInfo, ModelReport } from '../../../main/contract/contract.ts';
import { MemoryEstimate } from '../components/memory-estimate.tsx';
import { call } from '../transport.ts';
import { DataStep, type DataOptions } from './data-step.tsx';
import { ModelStep } from './model-step.tsx';
import { ReviewStep } from './review-step.tsx';
import { SET_ELSEWHERE, TrainingStep } from './training-step.tsx';

const STEPS = ['model', 'data', 'training', 'review'] as const;
type Step = (typeof STEPS)[number];

export function Wizard({ onStarted }: { onStarted(job: JobInfo): void }) {
  const { t } = useTranslation();
  const [step, setStep] = useState<Step>('model');
  const [modelDir, setModelDir] = useState('');
  const [model, setModel] = useState<ModelReport>();
  const [recent, setRecent] = useState<string[]>([]);
  const [dataOpts, setDataOpts] = useState<DataOptions>({
    path: '',
    template: 'alpaca',
    cutoffLen: 256,
    trainOnInputs: true,
    addEosToken: false,
  });
  const [data, setData] = useState<DataCheck>();
  const [values, setValues] = useState<Record<string, unknown>>({});
  useEffect(() => {
    call('settings.get', {})
      .then((s) => setRecent(s.recentModels))
      .catch(() => {});
  }, [model]);
  const baseModel = model && model.problems.length === 0 ? model.dir : undefined;
  // The run folder is left out on purpose: the job host gives each run its own folder under runsDir.
  const config = {
    ...Object.fromEntries(Object.entries(values).filter(([k]) => !SET_ELSEWHERE.has(k))),
    base_model: model?.dir ?? modelDir,
    data_path: data?.file ?? dataOpts.path,
    prompt_template_name: dataOpts.template,
    cutoff_len: dataOpts.cutoffLen,
    train_on_inputs: dataOpts.trainOnInputs,
    add_eos_token: dataOpts.addEosToken,
  };
  const i = STEPS.indexOf(step);
  return (
    <div className="wizard">
      <ol className="steps">
        {STEPS.map((s, k) => (
          <li key={s} className={s === step ? 'active' : k < i ? 'done' : ''}>
            <button data-testid={`step-${s}`} onClick={() => setStep(s)}>
              {k + 1}. {t(`wizard.steps.${s}`)}
            </button>
          </li>
        ))}
      </ol>
      {step === 'model' && <ModelStep dir={modelDir} setDir={setModelDir} report={model} setReport={setModel} recent={recent} />}
      {step === 'data' && <DataStep opts={dataOpts} setOpts={setDataOpts} baseModel={baseModel} report={data} setReport={setData} />}
      {step === 'training' && (
        <TrainingStep values={values} setValues={setValues} setCutoffLen={(n) => setDataOpts((o) => ({ ...o, cutoffLen: n }))} />
      )}
      {step === 'review' && <ReviewStep config={config} ready={Boolean(baseModel && data && data.kept > 0)} onStarted={onStarted} />}
      {(step === 'training' || step === 'review') && <MemoryEstimate baseModel={baseModel} settings={config} />}
      <p className="row nav-buttons">
        {i > 0 && <button onClick={() => setStep(STEPS[i - 1])}>{t('common.back')}</button>}
        {i < STEPS.length - 1 && (
          <button data-testid="next" onClick={() => setStep(STEPS[i + 1])}>
            {t('common.next')}
          </button>
        )}
      </p>
    </div>
  );
}
