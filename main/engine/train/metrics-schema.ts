import { z } from 'zod';

/** The schemas of metrics.jsonl (run-folder.ts reads it); Node-free, so the API contract and the renderer import them. */

/** A point of the loss / validation curves as the studio draws them. */
export const metricPointSchema = z.object({
  step: z.number(),
  epoch: z.number().optional(),
  loss: z.number().optional(),
  evalLoss: z.number().optional(),
  learningRate: z.number().optional(),
  tokensPerSecond: z.number().optional(),
});
export type MetricPoint = z.infer<typeof metricPointSchema>;

// The metrics.jsonl lines a reader needs, checked (other fields and other event types pass through unread). Every
// line carries the time it was written (appendMetric stamps it), which gives a run its dates and duration.
const time = z.string().optional();
const startLine = z.looseObject({
  type: z.literal('start'),
  time,
  startStep: z.number().int().nonnegative().default(0),
  totalSteps: z.number().int().nonnegative().optional(),
});
const stepLine = z.looseObject({
  type: z.literal('step'),
  time,
  step: z.number(),
  epoch: z.number().optional(),
  loss: z.number(),
  learningRate: z.number().optional(),
  tokensPerSecond: z.number().optional(),
  // Added for trainable-token accounting (older lines lack them): micro-batches and whole steps since the last line
  // that had no token to train on and were skipped. Their loss is never part of `loss`.
  skippedMicroBatches: z.number().int().nonnegative().optional(),
  skippedSteps: z.number().int().nonnegative().optional(),
});
/** A report point where every step since the last line was skipped (no token to train on): counts, and no loss. */
const skippedLine = z.looseObject({
  type: z.literal('skipped'),
  time,
  step: z.number(),
  epoch: z.number().optional(),
  skippedMicroBatches: z.number().int().nonnegative(),
  skippedSteps: z.number().int().nonnegative(),
});
const evalLine = z.looseObject({ type: z.literal('eval'), time, step: z.number(), epoch: z.number().optional(), evalLoss: z.number() });
const doneLine = z.looseObject({ type: z.literal('done'), time, reason: z.string() });
/**
 * Not the trainer's: the studio's job host appends it when a job that wrote into the run folder fails (an error the
 * trainer raised, or its process dying), so the run folder also tells how an attempt ended.
 */
export const failedLineSchema = z.looseObject({
  type: z.literal('failed'),
  time,
  error: z.string(),
  lastOutput: z.array(z.string()).default([]),
});
export const metricLineSchema = z.discriminatedUnion('type', [startLine, stepLine, skippedLine, evalLine, doneLine, failedLineSchema]);
export const KNOWN_METRIC_TYPES = new Set(['start', 'step', 'skipped', 'eval', 'done', 'failed']);
