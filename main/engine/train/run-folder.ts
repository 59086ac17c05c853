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

export interface RunMetrics {
  points: MetricPoint[];
  /** The reason of the last `done` event, when the run ended. */
  ended?: string;
  started: boolean;
  problems: string[];
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
    const type = (json as { type?: unknown } | null)?.type;
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
      out.points = out.points.filter((p) => p.step <= e.startStep);
    } else if (e.type === 'step') {
      out.points.push({ step: e.step, epoch: e.epoch, loss: e.loss, learningRate: e.learningRate, tokensPerSecond: e.tokensPerSecond });
    } else if (e.type === 'eval') {
      out.points.push({ step: e.step, epoch: e.epoch, evalLoss: e.evalLoss });
    } else if (e.type === 'done') out.ended = e.reason;
    // 'skipped': steps with no token to train on have no loss, so no point on the curve.
  });
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
