import { z } from 'zod';

/** What a fine-tuning run returns (runFinetune) and its job's `done` event carries. Node-free: the contract reads it. */
export const finetuneResultSchema = z.object({
  runDir: z.string(),
  adapterDir: z.string(),
  steps: z.number(),
  reason: z.string(),
  bestCheckpoint: z.string().optional(),
  finalEvalLoss: z.number().optional(),
});
export type FinetuneResult = z.infer<typeof finetuneResultSchema>;
