import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { liveOwner } from '../../main/engine/fs/folder-lock.ts';
import { runPaths } from '../../main/engine/train/run-folder.ts';
import { JobHost } from '../../main/jobs/host.ts';
import { nodeSpawner } from '../../main/jobs/spawner.ts';
import { startServer, type StudioServer } from '../../main/server/server.ts';
import { sleep, startCli, type Running } from '../helpers/cli-process.ts';
import { hiddenIn, metricLines, ownershipFixtures } from '../helpers/ownership-fixtures.ts';
import { tinyAlpacaFile, tinyModel } from '../helpers/synthetic.ts';
import { workFolder } from '../helpers/work-folder.ts';

/**
 * The studio's side of folder ownership (issue 23): every output a page asks for stays inside the runs folder, and a
 * studio killed while a job trains leaves a worker that the next studio finds (from the run's lock), shows as a
 * running job with stop, and guards (no second writer, no delete) — real processes throughout.
 */

const tmp = workFolder('studio-ownership');

/** Whether process `pid` has ended (a zombie has: its parent died and nothing has reaped it yet). */
function processEnded(pid: number): boolean {
  if (process.platform === 'linux') {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
    } catch {
      return true;
    }
  }
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

describe('outputs over the studio stay inside the runs folder', () => {
  const runsDir = path.join(tmp, 'runs');
  const host = new JobHost({ spawner: nodeSpawner(), runsDir });
  beforeAll(() => {
    mkdirSync(runsDir, { recursive: true });
    mkdirSync(path.join(tmp, 'elsewhere'));
    symlinkSync(path.join(tmp, 'elsewhere'), path.join(runsDir, 'link'));
  });
  afterAll(() => host.close());

  const merge = (out: string) => ['merge', { base_model: '/m', lora_weights: '/a', output_dir: out }] as const;
  it.each([
    ['merge ../x', merge('../x'), /output_dir "\.\.\/x" is outside the runs folder/],
    ['merge r/../../x', merge('r/../../x'), /outside the runs folder/],
    ['merge into an absolute path elsewhere', merge(path.join(tmp, 'elsewhere', 'm')), /outside the runs folder/],
    ['merge through a symlink out of it', merge('link/m'), /output_dir "link\/m" is outside the runs folder/],
    [
      'quantize ../../x.gguf',
      ['quantize', { model: '/m', format: 'gguf-q8_0', output: '../../x.gguf' }] as const,
      /output "\.\.\/\.\.\/x\.gguf" is outside/,
    ],
    ['export-state-dict ../s', ['export-state-dict', { base_model: '/m', output_dir: '../s' }] as const, /outside the runs folder/],
    ['finetune ../run', ['finetune', { base_model: '/m', data_path: '/d.json', output_dir: '../run' }] as const, /outside the runs folder/],
    [
      'finetune into the runs folder itself',
      ['finetune', { base_model: '/m', data_path: '/d.json', output_dir: '.' }] as const,
      /is the runs folder itself/,
    ],
  ])('%s is refused before anything starts', (_what, [kind, config], re) => {
    const before = host.list().length;
    expect(() => host.start(kind, config)).toThrow(re);
    expect(host.list()).toHaveLength(before);
  });

  it('a finetune job whose output_dir is its base model folder fails with that sentence; the model is untouched', async () => {
    const base = path.join(runsDir, 'models', 'base');
    cpSync(await tinyModel(), base, { recursive: true });
    const configBefore = readFileSync(path.join(base, 'config.json'));
    const job = host.start('finetune', { base_model: base, data_path: tinyAlpacaFile(8), output_dir: 'models/base', backend: 'wasm' });
    await host.whenIdle();
    const ended = host.list().find((j) => j.id === job.id)!;
    expect(ended.state).toBe('failed');
    expect(ended.error).toBe(
      `${base}: --output_dir is inside the base_model folder ${base}; a fine-tuning run never writes into its input. Choose a path outside it`,
    );
    expect(readFileSync(path.join(base, 'config.json'))).toEqual(configBefore);
  }, 120_000);

  it('a path inside it is taken (relative to it)', () => {
    const job = host.start('merge', { base_model: '/m', lora_weights: '/a', output_dir: 'r1/exports/merged' });
    expect(job.state === 'queued' || job.state === 'running').toBe(true);
    host.stop(job.id);
  });
});

