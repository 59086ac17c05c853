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

// The metrics.jsonl lines a reader needs, checked (other fields and other event types pass through unread).
const startLine = z.looseObject({ type: z.literal('start'), startStep: z.number().int().nonnegative().default(0) });
const stepLine = z.looseObject({
  type: z.literal('step'),
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
  step: z.number(),
  epoch: z.number().optional(),
  skippedMicroBatches: z.number().int().nonnegative(),
  skippedSteps: z.number().int().nonnegative(),
});
const evalLine = z.looseObject({ type: z.literal('eval'), step: z.number(), epoch: z.number().optional(), evalLoss: z.number() });
const doneLine = z.looseObject({ type: z.literal('done'), reason: z.string() });
export const metricLineSchema = z.discriminatedUnion('type', [startLine, stepLine, skippedLine, evalLine, doneLine]);
export const KNOWN_METRIC_TYPES = new Set(['start', 'step', 'skipped', 'eval', 'done']);
