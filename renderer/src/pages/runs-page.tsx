import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { CallReply, JobInfo, RunSummary } from '../../../main/contract/contract.ts';
import { ErrorBox } from '../components/common.tsx';
import { LossChart, type Series } from '../components/loss-chart.tsx';
import { PathText, usePathDisplay } from '../components/path-text.tsx';
import { jobRequest } from '../job-request.ts';
import { call } from '../transport.ts';

type RunData = CallReply<'runs.read'>;
const COLORS = ['var(--accent)', 'var(--warn)', '#16a34a', '#9333ea'];

/** History from the run folders: open one or compare two runs' curves, resume an unfinished one, delete. */
export function RunsPage({ visible, onStarted }: { visible: boolean; onStarted(job: JobInfo): void }) {
  const { t } = useTranslation();
  const paths = usePathDisplay();
  const [runs, setRuns] = useState<RunSummary[]>([]);
  const [runsDir, setRunsDir] = useState('');
  const [open, setOpen] = useState<RunData[]>([]);
  const [error, setError] = useState<string>();
  const refresh = () => {
    call('runs.list', {})
      .then((r) => setRuns(r.runs))
      .catch((e: Error) => setError(e.message));
    call('app.info', {})
      .then((i) => setRunsDir(i.runsDir))
      .catch(() => {});
  };
  useEffect(() => {
    if (visible) refresh();
  }, [visible]);
  const show = async (id: string, add: boolean) => {
    try {
      const r = await call('runs.read', { id });
      setOpen((o) => (add ? [...o.filter((x) => x.run.id !== id), r].slice(-2) : [r]));
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const remove = async (id: string) => {
    if (!confirm(t('runs.confirmDelete', { id }))) return;
    await call('runs.delete', { id }).catch((e: Error) => setError(e.message));
    setOpen((o) => o.filter((x) => x.run.id !== id));
    refresh();
  };
  const resume = async (r: RunData) => {
    try {
      // config.json also records the backend used: only the run's own settings (the main side picks them) go back in.
      const config = { ...r.resumeSettings, output_dir: r.run.dir, resume_from_checkpoint: true };
      onStarted(await call('jobs.start', jobRequest({ kind: 'finetune', config })));
    } catch (e) {
      setError((e as Error).message);
    }
  };
  const series: Series[] = open.flatMap((r, k) => [
    {
      name: `${r.run.id} ${t('run.loss')}`,
      color: COLORS[2 * k],
      points: r.metrics.filter((m) => m.loss !== undefined).map((m) => ({ step: m.step, value: m.loss! })),
    },
    {
      name: `${r.run.id} ${t('run.evalLoss')}`,
      color: COLORS[2 * k + 1],
      points: r.metrics.filter((m) => m.evalLoss !== undefined).map((m) => ({ step: m.step, value: m.evalLoss! })),
    },
  ]);
  return (
    <section data-testid="runs-page">
      <h2>{t('runs.title')}</h2>
      <button onClick={refresh}>{t('runs.refresh')}</button>
      <ErrorBox error={error} />
      {runs.length === 0 ? (
        <p className="muted">{t('runs.empty', { dir: paths.path(runsDir) })}</p>
      ) : (
        <table className="table" data-testid="runs-table">
          <thead>
            <tr>
              <th>ID</th>
              <th>{t('runs.status')}</th>
              <th>{t('runs.steps')}</th>
              <th>{t('runs.lastLoss')}</th>
              <th>{t('runs.checkpoints')}</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {runs.map((r) => (
              <tr key={r.id}>
                <td className="mono" title={r.baseModel}>
                  {r.id}
                </td>
                <td>{t(`runs.states.${r.status}`)}</td>
                <td>{r.steps}</td>
                <td>{r.lastLoss?.toFixed(4) ?? '–'}</td>
                <td>{r.checkpoints.length}</td>
                <td className="row">
                  <button onClick={() => void show(r.id, false)}>{t('runs.open')}</button>
                  <button onClick={() => void show(r.id, true)}>{t('runs.compare')}</button>
                  <button className="danger" onClick={() => void remove(r.id)}>
                    {t('runs.delete')}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {open.length > 0 && (
        <div className="panel">
          <LossChart series={series} />
          {open.map((r) => (
            <p key={r.run.id} className="row">
              <PathText path={r.run.dir} />
              {r.run.status !== 'finished' && r.run.checkpoints.length > 0 && (
                <button data-testid="resume-run" onClick={() => void resume(r)}>
                  {t('runs.resume')}
                </button>
              )}
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
