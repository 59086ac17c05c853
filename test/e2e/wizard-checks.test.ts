import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type StudioServer } from '../../main/server/server.ts';
import { writeSyntheticModel } from '../../main/engine/synthetic/synthetic-model.ts';
import { chromiumMissing, ensureRendererBuilt, openStudioBrowser, RENDERER_DIR, ROOT } from '../helpers/studio-browser.ts';
import { TINY_ALPHABET, TINY_SHAPE, tinyAlpacaRows } from '../helpers/synthetic.ts';
import { workFolder } from '../helpers/work-folder.ts';

/**
 * The New-run wizard in Chromium against `serve`, with the real engine behind it: what a person types is what the
 * job gets (a typed-over path, a blank or `abc` learning rate never reach one), problems sit under their fields in
 * the UI's language, presets list what they changed, data that leaves nothing to train on is refused with the count,
 * and the run's duration is measured from its first steps.
 */
const SHOTS = path.join(ROOT, 'test-artifacts', 'screenshots');
const HOME = workFolder('wizard-e2e-home');
const MODEL_DIR = path.join(HOME, 'models', 'tiny-llama');
const BROKEN_MODEL = path.join(HOME, 'models', 'broken');
const DATA = path.join(HOME, 'data');
const FIRST = path.join(DATA, 'first_en.json'); // 40 rows
const SECOND = path.join(DATA, 'second_en.json'); // 12 other rows: the one typed over the first
const LONG_ZH = path.join(DATA, 'long_zh.json'); // Chinese rows whose prompt alone fills cutoff_len 128
const RUNS = path.join(HOME, 'runs');

const missing = chromiumMissing();
const skip = missing && `skipped: ${missing}`;
if (!skip) {
  await writeSyntheticModel(MODEL_DIR, TINY_SHAPE, { alphabet: TINY_ALPHABET });
  mkdirSync(BROKEN_MODEL, { recursive: true });
  writeFileSync(path.join(BROKEN_MODEL, 'config.json'), '{"model_type": "llama"');
  mkdirSync(DATA);
  writeFileSync(FIRST, JSON.stringify(tinyAlpacaRows(40, 'en', 1), null, 2));
  writeFileSync(SECOND, JSON.stringify(tinyAlpacaRows(12, 'en', 2), null, 2));
  writeFileSync(LONG_ZH, JSON.stringify(tinyAlpacaRows(20, 'zh', 3), null, 2));
}
if (skip) console.warn(`wizard browser test ${skip}`);

