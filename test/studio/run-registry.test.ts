import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runSummarySchema } from '../../main/contract/contract.ts';
import { RunRegistry } from '../../main/jobs/run-registry.ts';
import { workFolder } from '../helpers/work-folder.ts';

function makeRuns() {
  const root = workFolder('studio-registry');
  const a = path.join(root, '20260101-000000-aaaa');
  mkdirSync(path.join(a, 'checkpoints', 'step-10'), { recursive: true });
  mkdirSync(path.join(a, 'checkpoints', 'step-2'), { recursive: true });
  mkdirSync(path.join(a, 'checkpoints', '.tmp-step-12-1-2'), { recursive: true });
  mkdirSync(path.join(a, 'adapter'));
  writeFileSync(path.join(a, 'adapter', 'adapter_config.json'), '{}');
  writeFileSync(path.join(a, 'config.json'), JSON.stringify({ base_model: '/m/stories', data_path: '/d/a.json' }));
  const lines = [
    { type: 'start', totalSteps: 10 },
    { type: 'step', step: 1, epoch: 0.1, loss: 3.5, learningRate: 1e-4, tokensPerSecond: 100 },
    { type: 'step', step: 2, epoch: 0.2, loss: 3.1, learningRate: 2e-4, tokensPerSecond: 110 },
    { type: 'eval', step: 2, epoch: 0.2, evalLoss: 3.3 },
    { type: 'done', step: 2, reason: 'finished' },
  ];
  writeFileSync(path.join(a, 'metrics.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  // A run killed mid-line: config and a torn last metrics line.
  const b = path.join(root, '20260102-000000-bbbb');
  mkdirSync(b);
  writeFileSync(path.join(b, 'config.json'), '{"base_model": "/m"}');
  writeFileSync(path.join(b, 'metrics.jsonl'), JSON.stringify({ type: 'step', step: 1, loss: 2 }) + '\n{"type":"st');
  return { root, a, b };
}

describe('run registry', () => {
  it('lists runs newest first with steps, losses, checkpoints and status', async () => {
    const { root } = makeRuns();
    const runs = await new RunRegistry(root).list();
    for (const r of runs) expect(runSummarySchema.safeParse(r).success).toBe(true);
    expect(runs.map((r) => r.id)).toEqual(['20260102-000000-bbbb', '20260101-000000-aaaa']);
    expect(runs[1]).toMatchObject({
      baseModel: '/m/stories',
      dataPath: '/d/a.json',
      steps: 2,
      lastLoss: 3.1,
      lastEvalLoss: 3.3,
      status: 'finished',
      checkpoints: ['step-2', 'step-10'],
      hasAdapter: true,
      problems: [],
    });
    expect(runs[0]).toMatchObject({ steps: 1, lastLoss: 2, status: 'incomplete', hasAdapter: false, problems: [] });
  });

  it('reads the metrics of one run', async () => {
    const { root } = makeRuns();
    const r = await new RunRegistry(root).read('20260101-000000-aaaa');
    expect(r.metrics).toEqual([
      { step: 1, epoch: 0.1, loss: 3.5, learningRate: 1e-4, tokensPerSecond: 100 },
      { step: 2, epoch: 0.2, loss: 3.1, learningRate: 2e-4, tokensPerSecond: 110 },
      { step: 2, epoch: 0.2, evalLoss: 3.3 },
    ]);
    expect(r.config).toEqual({ base_model: '/m/stories', data_path: '/d/a.json' });
  });

  it('shows each step of a resumed run once, and names a metrics line of the wrong shape', async () => {
    const { root } = makeRuns();
    const c = path.join(root, '20260103-000000-cccc');
    mkdirSync(c);
    const lines = [
      { type: 'start', totalSteps: 4, startStep: 0 },
      { type: 'step', step: 1, loss: 3 },
      { type: 'step', step: 2, loss: 2.9 },
      { type: 'step', step: 3, loss: 2.8 }, // killed after step 3; the newest checkpoint was step 2
      { type: 'start', totalSteps: 4, startStep: 2 },
      { type: 'step', step: 3, loss: 2.7 },
      { type: 'step', step: 4, loss: 'low' },
      { type: 'done', step: 4, reason: 'max_steps' },
    ];
    writeFileSync(path.join(c, 'metrics.jsonl'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
    const r = await new RunRegistry(root).read('20260103-000000-cccc');
    expect(r.metrics.map((m) => [m.step, m.loss])).toEqual([
      [1, 3],
      [2, 2.9],
      [3, 2.7],
    ]);
    expect(r.run.problems).toEqual([expect.stringMatching(/metrics\.jsonl: line 7 \(step\): loss .*number/)]);
    expect(r.run.status).toBe('finished');
  });

  it('deletes a run and refuses ids that would leave the runs folder', async () => {
    const { root, a } = makeRuns();
    const reg = new RunRegistry(root);
    await expect(reg.delete('..')).rejects.toThrow(/not a run id/);
    await expect(reg.delete('../x')).rejects.toThrow(/not a run id/);
    await expect(reg.delete('a/b')).rejects.toThrow(/not a run id/);
    await expect(reg.read('missing-run')).rejects.toThrow(/no such run/);
    expect(await reg.delete('20260101-000000-aaaa')).toBe(true);
    expect(existsSync(a)).toBe(false);
    expect(await reg.delete('20260101-000000-aaaa')).toBe(false);
  });
});
