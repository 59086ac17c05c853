import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type StudioServer } from '../../main/server/server.ts';
import { formatBytes } from '../../renderer/src/format.ts';
import { writeSyntheticModel } from '../../main/engine/synthetic/synthetic-model.ts';
import { chromiumMissing, ensureRendererBuilt, machinePathsIn, openStudioBrowser, RENDERER_DIR, ROOT } from '../helpers/studio-browser.ts';
import { TINY_ALPHABET, TINY_SHAPE, tinyAlpacaRows } from '../helpers/synthetic.ts';
import { workFolder } from '../helpers/work-folder.ts';

/**
 * The studio in a real browser (Debian's /usr/bin/chromium through playwright-core) against the browser-mode
 * server, with the real engine behind it: no mocks. The renderer is built here (vite) when dist/renderer is
 * missing or older than its sources, so `npm test` needs no separate build step. Screenshots of each page, in
 * English and Chinese, go to test-artifacts/screenshots/.
 */
const SHOTS = path.join(ROOT, 'test-artifacts', 'screenshots');
// The studio's home folder (startServer's homeDir): the pages show paths under it as ~/…. A model of stories260K's
// shape and Chinese rows are written into it, in folders of their own, so the in-page folder browser lists a few
// entries, not the whole temp folder; the runs go there too.
const HOME = workFolder('studio-e2e-home');
const MODEL_DIR = path.join(HOME, 'models', 'tiny-llama');
const DATA_FILE = path.join(HOME, 'data', 'alpaca_zh.json');
// Absolute paths of this machine that the Run page and the Playground must not show.
const MACHINE_PATHS = [HOME, tmpdir(), os.homedir(), ROOT];

const missing = chromiumMissing();
const skip = missing && `skipped: ${missing}`;
if (!skip) {
  await writeSyntheticModel(MODEL_DIR, TINY_SHAPE, { alphabet: TINY_ALPHABET });
  mkdirSync(path.dirname(DATA_FILE));
  writeFileSync(DATA_FILE, JSON.stringify(tinyAlpacaRows(40, 'zh'), null, 2));
}
if (skip) console.warn(`studio browser test ${skip}`);

