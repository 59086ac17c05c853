import { useSyncExternalStore } from 'react';
import type { JobEvent, JobKind } from '../../main/contract/contract.ts';
import { transport } from './transport.ts';

type Of<T extends JobEvent['type']> = Extract<JobEvent, { type: T }>;

/** Everything the Run page shows about one job, folded from its events. */
export interface JobView {
  id: string;
  kind?: JobKind;
  runId?: string;
  state: 'running' | 'done' | 'failed' | 'stopped';
  reports: Of<'report'>[];
  evals: Of<'eval'>[];
  logs: { level: string; message: string }[];
  progress?: { done: number; total: number; message?: string };
  backend?: Of<'backend'>['backend'];
  /** A generate job's streamed answers. */
  text: { base: string; tuned: string };
  failed?: Of<'failed'>;
  done?: Of<'done'>;
}

let jobs: Record<string, JobView> = {};
let order: string[] = [];
const listeners = new Set<() => void>();

function update(id: string, f: (j: JobView) => JobView): void {
  const current = jobs[id] ?? { id, state: 'running', reports: [], evals: [], logs: [], text: { base: '', tuned: '' } };
  if (!jobs[id]) order = [...order, id];
  jobs = { ...jobs, [id]: f(current) };
  for (const l of listeners) l();
}

export function applyEvent(e: JobEvent): void {
  update(e.jobId, (j) => {
    switch (e.type) {
      case 'started':
        return { ...j, kind: e.kind, runId: e.runId ?? j.runId };
      case 'backend':
        return { ...j, backend: e.backend };
      case 'log':
        return { ...j, logs: [...j.logs, { level: e.level, message: e.message }].slice(-500) };
      case 'progress':
        return { ...j, progress: { done: e.done, total: e.total, message: e.message } };
      case 'text':
        return { ...j, text: { ...j.text, [e.side]: j.text[e.side] + e.text } };
      case 'report':
        return { ...j, reports: [...j.reports, e] };
      case 'eval':
        return { ...j, evals: [...j.evals, e] };
      case 'done':
        return { ...j, done: e, state: e.reason === 'stopped' ? 'stopped' : 'done' };
      case 'failed':
        return { ...j, failed: e, state: 'failed', logs: [...j.logs, { level: 'error', message: e.error }] };
    }
  });
}

/** Remember a job the page itself started (so its run id is known before the first event). */
export function noteJob(id: string, kind: JobKind, runId?: string): void {
  update(id, (j) => ({ ...j, kind, runId }));
}

let subscribed = false;
function subscribe(l: () => void): () => void {
  if (!subscribed) {
    subscribed = true;
    transport.onEvent(applyEvent);
  }
  listeners.add(l);
  return () => listeners.delete(l);
}

export function useJobs(): { jobs: Record<string, JobView>; order: string[] } {
  const j = useSyncExternalStore(subscribe, () => jobs);
  const o = useSyncExternalStore(subscribe, () => order);
  return { jobs: j, order: o };
}
