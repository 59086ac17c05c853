import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createHandlers } from '../../main/api/handlers.ts';
import type { SettingsStore } from '../../main/api/settings.ts';
import { JobHost } from '../../main/jobs/host.ts';
import { RunRegistry } from '../../main/jobs/run-registry.ts';
import { nodeSpawner } from '../../main/jobs/spawner.ts';
import { workFolder } from '../helpers/work-folder.ts';

describe('a model folder with an absurd config.json', () => {
  it('is refused by model.inspect and finetune.estimate at once, naming config.json (it used to freeze the server)', async () => {
    const dir = workFolder('absurd');
    mkdirSync(dir, { recursive: true });
    const config = {
      model_type: 'llama',
      hidden_size: 64,
      intermediate_size: 128,
      num_hidden_layers: 1e9,
      num_attention_heads: 4,
      vocab_size: 32,
    };
    writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config));
    const runsDir = workFolder('absurd-runs');
    const handlers = createHandlers({
      mode: 'server',
      app: { name: 't', version: '0' },
      jobs: new JobHost({ spawner: nodeSpawner(), runsDir }),
      runs: new RunRegistry(runsDir),
      settings: {} as SettingsStore,
    });
    const started = performance.now();
    const report = await handlers['model.inspect']({ dir });
    expect(report.problems[0]).toMatch(/config\.json: invalid config: num_hidden_layers: at most 1,024/);
    await expect(
      Promise.resolve().then(() =>
        handlers['finetune.estimate']({
          base_model: dir,
          micro_batch_size: 4,
          cutoff_len: 256,
          lora_r: 8,
          lora_target_modules: ['q_proj'],
        }),
      ),
    ).rejects.toThrow(/config\.json: invalid config: num_hidden_layers: at most 1,024/);
    expect(performance.now() - started).toBeLessThan(2000);
  });
});
