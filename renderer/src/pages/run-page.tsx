import { useEffect, useMemo, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { JobInfo, RunSummary } from '../../../main/contract/contract.ts';
import { ClusterPanel } from '../cluster/cluster-panel.tsx';
import { ErrorBox } from '../components/common.tsx';
import { GpuPanel } from '../components/gpu-panel.tsx';
import { LossChart } from '../components/loss-chart.tsx';
import { PathText, usePathDisplay } from '../components/path-text.tsx';
import { RunLog } from '../components/run-log.tsx';
import { formatDate, formatDuration, formatLoss } from '../format.ts';
import { useRunHistory, type RunState } from '../run-history.ts';
import { call } from '../transport.ts';

/** Where a finished run leads: the Export page or the Playground, with the run chosen there. */
export type NextPage = 'export' | 'playground';

/**
 * A training run: its whole loss curves, progress and log, replayed from its run folder and followed live while its
 * job runs, so a reload or a second tab shows the same page. With no run chosen it shows the running one, else the
 * newest. A finished run says how long it took and leads on to Export and the Playground.
 */
export function RunPage({
  runId,
  visible,
  onSelect,
  onNext,
}: {
  runId?: string;
  visible: boolean;
  onSelect(runId: string): void;
  onNext(page: NextPage, runId: string): void;
}) {
  const { t } = useTranslation();
  const [runs, setRuns] = useState<RunSummary[]>([]);
  const [jobs, setJobs] = useState<JobInfo[]>([]);
  useEffect(() => {
    if (!visible) return;
    call('runs.list', {})
      .then((r) => setRuns(r.runs))
      .catch(() => {});
    call('jobs.list', {})
      .then((r) => setJobs(r.jobs.filter((j) => (j.kind === 'finetune' || (j.kind === 'cluster' && j.runDir)) && j.runId)))
      .catch(() => {});
  }, [visible, runId]);
  const active = jobs.filter((j) => j.state === 'running' || j.state === 'queued').at(0);
  const selected = runId ?? active?.runId ?? runs[0]?.id;
  const { history, view, state, error } = useRunHistory(selected);
  // A queued job's run has no folder yet: it is still a choice.
  const choices = [...new Set([...jobs.map((j) => j.runId!).filter((id) => !runs.some((r) => r.id === id)), ...runs.map((r) => r.id)])];
  if (selected && !choices.includes(selected)) choices.unshift(selected);
  const run = history?.run ?? undefined;
  const job = history?.job ?? undefined;
  const last = view?.reports.at(-1);
  const lastEval = view?.evals.at(-1);
  const reports = view?.reports;
  const evals = view?.evals;
  // A run without a validation split has no validation curve to promise.
  const series = useMemo(
    () => [
      { name: t('run.loss'), color: 'var(--accent)', points: (reports ?? []).map((r) => ({ step: r.step, value: r.loss })) },
      ...(evals?.length
        ? [{ name: t('run.evalLoss'), color: 'var(--warn)', points: evals.map((r) => ({ step: r.step, value: r.evalLoss })) }]
        : []),
    ],
    [reports, evals, t],
  );
  return (
    <section data-testid="run-page">
      <h2>{t('run.title')}</h2>
      {choices.length > 0 && (
        <label className="field run-choice">
          <span className="label">{t('runView.choose')}</span>
          <select data-testid="run-select" value={selected} onChange={(e) => onSelect(e.target.value)}>
            {choices.map((id) => (
              <option key={id} value={id}>
                {id}
              </option>
            ))}
          </select>
        </label>
      )}
      {!selected && <p className="muted">{t('runView.noRun')}</p>}
      <ErrorBox error={error} />
      {view && state && selected && (
        <>
          <RunHeader runId={selected} run={run} config={history?.config ?? null} state={state}>
            {(state === 'running' || state === 'queued') && job && job.kind !== 'cluster' && (
              <button data-testid="stop-job" onClick={() => void call('jobs.stop', { id: job.id })}>
                {t('run.stop')}
              </button>
            )}
          </RunHeader>
          {view.cluster && (
            <ClusterPanel
              runDir={run?.dir ?? job?.runDir ?? selected}
              info={view.cluster}
              following={Boolean(job && job.kind === 'cluster' && !view.done && !view.failed && ['running', 'queued'].includes(job.state))}
            />
          )}
          {state === 'done' && run && <NextSteps run={run} onNext={(page) => onNext(page, run.id)} />}
          {state === 'interrupted' && <p className="notice">{t('runView.interrupted')}</p>}
          {view.progress && (
            <div className="progress" data-testid="progress">
              <div className="meter">
                <div style={{ width: `${view.progress.total ? (100 * view.progress.done) / view.progress.total : 0}%` }} />
              </div>
              <small>
                {t('run.progress', { done: view.progress.done, total: view.progress.total })}
                {last && state === 'running' && ` · ${t('run.eta', { eta: formatDuration(last.etaMs, t) })}`}
              </small>
            </div>
          )}
          {/* A cluster job's one-line failure is in its panel; a failure of the studio's own job (a refused submission, a
              refused fetch) is shown here. */}
          {state === 'failed' && !view.cluster?.failure && (
            <FailureBox error={view.failed?.error ?? job?.error ?? run?.error ?? ''} lastOutput={view.failed?.lastOutput ?? []} />
          )}
          {last && (
            <div className="stats">
              <div>
                <small>{t('run.loss')}</small>
                <strong>{formatLoss(last.loss)}</strong>
              </div>
              {lastEval && (
                <div>
                  <small>{t('run.evalLoss')}</small>
                  <strong>{formatLoss(lastEval.evalLoss)}</strong>
                </div>
              )}
              <div>
                <small>{t('run.lr')}</small>
                <strong>{last.learningRate.toExponential(2)}</strong>
              </div>
              <div>
                <small>{t('run.tps')}</small>
                <strong>{last.tokensPerSecond.toFixed(0)}</strong>
              </div>
            </div>
          )}
          <LossChart series={series} />
          <h3>{t('run.log')}</h3>
          <RunLog lines={view.logs} />
        </>
      )}
      <GpuPanel backend={view?.backend} memory={last?.memory} />
    </section>
  );
}

const ACTIVE: RunState[] = ['running', 'queued'];

/** The run's name, state and origin: what it trains, on what, since when and for how long. */
function RunHeader({
  runId,
  run,
  config,
  state,
  children,
}: {
  runId: string;
  run?: RunSummary;
  config: Record<string, unknown> | null;
  state: RunState;
  children?: React.ReactNode;
}) {
  const { t, i18n } = useTranslation();
  const baseModel = run?.baseModel ?? (typeof config?.base_model === 'string' ? config.base_model : undefined);
  const dataPath = run?.dataPath ?? (typeof config?.data_path === 'string' ? config.data_path : undefined);
  return (
    <div className="panel run-header" data-testid="run-header">
      <div className="row">
        <h3 className="run-title" data-testid="run-title">
          {runId}
        </h3>
        <span className={`badge state-${state}`} data-testid="job-state" data-state={state}>
          {t(`runView.states.${state}`)}
        </span>
        <span className="muted">{t('jobKinds.finetune')}</span>
        <span className="spacer" />
        {children}
      </div>
      <dl className="facts">
        {baseModel && (
          <div>
            <dt>{t('runView.baseModel')}</dt>
            <dd>
              <PathText path={baseModel} />
            </dd>
          </div>
        )}
        {dataPath && (
          <div>
            <dt>{t('runView.data')}</dt>
            <dd>
              <PathText path={dataPath} />
            </dd>
          </div>
        )}
        {run?.startedAt && (
          <div>
            <dt>{t('runView.started')}</dt>
            <dd data-testid="run-started">{formatDate(run.startedAt, i18n.language)}</dd>
          </div>
        )}
        {run?.durationMs !== undefined && !ACTIVE.includes(state) && (
          <div>
            <dt>{t('runView.duration')}</dt>
            <dd data-testid="run-duration">{formatDuration(run.durationMs, t)}</dd>
          </div>
        )}
      </dl>
    </div>
  );
}

/** A finished run: how it went, and the two places it leads to, with this run chosen there. */
function NextSteps({ run, onNext }: { run: RunSummary; onNext(page: NextPage): void }) {
  const { t } = useTranslation();
  return (
    <div className="panel next-steps" data-testid="next-steps">
      <p data-testid="run-outcome">
        {t('runView.outcome', {
          duration: formatDuration(run.durationMs ?? 0, t),
          steps: run.steps,
          loss: formatLoss(run.lastLoss),
        })}
        {run.lastEvalLoss !== undefined && ` ${t('runView.outcomeEval', { loss: formatLoss(run.lastEvalLoss) })}`}
      </p>
      {run.hasAdapter ? (
        <div className="row wrap">
          <button className="primary" data-testid="to-export" onClick={() => onNext('export')}>
            {t('runView.toExport')}
          </button>
          <button className="primary" data-testid="to-playground" onClick={() => onNext('playground')}>
            {t('runView.toPlayground')}
          </button>
        </div>
      ) : (
        <p className="muted">{t('runView.noAdapter')}</p>
      )}
    </div>
  );
}

function FailureBox({ error, lastOutput }: { error: string; lastOutput: string[] }) {
  const { t } = useTranslation();
  const paths = usePathDisplay();
  return (
    <div data-testid="job-failed">
      <ErrorBox error={t('run.failed', { error: paths.text(error) })} />
      {lastOutput.length > 0 && (
        <details open>
          <summary>{t('run.lastOutput')}</summary>
          <pre className="log" data-testid="last-output">
            {paths.text(lastOutput.join('\n'))}
          </pre>
        </details>
      )}
    </div>
  );
}
