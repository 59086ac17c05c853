import { BASE_DTYPE_CHOICES } from '../engine/llama/base-dtype-names.ts';
import { memoryReportSchema } from '../engine/system/memory-report.ts';
import { z } from 'zod';
import { modelReportSchema } from '../engine/llama/model-report.ts';
import { metricPointSchema, type MetricPoint } from '../engine/train/metrics-schema.ts';
import { CALL_NAME_LIST } from './call-names.ts';
import { JOB_KIND_SPECS, JOB_KINDS, type JobKind, type JobSettings, type ParsedJobSettings } from './job-kinds.ts';
import { clusterProfileSchema, clusterRunInfoSchema } from './cluster-run.ts';
export * from './cluster-run.ts';

/**
 * The one contract between the studio's UI and its main side. Electron IPC and the HTTP/WebSocket server both
 * validate every request and reply against these schemas; preload exposes exactly these calls. This file imports
 * nothing from Node so the renderer can use it too.
 */

// ---------- shared shapes ----------

export { JOB_KINDS, type JobKind };
export const jobKindSchema = z.enum(JOB_KINDS);

export const jobStateSchema = z.enum(['queued', 'running', 'done', 'failed', 'stopped']);

export const jobInfoSchema = z.object({
  id: z.string(),
  kind: jobKindSchema,
  state: jobStateSchema,
  /** The run folder the job writes, when it has one (fine-tuning): its name, and the folder itself. */
  runId: z.string().optional(),
  runDir: z.string().optional(),
  /** How many events the job has sent so far; each event carries its number as `seq` (see runs.history). */
  seq: z.number().int().nonnegative().optional(),
  /** The worker process, once it runs. */
  pid: z.number().optional(),
  createdAt: z.string(),
  startedAt: z.string().optional(),
  endedAt: z.string().optional(),
  error: z.string().optional(),
});
export type JobInfo = z.infer<typeof jobInfoSchema>;

/** The job process's memory: its RSS, what tfjs holds in tensors, and (on a GPU backend) what its buffers hold there. */
const memorySchema = z.object({
  rssBytes: z.number(),
  tensorBytes: z.number(),
  numTensors: z.number(),
  deviceBytes: z.number().optional(),
});

/** The tfjs backend a job computes on; with WebGPU, the adapter it found. */
export const backendSchema = z.object({
  name: z.string(),
  detail: z.string(),
  adapter: z
    .object({
      vendor: z.string(),
      architecture: z.string(),
      description: z.string(),
      software: z.boolean(),
      maxBindingBytes: z.number(),
      shaderF16: z.boolean(),
    })
    .optional(),
});
export type BackendReport = z.infer<typeof backendSchema>;

// Owned by the engine module that produces each fact; re-exported here for the transports and the renderer, whose
// only door into main/ is this folder.
export { BASE_DTYPE_CHOICES } from '../engine/llama/base-dtype-names.ts';
export { BUILTIN_TEMPLATE_NAMES, NO_TEMPLATE } from '../engine/data/template-names.ts';
export { describeIssues } from '../engine/parse-settings.ts';
export { modelReportSchema, type ModelReport } from '../engine/llama/model-report.ts';

