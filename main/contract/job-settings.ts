import { z } from 'zod';
import { BACKEND_CHOICES } from '../engine/backend/choices.ts';
import { mergeSettingsSchema, quantizeSettingsSchema, stateDictSettingsSchema } from '../engine/export/export-settings.ts';
import { playgroundSettingsSchema } from '../engine/generate/playground-settings.ts';
import { finetuneConfigSchema, finetuneConsistency } from '../engine/train/config.ts';
import { stepMeasurementSchema } from '../engine/train/step-measurement.ts';
import { JOB_STATES } from '../cluster/job-state.ts';
import { clusterJobSettingsSchema } from './cluster-run.ts';

/**
 * What each job kind takes and gives: the settings are the engine's own schemas (the CLI's flags come from the
 * same ones), strict, so a misspelt key is refused by name before any process starts. No Node imports: the
 * contract and the renderer use this file.
 */

/** The built-in job that needs no model (tests, and a user checking that jobs start at all). */
export const selftestSettingsSchema = z
  .object({
    steps: z.number().int().min(0).max(1_000_000).optional(),
    intervalMs: z.number().int().min(0).max(60_000).optional(),
    crashAt: z.number().int().min(1).optional(),
    crashMode: z.enum(['exit', 'throw', 'refuse']).optional(),
    ignoreStop: z.boolean().optional(),
  })
  .strict();

/** A fine-tuning run's settings as a job takes them: the host gives a run without output_dir a folder of its own. */
const finetuneJobSchema = finetuneConfigSchema
  .extend({ output_dir: z.string().min(1).optional() })
  .strict()
  .superRefine(finetuneConsistency);

export const jobSettingsSchemas = {
  finetune: finetuneJobSchema,
  merge: mergeSettingsSchema,
  export: stateDictSettingsSchema,
  quantize: quantizeSettingsSchema,
  generate: playgroundSettingsSchema.extend({ backend: z.enum(BACKEND_CHOICES).optional() }).strict(),
  selftest: selftestSettingsSchema,
  // The run's own settings: its first steps are measured as the run would make them (nothing is written).
  measure: finetuneJobSchema,
  // A fine-tune on a SLURM cluster, submitted, followed, cancelled or fetched (the settings are checked by the same
  // fine-tuning schema as a local run's).
  cluster: clusterJobSettingsSchema(finetuneJobSchema),
} as const;

/** An export job's outcome: the written file or folder, and its verification report. */
const exportResultSchema = z.object({
  kind: z.string(),
  output: z.string(),
  summary: z.string(),
  reportFile: z.string(),
  report: z.record(z.string(), z.unknown()),
});
const answerSchema = z.object({ text: z.string(), tokens: z.number(), stoppedBy: z.string(), tokensPerSecond: z.number() });

/** What each kind's `done` event carries as `result`. */
export const jobResultSchemas = {
  finetune: z.object({
    runDir: z.string(),
    adapterDir: z.string(),
    steps: z.number(),
    reason: z.string(),
    bestCheckpoint: z.string().optional(),
    finalEvalLoss: z.number().optional(),
  }),
  merge: exportResultSchema,
  export: exportResultSchema,
  quantize: exportResultSchema,
  generate: z.object({ promptTokens: z.number(), base: answerSchema.optional(), tuned: answerSchema.optional() }),
  selftest: z.object({ steps: z.number() }),
  measure: stepMeasurementSchema,
  cluster: z.object({
    runDir: z.string(),
    jobId: z.string().optional(),
    state: z.enum(JOB_STATES).optional(),
    adapter: z.enum(['fetched', 'unchanged', 'absent', 'refused']).optional(),
  }),
} as const;

export type JobSettingsKind = keyof typeof jobSettingsSchemas;
export type JobSettings<K extends JobSettingsKind> = z.input<(typeof jobSettingsSchemas)[K]>;
export type JobResult<K extends JobSettingsKind> = z.output<(typeof jobResultSchemas)[K]>;

/** A finished job's result, checked against its kind's schema (undefined when absent or not of that shape). */
export function jobResultOf<K extends JobSettingsKind>(kind: K, result: unknown): JobResult<K> | undefined {
  const r = jobResultSchemas[kind].safeParse(result);
  return r.success ? (r.data as JobResult<K>) : undefined;
}
