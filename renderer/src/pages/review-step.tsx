import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { DataCheck, JobInfo, ModelReport } from '../../../main/contract/contract.ts';
import type { RunPlan } from '../../../main/contract/finetune-form.ts';
import { ClusterSubmit, TargetChoice, type RunTarget } from '../cluster/cluster-target.tsx';
import { ErrorBox } from '../components/common.tsx';
import { MemoryEstimate } from '../components/memory-estimate.tsx';
import { PathText } from '../components/path-text.tsx';
import { formatCount } from '../format.ts';
import { jobRequest } from '../job-request.ts';
import { call } from '../transport.ts';
import { DurationEstimate } from '../wizard/duration-estimate.tsx';
import { FIELDS, rawOf, type FormValues, type RawValue } from '../wizard/settings-form.ts';
import { TrainableRows } from '../wizard/trainable-rows.tsx';

const shown = (v: RawValue) => (Array.isArray(v) ? v.join(', ') : String(v));
/** A setting as it is sent: numbers as numbers read them (`2e-3` is 0.002), lists joined; unset reads "auto". */
const shownValue = (v: unknown) => (Array.isArray(v) ? v.join(', ') : v === undefined ? '—' : String(v));

/**
 * The run on one card before it starts: the model, the data (rows usable, rows that keep a token to train on, tokens
 * trained per epoch), the plan, the settings that differ from the defaults, warnings, the memory estimate and a
 * measured duration; then the run's name and Start. The settings sent are exactly those shown (folded, as JSON).
 */
export function ReviewStep({
  config,
  form,
  changed,
  model,
  data,
  plan,
  problems,
  ready,
  warnings,
  runName,
  setRunName,
  runNameIssue,
  onStarted,
}: {
  config: Record<string, unknown>;
  form: FormValues;
  /** Settings that differ from the schema's defaults. */
  changed: string[];
  model?: ModelReport;
  data?: DataCheck;
  plan?: RunPlan;
  /** What stops the run from starting, by step, in the UI's language (empty: ready). */
  problems: string[];
  /** Every step valid and nothing being checked (the run name's check included). */
  ready: boolean;
  warnings: string[];
  runName: string;
  setRunName(name: string): void;
  runNameIssue?: string;
  onStarted(job: JobInfo): void;
}) {
  const { t } = useTranslation();
  const [error, setError] = useState<string>();
  const [busy, setBusy] = useState(false);
  const [target, setTarget] = useState<RunTarget>('local');
  const start = async () => {
    setBusy(true);
    setError(undefined);
    try {
      onStarted(await call('jobs.start', jobRequest({ kind: 'finetune', config })));
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  const stats = data?.stats;
  // Tokens the loss sees in one epoch: the rows checked, scaled to the training split (validation held out).
  const perEpoch = stats && plan && stats.rows > 0 ? Math.round((stats.lossTokens * plan.trainRows) / stats.rows) : undefined;
  return (
    <section data-testid="review-step">
      <h2>{t('wizard.review.title')}</h2>
      {problems.length > 0 && (
        <div className="notice" data-testid="review-problems">
          {t('wizard.review.missing')}
          <ul>
            {problems.map((p) => (
              <li key={p}>{p}</li>
            ))}
          </ul>
        </div>
      )}
      <div className="cards summary">
        <div className="panel" data-testid="review-model">
          <h3>{t('wizard.review.model')}</h3>
          {model ? (
            <>
              <p className="big">{model.dir.split(/[\\/]/).filter(Boolean).at(-1)}</p>
              <p>
                <PathText path={String(config.base_model)} />
              </p>
              {model.architecture && (
                <p className="muted">
                  {t('wizard.review.architecture', {
                    type: model.architecture.modelType,
                    layers: model.architecture.layers,
                    hidden: model.architecture.hiddenSize,
                    params: model.parameters === undefined ? '?' : formatCount(model.parameters),
                  })}
                </p>
              )}
            </>
          ) : (
            <p className="muted">{t('wizard.review.noModel')}</p>
          )}
        </div>
        <div className="panel" data-testid="review-data">
          <h3>{t('wizard.review.data')}</h3>
          {data ? (
            <>
              <p>
                <PathText path={String(config.data_path)} />
              </p>
              <p className="big">{t('wizard.data.rows', { kept: data.kept, total: data.total, format: data.format })}</p>
              <TrainableRows report={data} trainOnInputs={form.train_on_inputs === true} />
              {perEpoch !== undefined && (
                <p data-testid="tokens-per-epoch">{t('wizard.review.tokensPerEpoch', { tokens: formatCount(perEpoch) })}</p>
              )}
            </>
          ) : (
            <p className="muted">{t('wizard.review.noData')}</p>
          )}
        </div>
        <div className="panel" data-testid="review-plan">
          <h3>{t('wizard.review.plan')}</h3>
          {plan ? (
            <p>
              {t('runPlan.line', {
                trainRows: plan.trainRows,
                validationRows: plan.validationRows,
                perEpoch: plan.stepsPerEpoch,
                total: plan.totalSteps,
                evaluations: plan.evaluations,
              })}
            </p>
          ) : (
            <p className="muted">{t('wizard.review.noPlan')}</p>
          )}
          {warnings.length > 0 && (
            <ul className="warn-text" data-testid="review-warnings">
              {warnings.map((w) => (
                <li key={w}>{w}</li>
              ))}
            </ul>
          )}
        </div>
        <div className="panel wide" data-testid="review-changed">
          <h3>{t('wizard.review.changed')}</h3>
          {changed.length === 0 ? (
            <p className="muted">{t('wizard.review.allDefaults')}</p>
          ) : (
            <table className="table">
              <tbody>
                {changed.map((name) => (
                  <tr key={name} data-field={name}>
                    <td>
                      {t(`settingsForm.labels.${name}`)} <code className="flag">{name}</code>
                    </td>
                    <td>
                      <strong>{shownValue(config[name])}</strong>
                    </td>
                    <td className="muted">
                      {t('wizard.review.default', { value: shown(rawOf(FIELDS[name], FIELDS[name].default)) || '—' })}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
        <MemoryEstimate
          baseModel={model && model.problems.length === 0 ? String(config.base_model) : undefined}
          settings={config as { cutoff_len: number }}
        />
        {/* It measures steps on this machine: nothing to say about a cluster run. */}
        {target === 'local' && <DurationEstimate config={config} ready={ready} />}
      </div>
      <label className="field run-name" data-field="output_dir">
        <span className="label">
          {t('wizard.review.runName')} <code className="flag">output_dir</code>
        </span>
        <input data-testid="run-name" value={runName} onChange={(e) => setRunName(e.target.value)} spellCheck={false} />
        {runNameIssue && (
          <small className="issue" role="alert" data-testid="issue-output_dir">
            {runNameIssue}
          </small>
        )}
        <small className="help">{t('wizard.review.runNameHelp')}</small>
      </label>
      <TargetChoice target={target} setTarget={setTarget} />
      {target === 'cluster' ? (
        <ClusterSubmit config={config} ready={ready} onStarted={onStarted} />
      ) : (
        <>
          <ErrorBox error={error} />
          <p className="row">
            <button className="primary" data-testid="start-training" disabled={!ready || busy} onClick={() => void start()}>
              {t('wizard.review.start')}
            </button>
          </p>
        </>
      )}
      <details className="json">
        <summary>{t('wizard.review.json')}</summary>
        <pre className="config mono" data-testid="review-config">
          {JSON.stringify(config, null, 2)}
        </pre>
      </details>
    </section>
  );
}