export const dataCheckSchema = z.object({
  file: z.string(),
  format: z.enum(['json', 'jsonl']),
  total: z.number(),
  kept: z.number(),
  /** The first problems found (at most 200); `problemCount` says how many there are in all. */
  problems: z.array(
    z.object({
      row: z.number(),
      field: z.string().optional(),
      reason: z.string(),
      severity: z.enum(['error', 'warning']),
      message: z.string(),
      ofRow: z.number().optional(),
      valueType: z.string().optional(),
      /** A too-large row's bytes and the limit; an out-of-range token's id and the embedding's rows. */
      size: z.number().optional(),
      limit: z.number().optional(),
      tokenId: z.number().optional(),
    }),
  ),
  problemCount: z.number(),
  /** Token statistics and a preview, when a base model (its tokenizer) was given. */
  stats: z
    .object({
      rows: z.number(),
      cutoffLen: z.number(),
      /** `to` is null for the last bin, which holds every length ≥ cutoffLen. */
      histogram: z.array(z.object({ from: z.number(), to: z.number().nullable(), count: z.number() })),
      truncated: z.number(),
      meanLength: z.number(),
      maxLength: z.number(),
      trainedTokens: z.number(),
      maskedTokens: z.number(),
      /** Tokens the loss sees (trained labels after the causal shift), over the rows checked. */
      lossTokens: z.number(),
      /** Rows that keep at least one token to train on after the template, the prompt mask and cutoff_len. */
      trainableRows: z.number(),
      /** The rows that keep none, by why, and the first of their row numbers. */
      lostRows: z.object({ cutAtCutoff: z.number(), noResponseToken: z.number(), firstRows: z.array(z.number()) }),
    })
    .optional(),
  /**
   * The first rows (and the first row that keeps nothing to train on) rendered through the template, split into runs of
   * trained and masked tokens; `cut` when cutoff_len cut the row.
   */
  preview: z
    .array(z.object({ row: z.number(), cut: z.boolean(), segments: z.array(z.object({ text: z.string(), trained: z.boolean() })) }))
    .optional(),
  /** Why there are no stats (e.g. no base model chosen, or its tokenizer failed to load). */
  note: z.string().optional(),
});
export type DataCheck = z.infer<typeof dataCheckSchema>;

/** The settings the Runs table shows for each run, out of its config.json (the `*_used` ones: what the run resolved). */
export const runKeySettingsSchema = z.object({
  learningRate: z.number().optional(),
  epochs: z.number().optional(),
  maxSteps: z.number().optional(),
  batchSize: z.number().optional(),
  microBatchSize: z.number().optional(),
  cutoffLen: z.number().optional(),
  loraR: z.number().optional(),
  loraAlpha: z.number().optional(),
  targetModules: z.array(z.string()).optional(),
  baseDtype: z.string().optional(),
  backend: z.string().optional(),
});
export type RunKeySettings = z.infer<typeof runKeySettingsSchema>;

export const runSummarySchema = z.object({
  /** The run folder's name: the run's name. */
  id: z.string(),
  dir: z.string(),
  createdAt: z.string().optional(),
  /** The first line of metrics.jsonl, and the line that ended the run (done or failed). */
  startedAt: z.string().optional(),
  endedAt: z.string().optional(),
  /** Time spent training, pauses between a crash and its resume left out. */
  durationMs: z.number().optional(),
  baseModel: z.string().optional(),
  dataPath: z.string().optional(),
  /** The last optimizer step reported in metrics.jsonl, and the steps its last attempt planned. */
  steps: z.number(),
  totalSteps: z.number().optional(),
  lastLoss: z.number().optional(),
  lastEvalLoss: z.number().optional(),
  /**
   * `running`: a live process holds the run's lock (its writer), whether or not this studio started it; `failed`: its
   * last attempt failed (the job host recorded how in metrics.jsonl).
   */
  status: z.enum(['running', 'finished', 'stopped', 'failed', 'incomplete', 'empty']),
  /** Why the last attempt failed (status failed). */
  error: z.string().optional(),
  settings: runKeySettingsSchema,
  /** The process writing the run, from its lock. */
  writer: z.object({ pid: z.number(), command: z.string(), since: z.string(), host: z.string() }).optional(),
  /** The studio's job for that writer (its own, or one adopted on start), which jobs.stop stops. */
  jobId: z.string().optional(),
  checkpoints: z.array(z.string()),
  hasAdapter: z.boolean(),
  problems: z.array(z.string()),
  /** A run trained on a SLURM cluster: where its job is and how it stands (its cluster.json). */
  cluster: clusterRunInfoSchema.optional(),
});
export type RunSummary = z.infer<typeof runSummarySchema>;

