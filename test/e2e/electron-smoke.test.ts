import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Starts the real Electron app with Playwright's _electron where an Electron binary exists (the npm package's
 * postinstall downloads it; this machine has none) and the app is built (`npm run build`).
 */
const root = path.resolve(import.meta.dirname, '../..');
const mainJs = path.join(root, 'out', 'main', 'main.js');

function electronBinary(): string | undefined {
  const pkg = path.join(root, 'node_modules', 'electron');
  const pathTxt = path.join(pkg, 'path.txt');
  if (!existsSync(pathTxt)) return undefined;
  const bin = path.join(pkg, 'dist', readFileSync(pathTxt, 'utf8').trim());
  return existsSync(bin) ? bin : undefined;
}

const binary = electronBinary();
const skip = !binary
  ? 'skipped: no Electron binary (node_modules/electron/dist is absent; its download is disabled on this machine)'
  : !existsSync(mainJs)
    ? `skipped: the app is not built (${mainJs} is missing): run npm run build`
    : undefined;
if (skip) console.warn(`electron smoke test ${skip}`);

describe.skipIf(Boolean(skip))('Electron app (Playwright _electron)', () => {
  it('opens the studio from app:// with window.studio and no Node in the page', async () => {
    const require = createRequire(import.meta.url);
    const { _electron } = require('playwright-core') as typeof import('playwright-core');
    const app = await _electron.launch({ executablePath: binary!, args: [mainJs, '--no-sandbox'] });
    try {
      const page = await app.firstWindow();
      await page.waitForSelector('[data-testid="app-title"]');
      expect(page.url()).toMatch(/^app:\/\/studio\//);
      const probe = await page.evaluate(() => {
        const w = globalThis as unknown as { studio?: { app?: unknown }; require?: unknown; process?: unknown };
        return { studio: typeof w.studio?.app, require: typeof w.require, process: typeof w.process };
      });
      expect(probe).toEqual({ studio: 'object', require: 'undefined', process: 'undefined' });
    } finally {
      await app.close();
    }
  });
});
