import { describe, expect, it } from 'vitest';
import type { JobEvent } from '../../main/contract/contract.ts';
import { afterHistory, applyEvent, emptyView, foldEvents } from '../../renderer/src/job-view.ts';

/** The Run page's fold of job events (renderer/src/job-view.ts): one point per step, a resume's redone steps replaced. */
const jobId = 'job-1';
const memory = { rssBytes: 1, tensorBytes: 1, numTensors: 1 };
const report = (step: number, loss = 1 / step): JobEvent => ({
  jobId,
  type: 'report',
  step,
  epoch: 0,
  loss,
  learningRate: 1e-3,
  tokensPerSecond: 10,
  elapsedMs: 0,
  etaMs: 0,
  memory,
});
const log = (message: string, level: 'info' | 'warn' = 'info'): JobEvent => ({ jobId, type: 'log', level, message });

describe('the Run page’s view of a job', () => {
  it('keeps one point per step: a resumed attempt replaces the steps it redoes, and a failure before it is history', () => {
    const v = foldEvents(
      [
        report(1),
        report(2),
        report(3),
        { jobId, type: 'failed', error: 'killed', lastOutput: [] },
        { jobId, type: 'progress', done: 2, total: 10 },
        report(3, 0.5),
        report(4),
      ],
      emptyView(jobId),
    );
    expect(v.reports.map((r) => [r.step, r.loss])).toEqual([
      [1, 1],
      [2, 0.5],
      [3, 0.5],
      [4, 0.25],
    ]);
    expect(v.state).toBe('running');
    expect(v.failed).toBeUndefined();
    expect(v.logs.at(-1)).toEqual({ level: 'error', message: 'killed' });
  });

  it('folds many events as one event at a time does, without changing the view it started from', () => {
    const events = [log('a'), report(1), log('b', 'warn'), report(2)];
    const start = emptyView(jobId);
    expect(foldEvents(events, start)).toEqual(events.reduce(applyEvent, start));
    expect(start.reports).toEqual([]);
  });

  it('leaves out the live events that repeat the end of the history, and nothing after the first new one', () => {
    const base = foldEvents([log('loading'), report(1), log('checkpoint written: step-1'), report(2)], emptyView(jobId));
    const live = [
      { jobId, type: 'progress', done: 2, total: 9 } as JobEvent,
      report(2),
      log('checkpoint written: step-1'),
      report(3),
      log('loading'),
    ];
    expect(afterHistory(base, live)).toEqual([report(3), log('loading')]);
    expect(afterHistory(base, [report(3)])).toEqual([report(3)]);
  });
});
