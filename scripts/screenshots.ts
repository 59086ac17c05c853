/**
 * `npm run screenshots`: every page of the studio, in English and in Chinese (docs/screenshots/<page>-<lang>.png),
 * from real runs driven through Chromium the way a user works the studio. README shows some of them.
 *
 * The run: stories260K (../shared/data/models) fine-tuned on a small instruction set it can learn in a few minutes on
 * two cores: the rows of ../shared/data/alpaca/alpaca_tiny.json with no input and a short answer (13 rows, each
 * answer one sentence), prompt masked (train_on_inputs off), LoRA r 16 on every projection, learning rate 3e-3. Asked
 * one of its instructions in the Playground, the base model tells a TinyStories-style story; the fine-tuned one gives
 * the answer of its training row. stories260K never learned to end a text (TinyStories separates its stories with
 * BOS; the </s> row of its tied embedding was never trained, and LoRA on the projections does not teach it: that
 * token's loss stays near 5.4 while the answer's reach 0.00), so it is given the answer's length in tokens to write. A second, shorter run at a lower rate on q/v only gives Compare something to
 * compare. Then a GGUF export of the first run. About 6 minutes on two cores; not part of `npm test`.
 *
 * The studio's home folder is a fresh temp folder holding copies of the model and the data, and the runs: the pages
 * show those paths as ~/…, and the script refuses to save a screenshot whose page shows an absolute path of this
 * machine. It also refuses a run whose loss did not fall, and a fine-tuned answer that does not follow its row.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { generatePrompt, loadTemplate } from '../main/engine/data/templates.ts';
import { loadTokenizer } from '../main/engine/tokenizer/tokenizer.ts';
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
const DATA = 'alpaca/alpaca_tiny.json';
const OUT = path.join(ROOT, 'docs', 'screenshots');
const ALL_PROJECTIONS = ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'];
/** The Training step's fields (after "Quick test"); cutoff_len and train_on_inputs are the Data step's. */
const TRAINING = {
  num_epochs: '100',
  max_steps: '100',
  batch_size: '4',
  micro_batch_size: '4',
  learning_rate: '0.003',
  warmup_steps: '10',
  lora_r: '16',
  lora_alpha: '32',
  val_set_size: '0',
  logging_steps: '2',
  save_steps: '50',
};
const CUTOFF_LEN = '256';
/** One of the training rows' instructions, and the start of its answer in the data. */
const INSTRUCTION = 'What are the three primary colors?';
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
const dataFile = path.join(home, 'data', 'alpaca_short_answers.json');
cpSync(sharedPath(MODEL), modelDir, { recursive: true });
mkdirSync(path.dirname(dataFile));
const rows = (JSON.parse(readFileSync(sharedPath(DATA), 'utf8')) as { instruction: string; input: string; output: string }[])
  .filter((r) => !r.input && r.output.length < 70)
  .map(({ instruction, input, output }) => ({ instruction, input, output }));
writeFileSync(dataFile, JSON.stringify(rows, null, 2));
const expected = rows.find((r) => r.instruction === INSTRUCTION)?.output ?? fail(`"${INSTRUCTION}" is not a row of ${DATA}`);
// The answer's tokens as training saw them: after the prompt, in the same text.
const tokenizer = await loadTokenizer(modelDir);
const alpaca = await loadTemplate('alpaca');
const answerTokens =
  tokenizer.encode(generatePrompt(alpaca, INSTRUCTION, undefined, expected)).length -
  tokenizer.encode(generatePrompt(alpaca, INSTRUCTION)).length;
const machinePaths = [home, os.tmpdir(), os.homedir(), ROOT, SHARED_DATA];

