import type { JobEvent, JobKind } from '../../main/contract/contract.ts';

type Of<T extends JobEvent['type']> = Extract<JobEvent, { type: T }>;

/** The most log lines a view keeps (the oldest go first); a long run's log is mostly its loading and checkpoints. */
export const MAX_LOG_LINES = 5000;

/** Everything a page shows about one job, folded from its events (live ones, or a run's history replayed). */
export interface JobView {
  id: string;
  kind?: JobKind;
  runId?: string;
  state: 'running' | 'done' | 'failed' | 'stopped';
  reports: Of<'report'>[];
  evals: Of<'eval'>[];
  logs: { level: 'info' | 'warn' | 'error'; message: string }[];
  progress?: { done: number; total: number; message?: string };
  backend?: Of<'backend'>['backend'];
  /** A generate job's streamed answers. */
  text: { base: string; tuned: string };
  failed?: Of<'failed'>;
  done?: Of<'done'>;
}

export function emptyView(id: string): JobView {
  return { id, state: 'running', reports: [], evals: [], logs: [], text: { base: '', tuned: '' } };
}

/**
 * Points keyed by step: a point at or before the last one is a resumed attempt redoing steps from its checkpoint,
 * so the points from that step on are replaced (the curve shows each step once, as the run folder's reader does).
 */
function byStep<T extends { step: number }>(points: T[], p: T): T[] {
  const last = points.at(-1);
  if (!last || p.step > last.step) return [...points, p];
  return [...points.filter((x) => x.step < p.step), p];
}

export function applyEvent(j: JobView, e: JobEvent): JobView {
  switch (e.type) {
    case 'started':
      // A new attempt (a resume replayed from the run folder) runs again until it ends.
      return { ...j, kind: e.kind, runId: e.runId ?? j.runId, state: 'running', failed: undefined, done: undefined };
    case 'backend':
      return { ...j, backend: e.backend };
    case 'log':
      return { ...j, logs: [...j.logs, { level: e.level, message: e.message }].slice(-MAX_LOG_LINES) };
    case 'progress':
      // A resumed attempt reports its start: a failure or stop before it is history now.
      return { ...j, progress: { done: e.done, total: e.total, message: e.message }, state: 'running', failed: undefined, done: undefined };
    case 'text':
      return { ...j, text: { ...j.text, [e.side]: j.text[e.side] + e.text } };
    case 'report':
      return { ...j, reports: byStep(j.reports, e) };
    case 'eval':
      return { ...j, evals: byStep(j.evals, e) };
    case 'done':
      return { ...j, done: e, state: e.reason === 'stopped' ? 'stopped' : 'done' };
    case 'failed':
      return {
        ...j,
        failed: e,
        state: 'failed',
        logs: [...j.logs, { level: 'error' as const, message: e.error }].slice(-MAX_LOG_LINES),
      };
  }
}

export function foldEvents(events: readonly JobEvent[], from: JobView): JobView {
  return events.reduce(applyEvent, from);
}
