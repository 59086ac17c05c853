import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { withinStartTime } from '../../main/engine/backend/index.ts';
import type { JobEvent } from '../../main/contract/contract.ts';
import { JobHost } from '../../main/jobs/host.ts';
import { nodeSpawner } from '../../main/jobs/spawner.ts';
import { runCli } from '../helpers/cli-process.ts';
import { tinyRunSetup } from '../helpers/tiny-run.ts';
import { workFolder } from '../helpers/work-folder.ts';

// A start that never ends, simulated at the backend's start (the seam initBackend has for this test), cut at 2 s.
const STALL = { LORA_STUDIO_SIMULATE_STALL: 'wasm', LORA_STUDIO_BACKEND_START_TIMEOUT_S: '2' };
let setup: Awaited<ReturnType<typeof tinyRunSetup>>;

describe('a backend start that stalls', () => {
  beforeAll(async () => {
    setup = await tinyRunSetup();
  });

  it('becomes an error with a reason once its time is up', async () => {
    const started = performance.now();
    await expect(withinStartTime('wasm', new Promise(() => {}), 200)).rejects.toThrow(
      /did not start within 0\.2 s; its thread pool did not come up; try --threads 1/,
    );
    expect(performance.now() - started).toBeLessThan(1000);
    await expect(withinStartTime('wasm', Promise.resolve('ok'), 200)).resolves.toBe('ok');
  });

  it('ends the CLI with one error line and exit code 1', async () => {
    const out = path.join(setup.work, 'cli-run');
    const args = [
      'finetune',
      '--base_model',
      setup.baseModel,
      '--data_path',
      setup.dataPath,
      '--output_dir',
      out,
      '--backend',
      'wasm',
      '--cutoff_len',
      '64',
    ];
    const r = await runCli(args, { env: STALL });
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      'error: backend wasm: did not start within 2 s; its thread pool did not come up; try --threads 1 (no pool) or --backend cpu',
    );
  });

  it('fails a studio job with that reason', async () => {
    const host = new JobHost({
      spawner: nodeSpawner(undefined, { ...process.env, ...STALL }),
      runsDir: workFolder('stall-runs'),
    });
    const events: JobEvent[] = [];
    host.onEvent((e) => events.push(e));
    const job = host.start('finetune', { base_model: setup.baseModel, data_path: setup.dataPath, backend: 'wasm', cutoff_len: 64 });
    await host.whenIdle();
    expect(events.find((e) => e.jobId === job.id && e.type === 'failed')).toMatchObject({
      error: expect.stringMatching(/^backend wasm: did not start within 2 s; its thread pool did not come up/),
    });
    await host.close();
  });
});