await ensureRendererBuilt();
const server = await startServer({ port: 0, runsDir: path.join(home, 'runs'), homeDir: home, rendererDir: RENDERER_DIR, log: () => {} });
const { browser, page } = await openStudioBrowser();
const started = performance.now();
const shots: string[] = [];
try {
  await page.goto(server.pageUrl);
  const runId = await trainThroughTheWizard(page);
  await compareRun();
  await exportGguf(page, runId);
  await askThePlayground(page);
  await everyPage(page, 'en', runId);
  await page.getByTestId('language').selectOption('zh-CN');
  await everyPage(page, 'zh', runId);
  console.log(
    `screenshots: ${shots.length} written to ${path.relative(ROOT, OUT)}/ in ${((performance.now() - started) / MINUTE).toFixed(1)} min`,
  );
} catch (e) {
  if (!(e instanceof Refused)) throw e;
  console.error(`screenshots: ${e.message}`);
  process.exitCode = 1;
} finally {
  await browser.close();
  await server.close();
  rmSync(home, { recursive: true, force: true });
}

async function trainThroughTheWizard(page: Page): Promise<string> {
  const field = (name: string) => page.locator(`[data-field="${name}"] input`).first();
  await page.getByTestId('model-path').fill(modelDir);
  await page.getByTestId('model-inspect').click();
  await page.getByTestId('architecture').waitFor();
  await page.getByTestId('next').click();
  await page.getByTestId('data-path').fill(dataFile);
  await page.getByTestId('data-check').click();
  await page.getByTestId('data-report').waitFor({ timeout: MINUTE });
  await page.getByTestId('next').click();
  await page.getByTestId('preset-quick').click();
  await page.getByTestId('advanced-settings').locator('summary').click(); // save_steps is among the folded settings
  for (const [name, value] of Object.entries(TRAINING)) await field(name).fill(value);
  const targets = page.locator('[data-field="lora_target_modules"]');
  for (const p of ALL_PROJECTIONS) await targets.getByLabel(p, { exact: true }).check();
  // "Quick test" set cutoff_len 128, which would cut these answers: back on the Data step, the full answers, the prompt masked.
  await page.getByTestId('step-data').click();
  await field('cutoff_len').fill(CUTOFF_LEN);
  await field('train_on_inputs').uncheck();
  await page.getByTestId('data-check').click();
  await page.getByTestId('data-report').waitFor({ timeout: MINUTE });
  await page.getByTestId('next').click();
  await page.getByTestId('next').click();
  await page.getByTestId('start-training').click();
  console.log(
    `screenshots: training ${path.basename(MODEL)} on ${rows.length} rows of ${path.basename(DATA)} for ${TRAINING.max_steps} steps…`,
  );
  const state = page.getByTestId('job-state');
  await state.and(page.locator('[data-state="done"], [data-state="failed"], [data-state="stopped"]')).waitFor({ timeout: 30 * MINUTE });
  const runId = server.jobs.list().at(-1)!.runId!;
  const ended = await state.getAttribute('data-state');
  if (ended !== 'done') fail(`the training job ended ${ended}: ${await page.getByTestId('run-page').innerText()}`);
  const { metrics } = (await server.api.call('runs.read', { id: runId })) as { metrics: { step: number; loss?: number }[] };
  const losses = metrics.filter((m) => m.loss !== undefined).map((m) => m.loss!);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const [first, last] = [mean(losses.slice(0, 3)), mean(losses.slice(-3))];
  console.log(`screenshots: ${metrics.at(-1)?.step} steps; loss (mean of 3) ${first.toFixed(2)} → ${last.toFixed(3)}`);
  if (!(last < 0.25 * first)) fail('the loss curve does not fall clearly enough to show');
  return runId;
}

/** A second run to compare with: fewer steps, a lower rate, LoRA on q and v only (through the API, as a second tab would). */
async function compareRun(): Promise<void> {
  const job = (await server.api.call('jobs.start', {
    kind: 'finetune',
    config: {
      base_model: modelDir,
      data_path: dataFile,
      output_dir: 'lower-rate-qv',
      num_epochs: 100,
      max_steps: 30,
      batch_size: 4,
      micro_batch_size: 4,
      cutoff_len: Number(CUTOFF_LEN),
      train_on_inputs: false,
      learning_rate: 1e-3,
      warmup_steps: 10,
      lora_r: 8,
      lora_alpha: 16,
      val_set_size: 0,
      logging_steps: 2,
      save_steps: 0,
    },
  })) as { id: string };
  const state = () => server.jobs.list().find((j) => j.id === job.id)!.state;
  while (state() === 'queued' || state() === 'running') await new Promise((r) => setTimeout(r, 1000));
  if (state() !== 'done') fail(`the second run ended ${state()}`);
}

