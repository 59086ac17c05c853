// Studio jobs on the WebGPU software adapter: a training job reports its adapter and the bytes its GPU buffers hold,
// which the Run page's GPU panel shows; a playground (generate) job chooses the frozen products' kernel as training
// does, and says which and why. Real worker processes, real model; skipped without an adapter.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobEvent } from '../../main/contract/contract.ts';
import { JobHost } from '../../main/jobs/host.ts';
import { nodeSpawner } from '../../main/jobs/spawner.ts';
import { tinyAlpacaFile, tinyModel } from '../helpers/synthetic.ts';
import { startWebgpuSoftware } from '../helpers/webgpu.ts';
import { workFolder } from '../helpers/work-folder.ts';

const skip = await startWebgpuSoftware('webgpu job');

describe.skipIf(skip)('jobs on webgpu-software', () => {
  const host = new JobHost({ spawner: nodeSpawner(), runsDir: workFolder('webgpu-job') });
  const events: JobEvent[] = [];
  host.onEvent((e) => events.push(e));
  afterAll(() => host.close());

  /** Run one job to its end; its events, the last one `done` (or the failure, with the worker's output). */
  async function run(kind: 'finetune' | 'generate', settings: Record<string, unknown>): Promise<JobEvent[]> {
    const job = host.start(kind, settings);
    await host.whenIdle();
    const mine = events.filter((e) => e.jobId === job.id);
    const end = mine.at(-1)!;
    expect(end.type === 'failed' ? `${end.error}\n${end.lastOutput.join('\n')}` : end.type).toBe('done');
    return mine;
  }
  const logLines = (mine: JobEvent[]) => mine.flatMap((e) => (e.type === 'log' ? [e.message] : []));
  const KERNEL_LINE = /^frozen-weight matmuls: (tiled|subgroup-matrix) kernel \(.+\)$/;

  let model = '';
  let training: JobEvent[] = [];
  beforeAll(async () => {
    // A model and rows written by the test: the jobs' reports need no trained weights.
    model = await tinyModel();
    training = await run('finetune', {
      base_model: model,
      data_path: tinyAlpacaFile(16, 'en'),
      backend: 'webgpu-software',
      max_steps: 2,
      batch_size: 2,
      micro_batch_size: 2,
      cutoff_len: 32,
      val_set_size: 0,
      warmup_steps: 0,
    });
  }, 300_000);

  it('a training job reports its WebGPU adapter and the bytes its GPU buffers hold', () => {
    const backend = training.find((e) => e.type === 'backend');
    expect(backend?.type === 'backend' && backend.backend).toMatchObject({
      name: 'webgpu',
      adapter: { vendor: 'google', architecture: 'swiftshader', software: true, shaderF16: false },
    });
    const reports = training.filter((e) => e.type === 'report');
    expect(reports.length).toBeGreaterThan(0);
    for (const r of reports) expect(r.type === 'report' && r.memory.deviceBytes).toBeGreaterThan(0);
  });

  it('a playground job chooses the frozen-weight kernel as training does, and its log names the choice and the reason', async () => {
    const playground = await run('generate', { base_model: model, instruction: 'hi', max_new_tokens: 2, backend: 'webgpu-software' });
    const trainingKernel = logLines(training).filter((l) => KERNEL_LINE.test(l));
    const playgroundKernel = logLines(playground).filter((l) => KERNEL_LINE.test(l));
    expect(trainingKernel).toHaveLength(1);
    // SwiftShader offers no subgroup matrices: the tiled kernel, and the missing features named.
    expect(playgroundKernel).toEqual(trainingKernel);
    expect(playgroundKernel[0]).toMatch(
      /^frozen-weight matmuls: tiled kernel \(subgroup matrices not used: the adapter lacks .*subgroup-matrix/,
    );
    expect(logLines(playground)).toContainEqual(expect.stringMatching(/^backend: webgpu — .*swiftshader/));
  }, 300_000);
});
