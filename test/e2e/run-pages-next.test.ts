import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { JobInfo } from '../../main/contract/contract.ts';
import { englishWordsIn, openStudio, shot, type Studio } from '../helpers/run-pages.ts';
import { chromiumMissing, machinePathsIn } from '../helpers/studio-browser.ts';
import { tinyAlpacaRows } from '../helpers/synthetic.ts';

/**
 * A finished run leads on (issue 22, items 7 and 8), in Chromium against `serve`, on real runs and exports: the Run
 * page gives the duration and buttons to Export and the Playground with the run chosen there; Runs shows each run's
 * model, data, settings, date, duration and losses, and Compare the settings that differ; an export card is busy from
 * its first moment and ends in the page's language with a command to copy and files to download; a long unbroken
 * answer stays in its card; and the Chinese pages hold no English.
 */
const missing = chromiumMissing();
if (missing) console.warn(`run pages test skipped: ${missing}`);

/** A row of one character, 150 long, as every answer: what a run that learned it then writes, unbroken. */
const ROW = 'Z'.repeat(150);

describe.skipIf(Boolean(missing))('from a finished run to Export and the Playground', () => {
  let studio: Studio;
  let page: Page;
  let a: JobInfo; // lr 1e-2
  let b: JobInfo; // the same at lr 3e-3
  let z: JobInfo; // learns to answer with ROW
  const nav = (p: string) => page.getByTestId(`nav-${p}`).click();
  /** Wait for a job to end; it must have finished well. */
  const done = async (job: JobInfo, timeoutMs = 180_000) => {
    const state = () => studio.server.jobs.list().find((j) => j.id === job.id)!.state;
    for (const t0 = Date.now(); Date.now() - t0 < timeoutMs && (state() === 'queued' || state() === 'running');)
      await new Promise((r) => setTimeout(r, 500));
    expect(state(), `job ${job.id} (${job.runId})`).toBe('done');
  };

  beforeAll(async () => {
    studio = await openStudio();
    page = studio.page;
    const rowsFile = path.join(studio.home, 'data', 'one-row.json');
    writeFileSync(rowsFile, JSON.stringify(tinyAlpacaRows(12, 'en').map((r) => ({ ...r, output: ROW }))));
    a = await studio.startRun({ output_dir: 'lr-high', max_steps: 4 });
    b = await studio.startRun({ output_dir: 'lr-low', max_steps: 4, learning_rate: 3e-3 });
    z = await studio.startRun({
      output_dir: 'one-row',
      data_path: rowsFile,
      num_epochs: 100,
      max_steps: 40,
      cutoff_len: 320,
      learning_rate: 2e-2,
      train_on_inputs: false,
      val_set_size: 0,
      eval_steps: 0,
      save_steps: 0,
      logging_steps: 5,
    });
    await done(a);
    await done(b);
  });
  afterAll(async () => {
    await studio?.close();
  });

  it('the Run page of a finished run gives its duration and leads to Export and the Playground with the run chosen', async () => {
    await nav('run');
    await page.getByTestId('run-select').selectOption('lr-high');
    await expect.poll(() => page.getByTestId('job-state').getAttribute('data-state')).toBe('done');
    expect(await page.getByTestId('run-duration').innerText()).toMatch(/^(\d+m )?\d+s$/);
    expect(await page.getByTestId('run-outcome').innerText()).toMatch(
      /^Finished in (\d+m )?\d+s: 4 steps, final loss \d+\.\d{4}\. Validation loss \d+\.\d{4}\.$/,
    );
    await shot(page, 'run-finished-en');
    await page.getByTestId('to-export').click();
    expect(await page.getByTestId('export-page').isVisible()).toBe(true);
    await expect.poll(() => page.getByTestId('export-run').inputValue()).toBe('lr-high');
    expect(await page.getByTestId('export-run-paths').innerText()).toBe(
      `${path.join('~', 'models', 'tiny-llama')} + ${path.join('~', 'runs', 'lr-high')}`,
    );
    await nav('run');
    await page.getByTestId('to-playground').click();
    expect(await page.getByTestId('playground-page').isVisible()).toBe(true);
    await expect.poll(() => page.getByTestId('playground-run').inputValue()).toBe('lr-high');
    expect(await page.getByTestId('playground-generate').isEnabled()).toBe(true);
  });

  it('Runs shows each run’s model, data, key settings, date, duration and final losses; Compare shows the settings that differ', async () => {
    await nav('runs');
    const row = (id: string) => page.getByTestId('runs-table').locator(`tr[data-run="${id}"]`);
    await expect.poll(() => row('lr-high').count()).toBe(1);
    const cell = (id: string, testId: string) => row(id).getByTestId(testId).innerText();
    expect(await cell('lr-high', 'run-base')).toBe('tiny-llama');
    expect(await cell('lr-high', 'run-data')).toBe('alpaca_zh.json');
    expect(await cell('lr-high', 'run-settings')).toMatch(
      /lr 1e-2 · r 4 \/ α 16 · base f32\nbatch 2 \(micro 2\) · cutoff 96 · at most 4 steps/,
    );
    expect(await cell('lr-low', 'run-settings')).toMatch(/^lr 3e-3 /);
    expect(await cell('lr-high', 'run-date')).toMatch(/\d{2}.\d{2}.*\d{2}:\d{2}/);
    expect(await cell('lr-high', 'run-duration')).toMatch(/^(\d+m )?\d+s$/);
    expect(await cell('lr-high', 'run-losses')).toMatch(/^\d+\.\d{4}\nvalidation \d+\.\d{4}$/);
    await row('lr-high').getByTestId('compare-run').click();
    await row('lr-low').getByTestId('compare-run').click();
    const compared = page.getByTestId('compare-settings');
    await expect.poll(() => compared.locator('tbody tr').count()).toBeGreaterThan(0);
    const differing = await compared.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-setting')));
    expect(differing).toContain('learning_rate');
    expect(differing).not.toContain('lora_r');
    expect(differing).not.toContain('output_dir');
    expect(await compared.locator('tr[data-setting="learning_rate"]').innerText()).toMatch(/learning_rate\s+0\.01\s+0\.003/);
    expect(await page.getByTestId('run-compare').getByTestId('loss-chart').getAttribute('data-points')).toBe('4');
    expect(machinePathsIn(await page.getByTestId('runs-page').innerText(), studio.machinePaths)).toEqual([]);
    await shot(page, 'runs-compare-en');
  });

  it('an export card is busy from its first moment, then says what it wrote with human check names, a command to copy and downloads', async () => {
    await done(z, 300_000); // jobs run one at a time: the export would queue behind it
    await nav('export');
    await page.getByTestId('export-run').selectOption('lr-high');
    await page.getByTestId('export-gguf').click();
    const card = page.getByTestId('export-job').first();
    await card.waitFor();
    // Before the model has even loaded (no progress yet), the card shows that it works.
    expect(await card.getByTestId('export-activity').getAttribute('data-progress')).toBe('no');
    expect(await card.getByTestId('export-activity').isVisible()).toBe(true);
    await expect.poll(() => card.getAttribute('data-state'), { timeout: 180_000, interval: 500 }).toMatch(/done|failed/);
    expect(await card.getAttribute('data-state'), await card.innerText()).toBe('done');
    expect(await card.getByTestId('export-summary').innerText()).toMatch(
      /^GGUF Q8_0: [\d.]+ MiB, \d+ tensors, with an Ollama Modelfile, merged into the full-precision base \(f32\); the adapter was trained on a base held as f32\.$/,
    );
    expect(await card.getByTestId('export-base').innerText()).toBe(path.join('~', 'models', 'tiny-llama'));
    const checks = await card.getByTestId('export-checks').locator('li strong').allInnerTexts();
    expect(checks).toEqual(['Hugging Face’s GGUF reader', 'Strict GGUF reader', 'llama.cpp']);
    expect(await card.getByTestId('export-checks').innerText()).toMatch(/llama\.cpp: loaded and generated \d+ tokens/);
    const command = await card.getByTestId('ollama-command').inputValue();
    expect(command).toMatch(/^ollama create lr-high-q8_0 -f ~\/runs\/lr-high\/exports\/gguf-q8_0-[\d-]+\/Modelfile$/);
    await card.getByTestId('copy-ollama').click();
    await expect.poll(() => card.getByTestId('copy-ollama').innerText()).toBe('Copied');
    // The downloads are the files themselves, behind the token; nothing outside the runs folder is handed out.
    const gguf = path.join(studio.home, command.replace(/^.* -f ~\//, '').replace(/Modelfile$/, 'model-q8_0.gguf'));
    const links = card.getByTestId('export-downloads').locator('a');
    expect(await links.allInnerTexts()).toEqual(['model-q8_0.gguf', 'Modelfile']);
    const fetched = await links.evaluateAll((as) =>
      Promise.all(as.map(async (a) => (await fetch(a.getAttribute('href')!)).arrayBuffer().then((b) => b.byteLength))),
    );
    expect(fetched).toEqual([statSync(gguf).size, statSync(path.join(path.dirname(gguf), 'Modelfile')).size]);
    const status = (url: string) => page.evaluate((u) => fetch(u).then((r) => r.status), url);
    const href = (await links.first().getAttribute('href'))!;
    expect(await status(href.replace(/&token=.*/, ''))).toBe(401);
    expect(await status(`/download?path=${encodeURIComponent(studio.dataFile)}&token=${studio.server.token}`)).toBe(400);
    expect(readFileSync(path.join(path.dirname(gguf), 'Modelfile'), 'utf8')).toMatch(/^FROM \.\/model-q8_0\.gguf/);
    await shot(page, 'export-done-en');
  }, 600_000);

  it('the Playground keeps a long unbroken answer inside its card', async () => {
    await nav('playground');
    await page.getByTestId('playground-run').selectOption('one-row');
    await page.getByTestId('playground-instruction').fill('Repeat the word cat twice.');
    await page.getByLabel('Max new tokens').fill('150');
    await page.getByLabel('Temperature').fill('0');
    await page.getByTestId('playground-generate').click();
    for (const side of ['base', 'tuned']) await page.getByTestId(`answer-${side}-stats`).waitFor({ timeout: 120_000 });
    const tuned = await page.getByTestId('answer-tuned-text').innerText();
    // The run learned its one answer: the fine-tuned side is a long row with nowhere to break.
    expect(tuned).toMatch(/Z{80,}/);
    const box = async (id: string) => (await page.getByTestId(id).boundingBox())!;
    const right = (b: { x: number; width: number }) => b.x + b.width;
    const overflow = (id: string) => page.getByTestId(id).evaluate((el) => el.scrollWidth - el.clientWidth);
    const [base, tunedCard, tunedText, whole] = [
      await box('answer-base'),
      await box('answer-tuned'),
      await box('answer-tuned-text'),
      await box('playground-page'),
    ];
    expect([await overflow('answer-base-text'), await overflow('answer-tuned-text')]).toEqual([0, 0]);
    expect(right(tunedText)).toBeLessThanOrEqual(right(tunedCard));
    expect(right(base)).toBeLessThanOrEqual(tunedCard.x);
    expect(right(tunedCard)).toBeLessThanOrEqual(right(whole) + 1);
    const sideways = await page.getByTestId('playground-page').evaluate((el) => {
      const root = el.ownerDocument.documentElement;
      return root.scrollWidth > root.clientWidth;
    });
    expect(sideways).toBe(false);
    await shot(page, 'playground-long-en');
  });

  it('in Chinese, the Run, Runs, Export and Playground pages hold no English', async () => {
    await page.getByTestId('language').selectOption('zh-CN');
    await expect.poll(() => page.getByTestId('nav-run').innerText()).toBe('训练');
    const pages: [nav: string, testId: string][] = [
      ['run', 'run-page'],
      ['runs', 'runs-page'],
      ['export', 'export-page'],
      ['playground', 'playground-page'],
    ];
    for (const [p, testId] of pages) {
      await nav(p);
      if (p === 'run') await expect.poll(() => page.getByTestId('run-outcome').innerText()).toMatch(/^用时/);
      const found = await englishWordsIn(page, testId, ['lr-high', 'lr-low', 'one-row']);
      expect(found, `${testId}: ${found.join(', ')}`).toEqual([]);
      await shot(page, `${p}-zh`);
    }
    // The words that were English before: the export's summary and checks, State dict, the GPU line, the run's kind.
    expect(await page.getByTestId('export-page').innerText()).toMatch(/Meta 状态字典/);
    await nav('export');
    expect(await page.getByTestId('export-summary').first().innerText()).toMatch(
      /^GGUF Q8_0：[\d.]+ MiB，\d+ 个张量，附 Ollama Modelfile，已合并进全精度基础模型/,
    );
    await nav('run');
    expect(await page.getByTestId('run-header').innerText()).toContain('微调');
    expect(await page.getByTestId('gpu-panel').innerText()).not.toMatch(/No NVIDIA GPU/);
  });
});