export { metricPointSchema, type MetricPoint };

export const gpuSchema = z.object({
  index: z.number(),
  name: z.string(),
  memoryUsedMiB: z.number().nullable(),
  memoryTotalMiB: z.number().nullable(),
  utilizationPercent: z.number().nullable(),
  temperatureC: z.number().nullable(),
  powerDrawW: z.number().nullable(),
});
export type GpuInfo = z.infer<typeof gpuSchema>;

const settingsFields = {
  language: z.enum(['en', 'zh-CN']),
  theme: z.enum(['system', 'light', 'dark']),
  runsDir: z.string(),
  recentModels: z.array(z.string()).max(10),
  recentData: z.array(z.string()).max(10),
  /** User presets for the training step: name → settings (field names of the fine-tuning config schema). */
  presets: z.record(z.string(), z.record(z.string(), z.unknown())),
  /** Saved cluster profiles (the wizard's "Run on a cluster"), each checked by the schema of the CLI's cluster flags. */
  clusterProfiles: z
    .array(clusterProfileSchema)
    .max(50)
    .refine((list) => new Set(list.map((p) => p.name)).size === list.length, 'two cluster profiles have the same name'),
};
export const settingsSchema = z.object({
  language: settingsFields.language.default('en'),
  theme: settingsFields.theme.default('system'),
  runsDir: settingsFields.runsDir.default(''),
  recentModels: settingsFields.recentModels.default([]),
  recentData: settingsFields.recentData.default([]),
  presets: settingsFields.presets.default({}),
  clusterProfiles: settingsFields.clusterProfiles.default([]),
});
/** A change to some settings. Built without defaults: zod 4 fills a default even in an optional field, which would reset the rest. */
export const settingsPatchSchema = z.object(settingsFields).partial().strict();
export type Settings = z.infer<typeof settingsSchema>;

// ---------- calls ----------

type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

/** A job to start: its kind and that kind's settings, one option per kind of JOB_KIND_SPECS. */
export type JobStartRequest = { [K in JobKind]: { kind: K; config: JobSettings<K> } }[JobKind];
type ParsedJobStart = { [K in JobKind]: { kind: K; config: ParsedJobSettings<K> } }[JobKind];
const startOf = (kind: JobKind) => z.object({ kind: z.literal(kind), config: JOB_KIND_SPECS[kind].settings }).strict();
// Built from the record, so the union's type is stated above rather than inferred from a list written out here.
export const jobStartRequestSchema: z.ZodType<ParsedJobStart, JobStartRequest> = z.discriminatedUnion(
  'kind',
  JOB_KINDS.map(startOf) as [ReturnType<typeof startOf>, ...ReturnType<typeof startOf>[]],
) as z.ZodType<ParsedJobStart, JobStartRequest>;
export { jobResultOf, type JobResult, type JobSettings } from './job-kinds.ts';

const empty = z.object({}).strict();
const idRequest = z.object({ id: z.string().min(1).max(200) }).strict();

