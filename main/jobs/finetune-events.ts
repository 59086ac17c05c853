import type { TrainingEvent } from '../engine/train/reports.ts';
import type { TaskEvent } from './worker-tasks.ts';

/**
 * The job events a fine-tuning job sends for each trainer report. One mapping for both ends: the worker applies it
 * to the trainer's reports as they happen, and the run history (run-history.ts) applies it to the same reports read
 * back from metrics.jsonl, so a page that opens mid-run sees exactly what a page open from the start saw.
 */
export function finetuneEventMapper(): (e: TrainingEvent) => TaskEvent[] {
  let total = 0;
  return (e) => {
    switch (e.type) {
      case 'start':
        total = e.totalSteps;
        return [
          { type: 'log', level: 'info', message: `training ${e.totalSteps} steps from step ${e.startStep} on ${e.backend}` },
          { type: 'progress', done: e.startStep, total: e.totalSteps },
        ];
      case 'step':
        return [
          {
            type: 'report',
            step: e.step,
            totalSteps: e.totalSteps,
            epoch: e.epoch,
            loss: e.loss,
            learningRate: e.learningRate,
            tokensPerSecond: e.tokensPerSecond,
            elapsedMs: e.elapsedMs,
            etaMs: e.etaMs,
            memory: e.memory,
            ...(e.skippedMicroBatches ? { skippedMicroBatches: e.skippedMicroBatches, skippedSteps: e.skippedSteps } : {}),
          },
          { type: 'progress', done: e.step, total: e.totalSteps || total },
        ];
      case 'skipped':
        return [
          {
            type: 'log',
            level: 'warn',
            message: `step ${e.step}/${e.totalSteps}: ${e.skippedSteps} steps since the last report skipped (${e.skippedMicroBatches} micro-batches with no token to train on)`,
          },
          { type: 'progress', done: e.step, total: e.totalSteps || total },
        ];
      case 'eval':
        return [{ type: 'eval', step: e.step, epoch: e.epoch, evalLoss: e.evalLoss }];
      case 'checkpoint':
        return [{ type: 'log', level: 'info', message: `checkpoint written: ${e.dir}` }];
      case 'log':
        return [{ type: 'log', level: e.level, message: e.message }];
      case 'done':
        return [];
    }
  };
}
