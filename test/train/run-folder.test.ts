import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { JobEvent } from '../../main/contract/contract.ts';
import { initBackend } from '../../main/engine/backend/index.ts';
import { JobHost } from '../../main/jobs/host.ts';
import { nodeSpawner } from '../../main/jobs/spawner.ts';
import { runFinetune } from '../../main/engine/train/finetune.ts';
import type { TrainingEvent } from '../../main/engine/train/reports.ts';
import { checkpointNames, runPaths } from '../../main/engine/train/run-folder.ts';
import { tinyRunSetup } from '../helpers/tiny-run.ts';

let setup: Awaited<ReturnType<typeof tinyRunSetup>>;
const logsOf = (events: TrainingEvent[]) => events.flatMap((e) => (e.type === 'log' ? [e.message] : []));
const startsIn = (metricsFile: string) =>
  readFileSync(metricsFile, 'utf8')
    .split('\n')
    .filter((l) => l.includes('"type":"start"')).length;

describe('a run folder holds one run', () => {
  beforeAll(async () => {
    setup = await tinyRunSetup();
    await initBackend('wasm', { threads: 1 });
  });

  it('refuses a folder that holds a run; --overwrite removes the old run (other files stay); resume names every changed setting', async () => {
    const dir = path.join(setup.work, 'one');
    const paths = runPaths(dir);
    await runFinetune(setup.settings({ output_dir: dir, max_steps: 4, save_total_limit: 0 }), () => {});
    expect(checkpointNames(paths.checkpoints)).toEqual(['step-1', 'step-2', 'step-3', 'step-4']);
    const metricsBefore = readFileSync(paths.metrics, 'utf8');

    // The same command again: refused, nothing touched.
    await expect(runFinetune(setup.settings({ output_dir: dir, max_steps: 2 }), () => {})).rejects.toThrow(
      new RegExp(
        `${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: already holds a run \\(config.json, metrics.jsonl, checkpoints, adapter\\).*--resume_from_checkpoint true.*--overwrite true`,
      ),
    );
    expect(readFileSync(paths.metrics, 'utf8')).toBe(metricsBefore);
    expect(checkpointNames(paths.checkpoints)).toHaveLength(4);

    // Both at once is a contradiction.
    await expect(runFinetune(setup.settings({ output_dir: dir, overwrite: true, resume_from_checkpoint: true }), () => {})).rejects.toThrow(
      /resume_from_checkpoint and overwrite both set/,
    );

    // --overwrite: the old run's checkpoints, adapter and metrics are gone; a file of the user's stays.
    writeFileSync(path.join(dir, 'notes.txt'), 'mine');
    const events: TrainingEvent[] = [];
    await runFinetune(setup.settings({ output_dir: dir, max_steps: 2, overwrite: true }), (e) => events.push(e));
    expect(
      logsOf(events).some((m) => m.includes("overwrite: removed the previous run's config.json, metrics.jsonl, checkpoints, adapter")),
    ).toBe(true);
    expect(checkpointNames(paths.checkpoints)).toEqual(['step-1', 'step-2']);
    expect(startsIn(paths.metrics)).toBe(1);
    expect(readFileSync(path.join(dir, 'notes.txt'), 'utf8')).toBe('mine');
    expect(readdirSync(dir).filter((n) => n.startsWith('.'))).toEqual([]);

    // A resume that changes the adapter's shape is refused, by name.
    await expect(
      runFinetune(setup.settings({ output_dir: dir, max_steps: 3, resume_from_checkpoint: true, lora_r: 8 }), () => {}),
    ).rejects.toThrow(/training_config\.json: cannot resume with lora_r 4 → 8/);
    // A resume that changes the learning rate and adds a validation set runs, and names both; a temp file a killed
    // adapter write left is removed.
    const stale = path.join(paths.adapter, '.adapter_model.safetensors.tmp-4242-0badf00d');
    writeFileSync(stale, 'half a file');
    const resumed: TrainingEvent[] = [];
    await runFinetune(
      setup.settings({ output_dir: dir, max_steps: 3, resume_from_checkpoint: true, learning_rate: 2e-2, val_set_size: 4 }),
      (e) => resumed.push(e),
    );
    const logs = logsOf(resumed);
    expect(logs.find((m) => m.includes('resuming with settings that differ'))).toMatch(/learning_rate 0\.01 → 0\.02.*val_set_size 0 → 4/);
    expect(
      logs.some((m) => m.includes('removed an unfinished adapter file') && m.includes('.adapter_model.safetensors.tmp-4242-0badf00d')),
    ).toBe(true);
    expect(existsSync(stale)).toBe(false);
  });

  it('the studio refuses the same way: a finetune job into a folder that holds a run fails with that sentence', async () => {
    const runsDir = path.join(setup.work, 'studio-runs');
    const dir = path.join(runsDir, 'taken');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ base_model: setup.baseModel, data_path: setup.dataPath }));
    writeFileSync(path.join(dir, 'metrics.jsonl'), '');
    const host = new JobHost({ spawner: nodeSpawner(), runsDir });
    const events: JobEvent[] = [];
    host.onEvent((e) => events.push(e));
    const job = host.start('finetune', {
      base_model: setup.baseModel,
      data_path: setup.dataPath,
      output_dir: 'taken',
      cutoff_len: 64,
      backend: 'wasm',
    });
    await host.whenIdle();
    const failed = events.find((e) => e.jobId === job.id && e.type === 'failed');
    expect(failed).toMatchObject({
      error: expect.stringMatching(/taken: already holds a run \(config\.json, metrics\.jsonl\).*--resume_from_checkpoint true/),
    });
    expect(failed?.type === 'failed' && failed.lastOutput.join('\n')).not.toMatch(/\n\s+at /);
    await host.close();
  });

  it('one step with warmup trains nothing, and the message says why and how many steps are needed', async () => {
    const dir = path.join(setup.work, 'one-step');
    const events: TrainingEvent[] = [];
    await expect(runFinetune(setup.settings({ output_dir: dir, max_steps: 1, warmup_steps: 100 }), (e) => events.push(e))).rejects.toThrow(
      /every lora_B is still zero after training.*warmup_steps 100 the first step runs at learning rate 0.*only 1 step\. Train at least 2 steps \(--max_steps 2\), or set --warmup_steps 0/,
    );
    expect(logsOf(events).some((m) => m.startsWith('this run cannot change the adapter: with warmup_steps 100'))).toBe(true);
  });

  it('refuses an output_dir under /proc or under a file at once, naming it', async () => {
    const started = Date.now();
    await expect(runFinetune(setup.settings({ output_dir: '/proc/x/run' }), () => {})).rejects.toThrow(
      /output_dir \/proc\/x\/run: \/proc is on the kernel's proc file system/,
    );
    expect(Date.now() - started).toBeLessThan(5000); // it used to spin in mkdir for ever
    const file = path.join(setup.work, 'a-file');
    writeFileSync(file, '');
    await expect(runFinetune(setup.settings({ output_dir: path.join(file, 'run') }), () => {})).rejects.toThrow(
      /a-file is a file, not a folder/,
    );
  });
});