describe('an export job stopped mid-write', () => {
  it('ends at once and leaves no temp folder and no lock; the same export then runs', async () => {
    const runsDir = path.join(tmp, 'stop-runs');
    const f = await ownershipFixtures('stop-export');
    const host = new JobHost({ spawner: nodeSpawner(), runsDir, stopGraceMs: 20_000 });
    const config = { base_model: f.wideModel, lora_weights: f.wideAdapter, output_dir: 'r/exports/merged' };
    const out = path.join(runsDir, 'r', 'exports', 'merged');
    const job = host.start('merge', config);
    const temp = () => existsSync(path.dirname(out)) && readdirSync(path.dirname(out)).some((n) => n.startsWith('.merged.tmp-'));
    await expect.poll(temp, { timeout: 60_000, interval: 10 }).toBe(true);
    const asked = Date.now();
    host.stop(job.id);
    await host.whenIdle();
    expect(Date.now() - asked).toBeLessThan(15_000); // not the grace time: the worker ended the export itself
    expect(host.list().find((j) => j.id === job.id)?.state).toBe('stopped');
    expect(existsSync(out)).toBe(false);
    expect(hiddenIn(path.dirname(out))).toEqual([]);
    host.start('merge', config);
    await host.whenIdle();
    expect(readdirSync(out)).toContain('verification.json');
    await host.close();
  }, 300_000);
});

