import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';

/**
 * The studio in Debian's Chromium, for the e2e test (test/e2e/studio-browser.test.ts) and README's screenshots
 * (scripts/screenshots.ts): the renderer built when stale, the browser launched the same way for both.
 */
export const ROOT = path.resolve(import.meta.dirname, '../..');
export const CHROMIUM = '/usr/bin/chromium';
export const RENDERER_DIR = path.join(ROOT, 'dist', 'renderer');

/** Why the browser cannot run here, or undefined when it can. */
export function chromiumMissing(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is absent (apt-get install chromium; .ci/run installs it)`;
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    const s = statSync(p);
    newest = Math.max(newest, s.isDirectory() ? newestMtime(p) : s.mtimeMs);
  }
  return newest;
}

/** Builds the renderer (vite) when dist/renderer is missing or older than its sources, so no separate build step is needed. */
export async function ensureRendererBuilt(): Promise<void> {
  const index = path.join(RENDERER_DIR, 'index.html');
  // The renderer bundles the contract and the Node-free engine and cluster modules it re-exports (schemas, the run plan).
  const sources = Math.max(
    newestMtime(path.join(ROOT, 'renderer')),
    newestMtime(path.join(ROOT, 'main/contract')),
    newestMtime(path.join(ROOT, 'main/cluster')),
    newestMtime(path.join(ROOT, 'main/engine')),
    statSync(path.join(ROOT, 'vite.config.ts')).mtimeMs,
  );
  if (existsSync(index) && statSync(index).mtimeMs >= sources) return;
  const { build } = await import('vite');
  await build({ configFile: path.join(ROOT, 'vite.config.ts'), root: path.join(ROOT, 'renderer'), logLevel: 'warn' });
}

/** Headless Chromium with no network side trips, and a 1280×900 page in it. */
export async function openStudioBrowser(): Promise<{ browser: Browser; page: Page }> {
  const { chromium } = await import('playwright-core');
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  return { browser, page };
}

/** Absolute paths of this machine found in a page's text (those given, a bare `/` left out). */
export function machinePathsIn(text: string, paths: string[]): string[] {
  return paths.filter((p) => p.length > 1 && text.includes(p));
}
