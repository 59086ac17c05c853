import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../../main/engine/backend/index.ts';
import { ADAPTER_WEIGHTS } from '../../main/engine/formats/peft-adapter.ts';
import type { EncodedExample } from '../../main/engine/data/encode.ts';
import { lossTokenCount, nothingToTrainReason, trainableRowCount } from '../../main/engine/data/stats.ts';
import { runFinetune } from '../../main/engine/train/finetune.ts';
import { readMetrics } from '../../main/engine/train/run-folder.ts';
import { planRun } from '../../main/engine/train/run-plan.ts';
import type { TrainingEvent } from '../../main/engine/train/reports.ts';
import { TRAINER_STATE } from '../../main/engine/train/run-state.ts';
import { runCli } from '../helpers/cli-process.ts';
import { tinyRunSetup } from '../helpers/tiny-run.ts';

/**
 * Trainable-token accounting: a row counts only when a trained label survives the template, the prompt mask and
 * cutoff_len; a run in which none does is refused before its folder is made; a micro-batch with no trained token is
 * skipped and counted, never computed and logged as a loss of 0, and a step of nothing but such micro-batches makes
 * no update.
 */
const ex = (labels: number[], truncated: boolean, row: number): EncodedExample => ({
  inputIds: labels.map(() => 5),
  labels,
  truncated,
  fullLength: truncated ? labels.length + 10 : labels.length,
  row,
});
const M = -100;

describe('rows that keep a token to train on', () => {
  it('count the labels the loss sees: never the first (nothing predicts it), never a masked one', () => {
    expect(lossTokenCount(ex([5, 5, 5], false, 1))).toBe(2);
    expect(lossTokenCount(ex([5, M, M], false, 1))).toBe(0); // only the first label is trained: nothing to learn
    expect(lossTokenCount(ex([M, M, 7, 8], false, 1))).toBe(2);
  });

  it('are counted, and the others by why: cut before the response, or a response that adds no token', () => {
    const rows = [ex([M, M, 7], false, 1), ex([M, M, M], true, 2), ex([M, M, M], false, 3), ex([M, M, M], true, 9)];
    expect(trainableRowCount(rows)).toEqual({ trainableRows: 1, lostRows: { cutAtCutoff: 2, noResponseToken: 1, firstRows: [2, 3, 9] } });
    expect(nothingToTrainReason(rows, { cutoffLen: 3, trainOnInputs: false })).toBeUndefined();
    expect(nothingToTrainReason(rows.slice(1), { cutoffLen: 3, trainOnInputs: false })).toBe(
      '0 of 3 training rows keep a token to train on (2 cut at cutoff_len 3 before their response, 1 with a response that adds no token); raise cutoff_len or turn train_on_inputs on',
    );
    expect(nothingToTrainReason([ex([M, M], true, 1)], { cutoffLen: 2, trainOnInputs: true })).toMatch(/; raise cutoff_len$/);
  });
});

