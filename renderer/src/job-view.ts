import type { ClusterRunInfo, JobEvent, JobKind } from '../../main/contract/contract.ts';

type Of<T extends JobEvent['type']> = Extract<JobEvent, { type: T }>;

/** What the Run page shows of a run: its state, in one word of runView.states. */
export type RunState = 'queued' | 'running' | 'done' | 'failed' | 'stopped' | 'interrupted' | 'empty';

/** The most log lines a view keeps (the oldest go first); a long run's log is mostly its loading and checkpoints. */
export const MAX_LOG_LINES = 5000;

/** Everything a page shows about one job, folded from its events (live ones, or a run's history replayed). */
export interface JobView {
  id: string;
  kind?: JobKind;
  runId?: string;
  /** queued: known from jobs.start, no event yet (its lane is busy). */
  state: 'queued' | 'running' | 'done' | 'failed' | 'stopped';
  reports: Of<'report'>[];
  evals: Of<'eval'>[];
  logs: { level: 'info' | 'warn' | 'error'; message: string }[];
  progress?: { done: number; total: number; message?: string };
  backend?: Of<'backend'>['backend'];
  /** A generate job's streamed answers. */
  text: { base: string; tuned: string };
  failed?: Of<'failed'>;
  done?: Of<'done'>;
  /** A cluster run: its SLURM job as last reported (cluster.json's facts). */
  cluster?: ClusterRunInfo;
}

export function emptyView(id: string): JobView {
  return { id, state: 'running', reports: [], evals: [], logs: [], text: { base: '', tuned: '' } };
}

/**
 * Points keyed by step: a point at or before the last one is a resumed attempt redoing steps from its checkpoint,
 * so the points from that step on are replaced (the curve shows each step once, as the run folder's reader does).
 * Changes `points` in place: the callers hand it their own copy.
 */
function putByStep<T extends { step: number }>(points: T[], p: T): void {
  let at = points.length;
  while (at > 0 && points[at - 1].step >= p.step) at--;
  points.length = at;
  points.push(p);
}

/** A view whose arrays are this fold's own, so events can be applied in place. */
function ownCopy(j: JobView): JobView {
  return { ...j, reports: [...j.reports], evals: [...j.evals], logs: [...j.logs], text: { ...j.text } };
}

/** Apply one event to a view that owns its arrays (see ownCopy). */
function applyInPlace(j: JobView, e: JobEvent): JobView {
  switch (e.type) {
    case 'started':
      // A new attempt (a resume replayed from the run folder) runs again until it ends.
      return Object.assign(j, { kind: e.kind, runId: e.runId ?? j.runId, state: 'running', failed: undefined, done: undefined });
    case 'backend':
      return Object.assign(j, { backend: e.backend });
    case 'log':
      j.logs.push({ level: e.level, message: e.message });
      break;
    case 'progress':
      // A resumed attempt reports its start: a failure or stop before it is history now.
      return Object.assign(j, {
        progress: { done: e.done, total: e.total, message: e.message },
        state: 'running',
        failed: undefined,
        done: undefined,
      });
    case 'text':
      j.text[e.side] += e.text;
      break;
    case 'report':
      putByStep(j.reports, e);
      break;
    case 'eval':
      putByStep(j.evals, e);
      break;
    case 'done':
      return Object.assign(j, { done: e, state: e.reason === 'stopped' ? 'stopped' : 'done' });
    case 'failed':
      j.logs.push({ level: 'error', message: e.error });
      return Object.assign(j, { failed: e, state: 'failed' });
    case 'cluster':
      return Object.assign(j, { cluster: e.cluster });
  }
  return j;
}

const trimLog = (j: JobView): JobView => {
  if (j.logs.length > MAX_LOG_LINES) j.logs.splice(0, j.logs.length - MAX_LOG_LINES);
  return j;
};

/** One event on a view, leaving the view as it was (a new view shares nothing it changes). */
export function applyEvent(j: JobView, e: JobEvent): JobView {
  return trimLog(applyInPlace(ownCopy(j), e));
}

/** Many events on a view: the arrays are copied once, not once per event (a long run's history is thousands). */
export function foldEvents(events: readonly JobEvent[], from: JobView): JobView {
  if (events.length === 0) return from;
  const j = ownCopy(from);
  for (const e of events) applyInPlace(j, e);
  return trimLog(j);
}

/**
 * The live events that carry on from the history. A line the trainer wrote just before the history was read and sent
 * just after it is in both: the leading live events that repeat the history's last log lines, steps or evaluations
 * are left out (and the progress among them, which the next one restates).
 */
export function afterHistory(base: JobView, live: readonly JobEvent[]): readonly JobEvent[] {
  const tail = base.logs.slice(-20);
  const lastStep = base.reports.at(-1)?.step ?? -Infinity;
  const lastEval = base.evals.at(-1)?.step ?? -Infinity;
  let i = 0;
  for (; i < live.length; i++) {
    const e = live[i];
    const repeat =
      e.type === 'progress' ||
      (e.type === 'log' && tail.some((l) => l.level === e.level && l.message === e.message)) ||
      // One job's steps only grow (a resume is a new job, with a history of its own).
      (e.type === 'report' && e.step <= lastStep) ||
      (e.type === 'eval' && e.step <= lastEval);
    if (!repeat) break;
  }
  return i === 0 ? live : live.slice(i);
}
