import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../main/engine/backend/index.ts';
import { generate } from '../../main/engine/generate/generate.ts';
import { loadModel, type LoadedModel } from '../../main/engine/model/load.ts';
import { tinyModel } from '../helpers/synthetic.ts';
import { workFolder } from '../helpers/work-folder.ts';

/**
 * A Mistral-style sliding_window is honoured as the usable context: generation stops when the window is full (it
 * never attends past it, as the engine has no windowed attention) and says so; a prompt longer than it is refused.
 */

let windowed: LoadedModel;
beforeAll(async () => {
  await initBackend('cpu');
  const dir = path.join(workFolder('windowed'), 'model');
  cpSync(await tinyModel(), dir, { recursive: true });
  const config = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8'));
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...config, model_type: 'mistral', sliding_window: 16 }));
  windowed = await loadModel(dir);
}, 120_000);

describe('generation within a sliding window', () => {
  it('stops when the window is full, with stoppedBy "context"', async () => {
    const prompt = [1, 40, 41, 42, 43, 44, 45, 46, 47, 48];
    const r = await generate(windowed.model, prompt, { maxNewTokens: 50, stopTokenIds: [] });
    // The model reads at most 16 positions; the token chosen at the 16th is output but never read back.
    expect(r.tokens).toHaveLength(16 - prompt.length + 1);
    expect(r.stoppedBy).toBe('context');
  });

  it('refuses a prompt longer than the window', async () => {
    await expect(
      generate(
        windowed.model,
        Array.from({ length: 17 }, () => 40),
        { maxNewTokens: 1, stopTokenIds: [] },
      ),
    ).rejects.toThrow("the prompt has 17 tokens, more than the model's sliding_window of 16; shorten it");
  });
});
