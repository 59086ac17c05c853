import { StudioError } from '../engine/errors.ts';
import type { JobEvent } from '../contract/contract.ts';
import { parseJobSettings, type JobKind, type JobResult, type ParsedJobSettings } from '../contract/job-kinds.ts';
import type { ExportCommand } from '../engine/export/export-jobs.ts';
import { backendReport } from './backend-report.ts';
import { jobEventsOf } from './training-events.ts';
import { clusterTask } from './cluster-task.ts';

/** An event as a task emits it; the worker adds the job id. */
export type TaskEvent = JobEvent extends infer E ? (E extends JobEvent ? Omit<E, 'jobId'> : never) : never;

export interface TaskContext<K extends JobKind> {
  jobId: string;
  /** The job's settings, checked against its kind's schema, defaults filled in. */
  config: ParsedJobSettings<K>;
  emit(event: TaskEvent): void;
  /** Aborted when the host asks the job to stop. */
  signal: AbortSignal;
}

/** What a task returns goes into its `done` event: the result its kind's record describes. */
export type Task<K extends JobKind> = (ctx: TaskContext<K>) => Promise<{ reason: string; result?: JobResult<K> }>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A built-in job that needs no model: counts steps, prints a line and a progress event per step, and can crash
 * (exit, throw, refuse with a StudioError) or ignore stop requests on demand. The tests use it to prove the queue, stop and crash reports;
 * a user can run it to check that jobs start at all.
 */
const selftest: Task<'selftest'> = async ({ config, emit, signal }) => {
  const steps = config.steps ?? 5;
  const intervalMs = config.intervalMs ?? 20;
  const crashAt = config.crashAt;
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
const finetune: Task<'finetune'> = async ({ config, emit, signal }) => {
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
const measure: Task<'measure'> = async ({ config, emit, signal }) => {
  const { parseFinetuneConfig } = await import('../engine/train/config.ts');
  const { measureSteps } = await import('../engine/train/measure-steps.ts');
  const parsed = parseFinetuneConfig(config, 'fine-tuning settings');
  const result = await measureSteps(parsed, (message, level = 'info') => emit({ type: 'log', level, message }), { signal });
  return { reason: signal.aborted ? 'stopped' : 'finished', result: { ...result } };
};

/** An export job: the engine's export runner with its progress and per-tensor lines turned into events. */
function exportTask(command: ExportCommand): Task<ExportCommand> {
  return async ({ config, emit }) => {
    const { runExportCommand } = await import('../engine/export/export-jobs.ts');
    let last = 0;
    const outcome = await runExportCommand(command, config, {
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
    return { reason: 'finished', result: { ...outcome } };
  };
}

/** The playground: base and fine-tuned answers to one prompt, streamed as text events. */
const generateTask: Task<'generate'> = async ({ config, emit, signal }) => {
  const { startBackend } = await import('../engine/backend/start-backend.ts');
  const { answerSideBySide } = await import('../engine/generate/side-by-side.ts');
  // The backend and the frozen products' kernel as training chooses them (WebGPU: subgroup matrices after their self-test).
  await startBackend(config.backend ?? 'auto', {}, (message) => emit({ type: 'log', level: 'info', message }));
  const report = backendReport();
  if (report) emit({ type: 'backend', backend: report });
  const { backend: _ignored, ...settings } = config;
  const r = await answerSideBySide(settings, {
    signal,
    onText: (side, text) => emit({ type: 'text', side, text }),
    log: (message) => emit({ type: 'log', level: 'warn', message }),
  });
  return { reason: signal.aborted ? 'stopped' : 'finished', result: { ...r } };
};

/** The task of each job kind: every kind of JOB_KIND_SPECS has one (a missing one is a type error). */
const TASKS: { [K in JobKind]: Task<K> } = {
  selftest,
  finetune,
  merge: exportTask('merge'),
  'export-state-dict': exportTask('export-state-dict'),
  quantize: exportTask('quantize'),
  generate: generateTask,
  measure,
  cluster: clusterTask,
};

/**
 * Run a job of kind K: its settings are checked against the kind's schema here too (the worker is a process of its
 * own; the host checked them before it started it), so the task gets them typed, with the defaults filled in.
 */
export function runTask<K extends JobKind>(kind: K, raw: Record<string, unknown>, ctx: Omit<TaskContext<K>, 'config'>) {
  return TASKS[kind]({ ...ctx, config: parseJobSettings(kind, raw) });
}
