import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { jobEventSchema, type JobEvent } from '../../main/contract/contract.ts';
import { parseFinetuneConfig } from '../../main/engine/train/config.ts';
import { JobHost } from '../../main/jobs/host.ts';
import { nodeSpawner } from '../../main/jobs/spawner.ts';
import { workFolder } from '../helpers/work-folder.ts';

// Real worker processes (node + tsx), running the built-in selftest job: no mocks of the process boundary.
const host = new JobHost({ spawner: nodeSpawner(), runsDir: workFolder('studio-runs'), stopGraceMs: 1500 });
const events: JobEvent[] = [];
host.onEvent((e) => events.push(e));
afterAll(() => host.close());

const of = (id: string) => events.filter((e) => e.jobId === id);
const terminal = (id: string) =>
  new Promise<JobEvent>((resolve) => {
    const hit = of(id).find((e) => e.type === 'done' || e.type === 'failed');
    if (hit) return resolve(hit);
    const off = host.onEvent((e) => {
      if (e.jobId === id && (e.type === 'done' || e.type === 'failed')) {
        off();
        resolve(e);
      }
    });
  });

describe('job host', () => {
  it('runs queued jobs one after another, in order, with typed events', async () => {
    const a = host.start('selftest', { steps: 3, intervalMs: 5 });
    const b = host.start('selftest', { steps: 2, intervalMs: 5 });
    expect(a.state).toBe('running');
    expect(b.state).toBe('queued');
    await terminal(b.id);
    for (const e of events) expect(jobEventSchema.safeParse(e).success).toBe(true);
    expect(of(a.id).map((e) => e.type)).toEqual(['started', 'progress', 'progress', 'progress', 'done']);
    expect(of(a.id).at(-1)).toMatchObject({ type: 'done', reason: 'finished', result: { steps: 3 } });
    // b started only after a was done.
    const aDone = events.findIndex((e) => e.jobId === a.id && e.type === 'done');
    const bStart = events.findIndex((e) => e.jobId === b.id && e.type === 'started');
    expect(bStart).toBeGreaterThan(aDone);
    expect(host.list().find((j) => j.id === b.id)?.state).toBe('done');
  });

  it('reports a crashed worker as failed with its last output, and runs the next job', async () => {
    const crash = host.start('selftest', { steps: 10, intervalMs: 5, crashAt: 3 });
    const next = host.start('selftest', { steps: 1, intervalMs: 5 });
    const failed = await terminal(crash.id);
    expect(failed.type).toBe('failed');
    if (failed.type !== 'failed') return;
    expect(failed.error).toMatch(/exited with code 70 before finishing/);
    expect(failed.lastOutput).toContain('selftest: step 2/10');
    expect(failed.lastOutput.at(-1)).toBe('selftest: crashing on request at step 3');
    expect(await terminal(next.id)).toMatchObject({ type: 'done', reason: 'finished' });
  });

  it('reports a thrown error with its stack in the last output', async () => {
    const job = host.start('selftest', { steps: 5, intervalMs: 5, crashAt: 2, crashMode: 'throw' });
    const e = await terminal(job.id);
    expect(e).toMatchObject({ type: 'failed', error: 'selftest: failing on request at step 2' });
    expect(e.type === 'failed' && e.lastOutput.join('\n')).toMatch(/Error: selftest: failing on request at step 2\n\s+at /);
  });

  it('reports a StudioError by its message alone: no JS stack in the last output', async () => {
    const job = host.start('selftest', { steps: 5, intervalMs: 5, crashAt: 2, crashMode: 'refuse' });
    const e = await terminal(job.id);
    expect(e).toMatchObject({ type: 'failed', error: 'selftest.json: refusing on request at step 2' });
    if (e.type !== 'failed') return;
    expect(e.lastOutput.at(-1)).toBe('error: selftest.json: refusing on request at step 2');
    expect(e.lastOutput.join('\n')).not.toMatch(/\n\s+at /);
  });

  it('stops a running job (SIGTERM) and removes a queued one', async () => {
    const long = host.start('selftest', { steps: 1000, intervalMs: 20 });
    const queued = host.start('selftest', { steps: 1 });
    await new Promise<void>((r) => {
      const off = host.onEvent((e) => e.jobId === long.id && e.type === 'progress' && (off(), r()));
    });
    expect(host.stop(queued.id)).toBe(true);
    expect(host.stop(long.id)).toBe(true);
    expect(await terminal(long.id)).toMatchObject({ type: 'done', reason: 'stopped' });
    expect(await terminal(queued.id)).toMatchObject({ type: 'done', reason: 'stopped' });
    expect(of(queued.id).map((e) => e.type)).toEqual(['done']); // it never started
    expect(host.list().find((j) => j.id === long.id)?.state).toBe('stopped');
    expect(host.stop(long.id)).toBe(false);
  });

  it('kills a job that ignores SIGTERM once the grace time is over', async () => {
    const stubborn = host.start('selftest', { steps: 100000, intervalMs: 20, ignoreStop: true });
    await new Promise<void>((r) => {
      const off = host.onEvent((e) => e.jobId === stubborn.id && e.type === 'progress' && (off(), r()));
    });
    host.stop(stubborn.id);
    expect(await terminal(stubborn.id)).toMatchObject({ type: 'done', reason: 'stopped' });
    expect(host.list().find((j) => j.id === stubborn.id)?.state).toBe('stopped');
  });

  it('refuses a kind this build cannot run', () => {
    const limited = new JobHost({ spawner: nodeSpawner(), runsDir: tmpdir(), availableKinds: ['selftest'] });
    expect(() => limited.start('quantize', {})).toThrow(/quantize jobs are not available in this build/);
  });

  it('refuses bad export settings before any process starts, naming the field', () => {
    const before = host.list().length;
    expect(() => host.start('quantize', { model: '/m', format: 'gguf-q4_0', output: 'x.gguf' })).toThrow(/quantize settings: format: /);
    expect(() => host.start('merge', { base_model: '/m', output_dir: 'out' })).toThrow(/merge settings: lora_weights: /);
    expect(() => host.start('quantize', { output: 'x.gguf' })).toThrow(/quantize needs model, or base_model with lora_weights/);
    expect(host.list().length).toBe(before);
  });

  it('refuses unknown fine-tuning and selftest settings by name, as --config does, before any process starts', () => {
    const before = host.list().length;
    expect(() => host.start('finetune', { base_model: '/m', data_path: '/d.json', lora_rr: 4 })).toThrow(/fine-tuning settings: .*lora_rr/);
    expect(() => host.start('finetune', { base_model: '/m', data_path: '/d.json', lora_r: 'eight' })).toThrow(
      /fine-tuning settings: lora_r: /,
    );
    expect(() => host.start('selftest', { stepz: 1 })).toThrow(/selftest settings: .*stepz/);
    expect(() => host.start('generate', { base_model: '/m', instruction: 'hi', top_p: 5 })).toThrow(/playground settings: top_p: /);
    expect(host.list().length).toBe(before);
    expect(() => parseFinetuneConfig({ base_model: '/m', data_path: '/d.json', lora_rr: 4 }, 'c.json')).toThrow(
      /c\.json: invalid settings: .*lora_rr/,
    );
  });

  it('runs a playground (generate) job beside a running training-lane job, and its error names the folder', async () => {
    const long = host.start('selftest', { steps: 1000, intervalMs: 20 });
    const missing = path.join(tmpdir(), 'no-such-model-folder');
    const gen = host.start('generate', { base_model: missing, instruction: 'hi' });
    expect(gen.state).toBe('running'); // not queued behind the selftest
    const e = await terminal(gen.id);
    expect(e).toMatchObject({ type: 'failed' });
    expect(e.type === 'failed' && e.error).toContain(missing);
    expect(host.list().find((j) => j.id === long.id)?.state).toBe('running');
    host.stop(long.id);
    await terminal(long.id);
  });
});
