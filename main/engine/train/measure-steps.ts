import { loadLlamaConfig } from '../llama/config.ts';
import type { FinetuneConfig } from './config.ts';
import { prepareTrainingData } from './prepare-data.ts';
import { prepareTraining } from './prepare-training.ts';
import { planRun } from './run-plan.ts';
import { refuseCutoffBeyondContext } from './run-start-checks.ts';
import type { StepMeasurement } from './step-measurement.ts';
import { evaluate, totalSteps, train } from './trainer.ts';

/**
 * Run a fine-tuning run's first optimizer steps (the same data, model, batches and backend as the run itself, from a
 * fresh adapter) and one validation micro-batch, writing nothing, and estimate the whole run from their times.
 */
export async function measureSteps(
  config: FinetuneConfig,
  log: (message: string, level?: 'info' | 'warn') => void,
  opts: { signal?: AbortSignal } = {},
): Promise<StepMeasurement> {
  const started = performance.now();
  refuseCutoffBeyondContext(config, loadLlamaConfig(config.base_model));
  const data = await prepareTrainingData(config);
  const p = await prepareTraining(config, data, log);
  const loadMs = performance.now() - started;
  const total = totalSteps(p.trainerData, p.schedule);
  const measuredSteps = Math.min(2, total);
  const ends: number[] = [];
  const t0 = performance.now();
  await train(
    p.model,
    p.adapter,
    p.optimizer,
    { ...p.trainerData, validation: [] },
    { ...p.schedule, maxSteps: measuredSteps, loggingSteps: 1, saveSteps: 0, earlyStoppingPatience: 0 },
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
  const firstStepMs = ends[0] ?? 0;
  const stepMs = ends.length > 1 ? ends[1] - ends[0] : firstStepMs;
  const validation = p.trainerData.validation;
  let evalPassMs = 0;
  if (validation.length > 0 && !opts.signal?.aborted) {
    const e0 = performance.now();
    await evaluate(p.model, p.adapter, validation.slice(0, 1));
    evalPassMs = (performance.now() - e0) * validation.length;
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
    estimatedMs: loadMs + firstStepMs + Math.max(0, total - 1) * stepMs + evaluations * evalPassMs,
    backend: p.backend.detail,
  };
}
