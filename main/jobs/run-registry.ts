import { existsSync } from 'node:fs';
import { readdir, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { RunSummary } from '../contract/contract.ts';
import { StudioError } from '../engine/errors.ts';
import { describeJsonError } from '../engine/fs/json-file.ts';
import { readRegularText, withReadTimeout } from '../engine/fs/regular-file.ts';
import { checkpointNames, parseMetrics, runPaths, type MetricPoint } from '../engine/train/run-folder.ts';

/**
 * Reads run folders (their layout is run-folder.ts's): the run folder is the truth, so the Runs page shows the same
 * history after a restart. Reads only; a broken file is listed as a problem of that run, never an error for the
 * whole list.
 */
export type { MetricPoint } from '../engine/train/run-folder.ts';

/** A run id is a folder name: no separators, no dot-dot, so it cannot reach outside runsDir. */
export function runDirOf(runsDir: string, id: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(id) || id.includes('..'))
    throw new StudioError(`not a run id: "${id}"`, undefined, 'runs/bad-id');
  return path.join(runsDir, id);
}

/** A run's config.json and metrics.jsonl as the studio may read them: regular files, capped, async with a time limit. */
const RUN_FILE_LIMITS = { config: 16 << 20, metrics: 256 << 20 } as const;

async function readRunFolder(
  runsDir: string,
  id: string,
): Promise<{ summary: RunSummary; config: Record<string, unknown> | null; metrics: MetricPoint[] }> {
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
  const { points, ended, started, problems: metricProblems } = parseMetrics(metricsText, paths.metrics);
  problems.push(...metricProblems);
  const checkpoints = checkpointNames(paths.checkpoints);
  const steps = points.filter((p) => p.loss !== undefined);
  const evals = points.filter((p) => p.evalLoss !== undefined);
  const str = (k: string) => (config && typeof config[k] === 'string' ? (config[k] as string) : undefined);
  const summary: RunSummary = {
    id,
    dir,
    createdAt: (await withReadTimeout(stat(dir), dir)).birthtime.toISOString(),
    baseModel: str('base_model'),
    dataPath: str('data_path'),
    steps: Math.max(0, ...points.map((p) => p.step)),
    lastLoss: steps.at(-1)?.loss,
    lastEvalLoss: evals.at(-1)?.evalLoss,
    status: ended ? (ended === 'stopped' ? 'stopped' : 'finished') : started || config ? 'incomplete' : 'empty',
    checkpoints,
    hasAdapter: existsSync(paths.adapterConfig),
    problems,
  };
  return { summary, config, metrics: points };
}

export class RunRegistry {
  constructor(readonly runsDir: string) {}

  /** Every run folder's summary. Read asynchronously, each file a regular one with a size cap: no run folder can stall the studio. */
  async list(): Promise<RunSummary[]> {
    if (!existsSync(this.runsDir)) return [];
    const entries = await withReadTimeout(readdir(this.runsDir, { withFileTypes: true }), this.runsDir);
    const runs: RunSummary[] = [];
    for (const d of entries) {
      if (d.isDirectory() && !d.name.startsWith('.')) runs.push((await readRunFolder(this.runsDir, d.name)).summary);
    }
    return runs.sort((a, b) => b.id.localeCompare(a.id));
  }

  async read(id: string) {
    if (!existsSync(runDirOf(this.runsDir, id))) throw new StudioError('no such run', runDirOf(this.runsDir, id), 'runs/missing');
    const { summary, config, metrics } = await readRunFolder(this.runsDir, id);
    return { run: summary, config, metrics };
  }

  /** The folder of run `id` (checked: it cannot leave runsDir). */
  dirOf(id: string): string {
    return runDirOf(this.runsDir, id);
  }

  async delete(id: string): Promise<boolean> {
    const dir = runDirOf(this.runsDir, id);
    if (!existsSync(dir)) return false;
    await rm(dir, { recursive: true, force: true });
    return true;
  }
}
