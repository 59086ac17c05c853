import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { jobResultOf } from '../../../main/contract/contract.ts';
import { formatDuration } from '../format.ts';
import { jobRequest } from '../job-request.ts';
import { noteJob, useJobs } from '../job-store.ts';
import { call } from '../transport.ts';

/**
 * How long the run will take, from its own first steps measured: a `measure` job loads the data and the model as the
 * run would, times three optimizer steps and two validation micro-batches and writes nothing; the estimate is the
 * loading, the first step, and the other steps and validation passes at the measured pace per padded token.
 */
export function DurationEstimate({ config, ready }: { config: Record<string, unknown>; ready: boolean }) {
  const { t } = useTranslation();
  const { jobs } = useJobs();
  const [job, setJob] = useState<{ id: string; key: string }>();
  const [error, setError] = useState<string>();
  const key = JSON.stringify(config);
  const view = job && jobs[job.id];
  const result = view?.done && jobResultOf('measure', view.done.result);
  const measure = async () => {
    setError(undefined);
    try {
      const info = await call('jobs.start', jobRequest({ kind: 'measure', config }));
      noteJob(info.id, info.kind);
      setJob({ id: info.id, key });
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const running = view?.state === 'running';
  return (
    <div className="panel duration" data-testid="duration-estimate">
      <h3>{t('duration.title')}</h3>
      {result ? (
        <>
          <p className="big" data-testid="duration-total">
            ≈ {formatDuration(result.estimatedMs, t)}
          </p>
          <p className="muted" data-testid="duration-detail">
            {t('duration.detail', {
              load: (result.loadMs / 1000).toFixed(1),
              first: (result.firstStepMs / 1000).toFixed(2),
              step: (result.stepMs / 1000).toFixed(2),
              steps: result.totalSteps,
              evaluations: result.evaluations,
              evalPass: (result.evalPassMs / 1000).toFixed(2),
            })}
          </p>
          {job?.key !== key && <p className="notice">{t('duration.stale')}</p>}
        </>
      ) : (
        <p className="muted">{t('duration.hint')}</p>
      )}
      {running && <p className="muted">{view.logs.at(-1)?.message ?? t('duration.measuring')}</p>}
      {view?.state === 'failed' && (
        <p className="error" data-testid="duration-error">
          {view.failed?.error}
        </p>
      )}
      {error && <p className="error">{error}</p>}
      <button data-testid="measure-duration" disabled={!ready || running} onClick={() => void measure()}>
        {running ? t('duration.measuring') : result ? t('duration.again') : t('duration.measure')}
      </button>
    </div>
  );
}
