import { existsSync, readdirSync } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { clusterRunInfo, clusterRunStatus, type RunKeySettings, type RunSummary } from '../contract/contract.ts';
import { CLUSTER_RECORD, type ClusterRecord } from '../cluster/cluster-record.ts';
import { readClusterRecord } from '../cluster/cluster-run-files.ts';
import { isTerminal } from '../cluster/job-state.ts';
import { StudioError } from '../engine/errors.ts';
import { describeOwner, liveOwner, type LockOwner } from '../engine/fs/folder-lock.ts';
import { describeJsonError } from '../engine/fs/json-file.ts';
import { readRegularText, withReadTimeout } from '../engine/fs/regular-file.ts';
import { checkpointNames, parseMetrics, runPaths, type MetricPoint } from '../engine/train/run-folder.ts';
import { runNameSchema } from '../engine/train/run-name.ts';

/**
 * Reads run folders (their layout is run-folder.ts's): the run folder is the truth, so the Runs page shows the same
 * history after a restart. Reads only; a broken file is listed as a problem of that run, never an error for the
 * whole list.
 */
export type { MetricPoint } from '../engine/train/run-folder.ts';

/** A run id is a folder name: no separators, no dot-dot, so it cannot reach outside runsDir. */
export function isRunId(id: string): boolean {
  return runNameSchema.safeParse(id).success;
}

export function runDirOf(runsDir: string, id: string): string {
  if (!isRunId(id)) throw new StudioError(`not a run id: "${id}"`, undefined, 'runs/bad-id');
  return path.join(runsDir, id);
}

/** A run's config.json and metrics.jsonl as the studio may read them: regular files, capped, async with a time limit. */
const RUN_FILE_LIMITS = { config: 16 << 20, metrics: 256 << 20 } as const;

/** The settings the Runs table shows, out of a run's config.json (what the run resolved, where it recorded that). */
function keySettings(config: Record<string, unknown> | null): RunKeySettings {
  const num = (k: string) => (typeof config?.[k] === 'number' ? (config[k] as number) : undefined);
  const str = (k: string) => (typeof config?.[k] === 'string' ? (config[k] as string) : undefined);
  const modules = config?.lora_target_modules;
  return {
    learningRate: num('learning_rate'),
    epochs: num('num_epochs'),
    maxSteps: num('max_steps'),
    batchSize: num('batch_size'),
    microBatchSize: num('micro_batch_size'),
    cutoffLen: num('cutoff_len'),
    loraR: num('lora_r'),
    loraAlpha: num('lora_alpha'),
    targetModules: Array.isArray(modules) ? modules.map(String) : undefined,
    baseDtype: str('base_dtype_used') ?? str('base_dtype'),
    backend: str('backend_detail') ?? str('backend_used'),
  };
}

