import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApi } from '../../main/api/create-api.ts';
import { createHandlers } from '../../main/api/handlers.ts';
import { memorySettings } from '../../main/api/settings.ts';
import type { CallReply, JobEvent } from '../../main/contract/contract.ts';
import { readMetrics, runPaths } from '../../main/engine/train/run-folder.ts';
import { JobHost } from '../../main/jobs/host.ts';
import { RunRegistry } from '../../main/jobs/run-registry.ts';
import { nodeSpawner } from '../../main/jobs/spawner.ts';
import { tinyRunSetup } from '../helpers/tiny-run.ts';

/**
 * runs.history: a run's events replayed from its folder are the events a page open from the start received live
 * (same log, same curve, same end), for a finished run, a run whose process died, and the same run resumed. Real
 * worker processes and real training on the demo's small model; nothing mocked.
 */
let setup: Awaited<ReturnType<typeof tinyRunSetup>>;
let host: JobHost;
let api: ReturnType<typeof createApi>;
const live: JobEvent[] = [];
type History = CallReply<'runs.history'>;

const settings = (extra: Record<string, unknown>) => ({
  base_model: setup.baseModel,
  data_path: setup.dataPath,
  batch_size: 2,
  micro_batch_size: 2,
  cutoff_len: 64,
  val_set_size: 4,
  eval_steps: 2,
  learning_rate: 1e-2,
  warmup_steps: 0,
  lora_r: 4,
  logging_steps: 1,
  save_steps: 1,
  backend: 'wasm',
  threads: 1,
  ...extra,
});
const ended = (id: string) =>
  new Promise<JobEvent>((resolve) => {
    const hit = live.find((e) => e.jobId === id && (e.type === 'done' || e.type === 'failed'));
    if (hit) return resolve(hit);
    const off = host.onEvent((e) => {
      if (e.jobId === id && (e.type === 'done' || e.type === 'failed')) {
        off();
        resolve(e);
      }
    });
  });
/** What a page shows of a list of events: the log lines, the curve points and how it ended (the numbering left out). */
const shown = (events: JobEvent[]) => ({
  logs: events.flatMap((e) => (e.type === 'log' ? [`${e.level} ${e.message}`] : [])),
  steps: events.flatMap((e) => (e.type === 'report' ? [[e.step, e.loss]] : [])),
  evals: events.flatMap((e) => (e.type === 'eval' ? [[e.step, e.evalLoss]] : [])),
  end: events.filter((e) => e.type === 'done' || e.type === 'failed').map((e) => (e.type === 'done' ? e.reason : e.error)),
});

beforeAll(async () => {
  setup = await tinyRunSetup();
  const runsDir = path.join(setup.work, 'runs');
  host = new JobHost({ spawner: nodeSpawner(), runsDir, stopGraceMs: 3000 });
  host.onEvent((e) => live.push(e));
  api = createApi(
    createHandlers({
      mode: 'server',
      app: { name: 't', version: '0' },
      jobs: host,
      runs: new RunRegistry(runsDir),
      settings: memorySettings({ runsDir }),
    }),
  );
});
afterAll(() => host?.close());

