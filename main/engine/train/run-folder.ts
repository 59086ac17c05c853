import { appendFileSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import path from 'node:path';
import { ADAPTER_CONFIG, ADAPTER_WEIGHTS } from '../formats/peft-adapter.ts';
import { KNOWN_METRIC_TYPES, metricLineSchema, type MetricPoint } from './metrics-schema.ts';
import type { TrainingEvent } from './reports.ts';

export { metricPointSchema, type MetricPoint } from './metrics-schema.ts';

/**
 * The one owner of a run folder's layout (DESIGN.md: "the run folder is the truth"):
 *
 *   runs/<name>/config.json        the whole resolved config, written before step 1
 *   runs/<name>/metrics.jsonl      one TrainingEvent per line
 *   runs/<name>/checkpoints/step-N complete checkpoints (checkpoint.ts writes them)
 *   runs/<name>/adapter/           the final adapter in PEFT's layout
 *   runs/<name>/.owner.lock        held by the process that writes the run (folder-lock.ts), while it runs
 *
 * The trainer, the checkpoint code and the studio's run registry all take their paths and readers from here.
 */
export const RUN_CONFIG = 'config.json';
export const METRICS = 'metrics.jsonl';
export const CHECKPOINTS = 'checkpoints';
export const ADAPTER_DIR = 'adapter';
export const RUN_LOCK = '.owner.lock';

/** A checkpoint's files besides its adapter (run-state.ts writes them, checkpoint.ts adds its manifest). */
export const TRAINER_STATE = 'trainer_state.json';
export const OPTIMIZER_STATE = 'optimizer.safetensors';
/** The resolved run config the checkpoint was written under (a resume compares its own settings with it). */
export const TRAINING_CONFIG = 'training_config.json';
export const CHECKPOINT_MANIFEST = 'manifest.json';
/** Every file a checkpoint folder holds: what an overwrite removes from one whose manifest cannot be read. */
export const CHECKPOINT_FILES = [ADAPTER_CONFIG, ADAPTER_WEIGHTS, OPTIMIZER_STATE, TRAINER_STATE, TRAINING_CONFIG, CHECKPOINT_MANIFEST];

export interface RunPaths {
  dir: string;
  config: string;
  metrics: string;
  checkpoints: string;
  adapter: string;
  adapterConfig: string;
  adapterWeights: string;
  lock: string;
}

export function runPaths(runDir: string): RunPaths {
  const dir = path.resolve(runDir);
  const adapter = path.join(dir, ADAPTER_DIR);
  return {
    dir,
    config: path.join(dir, RUN_CONFIG),
    metrics: path.join(dir, METRICS),
    checkpoints: path.join(dir, CHECKPOINTS),
    adapter,
    adapterConfig: path.join(adapter, ADAPTER_CONFIG),
    adapterWeights: path.join(adapter, ADAPTER_WEIGHTS),
    lock: path.join(dir, RUN_LOCK),
  };
}

const CHECKPOINT_NAME = /^step-(\d+)$/;

/** `step-N`, the folder name of the checkpoint after optimizer step N. */
export function checkpointName(step: number): string {
  return `step-${step}`;
}

/** The step of a checkpoint folder name, or undefined when the name is not one (temp folders, stray files). */
export function checkpointStep(name: string): number | undefined {
  const m = CHECKPOINT_NAME.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** The checkpoint names under `checkpointsDir`, oldest step first. */
export function checkpointNames(checkpointsDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(checkpointsDir);
  } catch {
    return []; // no checkpoints yet
  }
  return names.filter((n) => checkpointStep(n) !== undefined).sort((a, b) => checkpointStep(a)! - checkpointStep(b)!);
}

/** Append one event to metrics.jsonl, stamped with the time. */
export function appendMetric(metricsFile: string, event: TrainingEvent): void {
  appendFileSync(metricsFile, JSON.stringify({ time: new Date().toISOString(), ...event }) + '\n');
}

/** Append the failure of an attempt (the studio's job host writes it; see metrics-schema.ts), stamped with the time. */
export function appendRunFailure(metricsFile: string, failure: { error: string; lastOutput: string[] }): void {
  appendFileSync(metricsFile, JSON.stringify({ time: new Date().toISOString(), type: 'failed', ...failure }) + '\n');
}

export interface RunMetrics {
  points: MetricPoint[];
  /** The reason of the last `done` event, when the run ended. */
  ended?: string;
  /** How the last attempt failed, when it did (a `failed` line after its last `start`). */
  failed?: { error: string; lastOutput: string[] };
  started: boolean;
  /** The steps the last attempt planned (its `start` line). */
  totalSteps?: number;
  /** The time of the first line, and of the `done` or `failed` line that ended the run. */
  startedAt?: string;
  endedAt?: string;
  /** Time spent in the run's attempts, the pauses between them left out (see sessionTime). */
  durationMs?: number;
  problems: string[];
}

/** Lines that a training attempt writes after it has loaded (the `log` lines before them belong to its start). */
const ATTEMPT_LINES = new Set(['start', 'step', 'skipped', 'eval', 'checkpoint', 'done', 'failed']);

/**
 * The time a run's attempts took, without the pauses between them (a crash, then a resume hours later). An attempt
 * begins with the log lines of its loading and ends at its last other line; a `start` that follows another attempt's
 * lines, or a `done` / `failed` line, closes the attempt before it.
 */
function sessionTime(lines: { type: string; ms: number }[]): number | undefined {
  let total: number | undefined;
  let open: { begin: number; end: number; started: boolean } | undefined;
  let loadingSince: number | undefined;
  const close = () => {
    if (open) total = (total ?? 0) + Math.max(0, open.end - open.begin);
    open = undefined;
  };
  for (const { type, ms } of lines) {
    if (!ATTEMPT_LINES.has(type)) {
      loadingSince ??= ms;
      open ??= { begin: ms, end: ms, started: false };
      continue;
    }
    if (type === 'start' && open?.started) close();
    open ??= { begin: loadingSince ?? ms, end: ms, started: false };
    if (type === 'start') open.started = true;
    open.end = ms;
    loadingSince = undefined;
    if (type === 'done' || type === 'failed') close();
  }
  close();
  return total;
}

/**
 * Read metrics.jsonl. A resumed run starts again from its checkpoint's step, so a `start` event drops the points
 * the interrupted run had logged from that step on (they were redone): the curve shows each step once.
 */
export function readMetrics(file: string): RunMetrics {
  if (!existsSync(file)) return { points: [], started: false, problems: [] };
  return parseMetrics(readFileSync(file, 'utf8'), file);
}

/** readMetrics of metrics.jsonl's text, read by the caller (the studio reads it asynchronously). */
export function parseMetrics(text: string, file: string): RunMetrics {
  const out: RunMetrics = { points: [], started: false, problems: [] };
  const lines = text.split('\n');
  const timed: { type: string; ms: number }[] = [];
  lines.forEach((line, i) => {
    if (!line.trim()) return;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      // A crash can cut the last line short; an earlier broken line is worth telling.
      if (i < lines.length - 2) out.problems.push(`${file}: line ${i + 1} is not JSON`);
      return;
    }
    const { type, time } = (json ?? {}) as { type?: unknown; time?: unknown };
    const ms = typeof time === 'string' ? Date.parse(time) : NaN;
    if (typeof type === 'string' && Number.isFinite(ms)) {
      timed.push({ type, ms });
      out.startedAt ??= time as string;
    }
    if (typeof type !== 'string' || !KNOWN_METRIC_TYPES.has(type)) return;
    const r = metricLineSchema.safeParse(json);
    if (!r.success) {
      out.problems.push(`${file}: line ${i + 1} (${type}): ${r.error.issues.map((x) => `${x.path.join('.')} ${x.message}`).join('; ')}`);
      return;
    }
    const e = r.data;
    if (e.type === 'start') {
      out.started = true;
      out.ended = undefined;
      out.failed = undefined;
      out.endedAt = undefined;
      out.totalSteps = e.totalSteps;
      out.points = out.points.filter((p) => p.step <= e.startStep);
    } else if (e.type === 'step') {
      out.points.push({ step: e.step, epoch: e.epoch, loss: e.loss, learningRate: e.learningRate, tokensPerSecond: e.tokensPerSecond });
    } else if (e.type === 'eval') {
      out.points.push({ step: e.step, epoch: e.epoch, evalLoss: e.evalLoss });
    } else if (e.type === 'failed') {
      out.failed = { error: e.error, lastOutput: e.lastOutput };
      out.endedAt = e.time;
    } else if (e.type === 'done') {
      out.ended = e.reason;
      out.failed = undefined;
      out.endedAt = e.time;
    }
    // 'skipped': steps with no token to train on have no loss, so no point on the curve.
  });
  out.durationMs = sessionTime(timed);
  return out;
}

