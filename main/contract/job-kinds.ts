import { z } from 'zod';
import { BACKEND_CHOICES } from '../engine/backend/choices.ts';
import { mergeSettingsSchema, quantizeSettingsSchema, stateDictSettingsSchema } from '../engine/export/export-settings.ts';
import { playgroundSettingsSchema } from '../engine/generate/playground-settings.ts';
import { parseSettings } from '../engine/parse-settings.ts';
import { finetuneConfigSchema, finetuneConsistency } from '../engine/train/config.ts';
import { finetuneResultSchema } from '../engine/train/finetune-result.ts';
import { stepMeasurementSchema } from '../engine/train/step-measurement.ts';
import { JOB_STATES } from '../cluster/job-state.ts';
import { clusterJobSettingsSchema } from './cluster-run.ts';

/**
 * Every job kind, one record each: what it takes (the engine's own settings schema, the one the CLI's flags come
 * from; strict, so a misspelt key is refused by name before any process starts), how its settings are named in
 * messages, which setting is its output path, and what its `done` event carries. The task that runs a kind is in
 * main/jobs/worker-tasks.ts, a record keyed by these kinds (a kind without a task is a type error there). No Node
 * imports: the contract and the renderer use this file.
 */

/** The built-in job that needs no model (tests, and a user checking that jobs start at all). */
const selftestSettingsSchema = z
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

/** An export job's outcome: the written file or folder, and its verification report. */
const exportResultSchema = z.object({
  kind: z.string(),
  output: z.string(),
  summary: z.string(),
  reportFile: z.string(),
  report: z.record(z.string(), z.unknown()),
});
const answerSchema = z.object({ text: z.string(), tokens: z.number(), stoppedBy: z.string(), tokensPerSecond: z.number() });

export interface JobKindSpec {
  settings: z.ZodType;
  /** How the settings are named in the message that refuses them. */
  what: string;
  /** The setting that is an output path: the host keeps it inside the runs folder. */
  outputKey?: string;
  /** What the `done` event carries as `result`. */
  result: z.ZodType;
  /**
   * queue: one at a time, in the order started (jobs compete for the same cores and memory); interactive: the
   * playground's own lane, also one at a time, so a user waiting for an answer does not wait for a training run;
   * remote: starts at once beside every other job (it computes nothing here: the cluster trains, it polls and copies),
   * so following a run that takes days never holds up a local one.
   */
  lane: 'queue' | 'interactive' | 'remote';
}

export const JOB_KIND_SPECS = {
  finetune: {
    settings: finetuneJobSchema,
    what: 'fine-tuning settings',
    outputKey: 'output_dir',
    result: finetuneResultSchema,
    lane: 'queue',
  },
  merge: { settings: mergeSettingsSchema, what: 'merge settings', outputKey: 'output_dir', result: exportResultSchema, lane: 'queue' },
  /** Meta's original state dict (consolidated.00.pth + params.json), as Alpaca-LoRA's export_state_dict_checkpoint.py. */
  'export-state-dict': {
    settings: stateDictSettingsSchema,
    what: 'state dict settings',
    outputKey: 'output_dir',
    result: exportResultSchema,
    lane: 'queue',
  },
  /** GGUF (F16, Q8_0) with its Modelfile, or bitsandbytes int8. */
  quantize: { settings: quantizeSettingsSchema, what: 'quantize settings', outputKey: 'output', result: exportResultSchema, lane: 'queue' },
  /** The playground: base and fine-tuned answers to one prompt. */
  generate: {
    settings: playgroundSettingsSchema.extend({ backend: z.enum(BACKEND_CHOICES).optional() }).strict(),
    what: 'playground settings',
    result: z.object({ promptTokens: z.number(), base: answerSchema.optional(), tuned: answerSchema.optional() }),
    lane: 'interactive',
  },
  selftest: {
    settings: selftestSettingsSchema.default({}),
    what: 'selftest settings',
    result: z.object({ steps: z.number() }),
    lane: 'queue',
  },
  /** A fine-tuning run's first steps, timed as the run would make them, for the wizard's duration estimate (writes nothing). */
  measure: { settings: finetuneJobSchema, what: 'fine-tuning settings', result: stepMeasurementSchema, lane: 'queue' },
  /**
   * A fine-tune on a SLURM cluster: submitted (then followed and fetched), followed again, cancelled or fetched. Its
   * settings are checked by the same fine-tuning schema as a local run's; the run folder is placed by the host.
   */
  cluster: {
    settings: clusterJobSettingsSchema(finetuneJobSchema),
    what: 'cluster run settings',
    result: z.object({
      runDir: z.string(),
      jobId: z.string().optional(),
      state: z.enum(JOB_STATES).optional(),
      adapter: z.enum(['fetched', 'unchanged', 'absent', 'refused']).optional(),
    }),
    lane: 'remote',
  },
} as const satisfies Record<string, JobKindSpec>;

export type JobKind = keyof typeof JOB_KIND_SPECS;
/** The kinds, in the record's order (z.enum wants a non-empty tuple; Object.keys types its answer as string[]). */
export const JOB_KINDS = Object.keys(JOB_KIND_SPECS) as [JobKind, ...JobKind[]];

/** What a job of kind K takes, as a caller writes it (defaults may be left out). */
export type JobSettings<K extends JobKind> = z.input<(typeof JOB_KIND_SPECS)[K]['settings']>;
/** What a job of kind K takes, as its task gets it: checked, with the defaults filled in. */
export type ParsedJobSettings<K extends JobKind> = z.output<(typeof JOB_KIND_SPECS)[K]['settings']>;
export type JobResult<K extends JobKind> = z.output<(typeof JOB_KIND_SPECS)[K]['result']>;

/** The fine-tuning settings schema (the wizard's form checks its settings against it). */
export const finetuneSettingsSchema = JOB_KIND_SPECS.finetune.settings;

/** A job's settings checked against its kind's schema, or a StudioError naming each bad field. */
export function parseJobSettings<K extends JobKind>(kind: K, raw: unknown): ParsedJobSettings<K> {
  const spec: JobKindSpec = JOB_KIND_SPECS[kind];
  // TypeScript cannot follow K from the record to zod's output type: the one cast, checked by the parse itself.
  return parseSettings(spec.settings, raw, spec.what) as ParsedJobSettings<K>;
}

/** A finished job's result, checked against its kind's schema (undefined when absent or not of that shape). */
export function jobResultOf<K extends JobKind>(kind: K, result: unknown): JobResult<K> | undefined {
  const r = JOB_KIND_SPECS[kind].result.safeParse(result);
  return r.success ? (r.data as JobResult<K>) : undefined;
}
