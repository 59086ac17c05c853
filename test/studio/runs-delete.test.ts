import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createHandlers } from '../../main/api/handlers.ts';
import type { SettingsStore } from '../../main/api/settings.ts';
import { JobHost } from '../../main/jobs/host.ts';
import { RunRegistry } from '../../main/jobs/run-registry.ts';
import type { WorkerHandle } from '../../main/jobs/spawner.ts';
import { workFolder } from '../helpers/work-folder.ts';

/** A worker that runs until it is told to stop: the state of a training job in the middle of its run. */
function busyWorker(): WorkerHandle {
  const exits: ((code: number | null, signal: string | null) => void)[] = [];
  const end = () => exits.splice(0).forEach((l) => l(null, 'SIGTERM'));
  return {
    pid: undefined,
    send: () => {},
    onMessage: () => {},
    onOutput: () => {},
    onExit: (l) => exits.push(l),
    terminate: end,
    kill: end,
  };
}

describe('runs.delete', () => {
  it('refuses a run that a job is training, names the job, and deletes once it has stopped', async () => {
    const runsDir = workFolder('runs-delete');
    const jobs = new JobHost({ spawner: busyWorker, runsDir, stopGraceMs: 10 });
    const runs = new RunRegistry(runsDir);
    const handlers = createHandlers({ mode: 'server', app: { name: 'test', version: '0' }, jobs, runs, settings: {} as SettingsStore });
    const job = jobs.start('finetune', { output_dir: 'busy-run', base_model: '/m', data_path: '/d.json' });
    mkdirSync(path.join(runsDir, 'busy-run'));
    writeFileSync(path.join(runsDir, 'busy-run', 'metrics.jsonl'), '');
    mkdirSync(path.join(runsDir, 'idle-run'));

    await expect(Promise.resolve().then(() => handlers['runs.delete']({ id: 'busy-run' }))).rejects.toThrow(
      new RegExp(`busy-run: run busy-run is in use by job ${job.id} \\(finetune, running\\); stop it first`),
    );
    expect(existsSync(path.join(runsDir, 'busy-run', 'metrics.jsonl'))).toBe(true);
    expect(await handlers['runs.delete']({ id: 'idle-run' })).toEqual({ deleted: true });

    jobs.stop(job.id);
    await jobs.whenIdle();
    expect(await handlers['runs.delete']({ id: 'busy-run' })).toEqual({ deleted: true });
    expect(existsSync(path.join(runsDir, 'busy-run'))).toBe(false);
  });
});