async function exportGguf(page: Page, runId: string): Promise<void> {
  await page.getByTestId('nav-run').click();
  await page.getByTestId('run-select').selectOption(runId);
  await page.getByTestId('to-export').click();
  await page.getByTestId('export-gguf').click();
  const card = page.getByTestId('export-job').first();
  await card.and(page.locator('[data-state="done"], [data-state="failed"]')).waitFor({ timeout: 10 * MINUTE });
  if ((await card.getAttribute('data-state')) !== 'done') fail(`the GGUF export failed: ${await card.innerText()}`);
}

async function askThePlayground(page: Page): Promise<void> {
  await page.getByTestId('nav-run').click();
  await page.getByTestId('to-playground').click();
  await page.getByTestId('playground-instruction').fill(INSTRUCTION);
  await page.getByLabel('Max new tokens').fill(String(answerTokens));
  await page.getByLabel('Temperature').fill('0');
  await page.getByTestId('playground-generate').click();
  for (const side of ['base', 'tuned']) await page.getByTestId(`answer-${side}-stats`).waitFor({ timeout: 5 * MINUTE });
  const [base, tuned] = await Promise.all(['base', 'tuned'].map((side) => page.getByTestId(`answer-${side}-text`).innerText()));
  console.log(
    `screenshots: ${INSTRUCTION}\n  trained on: ${JSON.stringify(expected)}\n  base:       ${JSON.stringify(base)}\n  fine-tuned: ${JSON.stringify(tuned)}`,
  );
  if (!tuned.startsWith(expected)) fail('the fine-tuned answer does not give its training row’s answer');
  if (base.startsWith(expected.slice(0, 20))) fail('the base model already gives that answer');
}

/** Each page once, in the language the page is in now. */
async function everyPage(page: Page, lang: 'en' | 'zh', runId: string): Promise<void> {
  const nav = (p: string) => page.getByTestId(`nav-${p}`).click();
  await nav('wizard');
  for (const step of ['model', 'data', 'training', 'review']) {
    await page.getByTestId(`step-${step}`).click();
    await shoot(page, 'app', `wizard-${step}-${lang}`);
  }
  await nav('run');
  await page.getByTestId('run-select').selectOption(runId);
  await page.getByTestId('next-steps').waitFor();
  // The log's last lines (checkpoint, adapter) in view, as the page keeps them.
  await shoot(page, 'run-page', `run-${lang}`);
  await nav('runs');
  const table = page.getByTestId('runs-table');
  await table.waitFor();
  if ((await page.getByTestId('run-compare').count()) === 0)
    for (const id of [runId, 'lower-rate-qv']) await table.locator(`tr[data-run="${id}"]`).getByTestId('compare-run').click();
  await page.getByTestId('compare-settings').waitFor();
  await shoot(page, 'runs-page', `runs-${lang}`);
  await nav('export');
  await shoot(page, 'export-page', `export-${lang}`);
  await nav('playground');
  await shoot(page, 'playground-page', `playground-${lang}`);
}

async function shoot(page: Page, testId: string, name: string): Promise<void> {
  const scope = testId === 'app' ? page.locator('main') : page.getByTestId(testId);
  const shown = machinePathsIn(await scope.innerText(), machinePaths);
  if (shown.length) fail(`${name}: the page shows ${shown.join(', ')}: not saved`);
  await page.mouse.move(0, 0); // no chart tooltip under the pointer
  mkdirSync(OUT, { recursive: true });
  await page.screenshot({ path: path.join(OUT, `${name}.png`), fullPage: true });
  shots.push(name);
}
