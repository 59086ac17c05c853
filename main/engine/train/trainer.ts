import * as tf from '@tensorflow/tfjs';
import { StudioError } from '../errors.ts';
import type { LlamaModel } from '../model/llama.ts';
import type { LoraAdapter } from '../model/lora.ts';
import { AdamW, clipGlobalNorm } from './adamw.ts';
import type { MemoryReport, TrainingListener } from './reports.ts';
import { evaluatesAt, stepsFor } from './run-plan.ts';
import { linearWarmupDecay } from './schedule.ts';
import type { MicroBatch } from '../data/batches.ts';
import { evaluationLoss, labelledCount, microBatchGradients } from './step.ts';

/** Where training stands; everything a checkpoint must hold to continue exactly. */
export interface TrainerPosition {
  /** Optimizer steps done. */
  step: number;
  epoch: number;
  /** Micro-batches of this epoch already consumed. */
  cursor: number;
  bestEvalLoss: number | null;
  bestStep: number | null;
  /** Evaluations in a row without a new best (early stopping). */
  evalsWithoutImprovement: number;
}

export const START: TrainerPosition = { step: 0, epoch: 0, cursor: 0, bestEvalLoss: null, bestStep: null, evalsWithoutImprovement: 0 };

export interface TrainerSchedule {
  learningRate: number;
  warmupSteps: number;
  /** Micro-batches per optimizer step (batch_size / micro_batch_size). */
  gradientAccumulation: number;
  numEpochs: number;
  /** Stop after this many optimizer steps (0 = run every epoch). */
  maxSteps: number;
  maxGradNorm: number;
  loggingSteps: number;
  evalSteps: number;
  saveSteps: number;
  /** Stop after this many evaluations without improvement (0 = never). */
  earlyStoppingPatience: number;
  seed: number;
  /** Recompute each layer in the backward pass (see checkpoint.ts). */
  gradientCheckpointing?: boolean;
}

/** The data as the trainer sees it: the micro-batches of an epoch, in a deterministic order. */
export interface TrainerData {
  /** Micro-batches in epoch `epoch` (the same for every epoch). */
  microBatchesPerEpoch: number;
  /** The i-th micro-batch of epoch `epoch`; a pure function of (epoch, i) so a resumed run sees the same data. */
  microBatch(epoch: number, index: number): MicroBatch;
  /** Validation micro-batches (may be empty). */
  validation: MicroBatch[];
}

export interface TrainerHooks {
  /** Save a checkpoint of the current state (adapter, optimizer, position). */
  saveCheckpoint(position: TrainerPosition, optimizer: AdamW): Promise<string>;
  listener: TrainingListener;
  /** Checked between steps; true stops the run cleanly (a checkpoint is saved first). */
  shouldStop?: () => boolean;
  /** A step whose micro-batches take longer than this reports each one as it ends (ms; default IN_STEP_REPORT_MS). */
  inStepReportMs?: number;
}

/** Long steps (big accumulation, long sequences, a slow backend) say how far they are, so a run never looks hung. */
export const IN_STEP_REPORT_MS = 10_000;

/** Optimizer steps for the whole run, as the HF Trainer counts them (a partial last accumulation still steps). */
export function totalSteps(data: Pick<TrainerData, 'microBatchesPerEpoch'>, s: TrainerSchedule): number {
  return stepsFor(data.microBatchesPerEpoch, s.gradientAccumulation, s.numEpochs, s.maxSteps);
}

/** Micro-batches (and whole optimizer steps) skipped because no label in them reaches the loss. */
export interface SkippedCounts {
  microBatches: number;
  steps: number;
}

/** The loss became NaN or ±Infinity: the adapter diverged (the learning rate) or the base overflows; the message says which. */
export class NonFiniteLossError extends StudioError {
  constructor(message: string) {
    super(message, undefined, 'train/non-finite');
    this.name = 'NonFiniteLossError';
  }
}

/**
 * The training loop. It knows nothing of its listeners or of files: data comes from TrainerData, checkpoints
 * are written by the hook, and every report goes through one callback.
 */