describe.skipIf(Boolean(skip))('the New-run wizard in Chromium (browser mode)', () => {
  let server: StudioServer;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  const shot = async (name: string) => {
    mkdirSync(SHOTS, { recursive: true });
    await page.mouse.move(0, 0);
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  };
  const field = (name: string) => page.locator(`[data-field="${name}"] input`).first();
  const issue = (name: string) => page.getByTestId(`issue-${name}`);
  const step = (s: string) => page.getByTestId(`step-${s}`);
  const stepState = (s: string) => step(s).getAttribute('data-state');
  const next = () => page.getByTestId('next');
  const reviewConfig = async () => JSON.parse((await page.getByTestId('review-config').textContent()) ?? '{}') as Record<string, unknown>;
  const finetuneJobs = () => server.jobs.list().filter((j) => j.kind === 'finetune');

  beforeAll(async () => {
    await ensureRendererBuilt();
    server = await startServer({ port: 0, runsDir: RUNS, homeDir: HOME, rendererDir: RENDERER_DIR, log: () => {} });
    ({ browser, page } = await openStudioBrowser());
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on(
      'console',
      (m) =>
        m.type() === 'error' &&
        !/^Failed to load resource: the server responded with a status of (400|401)/.test(m.text()) &&
        pageErrors.push(m.text()),
    );
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('an address without the token (or with a stale one) shows a page that says so, not a wizard whose every control fails', async () => {
    await page.goto(server.url);
    await expect.poll(() => page.getByTestId('token-page').getAttribute('data-state')).toBe('missing');
    expect(await page.getByTestId('token-page').textContent()).toContain('lora-studio serve');
    expect(await page.getByTestId('model-step').count()).toBe(0);
    await shot('wizard-no-token-en');
    await page.goto(`${server.url}/?token=not-the-token`);
    await expect.poll(() => page.getByTestId('token-page').getAttribute('data-state')).toBe('refused');
    await page.goto(server.pageUrl);
    await expect.poll(() => page.getByTestId('app-title').textContent()).toBe('LoRA Studio');
    expect(await page.getByTestId('token-page').count()).toBe(0);
  });

  it('Model step: Next waits for a model; a typed path is inspected after a pause, and a typed-over path drops its report', async () => {
    expect(await stepState('model')).toBe('empty');
    expect(await next().isDisabled()).toBe(true);
    expect(await step('data').isDisabled()).toBe(true);
    await page.getByTestId('model-path').fill(MODEL_DIR); // no click: the pause in typing is enough
    await expect.poll(() => page.getByTestId('architecture').textContent(), { timeout: 30_000 }).toContain('llama');
    expect(await stepState('model')).toBe('valid');
    expect(await next().isEnabled()).toBe(true);
    // Typed over with a broken folder: the old report goes at once, Next with it, and the new one names the problem.
    await page.getByTestId('model-path').fill(BROKEN_MODEL);
    expect(await page.getByTestId('architecture').count()).toBe(0);
    expect(await next().isDisabled()).toBe(true);
    await expect.poll(() => page.getByTestId('model-problems').textContent()).toContain(path.join(BROKEN_MODEL, 'config.json'));
    expect(await stepState('model')).toBe('invalid');
    await page.getByTestId('model-path').fill(MODEL_DIR);
    await expect.poll(() => stepState('model'), { timeout: 30_000 }).toBe('valid');
    await next().click();
  });

  it('Data step: a typed-over data file is checked again and the report is always the one for the path shown', async () => {
    await page.getByTestId('data-path').fill(FIRST);
    await expect.poll(() => page.getByTestId('data-report').textContent(), { timeout: 30_000 }).toContain('40 of 40 rows usable');
    expect(await page.getByTestId('trainable-rows').getAttribute('data-trainable')).toBe('40');
    await page.getByTestId('data-path').fill(SECOND);
    expect(await page.getByTestId('data-report').count()).toBe(0); // the first file's report is gone at once
    expect(await next().isDisabled()).toBe(true);
    await expect.poll(() => page.getByTestId('data-report').textContent(), { timeout: 30_000 }).toContain('12 of 12 rows usable');
    expect(await next().isEnabled()).toBe(true);
    // The preview shows no broken character and says where a row was cut.
    for (const text of await page.getByTestId('preview').allTextContents()) expect(text).not.toContain('\uFFFD');
    await next().click();
  });

  it('Training step: grouped settings with labels; 2,000 validation rows on 12 rows block Next under their field', async () => {
    for (const g of ['essentials', 'lora', 'schedule', 'advanced']) expect(await page.getByTestId(`group-${g}`).count()).toBe(1);
    expect(await page.locator('[data-field="learning_rate"] .human').textContent()).toBe('Learning rate');
    expect(await page.locator('[data-field="learning_rate"] .flag').textContent()).toBe('learning_rate');
    expect(await page.locator('[data-field="frozen_dtype"]').count()).toBe(0); // deprecated spellings are not in the form
    expect(await page.getByTestId('advanced-settings').getAttribute('open')).toBeNull(); // folded
    await expect.poll(() => issue('val_set_size').textContent()).toContain('2000 validation rows leave none of the 12 usable rows');
    expect(await next().isDisabled()).toBe(true);
    expect(await stepState('training')).toBe('invalid');
    expect(await step('review').isDisabled()).toBe(true);
    await shot('wizard-training-invalid-en');
  });

  it("a preset shows as applied and lists what it changed, the Data step's cutoff_len included", async () => {
    await page.getByTestId('preset-quick').click();
    const changes = page.getByTestId('preset-changes');
    expect(await changes.textContent()).toMatch(/“Quick test” applied: \d+ settings changed/);
    expect(await changes.locator('[data-field="cutoff_len"]').textContent()).toBe(
      'Max tokens per example cutoff_len: 256 → 128 · on the Data step',
    );
    expect(await changes.locator('[data-field="val_set_size"]').textContent()).toContain('2000 → 8');
    expect(await page.getByTestId('preset-quick').getAttribute('aria-pressed')).toBe('true');
    expect(await page.getByTestId('preset-alpaca').getAttribute('aria-pressed')).toBe('false');
    expect(await issue('val_set_size').count()).toBe(0);
    // The data report follows the new cutoff_len by itself.
    await step('data').click();
    await expect.poll(() => page.getByTestId('histogram-title').textContent()).toContain('128');
    await step('training').click();
    // A setting changed by hand: the preset no longer shows as applied.
    await field('max_steps').fill('2');
    expect(await page.getByTestId('preset-quick').getAttribute('aria-pressed')).toBe('false');
    await expect.poll(() => warningOrNull(page, 'eval_steps')).toContain('validation runs only once, at the end');
    await shot('wizard-training-preset-en');
  });

  it('a blank or `abc` learning rate is named under its field and can never reach a job; a negative one is named in Chinese', async () => {
    const jobsBefore = server.jobs.list().length;
    await field('learning_rate').fill('');
    expect(await issue('learning_rate').textContent()).toBe('Required: enter a value.');
    expect(await next().isDisabled()).toBe(true);
    expect(await step('review').isDisabled()).toBe(true);
    await field('learning_rate').fill('abc');
    expect(await field('learning_rate').inputValue()).toBe('abc'); // kept as typed, not blanked
    expect(await issue('learning_rate').textContent()).toBe('Enter a number, such as 0.0003 or 3e-4.');
    expect(await next().isDisabled()).toBe(true);
    await page.getByTestId('language').selectOption('zh-CN');
    await field('learning_rate').fill('-0.001');
    await expect.poll(() => issue('learning_rate').textContent()).toBe('必须大于 0。');
    expect(await page.locator('[data-field="learning_rate"] .human').textContent()).toBe('学习率');
    await shot('wizard-training-negative-zh');
    await page.getByTestId('language').selectOption('en');
    await expect.poll(() => issue('learning_rate').textContent()).toBe('Must be greater than 0.');
    expect(await next().isDisabled()).toBe(true);
    expect(server.jobs.list().length).toBe(jobsBefore); // nothing was sent
    await field('learning_rate').fill('2e-3');
    expect(await issue('learning_rate').count()).toBe(0);
    expect(await next().isEnabled()).toBe(true);
  });

  it('Review: one card with the model, data, plan and changed settings; the run measured; Start runs exactly what it shows', async () => {
    await field('batch_size').fill('2');
    await field('micro_batch_size').fill('2');
    await field('val_set_size').fill('2');
    await field('eval_steps').fill('2');
    await next().click();
    expect(await page.getByTestId('review-model').textContent()).toContain('tiny-llama');
    expect(await page.getByTestId('review-data').textContent()).toContain('12 of 12 rows usable');
    expect(await page.getByTestId('tokens-per-epoch').textContent()).toMatch(/≈ [\d.]+ K? ?tokens trained per epoch/);
    expect(await page.getByTestId('review-plan').textContent()).toContain(
      'Training rows: 10 · validation rows: 2 · steps per epoch: 5 · steps in all: 2',
    );
    const changed = page.getByTestId('review-changed');
    expect(await changed.locator('[data-field="learning_rate"]').textContent()).toContain('0.002');
    expect(await changed.locator('[data-field="learning_rate"]').textContent()).toContain('default 0.0003');
    const config = await reviewConfig();
    expect(config).toMatchObject({ base_model: MODEL_DIR, data_path: SECOND, learning_rate: 0.002, cutoff_len: 128, max_steps: 2 });
    const runName = await page.getByTestId('run-name').inputValue();
    expect(runName).toMatch(/^tiny-llama-second_en-\d{8}-\d{6}$/);
    expect(config.output_dir).toBe(runName);

    // The duration, from the run's own first two steps (a measure job: nothing written).
    await page.getByTestId('measure-duration').click();
    await expect.poll(() => page.getByTestId('duration-total').textContent(), { timeout: 90_000, interval: 500 }).toMatch(/^≈ /);
    expect(await page.getByTestId('duration-detail').textContent()).toMatch(
      /first step [\d.]+ s · each further step [\d.]+ s · steps in all: 2 · validation passes: 1 × [\d.]+ s/,
    );
    expect(existsSync(path.join(RUNS, runName))).toBe(false);
    await shot('wizard-review-en');

    // A name that is not a folder name, then one that is taken, are named under the field and block Start.
    await page.getByTestId('run-name').fill('my run/1');
    expect(await issue('output_dir').textContent()).toContain('letters, digits, dot, dash and underscore');
    expect(await page.getByTestId('start-training').isDisabled()).toBe(true);
    await page.getByTestId('run-name').fill('second-run');
    await expect.poll(() => page.getByTestId('start-training').isEnabled()).toBe(true); // once the name is checked as free
    await page.getByTestId('start-training').click();
    await expect.poll(() => finetuneJobs().at(-1)?.state, { timeout: 90_000, interval: 500 }).toMatch(/done|failed/);
    expect(finetuneJobs().at(-1)?.state).toBe('done');
    const saved = JSON.parse(readFileSync(path.join(RUNS, 'second-run', 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(saved).toMatchObject({ base_model: MODEL_DIR, data_path: SECOND, learning_rate: 0.002, cutoff_len: 128 });
    // The wizard again: the same name is taken now.
    await page.getByTestId('nav-wizard').click();
    await page.getByTestId('run-name').fill('second-run');
    await expect.poll(() => issue('output_dir').textContent()).toContain('exists already');
  });

  it('data whose prompts fill cutoff_len leaves nothing to train on: the wizard refuses it with the count, and so does a job', async () => {
    await step('data').click();
    await page.getByTestId('data-path').fill(LONG_ZH);
    await page.getByLabel('Train on inputs').uncheck();
    await expect.poll(() => page.getByTestId('trainable-rows').getAttribute('data-trainable'), { timeout: 30_000 }).toBe('0');
    expect(await page.getByTestId('nothing-to-train').textContent()).toBe(
      'No row keeps a token to train on: all 20 are cut at cutoff_len 128 before their response, so the run would train on nothing. Raise cutoff_len, or turn on “Train on inputs”.',
    );
    expect(await page.getByTestId('lost-rows').textContent()).toContain('20 rows are cut at cutoff_len 128 before their response');
    expect(await page.getByTestId('truncated').getAttribute('class')).toBe('warn-text'); // not muted grey
    expect(await stepState('data')).toBe('invalid');
    expect(await next().isDisabled()).toBe(true);
    expect(await step('review').isDisabled()).toBe(true);
    await shot('wizard-data-nothing-en');
    // The job refuses the same settings on its own, in one line, before it reads a weight: the run never starts.
    const before = finetuneJobs().length;
    const config = { ...(await settingsFromPage()), output_dir: 'nothing-to-train' };
    const job = (await server.api.call('jobs.start', { kind: 'finetune', config })) as { id: string };
    await expect.poll(() => server.jobs.list().find((j) => j.id === job.id)?.state, { timeout: 60_000 }).toBe('failed');
    expect(server.jobs.list().find((j) => j.id === job.id)?.error).toMatch(
      /^.*long_zh\.json: 0 of 18 training rows keep a token to train on \(18 cut at cutoff_len 128 before their response\); raise cutoff_len or turn train_on_inputs on$/,
    );
    expect(existsSync(path.join(RUNS, 'nothing-to-train', 'config.json'))).toBe(false);
    expect(finetuneJobs().length).toBe(before + 1);
    // Train on the prompt too, and every row trains again.
    await page.getByLabel('Train on inputs').check();
    await expect.poll(() => page.getByTestId('trainable-rows').getAttribute('data-trainable'), { timeout: 30_000 }).toBe('20');
    expect(await page.getByTestId('nothing-to-train').count()).toBe(0);
    expect(pageErrors).toEqual([]);
  });

  it('the file browser opens where it was last, lists a model folder’s files, and a picked data file is checked at once', async () => {
    await page.getByTestId('data-path').fill('');
    await page.getByTestId('data-path-browse').click();
    const browserText = () => page.getByTestId('data-path-browser').textContent();
    // Not the home folder: the folder of the data file checked last (and, once browsed, the folder this picker showed).
    await expect.poll(browserText).toContain(DATA);
    await page.getByTestId('data-path-browser').getByRole('button', { name: 'first_en.json' }).click();
    expect(await page.getByTestId('data-path').inputValue()).toBe(FIRST);
    await expect.poll(() => page.getByTestId('data-report').textContent(), { timeout: 30_000 }).toContain('40 of 40 rows usable');
    await step('model').click();
    await page.getByTestId('model-path-browse').click();
    await expect.poll(() => page.getByTestId('model-path-browser').textContent()).toContain('config.json');
    expect(await page.getByTestId('model-path-browser').textContent()).not.toContain('Nothing here');
    expect(await page.getByTestId('model-path-model-hint').count()).toBe(1);
    await shot('wizard-model-browser-en');
  });

  /** The settings the page would send, from its Review JSON (the step is reachable only when valid, so built here). */
  async function settingsFromPage(): Promise<Record<string, unknown>> {
    return {
      base_model: MODEL_DIR,
      data_path: LONG_ZH,
      cutoff_len: 128,
      train_on_inputs: false,
      val_set_size: 2,
      batch_size: 2,
      micro_batch_size: 2,
      max_steps: 2,
      backend: 'wasm',
    };
  }
});

async function warningOrNull(page: Page, name: string): Promise<string | null> {
  const w = page.getByTestId(`warning-${name}`);
  return (await w.count()) ? w.textContent() : null;
}
