import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { isTerminal, type ClusterRunInfo } from '../../../main/contract/contract.ts';
import { ErrorBox } from '../components/common.tsx';
import { PathText } from '../components/path-text.tsx';
import { formatDate } from '../format.ts';
import { jobRequest } from '../job-request.ts';
import { useJobs } from '../job-store.ts';
import { noteJob } from '../job-store.ts';
import { call } from '../transport.ts';

type Action = 'cancel' | 'fetch' | 'follow';

/**
 * A cluster run's job on the Run page: SLURM's state (with why it waits, or the one line of why it failed), where it
 * runs, what was fetched; Cancel (scancel), Fetch (the adapter and checkpoints, each verified before it counts) and,
 * when no job of the studio follows it, Follow again. Each is a `cluster` job on the main side.
 */
export function ClusterPanel({ runDir, info, following }: { runDir: string; info: ClusterRunInfo; following: boolean }) {
  const { t, i18n } = useTranslation();
  const { jobs } = useJobs();
  const [started, setStarted] = useState<{ action: Action; jobId: string }[]>([]);
  const [error, setError] = useState<string>();
  const state = info.state;
  const ended = state !== undefined && isTerminal(state);
  const busy = (a: Action) => started.some((s) => s.action === a && ['queued', 'running'].includes(jobs[s.jobId]?.state ?? 'running'));
  const failedAction = started
    .map((s) => ({ ...s, view: jobs[s.jobId] }))
    .filter((s) => s.view?.state === 'failed')
    .at(-1);
  const run = async (action: Action) => {
    if (action === 'cancel' && !confirm(t('cluster.confirmCancel', { jobId: info.jobId }))) return;
    setError(undefined);
    try {
      const job = await call('jobs.start', jobRequest({ kind: 'cluster', config: { action, output_dir: runDir } }));
      noteJob(job.id, job.kind, job.runId, job.state);
      setStarted((s) => [...s, { action, jobId: job.id }]);
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const fetched = info.fetched;
  const fetchedWhat = fetched && [
    ...(fetched.adapter ? [t('cluster.fetchedAdapter')] : []),
    ...(fetched.checkpoints.length ? [t('cluster.fetchedCheckpoints', { list: fetched.checkpoints.join(', ') })] : []),
  ];
  return (
    <div className="panel cluster-panel" data-testid="cluster-panel">
      <div className="row wrap">
        <span
          className={`badge cluster-${(state ?? 'submitting').toLowerCase()}`}
          data-testid="cluster-state"
          data-state={state ?? 'submitting'}
        >
          {t(`cluster.states.${state ?? 'submitting'}`)}
        </span>
        <span data-testid="cluster-job">
          {info.jobId
            ? t('cluster.job', { jobId: info.jobId, cluster: info.cluster })
            : t('cluster.jobUnsubmitted', { cluster: info.cluster })}
        </span>
        {state === 'PENDING' && info.reason && (
          <span className="muted" data-testid="cluster-reason">
            {t('cluster.reason', { reason: info.reason })}
          </span>
        )}
        {info.exitCode && ended && <span className="muted">{t('cluster.exitCode', { code: info.exitCode })}</span>}
        <span className="spacer" />
        {info.jobId && !ended && (
          <button className="danger" data-testid="cluster-cancel" disabled={busy('cancel')} onClick={() => void run('cancel')}>
            {t('cluster.cancel')}
          </button>
        )}
        {info.jobId && state !== undefined && state !== 'PENDING' && (
          <button data-testid="cluster-fetch" disabled={busy('fetch') || (following && ended)} onClick={() => void run('fetch')}>
            {t('cluster.fetch')}
          </button>
        )}
        {info.jobId && !ended && !following && (
          <button data-testid="cluster-follow" disabled={busy('follow')} onClick={() => void run('follow')}>
            {t('cluster.follow')}
          </button>
        )}
      </div>
      {info.failure && (
        <p className="error" data-testid="cluster-failure">
          {info.failure}
        </p>
      )}
      {info.jobId && !ended && !following && <p className="notice">{t('cluster.notFollowed')}</p>}
      <dl className="facts">
        <div>
          <dt>{t('cluster.remoteDir')}</dt>
          <dd className="mono">{info.remoteDir}</dd>
        </div>
      </dl>
      {fetched && fetchedWhat && fetchedWhat.length > 0 ? (
        <p data-testid="cluster-fetched">
          {t('cluster.fetched', { at: formatDate(fetched.at, i18n.language), what: fetchedWhat.join(', ') })}
        </p>
      ) : (
        state === 'COMPLETED' && !following && <p className="muted">{t('cluster.notFetched')}</p>
      )}
      <ErrorBox error={error} />
      {failedAction?.view?.failed && (
        <ErrorBox
          error={t('cluster.actionFailed', { action: t(`cluster.${failedAction.action}`), error: failedAction.view.failed.error })}
        />
      )}
      <p className="muted">
        <PathText path={runDir} />
      </p>
    </div>
  );
}
