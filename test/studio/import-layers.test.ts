import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';
import { LAYER_TIERS } from '../../scripts/import-layers.mjs';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const eslint = new ESLint({ cwd: repo });

/** The layer-rule messages ESLint gives a file with this text at this path (the file need not exist). */
async function layerErrors(filePath: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(repo, filePath) });
  return result.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('the layer table is a lint rule', () => {
  it.each([
    [
      'main/engine/formats/probe.ts',
      "import { LlamaModel } from '../model/llama.ts';",
      'main/engine/formats may not import main/engine/model',
    ],
    ['main/engine/probe.ts', "import { x } from './fs/atomic-write.ts';", 'main/engine may not import main/engine/fs'],
    ['main/engine/export/probe.ts', "import { x } from '../train/config.ts';", 'main/engine/export may not import main/engine/train'],
    ['main/engine/model/probe.ts', "import type { x } from '../../contract/contract.ts';", 'may not import main/contract'],
    ['main/jobs/probe.ts', "export { x } from '../api/handlers.ts';", 'main/jobs may not import main/api'],
    ['main/server/probe.ts', "import { x } from '../electron/ipc.ts';", 'main/server may not import main/electron'],
    [
      'renderer/src/pages/probe.tsx',
      "import { x } from '../../../main/engine/train/config.ts';",
      'may not import main/ except main/contract',
    ],
    ['renderer/src/probe.ts', "import fs from 'node:fs';", 'runs in a page'],
    ['main/contract/probe.ts', "import * as tf from '@tensorflow/tfjs';", 'runs in a page'],
    ['main/jobs/probe.ts', "import { app } from 'electron';", 'import electron'],
  ])('%s: %s fails the lint', async (file, line, message) => {
    const errors = await layerErrors(file, `${line}\nexport const used = 1;\n`);
    expect(errors.join('\n')).toContain(message);
  });

  it.each([
    ['main/engine/formats/probe.ts', "import { loadLlamaConfig } from '../llama/config.ts';"],
    ['main/engine/train/probe.ts', "import { LlamaModel } from '../model/llama.ts';"],
    ['main/engine/fs/probe.ts', "import { StudioError } from '../errors.ts';"],
    ['renderer/src/pages/probe.tsx', "import { calls } from '../../../main/contract/contract.ts';"],
    ['main/electron/probe.ts', "import { app } from 'electron';"],
    ['main/cli/probe.ts', "import { startServer } from '../server/server.ts';"],
  ])('%s: %s passes', async (file, line) => {
    expect(await layerErrors(file, `${line}\nexport const used = 1;\n`)).toEqual([]);
  });

  it("ARCHITECTURE.md's layer table lists the same tiers as scripts/import-layers.mjs", () => {
    const doc = readFileSync(path.join(repo, 'docs/ARCHITECTURE.md'), 'utf8');
    const section = doc.slice(doc.indexOf('## Layers, and what each may import'));
    const rows = section
      .split('\n')
      .filter((l) => /^\| \d+ /.test(l))
      .map((l) => [...l.split('|')[2].matchAll(/`([^`]+)`/g)].map((m) => m[1]));
    expect(rows).toEqual(LAYER_TIERS);
  });
});
