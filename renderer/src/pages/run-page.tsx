import { useTranslation } from 'react-i18next';
import { ErrorBox } from '../components/common.tsx';
import { GpuPanel } from '../components/gpu-panel.tsx';
import { LossChart } from '../components/loss-chart.tsx';
import { usePathDisplay } from '../components/path-text.tsx';
import { formatDuration } from '../format.ts';
import { useJobs } from '../job-store.ts';
import { call } from '../transport.ts';

/** The live view of a job: loss curves from its report events, progress and ETA, GPU panel, log. */
export function RunPage({ jobId, setJobId }: { jobId?: string; setJobId(id: string): void }) {
  const { t } = useTranslation();
  const paths = usePathDisplay();
  const { jobs, order } = useJobs();
  const id = jobId ?? order.at(-1);
  const job = id ? jobs[id] : undefined;
  const last = job?.reports.at(-1);
  return (
    <section data-testid="run-page">
      <h2>{t('run.title')}</h2>
      {order.length > 1 && (
        <select value={id} onChange={(e) => setJobId(e.target.value)}>
          {order.map((j) => (
            <option key={j} value={j}>
              {j} {jobs[j].kind}
            </option>
          ))}
        </select>
      )}
      {!job && <p className="muted">{t('run.noJob')}</p>}
      {job && (
        <>
          <p className="row">
            <span>
              {t('run.job')}: <span className="mono">{job.id}</span> ({job.kind}
              {job.runId ? ` → ${job.runId}` : ''}) · {t('run.state')}:{' '}
              <strong data-testid="job-state" data-state={job.state}>
                {t(`run.states.${job.state}`)}
              </strong>
            </span>
            {job.state === 'running' && (
              <button data-testid="stop-job" onClick={() => void call('jobs.stop', { id: job.id })}>
                {t('run.stop')}
              </button>
            )}
          </p>
          {job.progress && (
            <div className="progress" data-testid="progress">
              <div className="meter">
                <div style={{ width: `${job.progress.total ? (100 * job.progress.done) / job.progress.total : 0}%` }} />
              </div>
              <small>
                {t('run.progress', { done: job.progress.done, total: job.progress.total })}
                {last && job.state === 'running' && ` · ${t('run.eta', { eta: formatDuration(last.etaMs) })}`}
              </small>
            </div>
          )}
          {job.failed && (
            <div data-testid="job-failed">
              <ErrorBox error={t('run.failed', { error: paths.text(job.failed.error) })} />
              {job.failed.lastOutput.length > 0 && (
                <details open>
                  <summary>{t('run.lastOutput')}</summary>
                  <pre className="log" data-testid="last-output">
                    {paths.text(job.failed.lastOutput.join('\n'))}
                  </pre>
                </details>
              )}
            </div>
          )}
          {last && (
            <div className="stats">
              <div>
                <small>{t('run.loss')}</small>
                <strong>{last.loss.toFixed(4)}</strong>
              </div>
              <div>
                <small>{t('run.evalLoss')}</small>
                <strong>{job.evals.at(-1)?.evalLoss.toFixed(4) ?? '–'}</strong>
              </div>
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
          {(job.reports.length > 0 || job.kind === 'finetune') && (
            <LossChart
              series={[
                { name: t('run.loss'), color: 'var(--accent)', points: job.reports.map((r) => ({ step: r.step, value: r.loss })) },
                { name: t('run.evalLoss'), color: 'var(--warn)', points: job.evals.map((r) => ({ step: r.step, value: r.evalLoss })) },
              ]}
            />
          )}
          <h3>{t('run.log')}</h3>
          <pre className="log" data-testid="job-log">
            {paths.text(job.logs.map((l) => `${l.level === 'info' ? '' : l.level.toUpperCase() + ' '}${l.message}`).join('\n'))}
          </pre>
        </>
      )}
      <GpuPanel backend={job?.backend} memory={last?.memory} />
    </section>
  );
}
