// A studio training job on the WebGPU software adapter: the job reports its adapter and the bytes its GPU buffers
// hold, which the Run page's GPU panel shows. Real worker process, real model; skipped without an adapter.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { JobEvent } from '../../main/contract/contract.ts';
import { JobHost } from '../../main/jobs/host.ts';
import { nodeSpawner } from '../../main/jobs/spawner.ts';
import { tinyAlpacaFile, tinyModel } from '../helpers/synthetic.ts';
import { startWebgpuSoftware } from '../helpers/webgpu.ts';

const skip = await startWebgpuSoftware('webgpu job');

describe.skipIf(skip)('a training job on webgpu-software', () => {
  const host = new JobHost({ spawner: nodeSpawner(), runsDir: mkdtempSync(path.join(tmpdir(), 'webgpu-job-')) });
  afterAll(() => host.close());

  it('reports its WebGPU adapter and the bytes its GPU buffers hold', async () => {
    const events: JobEvent[] = [];
    host.onEvent((e) => events.push(e));
    const job = host.start('finetune', {
      // A model and rows written by the test: the job's reports need no trained weights.
      base_model: await tinyModel(),
      data_path: tinyAlpacaFile(16, 'en'),
      backend: 'webgpu-software',
      max_steps: 2,
      batch_size: 2,
      micro_batch_size: 2,
      cutoff_len: 32,
      val_set_size: 0,
      warmup_steps: 0,
    });
    await host.whenIdle();
    const mine = events.filter((e) => e.jobId === job.id);
    const end = mine.at(-1)!;
    expect(end.type === 'failed' ? `${end.error}\n${end.lastOutput.join('\n')}` : end.type).toBe('done');
    const backend = mine.find((e) => e.type === 'backend');
    expect(backend?.type === 'backend' && backend.backend).toMatchObject({
      name: 'webgpu',
      adapter: { vendor: 'google', architecture: 'swiftshader', software: true, shaderF16: false },
    });
    const reports = mine.filter((e) => e.type === 'report');
    expect(reports.length).toBeGreaterThan(0);
    for (const r of reports) expect(r.type === 'report' && r.memory.deviceBytes).toBeGreaterThan(0);
  }, 300_000);
});
