import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { jobResultOf, BUILTIN_TEMPLATE_NAMES, NO_TEMPLATE, type JobSettings } from '../../../main/contract/contract.ts';
import { ErrorBox, Field } from '../components/common.tsx';
import { RunSelect, runOrigin, type Preselect, type RunDetails } from '../components/run-select.tsx';
import { useJobs, noteJob } from '../job-store.ts';
import { call } from '../transport.ts';

const TEMPLATES = [...BUILTIN_TEMPLATE_NAMES, NO_TEMPLATE];

/** One prompt, two answers: the base model's and the fine-tuned run's (same sampling seed), streamed as they come. */
export function PlaygroundPage({ visible, preselect }: { visible: boolean; preselect?: Preselect }) {
  const { t } = useTranslation();
  const [run, setRun] = useState<RunDetails>();
  const [instruction, setInstruction] = useState('');
  const [input, setInput] = useState('');
  const [s, setS] = useState({ template: '', temperature: 0.1, top_k: 40, top_p: 0.75, max_new_tokens: 128, seed: 42 });
  const [jobId, setJobId] = useState<string>();
  const [error, setError] = useState<string>();
  const { jobs } = useJobs();
  const job = jobId ? jobs[jobId] : undefined;
  const { baseModel, template: runTemplate, baseDtype } = runOrigin(run);
  const template = s.template || runTemplate;
  const ask = async () => {
    if (!run || !baseModel) return;
    setError(undefined);
    try {
      const j = await call('jobs.start', {
        kind: 'generate',
        config: {
          base_model: baseModel,
          lora_weights: run.run.dir,
          instruction,
          input,
          prompt_template: template,
          temperature: s.temperature,
          top_k: s.top_k,
          top_p: s.top_p,
          max_new_tokens: s.max_new_tokens,
          seed: s.seed,
          ...(baseDtype ? { base_dtype: baseDtype as JobSettings<'generate'>['base_dtype'] } : {}),
        },
      });
      noteJob(j.id, j.kind, undefined, j.state);
      setJobId(j.id);
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const busy = job?.state === 'running' || job?.state === 'queued';
  const result = jobResultOf('generate', job?.done?.result);
  const num = (key: keyof typeof s) => (e: React.ChangeEvent<HTMLInputElement>) => setS({ ...s, [key]: Number(e.target.value) });
  return (
    <section data-testid="playground-page">
      <h2>{t('playground.title')}</h2>
      <div className="form-grid">
        <RunSelect visible={visible} selected={run} onSelect={setRun} testId="playground-run" preselect={preselect} />
        <Field label={t('playground.template')}>
          <select className="mono" value={template} onChange={(e) => setS({ ...s, template: e.target.value })}>
            {TEMPLATES.map((x) => (
              <option key={x}>{x}</option>
            ))}
          </select>
        </Field>
      </div>
      <Field label={t('playground.prompt')}>
        <textarea data-testid="playground-instruction" rows={3} value={instruction} onChange={(e) => setInstruction(e.target.value)} />
      </Field>
      <Field label={t('playground.input')}>
        <textarea rows={2} value={input} onChange={(e) => setInput(e.target.value)} />
      </Field>
      <div className="form-grid">
        <Field label={t('playground.temperature')} help={t('playground.temperatureHelp')}>
          <input type="number" step={0.05} min={0} value={s.temperature} onChange={num('temperature')} />
        </Field>
        <Field label={t('playground.topK')}>
          <input type="number" min={0} value={s.top_k} onChange={num('top_k')} />
        </Field>
        <Field label={t('playground.topP')}>
          <input type="number" step={0.05} min={0.05} max={1} value={s.top_p} onChange={num('top_p')} />
        </Field>
        <Field label={t('playground.maxTokens')}>
          <input type="number" min={1} value={s.max_new_tokens} onChange={num('max_new_tokens')} />
        </Field>
        <Field label={t('playground.seed')}>
          <input type="number" min={0} value={s.seed} onChange={num('seed')} />
        </Field>
      </div>
      <p className="row">
        <button className="primary" data-testid="playground-generate" disabled={!baseModel || busy} onClick={() => void ask()}>
          {busy ? t('common.loading') : t('playground.generate')}
        </button>
        {busy && <button onClick={() => void call('jobs.stop', { id: job.id })}>{t('run.stop')}</button>}
      </p>
      <ErrorBox error={error ?? job?.failed?.error} />
      <div className="cards">
        {(['base', 'tuned'] as const).map((side) => (
          <div key={side} className="panel" data-testid={`answer-${side}`}>
            <h3>{side === 'base' ? t('playground.base') : t('playground.tuned')}</h3>
            <p className="answer" data-testid={`answer-${side}-text`}>
              {job?.text[side] ?? ''}
            </p>
            {result?.[side] && (
              <small className="muted" data-testid={`answer-${side}-stats`}>
                {t('playground.stats', {
                  tokens: result[side]!.tokens,
                  tps: result[side]!.tokensPerSecond.toFixed(1),
                  stop: t(`answerStop.${result[side]!.stoppedBy}`, { defaultValue: result[side]!.stoppedBy }),
                })}
              </small>
            )}
          </div>
        ))}
      </div>
    </section>
  );
}