export async function train(
  model: LlamaModel,
  adapter: LoraAdapter,
  optimizer: AdamW,
  data: TrainerData,
  schedule: TrainerSchedule,
  hooks: TrainerHooks,
  from: TrainerPosition = START,
): Promise<{ position: TrainerPosition; reason: 'finished' | 'max_steps' | 'early_stopping' | 'stopped'; skipped: SkippedCounts }> {
  const total = totalSteps(data, schedule);
  const pos: TrainerPosition = { ...from };
  const startedAt = performance.now();
  const startStep = pos.step;
  let tokensSeen = 0;
  let lossWindow: number[] = [];
  // Skips since the last report (they go into its line) and in the whole run (for the caller's summary).
  let windowSkips: SkippedCounts = { microBatches: 0, steps: 0 };
  const skipped: SkippedCounts = { microBatches: 0, steps: 0 };
  let norm = 0;

  while (pos.step < total) {
    if (hooks.shouldStop?.()) {
      await hooks.saveCheckpoint(pos, optimizer);
      return { position: pos, reason: 'stopped', skipped };
    }
    // The micro-batches of this optimizer step: up to `gradientAccumulation`, never across an epoch boundary.
    const batches: MicroBatch[] = [];
    while (batches.length < schedule.gradientAccumulation && pos.cursor < data.microBatchesPerEpoch) {
      batches.push(data.microBatch(pos.epoch, pos.cursor++));
    }
    // A micro-batch whose every label is masked (rows cut at cutoff_len before their response) has no loss and no
    // gradient: it is skipped and counted, never computed and reported as a loss of 0.
    const labelled = batches.map((mb) => labelledCount(mb));
    const normalizer = labelled.reduce((n, c) => n + c, 0);
    const lr = schedule.learningRate * linearWarmupDecay(pos.step, schedule.warmupSteps, total);
    const empty = labelled.filter((c) => c === 0).length;
    if (empty > 0) {
      if (skipped.microBatches === 0)
        hooks.listener({
          type: 'log',
          level: 'warn',
          message: `step ${pos.step + 1}/${total}: skipped ${empty === batches.length ? 'the whole step' : `${empty} of ${batches.length} micro-batches`}: no token to train on (every label masked, or cut at cutoff_len); skips are counted in metrics.jsonl, never logged as a loss of 0`,
        });
      skipped.microBatches += empty;
      windowSkips.microBatches += empty;
    }

    let stepLoss = 0;
    let accumulated: tf.Tensor[] | undefined;
    const stepStarted = performance.now();
    let lastReport = stepStarted;
    for (const [i, mb] of batches.entries()) {
      if (labelled[i] === 0) continue;
      const now = performance.now();
      if (i > 0 && now - lastReport >= (hooks.inStepReportMs ?? IN_STEP_REPORT_MS)) {
        const seconds = ((now - stepStarted) / 1000).toFixed(1);
        hooks.listener({
          type: 'log',
          level: 'info',
          message: `step ${pos.step + 1}/${total}: micro-batch ${i}/${batches.length} done, ${seconds} s into the step`,
        });
        lastReport = now;
      }
      const dropout = { seed: schedule.seed, step: pos.step, microBatch: i };
      const { loss, grads } = await microBatchGradients(model, adapter, mb, normalizer, {
        dropout,
        gradientCheckpointing: schedule.gradientCheckpointing,
      });
      stepLoss += loss;
      tokensSeen += mb.batchSize * mb.seqLen;
      if (!accumulated) accumulated = grads;
      else {
        const sum = accumulated.map((g, j) => tf.add(g, grads[j]));
        tf.dispose([...accumulated, ...grads]);
        accumulated = sum;
      }
    }
    if (!Number.isFinite(stepLoss)) {
      tf.dispose(accumulated ?? []);
      throw new NonFiniteLossError(await whyNonFinite(model, batches, stepLoss, pos.step + 1));
    }
    if (accumulated) {
      const clip = await clipGlobalNorm(accumulated, schedule.maxGradNorm);
      norm = clip.norm;
      optimizer.apply(clip.grads, lr);
      tf.dispose(clip.grads === accumulated ? accumulated : [...accumulated, ...clip.grads]);
      lossWindow.push(stepLoss);
    } else {
      // No micro-batch of this step had a token to train on: no update (there is no gradient), the step still counts.
      skipped.steps++;
      windowSkips.steps++;
    }

    pos.step++;
    if (pos.cursor >= data.microBatchesPerEpoch) {
      pos.epoch++;
      pos.cursor = 0;
    }
    const elapsedMs = performance.now() - startedAt;
    if (pos.step % schedule.loggingSteps === 0 || pos.step === total) {
      const done = pos.step - startStep;
      const timing = {
        step: pos.step,
        totalSteps: total,
        epoch: pos.epoch + pos.cursor / data.microBatchesPerEpoch,
        learningRate: lr,
        elapsedMs,
        etaMs: (elapsedMs / done) * (total - pos.step),
      };
      // The skip counts are added only when there were skips, so a run without any writes the lines it always wrote.
      const skips = windowSkips.microBatches > 0 ? { skippedMicroBatches: windowSkips.microBatches, skippedSteps: windowSkips.steps } : {};
      if (lossWindow.length > 0) {
        hooks.listener({
          type: 'step',
          ...timing,
          loss: lossWindow.reduce((a, b) => a + b, 0) / lossWindow.length,
          gradNorm: norm,
          tokensPerSecond: tokensSeen / (elapsedMs / 1000),
          memory: memoryReport(),
          ...skips,
        });
      } else {
        // Every step since the last report was skipped: there is no loss to report, only the count.
        hooks.listener({ type: 'skipped', ...timing, skippedMicroBatches: windowSkips.microBatches, skippedSteps: windowSkips.steps });
      }
      lossWindow = [];
      windowSkips = { microBatches: 0, steps: 0 };
    }

    const evalNow = data.validation.length > 0 && evaluatesAt(pos.step, total, schedule.evalSteps);
    const evalLoss = evalNow ? await evaluate(model, adapter, data.validation) : NaN;
    // A validation set whose labels are all masked has no loss to report (NaN): skip it rather than send NaN.
    if (evalNow && Number.isFinite(evalLoss)) {
      hooks.listener({ type: 'eval', step: pos.step, epoch: pos.epoch, evalLoss });
      if (pos.bestEvalLoss === null || evalLoss < pos.bestEvalLoss) {
        pos.bestEvalLoss = evalLoss;
        pos.bestStep = pos.step;
        pos.evalsWithoutImprovement = 0;
      } else pos.evalsWithoutImprovement++;
    }
    const saveNow = schedule.saveSteps > 0 && pos.step % schedule.saveSteps === 0;
    if (saveNow || (evalNow && pos.bestStep === pos.step)) {
      const dir = await hooks.saveCheckpoint(pos, optimizer);
      hooks.listener({ type: 'checkpoint', step: pos.step, dir });
    }
    if (schedule.earlyStoppingPatience > 0 && pos.evalsWithoutImprovement >= schedule.earlyStoppingPatience) {
      return { position: pos, reason: 'early_stopping', skipped };
    }
    await new Promise((r) => setImmediate(r)); // let stop requests and IPC in
  }
  return { position: pos, reason: schedule.maxSteps > 0 && pos.step >= schedule.maxSteps ? 'max_steps' : 'finished', skipped };
}