describe.skipIf(Boolean(skip))('studio in Chromium (browser mode)', () => {
  let server: StudioServer;
  let browser: Browser;
  let page: Page;
  const tmp = path.join(HOME, 'work');
  const broken = path.join(tmp, 'broken-model');
  const pageErrors: string[] = [];

  const shot = async (name: string) => {
    mkdirSync(SHOTS, { recursive: true });
    await page.mouse.move(0, 0); // no chart tooltip left under the pointer of the last click
    await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: true });
  };
  const nav = (p: string) => page.getByTestId(`nav-${p}`).click();
  /** What a page shows (its rendered text, scrolled-out log lines included) holds no absolute path of this machine. */
  const expectNoMachinePaths = async (testId: string) => {
    const text = await page.getByTestId(testId).innerText();
    expect(machinePathsIn(text, MACHINE_PATHS), `${testId} shows an absolute path`).toEqual([]);
    return text;
  };

  beforeAll(async () => {
    await ensureRendererBuilt();
    mkdirSync(broken, { recursive: true });
    writeFileSync(path.join(broken, 'config.json'), '{"model_type": "llama", "hidden_size": ');
    server = await startServer({ port: 0, runsDir: path.join(tmp, 'runs'), homeDir: HOME, rendererDir: RENDERER_DIR, log: () => {} });
    ({ browser, page } = await openStudioBrowser());
    page.on('pageerror', (e) => pageErrors.push(e.message));
    // A 400 answer (the missing model folder below) is logged by Chromium as a failed resource; that one is expected.
    page.on(
      'console',
      (m) =>
        m.type() === 'error' &&
        !m.text().startsWith('Failed to load resource: the server responded with a status of 400') &&
        pageErrors.push(m.text()),
    );
    await page.goto(server.pageUrl);
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('loads with the token and without CSP or script errors', async () => {
    await expect.poll(() => page.getByTestId('app-title').textContent()).toBe('LoRA Studio');
    expect(pageErrors).toEqual([]);
  });

  it('Model step: a broken folder shows the problem naming the file', async () => {
    await page.getByTestId('model-path').fill(broken);
    await page.getByTestId('model-inspect').click();
    await expect.poll(() => page.getByTestId('model-problems').textContent()).toContain(path.join(broken, 'config.json'));
    await shot('wizard-model-broken-en');
    await page.getByTestId('model-path').fill(path.join(tmp, 'no-such-model'));
    await page.getByTestId('model-inspect').click();
    await expect.poll(() => page.getByTestId('error').textContent()).toContain(path.join(tmp, 'no-such-model'));
  });

  it('Model step: a model folder, picked with the in-page folder browser, shows its architecture', async () => {
    await page.getByTestId('model-path').fill(path.dirname(MODEL_DIR));
    await page.getByTestId('model-path-browse').click();
    await page
      .getByTestId('model-path-browser')
      .getByRole('button', { name: path.basename(MODEL_DIR), exact: true })
      .click();
    await expect.poll(() => page.getByTestId('model-path-browser').textContent()).toContain(MODEL_DIR);
    await page.getByTestId('model-path-choose').click(); // choosing the folder inspects it
    expect(await page.getByTestId('model-path').inputValue()).toBe(MODEL_DIR);
    const arch = page.getByTestId('architecture');
    await expect.poll(() => arch.textContent(), { timeout: 20_000 }).toContain('llama');
    const rows = Object.fromEntries((await arch.locator('tr').allTextContents()).map((r) => [r.replace(/[\d.].*$/, '').trim(), r]));
    expect(rows['Layers']).toBe('Layers5');
    expect(rows['Hidden size']).toBe('Hidden size64');
    expect(rows['KV heads']).toBe('KV heads4');
    expect(await page.getByTestId('no-problems').isVisible()).toBe(true);
    await shot('wizard-model-en');
  });

  it('Data step: validation report, histogram and masked/trained preview', async () => {
    await page.getByTestId('next').click();
    const brokenData = path.join(tmp, 'broken.json');
    writeFileSync(brokenData, '[{"instruction": "hi", "output": "hello"},');
    await page.getByTestId('data-path').fill(brokenData);
    await page.getByTestId('data-check').click();
    await expect.poll(() => page.getByTestId('data-step').getByTestId('error').textContent()).toContain(brokenData);
    await shot('wizard-data-broken-en');
    await page.getByTestId('data-path').fill(DATA_FILE);
    await page.getByLabel('Train on inputs').uncheck();
    await page.getByTestId('data-check').click();
    await expect.poll(() => page.getByTestId('data-report').textContent(), { timeout: 30_000 }).toMatch(/\d+ of \d+ rows usable \(json\)/);
    await expect.poll(() => page.getByTestId('length-histogram').locator('.recharts-bar-rectangle').count()).toBeGreaterThan(0); // recharts draws after layout
    expect(await page.getByTestId('preview').first().locator('.masked').count()).toBeGreaterThan(0);
    expect(await page.getByTestId('preview').first().locator('.trained').count()).toBeGreaterThan(0);
    await shot('wizard-data-en');
    // Train on the prompt too: at cutoff_len 128 these long Chinese rows (byte-fallback tokens) keep no answer token.
    await page.getByLabel('Train on inputs').check();
  });

  it('Training step: fields from the config schema, presets fill them', async () => {
    await page.getByTestId('next').click();
    const field = (name: string) => page.locator(`[data-field="${name}"] input`).first();
    await expect.poll(() => field('learning_rate').inputValue()).toBe('0.0003');
    expect(await page.locator('[data-field="learning_rate"] .help').textContent()).toMatch(/learning rate/i);
    await page.getByTestId('preset-quick').click();
    expect(await field('max_steps').inputValue()).toBe('10');
    expect(await field('output_dir').count()).toBe(0); // the host gives each run its own folder
    // Smaller than "Quick test" so the real training below takes seconds on two shared cores.
    await field('max_steps').fill('3');
    await field('eval_steps').fill('2');
    await field('batch_size').fill('2');
    await field('micro_batch_size').fill('2');
    await field('val_set_size').fill('2');
    // The memory estimate follows the settings: the panel shows what the API estimates for the micro batch typed.
    const total = () => page.getByTestId('estimate-total').textContent();
    const estimated = async (micro: number) => {
      const e = (await server.api.call('finetune.estimate', {
        base_model: MODEL_DIR,
        micro_batch_size: micro,
        cutoff_len: 128,
        lora_r: 8,
        lora_target_modules: ['q_proj', 'v_proj'],
      })) as { totalBytes: number };
      return formatBytes(e.totalBytes);
    };
    const [small, big] = [await estimated(2), await estimated(64)];
    expect(small).not.toBe(big);
    await expect.poll(total).toBe(small);
    await field('micro_batch_size').fill('64');
    await expect.poll(total).toBe(big);
    await field('micro_batch_size').fill('2');
    await expect.poll(total).toBe(small);
    expect(await page.getByTestId('estimate-verdict').textContent()).toMatch(/Fits in the free memory/);
    await shot('wizard-training-en');
  });

  it('Review → Start trains for real and the Run page draws the loss', async () => {
    await page.getByTestId('next').click();
    const config = JSON.parse((await page.locator('.config').textContent()) ?? '{}');
    expect(config).toMatchObject({ max_steps: 3, cutoff_len: 128, train_on_inputs: true, base_model: MODEL_DIR, data_path: DATA_FILE });
    expect(config.output_dir).toBe(await page.getByTestId('run-name').inputValue()); // the run's folder name, shown above
    await shot('wizard-review-en');
    await page.getByTestId('start-training').click();
    await expect
      .poll(() => page.getByTestId('job-state').getAttribute('data-state'), { timeout: 100_000, interval: 500 })
      .toMatch(/done|failed/);
    expect(await page.getByTestId('job-state').getAttribute('data-state')).toBe('done');
    const { config: used } = (await server.api.call('runs.read', { id: server.jobs.list()[0].runId! })) as {
      config: Record<string, unknown>;
    };
    expect(used).toMatchObject({ base_model: MODEL_DIR, data_path: DATA_FILE });
    expect(Number(await page.getByTestId('loss-chart').getAttribute('data-points'))).toBe(3);
    expect(await page.getByTestId('loss-chart').locator('.recharts-line-curve').count()).toBeGreaterThan(0);
    expect(await page.getByTestId('gpu-panel').textContent()).toMatch(/No NVIDIA GPU|GPU 0/);
    expect(await page.getByTestId('job-backend').textContent()).toMatch(/Backend: tfjs-backend-wasm \(simd, \d threads?\)/);
    expect(await page.getByTestId('job-memory').textContent()).toMatch(/Job process: resident \d+ MiB · tensors \d+ MiB/);
    // The log names the data file and the checkpoints under the home folder as ~/…, never by their full paths.
    const runText = await expectNoMachinePaths('run-page');
    expect(runText).toContain(`rows in ${path.join('~', 'data', 'alpaca_zh.json')}`);
    expect(runText).toContain(`checkpoint written: ${path.join('~', 'work', 'runs')}`);
    await shot('run-en');
  });

  it('killing the job process mid-training shows the error on the Run page and leaves a resumable run; the API keeps answering', async () => {
    await nav('wizard');
    await page.getByTestId('step-training').click();
    const field = (name: string) => page.locator(`[data-field="${name}"] input`).first();
    await field('max_steps').fill('1000'); // far more than it runs before the kill, on any kernels
    await page.getByTestId('advanced-settings').locator('summary').click(); // checkpoints are among the folded settings
    await field('save_steps').fill('1');
    await field('val_set_size').fill('0');
    await page.getByTestId('step-review').click();
    await page.getByTestId('start-training').click();
    const job = () => server.jobs.list().at(-1)!;
    await expect.poll(() => job().runId).toBeTruthy();
    // Some checkpoint: the run keeps its newest few (save_total_limit), and on fast kernels step-1 can come and go
    // between two looks.
    const checkpoints = path.join(tmp, 'runs', job().runId!, 'checkpoints');
    const written = () => (existsSync(checkpoints) ? readdirSync(checkpoints).filter((n) => /^step-\d+$/.test(n)) : []);
    try {
      await expect.poll(() => written().length, { timeout: 120_000, interval: 250 }).toBeGreaterThan(0);
    } catch (e) {
      // Say where the job stood.
      const log = await page
        .getByTestId('job-log')
        .textContent()
        .catch(() => '(no log)');
      throw new Error(`no checkpoint in ${checkpoints} after 120 s; jobs: ${JSON.stringify(server.jobs.list())}\nlog: ${log}`, {
        cause: e,
      });
    }

    // The job trains in its own process: calls answer at once meanwhile (measured, with a wide bound for shared CI cores).
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      const r = await fetch(`${server.url}/api/jobs.list`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-studio-token': server.token },
        body: '{}',
      });
      expect(r.status).toBe(200);
      times.push(performance.now() - t0);
    }
    console.log(`API response times during training (ms): ${times.map((t) => t.toFixed(1)).join(', ')}`);
    expect(Math.max(...times)).toBeLessThan(2000);
    expect(job().state).toBe('running');

    process.kill(job().pid!, 'SIGKILL');
    await expect.poll(() => page.getByTestId('job-state').getAttribute('data-state'), { timeout: 20_000 }).toBe('failed');
    expect(await page.getByTestId('job-failed').textContent()).toMatch(/killed by SIGKILL/);
    expect(await page.getByTestId('last-output').textContent()).toMatch(/checkpoint written: .*step-\d+/);
    await expectNoMachinePaths('run-page');
    await shot('run-killed-en');
    const runs = (await server.api.call('runs.list', {})) as { runs: { id: string; status: string; checkpoints: string[] }[] };
    const killed = runs.runs.find((r) => r.id === job().runId);
    // The run folder keeps how the attempt ended.
    expect(killed?.status).toBe('failed');
    expect(killed?.checkpoints.length).toBeGreaterThan(0);
  }, 240_000);

  it('Runs: history, compare, resume a killed run and stop it', async () => {
    await nav('runs');
    await expect.poll(() => page.getByTestId('runs-table').locator('tbody tr').count()).toBe(2);
    await page.getByTestId('runs-table').getByRole('button', { name: 'Compare' }).last().click();
    await expect
      .poll(async () => Number(await page.getByTestId('runs-page').getByTestId('loss-chart').getAttribute('data-points')))
      .toBe(3);
    await shot('runs-en');
    // Resume the killed run from its checkpoint, then stop it from the Run page.
    await page.getByTestId('runs-table').getByTestId('resume-run').click();
    await expect
      .poll(() => page.getByTestId('job-log').textContent(), { timeout: 60_000 })
      .toMatch(/resuming from .*step-(\d+) at step \1\b/);
    await page.getByTestId('stop-job').click();
    await expect.poll(() => page.getByTestId('job-state').getAttribute('data-state'), { timeout: 60_000 }).toBe('stopped');
  });

  it('Export: one click writes a GGUF Q8_0 that llama.cpp loads, with its verification report', async () => {
    const finished = server.jobs.list()[0].runId!;
    await nav('export');
    await expect.poll(() => page.getByTestId('export-run').locator('option').count()).toBeGreaterThan(1);
    await page.getByTestId('export-run').selectOption(finished);
    await page.getByTestId('gguf-type').selectOption('q8_0');
    await page.getByTestId('export-gguf').click();
    const job = page.getByTestId('export-job').first();
    await expect.poll(() => job.getAttribute('data-state'), { timeout: 120_000, interval: 500 }).toMatch(/done|failed/);
    expect(await job.getAttribute('data-state'), (await job.textContent()) ?? '').toBe('done');
    expect(await job.getByTestId('export-summary').textContent()).toMatch(/GGUF Q8_0: [\d.]+ MiB, \d+ tensors, with an Ollama Modelfile/);
    const gguf = (await job.getByTestId('export-output').getAttribute('title'))!;
    expect(gguf.startsWith(path.join(tmp, 'runs', finished, 'exports', 'gguf-q8_0-'))).toBe(true);
    expect(existsSync(gguf) && existsSync(gguf.replace(/\.gguf$/, '.Modelfile'))).toBe(true);
    expect(await job.getByTestId('export-checks').textContent()).toMatch(/llama\.cpp: loaded and generated \d+ tokens/);
    expect(JSON.parse((await job.getByTestId('export-report').textContent())!)).toMatchObject({ kind: 'gguf-q8_0', file: gguf });
    await shot('export-en');
  });

  it('Playground: base and fine-tuned answers side by side, streamed from a real model', async () => {
    const finished = server.jobs.list()[0].runId!;
    await nav('playground');
    await expect.poll(() => page.getByTestId('playground-run').locator('option').count()).toBeGreaterThan(1);
    await page.getByTestId('playground-run').selectOption(finished);
    await page.getByTestId('playground-instruction').fill('Tell me a story about a little dog.');
    await page.getByLabel('Max new tokens').fill('24');
    await page.getByTestId('playground-generate').click();
    for (const side of ['base', 'tuned']) {
      await expect.poll(() => page.getByTestId(`answer-${side}-stats`).count(), { timeout: 60_000, interval: 250 }).toBe(1);
      expect(await page.getByTestId(`answer-${side}-stats`).textContent()).toMatch(
        /\d+ tokens · [\d.]+ tokens\/s · stopped by (the end-of-text token|the token limit)/,
      );
    }
    expect((await page.getByTestId('answer-base-text').textContent())!.length).toBeGreaterThan(0);
    // Side by side: one row, base on the left, the fine-tuned answer on its right.
    const [base, tuned] = [await page.getByTestId('answer-base').boundingBox(), await page.getByTestId('answer-tuned').boundingBox()];
    expect(Math.abs(base!.y - tuned!.y)).toBeLessThan(1);
    expect(base!.x + base!.width).toBeLessThanOrEqual(tuned!.x);
    // The run's base model and folder, as ~/… with the full paths in their tooltips.
    const { run } = (await server.api.call('runs.read', { id: finished })) as { run: { dir: string } };
    const origin = page.getByTestId('playground-run-paths');
    expect(await origin.innerText()).toBe(`${path.join('~', 'models', 'tiny-llama')} + ${path.join('~', 'work', 'runs', finished)}`);
    expect(await origin.locator('[title]').evaluateAll((els) => els.map((e) => e.getAttribute('title')))).toEqual([MODEL_DIR, run.dir]);
    await expectNoMachinePaths('playground-page');
    await shot('playground-en');
  });

  it('switches to Simplified Chinese', async () => {
    await page.getByTestId('language').selectOption('zh-CN');
    await expect.poll(() => page.getByTestId('nav-wizard').textContent()).toBe('新建训练');
    expect(await page.locator('html').getAttribute('lang')).toBe('zh-CN');
    await nav('playground');
    expect(await page.getByTestId('answer-tuned').textContent()).toContain('微调后');
    await shot('playground-zh');
    await nav('export');
    expect(await page.getByTestId('export-page').textContent()).toContain('校验报告');
    await shot('export-zh');
    await nav('wizard');
    await page.getByTestId('step-model').click();
    expect(await page.getByTestId('architecture').textContent()).toContain('层数');
    await shot('wizard-model-zh');
    await page.getByTestId('step-data').click();
    expect(await page.getByTestId('data-step').textContent()).toContain('训练数据');
    // The report was made at cutoff_len 256; the "Quick test" preset then set 128, and the report followed by itself.
    expect(await page.getByTestId('histogram-title').textContent()).toBe('词元长度（截断长度 128）');
    expect(await page.locator('.problems').textContent()).toMatch(/第 \d+ 行：instruction、input、output 与第 \d+ 行相同/);
    await shot('wizard-data-zh');
    await page.getByTestId('step-training').click();
    expect(await page.getByTestId('memory-estimate').textContent()).toContain('内存估算');
    await shot('wizard-training-zh');
    await page.getByTestId('step-review').click();
    await shot('wizard-review-zh');
    await nav('run');
    await shot('run-zh');
    await nav('runs');
    await shot('runs-zh');
    await page.getByTestId('theme').selectOption('dark');
    expect(await page.locator('html').getAttribute('data-theme')).toBe('dark');
    await shot('runs-zh-dark');
    // The choice is saved in settings, so the next start opens in Chinese.
    const settings = (await server.api.call('settings.get', {})) as { language: string };
    expect(settings.language).toBe('zh-CN');
    expect(pageErrors).toEqual([]);
  });
});