export const calls = {
  'app.info': {
    request: empty,
    reply: z.object({
      name: z.string(),
      version: z.string(),
      mode: z.enum(['electron', 'server']),
      platform: z.string(),
      node: z.string(),
      runsDir: z.string(),
      /** The user's home folder: where the in-page folder browser starts; the pages show paths under it as `~/…`. */
      homeDir: z.string(),
      jobKinds: z.array(jobKindSchema),
    }),
  },
  'model.inspect': { request: z.object({ dir: z.string().min(1) }).strict(), reply: modelReportSchema },
  'data.check': {
    request: z
      .object({
        path: z.string().min(1),
        template: z.string().min(1).default('alpaca'),
        cutoffLen: z.number().int().positive().default(256),
        trainOnInputs: z.boolean().default(true),
        addEosToken: z.boolean().default(false),
        baseModel: z.string().min(1).optional(),
      })
      .strict(),
    reply: dataCheckSchema,
  },
  /** The fine-tuning settings form: every field of the engine's config schema with its type, default and help. */
  'finetune.fields': {
    request: empty,
    reply: z.object({
      // JSON-schema type: one name, or several for a union (resume_from_checkpoint: string | boolean | null).
      fields: z.array(
        z.object({
          name: z.string(),
          type: z.union([z.string(), z.array(z.string())]),
          default: z.unknown(),
          help: z.string(),
          choices: z.array(z.string()).optional(),
        }),
      ),
    }),
  },
  /** Training memory for a model and settings (weights, LoRA, optimizer, activations) against what the machine has. */
  'finetune.estimate': {
    request: z
      .object({
        base_model: z.string().min(1),
        micro_batch_size: z.number().int().positive(),
        cutoff_len: z.number().int().positive(),
        lora_r: z.number().int().positive(),
        lora_target_modules: z.array(z.string()).min(1),
        /** The storage mode to estimate (auto: the one finetune would choose on the CPU path). */
        base_dtype: z.enum(BASE_DTYPE_CHOICES).optional(),
        /** Recompute each layer in the backward pass; absent: finetune's auto rule for the mode. */
        gradient_checkpointing: z.boolean().optional(),
      })
      .strict(),
    reply: memoryReportSchema.extend({
      /** nvidia-smi's first GPU, when there is one: what a GPU backend (tfjs-node-gpu, WebGPU) trains in. */
      gpu: z.object({ name: z.string(), totalBytes: z.number().nullable(), freeBytes: z.number().nullable() }).optional(),
    }),
  },
  /** The desktop app's native open dialog; `path` is null when the user cancels. Not in browser mode (use files.list). */
  'files.pick': {
    request: z
      .object({
        kind: z.enum(['folder', 'file']),
        title: z.string().max(200).optional(),
        extensions: z.array(z.string().max(20)).max(20).optional(),
      })
      .strict(),
    reply: z.object({ path: z.string().nullable() }),
  },
  /** One folder's entries, for the in-page picker of browser mode (the server's files, behind the token). */
  'files.list': {
    request: z.object({ dir: z.string().optional() }).strict(),
    reply: z.object({
      dir: z.string(),
      parent: z.string().nullable(),
      entries: z.array(z.object({ name: z.string(), path: z.string(), kind: z.enum(['folder', 'file']), bytes: z.number().optional() })),
    }),
  },
  'jobs.list': { request: empty, reply: z.object({ jobs: z.array(jobInfoSchema) }) },
  /** One request shape per job kind, its settings checked by that kind's own (strict) schema before anything starts. */
  'jobs.start': { request: jobStartRequestSchema, reply: jobInfoSchema },
  'jobs.stop': { request: idRequest, reply: z.object({ stopped: z.boolean() }) },
  'runs.list': { request: empty, reply: z.object({ runs: z.array(runSummarySchema) }) },
  'runs.read': {
    request: idRequest,
    reply: z.object({
      run: runSummarySchema,
      config: z.record(z.string(), z.unknown()).nullable(),
      /** The run's own settings out of its config.json (which also records the backend used), for a resume. */
      resumeSettings: z.record(z.string(), z.unknown()).nullable(),
      metrics: z.array(metricPointSchema),
    }),
  },
  /**
   * A run as the Run page shows it: its summary, and its history replayed from the run folder as the job events that
   * a live view would have received (curves, log, progress, how it ended), resumed attempts included. `job` is the
   * studio's latest job on this run, if any; its live events numbered above `job.seq` come after this history.
   * `run` is null while that job has not made the folder yet.
   */
  'runs.history': {
    request: idRequest,
    reply: z.object({
      run: runSummarySchema.nullable(),
      config: z.record(z.string(), z.unknown()).nullable(),
      events: z.array(z.lazy(() => jobEventSchema)),
      job: jobInfoSchema.nullable(),
    }),
  },
  'runs.delete': { request: idRequest, reply: z.object({ deleted: z.boolean() }) },
  'system.gpu': {
    request: empty,
    reply: z.object({
      available: z.boolean(),
      gpus: z.array(gpuSchema),
      /** Plain words when there is no NVIDIA GPU (or nvidia-smi failed). */
      message: z.string().optional(),
      /** Why there are no readings, for the page to say in its language; `detail` is nvidia-smi's own words. */
      reason: z.enum(['no-nvidia-smi', 'none-listed', 'failed']).optional(),
      detail: z.string().optional(),
      process: z.object({ rssBytes: z.number(), heapUsedBytes: z.number(), externalBytes: z.number() }),
    }),
  },
  'settings.get': { request: empty, reply: settingsSchema },
  'settings.set': { request: settingsPatchSchema, reply: settingsSchema },
} as const;

