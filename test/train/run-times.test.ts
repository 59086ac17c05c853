import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readMetrics } from '../../main/engine/train/run-folder.ts';

/** metrics.jsonl lines at given seconds after a fixed time. */
function metricsFile(lines: [seconds: number, line: Record<string, unknown>][]): string {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'run-times-')), 'metrics.jsonl');
  const t0 = Date.parse('2026-12-01T10:00:00.000Z');
  writeFileSync(file, lines.map(([s, l]) => JSON.stringify({ time: new Date(t0 + s * 1000).toISOString(), ...l })).join('\n') + '\n');
  return file;
}
const log = (message: string) => ({ type: 'log', level: 'info', message });
const step = (n: number) => ({ type: 'step', step: n, loss: 1 / n });

describe("a run's dates and duration from metrics.jsonl", () => {
  it('counts each attempt from its loading to its last line, not the pause between a crash and the resume', () => {
    const file = metricsFile([
      [0, log('backend: wasm')],
      [5, { type: 'start', startStep: 0, totalSteps: 10 }],
      [10, step(1)],
      [20, step(2)],
      [21, { type: 'checkpoint', step: 2, dir: 'x' }], // the process dies here; resumed an hour later
      [3600, log('resuming from checkpoints/step-2 at step 2')],
      [3604, { type: 'start', startStep: 2, totalSteps: 10 }],
      [3610, step(3)],
      [3620, log('adapter saved')],
      [3620, { type: 'done', step: 3, reason: 'finished' }],
    ]);
    const m = readMetrics(file);
    expect(m.durationMs).toBe((21 + 20) * 1000);
    expect(m).toMatchObject({
      startedAt: '2026-12-01T10:00:00.000Z',
      endedAt: '2026-12-01T11:00:20.000Z',
      ended: 'finished',
      totalSteps: 10,
    });
    expect(m.points.map((p) => p.step)).toEqual([1, 2, 3]);
  });

  it("a failed attempt ends the run as failed until a resume's start; its time counts up to the failure", () => {
    const file = metricsFile([
      [0, log('loading')],
      [2, { type: 'start', startStep: 0, totalSteps: 4 }],
      [4, step(1)],
      [9, { type: 'failed', error: 'the job process was killed by SIGKILL before finishing', lastOutput: ['step 1/4'] }],
    ]);
    expect(readMetrics(file)).toMatchObject({
      failed: { error: expect.stringMatching(/SIGKILL/), lastOutput: ['step 1/4'] },
      endedAt: '2026-12-01T10:00:09.000Z',
      durationMs: 9000,
    });
    const resumed = metricsFile([
      [0, { type: 'start', startStep: 0, totalSteps: 4 }],
      [9, { type: 'failed', error: 'killed' }],
      [100, { type: 'start', startStep: 0, totalSteps: 4 }],
      [101, step(1)],
    ]);
    const m = readMetrics(resumed);
    expect(m.failed).toBeUndefined();
    expect(m.endedAt).toBeUndefined();
    expect(m.durationMs).toBe(10_000);
  });

  it('a start that failed before training (only log lines, then the failure) still has its time', () => {
    const file = metricsFile([
      [0, log('data: 4 rows')],
      [3, { type: 'failed', error: 'no training example has a token left to learn' }],
    ]);
    expect(readMetrics(file)).toMatchObject({ durationMs: 3000, started: false, failed: { error: expect.any(String) } });
  });
});
