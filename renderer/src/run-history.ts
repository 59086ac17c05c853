import { useEffect, useMemo, useState } from 'react';
import type { CallReply, JobEvent, RunSummary } from '../../main/contract/contract.ts';
import { eventsOf, useJobs } from './job-store.ts';
import { runStateOfCluster } from './cluster/cluster-state.ts';
import { afterHistory, emptyView, foldEvents, type JobView, type RunState } from './job-view.ts';
import { call } from './transport.ts';

export type RunHistory = CallReply<'runs.history'>;

export type { RunState } from './job-view.ts';

const STATUS_STATE: Record<RunSummary['status'], RunState> = {
  running: 'running',
  finished: 'done',
  stopped: 'stopped',
  failed: 'failed',
  incomplete: 'interrupted',
  empty: 'empty',
};

const isEnd = (e: JobEvent): e is Extract<JobEvent, { type: 'done' | 'failed' }> => e.type === 'done' || e.type === 'failed';

/** Per history view, the live events folded onto it so far: each redraw folds only the new ones (a page left open for hours gets thousands). */
const liveFolds = new WeakMap<JobView, { count: number; view: JobView }>();

function foldLive(base: JobView, live: readonly JobEvent[]): JobView {
  let f = liveFolds.get(base);
  if (!f || live.length < f.count) f = { count: 0, view: base };
  if (live.length > f.count) f = { count: live.length, view: foldEvents(live.slice(f.count), f.view) };
  liveFolds.set(base, f);
  return f.view;
}

/**
 * A run as one view: its history replayed from the run folder (runs.history), then the live events of its job that
 * came after that history (numbered above the job's `seq` when the history was read), so a page opened or reloaded
 * mid-run shows the whole curve and log and keeps following. When the job ends, the history is read again (the
 * summary then has the run's duration and final losses).
 */
export function useRunHistory(runId: string | undefined): {
  history?: RunHistory;
  view?: JobView;
  state?: RunState;
  error?: string;
} {
  const [history, setHistory] = useState<RunHistory>();
  const [error, setError] = useState<string>();
  const { version, jobs, order } = useJobs();
  const job = history?.job ?? undefined;
  // eslint-disable-next-line react-hooks/exhaustive-deps -- eventsOf grows in place; version says when
  const live = useMemo(() => (job ? eventsOf(job.id).filter((e) => (e.seq ?? Infinity) > (job.seq ?? 0)) : []), [job, version]);
  const ended = live.filter(isEnd).at(-1);
  // The job's last end among all its events: the same before and after the history is read again, so it reads once.
  const endKey = job ? `${job.id}:${eventsOf(job.id).filter(isEnd).at(-1)?.seq ?? ''}` : '';
  // A new job on this run (a resume, from this tab or another): its events are not the history's job's.
  const newestJob = order.filter((id) => jobs[id].runId === runId && jobs[id].kind === 'finetune').at(-1);
  // A cluster job on this run (submit, follow, cancel, fetch) that ended: cluster.json and the run folder changed.
  const clusterEnds = order.filter(
    (id) => jobs[id].runId === runId && jobs[id].kind === 'cluster' && ['done', 'failed', 'stopped'].includes(jobs[id].state),
  ).length;
  useEffect(() => {
    if (!runId) return;
    let alive = true;
    call('runs.history', { id: runId })
      .then((h) => alive && (setHistory(h), setError(undefined)))
      .catch((e: Error) => alive && setError(e.message));
    return () => {
      alive = false;
    };
  }, [runId, endKey, newestJob, clusterEnds]);
  const base = useMemo(() => history && foldEvents(history.events, emptyView(job?.id ?? `run:${runId}`)), [history, job, runId]);
  const view = useMemo(() => base && foldLive(base, afterHistory(base, live)), [base, live]);
  if (!runId || !history || (history.run?.id !== runId && history.job?.runId !== runId)) return { error };
  let state: RunState;
  if (ended) state = ended.type === 'failed' ? 'failed' : ended.reason === 'stopped' ? 'stopped' : 'done';
  else if (job && (job.state === 'queued' || job.state === 'running')) state = job.state;
  else if (history.run) state = STATUS_STATE[history.run.status];
  else state = job?.state ?? 'empty';
  // A cluster run is as its SLURM job is, once it has one (a job that stopped following leaves the job running there).
  if (view?.cluster?.state) state = runStateOfCluster(view.cluster.state);
  return { history, view, state, error };
}
