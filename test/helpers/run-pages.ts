import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { expect } from 'vitest';
import type { JobInfo } from '../../main/contract/contract.ts';
import { startServer, type StudioServer } from '../../main/server/server.ts';
import { writeSyntheticModel } from '../../main/engine/synthetic/synthetic-model.ts';
import { ensureRendererBuilt, openStudioBrowser, RENDERER_DIR, ROOT } from './studio-browser.ts';
import { TINY_ALPHABET, TINY_SHAPE, tinyAlpacaRows, type AlpacaRow } from './synthetic.ts';

/**
 * The studio in Chromium for the Run, Runs, Export and Playground pages' tests (test/e2e/run-pages-*.test.ts): a
 * home folder of its own holding a model of stories260K's shape and Chinese rows (long enough that cutoff_len cuts
 * them, so the log has warnings), the browser-mode server on it, and pages opened on its address.
 */
export interface Studio {
  server: StudioServer;
  browser: Browser;
  page: Page;
  home: string;
  modelDir: string;
  dataFile: string;
  runsDir: string;
  /** Absolute paths of this machine no page may show. */
  machinePaths: string[];
  /** Start a fine-tuning job through the API, as another tab or the wizard would. */
  startRun(extra: Record<string, unknown>): Promise<JobInfo>;
  /** A second page (a second tab) on the studio's address. */
  openPage(): Promise<Page>;
  close(): Promise<void>;
}

export async function openStudio(rows: AlpacaRow[] = tinyAlpacaRows(40, 'zh')): Promise<Studio> {
  const home = mkdtempSync(path.join(tmpdir(), 'studio-pages-home-'));
  const modelDir = path.join(home, 'models', 'tiny-llama');
  const dataFile = path.join(home, 'data', 'alpaca_zh.json');
  const runsDir = path.join(home, 'runs');
  await writeSyntheticModel(modelDir, TINY_SHAPE, { alphabet: TINY_ALPHABET + rows.map((r) => r.output).join('') });
  mkdirSync(path.dirname(dataFile));
  writeFileSync(dataFile, JSON.stringify(rows, null, 2));
  await ensureRendererBuilt();
  const server = await startServer({ port: 0, runsDir, homeDir: home, rendererDir: RENDERER_DIR, log: () => {} });
  const { browser, page } = await openStudioBrowser();
  const errors: string[] = [];
  const watch = (p: Page) => p.on('pageerror', (e) => errors.push(e.message));
  watch(page);
  await page.goto(server.pageUrl);
  return {
    server,
    browser,
    page,
    home,
    modelDir,
    dataFile,
    runsDir,
    machinePaths: [home, tmpdir(), os.homedir(), ROOT],
    startRun: async (extra) =>
      (await server.api.call('jobs.start', {
        kind: 'finetune',
        config: {
          base_model: modelDir,
          data_path: dataFile,
          batch_size: 2,
          micro_batch_size: 2,
          cutoff_len: 96,
          val_set_size: 4,
          eval_steps: 5,
          save_steps: 5,
          logging_steps: 1,
          warmup_steps: 0,
          learning_rate: 1e-2,
          lora_r: 4,
          backend: 'wasm',
          threads: 1,
          ...extra,
        },
      })) as JobInfo,
    openPage: async () => {
      const p = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      watch(p);
      await p.goto(server.pageUrl);
      return p;
    },
    close: async () => {
      expect(errors, 'script errors in the page').toEqual([]);
      await browser.close();
      await server.close();
    },
  };
}

/**
 * English words left in a page's text once the verbatim parts are taken out: paths, flag names and the job's own log
 * lines (`.mono`, `.log`), model answers (`.answer`), what the user typed (`textarea`), and the names the user gave (`verbatim`: run names, which also
 * label a chart's lines). A product or format name (GGUF, Ollama, safetensors…) is a name in both languages.
 */
export async function englishWordsIn(page: Page, testId: string, verbatim: string[] = []): Promise<string[]> {
  const text: string = await page.getByTestId(testId).evaluate((el) => {
    const copy = el.cloneNode(true) as typeof el;
    copy.querySelectorAll('.mono, .log, .answer, textarea, .recharts-cartesian-axis-tick').forEach((n: { remove(): void }) => n.remove());
    // Each piece of text on its own (textContent would run two buttons' words together); inputs keep theirs in `value`.
    const walker = el.ownerDocument.createTreeWalker(copy, 4 /* NodeFilter.SHOW_TEXT */);
    const pieces: string[] = [];
    while (walker.nextNode()) pieces.push(walker.currentNode.textContent ?? '');
    return pieces.join(' ');
  });
  const own = verbatim.reduce((t, v) => t.split(v).join(' '), text);
  const NAMES = new Set(
    'LoRA GGUF Ollama Modelfile Hugging Face safetensors llama cpp Meta params json float bfloat int GPU NVIDIA nvidia smi MiB GiB KiB Top JSON EOS WebGPU shader'.split(
      ' ',
    ),
  );
  return [...own.matchAll(/[A-Za-z][A-Za-z-]{2,}/g)]
    .map((m) => m[0])
    .filter((w) => !w.split('-').every((part: string) => part.length < 3 || NAMES.has(part)));
}

/** A full-page screenshot in test-artifacts/screenshots/ (looked at by people, checked by nothing). */
export async function shot(page: Page, name: string): Promise<void> {
  const dir = path.join(ROOT, 'test-artifacts', 'screenshots');
  mkdirSync(dir, { recursive: true });
  await page.mouse.move(0, 0); // no chart tooltip under the pointer
  await page.screenshot({ path: path.join(dir, `${name}.png`), fullPage: true });
}

/** Lines of the Run page's log, as shown. */
export async function logLines(page: Page): Promise<string[]> {
  return (await page.getByTestId('job-log').locator('.log-line').allInnerTexts()).map((l) => l.replace(/\n$/, ''));
}
