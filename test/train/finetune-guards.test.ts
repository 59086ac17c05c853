import { existsSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../main/engine/backend/index.ts';
import { runFinetune } from '../../main/engine/train/finetune.ts';
import type { TrainingEvent } from '../../main/engine/train/reports.ts';
import { tinyRunSetup } from '../helpers/tiny-run.ts';

let setup: Awaited<ReturnType<typeof tinyRunSetup>>;

describe('fine-tuning settings checked against the model, and progress within long steps', () => {
  beforeAll(async () => {
    setup = await tinyRunSetup();
    await initBackend('wasm', { threads: 1 });
  });

  it("refuses cutoff_len above the model's context, naming its config.json, before making the run folder", async () => {
    const out = path.join(setup.work, 'too-long');
    await expect(runFinetune(setup.settings({ output_dir: out, cutoff_len: 257 }), () => {})).rejects.toThrow(
      new RegExp(`base-model/config\\.json: cutoff_len 257 is above the model's context of 256 tokens; set cutoff_len to 256 or less`),
    );
    expect(existsSync(out)).toBe(false);
  });

  it('reports each micro-batch of a step that takes long', async () => {
    const events: TrainingEvent[] = [];
    await runFinetune(
      setup.settings({ output_dir: path.join(setup.work, 'progress'), batch_size: 4, micro_batch_size: 1, max_steps: 1 }),
      (e) => events.push(e),
      {
        inStepReportMs: 0,
      },
    );
    const notes = events.flatMap((e) => (e.type === 'log' && e.message.startsWith('step 1/1: micro-batch') ? [e.message] : []));
    expect(notes.map((m) => m.replace(/, [\d.]+ s into the step$/, ''))).toEqual([
      'step 1/1: micro-batch 1/4 done',
      'step 1/1: micro-batch 2/4 done',
      'step 1/1: micro-batch 3/4 done',
    ]);
  });
});
