import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../main/engine/backend/index.ts';
import type { TrainingEvent } from '../../main/engine/train/reports.ts';
import { runFinetune } from '../../main/engine/train/finetune.ts';
import { tinyRunSetup } from '../helpers/tiny-run.ts';

// Whole epochs train every micro-batch of every epoch: 24 rows in micro-batches of 8 are 3 micro-batches an epoch,
// taken 2 at a time, so an epoch is 2 steps (the second a partial accumulation) and 2 epochs are 4 steps — not
// ceil(3 / 2 × 2) = 3, which would leave the last epoch's last micro-batch untrained.
describe('num_epochs', () => {
  const setup = tinyRunSetup();
  afterAll(async () => rmSync((await setup).work, { recursive: true, force: true }));

  it('2 epochs of 2 steps each (the second step of an epoch a partial accumulation) train 4 steps', async () => {
    await initBackend('wasm', { threads: 1 });
    const { settings } = await setup;
    const events: TrainingEvent[] = [];
    await runFinetune(settings({ batch_size: 16, micro_batch_size: 8, num_epochs: 2, max_steps: 0, save_steps: 0 }), (e) => events.push(e));
    expect(events.find((e) => e.type === 'start')).toMatchObject({ totalSteps: 4 });
    const steps = events.filter((e) => e.type === 'step');
    expect(steps.map((e) => e.step)).toEqual([1, 2, 3, 4]);
    expect(steps.at(-1)).toMatchObject({ epoch: 2 });
  }, 120_000);
});
