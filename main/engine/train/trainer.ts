import * as tf from '@tensorflow/tfjs';
import { StudioError } from '../errors.ts';
import type { LlamaModel } from '../model/llama.ts';
import type { LoraAdapter } from '../model/lora.ts';
import { AdamW, clipGlobalNorm } from './adamw.ts';
import type { MemoryReport, TrainingListener } from './reports.ts';
import { linearWarmupDecay } from './schedule.ts';
import { countSteps } from './training-data.ts';
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
  return countSteps(data.microBatchesPerEpoch, s.gradientAccumulation, s.numEpochs, s.maxSteps);
}

/** The loss became NaN or ±Infinity: the settings (usually the learning rate) made training diverge. */
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
): Promise<{ position: TrainerPosition; reason: 'finished' | 'max_steps' | 'early_stopping' | 'stopped' }> {
  const total = totalSteps(data, schedule);
  const pos: TrainerPosition = { ...from };
  const startedAt = performance.now();
  const startStep = pos.step;
  let tokensSeen = 0;
  let lossWindow: number[] = [];

  while (pos.step < total) {
    if (hooks.shouldStop?.()) {
      await hooks.saveCheckpoint(pos, optimizer);
      return { position: pos, reason: 'stopped' };
    }
    // The micro-batches of this optimizer step: up to `gradientAccumulation`, never across an epoch boundary.
    const batches: MicroBatch[] = [];
    while (batches.length < schedule.gradientAccumulation && pos.cursor < data.microBatchesPerEpoch) {
      batches.push(data.microBatch(pos.epoch, pos.cursor++));
    }
    const normalizer = Math.max(
      1,
      batches.reduce((n, mb) => n + labelledCount(mb), 0),
    );
    const lr = schedule.learningRate * linearWarmupDecay(pos.step, schedule.warmupSteps, total);

    let stepLoss = 0;
    let accumulated: tf.Tensor[] | undefined;
    const stepStarted = performance.now();
    let lastReport = stepStarted;
    for (const [i, mb] of batches.entries()) {
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
      throw new NonFiniteLossError(
        `training loss became ${stepLoss} at step ${pos.step + 1}; stopped (the last checkpoint is kept). Try a lower learning_rate.`,
      );
    }
    const { grads: clipped, norm } = await clipGlobalNorm(accumulated!, schedule.maxGradNorm);
    optimizer.apply(clipped, lr);
    tf.dispose(clipped === accumulated ? accumulated : [...accumulated!, ...clipped]);

    pos.step++;
    if (pos.cursor >= data.microBatchesPerEpoch) {
      pos.epoch++;
      pos.cursor = 0;
    }
    lossWindow.push(stepLoss);
    const elapsedMs = performance.now() - startedAt;
    if (pos.step % schedule.loggingSteps === 0 || pos.step === total) {
      const done = pos.step - startStep;
      hooks.listener({
        type: 'step',
        step: pos.step,
        totalSteps: total,
        epoch: pos.epoch + pos.cursor / data.microBatchesPerEpoch,
        loss: lossWindow.reduce((a, b) => a + b, 0) / lossWindow.length,
        learningRate: lr,
        gradNorm: norm,
        tokensPerSecond: tokensSeen / (elapsedMs / 1000),
        elapsedMs,
        etaMs: (elapsedMs / done) * (total - pos.step),
        memory: memoryReport(),
      });
      lossWindow = [];
    }

    const evalNow = data.validation.length > 0 && schedule.evalSteps > 0 && (pos.step % schedule.evalSteps === 0 || pos.step === total);
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
      return { position: pos, reason: 'early_stopping' };
    }
    await new Promise((r) => setImmediate(r)); // let stop requests and IPC in
  }
  return { position: pos, reason: schedule.maxSteps > 0 && pos.step >= schedule.maxSteps ? 'max_steps' : 'finished' };
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
