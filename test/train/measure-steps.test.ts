import { existsSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../main/engine/backend/index.ts';
import { measureSteps } from '../../main/engine/train/measure-steps.ts';
import { planRun } from '../../main/engine/train/run-plan.ts';
import { tinyRunSetup } from '../helpers/tiny-run.ts';

/** The wizard's duration estimate: a run's first steps, timed as the run makes them, with nothing written. */
describe('measuring the first steps of a run', () => {
  let setup: Awaited<ReturnType<typeof tinyRunSetup>>;
  beforeAll(async () => {
    setup = await tinyRunSetup();
    await initBackend('wasm', { threads: 1 });
  });

  it('times three steps and two validation micro-batches, estimates the whole run from them, and writes nothing', async () => {
    const out = path.join(setup.work, 'never-written');
    const config = setup.settings({ output_dir: out, max_steps: 0, num_epochs: 2, val_set_size: 4, eval_steps: 3 });
    const logs: string[] = [];
    const m = await measureSteps(config, (message) => logs.push(message));
    const plan = planRun(config, 24); // the demo's 24 rows
    expect(m).toMatchObject({ measuredSteps: 3, totalSteps: plan.totalSteps, evaluations: plan.evaluations });
    expect(m.totalSteps).toBe(20); // 20 training rows, one micro-batch of 2 a step, 2 epochs
    expect(m.firstStepMs).toBeGreaterThan(0);
    expect(m.stepMs).toBeGreaterThan(0);
    expect(m.evalPassMs).toBeGreaterThan(0);
    // The later steps are scaled by their padded tokens: near 19 steps at the measured mean (rows differ in length).
    const rest = m.estimatedMs - m.loadMs - m.firstStepMs - plan.evaluations * m.evalPassMs;
    expect(rest / (19 * m.stepMs)).toBeGreaterThan(0.5);
    expect(rest / (19 * m.stepMs)).toBeLessThan(2);
    expect(logs.filter((l) => l.startsWith('measured step'))).toHaveLength(3);
    expect(existsSync(out)).toBe(false);
  });
});
