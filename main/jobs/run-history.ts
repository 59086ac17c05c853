import path from 'node:path';
import { jobEventSchema, type JobEvent } from '../contract/contract.ts';
import { failedLineSchema } from '../engine/train/metrics-schema.ts';
import type { TrainingEvent } from '../engine/train/reports.ts';
import { jobEventsOf } from './training-events.ts';
import type { TaskEvent } from './worker-tasks.ts';

/** The trainer's report types (reports.ts) that metrics.jsonl holds one per line. */
export const TRAINING_TYPES = new Set<TrainingEvent['type']>(['start', 'step', 'skipped', 'eval', 'checkpoint', 'log', 'done']);

/**
 * A run's history as job events, replayed from its folder: every line of metrics.jsonl (its text, read by the run
 * registry) goes through the same mapping the worker applies live (training-events.ts), so the curves, the log and
 * the progress are those a page open from the first step saw, every attempt of a resumed run included (the page drops
 * the steps a resume redid, as parseMetrics does). The backend comes from config.json, the failure of an attempt from
 * the line the job host wrote. A line that does not make a valid event (an older version's, a torn last one) is left out.
 */
export function replayRunHistory(runDir: string, metricsText: string, config: Record<string, unknown> | null, jobId: string): JobEvent[] {
  const backendName = typeof config?.backend_used === 'string' ? config.backend_used : undefined;
  const backendDetail = typeof config?.backend_detail === 'string' ? config.backend_detail : backendName;
  const events: TaskEvent[] = [{ type: 'started', kind: 'finetune', runId: path.basename(runDir) }];
  const progress = { total: 0 };
  let lastEval: number | undefined;
  for (const line of metricsText.split('\n')) {
    let json: { type?: unknown } & Record<string, unknown>;
    try {
      json = JSON.parse(line);
    } catch {
      continue;
    }
    const type = json?.type;
    if (type === 'failed') {
      const f = failedLineSchema.safeParse(json);
      if (f.success) events.push({ type: 'failed', error: f.data.error, lastOutput: f.data.lastOutput });
      continue;
    }
    if (typeof type !== 'string' || !TRAINING_TYPES.has(type as TrainingEvent['type'])) continue;
    const e = json as unknown as TrainingEvent;
    if (e.type === 'start' && backendName) events.push({ type: 'backend', backend: { name: backendName, detail: backendDetail! } });
    events.push(...jobEventsOf(e, progress));
    if (e.type === 'eval') lastEval = e.evalLoss;
    if (e.type === 'done') {
      const result = {
        runDir: path.resolve(runDir),
        adapterDir: e.adapterDir,
        steps: e.step,
        reason: e.reason,
        bestCheckpoint: e.bestCheckpoint,
        finalEvalLoss: lastEval,
      };
      events.push({ type: 'done', reason: e.reason, result: JSON.parse(JSON.stringify(result)) });
    }
  }
  return events.flatMap((e) => {
    const checked = jobEventSchema.safeParse({ ...e, jobId });
    return checked.success ? [checked.data] : [];
  });
}
