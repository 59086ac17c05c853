/**
 * `npm run screenshots`: README's two screenshots (docs/screenshots/run-page.png, playground.png) from a real run,
 * driven through the studio in Chromium the way a user works it. stories260K (../shared/data/models) is fine-tuned
 * on the Chinese Alpaca rows (../shared/data/alpaca/alpaca_zh_demo.json) with README's example settings at learning
 * rate 1e-3, then the Playground compares the base model's answer with the fine-tuned one. About 3 minutes on two
 * cores; not part of `npm test` (CI's e2e test checks the same pages on a synthetic model in a minute).
 *
 * The studio's home folder is a fresh temp folder holding copies of the model and the data, and the runs: the pages
 * show those paths as ~/…, and the script refuses to save a screenshot whose page shows an absolute path of this
 * machine. It also refuses a run whose loss did not fall, or answers that did not differ.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { startServer } from '../main/server/server.ts';
import { SHARED_DATA, sharedPath } from '../test/helpers/shared-data.ts';
import {
  chromiumMissing,
  ensureRendererBuilt,
  machinePathsIn,
  openStudioBrowser,
  RENDERER_DIR,
  ROOT,
} from '../test/helpers/studio-browser.ts';

const MODEL = 'models/stories260K';
const DATA = 'alpaca/alpaca_zh_demo.json';
const OUT = path.join(ROOT, 'docs', 'screenshots');
/** The Training step: "Quick test", then README's example command (--max_steps 50 …) with a learning rate of 1e-3. */
const TRAINING = {
  max_steps: '50',
  val_set_size: '32',
  warmup_steps: '5',
  learning_rate: '0.001',
  eval_steps: '10',
  save_steps: '25',
};
const INSTRUCTION = '给我讲一个故事。'; // "Tell me a story."
const MINUTE = 60_000;

/** A reason not to save the screenshots: printed without a stack, and the script exits 1. */
class Refused extends Error {}
function fail(message: string): never {
  throw new Refused(message);
}

const absent = chromiumMissing() ?? [`${MODEL}/model.safetensors`, DATA].map(sharedPath).find((f) => !existsSync(f));
if (absent) {
  console.error(`screenshots: needs ${absent} (../shared/data beside the checkout, or LORA_STUDIO_SHARED_DATA)`);
  process.exit(1);
}

const home = mkdtempSync(path.join(os.tmpdir(), 'lora-studio-shots-'));
const modelDir = path.join(home, 'models', path.basename(MODEL));
const dataFile = path.join(home, 'data', path.basename(DATA));
cpSync(sharedPath(MODEL), modelDir, { recursive: true });
mkdirSync(path.dirname(dataFile));
cpSync(sharedPath(DATA), dataFile);
const machinePaths = [home, os.tmpdir(), os.homedir(), ROOT, SHARED_DATA];

await ensureRendererBuilt();
const server = await startServer({ port: 0, runsDir: path.join(home, 'runs'), homeDir: home, rendererDir: RENDERER_DIR, log: () => {} });
const { browser, page } = await openStudioBrowser();
const started = performance.now();
try {
  await page.goto(server.pageUrl);
  await trainThroughTheWizard(page);
  await shoot(page, 'run-page', 'run-page.png');
  await compareInThePlayground(page);
  await shoot(page, 'playground-page', 'playground.png');
  console.log(`screenshots: written to ${path.relative(ROOT, OUT)}/ in ${((performance.now() - started) / MINUTE).toFixed(1)} min`);
} catch (e) {
  if (!(e instanceof Refused)) throw e;
  console.error(`screenshots: ${e.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
  await server.close();
  rmSync(home, { recursive: true, force: true });
}

async function trainThroughTheWizard(page: Page): Promise<void> {
  const step = (name: string) => page.getByTestId(name);
  await page.getByTestId('model-path').fill(modelDir);
  await page.getByTestId('model-inspect').click();
  await step('architecture').waitFor();
  await page.getByTestId('next').click();
  await page.getByTestId('data-path').fill(dataFile);
  await page.getByTestId('data-check').click();
  await step('data-report').waitFor({ timeout: MINUTE });
  await page.getByTestId('next').click();
  await page.getByTestId('preset-quick').click();
  await page.getByTestId('advanced-settings').locator('summary').click(); // save_steps is among the folded settings
  for (const [name, value] of Object.entries(TRAINING)) await page.locator(`[data-field="${name}"] input`).first().fill(value);
  await page.getByTestId('next').click();
  await page.getByTestId('start-training').click();
  console.log(`screenshots: training ${path.basename(MODEL)} on ${path.basename(DATA)} for ${TRAINING.max_steps} steps…`);
  const state = page.getByTestId('job-state');
  await state.and(page.locator(':not([data-state="running"])')).waitFor({ timeout: 30 * MINUTE });
  const ended = await state.getAttribute('data-state');
  if (ended !== 'done') fail(`the training job ended ${ended}: ${await page.getByTestId('run-page').innerText()}`);

  const runId = server.jobs.list().at(-1)!.runId!;
  const { metrics } = (await server.api.call('runs.read', { id: runId })) as {
    metrics: { step: number; loss?: number; evalLoss?: number }[];
  };
  const losses = metrics.filter((m) => m.loss !== undefined).map((m) => m.loss!);
  const evals = metrics.filter((m) => m.evalLoss !== undefined).map((m) => `${m.step}: ${m.evalLoss!.toFixed(2)}`);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const [first, last] = [mean(losses.slice(0, 5)), mean(losses.slice(-5))];
  console.log(
    `screenshots: ${losses.length} steps; loss (mean of 5) ${first.toFixed(2)} → ${last.toFixed(2)}; validation ${evals.join(', ')}`,
  );
  if (losses.length < Number(TRAINING.max_steps) || !(last < 0.75 * first)) fail('the loss curve does not fall clearly enough to show');
  // The log's last lines (checkpoint, adapter, done) in view rather than its first ones.
  await page.getByTestId('job-log').evaluate((el) => (el.scrollTop = el.scrollHeight));
}

async function compareInThePlayground(page: Page): Promise<void> {
  await page.getByTestId('nav-playground').click();
  const run = page.getByTestId('playground-run');
  await run.locator('option').nth(1).waitFor({ state: 'attached' });
  await run.selectOption({ index: 1 });
  await page.getByTestId('playground-instruction').fill(INSTRUCTION);
  await page.getByLabel('Max new tokens').fill('64');
  await page.getByTestId('playground-generate').click();
  for (const side of ['base', 'tuned']) await page.getByTestId(`answer-${side}-stats`).waitFor({ timeout: 5 * MINUTE });
  const [base, tuned] = await Promise.all(['base', 'tuned'].map((side) => page.getByTestId(`answer-${side}-text`).innerText()));
  console.log(`screenshots: ${INSTRUCTION}\n  base:       ${JSON.stringify(base)}\n  fine-tuned: ${JSON.stringify(tuned)}`);
  if (!base.trim() || !tuned.trim() || base === tuned) fail('the two answers do not differ visibly');
}

async function shoot(page: Page, testId: string, file: string): Promise<void> {
  const shown = machinePathsIn(await page.getByTestId(testId).innerText(), machinePaths);
  if (shown.length) fail(`${testId} shows ${shown.join(', ')}: not saved`);
  await page.mouse.move(0, 0); // no chart tooltip under the pointer
  mkdirSync(OUT, { recursive: true });
  await page.screenshot({ path: path.join(OUT, file), fullPage: true });
}