/** A config.json that a fine-tuning run wrote (a model folder's config.json is not one). */
export function readRunConfig(file: string): Record<string, unknown> | undefined {
  try {
    const json = JSON.parse(readFileSync(file, 'utf8')) as unknown;
    if (json && typeof json === 'object' && !Array.isArray(json) && 'base_model' in json && 'data_path' in json)
      return json as Record<string, unknown>;
  } catch {
    // missing or not JSON: not a run's config
  }
  return undefined;
}

/**
 * What in `runDir` belongs to a fine-tuning run: metrics.jsonl, checkpoints/, adapter/ and a run's config.json.
 * Empty when the folder is new, empty, or holds only other files, or only the metrics of a start that failed before
 * step 1 (no config.json, checkpoint or adapter: nothing was trained; see setAsideFailedStart).
 */
export function runFilesIn(runDir: string): string[] {
  const p = runPaths(runDir);
  const found: string[] = [];
  if (readRunConfig(p.config)) found.push(RUN_CONFIG);
  for (const [name, full] of [
    [METRICS, p.metrics],
    [CHECKPOINTS, p.checkpoints],
    [ADAPTER_DIR, p.adapter],
  ] as const) {
    if (existsSync(full)) found.push(name);
  }
  return found.length === 1 && found[0] === METRICS ? [] : found;
}

/**
 * A start that failed before step 1 (bad data, a model that does not fit) leaves only its log in metrics.jsonl. A new
 * attempt in the same folder keeps that log beside it, renamed, rather than appending a second run's lines to it.
 * Returns the new name, or undefined when there was none.
 */
export async function setAsideFailedStart(runDir: string): Promise<string | undefined> {
  const p = runPaths(runDir);
  if (runFilesIn(runDir).length > 0 || !existsSync(p.metrics)) return undefined;
  const aside = path.join(p.dir, `metrics.failed-start-${new Date().toISOString().replace(/[:.]/g, '-')}.jsonl`);
  await rename(p.metrics, aside);
  return aside;
}