export type Calls = typeof calls;
export type CallName = keyof Calls;
export const CALL_NAMES = Object.keys(calls) as CallName[];
// Both directions: a call missing from call-names.ts, or a name there without a call, fails the type check.
export const CALL_NAME_LIST_MATCHES: Same<(typeof CALL_NAME_LIST)[number], CallName> = true;
/** What a caller sends (defaults may be left out). */
export type CallRequest<K extends CallName> = z.input<Calls[K]['request']>;
/** What a handler receives, after validation and defaults. */
export type ParsedRequest<K extends CallName> = z.output<Calls[K]['request']>;
export type CallReply<K extends CallName> = z.output<Calls[K]['reply']>;

// ---------- events ----------

/** Every event names its job; the job host numbers the events of each job (1, 2, …) as it sends them. */
const jobId = { jobId: z.string(), seq: z.number().int().positive().optional() };

export const jobEventSchema = z.discriminatedUnion('type', [
  z.object({ ...jobId, type: z.literal('started'), kind: jobKindSchema, runId: z.string().optional() }),
  z.object({ ...jobId, type: z.literal('backend'), backend: backendSchema }),
  z.object({ ...jobId, type: z.literal('log'), level: z.enum(['info', 'warn', 'error']), message: z.string() }),
  z.object({ ...jobId, type: z.literal('progress'), done: z.number(), total: z.number(), message: z.string().optional() }),
  z.object({
    ...jobId,
    type: z.literal('report'),
    step: z.number(),
    totalSteps: z.number().optional(),
    epoch: z.number(),
    loss: z.number(),
    learningRate: z.number(),
    tokensPerSecond: z.number(),
    elapsedMs: z.number(),
    etaMs: z.number(),
    memory: memorySchema,
    /** Since the last report: micro-batches (and whole steps) skipped for having no token to train on. */
    skippedMicroBatches: z.number().optional(),
    skippedSteps: z.number().optional(),
  }),
  /** Streamed text of a generate job: a piece of the base model's or the fine-tuned model's answer. */
  z.object({ ...jobId, type: z.literal('text'), side: z.enum(['base', 'tuned']), text: z.string() }),
  z.object({ ...jobId, type: z.literal('eval'), step: z.number(), epoch: z.number(), evalLoss: z.number() }),
  z.object({ ...jobId, type: z.literal('done'), reason: z.string(), result: z.record(z.string(), z.unknown()).optional() }),
  z.object({ ...jobId, type: z.literal('failed'), error: z.string(), lastOutput: z.array(z.string()) }),
  /** A cluster run's job: submitted, its state changed, or its files were fetched (the whole of cluster.json's facts). */
  z.object({ ...jobId, type: z.literal('cluster'), cluster: clusterRunInfoSchema }),
]);
export type JobEvent = z.infer<typeof jobEventSchema>;
export type JobEventType = JobEvent['type'];
