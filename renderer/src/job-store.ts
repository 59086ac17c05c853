import { useSyncExternalStore } from 'react';
import type { JobEvent, JobInfo, JobKind } from '../../main/contract/contract.ts';
import { applyEvent, emptyView, type JobView } from './job-view.ts';
import { transport } from './transport.ts';

export type { JobView } from './job-view.ts';

/**
 * The live events of every job this page has heard of, as they arrived, and each job folded into a view. A page that
 * opened mid-job joins the job's history (runs.history) to the events numbered after it (see RunPage).
 */
interface Snapshot {
  jobs: Record<string, JobView>;
  order: string[];
  /** Changes with every event: the raw events (eventsOf) are appended in place. */
  version: number;
}

let snapshot: Snapshot = { jobs: {}, order: [], version: 0 };
const raw = new Map<string, JobEvent[]>();
const listeners = new Set<() => void>();

/** How often the pages hear of new events at most (ms): a fast run sends dozens a second, a page redraws ten times. */
const NOTIFY_MS = 100;
let notifyTimer: ReturnType<typeof setTimeout> | undefined;

function notify(): void {
  notifyTimer ??= setTimeout(() => {
    notifyTimer = undefined;
    for (const l of listeners) l();
  }, NOTIFY_MS);
}

function update(id: string, f: (j: JobView) => JobView): void {
  const known = snapshot.jobs[id];
  snapshot = {
    jobs: { ...snapshot.jobs, [id]: f(known ?? emptyView(id)) },
    order: known ? snapshot.order : [...snapshot.order, id],
    version: snapshot.version + 1,
  };
  notify();
}

export function receiveEvent(e: JobEvent): void {
  let list = raw.get(e.jobId);
  if (!list) raw.set(e.jobId, (list = []));
  list.push(e);
  update(e.jobId, (j) => applyEvent(j, e));
}

/** The live events of a job received so far (the array grows in place; `version` says when). */
export function eventsOf(id: string): readonly JobEvent[] {
  return raw.get(id) ?? [];
}

/**
 * Remember a job the page started or found in jobs.list (so its kind, run and state are known before its first
 * event). A job already heard from keeps the state its events gave it.
 */
export function noteJob(id: string, kind: JobKind, runId?: string, state?: JobInfo['state']): void {
  const heard = raw.has(id);
  update(id, (j) => ({ ...j, kind, runId: runId ?? j.runId, state: !heard && state ? state : j.state }));
}

let subscribed = false;
function subscribe(l: () => void): () => void {
  if (!subscribed) {
    subscribed = true;
    transport.onEvent(receiveEvent);
  }
  listeners.add(l);
  return () => listeners.delete(l);
}

export function useJobs(): Snapshot {
  return useSyncExternalStore(subscribe, () => snapshot);
}
