import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { CallReply, JobInfo, RunSummary } from '../../../main/contract/contract.ts';
import { ErrorBox } from '../components/common.tsx';
import { RunCompare } from '../components/run-compare.tsx';
import { RunSettingsCell } from '../components/run-settings-cell.tsx';
import { PathText, usePathDisplay } from '../components/path-text.tsx';
import { formatDate, formatDuration, formatLoss } from '../format.ts';
import { jobRequest } from '../job-request.ts';
import { call } from '../transport.ts';

type RunData = CallReply<'runs.read'>;
/** How many runs Compare shows at once (the chart's colours). */
const MAX_COMPARED = 4;

/** A run that can go on from its last checkpoint. */
const resumable = (r: RunSummary) => r.status !== 'finished' && r.checkpoints.length > 0 && !r.cluster;

/**
 * History from the run folders: each run's base model, data, key settings, date, duration and final losses; open one
 * on the Run page, compare runs (curves and the settings that differ), resume an unfinished one, delete.
 */
export function RunsPage({ visible, onStarted, onOpen }: { visible: boolean; onStarted(job: JobInfo): void; onOpen(runId: string): void }) {
  const { t, i18n } = useTranslation();
  const paths = usePathDisplay();
  const [runs, setRuns] = useState<RunSummary[]>([]);
  const [runsDir, setRunsDir] = useState('');
  const [compared, setCompared] = useState<RunData[]>([]);
  const [error, setError] = useState<string>();
  // A run with a job on it is running (or waiting), whatever its folder says so far.
  const [activeJobs, setActiveJobs] = useState<JobInfo[]>([]);
  const refresh = () => {
    call('runs.list', {})
      .then((r) => setRuns(r.runs))
      .catch((e: Error) => setError(e.message));
    call('jobs.list', {})
      .then((r) =>
        setActiveJobs(
          r.jobs.filter(
            (j) => (j.kind === 'finetune' || (j.kind === 'cluster' && j.runDir)) && (j.state === 'running' || j.state === 'queued'),
          ),
        ),
      )
      .catch(() => {});
    call('app.info', {})
      .then((i) => setRunsDir(i.runsDir))
      .catch(() => {});
  };
  useEffect(() => {
    if (visible) refresh();
  }, [visible]);
  const toggleCompare = async (id: string) => {
    if (compared.some((c) => c.run.id === id)) return setCompared((c) => c.filter((x) => x.run.id !== id));
    try {
      const r = await call('runs.read', { id });
      setCompared((c) => [...c.filter((x) => x.run.id !== id), r].slice(-MAX_COMPARED));
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const remove = async (id: string) => {
    if (!confirm(t('runs.confirmDelete', { id }))) return;
    await call('runs.delete', { id }).catch((e: Error) => setError(e.message));
    setCompared((c) => c.filter((x) => x.run.id !== id));
    refresh();
  };
  // A run being written, also by a worker a killed studio left running (the main side adopted it as a job).
  const stop = async (jobId: string) => {
    await call('jobs.stop', { id: jobId }).catch((e: Error) => setError(e.message));
    refresh();
  };
  const resume = async (id: string) => {
    try {
      const r = await call('runs.read', { id });
      // config.json also records the backend used: only the run's own settings (the main side picks them) go back in.
      const config = { ...r.resumeSettings, output_dir: r.run.dir, resume_from_checkpoint: true };
      onStarted(await call('jobs.start', jobRequest({ kind: 'finetune', config })));
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const name = (p?: string) => (p ? p.split(/[\\/]/).filter(Boolean).at(-1) : undefined);
  return (
    <section data-testid="runs-page">
      <h2>{t('runs.title')}</h2>
      <button onClick={refresh}>{t('runs.refresh')}</button>
      <ErrorBox error={error} />
      {runs.length === 0 ? (
        <p className="muted">{t('runs.empty', { dir: paths.path(runsDir) })}</p>
      ) : (
        <div className="table-scroll">
          <table className="table runs-table" data-testid="runs-table">
            <thead>
              <tr>
                <th>{t('runsTable.name')}</th>
                <th>{t('runsTable.modelAndData')}</th>
                <th>{t('runsTable.settings')}</th>
                <th>{t('runsTable.date')}</th>
                <th>{t('runs.steps')}</th>
                <th>{t('runsTable.finalLoss')}</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {runs.map((r) => {
                // A run's own writer makes it running (its lock); a job waiting in the queue has no folder lock yet.
                const job = activeJobs.find((j) => j.runId === r.id);
                const state = r.status === 'running' ? 'running' : (job?.state ?? r.status);
                const busy = Boolean(job) || r.status === 'running';
                // A cluster run's job is stopped by Cancel on its Run page (scancel), not by ending the studio's follow.
                const stopId = r.cluster ? undefined : (r.jobId ?? job?.id);
                return (
                  <tr key={r.id} data-run={r.id}>
                    <td>
                      <div className="mono run-id">{r.id}</div>
                      <span
                        className={`badge state-${state}`}
                        title={r.writer ? t('runs.writer', r.writer) : r.error}
                        data-testid="run-status"
                        data-state={state}
                      >
                        {state === 'queued' ? t('runView.states.queued') : t(`runs.states.${state}`)}
                      </span>
                      {r.cluster && (
                        <div className="cluster-cell" data-testid="run-cluster">
                          <small className="muted">
                            {t('cluster.column')}: <span className="mono">{r.cluster.cluster}</span>
                            {r.cluster.jobId && ` · #${r.cluster.jobId}`} ·{' '}
                            <span data-testid="run-cluster-state" data-state={r.cluster.state ?? 'submitting'}>
                              {t(`cluster.states.${r.cluster.state ?? 'submitting'}`)}
                            </span>
                          </small>
                        </div>
                      )}
                    </td>
                    <td>
                      <div className="mono" title={r.baseModel} data-testid="run-base">
                        {name(r.baseModel) ?? '–'}
                      </div>
                      <small className="mono muted" title={r.dataPath} data-testid="run-data">
                        {name(r.dataPath) ?? '–'}
                      </small>
                    </td>
                    <td data-testid="run-settings">
                      <RunSettingsCell settings={r.settings} />
                    </td>
                    <td>
                      <div data-testid="run-date">{r.startedAt ? formatDate(r.startedAt, i18n.language) : '–'}</div>
                      <small className="muted" data-testid="run-duration">
                        {r.durationMs !== undefined ? formatDuration(r.durationMs, t) : '–'}
                      </small>
                    </td>
                    <td>
                      {r.steps}
                      {r.totalSteps ? ` / ${r.totalSteps}` : ''}
                    </td>
                    <td data-testid="run-losses">
                      {formatLoss(r.lastLoss)}
                      {r.lastEvalLoss !== undefined && (
                        <>
                          <br />
                          <small className="muted">{t('runsTable.evalShort', { loss: formatLoss(r.lastEvalLoss) })}</small>
                        </>
                      )}
                    </td>
                    <td>
                      <div className="actions">
                        <button data-testid="open-run" onClick={() => onOpen(r.id)}>
                          {t('runs.open')}
                        </button>
                        <button
                          data-testid="compare-run"
                          className={compared.some((c) => c.run.id === r.id) ? 'active' : ''}
                          onClick={() => void toggleCompare(r.id)}
                        >
                          {t('runs.compare')}
                        </button>
                        {busy && stopId && (
                          <button data-testid="stop-run" onClick={() => void stop(stopId)}>
                            {t('runs.stop')}
                          </button>
                        )}
                        {!busy && resumable(r) && (
                          <button data-testid="resume-run" onClick={() => void resume(r.id)}>
                            {t('runs.resume')}
                          </button>
                        )}
                        {!busy && (
                          <button className="danger" onClick={() => void remove(r.id)}>
                            {t('runs.delete')}
                          </button>
                        )}
                      </div>
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      {compared.length > 0 && (
        <div className="panel">
          <RunCompare runs={compared} />
          {compared.map((r) => (
            <p key={r.run.id} className="row">
              <PathText path={r.run.dir} />
              {r.run.problems.map((p) => (
                <span key={p} className="error">
                  {p}
                </span>
              ))}
            </p>
          ))}
        </div>
      )}
    </section>
  );
}