describe('fine-tuning on rows that keep nothing to train on', () => {
  let setup: Awaited<ReturnType<typeof tinyRunSetup>>;
  let mixed: string;
  const shortRows = ['France', 'Japan', 'Italy', 'Egypt'].map((c) => ({
    instruction: `What is the capital of ${c}?`,
    input: '',
    output: 'Paris.',
  }));
  // The same question four times over: with alpaca_short's prompt it fills cutoff_len 96 before the response.
  const longRows = ['Peru', 'Kenya', 'Norway', 'Chile'].map((c) => ({
    instruction: `What is the capital of ${c}? `.repeat(4).trim(),
    input: '',
    output: 'Lima.',
  }));
  const settings = (extra: Parameters<typeof setup.settings>[0]) =>
    setup.settings({
      data_path: mixed,
      prompt_template_name: 'alpaca_short',
      cutoff_len: 96,
      train_on_inputs: false,
      max_steps: 0,
      num_epochs: 1,
      save_total_limit: 0,
      ...extra,
    });

  beforeAll(async () => {
    setup = await tinyRunSetup();
    mixed = path.join(setup.work, 'mixed.json');
    writeFileSync(mixed, JSON.stringify([...shortRows, ...longRows]));
    await initBackend('wasm', { threads: 1 });
  });

  it('is refused before a weight is read, in one line with the count and the cause; the run never starts', async () => {
    const out = path.join(setup.work, 'nothing');
    const onlyLong = path.join(setup.work, 'long.json');
    writeFileSync(onlyLong, JSON.stringify(longRows));
    await expect(runFinetune(settings({ data_path: onlyLong, output_dir: out }), () => {})).rejects.toThrow(
      `${onlyLong}: 0 of 4 training rows keep a token to train on (4 cut at cutoff_len 96 before their response); raise cutoff_len or turn train_on_inputs on`,
    );
    // No config.json: nothing started (the folder keeps the log of the start, set aside by the next attempt).
    expect(existsSync(path.join(out, 'config.json'))).toBe(false);
    expect(readMetrics(path.join(out, 'metrics.jsonl')).started).toBe(false);
  });

  it('skips and counts a step whose micro-batch has no token to train on: no loss of 0, no update', async () => {
    const out = path.join(setup.work, 'skips');
    const config = settings({ output_dir: out, batch_size: 1, micro_batch_size: 1 });
    const events: TrainingEvent[] = [];
    await runFinetune(config, (e) => events.push(e));
    // The wizard's plan counts the steps as the trainer does.
    expect(events.find((e) => e.type === 'start')).toMatchObject({ totalSteps: planRun(config, 8).totalSteps });
    const lines = readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const steps = lines.filter((l) => l.type === 'step');
    const skipped = lines.filter((l) => l.type === 'skipped');
    // One row a step: the four long rows are four skipped steps, the four short ones four trained steps.
    expect(steps).toHaveLength(4);
    expect(skipped).toHaveLength(4);
    for (const s of steps) expect(s.loss).toBeGreaterThan(0);
    for (const s of skipped) expect(s).toMatchObject({ skippedMicroBatches: 1, skippedSteps: 1 });
    expect(skipped.map((s) => s.loss)).toEqual([undefined, undefined, undefined, undefined]);
    expect([...steps, ...skipped].map((l) => l.step).sort((a, b) => Number(a) - Number(b))).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const logs = lines.filter((l) => l.type === 'log').map((l) => String(l.message));
    expect(logs.some((m) => /4 of 8 training rows keep no token to train on \(4 cut at cutoff_len 96/.test(m))).toBe(true);
    expect(logs.some((m) => /no token to train on .*never logged as a loss of 0/.test(m))).toBe(true);
    expect(logs).toContain('skipped 4 micro-batches with no token to train on (4 whole steps made no update)');
    // The curve the studio draws holds the trained steps only.
    expect(readMetrics(path.join(out, 'metrics.jsonl')).points.map((p) => p.loss)).not.toContain(0);
    // A skipped step leaves the adapter and the optimizer as they were.
    for (const s of skipped.map((l) => Number(l.step)).filter((n) => n > 1)) {
      const dir = (n: number) => path.join(out, 'checkpoints', `step-${n}`);
      expect(readFileSync(path.join(dir(s), ADAPTER_WEIGHTS)).equals(readFileSync(path.join(dir(s - 1), ADAPTER_WEIGHTS)))).toBe(true);
      const state = (n: number) => JSON.parse(readFileSync(path.join(dir(n), TRAINER_STATE), 'utf8')).optimizerStep;
      expect(state(s)).toBe(state(s - 1));
    }
  });

  it('within a step, skips the empty micro-batch and trains on the rest (the count rides on the step line)', async () => {
    const out = path.join(setup.work, 'partial');
    await runFinetune(settings({ output_dir: out, batch_size: 2, micro_batch_size: 1 }), () => {});
    const lines = readFileSync(path.join(out, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, number | string>);
    const reported = lines.filter((l) => l.type === 'step' || l.type === 'skipped');
    expect(reported.reduce((n, l) => n + Number(l.skippedMicroBatches ?? 0), 0)).toBe(4);
    for (const l of lines.filter((x) => x.type === 'step')) expect(Number(l.loss)).toBeGreaterThan(0);
  });
});

describe('the command line', () => {
  it('refuses a run with nothing to train on in one line and exit code 1, before it starts', async () => {
    const setup = await tinyRunSetup();
    const data = path.join(setup.work, 'long.json');
    writeFileSync(data, JSON.stringify([{ instruction: 'What is the capital of Peru? '.repeat(4), input: '', output: 'Lima.' }]));
    const out = path.join(setup.work, 'cli-run');
    const r = await runCli([
      'finetune',
      ...['--base_model', setup.baseModel, '--data_path', data, '--output_dir', out],
      ...['--prompt_template_name', 'alpaca_short', '--cutoff_len', '64', '--train_on_inputs', 'False', '--val_set_size', '0'],
    ]);
    expect(r.code).toBe(1);
    // The backend's line, then the refusal: one error line, the last, before any weight is read.
    const lines = r.stderr.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('error:'))).toEqual([
      `error: ${data}: 0 of 1 training rows keep a token to train on (1 cut at cutoff_len 64 before their response); raise cutoff_len or turn train_on_inputs on`,
    ]);
    expect(lines.at(-1)).toMatch(/^error: /);
    expect(r.stderr).not.toMatch(/frozen base held as/);
    expect(existsSync(path.join(out, 'config.json'))).toBe(false);
  });
});