async function readRunFolder(
  runsDir: string,
  id: string,
): Promise<{ summary: RunSummary; config: Record<string, unknown> | null; metrics: MetricPoint[]; metricsText: string }> {
  const dir = runDirOf(runsDir, id);
  const problems: string[] = [];
  let config: Record<string, unknown> | null = null;
  const paths = runPaths(dir);
  const configFile = paths.config;
  if (existsSync(configFile)) {
    try {
      const text = await readRegularText(configFile, { maxBytes: RUN_FILE_LIMITS.config, what: 'run config' });
      try {
        config = JSON.parse(text);
      } catch (e) {
        problems.push(`${configFile}: not valid JSON (${describeJsonError(e)})`);
      }
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  let metricsText = '';
  if (existsSync(paths.metrics)) {
    try {
      metricsText = await readRegularText(paths.metrics, { maxBytes: RUN_FILE_LIMITS.metrics, what: 'metrics log' });
    } catch (e) {
      problems.push((e as Error).message);
    }
  }
  const metrics = parseMetrics(metricsText, paths.metrics);
  const { points, ended, started, failed, problems: metricProblems } = metrics;
  problems.push(...metricProblems);
  const checkpoints = checkpointNames(paths.checkpoints);
  const writer = liveWriter(dir);
  const steps = points.filter((p) => p.loss !== undefined);
  const evals = points.filter((p) => p.evalLoss !== undefined);
  const str = (k: string) => (config && typeof config[k] === 'string' ? (config[k] as string) : undefined);
  const born = (await withReadTimeout(stat(dir), dir)).birthtime;
  const cluster = clusterRecordOf(dir, problems);
  const clusterState = cluster?.states.at(-1)?.state;
  const summary: RunSummary = {
    id,
    dir,
    // Some filesystems keep no birth time (0): the first metrics line is the better date then.
    createdAt: born.getTime() > 0 ? born.toISOString() : metrics.startedAt,
    startedAt: metrics.startedAt,
    endedAt: metrics.endedAt,
    durationMs: metrics.durationMs,
    baseModel: str('base_model'),
    dataPath: str('data_path'),
    steps: Math.max(0, ...points.map((p) => p.step)),
    totalSteps: metrics.totalSteps,
    lastLoss: steps.at(-1)?.loss,
    lastEvalLoss: evals.at(-1)?.evalLoss,
    status: writer
      ? 'running'
      : cluster
        ? cluster.job_id
          ? clusterRunStatus(clusterState)
          : 'incomplete'
        : failed
          ? 'failed'
          : ended
            ? ended === 'stopped'
              ? 'stopped'
              : 'finished'
            : started || config
              ? 'incomplete'
              : 'empty',
    error: cluster ? cluster.failure : failed?.error,
    settings: keySettings(config),
    ...(writer && { writer: { pid: writer.pid, command: writer.command, since: writer.since, host: writer.host } }),
    checkpoints,
    hasAdapter: existsSync(paths.adapterConfig),
    problems,
    ...(cluster && { cluster: clusterRunInfo(cluster) }),
  };
  return { summary, config, metrics: points, metricsText };
}

/** A cluster run's cluster.json (undefined for a local run; a broken one is a problem of the run). */
function clusterRecordOf(dir: string, problems: string[]): ClusterRecord | undefined {
  if (!existsSync(path.join(dir, CLUSTER_RECORD))) return undefined;
  try {
    return readClusterRecord(dir);
  } catch (e) {
    problems.push((e as Error).message);
    return undefined;
  }
}

/** The live process that holds run folder `dir`'s lock (a run being written), if any. */
export function liveWriter(dir: string): (LockOwner & { state: 'alive' | 'elsewhere' }) | undefined {
  try {
    return liveOwner(runPaths(dir).lock);
  } catch {
    return undefined; // not a lock file: no live writer this studio can name
  }
}

export class RunRegistry {
  constructor(readonly runsDir: string) {}

  /** Every run folder's summary. Read asynchronously, each file a regular one with a size cap: no run folder can stall the studio. */
  async list(): Promise<RunSummary[]> {
    if (!existsSync(this.runsDir)) return [];
    const entries = await withReadTimeout(readdir(this.runsDir, { withFileTypes: true }), this.runsDir);
    const runs: RunSummary[] = [];
    // A folder no run id can name ("my run", a hidden temp folder) is not listed, not an error.
    for (const d of entries) if (d.isDirectory() && isRunId(d.name)) runs.push((await readRunFolder(this.runsDir, d.name)).summary);
    // Newest first by when they started (a run's name need not sort by time), then by name.
    return runs.sort(
      (a, b) => (b.startedAt ?? b.createdAt ?? '').localeCompare(a.startedAt ?? a.createdAt ?? '') || b.id.localeCompare(a.id),
    );
  }

  async read(id: string) {
    if (!existsSync(runDirOf(this.runsDir, id))) throw new StudioError('no such run', runDirOf(this.runsDir, id), 'runs/missing');
    const { summary, config, metrics } = await readRunFolder(this.runsDir, id);
    return { run: summary, config, metrics };
  }

  /** A run with metrics.jsonl's text, for its history (run-history.ts replays it). */
  async readWithMetricsText(id: string) {
    if (!existsSync(runDirOf(this.runsDir, id))) throw new StudioError('no such run', runDirOf(this.runsDir, id), 'runs/missing');
    const { summary, config, metricsText } = await readRunFolder(this.runsDir, id);
    return { run: summary, config, metricsText };
  }

  /** Whether run `id` has a folder (a queued job's run has none yet). */
  has(id: string): boolean {
    return existsSync(runDirOf(this.runsDir, id));
  }

  /** The folder of run `id` (checked: it cannot leave runsDir). */
  dirOf(id: string): string {
    return runDirOf(this.runsDir, id);
  }

  /** Runs being written by a live process (their lock's owner), newest first. */
  writing(): { id: string; dir: string; owner: LockOwner & { state: 'alive' | 'elsewhere' } }[] {
    if (!existsSync(this.runsDir)) return [];
    return readdirSync(this.runsDir, { withFileTypes: true })
      .filter((d) => d.isDirectory() && isRunId(d.name))
      .flatMap((d) => {
        const dir = path.join(this.runsDir, d.name);
        const owner = liveWriter(dir);
        return owner ? [{ id: d.name, dir, owner }] : [];
      });
  }

  /** Cluster runs whose job had not ended when last seen (the studio reopens and follows them again). */
  clusterRunsToFollow(): string[] {
    if (!existsSync(this.runsDir)) return [];
    return readdirSync(this.runsDir, { withFileTypes: true })
      .filter((d) => d.isDirectory() && isRunId(d.name) && existsSync(path.join(this.runsDir, d.name, CLUSTER_RECORD)))
      .flatMap((d) => {
        const dir = path.join(this.runsDir, d.name);
        const record = clusterRecordOf(dir, []);
        const last = record?.states.at(-1)?.state;
        return record?.job_id && (last === undefined || !isTerminal(last)) ? [dir] : [];
      });
  }

  async delete(id: string): Promise<boolean> {
    const dir = runDirOf(this.runsDir, id);
    if (!existsSync(dir)) return false;
    // A run being written (by a worker of an earlier studio, or the CLI) is refused as the studio's own jobs are.
    const writer = liveWriter(dir);
    if (writer)
      throw new StudioError(
        `run ${id} is being written by ${describeOwner(writer, writer.state)}; stop it first, then delete the run`,
        dir,
        'runs/busy',
      );
    await rm(dir, { recursive: true, force: true });
    return true;
  }
}