describe('runs.history', () => {
  it('replays a finished run as the events it sent live, and numbers live events so a page can join the two', async () => {
    const job = host.start('finetune', settings({ output_dir: 'finished', max_steps: 4 }));
    expect(await ended(job.id)).toMatchObject({ type: 'done', reason: 'max_steps' });
    const mine = live.filter((e) => e.jobId === job.id);
    expect(mine.map((e) => e.seq)).toEqual(mine.map((_, i) => i + 1));

    const h = (await api.call('runs.history', { id: 'finished' })) as History;
    expect(h.job).toMatchObject({ id: job.id, state: 'done', seq: mine.length, runDir: path.join(setup.work, 'runs', 'finished') });
    expect(shown(h.events)).toEqual(shown(mine));
    expect(shown(h.events).steps.map(([s]) => s)).toEqual([1, 2, 3, 4]);
    expect(h.events.find((e) => e.type === 'backend')).toMatchObject({ backend: { name: 'wasm' } });
    expect(h.events.at(-1)).toMatchObject({ type: 'done', reason: 'max_steps', result: { steps: 4 } });
    expect(h.run).toMatchObject({
      id: 'finished',
      status: 'finished',
      steps: 4,
      totalSteps: 4,
      settings: { learningRate: 1e-2, loraR: 4, batchSize: 2, microBatchSize: 2, cutoffLen: 64, maxSteps: 4, baseDtype: 'f32' },
    });
    expect(h.run!.durationMs).toBeGreaterThan(0);
    expect(Date.parse(h.run!.endedAt!)).toBeGreaterThanOrEqual(Date.parse(h.run!.startedAt!));
  });

  it('a run whose process died records how (and says failed); resumed, its history holds every step from step 1 once', async () => {
    const job = host.start('finetune', settings({ output_dir: 'killed', max_steps: 100_000, val_set_size: 0, eval_steps: 0 }));
    const metrics = runPaths(path.join(setup.work, 'runs', 'killed')).metrics;
    const stepsWritten = () => (existsSync(metrics) ? readMetrics(metrics).points.length : 0);
    for (let i = 0; i < 600 && stepsWritten() < 3; i++) await new Promise((r) => setTimeout(r, 100));
    process.kill(host.list().find((j) => j.id === job.id)!.pid!, 'SIGKILL');
    const failed = await ended(job.id);
    expect(failed).toMatchObject({ type: 'failed', error: expect.stringMatching(/killed by SIGKILL/) });
    const killedAt = readMetrics(metrics).points.at(-1)!.step;

    const h = (await api.call('runs.history', { id: 'killed' })) as History;
    expect(h.run).toMatchObject({ status: 'failed', error: expect.stringMatching(/killed by SIGKILL/) });
    expect(h.events.at(-1)).toMatchObject({ type: 'failed', error: failed.type === 'failed' ? failed.error : '' });
    expect(shown(h.events)).toEqual(shown(live.filter((e) => e.jobId === job.id)));

    // Resume, stop it a few steps later: one run, two attempts, one curve.
    const resumed = host.start(
      'finetune',
      settings({ output_dir: 'killed', max_steps: 100_000, val_set_size: 0, eval_steps: 0, resume_from_checkpoint: true }),
    );
    for (let i = 0; i < 600 && readMetrics(metrics).points.at(-1)!.step < killedAt + 3; i++) await new Promise((r) => setTimeout(r, 100));
    host.stop(resumed.id);
    expect(await ended(resumed.id)).toMatchObject({ type: 'done', reason: 'stopped' });
    const again = (await api.call('runs.history', { id: 'killed' })) as History;
    expect(again.job?.id).toBe(resumed.id);
    expect(again.run?.status).toBe('stopped');
    // Folded as the page folds them (a step at or before the last one replaces the steps from it on).
    const curve: number[] = [];
    for (const e of again.events) {
      if (e.type !== 'report') continue;
      const redone = curve.findIndex((s) => s >= e.step);
      if (redone >= 0) curve.length = redone;
      curve.push(e.step);
    }
    const last = readMetrics(metrics).points.at(-1)!.step;
    expect(curve).toEqual(Array.from({ length: last }, (_, i) => i + 1));
    expect(shown(again.events).logs.some((l) => /resuming from .*step-\d+/.test(l))).toBe(true);
  });

  it('a start refused because the folder holds another run writes nothing into that run', async () => {
    const metrics = runPaths(path.join(setup.work, 'runs', 'finished')).metrics;
    const before = readFileSync(metrics, 'utf8');
    const job = host.start('finetune', settings({ output_dir: 'finished', max_steps: 2 }));
    expect(await ended(job.id)).toMatchObject({ type: 'failed', error: expect.stringMatching(/already holds a run/) });
    expect(readFileSync(metrics, 'utf8')).toBe(before);
    expect(((await api.call('runs.history', { id: 'finished' })) as History).run?.status).toBe('finished');
  });

  it('a queued job has no folder yet: its run is null, the job is there; an unknown run is a 404', async () => {
    const busy = host.start('selftest', { steps: 50, intervalMs: 20 });
    const queued = host.start('finetune', settings({ output_dir: 'later', max_steps: 1 }));
    const h = (await api.call('runs.history', { id: 'later' })) as History;
    expect(h).toMatchObject({ run: null, events: [], job: { id: queued.id, state: 'queued' } });
    host.stop(queued.id);
    host.stop(busy.id);
    await expect(api.call('runs.history', { id: 'no-such-run' })).rejects.toMatchObject({ status: 404 });
  });
});
