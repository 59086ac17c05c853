import { PAD_MULTIPLE, type EpochBatches } from '../data/batches.ts';
import { lossTokenCount } from '../data/stats.ts';
import { loadLlamaConfig } from '../llama/config.ts';
import type { FinetuneConfig } from './config.ts';
import { prepareTrainingData } from './prepare-data.ts';
import { prepareTraining, startTrainingBackend } from './prepare-training.ts';
import { planRun } from './run-plan.ts';
import { refuseAbsurdLoraScale, refuseCutoffBeyondContext } from './run-start-checks.ts';
import type { StepMeasurement } from './step-measurement.ts';
import { evaluate, totalSteps, train, type TrainerSchedule } from './trainer.ts';

/** Steps measured: the first (it warms the backend up) and two more, whose pace the rest of the run is scaled from. */
const MEASURED_STEPS = 3;

/** Padded tokens of a micro-batch as collate makes it (each row padded to the longest, a multiple of 8). */
function paddedTokens(batches: EpochBatches, epoch: number, index: number): number {
  const order = batches.orderOf(epoch);
  const rows = order.slice(index * batches.microBatchSize, (index + 1) * batches.microBatchSize).map((i) => batches.examples[i]);
  // A micro-batch with no token to train on is skipped by the trainer: it costs nothing.
  if (rows.every((e) => lossTokenCount(e) === 0)) return 0;
  const longest = Math.max(...rows.map((e) => e.inputIds.length));
  return rows.length * Math.ceil(longest / PAD_MULTIPLE) * PAD_MULTIPLE;
}

/** The padded tokens of each optimizer step of the run, walking the data as the trainer does. */
function tokensPerStep(batches: EpochBatches, schedule: TrainerSchedule, total: number): number[] {
  const out: number[] = [];
  let epoch = 0;
  let cursor = 0;
  for (let step = 0; step < total; step++) {
    let tokens = 0;
    for (let k = 0; k < schedule.gradientAccumulation && cursor < batches.microBatchesPerEpoch; k++)
      tokens += paddedTokens(batches, epoch, cursor++);
    if (cursor >= batches.microBatchesPerEpoch) [epoch, cursor] = [epoch + 1, 0];
    out.push(tokens);
  }
  return out;
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/**
 * Run a fine-tuning run's first optimizer steps (the same data, model, batches and backend as the run itself, from a
 * fresh adapter) and two validation micro-batches, writing nothing, and estimate the whole run from their times. A
 * step's time follows its padded tokens (rows of a micro-batch are padded to its longest), so the steps after the first
 * are scaled by the tokens each step of the run will hold, not taken as all alike.
 */
export async function measureSteps(
  config: FinetuneConfig,
  log: (message: string, level?: 'info' | 'warn') => void,
  opts: { signal?: AbortSignal } = {},
): Promise<StepMeasurement> {
  const started = performance.now();
  refuseAbsurdLoraScale(config);
  refuseCutoffBeyondContext(config, await loadLlamaConfig(config.base_model));
  const backend = await startTrainingBackend(config, log);
  const data = await prepareTrainingData(config);
  const p = await prepareTraining(config, data, backend, log);
  const loadMs = performance.now() - started;
  const total = totalSteps(p.trainerData, p.schedule);
  const ends: number[] = [];
  const t0 = performance.now();
  await train(
    p.model,
    p.adapter,
    p.optimizer,
    { ...p.trainerData, validation: [] },
    { ...p.schedule, maxSteps: Math.min(MEASURED_STEPS, total), loggingSteps: 1, saveSteps: 0, earlyStoppingPatience: 0 },
    {
      listener: (e) => {
        if (e.type === 'step' || e.type === 'skipped') {
          ends.push(performance.now() - t0);
          log(`measured step ${e.step}: ${(ends.at(-1)! - (ends.at(-2) ?? 0)).toFixed(0)} ms`);
        } else if (e.type === 'log') log(e.message, e.level);
      },
      saveCheckpoint: async () => '',
      shouldStop: () => opts.signal?.aborted ?? false,
    },
  );
  const tokens = tokensPerStep(p.batches, p.schedule, total);
  const firstStepMs = ends[0] ?? 0;
  const durations = ends.map((end, i) => end - (ends[i - 1] ?? 0));
  // The pace after the first step, in ms per padded token: the fastest measured step's, as the steady pace (a later
  // step can still carry warm-up or another process's load; none runs faster than the machine can).
  const paces = durations.slice(1).flatMap((ms, i) => (tokens[i + 1] > 0 ? [ms / tokens[i + 1]] : []));
  const msPerToken = paces.length ? Math.min(...paces) : tokens[0] > 0 ? firstStepMs / tokens[0] : 0;
  const stepMs = durations.length > 1 ? sum(durations.slice(1)) / (durations.length - 1) : firstStepMs;

  // Validation: the second micro-batch's pace (the first warms the forward-only path), over every validation token.
  const validation = p.trainerData.validation;
  let evalPassMs = 0;
  if (validation.length > 0 && !opts.signal?.aborted) {
    const timed = validation.slice(0, 2).map((mb) => ({ mb, ms: 0 }));
    for (const x of timed) {
      const e0 = performance.now();
      await evaluate(p.model, p.adapter, [x.mb]);
      x.ms = performance.now() - e0;
    }
    const pace = timed.at(-1)!;
    evalPassMs = (pace.ms / (pace.mb.batchSize * pace.mb.seqLen)) * sum(validation.map((mb) => mb.batchSize * mb.seqLen));
  }
  const evaluations = planRun(config, data.trainExamples.length + data.valExamples.length).evaluations;
  p.adapter.dispose();
  p.optimizer.dispose();
  return {
    measuredSteps: ends.length,
    loadMs,
    firstStepMs,
    stepMs,
    evalPassMs,
    totalSteps: total,
    evaluations,
    estimatedMs: loadMs + firstStepMs + msPerToken * sum(tokens.slice(1)) + evaluations * evalPassMs,
    backend: p.backend.detail,
  };
}