/**
 * Why the loss of step `step` is not finite. The blame goes where it belongs: when the base model alone (no adapter)
 * already gives a non-finite loss on these batches, its weights or activations overflow and no learning rate would
 * help; otherwise the adapter diverged, which a lower learning rate prevents.
 */
async function whyNonFinite(model: LlamaModel, batches: MicroBatch[], loss: number, step: number): Promise<string> {
  for (const mb of batches) {
    const base = await evaluationLoss(model, undefined, mb);
    if (!Number.isFinite(base.sum)) {
      return (
        `training loss became ${loss} at step ${step}, and the base model alone (without the adapter) gives a loss of ${base.sum} on the same batch: ` +
        'its weights or activations overflow (a damaged checkpoint, or values too large for the precision it is held in), so no learning rate would help. ' +
        'Check the base model (lora-studio inspect, or run it in transformers)'
      );
    }
  }
  return `training loss became ${loss} at step ${step}; stopped (the last checkpoint is kept). The base model alone gives a finite loss on this batch, so the adapter diverged: try a lower learning_rate.`;
}

/** Mean loss over every labelled token of the validation set. */
export async function evaluate(model: LlamaModel, adapter: LoraAdapter | undefined, batches: MicroBatch[]): Promise<number> {
  let sum = 0;
  let count = 0;
  for (const mb of batches) {
    const r = await evaluationLoss(model, adapter, mb);
    sum += r.sum;
    count += r.count;
  }
  return count ? sum / count : NaN;
}

export function memoryReport(): MemoryReport {
  const m = tf.memory() as tf.MemoryInfo & { numBytesInGPU?: number };
  const report: MemoryReport = { rssBytes: process.memoryUsage().rss, tensorBytes: m.numBytes, numTensors: m.numTensors };
  if (m.numBytesInGPU !== undefined) report.deviceBytes = m.numBytesInGPU; // tfjs-webgpu's buffers on the device
  return report;
}
