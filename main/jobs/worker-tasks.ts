import { StudioError } from '../engine/errors.ts';
import type { JobEvent, JobKind } from '../contract/contract.ts';
import type { ExportHooks, ExportOutcome } from '../engine/export/export-jobs.ts';
import { backendReport } from './backend-report.ts';
import { jobEventsOf } from './training-events.ts';
import { clusterTask } from './cluster-task.ts';

/** An event as a task emits it; the worker adds the job id. */
export type TaskEvent = JobEvent extends infer E ? (E extends JobEvent ? Omit<E, 'jobId'> : never) : never;

export interface TaskContext {
  jobId: string;
  config: Record<string, unknown>;
  emit(event: TaskEvent): void;
  /** Aborted when the host asks the job to stop. */
  signal: AbortSignal;
}

/** What a task returns goes into its `done` event. */
export type Task = (ctx: TaskContext) => Promise<{ reason: string; result?: Record<string, unknown> }>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A built-in job that needs no model: counts steps, prints a line and a progress event per step, and can crash
 * (exit, throw, refuse with a StudioError) or ignore stop requests on demand. The tests use it to prove the queue, stop and crash reports;
 * a user can run it to check that jobs start at all.
 */
const selftest: Task = async ({ config, emit, signal }) => {
  const steps = Number(config.steps ?? 5);
  const intervalMs = Number(config.intervalMs ?? 20);
  const crashAt = config.crashAt === undefined ? undefined : Number(config.crashAt);
  if (config.ignoreStop) process.removeAllListeners('SIGTERM').on('SIGTERM', () => console.log('selftest: ignoring SIGTERM'));
  for (let step = 1; step <= steps; step++) {
    if (signal.aborted && !config.ignoreStop) return { reason: 'stopped', result: { steps: step - 1 } };
    console.log(`selftest: step ${step}/${steps}`);
    if (step === crashAt) {
      if (config.crashMode === 'throw') throw new Error(`selftest: failing on request at step ${step}`);
      if (config.crashMode === 'refuse') throw new StudioError(`refusing on request at step ${step}`, 'selftest.json', 'selftest/refuse');
      console.error(`selftest: crashing on request at step ${step}`);
      process.exit(70); // an abrupt end: no done/failed event, the host must notice on its own
    }
    emit({ type: 'progress', done: step, total: steps, message: `step ${step}` });
    await sleep(intervalMs);
  }
  return { reason: 'finished', result: { steps } };
};

/** Fine-tuning through the engine's runFinetune; its reports become job events. Loaded only when used. */
const finetune: Task = async ({ config, emit, signal }) => {
  const { parseFinetuneConfig } = await import('../engine/train/config.ts');
  const { runFinetune } = await import('../engine/train/finetune.ts');
  const parsed = parseFinetuneConfig(config, 'fine-tuning settings');
  const progress = { total: 0 };
  const result = await runFinetune(
    parsed,
    (e) => {
      if (e.type === 'start') {
        const backend = backendReport();
        if (backend) emit({ type: 'backend', backend });
      }
      for (const event of jobEventsOf(e, progress)) emit(event);
    },
    { signal },
  );
  return { reason: result.reason, result: { ...result } };
};

/** A fine-tuning run's first steps, timed as the run would make them, for the wizard's duration estimate. */
const measure: Task = async ({ config, emit, signal }) => {
  const { parseFinetuneConfig } = await import('../engine/train/config.ts');
  const { measureSteps } = await import('../engine/train/measure-steps.ts');
  const parsed = parseFinetuneConfig(config, 'fine-tuning settings');
  const result = await measureSteps(parsed, (message, level = 'info') => emit({ type: 'log', level, message }), { signal });
  return { reason: signal.aborted ? 'stopped' : 'finished', result: { ...result } };
};

/** An export job: the engine's export function with its progress and per-tensor lines turned into events. */
function exportTask(kind: 'merge' | 'export' | 'quantize'): Task {
  return async ({ config, emit }) => {
    const { runMerge, runStateDict, runQuantize } = await import('../engine/export/export-jobs.ts');
    const run = { merge: runMerge, export: runStateDict, quantize: runQuantize }[kind] as (
      c: unknown,
      h: ExportHooks,
    ) => Promise<ExportOutcome>;
    let last = 0;
    const outcome = await run(config, {
      onProgress: (done, total, tensor) => {
        // One event per tensor is plenty for a progress bar, but thousands a second would flood the page.
        const now = performance.now();
        if (done === total || now - last > 100) {
          last = now;
          emit({ type: 'progress', done, total, message: tensor });
        }
      },
      log: (level, message) => emit({ type: 'log', level, message }),
    });
    emit({ type: 'log', level: 'info', message: `${outcome.summary}: ${outcome.output}` });
    return {
      reason: 'finished',
      result: {
        kind: outcome.kind,
        output: outcome.output,
        summary: outcome.summary,
        reportFile: outcome.reportFile,
        report: outcome.report,
      },
    };
  };
}

/** The playground: base and fine-tuned answers to one prompt, streamed as text events. */
const generateTask: Task = async ({ config, emit, signal }) => {
  const { initBackend, describeBackend } = await import('../engine/backend/index.ts');
  const { answerSideBySide } = await import('../engine/generate/side-by-side.ts');
  const { selectMatmulPath } = await import('../engine/backend/webgpu-matmul-path.ts');
  const backend = await initBackend((config.backend as never) ?? 'auto');
  emit({ type: 'log', level: 'info', message: describeBackend(backend) });
  const matmul = await selectMatmulPath(); // WebGPU: subgroup matrices only after their self-test, as finetune does
  emit({ type: 'log', level: 'info', message: `frozen-weight matmuls: ${matmul.kernel} kernel (${matmul.reason})` });
  const report = backendReport();
  if (report) emit({ type: 'backend', backend: report });
  const { backend: _ignored, ...settings } = config;
  const r = await answerSideBySide(settings as never, {
    signal,
    onText: (side, text) => emit({ type: 'text', side, text }),
    log: (message) => emit({ type: 'log', level: 'warn', message }),
  });
  return { reason: signal.aborted ? 'stopped' : 'finished', result: { ...r } };
};

/** The job kinds this build can run. */
export const TASKS: Partial<Record<JobKind, Task>> = {
  selftest,
  finetune,
  merge: exportTask('merge'),
  export: exportTask('export'),
  quantize: exportTask('quantize'),
  generate: generateTask,
  measure,
  cluster: clusterTask,
};
export const AVAILABLE_KINDS = Object.keys(TASKS) as JobKind[];