describe('a studio killed while a job trains', () => {
  const runsDir = path.join(tmp, 'killed-runs');
  let studio: Running;
  let next: StudioServer | undefined;
  let model: string;
  const data = tinyAlpacaFile(64, 'en');
  const run = runPaths(path.join(runsDir, 'r1'));

  beforeAll(async () => {
    model = await tinyModel();
  });
  afterAll(async () => {
    await next?.close();
    const orphan = liveOwner(run.lock);
    if (orphan) process.kill(orphan.pid, 'SIGKILL'); // a failed test must not leave a worker training
  });

  const call = async (s: { url: string; token: string }, name: string, body: unknown) => {
    const r = await fetch(`${s.url}/api/${name}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-studio-token': s.token },
      body: JSON.stringify(body),
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- replies are checked field by field below
    return { status: r.status, body: (await r.json()) as any };
  };
  const steps = () => metricLines(run.dir).filter((l) => l.type === 'step').length;

  it('leaves its worker training; the next studio shows it running, with stop, and lets no second writer in', async () => {
    studio = startCli(['serve', '--runs_dir', runsDir, '--port', '0']);
    expect(await studio.waitFor(/serving at (http:\/\/\S+)\/\?token=(\S+)/), studio.output()).toBe(true);
    const [, url, token] = /serving at (http:\/\/\S+)\/\?token=(\S+)/.exec(studio.output())!;
    const config = {
      base_model: model,
      data_path: data,
      output_dir: 'r1',
      prompt_template_name: 'alpaca_short',
      batch_size: 2,
      micro_batch_size: 2,
      cutoff_len: 64,
      val_set_size: 0,
      num_epochs: 100_000, // far more than it trains before it is stopped, on any kernels (epochs bound max_steps)
      max_steps: 1_000_000,
      save_steps: 3,
      logging_steps: 1,
      warmup_steps: 0,
      backend: 'wasm',
      threads: 1,
    };
    const started = await call({ url, token }, 'jobs.start', { kind: 'finetune', config });
    expect(started.status, JSON.stringify(started.body)).toBe(200);
    for (let i = 0; i < 3000 && steps() < 2; i++) await sleep(100);
    expect(steps()).toBeGreaterThanOrEqual(2);

    // The studio dies (SIGKILL: no chance to stop its jobs). Its worker goes on writing the run.
    studio.child.kill('SIGKILL');
    await studio.ended;
    const worker = liveOwner(run.lock)!;
    expect(worker).toMatchObject({ command: 'finetune', state: 'alive' });
    const before = steps();
    for (let i = 0; i < 600 && steps() <= before + 1; i++) await sleep(100);
    expect(steps()).toBeGreaterThan(before + 1);

    // The next studio finds it from the lock: a running fine-tuning job of run r1, its pid, with events.
    next = await startServer({ port: 0, runsDir, log: () => {} });
    const jobs = (await call(next, 'jobs.list', {})).body.jobs;
    const adopted = jobs.find((j: { runId?: string }) => j.runId === 'r1');
    expect(adopted).toMatchObject({ kind: 'finetune', state: 'running', pid: worker.pid });
    const runs = (await call(next, 'runs.list', {})).body.runs;
    expect(runs.find((r: { id: string }) => r.id === 'r1')).toMatchObject({
      status: 'running',
      writer: { pid: worker.pid, command: 'finetune' },
      jobId: adopted.id,
    });
    const ws = new WebSocket(`${next.url.replace('http', 'ws')}/events?token=${next.token}`);
    const reports: unknown[] = [];
    ws.on('message', (m) => {
      const e = JSON.parse(String(m));
      if (e.jobId === adopted.id && e.type === 'report') reports.push(e);
    });
    await expect.poll(() => reports.length, { timeout: 60_000 }).toBeGreaterThan(0);

    // No second writer: a resume of r1, and deleting it, are refused naming the worker.
    const second = await call(next, 'jobs.start', { kind: 'finetune', config: { ...config, resume_from_checkpoint: true } });
    expect(second.status).toBe(400);
    expect(second.body.error.message).toMatch(new RegExp(`r1: in use by finetune \\(pid ${worker.pid}, since `));
    const del = await call(next, 'runs.delete', { id: 'r1' });
    expect(del.status).toBe(400);
    expect(del.body.error.message).toMatch(/run r1 is in use by job adopted-/);

    // Stop: the worker writes its checkpoint, says why it ended, releases the run, and exits.
    expect((await call(next, 'jobs.stop', { id: adopted.id })).body).toEqual({ stopped: true });
    await expect
      .poll(async () => (await call(next!, 'jobs.list', {})).body.jobs.find((j: { id: string }) => j.id === adopted.id).state, {
        timeout: 60_000,
      })
      .toBe('stopped');
    ws.close();
    expect(liveOwner(run.lock)).toBeUndefined();
    expect(processEnded(worker.pid)).toBe(true);
    const done = metricLines(run.dir).filter((l) => l.type === 'done');
    expect(done).toEqual([expect.objectContaining({ reason: 'stopped' })]);
    expect((await call(next, 'runs.list', {})).body.runs.find((r: { id: string }) => r.id === 'r1').status).toBe('stopped');
    expect(JSON.parse(readFileSync(run.config, 'utf8')).max_steps).toBe(config.max_steps);
  }, 300_000);
});

// A run folder name the studio cannot address is left out of the list, not an error for the whole list.
it('runs.list skips a folder whose name is no run id', async () => {
  const runsDir = path.join(tmp, 'odd-runs');
  mkdirSync(path.join(runsDir, 'my run'), { recursive: true });
  mkdirSync(path.join(runsDir, 'ok'));
  writeFileSync(path.join(runsDir, 'ok', 'metrics.jsonl'), '');
  const s = await startServer({ port: 0, runsDir, log: () => {} });
  try {
    const r = await fetch(`${s.url}/api/runs.list`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-studio-token': s.token },
      body: '{}',
    });
    expect(r.status).toBe(200);
    const { runs } = (await r.json()) as { runs: { id: string }[] };
    expect(runs.map((x) => x.id)).toEqual(['ok']);
  } finally {
    await s.close();
  }
});
