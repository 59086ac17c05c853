import type { TrainingEvent } from '../engine/train/reports.ts';
import type { TaskEvent } from './worker-tasks.ts';

/**
 * A training event as the job events the studio shows: for the worker's finetune task, and for a run the studio
 * adopted (its writer outlived an earlier studio), whose events it reads back from metrics.jsonl. `progress` carries
 * the step total between events.
 */
export function jobEventsOf(e: TrainingEvent, progress: { total: number }): TaskEvent[] {
  switch (e.type) {
    case 'start':
      progress.total = e.totalSteps;
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
        { type: 'progress', done: e.step, total: e.totalSteps || progress.total },
      ];
    case 'skipped':
      return [
        {
          type: 'log',
          level: 'warn',
          message: `step ${e.step}/${e.totalSteps}: ${e.skippedSteps} steps since the last report skipped (${e.skippedMicroBatches} micro-batches with no token to train on)`,
        },
        { type: 'progress', done: e.step, total: e.totalSteps || progress.total },
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
}
